"""Tests for hwsim.pipeline: double buffering, memory-bound tiles, event counts, Chrome traces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwsim.arch import Architecture, load_arch
from hwsim.engines.base import TilePlan
from hwsim.errors import ShapeError
from hwsim.pipeline import CountingEnvironment, run_tiles, trace_document, write_trace


def _arch(channels: int = 1) -> Architecture:
    """1000 MHz clock, 100 B/cycle per channel, 20-cycle latency: times are easy to add up."""
    d = load_arch("dense-systolic").to_dict()
    d["clock_mhz"] = 1000.0
    d["dram"] = {
        "kind": "ddr4",
        "channels": channels,
        "bandwidth_gbps": 100.0 * channels,
        "latency_ns": 20.0,
        "granule_bytes": 1000,
        "burst_bytes": 1,  # byte-granular: the sums below stay exact
    }
    return Architecture.from_dict(d, source="<test>")


def _plan(n: int, compute: int, load: int, store: int, buffer_bytes: int = 1024) -> TilePlan:
    z = np.zeros(n, dtype=np.int64)
    return TilePlan(
        engine="fake",
        multipliers=16,
        compute_cycles=np.full(n, compute),
        load_bytes=np.full(n, load),
        store_bytes=np.full(n, store),
        performed_macs=np.full(n, 16 * compute),
        sram_read_bytes=z,
        sram_write_bytes=z,
        buffer_bytes=buffer_bytes,
    )


def _log(st) -> list[tuple[str, float]]:
    out = []
    for i in range(st.num_tiles):
        out += [
            (f"load{i}", float(st.load_end[i])),
            (f"compute{i}", float(st.compute_start[i])),
            (f"done{i}", float(st.compute_end[i])),
        ]
    return sorted(out, key=lambda e: (e[1], e[0]))


def test_compute_bound_stalls_only_first_load_and_last_store():
    # load 1000 B = 10 + 20 cycles; store 500 B = 5 + 20; compute 100 per tile.
    st = run_tiles(_plan(5, 100, 1000, 500), _arch())
    assert st.compute_cycles == 500
    assert st.cycles == 30 + 500 + 25
    assert st.stall_cycles == 30 + 25
    assert list(st.compute_start) == [30, 130, 230, 330, 430]
    assert list(st.compute_end) == [130, 230, 330, 430, 530]
    assert st.store_end[-1] == 555
    assert (st.dram_read_bytes, st.dram_write_bytes) == (5000, 2500)


def test_double_buffer_event_log():
    st = run_tiles(_plan(3, 100, 1000, 0), _arch())
    # Both slots are free at 0: loads 0 and 1 are in flight together, so tile 1's data follows
    # tile 0's on the bus (10 cycles later) and the latency overlaps; tile 2's load waits for
    # tile 0's slot (cycle 130).
    expected = [
        ("load0", 30),
        ("compute0", 30),
        ("load1", 40),
        ("compute1", 130),
        ("done0", 130),
        ("load2", 160),
        ("compute2", 230),
        ("done1", 230),
        ("done2", 330),
    ]
    assert _log(st) == sorted(expected, key=lambda e: (e[1], e[0]))


def test_load_bound_total_is_sum_of_loads():
    # load 10000 B = 100 bus cycles + 20 latency per tile, compute 10: the loads dominate.
    # Outstanding loads keep the bus busy back to back, so latency is paid once.
    n = 10
    st = run_tiles(_plan(n, 10, 10_000, 0), _arch())
    assert st.cycles == n * 100 + 20 + 10
    assert st.stall_cycles == st.cycles - n * 10


def test_stores_contend_with_loads_for_the_channel():
    alone = run_tiles(_plan(4, 50, 3000, 0), _arch())
    both = run_tiles(_plan(4, 50, 3000, 3000), _arch())
    assert both.cycles > alone.cycles + 20  # more than just the last store's latency


def test_more_channels_shorten_load_bound_runs():
    one = run_tiles(_plan(8, 10, 8000, 0), _arch(1))
    four = run_tiles(_plan(8, 10, 8000, 0), _arch(4))
    assert four.cycles < one.cycles / 2
    assert four.channel_busy_cycles == [8 * 20] * 4


def test_events_grow_with_tiles_not_cycles():
    small = run_tiles(_plan(10, 100, 1000, 500), _arch())
    big = run_tiles(_plan(100, 100, 1000, 500), _arch())
    huge_compute = run_tiles(_plan(10, 10**9, 1000, 500), _arch())
    assert big.events > 5 * small.events
    assert huge_compute.events == small.events
    # one compute timeout per tile (+ a few per plan): DRAM completion times are booked, and
    # buffer slots are granted, without events of their own
    assert 10 <= small.events <= 10 + 8


def test_zero_tiles():
    st = run_tiles(_plan(0, 1, 1, 1), _arch())
    assert (st.cycles, st.compute_cycles, st.stall_cycles, st.num_tiles) == (0, 0, 0, 0)


def test_tile_must_fit_twice_on_chip():
    arch = _arch()
    with pytest.raises(ShapeError, match=r"needs 2 x \d+ B = \d+ B, capacity is 2621440 B"):
        run_tiles(_plan(2, 1, 1, 1, buffer_bytes=arch.onchip_bytes), arch)


def test_counting_environment():
    env = CountingEnvironment()
    env.timeout(5)
    env.timeout(7)
    env.run()
    assert env.events == 2 and env.now == 7


def test_trace_well_formed(tmp_path):
    trace: list = []
    arch = _arch(2)
    st = run_tiles(_plan(3, 100, 3000, 1000), arch, trace=trace)
    path = write_trace(tmp_path / "t.json", trace)
    doc = json.loads(path.read_text())
    assert doc == json.loads(json.dumps(trace_document(trace)))
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    for e in xs:
        assert {"name", "ph", "ts", "dur", "pid", "tid", "args"} <= set(e)
        assert e["dur"] >= 0
    computes = [e for e in xs if e["cat"] == "compute"]
    assert len(computes) == 3 and {e["tid"] for e in computes} == {1}
    # cycles at 1000 MHz -> microseconds
    assert computes[0]["ts"] == pytest.approx(st.compute_start[0] / 1000.0)
    assert computes[0]["dur"] == pytest.approx(0.1)
    dram_tids = {e["tid"] for e in xs if e["cat"] in ("read", "write")}
    assert dram_tids == {100, 101}
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["ph"] == "M"}
    assert {"engine fake", "dram ch0", "dram ch1"} <= names
