"""Sparse weight formats: N:M (with SAT's bidirectional BDWP masks), block, unstructured and dense."""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError, HwsimError, PatternError, ShapeError

__all__ = [
    "SparsityParseError",
    "NMPattern",
    "NMCompressed",
    "BlockSparsity",
    "Unstructured",
    "Dense",
    "SparsitySpec",
    "nm_mask",
    "prune_nm",
    "check_nm",
    "group_nnz",
    "compress_nm",
    "nm_metadata_bits",
    "bdwp_masks",
    "block_mask",
    "prune_block",
    "unstructured_mask",
    "to_csr",
    "parse_sparsity",
    "apply_sparsity",
    "random_weights",
]

#: Largest group size; indices then take ceil(log2 64) = 6 bits and fit a uint8.
MAX_M = 64
#: Above this group size the pairwise ranking (m^2/2 passes) loses to a stable argsort.
_PAIRWISE_MAX_M = 32
#: Groups whose elements are fewer than this many apart are transposed into long lanes first.
_MIN_LANE = 64

_GRAMMAR = (
    "'dense', 'N:M' (e.g. '2:8'), 'block:BxB:D' (e.g. 'block:4x4:0.5') or "
    "'unstructured:D' (e.g. 'unstructured:0.1'), with 1 <= N <= M <= 64 and 0 < D <= 1"
)


class SparsityParseError(HwsimError, ValueError):
    """A sparsity description string does not follow the expected grammar.

    Parameters
    ----------
    text : str
        The offending text.
    reason : str
        What was wrong with it.
    expected : str
        The grammar that was expected.

    Attributes
    ----------
    text, reason, expected : str
        As given.
    """

    def __init__(self, text: str, reason: str, expected: str):
        self.text = text
        self.reason = reason
        self.expected = expected
        super().__init__(f"invalid sparsity {text!r}: {reason}; expected {expected}")


# --------------------------------------------------------------------------- validation helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_int(
    name: str, value: Any, lo: int, hi: int | None = None, hi_text: str | None = None
) -> int:
    if hi is None:
        want = f"an integer >= {lo}"
    else:
        want = f"an integer in {lo}..{hi if hi_text is None else hi_text}"
    if not _is_int(value):
        raise TypeError(f"{name} must be {want}, not {value!r} ({type(value).__name__})")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        raise ConfigError(f"{name} must be {want}, not {value}")
    return value


def _check_density(value: Any) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"density must be a number in (0, 1], not {value!r} ({type(value).__name__})"
        )
    value = float(value)
    if not 0.0 < value <= 1.0:  # also rejects NaN
        raise ConfigError(f"density must be a number in (0, 1], not {value!r}")
    return value


def _as_numeric(x: Any, what: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{what} must have a numeric dtype, not {arr.dtype}")
    return arr


def _norm_axis(axis: Any, ndim: int, what: str = "axis") -> int:
    if not _is_int(axis):
        raise TypeError(f"{what} must be an integer, not {axis!r} ({type(axis).__name__})")
    if ndim == 0:
        raise ShapeError(f"{what} {axis} needs a tensor of at least 1 dimension, got a scalar")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what} {axis} is out of range for a {ndim}-d tensor")
    return int(axis) % ndim


def _split(shape: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    """(P, L, Q): sizes before, along and after ``axis``."""
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])


def _magnitude(x: np.ndarray) -> np.ndarray:
    """An array ordered like ``|x|`` that never overflows (int8 -128 -> 128); NaN ranks largest."""
    kind = x.dtype.kind
    if kind == "b":
        return x.view(np.uint8)
    if kind == "u":
        return x
    if kind == "i":
        # abs() wraps the most negative value onto itself; read as unsigned it is exact.
        return np.abs(x).view(np.dtype(f"u{x.dtype.itemsize}"))
    mag = np.abs(x)
    nan = np.isnan(mag)
    if nan.any():
        mag = np.where(nan, np.inf, mag)
    return mag


# ----------------------------------------------------------------------------------- N:M pattern


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
    counts = _group_nnz3(x, pattern.m, axis)
    shape = list(x.shape)
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


# ---------------------------------------------------------------------------------- compression


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


# ------------------------------------------------------------------------ block and unstructured


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


SparsitySpec = Dense | NMPattern | BlockSparsity | Unstructured


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


# --------------------------------------------------------------------------- parsing and apply


