"""Tests for hwsim.sparsity.nm: the N:M pattern, masks, pruning, checks and BDWP masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sparsity_cases import (
    MAX_EXAMPLES,
    groups_of,
    magnitude_ref,
    patterns,
    reference_mask,
    tensor_pattern_axis,
    tensors,
)

from hwsim.errors import ConfigError, HwsimError, PatternError, ShapeError
from hwsim.sparsity import (
    NMPattern,
    SparsityParseError,
    bdwp_masks,
    check_nm,
    compress_nm,
    group_nnz,
    nm_mask,
    prune_nm,
)

# ---------------------------------------------------------------------------- NMPattern


def test_pattern_init_roundtrip():
    p = NMPattern(2, 8)
    assert (p.n, p.m) == (2, 8)
    assert str(p) == "2:8"
    assert NMPattern.parse(str(p)) == p
    assert NMPattern.parse(" 2 : 8 ") == p
    assert p.density == 0.25
    assert NMPattern(np.int64(1), np.int32(4)) == NMPattern(1, 4)
    assert type(NMPattern(np.int64(1), 4).n) is int


@pytest.mark.parametrize(
    ("m", "bits"), [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (64, 6)]
)
def test_idx_bits(m, bits):
    assert NMPattern(1, m).idx_bits == bits == (math.ceil(math.log2(m)) if m > 1 else 0)


@given(patterns(max_m=64), st.integers(0, 10_000))
@settings(max_examples=MAX_EXAMPLES)
def test_effective_length_formula(p, k):
    assert p.effective_length(k) == p.n * (k // p.m) + min(p.n, k % p.m)
    assert p.num_groups(k) == math.ceil(k / p.m)


def test_pattern_n_type_error():
    with pytest.raises(
        TypeError, match=r"n must be an integer in 1\.\.m \(=8\), not 2\.0 \(float\)"
    ):
        NMPattern(2.0, 8)


def test_pattern_m_type_error():
    with pytest.raises(TypeError, match=r"m must be an integer in 1\.\.64, not True \(bool\)"):
        NMPattern(1, True)


def test_pattern_n_value_error():
    with pytest.raises(ConfigError, match=r"^n must be an integer in 1\.\.m \(=8\), not 9$"):
        NMPattern(9, 8)
    with pytest.raises(ValueError, match=r"n must be an integer in 1\.\.m \(=8\), not 0"):
        NMPattern(0, 8)


def test_pattern_m_value_error():
    with pytest.raises(ConfigError, match=r"^m must be an integer in 1\.\.64, not 65$"):
        NMPattern(1, 65)


def test_pattern_parse_bad_text():
    with pytest.raises(
        SparsityParseError, match=r"invalid sparsity '2/8': not of the form N:M; expected 'N:M'"
    ) as info:
        NMPattern.parse("2/8")
    assert isinstance(info.value, HwsimError) and isinstance(info.value, ValueError)
    assert info.value.text == "2/8"


def test_pattern_parse_out_of_range():
    with pytest.raises(
        SparsityParseError,
        match=r"invalid sparsity '9:8': n must be an integer in 1\.\.m \(=8\), not 9",
    ):
        NMPattern.parse("9:8")


def test_pattern_parse_type_error():
    with pytest.raises(TypeError, match="an N:M pattern must be a string, not int"):
        NMPattern.parse(28)


def test_effective_length_errors():
    with pytest.raises(ConfigError, match=r"k must be an integer >= 0, not -1"):
        NMPattern(2, 8).effective_length(-1)
    with pytest.raises(TypeError, match=r"k must be an integer >= 0, not 1\.5 \(float\)"):
        NMPattern(2, 8).effective_length(1.5)


# ---------------------------------------------------------------------------- N:M masks


def test_nm_mask_example_ties_and_tail():
    x = np.array([1, 1, 1, 1, 3, -3, 0, 2, 5, 0], dtype=np.int8)
    # 2:4: first group all tied -> lower indices; second: |3| tie -> lower; tail (2 elems) keeps 2.
    assert nm_mask(x, "2:4").tolist() == [1, 1, 0, 0, 1, 1, 0, 0, 1, 1]
    assert prune_nm(x, NMPattern(1, 4)).tolist() == [1, 0, 0, 0, 3, 0, 0, 0, 5, 0]


def test_nm_mask_int8_min_is_largest_magnitude():
    x = np.array([127, -128, 5, 0], dtype=np.int8)
    assert nm_mask(x, "1:4").tolist() == [False, True, False, False]


def test_nm_mask_nan_counts_as_largest():
    x = np.array([1.0, np.nan, np.inf, 2.0])
    assert nm_mask(x, "1:4").tolist() == [False, True, False, False]
    assert nm_mask(x, "2:4").tolist() == [False, True, True, False]


def test_prune_nm_2d_axes():
    x = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    assert prune_nm(x, "1:2", axis=0).tolist() == [
        [0, 0, 0, 0],
        [5, 6, 7, 8],
        [0, 0, 0, 0],
        [13, 14, 15, 16],
    ]
    assert prune_nm(x, "1:2", axis=1)[0].tolist() == [0, 2, 0, 4]
    assert prune_nm(x, "1:2").dtype == np.float32


@given(tensor_pattern_axis())
@settings(max_examples=MAX_EXAMPLES)
def test_nm_mask_matches_reference(args):
    x, p, axis = args
    np.testing.assert_array_equal(nm_mask(x, p, axis), reference_mask(x, p, axis))


@given(tensor_pattern_axis())
@settings(max_examples=MAX_EXAMPLES)
def test_prune_keeps_largest_magnitudes(args):
    x, p, axis = args
    mask = nm_mask(x, p, axis)
    for other, start, grp in groups_of(x, p, axis):
        kept = np.moveaxis(mask, axis, -1)[other][start : start + p.m]
        assert kept.sum() == min(p.n, len(grp))
        mag = np.array(magnitude_ref(grp), dtype=float)
        if kept.any() and (~kept).any():
            assert mag[kept].min() >= mag[~kept].max()
    pruned = prune_nm(x, p, axis)
    assert pruned.dtype == x.dtype
    check_nm(pruned, p, axis)
    if np.all(x != 0):
        counts = group_nnz(pruned, p, axis)
        full = np.moveaxis(counts, axis, -1)
        length = x.shape[axis]
        if length % p.m == 0:
            assert np.all(full == p.n)
        else:
            assert np.all(full[..., :-1] == p.n)
            assert np.all(full[..., -1] == min(p.n, length % p.m))


@given(tensor_pattern_axis())
@settings(max_examples=MAX_EXAMPLES)
def test_group_nnz_matches_reference(args):
    x, p, axis = args
    counts = group_nnz(x, p, axis)
    ax = axis % x.ndim
    shape = list(x.shape)
    shape[ax] = math.ceil(x.shape[ax] / p.m)
    assert counts.shape == tuple(shape)
    moved = np.moveaxis(counts, ax, -1)
    for other, start, grp in groups_of(x, p, ax):
        assert moved[other + (start // p.m,)] == np.count_nonzero(grp)


@given(
    hnp.arrays(np.int8, st.tuples(st.integers(1, 20), st.integers(64, 70))),
    patterns(),
)
@settings(max_examples=MAX_EXAMPLES // 2)
def test_wide_lanes_match_reference(x, p):
    # Groups along axis 0 of a wide tensor skip the lane transposition: check that path too.
    np.testing.assert_array_equal(nm_mask(x, p, 0), reference_mask(x, p, 0))
    sparse = prune_nm(x, p, 0)
    np.testing.assert_array_equal(compress_nm(sparse, p, 0).decompress(), sparse)


# ---------------------------------------------------------------------------- check_nm


def test_check_nm_message_names_first_group():
    w = np.zeros((3, 16), dtype=np.int8)
    w[1, 8:11] = 1  # group 1 of row 1: 3 nonzeros
    w[2, 0:5] = 1
    with pytest.raises(
        PatternError,
        match=r"^W is not 2:8 sparse along axis 1: group 1 at W\[1, 8:16\] has 3 nonzeros, "
        r"at most 2 allowed \(2 of 6 groups violate the pattern\)$",
    ) as info:
        check_nm(w, "2:8", axis=1, name="W")
    err = info.value
    assert (err.group, err.start, err.stop, err.count, err.allowed) == ((1, 1), 8, 16, 3, 2)


def test_check_nm_message_tail_group_axis0():
    w = np.zeros((10, 2))
    w[8:10, 1] = 5.0
    with pytest.raises(
        PatternError,
        match=r"tensor is not 1:4 sparse along axis 0: group 2 at tensor\[8:10, 1\] has 2 nonzeros, at most 1 allowed",
    ):
        check_nm(w, NMPattern(1, 4))


def test_check_nm_passes_and_tail_shorter_than_n():
    check_nm(np.ones(3), "4:8")  # tail of 3 < n: min(n, 3) = 3 allowed
    check_nm(np.zeros((0, 5)), "2:8")


# ---------------------------------------------------------------------------- axis / dtype errors


def test_axis_type_error():
    with pytest.raises(TypeError, match=r"axis must be an integer, not 0\.0 \(float\)"):
        nm_mask(np.ones(4), "2:4", axis=0.0)


def test_axis_out_of_range():
    with pytest.raises(ShapeError, match=r"axis 2 is out of range for a 2-d tensor"):
        group_nnz(np.ones((4, 4)), "2:4", axis=2)


def test_axis_scalar():
    with pytest.raises(
        ShapeError, match="axis 0 needs a tensor of at least 1 dimension, got a scalar"
    ):
        check_nm(np.float32(3), "2:4")


def test_non_numeric_dtype():
    with pytest.raises(TypeError, match="x must have a numeric dtype, not <U1"):
        prune_nm(np.array(["a", "b"]), "1:2")


def test_bad_pattern_type():
    with pytest.raises(TypeError, match="pattern must be an NMPattern or 'N:M' string, not tuple"):
        nm_mask(np.ones(4), (2, 4))


# ---------------------------------------------------------------------------- BDWP


@given(tensors(min_dims=2, max_dims=2), patterns())
@settings(max_examples=MAX_EXAMPLES)
def test_bdwp_masks_follow_their_axes(w, p):
    fwd, bwd = bdwp_masks(w, p)
    np.testing.assert_array_equal(fwd, nm_mask(w, p, 0))
    np.testing.assert_array_equal(bwd, nm_mask(w, p, 1))
    check_nm(fwd, p, 0)
    check_nm(bwd, p, 1)
    check_nm(w * fwd, p, 0)
    check_nm(w * bwd, p, 1)


def test_bdwp_example_masks_differ():
    w = np.array([[4, 1], [3, 2]], dtype=np.int8)  # K=2 x N=2, 1:2
    fwd, bwd = bdwp_masks(w, "1:2")
    assert fwd.tolist() == [[True, False], [False, True]]  # per column, over K
    assert bwd.tolist() == [[True, False], [True, False]]  # per row, over N


def test_bdwp_same_axis_error():
    with pytest.raises(
        ConfigError,
        match=r"forward_axis \(0\) and backward_axis \(-2\) must be different axes of the 2-d weight",
    ):
        bdwp_masks(np.ones((4, 4)), "2:4", forward_axis=0, backward_axis=-2)


def test_bdwp_axis_name_in_error():
    with pytest.raises(ShapeError, match="backward_axis 1 is out of range for a 1-d tensor"):
        bdwp_masks(np.ones(4), "2:4")


def test_broadcast_views_count_like_their_materialised_copy():
    # the mapper's pattern weights are a seeded column broadcast over N (stride 0): counted on
    # one column and broadcast back, the counts (and violations) equal a full copy's
    from hwsim.engines.dsp_chain import window_nnz
    from hwsim.sparsity import NMPattern, check_nm, group_nnz

    rng = np.random.default_rng(3)
    col = (rng.random((45, 1)) < 0.3).astype(np.int8)
    b = np.broadcast_to(col, (45, 7))
    full = np.ascontiguousarray(b)
    for pat in (NMPattern(2, 8), NMPattern(1, 4)):
        assert np.array_equal(group_nnz(b, pat), group_nnz(full, pat))
    assert np.array_equal(window_nnz(b, 16), window_nnz(full, 16))
    bad = np.broadcast_to(np.ones((8, 1), dtype=np.int8), (8, 3))
    with pytest.raises(Exception, match="3 of 3 groups violate"):
        check_nm(bad, NMPattern(2, 8))
