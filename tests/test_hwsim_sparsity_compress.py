"""Tests for hwsim.sparsity.compress: N:M values and indices, round trips and metadata."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from sparsity_cases import MAX_EXAMPLES, tensor_pattern_axis

from hwsim.errors import ConfigError, PatternError, ShapeError
from hwsim.sparsity import (
    NMCompressed,
    NMPattern,
    compress_nm,
    group_nnz,
    nm_metadata_bits,
    prune_nm,
)

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


# ---------------------------------------------------------------------------- scale


def test_large_weight_round_trips_along_both_axes():
    # Speed at this size is a benchmark target (benchmarks/bench_sparsity.py), not a timed test.
    x = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    for axis in (0, 1):
        pruned = prune_nm(x, "2:8", axis)
        c = compress_nm(pruned, "2:8", axis)
        assert c.values.shape == ((256, 1024) if axis == 0 else (1024, 256))
        assert (group_nnz(pruned, "2:8", axis) == 2).all()  # no zeros in x: exactly n kept
        np.testing.assert_array_equal(c.decompress(), pruned)
        # the kept values are the two largest magnitudes of every group of 8
        groups = np.moveaxis(np.abs(x), axis, 0).reshape(128, 8, 1024)
        kept = np.moveaxis(np.abs(pruned), axis, 0).reshape(128, 8, 1024)
        np.testing.assert_array_equal(
            np.sort(kept, axis=1)[:, -2:], np.sort(groups, axis=1)[:, -2:]
        )