def parse_sparsity(text: str) -> SparsitySpec:
    """Parse a sparsity description.

    Grammar: ``dense`` | ``N:M`` | ``block:BxB:D`` | ``unstructured:D`` with
    ``1 <= N <= M <= 64`` and ``0 < D <= 1`` (case and surrounding spaces ignored).
    ``str(spec)`` of every returned spec parses back to an equal spec.

    Raises
    ------
    TypeError
        If ``text`` is not a string.
    SparsityParseError
        Naming the text, what was wrong and the expected grammar.
    """
    if not isinstance(text, str):
        raise TypeError(f"a sparsity description must be a string, not {type(text).__name__}")
    s = text.strip().lower()
    try:
        if s == "dense":
            return Dense()
        if re.fullmatch(r"\d+\s*:\s*\d+", s):
            n, m = s.split(":")
            return NMPattern(int(n), int(m))
        parts = [p.strip() for p in s.split(":")]
        if parts[0] == "block":
            if len(parts) != 3:
                raise SparsityParseError(text, "block sparsity needs 'block:BxB:D'", _GRAMMAR)
            dims = re.fullmatch(r"(\d+)\s*x\s*(\d+)", parts[1])
            if not dims:
                raise SparsityParseError(text, f"block size {parts[1]!r} is not BxB", _GRAMMAR)
            if dims[1] != dims[2]:
                raise SparsityParseError(
                    text, f"blocks must be square, got {dims[1]}x{dims[2]}", _GRAMMAR
                )
            return BlockSparsity(int(dims[1]), _parse_density(text, parts[2]))
        if parts[0] == "unstructured":
            if len(parts) != 2:
                raise SparsityParseError(
                    text, "unstructured sparsity needs 'unstructured:D'", _GRAMMAR
                )
            return Unstructured(_parse_density(text, parts[1]))
    except SparsityParseError:
        raise
    except ValueError as exc:  # range errors of the spec classes
        raise SparsityParseError(text, str(exc), _GRAMMAR) from None
    raise SparsityParseError(text, "unknown sparsity kind", _GRAMMAR)


def _parse_density(text: str, part: str) -> float:
    try:
        return float(part)
    except ValueError:
        raise SparsityParseError(text, f"density {part!r} is not a number", _GRAMMAR) from None


def _check_spec(spec: Any) -> SparsitySpec:
    if isinstance(spec, str):
        return parse_sparsity(spec)
    if not isinstance(spec, (Dense, NMPattern, BlockSparsity, Unstructured)):
        raise TypeError(
            "spec must be Dense, NMPattern, BlockSparsity, Unstructured or a string, "
            f"not {type(spec).__name__}"
        )
    return spec


def apply_sparsity(x, spec, *, axis: int = 0) -> np.ndarray:
    """Prune dense ``x`` per ``spec`` (a spec object or a :func:`parse_sparsity` string).

    N:M groups run along ``axis``; block sparsity needs 2-D ``x``; ``Dense`` returns a copy.
    The result has the dtype and shape of ``x``.
    """
    spec = _check_spec(spec)
    x = _as_numeric(x)
    if isinstance(spec, Dense):
        return x.copy()
    if isinstance(spec, NMPattern):
        return prune_nm(x, spec, axis)
    if isinstance(spec, BlockSparsity):
        return prune_block(x, spec.block, spec.density)
    return np.where(unstructured_mask(x, spec.density), x, np.zeros((), dtype=x.dtype))


def random_weights(shape, spec, *, seed, dtype=np.int8, axis: int = 0) -> np.ndarray:
    """Seeded synthetic weights pruned per ``spec``.

    Integers are uniform over the full range of ``dtype`` without 0 (int8: -128..-1, 1..127);
    floats are standard normal with no exact zeros. Because every dense value is nonzero,
    the pruned tensor meets its pattern exactly (``n`` nonzeros in every full N:M group).

    Parameters
    ----------
    shape : int or tuple of int
    spec : SparsitySpec or str
    seed : int, numpy.random.Generator or None
        Passed to ``numpy.random.default_rng``.
    dtype : numpy dtype, default int8
        Integer or floating.
    axis : int, default 0
        N:M grouping axis.

    Raises
    ------
    TypeError
        For a dtype that is neither integer nor floating.
    """
    spec = _check_spec(spec)
    shape = (shape,) if _is_int(shape) else tuple(shape)
    shape = tuple(_check_int("shape entries", d, 0, None) for d in shape)
    dt = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if dt.kind == "u":
            vals = rng.integers(1, int(info.max), size=shape, dtype=dt, endpoint=True)
        else:
            vals = rng.integers(int(info.min), int(info.max), size=shape, dtype=dt)
            vals[vals >= 0] += 1  # [min, max-1] -> [min, -1] U [1, max], still uniform
    elif dt.kind == "f":
        vals = rng.standard_normal(size=shape).astype(dt)
        vals[vals == 0] = 1  # underflow in narrow floats must not break the exact pattern
    else:
        raise TypeError(f"dtype must be an integer or floating dtype, not {dt}")
    return apply_sparsity(vals, spec, axis=axis)
