"""Scratchpad hash tables: hash functions and exact, vectorized linear probing over many tables."""

from __future__ import annotations

import numpy as np

__all__ = ["FIB_MULT", "hash_slots", "linear_probe", "linear_probe_reference", "occupancy"]

#: 2**64 / golden ratio, odd: Knuth's multiplicative ("Fibonacci") hashing constant.
FIB_MULT = np.uint64(0x9E3779B97F4A7C15)


def hash_slots(keys: np.ndarray, table_entries: int, kind: str = "multiplicative") -> np.ndarray:
    """Home slot of each key in a table of ``table_entries`` (a power of two) slots.

    ``"multiplicative"``: ``(key * 0x9E3779B97F4A7C15 mod 2**64) >> (64 - log2(T))`` — the top
    bits of the product, so every key bit influences the slot (Knuth, TAOCP 6.4).
    ``"modulo"``: ``key mod T`` — the low bits only; keys that differ only above them collide
    (e.g. the same column of different rows when the column count is a multiple of ``T``).

    Parameters
    ----------
    keys : numpy.ndarray
        Non-negative integer keys.
    table_entries : int
        Table size ``T``, a power of two.
    kind : str
        ``"multiplicative"`` or ``"modulo"``.

    Returns
    -------
    numpy.ndarray
        ``int64`` slots in ``0..T-1``.
    """
    t = int(table_entries)
    if t < 1 or t & (t - 1):
        raise ValueError(f"table_entries must be a power of two, not {table_entries}")
    k = np.asarray(keys).astype(np.uint64, copy=False)
    bits = t.bit_length() - 1
    if kind == "modulo":
        return (k & np.uint64(t - 1)).astype(np.int64)
    if kind != "multiplicative":
        raise ValueError(f"hash kind must be 'multiplicative' or 'modulo', not {kind!r}")
    if bits == 0:
        return np.zeros(k.shape, dtype=np.int64)
    with np.errstate(over="ignore"):
        prod = k * FIB_MULT  # wraps mod 2**64 by design
    return (prod >> np.uint64(64 - bits)).astype(np.int64)


