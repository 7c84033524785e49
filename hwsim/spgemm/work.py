"""Exact SpGEMM work from the sparsity structure: per-row products, output sizes, windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = [
    "RowWork",
    "row_work",
    "expand_rowwise",
    "expand_outer",
    "make_windows",
    "segment_sums",
    "sum_products",
    "PTR_BYTES",
    "SYMBOLIC_BLOCK",
    "span_bursts",
    "fiber_bursts",
    "range_bursts",
]

#: Partial products per row block of the symbolic product and of the baselines' functional
#: merge (bounds the host's memory; results do not depend on it).
SYMBOLIC_BLOCK = 1 << 22

#: Bytes of a row/column pointer in DRAM (64-bit offsets).
PTR_BYTES = 8


def segment_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Exact integer sums of ``values[indptr[i]:indptr[i+1]]`` for every segment ``i``."""
    c = np.r_[np.int64(0), np.cumsum(values, dtype=np.int64)]
    return c[indptr[1:]] - c[indptr[:-1]]


def span_bursts(lo: np.ndarray, hi: np.ndarray, burst: int) -> np.ndarray:
    """Bursts of ``burst`` bytes that the byte ranges ``[lo, hi)`` touch (0 when empty).

    Arrays are assumed to start at a burst boundary, so a range touches the bursts from
    ``lo // burst`` to ``(hi - 1) // burst``: a short piece that straddles a boundary costs two.
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    return np.where(hi > lo, (hi - 1) // burst - lo // burst + 1, 0)


def fiber_bursts(indptr: np.ndarray, index_bytes: int, value_bytes: int, burst: int) -> np.ndarray:
    """Bursts one fetch of each fiber (a row of a CSR / column of a CSC matrix) touches.

    The fiber's indices and values live in two arrays (each burst-aligned at its start), at
    their offsets in the matrix; its two pointers in the pointer array. The exact burst count
    of a gather from the real addresses, not its bytes over the burst size.
    """
    p = np.asarray(indptr, dtype=np.int64)
    lo, hi = p[:-1], p[1:]
    k = np.arange(lo.size, dtype=np.int64)
    return (
        span_bursts(lo * index_bytes, hi * index_bytes, burst)
        + span_bursts(lo * value_bytes, hi * value_bytes, burst)
        + span_bursts(k * PTR_BYTES, (k + 2) * PTR_BYTES, burst)
    )


def range_bursts(
    indptr: np.ndarray, bounds: np.ndarray, index_bytes: int, value_bytes: int, burst: int
) -> np.ndarray:
    """Bursts of streaming the consecutive fibers ``bounds[i]:bounds[i+1]`` (indices, values
    and their ``rows + 1`` pointers: three contiguous ranges)."""
    p = np.asarray(indptr, dtype=np.int64)
    b = np.asarray(bounds, dtype=np.int64)
    lo, hi = p[b[:-1]], p[b[1:]]
    return (
        span_bursts(lo * index_bytes, hi * index_bytes, burst)
        + span_bursts(lo * value_bytes, hi * value_bytes, burst)
        + span_bursts(b[:-1] * PTR_BYTES, (b[1:] + 1) * PTR_BYTES, burst)
    )


@dataclass(frozen=True)
class RowWork:
    """Exact per-row work of ``C = A·B`` (stored entries, explicit zeros included).

    Attributes
    ----------
    a_row_nnz : numpy.ndarray
        Stored entries of each row of A.
    b_row_nnz : numpy.ndarray
        Stored entries of each row of B.
    b_col_nnz : numpy.ndarray
        Stored entries of each column of B.
    products : numpy.ndarray
        Partial products of each row of C: ``sum over k in row i of A of nnz(B[k, :])``.
    nnz_row : numpy.ndarray
        Structural nonzeros of each row of C (symbolic product: no cancellation).
    shape : tuple of int
        ``(rows(A), cols(A), cols(B))``.
    """

    a_row_nnz: np.ndarray
    b_row_nnz: np.ndarray
    b_col_nnz: np.ndarray
    products: np.ndarray
    nnz_row: np.ndarray
    shape: tuple[int, int, int]

    @property
    def partial_products(self) -> int:
        """Multiplications of a row-wise (or outer-product) SpGEMM."""
        return int(self.products.sum())

    @property
    def nnz_out(self) -> int:
        """Structural nonzeros of C."""
        return int(self.nnz_row.sum())

    @property
    def dense_macs(self) -> int:
        """``rows(A) * cols(A) * cols(B)``."""
        m, k, n = self.shape
        return m * k * n


def _pattern(m: sp.csr_array) -> sp.csr_array:
    """Same structure with every stored entry (explicit zeros included) set to 1."""
    return sp.csr_array((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)


def row_work(a: sp.csr_array, b: sp.csr_array) -> RowWork:
    """Exact per-row partial products and output sizes of ``A·B``.

    The products come from the CSR structure alone (``nnz(B[k,:])`` gathered at A's column
    indices, summed per row with integer prefix sums). The output sizes come from the symbolic
    product: SciPy's ``A·B`` with every stored entry replaced by 1, so no sum can cancel and
    explicit zeros count as structure — the convention of ``manifest.csv``. The symbolic
    product is formed in row blocks of about :data:`SYMBOLIC_BLOCK` products, so its memory
    stays bounded.
    """
    a_row = np.diff(a.indptr).astype(np.int64)
    b_row = np.diff(b.indptr).astype(np.int64)
    b_col = np.bincount(b.indices, minlength=b.shape[1]).astype(np.int64)
    prods = segment_sums(b_row[a.indices], a.indptr)
    pa, pb = _pattern(a), _pattern(b)
    nnz_row = np.zeros(a.shape[0], dtype=np.int64)
    blocks = make_windows(prods, SYMBOLIC_BLOCK, max(a.shape[0], 1))
    for lo, hi in zip(blocks[:-1], blocks[1:], strict=True):
        sym = sp.csr_array(pa[lo:hi] @ pb)
        nnz_row[lo:hi] = np.diff(sym.indptr)
    return RowWork(a_row, b_row, b_col, prods, nnz_row, (a.shape[0], a.shape[1], b.shape[1]))


def expand_rowwise(
    a: sp.csr_array, b: sp.csr_array, row_lo: int = 0, row_hi: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partial products of rows ``row_lo:row_hi`` in row-wise (Gustavson) stream order.

    Row by row; inside a row, A's nonzeros in column order; for each ``A[i, k]`` the whole row
    ``k`` of B in column order. This is the order the SMASH kernel generates them.

    Returns
    -------
    (rows, cols, vals) : tuple of numpy.ndarray
        Output row, output column and value ``A[i,k] * B[k,j]`` of every product.
    """
    row_hi = a.shape[0] if row_hi is None else row_hi
    e0, e1 = int(a.indptr[row_lo]), int(a.indptr[row_hi])
    k = a.indices[e0:e1]
    arow = np.repeat(
        np.arange(row_lo, row_hi, dtype=np.int64), np.diff(a.indptr[row_lo : row_hi + 1])
    )
    lens = (b.indptr[k + 1] - b.indptr[k]).astype(np.int64)
    total = int(lens.sum())
    offs = np.repeat(np.cumsum(lens) - lens - b.indptr[k].astype(np.int64), lens)
    pos = np.arange(total, dtype=np.int64) - offs
    rows = np.repeat(arow, lens)
    cols = b.indices[pos].astype(np.int64)
    vals = np.repeat(a.data[e0:e1], lens) * b.data[pos]
    return rows, cols, vals


