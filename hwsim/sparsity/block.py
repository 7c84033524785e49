"""Block, unstructured and dense sparsity: their specs, magnitude masks and CSR conversion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from ._common import _as_numeric, _check_density, _check_int, _magnitude

__all__ = [
    "BlockSparsity",
    "Unstructured",
    "Dense",
    "block_mask",
    "prune_block",
    "unstructured_mask",
    "to_csr",
]


@dataclass(frozen=True)
class BlockSparsity:
    """Square ``block × block`` tiles kept by L1 norm until ``density`` of them remain.

    Parameters
    ----------
    block : int
        Tile side ``b >= 1``.
    density : float
        Fraction of tiles kept, in ``(0, 1]``.
    """

    block: int
    density: float

    def __post_init__(self):
        object.__setattr__(self, "block", _check_int("block", self.block, 1, None))
        object.__setattr__(self, "density", _check_density(self.density))

    def __str__(self) -> str:
        return f"block:{self.block}x{self.block}:{self.density!r}"


@dataclass(frozen=True)
class Unstructured:
    """Element-wise magnitude sparsity keeping a ``density`` fraction of the elements.

    Parameters
    ----------
    density : float
        In ``(0, 1]``.
    """

    density: float

    def __post_init__(self):
        object.__setattr__(self, "density", _check_density(self.density))

    def __str__(self) -> str:
        return f"unstructured:{self.density!r}"


@dataclass(frozen=True)
class Dense:
    """No sparsity."""

    @property
    def density(self) -> float:
        """Always 1.0."""
        return 1.0

    def __str__(self) -> str:
        return "dense"


def _require_2d(x: np.ndarray, what: str) -> None:
    if x.ndim != 2:
        raise ShapeError(f"{what} needs a 2-d tensor, got shape {x.shape}")


def block_mask(x, block: int, density: float, *, seed=None) -> np.ndarray:
    """Block mask: keep the ``block × block`` tiles with the largest L1 norm.

    Keeps ``max(1, round(density * n_blocks))`` tiles (Python ``round``: half to even);
    edge tiles may be partial. Ties go to the lower row-major tile index, or, if ``seed`` is
    given, are broken by a permutation drawn from ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    x : array_like
        2-D numeric tensor.
    block : int
    density : float
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    numpy.ndarray of bool
        Same shape as ``x``.

    Raises
    ------
    ShapeError
        If ``x`` is not 2-D.
    """
    spec = BlockSparsity(block, density)
    x = _as_numeric(x)
    _require_2d(x, "block sparsity")
    b = spec.block
    rows, cols = x.shape
    rb, cb = -(-rows // b), -(-cols // b)
    nblocks = rb * cb
    if nblocks == 0:
        return np.zeros(x.shape, dtype=bool)
    mag = _magnitude(x)
    padded = np.zeros((rb * b, cb * b), dtype=mag.dtype)
    padded[:rows, :cols] = mag
    acc = np.float64 if mag.dtype.kind == "f" else np.uint64
    norms = padded.reshape(rb, b, cb, b).sum(axis=(1, 3), dtype=acc).ravel()
    keep = min(nblocks, max(1, round(spec.density * nblocks)))
    tiebreak = (
        np.arange(nblocks) if seed is None else np.random.default_rng(seed).permutation(nblocks)
    )
    # lexsort sorts by the last key first: norm descending, then the tie-break ascending.
    order = np.lexsort((tiebreak, -norms if acc is np.float64 else np.invert(norms)))
    chosen = np.zeros(nblocks, dtype=bool)
    chosen[order[:keep]] = True
    tiles = np.repeat(np.repeat(chosen.reshape(rb, cb), b, axis=0), b, axis=1)
    return tiles[:rows, :cols]


def prune_block(x, block: int, density: float) -> np.ndarray:
    """``x`` zeroed outside :func:`block_mask` (same dtype)."""
    x = _as_numeric(x)
    return np.where(block_mask(x, block, density), x, np.zeros((), dtype=x.dtype))


def unstructured_mask(x, density: float) -> np.ndarray:
    """Keep the ``max(1, round(density * size))`` largest ``|x|``; ties -> lower flat index.

    Returns
    -------
    numpy.ndarray of bool
        Same shape as ``x`` (all False when ``x`` is empty).
    """
    spec = Unstructured(density)
    x = _as_numeric(x)
    size = x.size
    if size == 0:
        return np.zeros(x.shape, dtype=bool)
    keep = min(size, max(1, round(spec.density * size)))
    mag = _magnitude(x).ravel()
    # Threshold at the keep-th largest magnitude (O(size)), then admit ties in flat order.
    thresh = np.partition(mag, size - keep)[size - keep]
    above = mag > thresh
    ties = mag == thresh
    room = keep - int(np.count_nonzero(above))
    mask = above | (ties & (np.cumsum(ties) <= room))
    return mask.reshape(x.shape)


def to_csr(x):
    """A 2-D tensor as ``scipy.sparse.csr_array`` (explicit zeros dropped).

    Raises
    ------
    ShapeError
        If ``x`` is not 2-D.
    """
    import scipy.sparse

    x = _as_numeric(x)
    _require_2d(x, "CSR")
    return scipy.sparse.csr_array(x)
