"""N:M sparsity: the pattern, magnitude masks and pruning, per-group checks and SAT's BDWP masks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, PatternError
from ._common import (
    MAX_M,
    SparsityParseError,
    _as_numeric,
    _check_int,
    _magnitude,
    _norm_axis,
    _split,
)

__all__ = ["NMPattern", "nm_mask", "prune_nm", "check_nm", "group_nnz", "bdwp_masks"]

#: Above this group size the pairwise ranking (m^2/2 passes) loses to a stable argsort.
_PAIRWISE_MAX_M = 32
#: Groups whose elements are fewer than this many apart are transposed into long lanes first.
_MIN_LANE = 64


@dataclass(frozen=True)
class NMPattern:
    """At most ``n`` nonzeros in every group of ``m`` consecutive elements along an axis.

    A length that ``m`` does not divide ends with a short group of ``length % m`` elements
    holding at most ``min(n, length % m)`` nonzeros, as SCALE-Sim does.

    Parameters
    ----------
    n : int
        Nonzeros allowed per group, ``1 <= n <= m``.
    m : int
        Group size, ``1 <= m <= 64``.

    Raises
    ------
    TypeError
        If ``n`` or ``m`` is not an integer.
    ConfigError
        (a ``ValueError``) if they are out of range.
    """

    n: int
    m: int

    def __post_init__(self):
        m = _check_int("m", self.m, 1, MAX_M)
        n = _check_int("n", self.n, 1, m, hi_text=f"m (={m})")
        object.__setattr__(self, "m", m)
        object.__setattr__(self, "n", n)

    @classmethod
    def parse(cls, text: str) -> NMPattern:
        """Parse ``"N:M"`` (e.g. ``"2:8"``).

        Raises
        ------
        TypeError
            If ``text`` is not a string.
        SparsityParseError
            If the text is not of the form ``N:M`` or the numbers are out of range.
        """
        if not isinstance(text, str):
            raise TypeError(f"an N:M pattern must be a string, not {type(text).__name__}")
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
        expected = "'N:M' with 1 <= N <= M <= 64, e.g. '2:8'"
        if not match:
            raise SparsityParseError(text, "not of the form N:M", expected)
        try:
            return cls(int(match[1]), int(match[2]))
        except ValueError as exc:
            raise SparsityParseError(text, str(exc), expected) from None

    @property
    def idx_bits(self) -> int:
        """Bits of one in-group index, ``ceil(log2 m)`` (0 when ``m == 1``)."""
        return (self.m - 1).bit_length()

    @property
    def density(self) -> float:
        """Nonzero fraction of a full group, ``n / m``."""
        return self.n / self.m

    def __str__(self) -> str:
        return f"{self.n}:{self.m}"

    def num_groups(self, length: int) -> int:
        """Groups along an axis of ``length`` elements, ``ceil(length / m)``."""
        length = _check_int("length", length, 0, None)
        return -(-length // self.m)

    def effective_length(self, k: int) -> int:
        """Stored slots along a reduction of length ``k``: ``n*(k//m) + min(n, k%m)``.

        This is SCALE-Sim's ``K_eff`` and the compressed length produced by
        :func:`compress_nm`.
        """
        k = _check_int("k", k, 0, None)
        return self.n * (k // self.m) + min(self.n, k % self.m)


def _check_pattern(pattern: Any) -> NMPattern:
    if isinstance(pattern, str):
        return NMPattern.parse(pattern)
    if not isinstance(pattern, NMPattern):
        raise TypeError(
            f"pattern must be an NMPattern or 'N:M' string, not {type(pattern).__name__}"
        )
    return pattern


def _to_lanes(a: np.ndarray) -> np.ndarray:
    """``(P, G, m, Q)`` -> contiguous ``(1, 1, m, P*G*Q)``: one long lane per in-group slot."""
    P, G, m, Q = a.shape
    return np.ascontiguousarray(np.moveaxis(a, 2, 0)).reshape(1, 1, m, P * G * Q)


def _topn(mag: np.ndarray, n: int) -> np.ndarray:
    """Mask of the ``n`` largest of ``mag`` (shape ``(P, G, m, Q)``) along axis 2; ties -> lower."""
    P, G, m, Q = mag.shape
    if n >= m:
        return np.ones(mag.shape, dtype=bool)
    if m > _PAIRWISE_MAX_M:
        key = -mag if mag.dtype.kind == "f" else np.invert(mag)
        key = np.ascontiguousarray(np.moveaxis(key, 2, 3))  # sort along contiguous memory
        order = np.argsort(key, axis=3, kind="stable")[..., :n]
        mask = np.zeros(key.shape, dtype=bool)
        np.put_along_axis(mask, order, True, axis=3)
        return np.moveaxis(mask, 3, 2)
    if Q < _MIN_LANE and P * G > 1:
        return np.moveaxis(_topn(_to_lanes(mag), n).reshape(m, P, G, Q), 0, 2)
    # rank[j] = number of elements that go before j: larger, or equal at a lower index.
    # Slot-pair passes over long contiguous lanes beat sorting millions of tiny groups.
    rank = np.zeros(mag.shape, dtype=np.uint8)
    cols = [mag[:, :, j, :] for j in range(m)]
    ranks = [rank[:, :, j, :] for j in range(m)]
    for j in range(1, m):
        for k in range(j):
            ahead = cols[k] >= cols[j]
            ranks[j] += ahead
            np.logical_not(ahead, out=ahead)
            ranks[k] += ahead
    return rank < n


def nm_mask(x, pattern, axis: int = 0) -> np.ndarray:
    """Magnitude N:M mask: the ``n`` largest ``|x|`` of every group along ``axis``.

    Parameters
    ----------
    x : array_like
        Dense numeric tensor.
    pattern : NMPattern or str
        The pattern, e.g. ``NMPattern(2, 8)`` or ``"2:8"``.
    axis : int, default 0
        Axis along which groups of ``m`` consecutive elements are formed.

    Returns
    -------
    numpy.ndarray of bool
        Same shape as ``x``; exactly ``n`` True per full group and ``min(n, len % m)``
        in the short tail group. Ties keep the lower index; NaN counts as the largest.

    Raises
    ------
    TypeError
        Non-numeric ``x``, bad ``pattern`` or non-integer ``axis``.
    ShapeError
        ``axis`` out of range.
    """
    pattern = _check_pattern(pattern)
    x = _as_numeric(x)
    axis = _norm_axis(axis, x.ndim)
    P, L, Q = _split(x.shape, axis)
    n, m = pattern.n, pattern.m
    G, r = divmod(L, m)
    mag = _magnitude(x).reshape(P, L, Q)
    mask = np.empty((P, L, Q), dtype=bool)
    mask[:, : G * m, :] = _topn(mag[:, : G * m, :].reshape(P, G, m, Q), n).reshape(P, G * m, Q)
    if r:
        mask[:, G * m :, :] = _topn(mag[:, G * m :, :].reshape(P, 1, r, Q), min(n, r))[:, 0]
    return mask.reshape(x.shape)


def prune_nm(x, pattern, axis: int = 0) -> np.ndarray:
    """``x`` with everything outside :func:`nm_mask` set to zero (same dtype and shape)."""
    x = _as_numeric(x)
    mask = nm_mask(x, pattern, axis)
    return np.where(mask, x, np.zeros((), dtype=x.dtype))


def _group_nnz3(x: np.ndarray, m: int, axis: int) -> np.ndarray:
    P, L, Q = _split(x.shape, axis)
    G, r = divmod(L, m)
    nz = (x != 0).reshape(P, L, Q)
    counts = np.empty((P, G + (1 if r else 0), Q), dtype=np.int64)
    counts[:, :G, :] = np.count_nonzero(nz[:, : G * m, :].reshape(P, G, m, Q), axis=2)
    if r:
        counts[:, G, :] = np.count_nonzero(nz[:, G * m :, :], axis=1)
    return counts


def group_nnz(x, pattern, axis: int = 0) -> np.ndarray:
    """Nonzeros in each N:M group.

    Returns
    -------
    numpy.ndarray of int64
        Shape of ``x`` with ``axis`` replaced by the number of groups ``ceil(len / m)``;
        the last entry along ``axis`` is the short tail group when ``m`` does not divide
        the length.
    """
    pattern = _check_pattern(pattern)
    x = _as_numeric(x)
    axis = _norm_axis(axis, x.ndim)
    shape = list(x.shape)
    # A broadcast view (stride 0 along another axis: every slice identical, as the mapper's
    # pattern weights) is counted on one slice and broadcast back: same counts, no scan.
    rep = [i for i in range(x.ndim) if i != axis and x.shape[i] > 1 and x.strides[i] == 0]
    if rep:
        one = x[tuple(slice(0, 1) if i in rep else slice(None) for i in range(x.ndim))]
        counts = group_nnz(one, pattern, axis)
        shape[axis] = counts.shape[axis]
        return np.broadcast_to(counts, shape)
    counts = _group_nnz3(x, pattern.m, axis)
    shape[axis] = counts.shape[1]
    return counts.reshape(shape)


def check_nm(x, pattern, axis: int = 0, *, name: str = "tensor") -> None:
    """Check that ``x`` is N:M sparse along ``axis``.

    Raises
    ------
    PatternError
        Naming the first violating group in C order: its index over the other axes, its
        element range along ``axis``, its nonzero count and the allowed count. The error
        carries ``group`` (index into :func:`group_nnz`), ``start``, ``stop``, ``count``,
        ``allowed`` and ``violations`` attributes.
    """
    pattern = _check_pattern(pattern)
    x = _as_numeric(x)
    axis = _norm_axis(axis, x.ndim)
    counts = group_nnz(x, pattern, axis)
    bad = counts > pattern.n  # a tail of r < n elements cannot exceed min(n, r) = r
    if not bad.any():
        return
    group = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), counts.shape))
    g = group[axis]
    start = g * pattern.m
    stop = min(start + pattern.m, x.shape[axis])
    count = int(counts[group])
    allowed = min(pattern.n, stop - start)
    where = ", ".join(f"{start}:{stop}" if i == axis else str(v) for i, v in enumerate(group))
    err = PatternError(
        f"{name} is not {pattern} sparse along axis {axis}: group {g} at {name}[{where}] "
        f"has {count} nonzeros, at most {allowed} allowed "
        f"({int(bad.sum())} of {bad.size} groups violate the pattern)"
    )
    err.group, err.start, err.stop = group, start, stop
    err.count, err.allowed, err.violations = count, allowed, int(bad.sum())
    raise err


def bdwp_masks(w, pattern, *, forward_axis: int = 0, backward_axis: int = 1):
    """SAT's bidirectional weight pruning (BDWP): one N:M mask per training pass.

    In SAT's notation a layer computes ``Y = X · W`` with ``W`` of shape ``K × N``. The
    forward pass reduces over ``K`` (axis 0), so its sparse operand needs N:M groups along
    axis 0; the backward data pass ``dX = dY · Wᵀ`` reduces over ``N`` (axis 1), so it needs
    N:M groups along axis 1. Both masks are the magnitude top-``n`` of the *dense* ``w``
    (the weight update ``dW = Xᵀ · dY`` stays dense and keeps updating all of ``w``); they
    generally differ, and each pass uses ``w * mask`` for its own direction.

    Parameters
    ----------
    w : array_like
        Dense weight, at least 2-D.
    pattern : NMPattern or str
    forward_axis, backward_axis : int
        The two reduction axes (default 0 = ``K`` and 1 = ``N``); must differ.

    Returns
    -------
    (mask_fwd, mask_bwd) : tuple of numpy.ndarray of bool
        ``mask_fwd`` is N:M along ``forward_axis``, ``mask_bwd`` along ``backward_axis``.

    Raises
    ------
    ConfigError
        If both axes name the same dimension.
    """
    w = _as_numeric(w, "w")
    fa = _norm_axis(forward_axis, w.ndim, "forward_axis")
    ba = _norm_axis(backward_axis, w.ndim, "backward_axis")
    if fa == ba:
        raise ConfigError(
            f"forward_axis ({forward_axis}) and backward_axis ({backward_axis}) must be "
            f"different axes of the {w.ndim}-d weight"
        )
    return nm_mask(w, pattern, fa), nm_mask(w, pattern, ba)
