"""The functional check runs what the timing counts (DESIGN.md, contract 9).

A GEMM engine's plan charges cycles to tiles; its ``execute_tile`` runs one tile of that plan
from the tile's compressed operands, counting as it goes (multiplier-slot issues, lock-step
steps, folds, group passes...), and recomputes the tile's compute cycles from what it executed.
:func:`check_tiles` then

1. checks that the plan's tile grid covers the GEMM exactly once (every tile, always: a
   dropped, duplicated or mis-cut tile fails here whatever is sampled);
2. picks output blocks (all of them for ``full``; for ``sampled`` the blocks of the first and
   last tiles, of the tail tiles along M and N and a seeded sample of others) and executes
   every tile of each, accumulating the tile outputs along the reduction;
3. fails with :class:`~hwsim.errors.CheckFailedError` when a counted figure differs from the
   plan's (``compute_cycles``, ``performed_macs`` and the engine's tile columns) or a block's
   output differs from the dense NumPy product of the same activation rows.

Only the activation rows of the checked blocks are drawn (:func:`hwsim.gemm.activation_rows`),
so the check of a GEMM with a huge M costs what its sampled tiles cost.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .errors import CheckFailedError, ConfigError

__all__ = ["CHECK_MODES", "SAMPLE_BLOCKS", "check_mode", "tile_geometry", "pick_blocks",
           "check_tiles", "reference_product", "activation_rows", "ACT_BLOCK_ROWS"]

#: Check modes (``True`` means ``"sampled"``).
CHECK_MODES = ("sampled", "full")
#: Output blocks a sampled check draws at random, besides the first, last and edge ones.
SAMPLE_BLOCKS = 2
#: Activation rows of each checked block a sampled check multiplies (its first and last row
#: and seeded others). Counted figures do not depend on the activation values: they are
#: counted for the whole tile; the output rows are independent, so a row sample checks the
#: compressed operands of every column of the tile.
SAMPLE_ROWS = 8
#: Output columns of each checked block a sampled check multiplies (first, last, seeded).
SAMPLE_COLS = 32


def check_mode(check: Any) -> str | None:
    """``"sampled"``, ``"full"`` or ``None`` from a ``check`` argument (bool or mode name).

    Raises
    ------
    ConfigError
        Anything else.
    """
    if check is True:
        return "sampled"
    if check is False or check is None:
        return None
    if isinstance(check, str) and check in CHECK_MODES:
        return check
    raise ConfigError(f"check must be True, False, 'sampled' or 'full', got {check!r}")


def _axis(lo: np.ndarray, hi: np.ndarray, extent: int, name: str) -> np.ndarray:
    """Index of each tile's interval along one axis; the intervals must partition the axis."""
    if lo.size and (lo.min() < 0 or hi.max() > extent or (hi <= lo).any()):
        bad = int(np.flatnonzero((lo < 0) | (hi > extent) | (hi <= lo))[0])
        raise CheckFailedError(
            f"tile {bad} spans {name} [{lo[bad]}, {hi[bad]}), outside [0, {extent})"
        )
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0)
    ok = pairs.size and pairs[0, 0] == 0 and pairs[-1, 1] == extent
    ok = ok and bool((pairs[1:, 0] == pairs[:-1, 1]).all())
    if not ok:
        raise CheckFailedError(
            f"the tiles' {name} intervals do not partition [0, {extent}): "
            f"{[tuple(int(x) for x in p) for p in pairs[:8]]}{' ...' if len(pairs) > 8 else ''}"
        )
    return np.searchsorted(pairs[:, 0], lo)


def tile_geometry(plan: Any, work: Any) -> dict[str, np.ndarray]:
    """The plan's tile boxes, checked to cover ``M × K × N`` exactly once.

    The plan's ``tiles`` table must have ``m0, m1, k0, k1, n0, n1`` per tile (``k`` in the
    engine's reduction coordinates: ``plan.notes["k_extent"]`` long, default ``K``).

    Returns
    -------
    dict
        The six columns and ``block`` (output block id of each tile).

    Raises
    ------
    CheckFailedError
        A missing column, a box outside the GEMM, intervals that overlap or leave a gap, or a
        tile missing from (or repeated in) the grid.
    """
    cols = ("m0", "m1", "k0", "k1", "n0", "n1")
    t = plan.tiles
    if t is None or any(c not in t.columns for c in cols) or len(t) != plan.num_tiles:
        raise CheckFailedError(
            f"plan of engine {plan.engine!r} records no tile boxes ({', '.join(cols)}) for "
            f"its {plan.num_tiles} tiles: the check cannot walk it"
        )
    g = {c: np.asarray(t[c], dtype=np.int64) for c in cols}
    kext = int(plan.notes.get("k_extent", work.k))
    mi = _axis(g["m0"], g["m1"], work.m, "m")
    ki = _axis(g["k0"], g["k1"], kext, "k")
    ni = _axis(g["n0"], g["n1"], work.n, "n")
    dims = (mi.max(initial=-1) + 1, ki.max(initial=-1) + 1, ni.max(initial=-1) + 1)
    key = (mi * dims[1] + ki) * dims[2] + ni
    uniq, counts = np.unique(key, return_counts=True)
    if uniq.size != int(np.prod(dims)) or (counts > 1).any():
        dup = np.flatnonzero(counts > 1)
        what = (f"tile box {int(uniq[dup[0]])} appears {int(counts[dup[0]])} times" if dup.size
                else f"{int(np.prod(dims)) - uniq.size} of {int(np.prod(dims))} boxes missing")
        raise CheckFailedError(f"the plan's tiles do not cover the GEMM exactly once: {what}")
    g["block"] = mi * dims[2] + ni
    return g


