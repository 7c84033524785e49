"""Issue 8 §6: DRAM moves whole bursts; gathers cost the bursts they touch, not their payload."""

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import simpy

from hwsim.arch import Architecture, DramSpec, load_arch
from hwsim.errors import ConfigError
from hwsim.memory import DramModel
from hwsim.spgemm.engine import simulate_spgemm
from hwsim.spgemm.work import PTR_BYTES, fiber_bursts, range_bursts, span_bursts

# 1 channel, 64 B/cycle at 1000 MHz, no latency: bus cycles = bytes / 64.
ONE = DramSpec(kind="ddr4", channels=1, bandwidth_gbps=64.0, latency_ns=0.0, granule_bytes=4096,
               burst_bytes=64)


def _one(nbytes, bursts=None):
    env = simpy.Environment()
    dram = DramModel(env, ONE, 1000.0)
    dram.read(nbytes, bursts=bursts)
    env.run()
    return env.now, dram


def test_transfers_are_charged_in_whole_bursts():
    t, dram = _one(65)  # 65 B contiguous: 2 bursts = 128 B of bus time
    assert t == 2 and dram.read_bytes == 65 and dram.read_bursts == 2
    t, dram = _one(64)
    assert t == 1 and dram.read_bursts == 1
    t, dram = _one(96, bursts=10)  # a gather of 96 B touching 10 bursts
    assert t == 10 and dram.read_bytes == 96 and dram.bursts == 10
    with pytest.raises(ValueError, match=r"bursts \(1\) cannot carry 96 B: at least 2 bursts"):
        _one(96, bursts=1)


def test_granule_must_hold_whole_bursts():
    d = load_arch("sat-vcu1525").to_dict()
    d["dram"]["burst_bytes"] = 96
    with pytest.raises(ConfigError, match=r"dram\.granule_bytes: granule_bytes \(4096\) must be "
                                          r"a multiple of burst_bytes \(96\)"):
        Architecture.from_dict(d)
    assert {load_arch(p).dram.burst_bytes for p in ("sat-vcu1525", "dense-systolic")} == {64}
    assert load_arch("flightllm-u280").dram.burst_bytes == 32  # HBM2 pseudo-channel BL4


def _brute_bursts(byte_ranges, burst):
    touched = set()
    for lo, hi in byte_ranges:
        touched |= {a // burst for a in range(lo, hi)}
    return len(touched)


@pytest.mark.parametrize("burst", [8, 32, 64])
def test_fiber_bursts_match_address_enumeration(burst):
    rng = np.random.default_rng(burst)
    m = sp.random_array((40, 50), density=0.08, random_state=rng, format="csr")
    ip = m.indptr.astype(np.int64)
    got = fiber_bursts(ip, 4, 8, burst)
    for k in range(40):
        lo, hi = ip[k], ip[k + 1]
        want = (
            _brute_bursts([(lo * 4, hi * 4)], burst)
            + _brute_bursts([(lo * 8, hi * 8)], burst)
            + _brute_bursts([(k * PTR_BYTES, (k + 2) * PTR_BYTES)], burst)
        )
        assert got[k] == want, k
    bounds = np.array([0, 7, 7, 23, 40])
    rb = range_bursts(ip, bounds, 4, 8, burst)
    for w in range(4):
        r0, r1 = bounds[w], bounds[w + 1]
        want = (_brute_bursts([(ip[r0] * 4, ip[r1] * 4)], burst)
                + _brute_bursts([(ip[r0] * 8, ip[r1] * 8)], burst)
                + _brute_bursts([(r0 * PTR_BYTES, (r1 + 1) * PTR_BYTES)], burst))
        assert rb[w] == want
    assert span_bursts(np.array([5]), np.array([5]), burst).tolist() == [0]


def _machine(burst):
    base = load_arch("smash-piuma")
    return dataclasses.replace(base, dram=dataclasses.replace(base.dram, burst_bytes=burst))


def _gather_heavy(seed=3):
    """A with 8 nonzeros a row; B with one nonzero a row: every product gathers a 12 B row."""
    rng = np.random.default_rng(seed)
    n = 4096
    a = sp.random_array((2048, n), density=8 / n, random_state=rng, format="csr")
    b = sp.csr_array((rng.random(n) + 1, (np.arange(n), rng.integers(0, n, n))), shape=(n, n))
    return a, b


def test_scattered_gathers_cost_their_bursts():
    a, b = _gather_heavy()
    # A small table (cheap write-back scans) and no window overhead: DRAM can bound the run.
    kw = {"table_entries": 1024, "window_overhead_cycles": 0, "check": False}
    fine = simulate_spgemm(a, b, arch=_machine(8), **kw)
    coarse = simulate_spgemm(a, b, arch=_machine(64), **kw)
    assert fine.dram_read_bytes == coarse.dram_read_bytes  # payload unchanged
    # Each A[i, k] gathers B's row k: 4 B index, 8 B value, 16 B of pointers -> 3 or 4 bursts
    # of 64 B (the pointer pair straddles a burst boundary for 1 row in 4): ~ 8x the 28 B.
    refs = a.nnz
    gathered = coarse.counters["dram_burst_read_bytes"] - fine.counters["dram_burst_read_bytes"]
    assert gathered > refs * (3 * 64 - 28) * 0.9
    assert coarse.counters["dram_burst_read_bytes"] > 4 * coarse.dram_read_bytes
    assert coarse.cycles > 2 * fine.cycles  # the gathers now bound the run
    assert coarse.stall_cycles > coarse.compute_cycles
    assert fine.counters["dram_bursts"] * 8 == (
        fine.counters["dram_burst_read_bytes"] + fine.counters["dram_burst_write_bytes"]
    )


def test_contiguous_streams_round_only_their_tails():
    """Outer product reads contiguous ranges: bursts add at most one burst per task."""
    a, b = _gather_heavy(4)
    r = simulate_spgemm(a, b, arch=_machine(64), dataflow="outer", check=False)
    tasks = len(r.table)
    assert 0 <= r.counters["dram_burst_read_bytes"] - r.dram_read_bytes <= 64 * tasks
    assert r.to_dict()["dram_bursts"] == r.counters["dram_bursts"]


def test_burst_of_one_byte_reproduces_payload_timing():
    a, b = _gather_heavy(5)
    one = simulate_spgemm(a, b, arch=_machine(1), check=False)
    assert one.counters["dram_burst_read_bytes"] == one.dram_read_bytes
    assert one.counters["dram_burst_write_bytes"] == one.dram_write_bytes


def test_gemm_results_report_bursts_beside_payload():
    from hwsim.gemm import simulate_gemm

    d = simulate_gemm("sat-vcu1525", 100, 200, 100, sparsity="2:8", check=False).to_dict()
    burst = 64  # DDR4 on sat-vcu1525
    for op in ("read", "write"):
        payload, rounded = d[f"dram_{op}_bytes"], d[f"dram_burst_{op}_bytes"]
        assert payload <= rounded and rounded % burst == 0
    assert d["dram_bursts"] * burst == d["dram_burst_read_bytes"] + d["dram_burst_write_bytes"]
    # odd-sized tiles (100 x 200 int8 + 3-bit indices) do not fill their last burst
    assert d["dram_burst_read_bytes"] > d["dram_read_bytes"]
