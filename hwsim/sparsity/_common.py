"""Shared pieces of :mod:`hwsim.sparsity`: the parse error, argument checks and magnitudes."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..errors import ConfigError, HwsimError, ShapeError

__all__ = ["MAX_M", "SparsityParseError"]

#: Largest group size; indices then take ceil(log2 64) = 6 bits and fit a uint8.
MAX_M = 64


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
