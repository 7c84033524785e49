"""Sparsity descriptions: the spec union, the text grammar, pruning by spec and seeded weights."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .._seed import check_seed
from ._common import SparsityParseError, _as_numeric, _check_int, _is_int
from .block import BlockSparsity, Dense, Unstructured, prune_block, unstructured_mask
from .nm import NMPattern, prune_nm

__all__ = ["SparsitySpec", "parse_sparsity", "apply_sparsity", "random_weights"]

_GRAMMAR = (
    "'dense', 'N:M' (e.g. '2:8'), 'block:BxB:D' (e.g. 'block:4x4:0.5') or "
    "'unstructured:D' (e.g. 'unstructured:0.1'), with 1 <= N <= M <= 64 and 0 < D <= 1"
)

SparsitySpec = Dense | NMPattern | BlockSparsity | Unstructured


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
    seed : int or numpy.random.Generator
        Passed to ``numpy.random.default_rng`` (``None`` is refused: results must repeat).
    dtype : numpy dtype, default int8
        Integer or floating.
    axis : int, default 0
        N:M grouping axis.

    Raises
    ------
    TypeError
        For a dtype that is neither integer nor floating, or a seed that is neither a
        non-negative integer nor a generator.
    ValueError
        A negative seed.
    """
    spec = _check_spec(spec)
    shape = (shape,) if _is_int(shape) else tuple(shape)
    shape = tuple(_check_int("shape entries", d, 0, None) for d in shape)
    dt = np.dtype(dtype)
    rng = np.random.default_rng(check_seed(seed, generator=True))
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
