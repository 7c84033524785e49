"""Tests for hwsim.memory: DRAM transfer times, channel contention and interleaving, buffers."""

from __future__ import annotations

import pytest
import simpy

from hwsim.arch import DramSpec, load_arch
from hwsim.errors import ConfigError, ShapeError
from hwsim.memory import DramModel, OnChipBuffer, check_fits, check_tile_fits

# 1 channel, 100 bytes/cycle at 1000 MHz (100 GB/s), 20 ns = 20 cycles latency.
ONE = DramSpec(kind="ddr4", channels=1, bandwidth_gbps=100.0, latency_ns=20.0, granule_bytes=1000,
                burst_bytes=1)
FOUR = DramSpec(kind="hbm2", channels=4, bandwidth_gbps=400.0, latency_ns=20.0, granule_bytes=1000,
                burst_bytes=1)


def _run(spec, jobs):
    """Run ``jobs`` = [(name, start, op, nbytes)]; return the (name, env.now) log and the model."""
    env = simpy.Environment()
    dram = DramModel(env, spec, 1000.0)
    log = []

    def job(name, start, op, nbytes):
        yield env.timeout(start)
        yield getattr(dram, op)(nbytes, tag=name)
        log.append((name, env.now))

    for j in jobs:
        env.process(job(*j))
    env.run()
    return log, dram


def test_transfer_time_is_latency_plus_bytes_over_bandwidth():
    log, dram = _run(ONE, [("a", 0, "read", 1000)])
    assert log == [("a", 20 + 10)]
    assert dram.read_bytes == 1000 and dram.write_bytes == 0
    assert dram.busy_cycles == [10]


def test_partial_cycle_rounds_up():
    log, _ = _run(ONE, [("a", 0, "write", 1001)])
    assert log == [("a", 20 + 11)]


def test_two_transfers_on_one_channel_serialise():
    log, dram = _run(ONE, [("a", 0, "read", 1000), ("b", 0, "read", 500)])
    # b's data bus slot starts when a's ends (cycle 10); latency is pipelined.
    assert log == [("a", 30), ("b", 35)]
    assert dram.busy_cycles == [15]


def test_later_transfer_on_idle_channel_not_delayed():
    log, _ = _run(ONE, [("a", 0, "read", 1000), ("b", 50, "write", 1000)])
    assert log == [("a", 30), ("b", 80)]


def test_multi_channel_split():
    env = simpy.Environment()
    dram = DramModel(env, FOUR, 1000.0)
    assert dram.bytes_per_cycle == pytest.approx(100.0)
    assert dram.split(4000) == [(0, 1000), (1, 1000), (2, 1000), (3, 1000)]
    assert dram.split(5500) == [
        (0, 2000),
        (1, 1500),
        (2, 1000),
        (3, 1000),
    ]  # 6th granule: 500 B on ch1
    assert dram.split(0) == []
    log, dram = _run(FOUR, [("a", 0, "read", 4000)])
    assert log == [("a", 20 + 10)]  # four channels in parallel
    assert dram.busy_cycles == [10, 10, 10, 10]


def test_interleave_continues_round_robin():
    log, dram = _run(FOUR, [("a", 0, "read", 1000), ("b", 0, "read", 1000)])
    # a goes to channel 0, b to channel 1: no contention.
    assert log == [("a", 30), ("b", 30)]
    assert dram.busy_cycles == [10, 10, 0, 0]


def test_uneven_split_finishes_with_the_busiest_channel():
    log, _ = _run(FOUR, [("a", 0, "read", 5000)])
    assert log == [("a", 20 + 20)]  # channel 0 carries two granules


def test_record_and_energy():
    env = simpy.Environment()
    energy = load_arch("sat-vcu1525").energy
    dram = DramModel(env, FOUR, 1000.0, energy=energy, record=True)
    dram.read(3000, tag="x")
    env.run()
    assert [(t.channel, t.nbytes, t.start, t.end, t.done) for t in dram.log] == [
        (0, 1000, 0, 10, 30),
        (1, 1000, 0, 10, 30),
        (2, 1000, 0, 10, 30),
    ]
    assert dram.energy_pj == pytest.approx(3000 * energy.dram_pj_per_byte)


def test_zero_byte_transfer_is_immediate():
    log, _ = _run(ONE, [("a", 5, "read", 0)])
    assert log == [("a", 5)]


def test_onchip_buffer_accounting():
    b = OnChipBuffer(1024, banks=4, bytes_per_cycle=64, name="act")
    b.allocate(1000)
    assert b.used == 1000 and b.peak == 1000
    with pytest.raises(
        ShapeError,
        match=r"buffer 'act' overflows: 1000 B used \+ 100 B requested > capacity 1024 B",
    ):
        b.allocate(100)
    b.free(500)
    assert b.used == 500 and b.peak == 1000
    assert b.read(130) == 3 and b.write(64) == 1
    assert (b.read_bytes, b.write_bytes) == (130, 64)
    with pytest.raises(ValueError, match="freeing 600 B"):
        b.free(600)
    with pytest.raises(ValueError, match="banks must be a positive integer, not 0"):
        OnChipBuffer(10, banks=0)


def test_check_fits_messages():
    check_fits("act", 100, 50, slots=2)
    with pytest.raises(
        ShapeError,
        match=r"one tile does not fit in on-chip buffer 'act': needs 2 x 60 B = 120 B, capacity is 100 B",
    ):
        check_fits("act", 100, 60, slots=2)
    arch = load_arch("dense-systolic")
    check_tile_fits(arch, arch.onchip_bytes // 2)
    with pytest.raises(ShapeError, match=r"'act\+weight\+out'"):
        check_tile_fits(arch, arch.onchip_bytes)
    with pytest.raises(ShapeError, match=r"buffer 'out'"):
        check_tile_fits(arch, 10**6, buffer="out")
    with pytest.raises(ConfigError, match=r"no buffer 'l2'; buffers: act, weight, out"):
        check_tile_fits(arch, 1, buffer="l2")


def test_from_spec():
    arch = load_arch("sat-vcu1525")
    b = OnChipBuffer.from_spec("weight", arch.buffers["weight"])
    assert (b.capacity_bytes, b.banks, b.bytes_per_cycle, b.name) == (4194304, 32, 512, "weight")


@pytest.mark.parametrize("bad, err", [(-5, ValueError), (2.5, TypeError), (True, TypeError)])
def test_transfer_sizes_are_validated(bad, err):
    import simpy

    from hwsim.arch import load_arch
    from hwsim.memory import DramModel, OnChipBuffer

    arch = load_arch("sat-vcu1525")
    dram = DramModel(simpy.Environment(), arch.dram, arch.clock_mhz)
    for op in (dram.read, dram.write):
        with pytest.raises(err, match="nbytes must be a non-negative integer"):
            op(bad)
    buf = OnChipBuffer(capacity_bytes=1024, banks=2, bytes_per_cycle=16)
    with pytest.raises(err, match="nbytes must be a non-negative integer"):
        buf.read(bad)
    assert dram.read_bytes == dram.write_bytes == buf.read_bytes == 0