def _segments(inst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index of each element's segment (``inst`` non-decreasing) and segment starts."""
    n = inst.size
    starts = np.flatnonzero(np.r_[True, inst[1:] != inst[:-1]]) if n else np.zeros(0, np.int64)
    lens = np.diff(np.r_[starts, n])
    return np.repeat(starts, lens), starts


def occupancy(
    inst: np.ndarray, home: np.ndarray, table_entries: int
) -> tuple[np.ndarray, np.ndarray]:
    """Occupied slots of every table after inserting all keys (order-independent).

    With linear probing the set of occupied slots does not depend on the insertion order, so it
    is computed for all tables at once: sort the homes, place key ``j`` of a table at
    ``max(home_j, pos_{j-1} + 1)`` (a segmented running maximum), and fold the keys that run
    past the last slot back to slot 0 until the number folded is stable (circular table).

    Parameters
    ----------
    inst : numpy.ndarray
        Table id of each key, non-decreasing.
    home : numpy.ndarray
        Home slot of each key.
    table_entries : int
        Slots per table; every table must hold fewer keys than slots.

    Returns
    -------
    (slot_inst, slot) : tuple of numpy.ndarray
        Occupied slots sorted by ``(table, slot)``; one per key.
    """
    t = int(table_entries)
    inst = np.asarray(inst, dtype=np.int64)
    home = np.asarray(home, dtype=np.int64)
    order = np.argsort(inst * t + home, kind="stable")
    h = home[order]
    g = inst[order]
    seg_of, starts = _segments(g)
    j = np.arange(g.size, dtype=np.int64) - seg_of
    counts = np.diff(np.r_[starts, g.size])
    if counts.size and counts.max() >= t:
        raise ValueError(f"a table holds {counts.max()} keys but has only {t} slots")
    big = np.int64(4 * t + 4)
    extra = np.zeros(starts.size, dtype=np.int64)  # keys folded back to slot 0, per table
    seg_id = np.repeat(np.arange(starts.size), counts)
    while True:
        e = extra[seg_id]
        jj = j + e
        v = h - jj + seg_id * big
        cm = np.maximum.accumulate(v) - seg_id * big if v.size else v
        cm = np.where(e > 0, np.maximum(cm, 0), cm)
        pos = jj + cm
        over = np.bincount(seg_id[pos >= t], minlength=starts.size)
        if np.array_equal(over, extra):
            break
        extra = over
    keep = pos < t
    folded = np.repeat(np.arange(starts.size), extra)
    folded_slot = np.arange(folded.size) - np.repeat(np.cumsum(extra) - extra, extra)
    s_inst = np.r_[g[keep], g[starts][folded]]
    s_slot = np.r_[pos[keep], folded_slot]
    o = np.argsort(s_inst * t + s_slot, kind="stable")
    return s_inst[o], s_slot[o]


def linear_probe(inst: np.ndarray, home: np.ndarray, table_entries: int) -> np.ndarray:
    """Exact linear-probing displacement of every key, many tables at once.

    Keys are inserted in array order within each table (``inst`` non-decreasing). A key's final
    slot is the first free slot at or after its home (circularly) when it is inserted; later
    lookups of the same key walk the same ``disp + 1`` slots. The simulation is exact and
    vectorized: the order-independent occupancy (:func:`occupancy`) cuts every table into
    clusters (maximal runs of occupied slots) that never interact; keys alone in their cluster
    have displacement 0; the rest are inserted round by round (the ``r``-th key of every
    multi-key cluster in the same NumPy step) with a union-find "next free slot" array.

    Parameters
    ----------
    inst : numpy.ndarray
        Table id of each distinct key, non-decreasing; array order is insertion order.
    home : numpy.ndarray
        Home slot of each key (from :func:`hash_slots`).
    table_entries : int
        Slots per table.

    Returns
    -------
    numpy.ndarray
        ``int64`` displacement (final slot minus home, circularly) of each key.
    """
    t = int(table_entries)
    inst = np.asarray(inst, dtype=np.int64)
    home = np.asarray(home, dtype=np.int64)
    n = home.size
    disp = np.zeros(n, dtype=np.int64)
    if n == 0:
        return disp
    s_inst, s_slot = occupancy(inst, home, t)
    # runs of consecutive occupied slots inside each table
    brk = np.r_[True, (s_inst[1:] != s_inst[:-1]) | (s_slot[1:] != s_slot[:-1] + 1)]
    run = np.cumsum(brk) - 1
    run_start = np.flatnonzero(brk)
    run_len = np.diff(np.r_[run_start, s_slot.size])
    # merge the run ending at slot T-1 with the run starting at slot 0 (wrap-around)
    first_of_tbl = np.r_[True, s_inst[1:] != s_inst[:-1]]
    last_of_tbl = np.r_[s_inst[1:] != s_inst[:-1], True]
    tbl_first = np.flatnonzero(first_of_tbl)
    tbl_last = np.flatnonzero(last_of_tbl)
    wrap = (
        (s_slot[tbl_first] == 0) & (s_slot[tbl_last] == t - 1) & (run[tbl_first] != run[tbl_last])
    )
    cluster_of_run = np.arange(run_start.size)
    cluster_of_run[run[tbl_first[wrap]]] = run[tbl_last[wrap]]
    c_len = np.bincount(cluster_of_run, weights=run_len, minlength=run_start.size).astype(np.int64)
    c_start = s_slot[run_start]  # a merged cluster keeps its last run's start
    # cluster of each key = cluster of the run holding its home slot
    key_pos = np.searchsorted(s_inst * t + s_slot, inst * t + home)
    kc = cluster_of_run[run[key_pos]]
    multi = np.flatnonzero(c_len[kc] > 1)
    if multi.size == 0:
        return disp
    mc = kc[multi]
    o = np.argsort(mc, kind="stable")  # keys of a cluster together, in insertion order
    keys = multi[o]
    clus = mc[o]
    seg_of, _ = _segments(clus)
    rank = np.arange(keys.size) - seg_of
    first = np.r_[True, clus[1:] != clus[:-1]]
    uc = clus[first]
    inv = np.cumsum(first) - 1
    base = np.cumsum(c_len[uc]) - c_len[uc]
    local = (home[keys] - c_start[clus]) % t
    x0 = base[inv] + local
    nxt = np.arange(int(c_len[uc].sum()) + 1, dtype=np.int64)
    ro = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[ro], np.arange(rank.max() + 2))
    for r in range(rank.max() + 1):
        sel = ro[bounds[r] : bounds[r + 1]]
        start = x0[sel]
        x = start
        while True:
            px = nxt[x]
            moving = px != x
            if not moving.any():
                break
            gp = nxt[px]
            nxt[x[moving]] = gp[moving]  # path halving
            x = np.where(moving, gp, x)
        nxt[x] = x + 1
        disp[keys[sel]] = x - start
    return disp


def linear_probe_reference(homes: list[int], table_entries: int) -> list[int]:
    """Plain-Python linear probing of one table (for tests): displacement of each key in order."""
    t = int(table_entries)
    used = [False] * t
    out = []
    for h in homes:
        d = 0
        while used[(h + d) % t]:
            d += 1
            if d >= t:
                raise ValueError("table full")
        used[(h + d) % t] = True
        out.append(d)
    return out
