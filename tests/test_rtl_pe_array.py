# amaranth: UnusedElaboratable=no
"""The N:M PE array: parameters, golden model, tile builder, and the Amaranth simulation level."""

from __future__ import annotations

import numpy as np
import pytest
from rtl_array_cases import (
    ARRAY_CONFIGS,
    build_cases,
    check_record,
    make_case,
    simulate_array_amaranth,
)

from rtl.array_golden import (
    ArrayParams,
    Fold,
    golden_fold,
    pack_act_row,
    pack_weight_row,
    random_folds,
    tile_folds,
    tile_output,
    unpack_result,
)
from rtl.golden import wrap
from rtl.timing import array_timing, validate_array_params


# -- parameters --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, exc, match", [
    ({"rows": 0}, ValueError, r"rows must be an integer in 1\.\.64"),
    ({"cols": 65}, ValueError, r"cols must be an integer in 1\.\.64"),
    ({"rows": True}, TypeError, r"rows must be an integer"),
    ({"cols": 2.5}, TypeError, r"cols must be an integer"),
    ({"m": 6}, ValueError, r"power of two"),
    ({"n": 9}, ValueError, r"n must be an integer in 1\.\.8"),
    ({"acc_width": 4}, ValueError, r"acc_width"),
])
def test_array_params_validated(bad, exc, match):
    from rtl.pe_array import NMPeArray

    base = dict(rows=4, cols=4, n=2, m=8, act_width=8, weight_width=8, acc_width=32)
    with pytest.raises(exc, match=match):
        validate_array_params(**{**base, **bad})
    with pytest.raises(exc, match=match):
        NMPeArray(**{**base, **bad})


def test_array_params_keyword_only():
    from rtl.pe_array import NMPeArray

    with pytest.raises(TypeError):
        NMPeArray(4, 4, 2, 8)  # positional use must fail


def test_timing_terms():
    t = array_timing(rows=4, cols=6, n=2, m=8, act_width=8, weight_width=8, acc_width=32)
    assert (t.preload, t.skew, t.latency) == (4, 3 + 5, 3)
    assert t.result_latency == 11 and t.output_buffer_depth == 12


# -- golden ------------------------------------------------------------------------------------------
def test_golden_fold_matches_loops():
    p = ArrayParams(rows=3, cols=2, n=2, m=4, act_width=7, weight_width=5, acc_width=12)
    for fold in random_folds(p, 4, seed=9, indices="any", extremes=0.5):
        got = golden_fold(p, fold)
        for i in range(len(fold)):
            for c in range(p.cols):
                s = sum(int(fold.wval[r, c, j]) * int(fold.act[i, r, fold.widx[r, c, j]])
                        for r in range(p.rows) for j in range(p.n))
                assert got[i, c] == int(wrap(s, p.acc_width))


@pytest.mark.parametrize("name, dense", [("2of8_4x4", False), ("4of8_3x5", False),
                                         ("1of4_2x8", False), ("dense4_4x4", True),
                                         ("2of4_3x2_w7_5_acc12", False)])
def test_tile_from_compressed_operands_is_the_product(name, dense):
    """Folds built from the compressed weight, summed over reduction folds, equal act @ W."""
    from hwsim.sparsity import NMPattern, prune_nm

    p = ARRAY_CONFIGS[name]
    rng = np.random.default_rng(5)
    M, K, N = 5, 3 * p.m * p.rows - 3, 2 * p.cols + 1  # tail group, partial column fold
    lo_a, lo_w = -(1 << (p.act_width - 1)), -(1 << (p.weight_width - 1))
    act = rng.integers(lo_a, -lo_a, size=(M, K))
    w = rng.integers(lo_w, -lo_w, size=(K, N))
    if not dense:
        w = np.asarray(prune_nm(w.astype(float), NMPattern(p.n, p.m), axis=0)).astype(np.int64)
    folds = tile_folds(p, act, w, dense=dense)
    results = np.concatenate([golden_fold(p, f) for f in folds])
    assert np.array_equal(tile_output(p, results, M, N), wrap(act @ w, p.acc_width))


