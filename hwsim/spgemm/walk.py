"""The row-wise SMASH check walks the hash tables the plan charged (DESIGN.md, contract 9).

:func:`~hwsim.spgemm.rowwise.plan_rowwise` counts each table instance's work in closed form
(exact linear probing, vectorised). This module runs an instance the way a core does, one
partial product after the other in stream order: hash the key, probe slot after slot until the
key or a free slot, insert or accumulate the value in that slot; then write the table back by
scanning its slots. It counts as it goes (products, keys, probes, scratchpad accesses per bank
and per wave of threads) and recomputes the instance's hash and compute cycles from those
counts. :func:`check_rowwise` fails when

* the windows do not partition the rows of A, or the plan's instances are not one per pass of
  every window (a dropped or added task);
* a walked count (products, keys, probes, hash cycles, compute cycles) differs from the plan's;
* the values written back differ from SciPy's ``A[rows] @ B`` on the instance's columns.

``sampled`` walks the first and last instances, every pass of the first split window (the
edge case of the overflow path) and a seeded sample; ``full`` walks all of them.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import CheckFailedError
from .hashing import hash_slots
from .work import expand_rowwise

__all__ = ["SAMPLE_INSTANCES", "walk_instance", "check_rowwise"]

#: Table instances a sampled check walks at random, besides the first, last and split ones.
SAMPLE_INSTANCES = 4


def _ceil(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def _pass_products(a, b, work, plan, w: int, p: int):
    """Products of window ``w`` that pass ``p`` keeps, in stream order (and all of them)."""
    lo, hi = int(plan.bounds[w]), int(plan.bounds[w + 1])
    rows, cols, vals = expand_rowwise(a, b, lo, hi)
    npass = int(plan.passes[w])
    if npass > 1:
        distinct = np.unique(cols)
        nnz_w = int(work.nnz_row[lo:hi].sum())
        per = _ceil(nnz_w, npass)
        keep = np.searchsorted(distinct, cols) // per == p
    else:
        keep = np.ones(cols.size, dtype=bool)
    return lo, hi, rows[keep], cols[keep], vals[keep], int(rows.size)


def walk_instance(a, b, work, spec, plan, w: int, p: int) -> dict[str, Any]:
    """Run pass ``p`` of window ``w`` on one core's table, slot by slot.

    Returns
    -------
    dict
        ``products``, ``keys``, ``probes``, ``hash_cycles``, ``compute_cycles`` (walked),
        and ``out`` (CSR of the window's rows: the values written back from the slots).
    """
    from .rowwise import fragment_slots

    lo, hi, rows, cols, vals, window_products = _pass_products(a, b, work, plan, w, p)
    ncols = work.shape[2]
    v1, v3 = spec.kernel == "v1", spec.kernel == "v3"
    t = int(spec.table_entries)
    if v3:  # every row its own fragments, laid out in order of the rows that insert keys
        size_r = fragment_slots(work.products[lo:hi], spec)
        used_rows = np.unique(rows) - lo
        base_r = np.zeros(hi - lo, dtype=np.int64)
        base_r[used_rows] = np.cumsum(size_r[used_rows]) - size_r[used_rows]
        size = size_r[rows - lo]
        base = base_r[rows - lo]
        keys = cols
        slots_total = int(size_r[used_rows].sum())
        groups = int(used_rows.size)
        home = np.zeros(rows.size, dtype=np.int64)
        for s in np.unique(size):
            sel = size == s
            home[sel] = hash_slots(keys[sel], int(s), spec.hash)
    else:
        size = np.full(rows.size, t, dtype=np.int64)
        base = np.zeros(rows.size, dtype=np.int64)
        keys = (rows - lo) * ncols + cols
        slots_total, groups = t, 0
        home = hash_slots(keys, t, spec.hash)
    slot_key = np.full(max(slots_total, 1), -1, dtype=np.int64).tolist()
    slot_val = [0.0] * max(slots_total, 1)
    slot_row = [0] * max(slots_total, 1)
    h = int(spec.threads_per_core)
    banks = int(spec.spad_banks)
    probes = accesses_total = 0
    hash_cycles = 0
    chain = issue = 0
    load: dict[int, int] = {}
    keys_in = 0
    kl, hl, sl, bl = keys.tolist(), home.tolist(), size.tolist(), base.tolist()
    vl, rl = vals.tolist(), rows.tolist()
    for j in range(len(kl)):
        if j % h == 0 and j:
            hash_cycles += _wave(chain, load, issue, spec)
            chain, issue, load = 0, 0, {}
        key, hm, sz, bs = kl[j], hl[j], sl[j], bl[j]
        d = 0
        while True:
            s = bs + (hm + d) % sz
            if slot_key[s] == key or slot_key[s] == -1:
                break
            load[s % banks] = load.get(s % banks, 0) + 1  # a probe past another key
            d += 1
            if d > sz:
                raise CheckFailedError(f"window {w} pass {p}: table full while walking")
        if slot_key[s] == -1:
            slot_key[s] = key
            slot_row[s] = rl[j]
            keys_in += 1
        slot_val[s] += vl[j]  # the atomic add into the slot
        load[s % banks] = load.get(s % banks, 0) + (2 if v1 else 1)
        acc = d + 1 + (1 if v1 else 0)
        probes += d + 1
        accesses_total += acc
        chain = max(chain, acc)
        issue += acc + spec.instr_per_product
    if kl:
        hash_cycles += _wave(chain, load, issue, spec)
    filtered = window_products - len(kl)
    compute = spec.window_overhead_cycles + hash_cycles + _ceil(filtered + groups, spec.issue_width)
    # write-back: scan the slots, emit (row, col, value)
    occ = [s for s in range(len(slot_key)) if slot_key[s] != -1]
    o_rows = np.array([slot_row[s] for s in occ], dtype=np.int64) - lo
    o_keys = np.array([slot_key[s] for s in occ], dtype=np.int64)
    o_cols = o_keys if v3 else o_keys % max(ncols, 1)
    o_vals = np.array([slot_val[s] for s in occ], dtype=np.float64)
    out = sp.csr_array((o_vals, (o_rows, o_cols)), shape=(hi - lo, ncols))
    return {"products": len(kl), "keys": keys_in, "probes": probes, "hash_cycles": hash_cycles,
            "compute_cycles": int(compute), "out": out, "cols": np.unique(cols)}


def _wave(chain: int, load: dict, issue: int, spec) -> int:
    busiest = max(load.values()) if load else 0
    return max(chain * spec.atomic_latency, busiest * spec.bank_busy_cycles,
               _ceil(issue, spec.issue_width))


def _instances(plan) -> tuple[np.ndarray, np.ndarray]:
    """Window and pass of every instance the plan's geometry implies; checks the partition."""
    bounds = np.asarray(plan.bounds, dtype=np.int64)
    passes = np.asarray(plan.passes, dtype=np.int64)
    if bounds.size < 1 or bounds.size != passes.size + 1:
        raise CheckFailedError("row-wise plan: window bounds and passes do not match")
    if (np.diff(bounds) < 0).any() or (passes < 1).any():
        raise CheckFailedError("row-wise plan: windows overlap or a window has no pass")
    win = np.repeat(np.arange(passes.size), passes)
    pas = np.arange(win.size) - np.repeat(np.cumsum(passes) - passes, passes)
    return win, pas


def check_rowwise(a, b, work, spec, plan, *, full: bool = False, seed: int = 0,
                  progress: bool | None = None) -> str:
    """Walk the plan's table instances (module docstring); return the check scope.

    Raises
    ------
    CheckFailedError
        A bad window partition, a missing or extra task, a walked count that differs from
        the plan's, or values that differ from SciPy's product.
    """
    win, pas = _instances(plan)
    m = work.shape[0]
    if int(plan.bounds[0]) != 0 or int(plan.bounds[-1]) != m:
        raise CheckFailedError(
            f"row-wise plan: windows cover rows [{int(plan.bounds[0])}, {int(plan.bounds[-1])}) "
            f"of A's {m}"
        )
    tab = plan.table
    ntask = plan.phases[0].tasks
    if ntask != win.size or not np.array_equal(np.asarray(tab["window"]), win):
        raise CheckFailedError(
            f"row-wise plan: {ntask} tasks for {win.size} table instances (one per pass of "
            f"each of {plan.passes.size} windows)"
        )
    if full:
        chosen = np.arange(win.size)
    else:
        must = {0, win.size - 1}
        split = np.flatnonzero(plan.passes[win] > 1)
        if split.size:
            must |= set(np.flatnonzero(win == win[split[0]]).tolist())
        rest = np.setdiff1d(np.arange(win.size), np.fromiter(must, dtype=np.int64))
        rng = np.random.default_rng([seed, 12])
        extra = rng.choice(rest, size=min(SAMPLE_INSTANCES, rest.size), replace=False)
        chosen = np.union1d(np.fromiter(must, dtype=np.int64), extra)
    bar = None
    if full:
        from tqdm import tqdm

        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(total=chosen.size, desc="hwsim check", unit="table", disable=not show,
                   file=sys.stderr, leave=False)
    planned = {"products": tab["products"], "keys": tab["keys"], "probes": tab["probes"],
               "hash_cycles": tab["hash_cycles"], "compute_cycles": plan.phases[0].compute_cycles}
    try:
        for i in chosen.tolist():
            w, p = int(win[i]), int(pas[i])
            got = walk_instance(a, b, work, spec, plan, w, p)
            for name, arr in planned.items():
                if int(got[name]) != int(arr[i]):
                    raise CheckFailedError(
                        f"rowwise-hash task {i} (window {w}, pass {p}): walked {name} = "
                        f"{int(got[name])}, the plan charged {int(arr[i])}"
                    )
            _compare_values(got, a, b, int(plan.bounds[w]), int(plan.bounds[w + 1]), i)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if full:
        return "full"
    return f"sampled {chosen.size} of {win.size} table instances"


def _compare_values(got: dict, a, b, lo: int, hi: int, i: int, rtol: float = 1e-9) -> None:
    ref = sp.csr_array(a[lo:hi] @ b).tocoo()
    keep = np.isin(ref.col, got["cols"])
    ref = sp.csr_array((ref.data[keep], (ref.row[keep], ref.col[keep])), shape=ref.shape)
    diff = abs(got["out"] - ref)
    worst = float(diff.max()) if diff.nnz else 0.0
    scale = float((abs(a[lo:hi]) @ abs(b)).max()) if a[lo:hi].nnz and b.nnz else 0.0
    if worst > rtol * max(scale, 1e-300):
        raise CheckFailedError(
            f"rowwise-hash task {i} (rows {lo}:{hi}): values written back from the table slots "
            f"differ from A@B by {worst:.3g}"
        )

