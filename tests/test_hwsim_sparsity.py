"""Tests for hwsim.sparsity: N:M, BDWP, block, unstructured and spec parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwsim.errors import ConfigError, HwsimError, PatternError, ShapeError
from hwsim.sparsity import (
    BlockSparsity,
    Dense,
    NMCompressed,
    NMPattern,
    SparsityParseError,
    Unstructured,
    apply_sparsity,
    bdwp_masks,
    block_mask,
    check_nm,
    compress_nm,
    group_nnz,
    nm_mask,
    nm_metadata_bits,
    parse_sparsity,
    prune_block,
    prune_nm,
    random_weights,
    to_csr,
    unstructured_mask,
)

MAX_EXAMPLES = 100

# ------------------------------------------------------------------------------ strategies


@st.composite
def patterns(draw, max_m=12):
    # Mostly small groups (fast, many tails), sometimes m > 32 to reach the argsort path.
    m = draw(st.one_of(st.integers(1, max_m), st.sampled_from([16, 33, 64])))
    return NMPattern(draw(st.integers(1, m)), m)


@st.composite
def tensors(draw, dtype=None, min_dims=1, max_dims=3, max_side=10):
    dtype = dtype or draw(st.sampled_from([np.int8, np.int16, np.float32, np.float64]))
    shape = draw(
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)
    )
    if np.dtype(dtype).kind == "f":
        # A small value set makes ties and zeros common.
        elements = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 7.0, 1e-3])
    else:
        elements = st.integers(-128, 127)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def tensor_pattern_axis(draw, **kw):
    x = draw(tensors(**kw))
    pattern = draw(patterns())
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return x, pattern, axis


def _groups(x, pattern, axis):
    """Yield (index tuple, 1-d group) in C order over the group_nnz array (reference)."""
    moved = np.moveaxis(x, axis, -1)
    length = moved.shape[-1]
    for other in np.ndindex(moved.shape[:-1]):
        for start in range(0, length, pattern.m):
            yield other, start, moved[other][start : start + pattern.m]


def _magnitude_ref(v):
    return [abs(int(e)) if np.issubdtype(v.dtype, np.integer) else abs(float(e)) for e in v]


def _reference_mask(x, pattern, axis):
    """Slow per-group reference of nm_mask."""
    axis %= x.ndim
    moved = np.zeros(np.moveaxis(x, axis, -1).shape, dtype=bool)
    for other, start, grp in _groups(x, pattern, axis):
        mag = _magnitude_ref(grp)
        order = sorted(range(len(grp)), key=lambda j: (-mag[j], j))
        for j in order[: min(pattern.n, len(grp))]:
            moved[other + (start + j,)] = True
    return np.moveaxis(moved, -1, axis)


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
    np.testing.assert_array_equal(nm_mask(x, p, axis), _reference_mask(x, p, axis))


@given(tensor_pattern_axis())
@settings(max_examples=MAX_EXAMPLES)
def test_prune_keeps_largest_magnitudes(args):
    x, p, axis = args
    mask = nm_mask(x, p, axis)
    for other, start, grp in _groups(x, p, axis):
        kept = np.moveaxis(mask, axis, -1)[other][start : start + p.m]
        assert kept.sum() == min(p.n, len(grp))
        mag = np.array(_magnitude_ref(grp), dtype=float)
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
    for other, start, grp in _groups(x, p, ax):
        assert moved[other + (start // p.m,)] == np.count_nonzero(grp)


@given(
    hnp.arrays(np.int8, st.tuples(st.integers(1, 20), st.integers(64, 70))),
    patterns(),
)
@settings(max_examples=MAX_EXAMPLES // 2)
def test_wide_lanes_match_reference(x, p):
    # Groups along axis 0 of a wide tensor skip the lane transposition: check that path too.
    np.testing.assert_array_equal(nm_mask(x, p, 0), _reference_mask(x, p, 0))
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


# ---------------------------------------------------------------------------- compression


@given(tensor_pattern_axis())
@settings(max_examples=MAX_EXAMPLES)
def test_compress_decompress_identity(args):
    x, p, axis = args
    sparse = prune_nm(x, p, axis)
    c = compress_nm(sparse, p, axis)
    ax = axis % x.ndim
    length = x.shape[ax]
    assert c.axis == ax and c.shape == x.shape and c.pattern == p
    assert c.values.shape[ax] == p.effective_length(length)
    assert c.indices.dtype == np.uint8 and c.values.dtype == x.dtype
    assert np.all(c.indices < p.m)
    r = length % p.m
    if r:
        tail = np.moveaxis(c.indices, ax, -1)[..., length // p.m * p.n :]
        assert np.all(tail < r)
    out = c.decompress()
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out, sparse)
    assert c.metadata_bits() == c.indices.size * p.idx_bits == nm_metadata_bits(x.shape, p, axis)
    assert c.value_count() == c.values.size
    assert c.nnz() == np.count_nonzero(sparse)


def test_compress_example_padding():
    x = np.array([0, 0, 7, 0, 0, 0, 0, 0, 4, 0], dtype=np.int8)
    c = compress_nm(x, "2:4")
    # group 0: nonzero at 2, padded with the first zero (0); group 1 empty; tail [4, 0].
    assert c.values.tolist() == [0, 7, 0, 0, 4, 0]
    assert c.indices.tolist() == [0, 2, 0, 1, 0, 1]
    assert c.metadata_bits() == 6 * 2
    assert not c.values.flags.writeable
    np.testing.assert_array_equal(c.decompress(), x)


def test_compress_rejects_violation():
    with pytest.raises(
        PatternError, match=r"x is not 1:2 sparse along axis 0: group 0 at x\[0:2\] has 2 nonzeros"
    ):
        compress_nm(np.array([1.0, 2.0]), "1:2")


def test_nm_metadata_bits_examples():
    p = NMPattern(2, 8)
    assert nm_metadata_bits((4096, 4096), p) == 4096 * 1024 * 3
    assert nm_metadata_bits(10, p) == (2 + 2) * 3
    assert nm_metadata_bits((3, 10), "1:1", axis=1) == 0


def test_nm_metadata_bits_shape_error():
    with pytest.raises(ConfigError, match="shape entries must be an integer >= 0, not -1"):
        nm_metadata_bits((-1, 4), "2:4")


def _good_compressed():
    return compress_nm(prune_nm(np.arange(1, 11, dtype=np.int8), "2:4"), "2:4")


def test_nmcompressed_bad_values_shape():
    c = _good_compressed()
    with pytest.raises(
        ShapeError, match=r"values must have shape \(6,\) for dense shape \(10,\), not \(5,\)"
    ):
        NMCompressed(c.pattern, 0, (10,), c.values[:5], c.indices)


def test_nmcompressed_bad_indices_type():
    c = _good_compressed()
    with pytest.raises(TypeError, match="indices must be a numpy array, not list"):
        NMCompressed(c.pattern, 0, (10,), c.values, c.indices.tolist())
    with pytest.raises(TypeError, match="indices must have dtype uint8, not int64"):
        NMCompressed(c.pattern, 0, (10,), c.values, c.indices.astype(np.int64))


def test_nmcompressed_index_out_of_range():
    c = _good_compressed()
    idx = c.indices.copy()
    idx[0] = 4
    with pytest.raises(ConfigError, match=r"indices must be < m \(=4\), found 4"):
        NMCompressed(c.pattern, 0, (10,), c.values, idx)


def test_nmcompressed_tail_index_out_of_range():
    c = _good_compressed()
    idx = c.indices.copy()
    idx[-1] = 3
    with pytest.raises(
        ConfigError, match=r"indices of the short tail group must be < 2 \(= 10 % 4\), found 3"
    ):
        NMCompressed(c.pattern, 0, (10,), c.values, idx)


def test_nmcompressed_bad_pattern():
    c = _good_compressed()
    with pytest.raises(TypeError, match="pattern must be an NMPattern"):
        NMCompressed(None, 0, (10,), c.values, c.indices)


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


# ---------------------------------------------------------------------------- block


def test_block_spec_roundtrip():
    spec = BlockSparsity(4, 0.5)
    assert str(spec) == "block:4x4:0.5"
    assert parse_sparsity(str(spec)) == spec
    assert spec.density == 0.5


@given(
    tensors(min_dims=2, max_dims=2, max_side=12),
    st.integers(1, 5),
    st.floats(0.01, 1.0),
)
@settings(max_examples=MAX_EXAMPLES)
def test_block_mask_count_and_order(x, b, density):
    mask = block_mask(x, b, density)
    rows, cols = x.shape
    rb, cb = -(-rows // b), -(-cols // b)
    nblocks = rb * cb
    pad = np.zeros((rb * b, cb * b), dtype=bool)
    pad[:rows, :cols] = mask
    chosen = pad.reshape(rb, b, cb, b).any(axis=(1, 3))
    # Every tile is all-in or all-out (edge tiles cropped).
    tiles = np.repeat(np.repeat(chosen, b, axis=0), b, axis=1)[:rows, :cols]
    np.testing.assert_array_equal(mask, tiles)
    expect = min(nblocks, max(1, round(density * nblocks))) if nblocks else 0
    assert chosen.sum() == expect
    mag = np.zeros(pad.shape)
    mag[:rows, :cols] = np.abs(x.astype(np.float64))
    norms = mag.reshape(rb, b, cb, b).sum(axis=(1, 3))
    if chosen.any() and (~chosen).any():
        assert norms[chosen].min() >= norms[~chosen].max()
    pruned = prune_block(x, b, density)
    assert pruned.dtype == x.dtype
    np.testing.assert_array_equal(pruned, np.where(mask, x, 0))


def test_block_mask_example_ties_and_seed():
    x = np.ones((4, 4), dtype=np.int8)
    m = block_mask(x, 2, 0.25)
    assert m[:2, :2].all() and m.sum() == 4  # all tied: lowest tile index
    seeded = [block_mask(x, 2, 0.25, seed=s) for s in range(8)]
    assert all(s.sum() == 4 for s in seeded)
    assert np.array_equal(block_mask(x, 2, 0.25, seed=3), block_mask(x, 2, 0.25, seed=3))
    assert len({s.tobytes() for s in seeded}) > 1


def test_block_mask_not_2d():
    with pytest.raises(ShapeError, match=r"block sparsity needs a 2-d tensor, got shape \(4,\)"):
        block_mask(np.ones(4), 2, 0.5)


def test_block_errors():
    with pytest.raises(TypeError, match=r"block must be an integer >= 1, not '4' \(str\)"):
        BlockSparsity("4", 0.5)
    with pytest.raises(ConfigError, match="block must be an integer >= 1, not 0"):
        BlockSparsity(0, 0.5)


# ---------------------------------------------------------------------------- unstructured / csr


@given(tensors(), st.floats(0.01, 1.0))
@settings(max_examples=MAX_EXAMPLES)
def test_unstructured_mask_count_and_order(x, density):
    mask = unstructured_mask(x, density)
    assert mask.shape == x.shape
    expect = min(x.size, max(1, round(density * x.size))) if x.size else 0
    assert mask.sum() == expect
    mag = np.abs(x.astype(np.float64)).ravel()
    flat = mask.ravel()
    if flat.any() and (~flat).any():
        assert mag[flat].min() >= mag[~flat].max()
        # Ties at the threshold go to the lower flat index.
        thresh = mag[flat].min()
        tied = np.flatnonzero(mag == thresh)
        kept_tied = flat[tied]
        assert np.all(np.diff(kept_tied.astype(int)) <= 0)


def test_unstructured_example():
    x = np.array([[1, -5, 3], [3, 0, 2]], dtype=np.int16)
    assert unstructured_mask(x, 0.5).tolist() == [[False, True, True], [True, False, False]]
    assert str(Unstructured(0.1)) == "unstructured:0.1"


@pytest.mark.parametrize(
    ("value", "exc", "msg"),
    [
        (0.0, ConfigError, r"density must be a number in \(0, 1\], not 0\.0"),
        (1.5, ConfigError, r"density must be a number in \(0, 1\], not 1\.5"),
        (float("nan"), ConfigError, r"density must be a number in \(0, 1\], not nan"),
        ("0.5", TypeError, r"density must be a number in \(0, 1\], not '0\.5' \(str\)"),
        (True, TypeError, r"density must be a number in \(0, 1\], not True \(bool\)"),
    ],
)
def test_density_errors(value, exc, msg):
    with pytest.raises(exc, match=msg):
        Unstructured(value)


def test_to_csr():
    x = np.array([[0, 2, 0], [1, 0, 3]], dtype=np.float32)
    csr = to_csr(x)
    assert csr.nnz == 3
    np.testing.assert_array_equal(csr.toarray(), x)
    assert csr.indptr.tolist() == [0, 1, 3]


def test_to_csr_not_2d():
    with pytest.raises(ShapeError, match=r"CSR needs a 2-d tensor, got shape \(2, 2, 2\)"):
        to_csr(np.ones((2, 2, 2)))


# ---------------------------------------------------------------------------- parsing / apply


specs = st.one_of(
    st.just(Dense()),
    patterns(max_m=64),
    st.builds(BlockSparsity, st.integers(1, 64), st.floats(1e-6, 1.0)),
    st.builds(Unstructured, st.floats(1e-6, 1.0)),
)


@given(specs)
@settings(max_examples=MAX_EXAMPLES)
def test_spec_str_roundtrip(spec):
    assert parse_sparsity(str(spec)) == spec
    assert 0 < spec.density <= 1


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("dense", Dense()),
        (" Dense ", Dense()),
        ("2:8", NMPattern(2, 8)),
        ("block:4x4:0.5", BlockSparsity(4, 0.5)),
        ("BLOCK: 8 x 8 :1", BlockSparsity(8, 1.0)),
        ("unstructured:0.1", Unstructured(0.1)),
    ],
)
def test_parse_sparsity_examples(text, spec):
    assert parse_sparsity(text) == spec


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sparse", "unknown sparsity kind"),
        ("", "unknown sparsity kind"),
        ("9:8", r"n must be an integer in 1\.\.m \(=8\), not 9"),
        ("1:65", r"m must be an integer in 1\.\.64, not 65"),
        ("block:4x4", "block sparsity needs 'block:BxB:D'"),
        ("block:4:0.5", "block size '4' is not BxB"),
        ("block:4x8:0.5", "blocks must be square, got 4x8"),
        ("block:0x0:0.5", "block must be an integer >= 1, not 0"),
        ("block:4x4:half", "density 'half' is not a number"),
        ("unstructured", "unstructured sparsity needs 'unstructured:D'"),
        ("unstructured:1.5", r"density must be a number in \(0, 1\], not 1\.5"),
        ("unstructured:0", r"density must be a number in \(0, 1\], not 0\.0"),
    ],
)
def test_parse_sparsity_errors(text, reason):
    with pytest.raises(
        SparsityParseError, match=rf"invalid sparsity '{text}': {reason}; expected 'dense', 'N:M'"
    ):
        parse_sparsity(text)


def test_parse_sparsity_type_error():
    with pytest.raises(TypeError, match="a sparsity description must be a string, not float"):
        parse_sparsity(0.5)


def test_apply_sparsity():
    x = np.arange(1, 9, dtype=np.float32).reshape(2, 4)
    dense = apply_sparsity(x, Dense())
    assert np.array_equal(dense, x) and dense is not x
    assert apply_sparsity(x, "1:2", axis=1).tolist() == [[0, 2, 0, 4], [0, 6, 0, 8]]
    assert apply_sparsity(x, "unstructured:0.25").tolist() == [[0, 0, 0, 0], [0, 0, 7, 8]]
    assert apply_sparsity(x, BlockSparsity(2, 0.5)).tolist() == [[0, 0, 3, 4], [0, 0, 7, 8]]


def test_apply_sparsity_bad_spec():
    with pytest.raises(
        TypeError,
        match="spec must be Dense, NMPattern, BlockSparsity, Unstructured or a string, not int",
    ):
        apply_sparsity(np.ones(4), 3)


# ---------------------------------------------------------------------------- random_weights


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int64, np.float16, np.float32])
@pytest.mark.parametrize("axis", [0, 1])
def test_random_weights_nm_exact(dtype, axis):
    p = NMPattern(2, 8)
    w = random_weights((20, 24), p, seed=7, dtype=dtype, axis=axis)
    assert w.dtype == dtype and w.shape == (20, 24)
    counts = np.moveaxis(group_nnz(w, p, axis), axis, -1)
    length = w.shape[axis]
    assert np.all(counts[..., : length // 8] == 2)
    if length % 8:
        assert np.all(counts[..., -1] == min(2, length % 8))
    np.testing.assert_array_equal(w, random_weights((20, 24), p, seed=7, dtype=dtype, axis=axis))


def test_random_weights_int8_full_range_without_zero():
    w = random_weights((256, 256), Dense(), seed=0)
    assert w.dtype == np.int8 and w.min() == -128 and w.max() == 127
    assert np.count_nonzero(w) == w.size


def test_random_weights_other_specs():
    w = random_weights((16, 16), "block:4x4:0.25", seed=1, dtype=np.float32)
    assert np.count_nonzero(w) == 4 * 16
    w = random_weights(100, Unstructured(0.1), seed=1)
    assert np.count_nonzero(w) == 10


def test_random_weights_bad_dtype():
    with pytest.raises(TypeError, match="dtype must be an integer or floating dtype, not bool"):
        random_weights((4, 4), "2:4", seed=0, dtype=bool)


def test_random_weights_bad_shape():
    with pytest.raises(ConfigError, match="shape entries must be an integer >= 0, not -4"):
        random_weights((-4, 4), "2:4", seed=0)


# ---------------------------------------------------------------------------- scale


def test_large_weight_is_fast_enough():
    # Guard against an accidental per-group Python loop: 1024x1024 must be well under a second.
    import time

    x = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    t0 = time.perf_counter()
    for axis in (0, 1):
        c = compress_nm(prune_nm(x, "2:8", axis), "2:8", axis)
    elapsed = time.perf_counter() - t0
    assert c.values.shape == (1024, 256)
    assert elapsed < 5.0
