"""Tests of hwsim.engines.dsp_chain: FlightLLM's configurable sparse DSP chain."""

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engines.base import GemmWork
from hwsim.engines.dsp_chain import (
    FIXED_CASCADE_GROUPS,
    DspChainEngine,
    chain_efficiency,
    window_nnz,
)
from hwsim.sparsity import BlockSparsity, Dense, NMPattern, random_weights

ARCH = load_arch("flightllm-u280")


def test_efficiency_ratio_from_model():
    w = random_weights((512, 256), NMPattern(2, 8), seed=0)
    eff = chain_efficiency(w, 16, "nm")
    window = FIXED_CASCADE_GROUPS * 16
    s = window_nnz(w, window)
    assert eff["useful_macs"] == np.count_nonzero(w)
    assert eff["fixed"] == pytest.approx(s.sum() / (np.count_nonzero(s) * window))
    assert eff["configurable"] == pytest.approx(s.sum() / (16 * np.ceil(s / 16).sum()))
    assert eff["ratio"] > 1
    assert eff["ratio"] == pytest.approx(4.0)  # 16 kept of every 64: one group vs a cascade


def test_block_sparse_ratio_and_dense_unity():
    wb = random_weights((512, 256), BlockSparsity(16, 0.5), seed=1)
    assert 1 < chain_efficiency(wb, 16, "block")["ratio"] < 2
    wd = random_weights((128, 64), Dense(), seed=1)
    assert chain_efficiency(wd, 16, "dense")["ratio"] == pytest.approx(1.0)


def test_plan_reports_efficiency():
    w = random_weights((256, 128), NMPattern(2, 8), seed=2)
    plan = DspChainEngine().plan(GemmWork(8, 256, 128, w, NMPattern(2, 8)), ARCH, "dsp_chain")
    assert plan.notes["efficiency_ratio"] > 1
    assert plan.notes["useful_macs"] == 8 * np.count_nonzero(w)


def test_gemv_is_bound_by_weight_bytes():
    from hwsim.gemm import simulate_gemm

    r = simulate_gemm(ARCH, 1, 4096, 11008, sparsity="2:8", check=False)
    bytes_per_cycle = ARCH.dram.bandwidth_gbps * 1e9 / (ARCH.clock_mhz * 1e6)
    values, meta = 4096 // 8 * 2 * 11008, 4096 // 8 * 2 * 11008 * 3 // 8
    assert r.dram_read_bytes == values + meta  # activations stay on chip
    assert r.dram_write_bytes == 0
    assert r.cycles == pytest.approx(r.dram_read_bytes / bytes_per_cycle, rel=0.10)
    assert r.compute_cycles < 0.5 * r.cycles


@pytest.mark.parametrize(
    "spec,k", [(NMPattern(2, 8), 200), (NMPattern(2, 4), 37), (BlockSparsity(8, 0.5), 70),
               (Dense(), 33)]
)
def test_functional_from_compressed(spec, k):
    rng = np.random.default_rng(k)
    w = random_weights((k, 45), spec, seed=k)
    x = rng.integers(-100, 100, size=(3, k))
    out = DspChainEngine().compute(GemmWork(3, k, 45, w, spec, act=x), ARCH, "dsp_chain")
    np.testing.assert_array_equal(out, x @ w.astype(np.int64))