def test_packing_round_trip():
    p = ARRAY_CONFIGS["4of8_3x5"]
    fold = random_folds(p, 1, seed=2, indices="any", extremes=1.0)[0]
    word = pack_weight_row(p, fold.wval[1], fold.widx[1])
    assert word < 1 << (p.cols * p.n * (p.weight_width + p.idx_width))
    aw = pack_act_row(p, fold.act[0], True)
    assert aw >> (p.rows * p.m * p.act_width) == 1
    res = np.array([-1, 5, -(1 << 31), (1 << 31) - 1, 0])
    word = sum((int(v) & 0xFFFFFFFF) << (32 * c) for c, v in enumerate(res))
    assert np.array_equal(unpack_result(p, word), res)


def test_payload_layouts_match_packing():
    from rtl.pe_array import NMPeArray

    p = ARRAY_CONFIGS["2of8_4x4"]
    dut = NMPeArray(**p.as_dict())
    assert dut.w.payload.shape().size == p.cols * p.n * (p.weight_width + p.idx_width)
    assert dut.a.payload.shape().size == p.rows * p.m * p.act_width + 1
    assert dut.o.payload.shape().size == p.cols * p.acc_width


def test_fold_rejects_bad_shapes():
    with pytest.raises(ValueError, match="wval/widx"):
        Fold(np.zeros((2, 2, 1)), np.zeros((2, 2, 2)), np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="at least one"):
        Fold(np.zeros((2, 2, 1)), np.zeros((2, 2, 1)), np.zeros((0, 2, 4)))


# -- Amaranth simulation level ----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ARRAY_CONFIGS))
def test_amaranth_array_matches_golden_and_timing(name):
    """Every case (pauses, back-pressure, wrap, duplicates, reset mid-tile): results equal the
    golden and every transfer cycle equals rtl.timing.predict_array_schedule."""
    p = ARRAY_CONFIGS[name]
    total = 0
    for case in build_cases(p, seed=1 + 100 * list(ARRAY_CONFIGS).index(name)):
        rec = simulate_array_amaranth(case)
        assert check_record(case, rec) == []
        total += len(rec.outputs[-1])
    assert total >= 60


def test_amaranth_runs_a_real_tile():
    """A 2:8 GEMM tile (K spanning two reduction folds and two column folds) through the RTL."""
    from hwsim.sparsity import NMPattern, prune_nm

    p = ARRAY_CONFIGS["2of8_4x4"]
    rng = np.random.default_rng(11)
    M, K, N = 6, 50, 7
    act = rng.integers(-128, 128, size=(M, K))
    w = np.asarray(prune_nm(rng.integers(-128, 128, size=(K, N)).astype(float),
                            NMPattern(2, 8), axis=0)).astype(np.int64)
    folds = tile_folds(p, act, w)
    assert len(folds) == 2 * 2
    case = make_case("tile", p, folds, seed=1)
    rec = simulate_array_amaranth(case)
    assert check_record(case, rec) == []
    assert np.array_equal(tile_output(p, rec.outputs[0], M, N), act @ w)


def test_array_verilog_ports():
    import re

    from rtl.verilog import ARRAY_TOP, array_port_widths, generate_array_verilog

    params = dict(rows=2, cols=3, n=2, m=4, act_width=8, weight_width=8, acc_width=32)
    text = generate_array_verilog(**params)
    assert re.search(rf"^module {ARRAY_TOP}\(", text, re.M)
    widths = array_port_widths(**params)
    assert widths["w__payload"] == 3 * 2 * (8 + 2) and widths["a__payload"] == 2 * 4 * 8 + 1
    for name, width in widths.items():
        decl = rf"^\s*(input|output) (\[{width - 1}:0\] )?{name};" if width > 1 else \
            rf"^\s*(input|output) {name};"
        assert re.search(decl, text, re.M), name
    with pytest.raises(ValueError, match="rows"):
        generate_array_verilog(**{**params, "rows": 0})


def test_wrapping_case_really_wraps():
    """The 12-bit configuration's extreme case overflows: the golden (and so every level) is
    checked on wrapped sums, not on sums that happen to fit."""
    p = ARRAY_CONFIGS["2of4_3x2_w7_5_acc12"]
    case = next(c for c in build_cases(p, seed=501) if c.name == "extremes")
    fold = case.phases[0][0]
    r_idx = np.arange(p.rows)[:, None, None]
    raw = (fold.act[:, r_idx, fold.widx] * fold.wval[None]).sum(axis=(1, 3))
    assert np.abs(raw).max() >= 1 << (p.acc_width - 1)
    assert not np.array_equal(golden_fold(p, fold), raw)
