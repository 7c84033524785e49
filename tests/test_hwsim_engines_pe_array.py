"""Tests of hwsim.engines.pe_array: SAT's N:M PE array and the sparse MAC core cycle model."""

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engines.base import GemmWork
from hwsim.engines.pe_array import (
    CoreDotSchedule,
    PeArrayEngine,
    predict_core_cycles,
    predict_core_schedule,
)
from hwsim.sparsity import Dense, NMPattern, random_weights
from rtl.timing import core_timing

ARCH = load_arch("sat-vcu1525")
CORE = dict(n=2, m=8, lanes=1, act_width=8, weight_width=8, acc_width=32)


def _plan(m, k, n, spec, df="os", arch=ARCH, seed=0, weight=None):
    w = random_weights((k, n), spec, seed=seed) if weight is None else weight
    return PeArrayEngine().plan(GemmWork(m, k, n, w, spec, dataflow=df), arch, "pe_array")


@pytest.mark.parametrize("df", ["os", "ws"])
def test_2to8_speedup_and_its_shortfall(df):
    dense = _plan(1024, 1024, 1024, Dense(), df)
    sparse = _plan(1024, 1024, 1024, NMPattern(2, 8), df)
    spec = ARCH.engine("pe_array")
    lat = core_timing(n=2, m=8, lanes=1, act_width=8, weight_width=8, acc_width=32).latency
    # per tile, once: WS preload R + skew (R - 1) + (C - 1) + L; OS (every block here has
    # 128 >= R steps) drain R + column skew (C - 1) + L, no preload and no row skew
    per_tile = {"ws": 2 * spec.rows + spec.cols - 2, "os": spec.rows + spec.cols - 1}[df] + lat
    for plan in (dense, sparse):
        assert int(plan.compute_cycles.sum()) == plan.notes["stream_cycles"] + plan.num_tiles * per_tile
    assert dense.notes["stream_cycles"] == 4 * sparse.notes["stream_cycles"]  # ideal m/n
    speedup = dense.compute_cycles.sum() / sparse.compute_cycles.sum()
    assert 3 <= speedup < 4
    assert dense.notes["mode"] == "dense" and sparse.notes["mode"] == "sparse"


def test_dense_mode_steps():
    plan = _plan(32, 100, 32, Dense())
    assert plan.notes["mode"] == "dense"
    # OS: one block of ceil(100 / 2) = 50 steps, then drain R + skew C - 1 + L
    assert int(plan.compute_cycles.sum()) == 50 + 32 + 32 - 1 + 3
    assert int(plan.performed_macs.sum()) == 32 * 100 * 32


@pytest.mark.parametrize("pattern,steps", [("1:8", 1), ("2:8", 1), ("4:8", 2), ("8:8", 4)])
def test_mismatched_patterns(pattern, steps):
    spec = NMPattern.parse(pattern)
    w = np.zeros((64, 32), dtype=np.int8)
    w.reshape(8, 8, 32)[:, : spec.n, :] = 1  # exactly n nonzeros in every group
    plan = _plan(32, 64, 32, spec, weight=w)
    assert plan.notes["max_steps_per_group"] == steps
    assert plan.notes["steps_sparse"] == 8 * steps
    assert plan.notes["mode"] == ("sparse" if steps < 4 else "dense")


def test_lockstep_takes_worst_column():
    w = np.zeros((16, 32), dtype=np.int8)
    w[:2, :] = 1
    w[:4, 5] = 1  # one column with 4 nonzeros in group 0
    plan = _plan(32, 16, 32, NMPattern(4, 8), weight=w)
    assert plan.notes["steps_sparse"] == 2 + 1  # group 0: 2 steps (worst column), group 1: 1


def test_metadata_in_load_bytes():
    plan = _plan(32, 64, 32, NMPattern(2, 8))
    assert int(plan.load_bytes.sum()) == 32 * 64 + 16 * 32 * (1 + 0) + 16 * 32 * 3 // 8


@pytest.mark.parametrize(
    "lengths,gaps,expected",
    [
        ([1], None, [(0, 3)]),
        ([1, 3, 2], None, [(0, 3), (3, 6), (5, 8)]),
        ([2, 1], [1, 0, 0], [(2, 5), (3, 6)]),
        ([1, 3, 2], [0, 2, 0, 1, 0, 0], [(0, 3), (5, 8), (8, 11)]),
    ],
)
def test_predict_core_cycles(lengths, gaps, expected):
    assert predict_core_cycles(lengths, input_gaps=gaps, **CORE) == expected


# Hand-computed with L = 3, II = 1, output_buffer_depth D = 4 (rtl.timing.core_timing): result
# k is first valid in max(last_in + 3, previous transfer + 1) and transfers on the next cycle
# with o_ready high; a group offered while D results are in flight waits until one leaves.
@pytest.mark.parametrize(
    "lengths,gaps,ready,expected",
    [
        # o_ready high every other cycle (odd cycles): results queue behind each other
        ([1, 1, 1], None, [0, 1], [(0, 3, 3), (1, 4, 5), (2, 6, 7)]),
        # a held result delays the next one's first o_valid past last_in + L
        # (result 1: last_in + L = 5, but result 0 is still held in 5)
        ([2, 1], [0, 0, 0], [0, 0, 0, 0, 0, 1], [(1, 4, 5), (2, 6, 11)]),
        # pattern always high: transfer = first valid = last_in + L, as without out_ready
        ([1, 3, 2], [0, 2, 0, 1, 0, 0], [1], [(0, 3, 3), (5, 8, 8), (8, 11, 11)]),
    ],
)
def test_predict_core_cycles_backpressure(lengths, gaps, ready, expected):
    assert predict_core_cycles(lengths, input_gaps=gaps, out_ready=ready, **CORE) == expected


