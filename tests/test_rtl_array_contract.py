# amaranth: UnusedElaboratable=no
"""Contract 2 for the PE array: the engine's per-tile cycles and every predicted result
transfer (``rtl.timing``) equal what the RTL array does, exactly; patching a term fails."""

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
from hwsim.engines.pe_array import PeArrayEngine, array_overhead_cycles
from hwsim.sparsity import Dense, NMPattern, prune_nm
from rtl.array_golden import random_folds, tile_folds, tile_output
from rtl.timing import array_tile_cycles, array_timing


def _arch(p):
    return load_arch("sat-vcu1525").with_engine_overrides(
        "pe_array", rows=p.rows, cols=p.cols, n=p.n, m=p.m)


def _tile(p, M, K, N, dense, seed):
    rng = np.random.default_rng(seed)
    act = rng.integers(-128, 128, size=(M, K))
    w = rng.integers(-128, 128, size=(K, N)).astype(float)
    if not dense:
        w = prune_nm(w, NMPattern(p.n, p.m), axis=0)
    return act, np.asarray(w).astype(np.int64)


@pytest.mark.parametrize("name, M, K, N", [
    ("2of8_4x4", 6, 70, 7),     # two reduction folds, two column folds, tm > R
    ("2of8_4x4", 2, 64, 4),     # tm < R: the last fold costs tm, not R
    ("4of8_3x5", 7, 40, 5),
    ("dense4_4x4", 5, 30, 6),
    ("1of4_2x8", 1, 24, 9),     # a GEMV row
])
def test_engine_tile_cycles_equal_rtl(name, M, K, N):
    """Each tile of the GEMM: the engine's WS compute cycles == the RTL's last result
    transfer + 1, and the RTL output equals the tile's product."""
    p = ARRAY_CONFIGS[name]
    dense = p.n == p.m
    act, w = _tile(p, M, K, N, dense, seed=M * K + N)
    sparsity = Dense() if dense else NMPattern(p.n, p.m)
    plan = PeArrayEngine().plan(GemmWork(M, K, N, w, sparsity, dataflow="ws"), _arch(p),
                                "pe_array")
    # the buffer-sized tiling pipelines the GEMM along M: every tile is checked on its own
    assert plan.num_tiles >= 1
    for i, t in plan.tiles.iterrows():
        m0, m1, k0, k1, n0, n1 = (int(t[c]) for c in ("m0", "m1", "k0", "k1", "n0", "n1"))
        a_t, w_t = act[m0:m1, k0:k1], w[k0:k1, n0:n1]
        folds = tile_folds(p, a_t, w_t, dense=dense)
        case = make_case(name, p, folds, seed=3 + i)
        rec = simulate_array_amaranth(case)
        assert check_record(case, rec) == []
        assert np.array_equal(tile_output(p, rec.outputs[0], m1 - m0, n1 - n0), a_t @ w_t)
        measured = rec.out_cycles[0][-1] + 1
        assert measured == array_tile_cycles([len(f) for f in folds], case_timing(p))
        assert int(plan.compute_cycles[i]) == measured, f"tile {i}"


def case_timing(p):
    return array_timing(**p.as_dict())


def test_overhead_term_read_from_rtl_timing(monkeypatch):
    """The engine's per-tile overhead is rtl.timing's: patching the skew there moves it."""
    before = array_overhead_cycles(4, 4, 3)
    assert before == 4 + 3 + 3 + 3
    monkeypatch.setattr(rtl.timing, "array_skew_cycles", lambda rows, cols: rows + cols)
    assert array_overhead_cycles(4, 4, 3) == before + 2


def _contract_count(p, seed, **kw):
    folds = random_folds(p, 5, seed, fold_len=(1, 2 * p.rows), indices="nm" if p.n < p.m
                         else "dense")
    case = make_case("contract", p, folds, seed, **kw)
    rec = simulate_array_amaranth(case)
    return case, rec


@pytest.mark.parametrize("patch", ["skew", "preload"])
def test_patched_term_breaks_the_contract(monkeypatch, patch):
    """Patching the skew or the preload term in rtl.timing makes the prediction disagree with
    the (unchanged) RTL, with and without pauses."""
    p = ARRAY_CONFIGS["2of8_4x4"]
    runs = [_contract_count(p, 40), _contract_count(p, 41, pauses=True, p_ready=0.5)]
    for case, rec in runs:
        assert check_record(case, rec) == []
    if patch == "skew":
        monkeypatch.setattr(rtl.timing, "array_skew_cycles", lambda rows, cols: rows + cols - 1)
    else:
        monkeypatch.setattr(rtl.timing, "array_preload_cycles", lambda rows: rows + 1)
    for case, rec in runs:
        errors = check_record(case, rec)
        assert errors and "predicted" in errors[0], errors
    if patch == "skew":  # ... and the engine's per-tile figure moves with it
        assert array_overhead_cycles(4, 4, 3) == 4 + 7 + 3


def test_preload_patch_moves_the_closed_form(monkeypatch):
    t = array_timing(rows=4, cols=4, n=2, m=8, act_width=8, weight_width=8, acc_width=32)
    before = array_tile_cycles([2, 6, 3], t)
    assert before == 4 + 4 + 6 + 3 + 6 + 3
    monkeypatch.setattr(rtl.timing, "array_preload_cycles", lambda rows: rows + 2)
    t2 = rtl.timing.array_timing(rows=4, cols=4, n=2, m=8, act_width=8, weight_width=8,
                                 acc_width=32)
    assert array_tile_cycles([2, 6, 3], t2) != before
