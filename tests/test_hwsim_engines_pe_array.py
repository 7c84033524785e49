"""Tests of hwsim.engines.pe_array: SAT's N:M PE array and the sparse MAC core cycle model."""

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engines.base import GemmWork
from hwsim.engines.pe_array import PeArrayEngine, predict_core_cycles
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
    per_tile = 2 * spec.rows + spec.cols - 2 + lat  # fill/drain + skew + core latency
    for plan in (dense, sparse):
        assert int(plan.compute_cycles.sum()) == plan.notes["stream_cycles"] + plan.num_tiles * per_tile
    assert dense.notes["stream_cycles"] == 4 * sparse.notes["stream_cycles"]  # ideal m/n
    speedup = dense.compute_cycles.sum() / sparse.compute_cycles.sum()
    assert 3 <= speedup < 4
    assert dense.notes["mode"] == "dense" and sparse.notes["mode"] == "sparse"


def test_dense_mode_steps():
    plan = _plan(32, 100, 32, Dense())
    assert plan.notes["mode"] == "dense"
    # one fold, ceil(100 / 2) = 50 steps, plus the per-tile fill/drain
    assert int(plan.compute_cycles.sum()) == 50 + 2 * 32 + 32 - 2 + 3
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


def test_predict_core_cycles_errors():
    with pytest.raises(ValueError, match="dot_lengths must be integers >= 1"):
        predict_core_cycles([0], **CORE)
    with pytest.raises(ValueError, match="one entry per group"):
        predict_core_cycles([2], input_gaps=[0], **CORE)


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