def test_full_output_buffer_stalls_the_input():
    # o_ready low in 0..8 and 10, high in 9 and 11 (period 12). Six single-group dot products
    # offered back to back: results 0..3 (last groups in 0..3) fill the D = 4 slots, so group 4
    # (offered in 4) waits until result 0 leaves in 9 and transfers in 10; group 5 (offered in
    # 11) waits until result 1 leaves in 11 and transfers in 12.
    ready = [0] * 9 + [1, 0, 1]
    sched = predict_core_schedule([1] * 6, out_ready=ready, **CORE)
    assert sched == [
        CoreDotSchedule((0,), 3, 9), CoreDotSchedule((1,), 10, 11),
        CoreDotSchedule((2,), 12, 21), CoreDotSchedule((3,), 22, 23),
        CoreDotSchedule((10,), 24, 33), CoreDotSchedule((12,), 34, 35),
    ]
    assert [d.last_in for d in sched] == [d.first_in for d in sched]
    # i_ready holds back every group, not only ``last`` ones: a 3-group dot product offered in
    # 4 enters in 10, 11, 12 (two slots are free by 11), and is valid once result 3 has left
    sched = predict_core_schedule([1, 1, 1, 1, 3], out_ready=ready, **CORE)
    assert sched[4] == CoreDotSchedule((10, 11, 12), 24, 33)


def test_schedule_without_backpressure_matches_the_tuple_view():
    lengths, gaps = [1, 3, 2, 1, 1, 1, 1], [0, 2, 0, 1, 0, 0, 0, 0, 0, 0]
    sched = predict_core_schedule(lengths, input_gaps=gaps, **CORE)
    assert [d.in_cycles for d in sched] == [(0,), (1, 4, 5), (7, 8), (9,), (10,), (11,), (12,)]
    assert all(d.out_valid == d.out_transfer == d.last_in + 3 for d in sched)
    assert predict_core_cycles(lengths, input_gaps=gaps, **CORE) == [
        (d.last_in, d.out_valid) for d in sched]
    assert predict_core_cycles(lengths, input_gaps=gaps, out_ready=[True], **CORE) == [
        (d.last_in, d.out_valid, d.out_transfer) for d in sched]
    assert predict_core_schedule([], out_ready=[0, 1], **CORE) == []


def test_backpressure_reads_output_buffer_depth(monkeypatch):
    import dataclasses

    import rtl.timing

    real = rtl.timing.core_timing
    monkeypatch.setattr(rtl.timing, "core_timing", lambda **p: dataclasses.replace(
        real(**p), output_buffer_depth=2))
    # D = 2: group 2 waits for result 0 (transfers in 9) and enters in 10
    assert predict_core_cycles([1, 1, 1], out_ready=[0] * 9 + [1, 0, 1], **CORE) == [
        (0, 3, 9), (1, 10, 11), (10, 13, 21)]


def test_predict_core_cycles_errors():
    with pytest.raises(ValueError, match="dot_lengths must be integers >= 1"):
        predict_core_cycles([0], **CORE)
    with pytest.raises(ValueError, match="one entry per group"):
        predict_core_cycles([2], input_gaps=[0], **CORE)
    for bad in ([], [0, 0], [0, 2], [[1]]):
        with pytest.raises(ValueError, match="out_ready"):
            predict_core_cycles([1], out_ready=bad, **CORE)


@pytest.mark.parametrize(
    "spec,k", [(NMPattern(2, 8), 37), (NMPattern(2, 8), 64), (NMPattern(4, 8), 43),
               (NMPattern(1, 8), 21), (Dense(), 29)]
)
def test_functional_from_compressed(spec, k):
    rng = np.random.default_rng(k)
    w = random_weights((k, 13), spec, seed=k)
    x = rng.integers(-100, 100, size=(6, k))
    out = PeArrayEngine().compute(GemmWork(6, k, 13, w, spec, act=x), ARCH, "pe_array")
    np.testing.assert_array_equal(out, x @ w.astype(np.int64))


def test_simulate_gemm_2to8_runs_faster():
    from hwsim.gemm import simulate_gemm

    d = simulate_gemm("sat-vcu1525", 512, 2048, 512, sparsity="dense", check=False)
    s = simulate_gemm("sat-vcu1525", 512, 2048, 512, sparsity="2:8", check=False)
    assert 3 <= d.compute_cycles / s.compute_cycles < 4
    assert d.cycles / s.cycles > 2.5


@pytest.mark.parametrize("k", [5, 9, 147])
def test_short_last_group_checks_with_spare_slots_in_its_padding(k):
    """A reduction that is not a whole number of groups (a 3x3 depthwise conv: K = 9; ResNet's
    first conv: K = 147): the short last group's spare selector slots fall in its zero padding,
    and the functional check runs them (it raised IndexError before)."""
    from hwsim.gemm import simulate_gemm
    from hwsim.sparsity import NMPattern
    from hwsim.sparsity.nm import prune_nm

    rng = np.random.default_rng(k)
    w = prune_nm(rng.integers(-100, 100, (k, 16)).astype(np.int8), NMPattern(2, 4), axis=0)
    r = simulate_gemm("sat-vcu1525", 8, k, 16, sparsity="2:4", weight=w, check="full")
    assert r.check == "passed"
    assert r.performed_macs >= 8 * np.count_nonzero(w)
