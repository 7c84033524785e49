"""Tests of the NumPy golden model, stream generator and payload packing (``rtl/golden.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from rtl_cases import MacCoreSuite, Record

from rtl.golden import (
    Group,
    GroupStream,
    MacParams,
    concat_streams,
    golden_mac,
    pack_input,
    pack_output,
    random_stream,
    unpack_input,
    unpack_output,
    wrap,
)


def _wrap_int(x: int, width: int) -> int:
    half = 1 << (width - 1)
    return (x + half) % (2 * half) - half


def scalar_mac(params: MacParams, stream: GroupStream) -> list[list[int]]:
    """An independent, plain-int model; every group and result goes through the packing helpers."""
    acc = [0] * params.lanes
    out = []
    for grp in stream:
        grp = unpack_input(params, pack_input(params, grp))
        for ln in range(params.lanes):
            s = sum(int(w) * int(grp.act[i]) for w, i in zip(grp.wval[ln], grp.widx[ln],
                                                              strict=True))
            acc[ln] = _wrap_int((0 if grp.first else acc[ln]) + s, params.acc_width)
        if grp.last:
            out.append(unpack_output(params, pack_output(params, acc)).tolist())
    return out


class TestGoldenLevel(MacCoreSuite):
    """The shared cases on the golden model, checked against the scalar model (untimed)."""

    n_random = 5000

    def run(self, params, case):
        outputs = []
        for ph, stream in enumerate(case.phases):
            if ph < len(case.phases) - 1:
                # untimed: nothing is known to be delivered before the reset cuts the phase
                outputs.append(np.zeros((0, params.lanes), dtype=np.int64))
                continue
            got = golden_mac(params, stream)
            assert got.tolist() == scalar_mac(params, stream)
            outputs.append(got)
        return Record(outputs=outputs)


P24 = MacParams(n=2, m=4, lanes=2, act_width=8, weight_width=8, acc_width=16)


def _stream(act, wval, widx, first, last) -> GroupStream:
    return GroupStream(act, wval, widx, first, last)


def test_params_round_trip():
    p = MacParams(n=2, m=8, lanes=4, act_width=8, weight_width=5, acc_width=20)
    assert MacParams(**p.as_dict()) == p
    assert (p.idx_width, p.out_width) == (3, 80)
    assert p.in_width == 8 * 8 + 8 * 5 + 8 * 3 + 2


def test_params_are_validated():
    with pytest.raises(ValueError, match=r"^n must be an integer in 1\.\.4, not 5$"):
        MacParams(n=5, m=4)


def test_hand_computed_sparse_dot_product():
    act = [[1, -2, 3, -4], [5, 6, 7, 8]]
    wval = [[[10, 20], [-1, 1]], [[2, 3], [1, 1]]]
    widx = [[[0, 3], [1, 2]], [[1, 2], [0, 0]]]
    s = _stream(act, wval, widx, [True, False], [False, True])
    # lane 0: 1*10 + -4*20 = -70, then 6*2 + 7*3 = 33 -> -37
    # lane 1: -2*-1 + 3*1 = 5, then duplicate index 0: 5 + 5 = 10 -> 15
    assert golden_mac(P24, s).tolist() == [[-37, 15]]


def test_first_clears_and_no_first_continues():
    act = [[1, 0, 0, 0]] * 4
    wval = [[[1, 0], [2, 0]]] * 4
    widx = [[[0, 1], [0, 1]]] * 4
    s = _stream(act, wval, widx, [True, False, False, True], [True, False, True, True])
    # result 0 after group 0; groups 1-2 continue from it (no first); group 3 restarts
    assert golden_mac(P24, s).tolist() == [[1, 2], [3, 6], [1, 2]]


def test_accumulators_start_at_zero_without_first():
    s = _stream([[3, 0, 0, 0]], [[[2, 0], [1, 0]]], [[[0, 1], [0, 1]]], [False], [True])
    assert golden_mac(P24, s).tolist() == [[6, 3]]


def test_most_negative_operands_wrap():
    p = MacParams(n=1, m=2, lanes=1, act_width=8, weight_width=8, acc_width=8)
    # (-128) * (-128) = 16384 = 0 (mod 256); three of them with one -128*127 = -16256 = -128
    s = _stream([[-128, 0]] * 2, [[[-128]], [[127]]], [[[0]], [[0]]], [True, False],
                [True, True])
    assert golden_mac(p, s).tolist() == [[0], [-128]]


def test_wrap_matches_python_modulo():
    rng = np.random.default_rng(0)
    x = rng.integers(-(2**40), 2**40, size=1000)
    for width in (8, 20, 33, 48):
        assert wrap(x, width).tolist() == [_wrap_int(int(v), width) for v in x]


def test_pack_input_bit_layout():
    p = MacParams(n=1, m=2, lanes=2, act_width=4, weight_width=3, acc_width=8)
    g = Group(np.array([-1, 2]), np.array([[1], [-4]]), np.array([[1], [0]]), True, False)
    word = pack_input(p, g)
    # act: 0xF at bit 0, 0x2 at bit 4; wval: 0b001 at bit 8, 0b100 at bit 11;
    # widx: 1 at bit 14, 0 at bit 15; first at bit 16, last at bit 17
    want = 0xF | 0x2 << 4 | 0b001 << 8 | 0b100 << 11 | 1 << 14 | 1 << 16
    assert word == want
    back = unpack_input(p, word)
    assert back.act.tolist() == [-1, 2] and back.wval.tolist() == [[1], [-4]]
    assert back.widx.tolist() == [[1], [0]] and back.first and not back.last


def test_output_packing():
    p = MacParams(n=1, m=2, lanes=3, acc_width=8)
    word = pack_output(p, [-1, 5, -128])
    assert word == 0xFF | 5 << 8 | 0x80 << 16
    assert unpack_output(p, word).tolist() == [-1, 5, -128]


@pytest.mark.parametrize("indices", ["nm", "any", "dense"])
def test_random_stream_shape_and_cuts(indices):
    p = MacParams(n=2, m=8, lanes=3, act_width=5, weight_width=6, acc_width=12)
    s = random_stream(p, 500, seed=7, indices=indices, dot_len=(1, 4))
    s.check(p)
    assert s.act.shape == (500, 8) and s.wval.shape == s.widx.shape == (500, 3, 2)
    assert s.last[-1] and s.first[0]
    ends = np.flatnonzero(s.last)
    assert np.diff(np.concatenate([[-1], ends])).max() <= 4
    if indices == "nm":
        assert (np.diff(s.widx, axis=2) > 0).all()  # distinct and sorted
    if indices == "dense":
        assert (s.widx == np.arange(2)).all()
    if indices == "any":
        assert (s.widx[:, :, 0] == s.widx[:, :, 1]).any()  # duplicates do occur
    again = random_stream(p, 500, seed=7, indices=indices, dot_len=(1, 4))
    assert np.array_equal(again.act, s.act) and np.array_equal(again.widx, s.widx)


def test_random_stream_needs_a_seed():
    # seed=None used to give an unseeded (unrepeatable) stream
    p = MacParams(n=2, m=8, lanes=4)
    with pytest.raises(TypeError, match=r"seed must be a non-negative integer, not None"):
        random_stream(p, 10, None)
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, not -1"):
        random_stream(p, 10, -1)


def test_random_stream_extremes_reach_most_negative():
    p = MacParams(n=1, m=2, lanes=1, act_width=6, weight_width=3, acc_width=8)
    s = random_stream(p, 200, seed=1, extremes=0.5)
    assert s.act.min() == -32 and s.wval.min() == -4


def test_stream_slicing_and_concat():
    s = random_stream(P24, 20, seed=3)
    both = concat_streams(s[:10], s[10:])
    assert np.array_equal(both.act, s.act) and np.array_equal(both.last, s.last)
    assert isinstance(s[0], Group) and len(list(s)) == 20


def test_random_stream_rejects_unknown_indices():
    with pytest.raises(ValueError, match=r"^indices must be 'nm', 'any' or 'dense', not 'x'$"):
        random_stream(P24, 4, seed=0, indices="x")


def test_stream_rejects_ragged_columns():
    with pytest.raises(ValueError, match="must have the same length"):
        GroupStream(np.zeros((2, 4)), np.zeros((2, 1, 1)), np.zeros((2, 1, 1)), [1], [1, 1])


def test_stream_rejects_mismatched_weight_shapes():
    with pytest.raises(ValueError, match=r"wval and widx must both have shape \(G, lanes, n\)"):
        GroupStream(np.zeros((1, 4)), np.zeros((1, 2, 2)), np.zeros((1, 2, 1)), [1], [1])


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("act", 128, r"act values must be in -128\.\.127 \(8-bit signed\)"),
        ("wval", -129, r"wval values must be in -128\.\.127 \(8-bit signed\)"),
        ("widx", 4, r"widx values must be in 0\.\.3"),
    ],
)
def test_golden_rejects_out_of_range_values(field, value, match):
    s = random_stream(P24, 3, seed=0)
    getattr(s, field).flat[0] = value
    with pytest.raises(ValueError, match=match):
        golden_mac(P24, s)


def test_golden_rejects_wrong_shapes():
    s = random_stream(MacParams(n=2, m=8, lanes=2), 3, seed=0)
    with pytest.raises(ValueError, match=r"act must have shape \(3, 4\), not \(3, 8\)"):
        golden_mac(P24, s)
    s = random_stream(MacParams(n=2, m=4, lanes=3), 3, seed=0)
    with pytest.raises(ValueError, match=r"wval must have shape \(3, 2, 2\), not \(3, 3, 2\)"):
        golden_mac(P24, s)