def expand_outer(a: sp.csr_array, b: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partial products in outer-product order: for each ``k``, column ``k`` of A times row ``k`` of B.

    Returns
    -------
    (rows, cols, vals) : tuple of numpy.ndarray
        One entry per product, grouped by ``k`` (the partial-product matrix of step ``k``).
    """
    ac = sp.csc_array(a)
    ac.sort_indices()
    acnt = np.diff(ac.indptr).astype(np.int64)
    bcnt = np.diff(b.indptr).astype(np.int64)
    per_k = acnt * bcnt
    total = int(per_k.sum())
    kk = np.repeat(np.arange(a.shape[1], dtype=np.int64), per_k)
    # index inside the k-th block: p = ia * bcnt[k] + jb
    start = np.cumsum(per_k) - per_k
    local = np.arange(total, dtype=np.int64) - start[kk]
    bk = bcnt[kk]
    ia = local // np.maximum(bk, 1)
    jb = local - ia * bk
    apos = ac.indptr[kk] + ia
    bpos = b.indptr[kk] + jb
    return (
        ac.indices[apos].astype(np.int64),
        b.indices[bpos].astype(np.int64),
        ac.data[apos] * b.data[bpos],
    )


def sum_products(
    a: sp.csr_array, b: sp.csr_array, *, order: str, block: int = SYMBOLIC_BLOCK
) -> sp.csr_array:
    """``A·B`` summed the way a baseline dataflow sums it, in row blocks of ``block`` products.

    Every output ``(i, j)`` is the sum of its products in ascending ``k`` — the order both the
    inner product (a merge along ``k``) and the outer product (step ``k`` after step ``k-1``)
    accumulate in. ``order`` picks how the products are generated: ``"rowwise"``
    (:func:`expand_rowwise`) or ``"outer"`` (:func:`expand_outer` on the block's rows of A).
    Explicit zeros and cancelled sums stay stored.
    """
    m, n = a.shape[0], b.shape[1]
    prods = segment_sums(np.diff(b.indptr).astype(np.int64)[a.indices], a.indptr)
    blocks = make_windows(prods, block, max(m, 1))
    indptr = np.zeros(m + 1, dtype=np.int64)
    idx, dat = [], []
    off = 0
    for lo, hi in zip(blocks[:-1], blocks[1:], strict=True):
        lo, hi = int(lo), int(hi)
        if order == "outer":
            r, c, v = expand_outer(sp.csr_array(a[lo:hi]), b)
        else:
            r, c, v = expand_rowwise(a, b, lo, hi)
            r = r - lo
        key = r * n + c
        perm = np.argsort(key, kind="stable")  # stable: k ascending inside each (i, j)
        sk = key[perm]
        first = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]]) if sk.size else sk
        uk = sk[first]
        sums = np.add.reduceat(v[perm], first) if sk.size else np.zeros(0)
        ur = uk // n
        indptr[lo + 1 : hi + 1] = off + np.cumsum(np.bincount(ur, minlength=hi - lo))
        off += uk.size
        idx.append((uk - ur * n).astype(np.int32 if n < 2**31 else np.int64))
        dat.append(sums)
    if not idx:
        return sp.csr_array((m, n))
    return sp.csr_array((np.concatenate(dat), np.concatenate(idx), indptr), shape=(m, n))


def make_windows(products: np.ndarray, capacity: int, window_rows: int) -> np.ndarray:
    """Window distribution: consecutive rows packed greedily by their product upper bound.

    A window takes rows while the sum of their partial products (an upper bound on the
    distinct keys they insert, known from row pointers before any multiply) stays within
    ``capacity`` and it has at most ``window_rows`` rows; a row whose bound alone exceeds
    ``capacity`` gets a window of its own. Empty rows ride along for free.

    Returns
    -------
    numpy.ndarray
        Row boundaries ``[0, ..., rows]`` (window ``w`` is rows ``b[w]:b[w+1]``).
    """
    n = products.size
    cum = np.r_[np.int64(0), np.cumsum(products, dtype=np.int64)]
    bounds = [0]
    start = 0
    while start < n:
        end = int(cum.searchsorted(cum[start] + np.int64(capacity), side="right")) - 1
        end = min(max(end, start + 1), start + window_rows, n)
        bounds.append(end)
        start = end
    return np.asarray(bounds, dtype=np.int64)
