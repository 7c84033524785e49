"""SpGEMM operands: SciPy matrices, Matrix Market files, networkx graphs and seeded R-MAT graphs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._seed import check_seed
from ..errors import InputFileError, ShapeError

__all__ = ["as_csr", "read_mtx", "rmat", "operands", "partial_products", "MAX_DIM",
           "MAX_ENTRIES", "MAX_RMAT_EDGES", "MAX_PARTIAL_PRODUCTS"]

#: Largest row or column count accepted from a Matrix Market header. Memory follows the
#: declared shape (CSR row pointers, per-row work arrays: about 100 bytes a row), so a header
#: declaring 10^9 x 10^9 with 3 entries is refused before anything is allocated.
MAX_DIM = 1 << 23
#: Largest entry count accepted from a Matrix Market header (about 40 bytes an entry to read).
MAX_ENTRIES = 1 << 24
#: Largest R-MAT graph generated, in edges before merging (about 60 bytes an edge).
MAX_RMAT_EDGES = 1 << 23
#: Largest product simulated, in partial products (multiplications): the simulator's time and
#: memory follow them (measured: 1.2e8 partial products of R-MAT 16,8 took 78 s and 2.7 GB).
MAX_PARTIAL_PRODUCTS = 1 << 26


def _clean(m: sp.spmatrix | sp.sparray, what: str) -> sp.csr_array:
    """Canonical CSR (float64, sorted indices, duplicates summed, explicit zeros kept)."""
    if np.issubdtype(m.dtype, np.complexfloating):
        raise InputFileError(f"{what}: complex values are not supported (expected real numbers)")
    if not (np.issubdtype(m.dtype, np.number) or m.dtype == np.bool_):
        raise InputFileError(f"{what}: non-numeric values of dtype {m.dtype}")
    if m.ndim != 2:
        raise ShapeError(f"{what}: expected a 2-D matrix, got {m.ndim} dimensions")
    csr = sp.csr_array(m, dtype=np.float64, copy=True)
    csr.sum_duplicates()  # also sorts indices; explicit zeros stay stored
    if csr.nnz and not np.all(np.isfinite(csr.data)):
        raise InputFileError(f"{what}: values must be finite (found NaN or inf)")
    return csr


def read_mtx(path: str | os.PathLike) -> sp.csr_array:
    """Read a Matrix Market file into canonical CSR.

    Symmetric / skew / Hermitian files store one triangle; :func:`scipy.io.mmread` mirrors it.
    ``pattern`` files get ones. Explicit zeros stored in the file stay stored (they count as
    structure and as multiplications, like the manifest's figures).

    Raises
    ------
    InputFileError
        Missing or unreadable file, not Matrix Market, array (dense) format, complex or
        non-numeric values.
    """
    import scipy.io

    p = Path(path)
    if p.is_dir():
        raise InputFileError(f"{p}: is a directory, not a Matrix Market file")
    if not p.exists():
        raise InputFileError(f"{p}: no such Matrix Market file")
    if not p.is_file():  # a device or a FIFO would be read for ever
        raise InputFileError(f"{p}: not a regular file (expected a Matrix Market file)")
    try:
        with open(p, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read file: {exc.strerror or exc}") from None
    if not head.lstrip().lower().startswith(b"%%matrixmarket"):
        raise InputFileError(f"{p}: not a Matrix Market file (missing %%MatrixMarket banner)")
    try:
        rows, cols, entries, *_ = scipy.io.mminfo(str(p))  # the header only
    except Exception as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise InputFileError(f"{p}: malformed Matrix Market header: {msg}") from None
    if max(rows, cols) > MAX_DIM or entries > MAX_ENTRIES:
        raise InputFileError(
            f"{p}: the header declares a {rows:,} x {cols:,} matrix with {entries:,} entries; "
            f"the limits are {MAX_DIM:,} rows or columns and {MAX_ENTRIES:,} entries "
            "(memory follows the declared shape)")
    try:
        m = scipy.io.mmread(str(p))
    except Exception as exc:  # scipy raises ValueError/IndexError/... on malformed bodies
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise InputFileError(f"{p}: malformed Matrix Market file: {msg}") from None
    if not sp.issparse(m):
        raise InputFileError(f"{p}: dense 'array' Matrix Market format; expected 'coordinate'")
    return _clean(m, str(p))


def as_csr(obj: Any, *, name: str = "matrix") -> sp.csr_array:
    """Canonical float64 CSR from a SciPy sparse matrix, a path, a networkx graph or an array.

    Parameters
    ----------
    obj : scipy.sparse matrix/array, str, os.PathLike, networkx.Graph or numpy.ndarray
        Paths are read with :func:`read_mtx`; graphs become their weighted adjacency matrix
        (``weight`` attribute, 1 when absent), nodes in insertion order.
    name : str
        Used in error messages for in-memory operands.

    Raises
    ------
    InputFileError
        Unreadable file, complex or non-numeric values.
    ShapeError
        Not two-dimensional.
    TypeError
        Unsupported operand type.
    """
    if isinstance(obj, (str, os.PathLike)):
        return read_mtx(obj)
    if sp.issparse(obj):
        return _clean(obj, name)
    try:
        import networkx as nx
    except ImportError:  # pragma: no cover - networkx is a core dependency
        nx = None
    if nx is not None and isinstance(obj, nx.Graph):
        return _clean(nx.to_scipy_sparse_array(obj, weight="weight", format="csr"), name)
    if isinstance(obj, np.ndarray):
        if obj.ndim != 2:
            raise ShapeError(f"{name}: expected a 2-D matrix, got shape {obj.shape}")
        if not np.issubdtype(obj.dtype, np.number) and obj.dtype != np.bool_:
            raise InputFileError(f"{name}: non-numeric values of dtype {obj.dtype}")
        return _clean(sp.csr_array(obj), name)
    raise TypeError(
        f"{name} must be a scipy.sparse matrix, a Matrix Market path, a networkx graph or a "
        f"2-D numpy array, not {type(obj).__name__}"
    )


def operands(a: Any, b: Any = None) -> tuple[sp.csr_array, sp.csr_array]:
    """``(A, B)`` as canonical CSR; ``b=None`` means ``A·A``.

    Raises
    ------
    ShapeError
        ``A·A`` of a non-square matrix, or ``cols(A) != rows(B)``; the message names the
        operands (file names when they came from files).
    """
    an = str(a) if isinstance(a, (str, os.PathLike)) else "A"
    A = as_csr(a, name="A")
    if b is None:
        if A.shape[0] != A.shape[1]:
            raise ShapeError(
                f"{an}: A·A needs a square matrix, got shape {A.shape[0]}x{A.shape[1]}"
            )
        _check_work(A, A)
        return A, A
    bn = str(b) if isinstance(b, (str, os.PathLike)) else "B"
    B = as_csr(b, name="B")
    if A.shape[1] != B.shape[0]:
        raise ShapeError(
            f"incompatible shapes for A·B: {an} is {A.shape[0]}x{A.shape[1]}, "
            f"{bn} is {B.shape[0]}x{B.shape[1]} (cols(A) must equal rows(B))"
        )
    _check_work(A, B)
    return A, B


def partial_products(A: sp.csr_array, B: sp.csr_array) -> int:
    """Multiplications of ``A·B`` (sum over A's nonzeros of their B row's length), in O(nnz)."""
    row_len = np.diff(B.indptr)
    return int(row_len[A.indices].sum(dtype=np.int64))


def _check_work(A: sp.csr_array, B: sp.csr_array) -> None:
    pp = partial_products(A, B)
    if pp > MAX_PARTIAL_PRODUCTS:
        raise ShapeError(
            f"A·B has {pp:,} partial products; the simulator's limit is "
            f"{MAX_PARTIAL_PRODUCTS:,} (its time and memory follow them: about "
            f"{pp / 1.5e6:,.0f} s and {pp * 22 / 2**30:,.1f} GB for this product)")


def rmat(
    scale: int,
    edge_factor: int,
    *,
    a: float = 0.57,
    b: float = 0.19,
    c: float = 0.19,
    seed: int,
    weights: str = "uniform",
) -> sp.csr_array:
    """Seeded R-MAT (Graph500-style) power-law graph, fully vectorized.

    Each of ``edge_factor * 2**scale`` edges picks its quadrant independently at each of the
    ``scale`` bit levels with probabilities ``a, b, c, d = 1 - a - b - c``. Duplicate edges are
    merged (values summed), self loops kept, vertices not permuted.

    Parameters
    ----------
    scale : int
        log2 of the vertex count (0..26).
    edge_factor : int
        Edges generated per vertex (1..1024), before merging duplicates.
    a, b, c : float
        Quadrant probabilities; ``d = 1 - a - b - c`` must be >= 0.
    seed : int
        Seed of :func:`numpy.random.default_rng` (required: runs are reproducible).
    weights : str
        ``"uniform"`` (values in [0.5, 1.5)) or ``"ones"``.

    Returns
    -------
    scipy.sparse.csr_array
        ``2**scale`` square adjacency matrix.

    Raises
    ------
    ValueError
        Out-of-range scale, edge factor or probabilities, or a negative seed.
    TypeError
        A seed that is not an integer.
    """
    if not isinstance(scale, (int, np.integer)) or not 0 <= scale <= 26:
        raise ValueError(f"scale must be an integer in 0..26, not {scale!r}")
    if not isinstance(edge_factor, (int, np.integer)) or not 1 <= edge_factor <= 1024:
        raise ValueError(f"edge_factor must be an integer in 1..1024, not {edge_factor!r}")
    d = 1.0 - a - b - c
    if min(a, b, c) < 0 or d < -1e-12:
        raise ValueError(
            f"R-MAT probabilities must be >= 0 and sum to <= 1, got a={a}, b={b}, c={c}"
        )
    if int(edge_factor) << int(scale) > MAX_RMAT_EDGES:
        raise ValueError(
            f"R-MAT scale {scale}, edge factor {edge_factor} makes "
            f"{int(edge_factor) << int(scale):,} edges; the limit is {MAX_RMAT_EDGES:,} "
            f"(about {MAX_RMAT_EDGES * 60 >> 20} MB to generate)")
    if weights not in ("uniform", "ones"):
        raise ValueError(f"weights must be 'uniform' or 'ones', not {weights!r}")
    rng = np.random.default_rng(check_seed(seed))
    n = 1 << int(scale)
    m = int(edge_factor) * n
    rows = np.zeros(m, dtype=np.int64)
    cols = np.zeros(m, dtype=np.int64)
    ab, abc = a + b, a + b + c
    for level in range(int(scale)):
        u = rng.random(m)
        bit = np.int64(1 << level)
        # quadrants: a = (0,0), b = (0,1), c = (1,0), d = (1,1)
        rows += bit * (u >= ab)
        cols += bit * (((u >= a) & (u < ab)) | (u >= abc))
    vals = rng.uniform(0.5, 1.5, m) if weights == "uniform" else np.ones(m)
    out = sp.coo_array((vals, (rows, cols)), shape=(n, n)).tocsr()
    out.sum_duplicates()
    return sp.csr_array(out, dtype=np.float64)
