"""N:M compression: per-group value slots plus in-group indices, and their metadata size."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, ShapeError
from ._common import _as_numeric, _check_int, _is_int, _norm_axis, _split
from .nm import _MIN_LANE, NMPattern, _check_pattern, _to_lanes, check_nm

__all__ = ["NMCompressed", "compress_nm", "nm_metadata_bits"]


@dataclass(frozen=True, eq=False)
class NMCompressed:
    """An N:M tensor as per-group value slots plus ``ceil(log2 m)``-bit in-group indices.

    Along ``axis`` the ``L`` dense elements become ``pattern.effective_length(L)`` slots:
    ``n`` per full group and ``min(n, L % m)`` for the short tail group, in group order.
    Slots of a group hold distinct, ascending in-group positions; a group with fewer
    nonzeros than slots pads with value 0 at an unused position.

    Attributes
    ----------
    pattern : NMPattern
    axis : int
        Non-negative grouping axis.
    shape : tuple of int
        Dense shape.
    values : numpy.ndarray
        Dense dtype; ``shape`` with ``axis`` replaced by the slot count.
    indices : numpy.ndarray of uint8
        Same shape as ``values``; each ``< m`` (``< L % m`` in the tail group).

    Raises
    ------
    TypeError, ShapeError, ConfigError
        If the fields are inconsistent (checked on construction).
    """

    pattern: NMPattern
    axis: int
    shape: tuple[int, ...]
    values: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)

    def __post_init__(self):
        _check_pattern(self.pattern)
        shape = tuple(self.shape)
        for d in shape:
            _check_int("shape entries", d, 0, None)
        shape = tuple(int(d) for d in shape)
        axis = _norm_axis(self.axis, len(shape))
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "axis", axis)
        want = list(shape)
        want[axis] = self.pattern.effective_length(shape[axis])
        want = tuple(want)
        for what in ("values", "indices"):
            arr = getattr(self, what)
            if not isinstance(arr, np.ndarray):
                raise TypeError(f"{what} must be a numpy array, not {type(arr).__name__}")
            if arr.shape != want:
                raise ShapeError(
                    f"{what} must have shape {want} for dense shape {shape}, not {arr.shape}"
                )
        if self.indices.dtype != np.uint8:
            raise TypeError(f"indices must have dtype uint8, not {self.indices.dtype}")
        m, L = self.pattern.m, shape[axis]
        r = L % m
        if self.indices.size and int(self.indices.max()) >= m:
            raise ConfigError(f"indices must be < m (={m}), found {int(self.indices.max())}")
        P, K, Q = _split(want, axis)
        tail = self.indices.reshape(P, K, Q)[:, K - min(self.pattern.n, r) :, :] if r else None
        if tail is not None and tail.size and int(tail.max()) >= r:
            raise ConfigError(
                f"indices of the short tail group must be < {r} (= {L} % {m}), "
                f"found {int(tail.max())}"
            )

    def decompress(self) -> np.ndarray:
        """The dense tensor (dtype of ``values``)."""
        n, m = self.pattern.n, self.pattern.m
        P, L, Q = _split(self.shape, self.axis)
        G, r = divmod(L, m)
        nt = min(n, r)
        vals = self.values.reshape(P, G * n + nt, Q)
        idx = self.indices.reshape(P, G * n + nt, Q).astype(np.intp)
        out = np.zeros((P, L, Q), dtype=self.values.dtype)
        full = out[:, : G * m, :].reshape(P, G, m, Q)
        np.put_along_axis(
            full, idx[:, : G * n].reshape(P, G, n, Q), vals[:, : G * n].reshape(P, G, n, Q), axis=2
        )
        if r:
            tail = out[:, G * m :, :]
            np.put_along_axis(tail, idx[:, G * n :], vals[:, G * n :], axis=1)
        return out.reshape(self.shape)

    def value_count(self) -> int:
        """Stored value slots (padding included), i.e. ``values.size``."""
        return int(self.values.size)

    def nnz(self) -> int:
        """Nonzero values actually stored."""
        return int(np.count_nonzero(self.values))

    def metadata_bits(self) -> int:
        """Index storage in bits: one ``idx_bits`` index per value slot."""
        return int(self.indices.size) * self.pattern.idx_bits


def _cumsum2(a: np.ndarray, dtype) -> np.ndarray:
    """``np.cumsum(a, axis=2)``; slice-wise because numpy's strided cumsum is ~10x slower here."""
    out = np.empty(a.shape, dtype=dtype)
    if a.shape[2]:
        out[:, :, 0, :] = a[:, :, 0, :]
    for j in range(1, a.shape[2]):
        np.add(out[:, :, j - 1, :], a[:, :, j, :], out=out[:, :, j, :])
    return out


