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
    "exact_matmul",
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
    """Per-tile coordinate table for ``TilePlan.tiles``: a pandas DataFrame built on first read
    (a network run that reads no tile table never imports pandas)."""
    from .._lazy import frame_of_columns

    return frame_of_columns({k: np.asarray(v, dtype=np.int64) for k, v in cols.items()})


#: Largest integer float64 (resp. float32) represents exactly: sums below it are exact.
_F64_EXACT = 2**53
_F32_EXACT = 2**24


def _is_int(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.integer) or a.dtype == bool


def _max_abs(a: np.ndarray) -> int:
    if a.size == 0:
        return 0
    return max(abs(int(a.max())), abs(int(a.min())))


def acc_dtype(*arrays: np.ndarray, k: int | None = None):
    """Exact and fast accumulation type for ``arrays[0] @ arrays[1]`` (or an N:M gather).

    float64 (BLAS) when every operand is floating, or integer with
    ``K * max|a| * max|b| < 2**53`` so every partial sum is an exactly represented integer;
    int64 otherwise (exact, no BLAS). ``k`` defaults to the last axis of the first array
    (an upper bound of the reduction length of an N:M gather too).
    """
    arrs = [np.asarray(a) for a in arrays]
    if not all(_is_int(a) for a in arrs):
        return np.float64
    if k is None:
        k = arrs[0].shape[-1] if arrs and arrs[0].ndim else 1
    bound = max(1, int(k))
    for a in arrs:
        bound *= max(1, _max_abs(a))
    return np.float64 if bound < _F64_EXACT else np.int64


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` through BLAS, exact for integer operands (float64 result, int64 on overflow).

    Integer products are summed in float32 BLAS over reduction chunks short enough that every
    partial sum stays below ``2**24`` (exact), and the chunks are added in float64; when the
    chunks would be too short the whole product runs in float64 BLAS (exact below ``2**53``),
    and beyond that in int64. Floating operands use float64 BLAS.
    """
    a, b = np.asarray(a), np.asarray(b)
    k = a.shape[-1]
    dt = acc_dtype(a, b, k=k)
    if dt is np.int64:
        return a.astype(np.int64) @ b.astype(np.int64)
    if a.ndim == 2 and a.shape[0] <= 16:  # few rows: einsum's loops beat a skinny BLAS call
        return np.einsum("ik,kj->ij", a.astype(np.float64), b.astype(np.float64))
    if _is_int(a) and _is_int(b) and k:
        per = max(1, _max_abs(a) * _max_abs(b))
        chunk = _F32_EXACT // per
        if chunk >= 256 and k > 0:
            a32 = a.astype(np.float32)
            b32 = b.astype(np.float32)
            out = np.zeros((a.shape[0], b.shape[1]), dtype=np.float64)
            for s in range(0, k, chunk):
                out += a32[:, s : s + chunk] @ b32[s : s + chunk]
            return out
    return a.astype(np.float64) @ b.astype(np.float64)


def nm_matmul(act: np.ndarray, values: np.ndarray, kidx: np.ndarray) -> np.ndarray:
    """``out[i, j] = sum_s act[i, kidx[s, j]] * values[s, j]``: the product of compressed slots.

    ``values``/``kidx`` are the compressed weight slots (``S × N``) and their absolute
    reduction positions. Few activation rows (decode GEMV) gather the activations by index
    and multiply-accumulate per slot; more rows scatter the slots into a dense block of
    columns and use :func:`exact_matmul` (BLAS). Either way the result follows from the
    values and indices only: a wrong index or value changes it.
    """
    act = np.asarray(act)
    values = np.asarray(values)
    kidx = np.asarray(kidx, dtype=np.int64)
    m, k = act.shape
    s, n = values.shape
    if s == 0 or m == 0:
        return np.zeros((m, n), dtype=np.float64)
    if kidx.size and int(kidx.max()) >= k:
        # spare slots of a short last group sit in its padding, where the array is fed zeros
        act = np.concatenate([act, np.zeros((m, int(kidx.max()) + 1 - k), act.dtype)], axis=1)
        m, k = act.shape
    dt = acc_dtype(act, values, k=s)
    if m <= 8:
        a = np.asarray(act, dtype=dt)
        v = np.asarray(values, dtype=dt)
        out = np.zeros((m, n), dtype=dt)
        chunk = max(1, (32 << 20) // max(1, 8 * m * s))
        for j0 in range(0, n, chunk):
            j1 = min(n, j0 + chunk)
            gathered = a[:, kidx[:, j0:j1]]  # (M, S, nc)
            out[:, j0:j1] = np.einsum("isj,sj->ij", gathered, v[:, j0:j1])
        return out
    out = np.empty((m, n), dtype=np.float64 if dt is np.float64 else np.int64)
    chunk = max(1, (64 << 20) // max(1, k * values.itemsize))  # dense block <= 64 MB
    for j0 in range(0, n, chunk):
        j1 = min(n, j0 + chunk)
        # compress_nm pads short groups with distinct zero positions, so every slot of a
        # column has its own position; a duplicated index is a compression bug the check sees.
        dense = np.zeros((k, j1 - j0), dtype=values.dtype)
        dense[kidx[:, j0:j1], np.arange(j1 - j0)[None, :]] = values[:, j0:j1]
        out[:, j0:j1] = exact_matmul(act, dense)
    return out


def nm_slot_positions(indices: np.ndarray, pattern) -> np.ndarray:
    """Absolute reduction positions of compressed N:M slots (axis 0): ``(s // n) * m + idx``."""
    s = indices.shape[0]
    group = (np.arange(s, dtype=np.int64) // pattern.n) * pattern.m
    return group[:, None] + indices.astype(np.int64)


# -- tile sizing: every double-buffered operand tile fits its buffer ------------------------------

#: Operand roles of a GEMM tile and the buffer each role lives in when the architecture names
#: its buffers ``act``, ``weight`` and ``out`` (otherwise all roles share one pool).
ROLES = ("act", "weight", "out")
#: Tiles the streamed dimension of a GEMM is cut into at least (when its size allows), so that
#: the load of tile ``i + 1`` and the store of tile ``i - 1`` overlap the compute of tile ``i``.
#: More tiles hide more of the first load and last store but pay more per-tile fill: SAT's
#: 1024^3 2:8-vs-dense end-to-end ratio is 3.87x / 3.93x / 3.95x / 3.96x / 3.95x with 1 / 2 /
#: 4 / 8 / 16 (compute-only 3.998x ... 3.965x).
PIPELINE_TILES = 4
#: Buffer slots per operand (double buffering).
SLOTS = 2


def _cdiv(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def _round_up(a: int, b: int) -> int:
    return _cdiv(a, b) * int(b)


def operand_buffers(arch: Any) -> dict[str, tuple[str, int]]:
    """``role -> (buffer name, capacity bytes)`` of an architecture's on-chip buffers.

    The roles ``act``, ``weight`` and ``out`` map to the buffers of those names when the
    architecture has all three; otherwise every role shares one pool named after all buffers
    (``"+".join(names)``) with their total capacity.
    """
    bufs = arch.buffers
    if all(r in bufs for r in ROLES):
        return {r: (r, int(bufs[r].capacity_bytes)) for r in ROLES}
    name = "+".join(bufs) or "onchip"
    cap = sum(int(b.capacity_bytes) for b in bufs.values())
    return {r: (name, cap) for r in ROLES}


def _per_buffer(roles: dict[str, tuple[str, int]], need: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for role, nbytes in need.items():
        out[roles[role][0]] = out.get(roles[role][0], 0.0) + float(nbytes)
    return out


def fit_tile(
    dims: dict[str, int],
    align: dict[str, int],
    need,
    arch: Any,
    *,
    stream: str | None = None,
    min_tiles: int = PIPELINE_TILES,
    slots: int = SLOTS,
    what: str = "GEMM",
) -> dict[str, int]:
    """Tile dimensions by the tiling policy: pipelined, and every operand's slots fit its buffer.

    Policy (the same for every GEMM engine):

    1. **Pipelining.** The streamed dimension ``stream`` is cut into at least ``min_tiles``
       tiles (rounded up to its alignment), so the first load and the last store -- the parts
       double buffering cannot hide -- are at most ``1 / min_tiles`` of the operand traffic.
    2. **Fit.** While ``slots`` copies of some role's tile exceed its buffer (roles sharing a
       buffer add up), halve the dimension whose halving lowers the worst ``slots * need /
       capacity`` the most (ties: the first dimension of ``dims``), keeping multiples of
       ``align``. Dimensions are listed by preference: the streamed one first, the reduction
       (whose cut adds partial sums) last.

    Parameters
    ----------
    dims : dict
        Full extents, e.g. ``{"m": M, "n": N, "k": K}``; the order is the shrink preference.
    align : dict
        Alignment of each dimension (missing: 1).
    need : callable
        ``need(d) -> {role: bytes}``: bytes of one slot of each role (an upper bound over the
        tiles of that size).
    arch : Architecture
        Supplies the buffers (:func:`operand_buffers`).
    stream, min_tiles, slots, what
        See above; ``what`` names the work in the error.

    Returns
    -------
    dict
        The tile extents.

    Raises
    ------
    ShapeError
        A tile of the smallest aligned size still does not fit: names the buffer, its capacity
        and the bytes the slots need.
    """
    roles = operand_buffers(arch)
    caps = {name: cap for name, cap in roles.values()}

    def worst(d):
        per = _per_buffer(roles, need(d))
        return max(slots * v / max(1, caps[b]) for b, v in per.items())

    d = {k: max(1, int(v)) for k, v in dims.items()}
    if stream is not None and min_tiles > 1 and d[stream] > 1:
        a = max(1, align.get(stream, 1))
        cut = _round_up(_cdiv(d[stream], min_tiles), a)
        d[stream] = min(d[stream], max(a, cut))
    while worst(d) > 1.0:
        best, best_v = None, None
        for name, value in d.items():
            a = max(1, align.get(name, 1))
            half = max(a, _round_up(_cdiv(value, 2), a))
            if half >= value:
                continue
            v = worst(dict(d, **{name: half}))
            if best_v is None or v < best_v - 1e-12:
                best, best_v = (name, half), v
        if best is None:
            per = _per_buffer(roles, need(d))
            b = max(per, key=lambda x: per[x] / max(1, caps[x]))
            shape = ", ".join(f"{k}={v}" for k, v in d.items())
            raise ShapeError(
                f"{what}: the smallest tile ({shape}) does not fit on-chip buffer {b!r}: "
                f"{slots} slots need {slots} x {math.ceil(per[b])} B = "
                f"{slots * math.ceil(per[b])} B, capacity is {caps[b]} B"
            )
        d[best[0]] = best[1]
    return d


def operand_footprints(arch: Any, **roles: tuple[np.ndarray, np.ndarray]) -> dict[str, tuple]:
    """``TilePlan.operands``: ``role -> (buffer, bytes per tile, tile brings new data)``."""
    where = operand_buffers(arch)
    return {
        r: (where[r][0], np.asarray(b, dtype=np.int64), np.asarray(new, dtype=bool))
        for r, (b, new) in roles.items()
    }


def first_of_block(*keys: np.ndarray) -> np.ndarray:
    """True where a tile starts a new block of ``keys`` (its operand is new in the buffer)."""
    return _changed(*keys)
