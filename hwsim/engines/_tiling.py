"""Private helpers shared by the engine models: spans, tile grids, DRAM reuse, operand bytes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError

__all__ = [
    "nm_pattern_of",
    "spans",
    "grid3",
    "reuse_traffic",
    "half_buffer_budget",
    "shrink_to_budget",
    "check_work",
    "tiles_frame",
    "acc_dtype",
    "nm_matmul",
    "nm_slot_positions",
]


def nm_pattern_of(sparsity: Any):
    """The :class:`~hwsim.sparsity.NMPattern` of ``sparsity`` (or an ``"n:m"`` string), else None."""
    from ..sparsity import NMPattern

    if sparsity is None:
        return None
    if isinstance(sparsity, NMPattern):
        return sparsity
    if isinstance(sparsity, str):
        text = sparsity.strip().lower()
        if text in ("", "dense", "none"):
            return None
        return NMPattern.parse(text)
    if isinstance(sparsity, tuple) and len(sparsity) == 2:
        return NMPattern(int(sparsity[0]), int(sparsity[1]))
    return None


def spans(total: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of ``ceil(total / size)`` consecutive spans of ``size`` (last short)."""
    size = max(1, int(size))
    starts = np.arange(0, max(int(total), 0), size, dtype=np.int64)
    lens = np.minimum(size, int(total) - starts)
    return starts, lens


def grid3(a: int, b: int, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of an ``a × b × c`` loop nest flattened in C order (``c`` innermost)."""
    i, j, k = np.meshgrid(np.arange(a), np.arange(b), np.arange(c), indexing="ij")
    return i.reshape(-1), j.reshape(-1), k.reshape(-1)


def _changed(*keys: np.ndarray) -> np.ndarray:
    """True where the tuple of keys differs from the previous tile (always for the first)."""
    n = keys[0].size
    out = np.zeros(n, dtype=bool)
    if n:
        out[0] = True
        for key in keys:
            out[1:] |= key[1:] != key[:-1]
    return out


def reuse_traffic(
    mi: np.ndarray, ki: np.ndarray, ni: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which operand tiles must be loaded / stored, for tiles in execution order.

    An operand tile is loaded when it differs from the one the previous tile used (the
    double buffer keeps only the current tile); the output tile is stored after the last
    consecutive tile that accumulates into it (the reduction index runs innermost).

    Returns
    -------
    (load_act, load_weight, store_out) : tuple of bool arrays
    """
    load_act = _changed(mi, ki)
    load_w = _changed(ki, ni)
    nxt = _changed(mi[::-1], ni[::-1])[::-1]  # True where the next tile has other outputs
    return load_act, load_w, nxt


def half_buffer_budget(arch: Any) -> int:
    """Bytes one tile may occupy: half of the on-chip buffers (the other half is the shadow)."""
    total = getattr(arch, "onchip_bytes", None)
    if total is None:
        total = sum(int(b.capacity_bytes) for b in arch.buffers.values())
    return max(1, int(total) // 2)


def shrink_to_budget(dims: dict[str, int], align: dict[str, int], cost, budget: int):
    """Halve tile dimensions (kept multiples of ``align``) until ``cost(dims) <= budget``.

    Each step halves the dimension whose halving lowers ``cost`` the most; stops when
    nothing can shrink further (a single aligned block may then exceed the budget).
    """
    dims = dict(dims)
    while cost(dims) > budget:
        best, best_cost = None, None
        for name, value in dims.items():
            a = max(1, align.get(name, 1))
            if value <= a:
                continue
            half = max(a, int(math.ceil(value / 2 / a)) * a)
            if half >= value:
                continue
            trial = dict(dims, **{name: half})
            c = cost(trial)
            if best_cost is None or c < best_cost:
                best, best_cost = (name, half), c
        if best is None:
            break
        dims[best[0]] = best[1]
    return dims


def check_work(work: Any, kinds: tuple[str, ...] | None = None) -> None:
    """Shape checks common to every engine (the driver builds ``work``; users may too)."""
    for name in ("m", "k", "n"):
        v = getattr(work, name)
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ShapeError(f"GEMM {name} must be a positive integer, not {v!r}")
    w = np.asarray(work.weight)
    if w.shape != (work.k, work.n):
        raise ShapeError(f"weight must have shape (K, N) = ({work.k}, {work.n}), not {w.shape}")
    if work.act is not None and np.shape(work.act) != (work.m, work.k):
        raise ShapeError(
            f"act must have shape (M, K) = ({work.m}, {work.k}), not {np.shape(work.act)}"
        )
    if kinds is not None and work.dataflow not in kinds:
        raise ConfigError(f"dataflow must be one of {kinds}, not {work.dataflow!r}")


def tiles_frame(**cols: np.ndarray):
    """Per-tile coordinate table (pandas) for traces; ``None`` when pandas is unavailable."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        return None
    return pd.DataFrame({k: np.asarray(v, dtype=np.int64) for k, v in cols.items()})


def acc_dtype(*arrays: np.ndarray):
    """Exact accumulation type: int64 when every operand is integer, else float64."""
    if all(
        np.issubdtype(np.asarray(a).dtype, np.integer) or np.asarray(a).dtype == bool
        for a in arrays
    ):
        return np.int64
    return np.float64


def nm_matmul(act: np.ndarray, values: np.ndarray, kidx: np.ndarray) -> np.ndarray:
    """``out[i, j] = sum_s act[i, kidx[s, j]] * values[s, j]``: gather by index, then MAC.

    ``values``/``kidx`` are the compressed weight slots (``S × N``) and their absolute
    reduction positions. Columns are processed in chunks so the gathered activations stay
    below ~32 MB.
    """
    dt = acc_dtype(act, values)
    a = np.asarray(act, dtype=dt)
    v = np.asarray(values, dtype=dt)
    m, s = a.shape[0], v.shape[0]
    n = v.shape[1]
    out = np.zeros((m, n), dtype=dt)
    if s == 0 or m == 0:
        return out
    chunk = max(1, (32 << 20) // max(1, 8 * m * s))
    for j0 in range(0, n, chunk):
        j1 = min(n, j0 + chunk)
        gathered = a[:, kidx[:, j0:j1]]  # (M, S, nc)
        out[:, j0:j1] = np.einsum("isj,sj->ij", gathered, v[:, j0:j1])
    return out


def nm_slot_positions(indices: np.ndarray, pattern) -> np.ndarray:
    """Absolute reduction positions of compressed N:M slots (axis 0): ``(s // n) * m + idx``."""
    s = indices.shape[0]
    group = (np.arange(s, dtype=np.int64) // pattern.n) * pattern.m
    return group[:, None] + indices.astype(np.int64)