def pick_blocks(geo: dict[str, np.ndarray], seed: int, full: bool) -> np.ndarray:
    """Output blocks to check: all, or first, last, tail-M, tail-N and seeded random ones."""
    blocks = np.unique(geo["block"])
    if full or blocks.size <= 4 + SAMPLE_BLOCKS:
        return blocks
    b = geo["block"]
    must = {int(b[0]), int(b[-1]), int(b[np.argmax(geo["m1"])]), int(b[np.argmax(geo["n1"])])}
    corner = (geo["m1"] == geo["m1"].max()) & (geo["n1"] == geo["n1"].max())
    must.add(int(b[np.flatnonzero(corner)[0]]))
    rest = np.setdiff1d(blocks, np.fromiter(must, dtype=np.int64))
    rng = np.random.default_rng([seed, 9])
    extra = rng.choice(rest, size=min(SAMPLE_BLOCKS, rest.size), replace=False)
    return np.union1d(np.fromiter(must, dtype=np.int64), extra)


def _plan_figure(plan: Any, name: str, i: int):
    arr = getattr(plan, name, None)
    if isinstance(arr, np.ndarray) and arr.shape == (plan.num_tiles,):
        return int(arr[i])
    if plan.tiles is not None and name in plan.tiles.columns:
        return int(plan.tiles[name].iloc[i])
    return None


def _compare_counts(plan: Any, i: int, counts: dict[str, int], label: str) -> None:
    for name, got in counts.items():
        want = _plan_figure(plan, name, i)
        if want is None:
            raise CheckFailedError(f"{label}: the plan records no per-tile {name!r} to check")
        if int(got) != want:
            raise CheckFailedError(
                f"{label} tile {i}: executed {name} = {int(got)}, the plan charged {want}"
            )


#: Activation rows drawn per seeded block: any row range is generated from its blocks alone,
#: so a check materialises only the rows of the tiles it runs.
ACT_BLOCK_ROWS = 64


