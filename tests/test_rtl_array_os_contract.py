# amaranth: UnusedElaboratable=no
"""Contract 2 for the output-stationary PE array: the engine's OS per-tile cycles and every
predicted result transfer (``rtl.timing``) equal what the RTL OS array does, exactly;
patching the skew or the drain term fails."""

from __future__ import annotations

import numpy as np
import pytest
from rtl_array_cases import (
    ARRAY_CONFIGS,
    check_record,
    make_case,
    simulate_array_amaranth,
)

import rtl.timing
from hwsim.arch import load_arch
from hwsim.engines.base import GemmWork
from hwsim.engines.pe_array import PeArrayEngine, array_os_overhead_cycles
from hwsim.sparsity import Dense, NMPattern, prune_nm
from rtl.array_golden import random_blocks, tile_blocks, tile_output_os
from rtl.timing import array_os_tile_cycles, array_os_timing


def _arch(p):
    return load_arch("sat-vcu1525").with_engine_overrides(
        "pe_array", rows=p.rows, cols=p.cols, n=p.n, m=p.m)


def _gemm(p, M, K, N, seed):
    dense = p.n == p.m
    rng = np.random.default_rng(seed)
    act = rng.integers(-128, 128, size=(M, K))
    w = rng.integers(-128, 128, size=(K, N)).astype(float)
    if not dense:
        w = prune_nm(w, NMPattern(p.n, p.m), axis=0)
    w = np.asarray(w).astype(np.int64)
    work = GemmWork(M, K, N, w, Dense() if dense else NMPattern(p.n, p.m), act=act,
                    dataflow="os")
    return work, PeArrayEngine().plan(work, _arch(p), "pe_array")


def _measure_tile(p, work, plan, i, seed):
    """Run tile ``i`` of ``plan`` on the RTL OS array; return (case, record, measured cycles)."""
    t = plan.tiles.iloc[i]
    m0, m1, k0, k1, n0, n1 = (int(t[c]) for c in ("m0", "m1", "k0", "k1", "n0", "n1"))
    a_t, w_t = work.act[m0:m1, k0:k1], np.asarray(work.weight)[k0:k1, n0:n1]
    blocks = tile_blocks(p, a_t, w_t, dense=p.n == p.m)
    case = make_case("tile", p, blocks, seed=seed, dataflow="os")
    rec = simulate_array_amaranth(case)
    assert np.array_equal(tile_output_os(p, rec.outputs[0], m1 - m0, n1 - n0), a_t @ w_t)
    return case, rec, rec.out_cycles[0][-1] + 1


@pytest.mark.parametrize("name, M, K, N", [
    ("2of8_4x4", 6, 70, 7),     # two row blocks (one partial), two column folds, kf > R
    ("2of8_4x4", 9, 16, 6),     # kf = 2 < R: blocks wait for the drain; short first block
    ("4of8_3x5", 7, 40, 5),
    ("dense4_4x4", 5, 30, 6),
    ("1of4_2x8", 1, 24, 9),     # a GEMV row
    ("2of4_8x8", 8, 20, 8),     # kf = 5 < R = 8
])
def test_engine_os_tile_cycles_equal_rtl(name, M, K, N):
    """Each tile of the GEMM: the engine's OS compute cycles (plan and functional path) ==
    the RTL's last result transfer + 1 == rtl.timing.array_os_tile_cycles, and the RTL
    output equals the tile's product."""
    p = ARRAY_CONFIGS[name]
    work, plan = _gemm(p, M, K, N, seed=M * K + N)
    assert plan.num_tiles >= 1
    arch = _arch(p)
    for i in range(plan.num_tiles):
        case, rec, measured = _measure_tile(p, work, plan, i, seed=3 + i)
        assert check_record(case, rec) == []
        assert measured == array_os_tile_cycles([len(b) for b in case.phases[0]],
                                                array_os_timing(**p.as_dict()))
        assert int(plan.compute_cycles[i]) == measured, f"tile {i}"
        t = plan.tiles.iloc[i]
        _, counts = PeArrayEngine().execute_tile(work, arch, "pe_array", plan, i,
                                                 work.act[int(t.m0):int(t.m1)])
        assert counts["compute_cycles"] == measured, f"tile {i}"


def test_os_overhead_term_read_from_rtl_timing(monkeypatch):
    """The engine's OS per-tile overhead and block cost are rtl.timing's: patching the skew
    or the drain there moves them."""
    p = ARRAY_CONFIGS["2of8_4x4"]
    before = array_os_overhead_cycles(4, 4, 3)
    assert before == 4 + 3 + 3
    _, plan = _gemm(p, 9, 16, 6, seed=1)  # blocks of 2 steps, shorter than the drain
    cycles = int(plan.compute_cycles.sum())
    monkeypatch.setattr(rtl.timing, "array_os_skew_cycles", lambda cols: cols)
    assert array_os_overhead_cycles(4, 4, 3) == before + 1
    monkeypatch.setattr(rtl.timing, "array_os_drain_cycles", lambda rows: rows + 1)
    _, patched = _gemm(p, 9, 16, 6, seed=1)
    # per tile: overhead +1 (skew) +1 (drain), and +1 for each block after its first (every
    # block is 2 steps, shorter than the drain)
    t = plan.tiles
    blocks = (-(-(t.m1 - t.m0) // p.rows)) * (-(-(t.n1 - t.n0) // p.cols))
    assert int(blocks.sum()) > plan.num_tiles
    assert int(patched.compute_cycles.sum()) == cycles + 2 * plan.num_tiles + \
        int((blocks - 1).sum())


def _runs(p):
    out = []
    for seed, kw in ((40, {}), (41, dict(pauses=True, p_ready=0.5))):
        blocks = random_blocks(p, 6, seed, block_len=(1, 2 * p.rows))
        case = make_case("contract", p, blocks, seed, dataflow="os", **kw)
        out.append((case, simulate_array_amaranth(case)))
    return out


@pytest.mark.parametrize("patch", ["skew", "drain"])
def test_patched_term_breaks_the_os_contract(monkeypatch, patch):
    """Patching the skew or the drain term in rtl.timing makes the prediction disagree with
    the (unchanged) RTL, with and without pauses, and the engine's tile figure with it."""
    p = ARRAY_CONFIGS["2of8_4x4"]
    runs = _runs(p)
    work, plan = _gemm(p, 9, 16, 6, seed=2)
    measured = _measure_tile(p, work, plan, 0, seed=5)[2]
    for case, rec in runs:
        assert check_record(case, rec) == []
    assert int(plan.compute_cycles[0]) == measured
    if patch == "skew":
        monkeypatch.setattr(rtl.timing, "array_os_skew_cycles", lambda cols: cols)
    else:
        monkeypatch.setattr(rtl.timing, "array_os_drain_cycles", lambda rows: rows + 1)
    for case, rec in runs:
        errors = check_record(case, rec)
        assert errors and "predicted" in errors[0], errors
    _, patched = _gemm(p, 9, 16, 6, seed=2)
    assert int(patched.compute_cycles[0]) != measured
