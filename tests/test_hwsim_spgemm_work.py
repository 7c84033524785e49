"""Exact SpGEMM work counts: per-row products, output sizes, stream orders, windows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from hwsim.spgemm.inputs import rmat
from hwsim.spgemm.work import expand_outer, expand_rowwise, make_windows, row_work


def _reference(a, b):
    """Products and structure straight from the definitions (loops over SciPy rows)."""
    a, b = sp.csr_array(a), sp.csr_array(b)
    bn = np.diff(b.indptr)
    prods = np.array([bn[a.indices[a.indptr[i] : a.indptr[i + 1]]].sum() for i in range(a.shape[0])])
    ones = lambda m: sp.csr_array((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)  # noqa: E731
    nnz = np.diff(sp.csr_array(ones(a) @ ones(b)).indptr)
    return prods, nnz


def test_tiny_hand_checked():
    a = sp.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
    w = row_work(a, a)
    assert w.products.tolist() == [3, 1]
    assert w.nnz_row.tolist() == [2, 1]
    assert (w.partial_products, w.nnz_out, w.dense_macs) == (4, 3, 8)
    rows, cols, vals = expand_rowwise(a, a)
    assert rows.tolist() == [0, 0, 0, 1]
    assert cols.tolist() == [0, 1, 1, 1]
    assert vals.tolist() == [1.0, 2.0, 6.0, 9.0]


def test_cancellation_and_explicit_zeros_count_as_structure():
    a = sp.csr_array(np.array([[1.0, 1.0], [1.0, -1.0]]))
    w = row_work(a, a)
    assert w.nnz_out == 4  # A·A = 2I numerically, but all four positions receive products
    z = sp.csr_array((np.array([0.0, 1.0]), np.array([1, 0]), np.array([0, 1, 2])), shape=(2, 2))
    wz = row_work(z, z)
    assert wz.partial_products == 2 and wz.nnz_out == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_rectangular_matches_reference(seed):
    rng = np.random.default_rng(seed)
    a = sp.random_array((40, 30), density=0.1, rng=rng, format="csr")
    b = sp.random_array((30, 50), density=0.15, rng=rng, format="csr")
    w = row_work(a, b)
    prods, nnz = _reference(a, b)
    assert w.products.tolist() == prods.tolist()
    assert w.nnz_row.tolist() == nnz.tolist()
    r, c, v = expand_rowwise(a, b)
    dense = np.zeros((40, 50))
    np.add.at(dense, (r, c), v)
    np.testing.assert_allclose(dense, (a @ b).toarray())


def test_outer_order_has_the_same_products():
    a = rmat(7, 4, seed=3)
    r1, c1, v1 = expand_rowwise(a, a)
    r2, c2, v2 = expand_outer(a, a)
    assert r1.size == r2.size == row_work(a, a).partial_products
    k1 = np.lexsort((v1, c1, r1))
    k2 = np.lexsort((v2, c2, r2))
    np.testing.assert_array_equal(r1[k1], r2[k2])
    np.testing.assert_allclose(v1[k1], v2[k2])


def test_windows_pack_by_upper_bound():
    prods = np.array([3, 3, 3, 10, 0, 0, 1, 1])
    assert make_windows(prods, 6, 100).tolist() == [0, 2, 3, 4, 8]
    assert make_windows(prods, 6, 2).tolist() == [0, 2, 3, 4, 6, 8]
    assert make_windows(np.zeros(0, np.int64), 6, 2).tolist() == [0]


@pytest.mark.parametrize("order", ["rowwise", "outer"])
def test_sum_products_is_block_independent(order):
    from hwsim.spgemm.work import sum_products

    a = rmat(9, 6, seed=1)
    small = sum_products(a, a, order=order, block=500)
    whole = sum_products(a, a, order=order)
    for f in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(small, f), getattr(whole, f))
    np.testing.assert_allclose(whole.toarray(), (a @ a).toarray(), rtol=1e-12)
    assert whole.nnz == row_work(a, a).nnz_out  # structural: cancellations stay stored


def test_symbolic_product_in_blocks(monkeypatch):
    import hwsim.spgemm.work as wk

    a = rmat(9, 6, seed=2)
    full = row_work(a, a).nnz_row
    monkeypatch.setattr(wk, "SYMBOLIC_BLOCK", 300)
    np.testing.assert_array_equal(row_work(a, a).nnz_row, full)