def activation_rows(seed: int, precision: str, k: int, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of the seeded ``M x k`` activation of a GEMM (deterministic per row).

    Row block ``b`` (rows ``b*ACT_BLOCK_ROWS ...``) is drawn from its own generator
    ``default_rng([seed, 1, b])``: int8 values for integer precisions (int8 activations keep
    int16 products exact too), standard normals otherwise. Only the blocks that ``r0:r1``
    touches are drawn.
    """
    from .gemm import _INT_PRECISIONS, _WEIGHT_DTYPE

    blk = ACT_BLOCK_ROWS
    parts = []
    for b in range(r0 // blk, -(-r1 // blk)):
        rng = np.random.default_rng([seed, 1, b])
        if precision in _INT_PRECISIONS:
            info = np.iinfo(np.int8)
            a = rng.integers(info.min, info.max, size=(blk, k), dtype=np.int8, endpoint=True)
            if precision == "int16":
                a = a.astype(np.int16)
        else:
            a = rng.standard_normal(size=(blk, k)).astype(_WEIGHT_DTYPE[precision])
        lo, hi = max(r0, b * blk) - b * blk, min(r1, (b + 1) * blk) - b * blk
        parts.append(a[lo:hi])
    if not parts:
        return np.zeros((0, k), dtype=_WEIGHT_DTYPE[precision])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


#: Row counts up to which products run in einsum's loops (threaded BLAS is slow on skinny
#: products, worst on a loaded machine).
_FEW_ROWS = 16


def reference_product(act: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The dense NumPy product the functional check compares against.

    float64 BLAS: integer results are exact while ``K * max|act| * max|weight| < 2**53``
    (int8 and int16 operands at any practical K); beyond that the product runs in int64.
    """
    act, weight = np.asarray(act), np.asarray(weight)
    ints = all(np.issubdtype(x.dtype, np.integer) for x in (act, weight))
    if ints and act.size and weight.size:
        big = act.shape[1]
        for x in (act, weight):
            big *= max(1, abs(int(x.max())), abs(int(x.min())))
        if big >= 2**53:
            return act.astype(np.int64) @ weight.astype(np.int64)
    if act.shape[0] <= _FEW_ROWS:  # a few sampled rows: einsum's loops, not a skinny BLAS call
        return np.einsum("ik,kj->ij", act.astype(np.float64), weight.astype(np.float64))
    a = act.astype(np.float64)
    k, n = weight.shape
    rows = max(1, (16 << 20) // max(1, 8 * n))  # convert the weight in ~16 MB slices
    if rows >= k:
        return a @ weight.astype(np.float64)
    out = np.zeros((act.shape[0], n), dtype=np.float64)
    for k0 in range(0, k, rows):
        out += a[:, k0 : k0 + rows] @ weight[k0 : k0 + rows].astype(np.float64)
    return out


def _check(model, work, arch, name: str) -> None:
    out = np.asarray(model.compute(work, arch, name))
    _compare(out, reference_product(work.act, work.weight), work, model, name)


def _compare(out, ref, work, model, name: str, where: str = "", at=(0, 0),
             rows=None, cols=None) -> None:
    if out.shape != ref.shape:
        raise CheckFailedError(
            f"engine {name!r} ({model.kind}) returned shape {out.shape}{where}, "
            f"expected {ref.shape}"
        )
    got = out.astype(np.float64)
    if work.precision in ("int8", "int16"):
        ok = got == ref
    else:
        scale = float(np.abs(ref).max()) if ref.size else 1.0
        ok = np.isclose(got, ref, rtol=1e-2, atol=1e-2 * max(scale, 1.0))
    if not ok.all():
        i, j = (int(x) for x in np.argwhere(~ok)[0])
        row = i if rows is None else int(rows[i])
        col = j if cols is None else int(cols[j])
        raise CheckFailedError(
            f"engine {name!r} ({model.kind}) output differs from the dense NumPy reference at "
            f"[{row + at[0]}, {col + at[1]}]{where}: got {got[i, j]!r}, expected {ref[i, j]!r} "
            f"({int((~ok).sum())} of {ok.size} elements differ)"
        )


def check_tiles(job: Any, plan: Any, *, full: bool = False, progress: bool | None = None) -> str:
    """Walk the checked tiles of ``plan`` (module docstring); return the check scope.

    Returns
    -------
    str
        ``"full"`` or ``"sampled N of M tiles"``.

    Raises
    ------
    CheckFailedError
        See the module docstring.
    """
    work, model = job.work, job.model
    label = f"engine {job.engine!r} ({model.kind})"
    geo = tile_geometry(plan, work)
    chosen = pick_blocks(geo, work.seed, full)
    weight = np.asarray(work.weight)
    bar = None
    if full:
        from tqdm import tqdm

        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(total=plan.num_tiles, desc="hwsim check", unit="tile", disable=not show,
                   file=sys.stderr, leave=False)
    checked = 0
    try:
        for blk in chosen.tolist():
            tiles = np.flatnonzero(geo["block"] == blk)
            i0 = int(tiles[0])
            m0, m1, n0, n1 = (int(geo[c][i0]) for c in ("m0", "m1", "n0", "n1"))
            rows = np.arange(m0, m1) if full else _sample(m0, m1, SAMPLE_ROWS, [work.seed, 10, blk])
            cols = None if full else _sample(0, n1 - n0, SAMPLE_COLS, [work.seed, 11, blk])
            act = _act_rows(work, rows)
            out = None
            for i in tiles.tolist():
                o, counts = model.execute_tile(work, job.arch, job.engine, plan, i, act, cols)
                _compare_counts(plan, i, counts, label)
                out = np.asarray(o, dtype=np.float64) if out is None else out + o
                checked += 1
                if bar is not None:
                    bar.update(1)
            wcols = weight[:, n0:n1] if cols is None else weight[:, n0 + cols]
            ref = reference_product(act, wcols)
            _compare(out, ref, work, model, job.engine, f" (output block of tile {i0})",
                     at=(m0, n0), rows=None if full else rows - m0, cols=cols)
    finally:
        if bar is not None:
            bar.close()
    if full:
        return "full"
    return (f"sampled {checked} of {plan.num_tiles} tiles (outputs: {SAMPLE_ROWS} rows x "
            f"{SAMPLE_COLS} columns of each checked block)")


def _sample(lo: int, hi: int, size: int, seed: list) -> np.ndarray:
    """``lo``, ``hi - 1`` and seeded others of ``lo:hi``, sorted (all when there are few)."""
    if hi - lo <= size:
        return np.arange(lo, hi, dtype=np.int64)
    rng = np.random.default_rng(seed)
    mid = rng.choice(np.arange(lo + 1, hi - 1), size=size - 2, replace=False)
    return np.unique(np.r_[lo, hi - 1, mid]).astype(np.int64)


def _act_rows(work: Any, rows: np.ndarray) -> np.ndarray:
    """Activation rows ``rows`` (sorted): from ``work.act`` or drawn block by block."""
    if work.act is not None:
        return np.asarray(work.act)[rows]
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return activation_rows(work.seed, work.precision, work.k, int(rows[0]), int(rows[-1]) + 1)
    parts = []
    for b in np.unique(rows // ACT_BLOCK_ROWS).tolist():
        sel = rows[rows // ACT_BLOCK_ROWS == b]
        blk = activation_rows(work.seed, work.precision, work.k, b * ACT_BLOCK_ROWS,
                              (b + 1) * ACT_BLOCK_ROWS)
        parts.append(blk[sel - b * ACT_BLOCK_ROWS])
    return np.concatenate(parts)
