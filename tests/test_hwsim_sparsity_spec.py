"""Tests for hwsim.sparsity.spec: the text grammar, apply_sparsity and seeded weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sparsity_cases import MAX_EXAMPLES, patterns

from hwsim.errors import ConfigError
from hwsim.sparsity import (
    BlockSparsity,
    Dense,
    NMPattern,
    SparsityParseError,
    Unstructured,
    apply_sparsity,
    group_nnz,
    parse_sparsity,
    random_weights,
)

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


def test_random_weights_needs_a_seed():
    # seed=None used to draw from OS entropy: a different tensor on every call
    with pytest.raises(TypeError, match=r"seed must be a non-negative integer or a numpy"):
        random_weights((4, 4), "2:4", seed=None)
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, not -2"):
        random_weights((4, 4), "2:4", seed=-2)
    rng = np.random.default_rng(5)
    again = np.random.default_rng(5)
    assert np.array_equal(
        random_weights((8, 4), "2:4", seed=rng), random_weights((8, 4), "2:4", seed=again)
    )


def test_random_weights_bad_shape():
    with pytest.raises(ConfigError, match="shape entries must be an integer >= 0, not -4"):
        random_weights((-4, 4), "2:4", seed=0)
