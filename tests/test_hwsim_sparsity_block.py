"""Tests for hwsim.sparsity.block: block and unstructured masks, dense, CSR."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sparsity_cases import MAX_EXAMPLES, tensors

from hwsim.errors import ConfigError, ShapeError
from hwsim.sparsity import (
    BlockSparsity,
    Unstructured,
    block_mask,
    parse_sparsity,
    prune_block,
    to_csr,
    unstructured_mask,
)

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