def _slot_positions(keep: np.ndarray, n: int) -> np.ndarray:
    """Ascending positions (axis 2) of the ``n`` True entries of each ``(P, G, m, Q)`` group."""
    csum = _cumsum2(keep, np.uint8)
    pos = np.empty(keep.shape[:2] + (n,) + keep.shape[3:], dtype=np.uint8)
    # The (s+1)-th kept position equals the number of prefix counts <= s.
    for s in range(n):
        np.sum(csum <= s, axis=2, dtype=np.uint8, out=pos[:, :, s, :])
    return pos


def _pack(x4: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    P, G, m, Q = x4.shape
    if Q < _MIN_LANE and P * G > 1:
        v, pos = _pack(_to_lanes(x4), n)
        back = (n, P, G, Q)
        return np.moveaxis(v.reshape(back), 0, 2), np.moveaxis(pos.reshape(back), 0, 2)
    nz = x4 != 0
    free = n - nz.sum(axis=2, keepdims=True, dtype=np.int16)
    zeros = ~nz
    # Pad groups short of n nonzeros with their first zero positions so slots stay distinct.
    keep = nz | (zeros & (_cumsum2(zeros, np.int16) <= free))
    pos = _slot_positions(keep, n)
    return np.take_along_axis(x4, pos.astype(np.intp), axis=2), pos


def compress_nm(x, pattern, axis: int = 0) -> NMCompressed:
    """Compress an N:M sparse tensor into values and indices.

    Parameters
    ----------
    x : array_like
        Tensor that already satisfies ``pattern`` along ``axis`` (see :func:`prune_nm`).
    pattern : NMPattern or str
    axis : int, default 0

    Returns
    -------
    NMCompressed
        With read-only ``values`` and ``indices``.

    Raises
    ------
    PatternError
        If ``x`` violates the pattern (raised by :func:`check_nm`, before packing).
    """
    pattern = _check_pattern(pattern)
    x = _as_numeric(x)
    axis = _norm_axis(axis, x.ndim)
    check_nm(x, pattern, axis, name="x")
    n, m = pattern.n, pattern.m
    P, L, Q = _split(x.shape, axis)
    G, r = divmod(L, m)
    nt = min(n, r)
    x3 = x.reshape(P, L, Q)
    values = np.empty((P, G * n + nt, Q), dtype=x.dtype)
    indices = np.empty((P, G * n + nt, Q), dtype=np.uint8)
    v, i = _pack(x3[:, : G * m, :].reshape(P, G, m, Q), n)
    values[:, : G * n, :] = v.reshape(P, G * n, Q)
    indices[:, : G * n, :] = i.reshape(P, G * n, Q)
    if r:
        v, i = _pack(x3[:, G * m :, :].reshape(P, 1, r, Q), nt)
        values[:, G * n :, :] = v[:, 0]
        indices[:, G * n :, :] = i[:, 0]
    out_shape = list(x.shape)
    out_shape[axis] = G * n + nt
    values = values.reshape(out_shape)
    indices = indices.reshape(out_shape)
    values.flags.writeable = False
    indices.flags.writeable = False
    return NMCompressed(pattern, axis, tuple(x.shape), values, indices)


def nm_metadata_bits(shape, pattern, axis: int = 0) -> int:
    """Index bits of an N:M tensor of ``shape``, as :meth:`NMCompressed.metadata_bits` counts.

    Equals ``prod(other dims) * pattern.effective_length(shape[axis]) * pattern.idx_bits``.
    """
    pattern = _check_pattern(pattern)
    shape = (shape,) if _is_int(shape) else tuple(shape)
    for d in shape:
        _check_int("shape entries", d, 0, None)
    axis = _norm_axis(axis, len(shape))
    P, L, Q = _split(tuple(int(d) for d in shape), axis)
    return P * Q * pattern.effective_length(L) * pattern.idx_bits
