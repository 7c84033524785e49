"""Tests of hwsim.engines.dsp_chain: FlightLLM's configurable sparse DSP chain."""

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engines.base import GemmWork
from hwsim.engines.dsp_chain import (
    DspChainEngine,
    chain_efficiency,
    window_nnz,
)
from hwsim.sparsity import BlockSparsity, Dense, NMPattern, random_weights

ARCH = load_arch("flightllm-u280")


def test_efficiency_ratio_from_model():
    """L = 48, g = 16: a 2:8 window keeps 12 values = one group (12 of 16 slices busy), three
    columns share a pass; the unbroken cascade takes one column (12 of 48) a pass."""
    w = random_weights((480, 256), NMPattern(2, 8), seed=0)
    eff = chain_efficiency(w, 16, "nm", cascade=48)
    s = window_nnz(w, 48)
    assert eff["useful_macs"] == np.count_nonzero(w)
    assert eff["passes_fixed"] == np.count_nonzero(s)
    assert eff["passes_configurable"] == (-(-np.ceil(s / 16).sum(axis=1) // 3)).sum()
    assert eff["fixed"] == pytest.approx(0.25)
    assert eff["configurable"] == pytest.approx(0.75, rel=0.01)
    assert eff["ratio"] == pytest.approx(3.0, rel=0.01)


def test_block_sparse_ratio_and_dense_unity():
    wb = random_weights((512, 256), BlockSparsity(16, 0.5), seed=1)
    assert 1 < chain_efficiency(wb, 16, "block", cascade=48)["ratio"] < 2
    wd = random_weights((96, 64), Dense(), seed=1)
    assert chain_efficiency(wd, 16, "dense", cascade=48)["ratio"] == pytest.approx(1.0)


def test_plan_reports_efficiency():
    w = random_weights((256, 128), NMPattern(2, 8), seed=2)
    plan = DspChainEngine().plan(GemmWork(8, 256, 128, w, NMPattern(2, 8)), ARCH, "dsp_chain")
    assert plan.notes["efficiency_ratio"] > 1
    assert plan.notes["useful_macs"] == 8 * np.count_nonzero(w)
    assert plan.notes["cascade_length"] == 48 and plan.notes["cascades"] == 6144 // 48


@pytest.mark.parametrize("n", [4096, 11008])
@pytest.mark.parametrize("sparsity", ["2:8", "dense"])
def test_gemv_is_bound_by_weight_bytes(n, sparsity):
    """Decode GEMV (batch 1) on flightllm-u280: time = weight bytes / HBM bandwidth, +-10 %."""
    from hwsim.gemm import simulate_gemm

    r = simulate_gemm(ARCH, 1, 4096, n, sparsity=sparsity, check=False)
    bytes_per_cycle = ARCH.dram.bandwidth_gbps * 1e9 / (ARCH.clock_mhz * 1e6)
    if sparsity == "2:8":
        values = 4096 // 8 * 2 * n
        weight_bytes = values + values * 3 // 8  # int8 values + 3-bit indices
    else:
        weight_bytes = 4096 * n
    assert r.dram_read_bytes == weight_bytes  # activations stay on chip
    assert r.dram_write_bytes == n  # the n int8 outputs are written
    ideal = r.dram_read_bytes / bytes_per_cycle
    assert ideal <= r.cycles <= 1.10 * ideal
    # The DSP work is small (compute_cycles also count each tile's 54-cycle cascade fill).
    assert r.counters["cascade_passes"] / r.counters["cascades"] < 0.5 * r.cycles
    assert r.compute_cycles < r.cycles
    assert r.counters["decode_on_chip"] and r.events < 20 * r.counters["num_tiles"]


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


def test_flightllm_efficiency_vs_fixed_chain_in_results():
    """Per-GEMM computation efficiency against the same cascade unbroken: 3x for 2:8 at
    L = 48, g = 16 (K = 960 = 20 whole windows), 1x dense."""
    from hwsim.gemm import simulate_gemm

    r = simulate_gemm(ARCH, 16, 960, 256, sparsity="2:8", check=False)
    assert r.counters["efficiency_ratio"] == pytest.approx(3.0, rel=0.01)
    assert r.counters["efficiency_configurable"] == pytest.approx(0.75, rel=0.01)
    assert r.counters["efficiency_fixed_chain"] == pytest.approx(0.25)
    d = simulate_gemm(ARCH, 16, 960, 256, check=False)
    assert d.counters["efficiency_ratio"] == pytest.approx(1.0)
    assert d.cycles / r.cycles > 1


def test_window_nnz_tail_and_dense():
    w = random_weights((100, 7), NMPattern(2, 8), seed=3)
    s = window_nnz(w, 64)
    assert s.shape == (2, 7)
    assert np.array_equal(s[0], np.count_nonzero(w[:64], axis=0))
    assert np.array_equal(s[1], np.count_nonzero(w[64:], axis=0))
    assert np.array_equal(window_nnz(w, 64, "dense"), [[64] * 7, [36] * 7])


def test_unstructured_runs_dense_and_counts_only_nonzeros_as_useful():
    from hwsim.gemm import simulate_gemm

    res = simulate_gemm("flightllm-u280", 8, 512, 256, sparsity="unstructured:0.5", seed=2)
    assert res.check == "passed" and res.counters["sparsity_kind"] == "dense"
    nnz = 512 * 256 // 2  # the top half of the magnitudes is kept
    assert res.counters["useful_macs"] == 8 * nnz
    assert res.performed_macs >= 8 * 512 * 256  # the zeros are multiplied too
    assert res.counters["efficiency_fixed_chain"] == pytest.approx(0.5 * 512 / (11 * 48))
    # 10 full windows a column in both; the 32-long tail window is 2 groups, so three
    # columns' tails share two passes of the configurable chain (256 + ceil(512 / 3) passes).
    assert res.counters["efficiency_ratio"] == pytest.approx((256 * 11) / (2560 + 171))


def test_sparsity_outside_supports_is_refused():
    from hwsim.arch import Architecture, load_arch
    from hwsim.errors import ConfigError
    from hwsim.gemm import simulate_gemm

    d = load_arch("flightllm-u280").to_dict()
    d["engines"]["dsp_chain"]["supports"] = ["dense"]
    arch = Architecture.from_dict(d, source="<test>")
    with pytest.raises(ConfigError, match=r"supports dense sparsity .*not 'nm'"):
        simulate_gemm(arch, 1, 256, 256, sparsity="2:8")


@pytest.mark.parametrize("m", [1, 8])
@pytest.mark.parametrize("sparsity", [Dense(), NMPattern(2, 8), NMPattern(4, 8)])
def test_broadcast_pattern_weight_plans_like_the_full_weight(m, sparsity):
    """A weightless zoo GEMM plans on one seeded column broadcast over N (read-only, no K x N
    array); the chain's counts are then reduced per column. The plan must equal the one of
    the same column materialised N times, tile by tile (decode m = 1 and a prefill m)."""
    k, n = 1000, 3000
    col = random_weights((k, 1), sparsity, seed=3) if not isinstance(sparsity, Dense) else (
        np.random.default_rng(3).integers(1, 100, (k, 1)).astype(np.int8))
    bcast = np.broadcast_to(col, (k, n))
    full = np.repeat(col, n, axis=1)
    assert bcast.strides[1] == 0 and full.strides[1] != 0
    a = DspChainEngine().plan(GemmWork(m, k, n, bcast, sparsity), ARCH, "dsp_chain")
    b = DspChainEngine().plan(GemmWork(m, k, n, full, sparsity), ARCH, "dsp_chain")
    for f in ("compute_cycles", "load_bytes", "store_bytes", "performed_macs",
              "sram_read_bytes", "sram_write_bytes"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert a.buffer_bytes == b.buffer_bytes and a.tiles.equals(b.tiles)
    assert a.notes == b.notes
