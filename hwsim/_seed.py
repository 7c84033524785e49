"""Seed validation shared by everything that draws random numbers (same seed, same numbers)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["check_seed"]


def check_seed(seed: Any, *, name: str = "seed", generator: bool = False):
    """A validated seed for :func:`numpy.random.default_rng`.

    ``None`` is refused on purpose: NumPy would then seed from the operating system and the
    same inputs would no longer give the same numbers.

    Parameters
    ----------
    seed : int or numpy.random.Generator
        A non-negative integer (or, with ``generator=True``, an existing generator).
    name : str
        Name used in error messages.
    generator : bool
        Accept a :class:`numpy.random.Generator` (returned unchanged).

    Returns
    -------
    int or numpy.random.Generator

    Raises
    ------
    TypeError
        ``seed`` is not an integer (or generator).
    ValueError
        ``seed`` is negative.
    """
    if generator and isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        want = "a non-negative integer" + (" or a numpy.random.Generator" if generator else "")
        raise TypeError(f"{name} must be {want}, not {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, not {seed}")
    return int(seed)
