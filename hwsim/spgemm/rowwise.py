"""SMASH row-wise SpGEMM: windows, exact hashing work per window, and the merged output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .hashing import hash_slots, linear_probe
from .spec import SpgemmSpec
from .work import PTR_BYTES, RowWork, expand_rowwise, make_windows, segment_sums

__all__ = ["TaskPlan", "plan_rowwise"]


@dataclass
class TaskPlan:
    """Per-task closed forms of one dataflow phase, ready for the SimPy workers.

    All arrays have one entry per task (a window, a pass, a row block...), in dispatch order.

    Attributes
    ----------
    name : str
        Phase name (``hash``, ``multiply``, ``merge``, ``dot``).
    read_bytes : numpy.ndarray
        DRAM bytes the task streams in; overlapped with ``compute_cycles``.
    compute_cycles : numpy.ndarray
        Core cycles of the overlapped part (hashing, multiplying, merging).
    tail_cycles : numpy.ndarray
        Core cycles after the overlapped part (write-back scan and compaction).
    write_bytes : numpy.ndarray
        DRAM bytes the task writes at its end (not waited for by the worker).
    """

    name: str
    read_bytes: np.ndarray
    compute_cycles: np.ndarray
    tail_cycles: np.ndarray
    write_bytes: np.ndarray

    def __post_init__(self) -> None:
        for k in ("read_bytes", "compute_cycles", "tail_cycles", "write_bytes"):
            setattr(self, k, np.asarray(getattr(self, k), dtype=np.int64).reshape(-1))

    @property
    def tasks(self) -> int:
        return int(self.read_bytes.size)


@dataclass
class RowwisePlan:
    """Outcome of :func:`plan_rowwise`: one phase of tasks, counters and the output."""

    phases: list[TaskPlan]
    counters: dict[str, Any]
    sram_read_bytes: int
    sram_write_bytes: int
    output: sp.csr_array | None
    nnz_out: int
    table: dict[str, np.ndarray] = field(default_factory=dict)


def _ceil_div(a, b):
    return -(-np.asarray(a, dtype=np.int64) // b)


def plan_rowwise(a: sp.csr_array, b: sp.csr_array, work: RowWork, spec: SpgemmSpec) -> RowwisePlan:
    """Exact hashing work of SMASH V1/V2 on every window, and the merged output.

    Windows (:func:`~hwsim.spgemm.work.make_windows`) hold at most ``spec.capacity`` partial
    products, so their distinct keys always fit the table. A single row whose *distinct*
    outputs exceed the capacity is **split** into column-range passes (``ceil(nnz/capacity)``
    of them, cut at equal counts of its sorted output columns); every pass re-streams the row's
    rows of B and drops products outside its range. Each window or pass is one table instance.

    Inside an instance the key of a product is ``local_row * cols(B) + col``; distinct keys are
    inserted in first-occurrence order of the row-wise stream and placed by exact linear
    probing (:func:`~hwsim.spgemm.hashing.linear_probe`). Every later product with the same key
    walks the same ``disp + 1`` slots.

    Timing per instance, in waves of ``threads_per_core`` products (one per thread): a wave
    lasts the longest of its thread's dependent chain (``accesses * atomic_latency``), the
    busiest bank (``accesses * bank_busy_cycles``) and instruction issue
    (``(instr_per_product + accesses) / issue_width``). V1 makes ``disp + 2`` scratchpad
    accesses per product (a key probe per slot visited, then the value's atomic add), V2
    (tokenized key|value) ``disp + 1``. Write-back scans and clears the table
    (``table_entries / spad_banks * bank_busy_cycles``), buckets the ``n`` entries by row (a
    counting sort, ``2n`` steps) and sorts each output row by column (``n_r * ceil(log2 n_r)``
    steps), all divided by ``issue_width``.
    """
    m, _, ncols = work.shape
    t = spec.table_entries
    cap = spec.capacity
    eb = spec.index_bytes + spec.value_bytes
    v1 = spec.kernel == "v1"
    bounds = make_windows(work.products, cap, spec.window_rows)
    nwin = bounds.size - 1
    rows, cols, vals = expand_rowwise(a, b)
    win_of_row = np.repeat(np.arange(nwin, dtype=np.int64), np.diff(bounds))
    w = win_of_row[rows]
    nnz_w = segment_sums(work.nnz_row, bounds)
    passes = np.maximum(_ceil_div(nnz_w, cap), 1)
    inst_base = np.cumsum(passes) - passes
    inst = inst_base[w]
    split = passes > 1
    if split.any():
        sel = np.flatnonzero(split[w])
        comb = w[sel] * ncols + cols[sel]
        uniq, inv = np.unique(comb, return_inverse=True)
        uw = uniq // ncols
        first_rank = np.searchsorted(uw, np.arange(nwin))
        rank = inv - first_rank[w[sel]]
        per_pass = _ceil_div(nnz_w[w[sel]], passes[w[sel]])
        inst[sel] += rank // per_pass
        order = np.argsort(inst, kind="stable")
        rows, cols, vals, w, inst = rows[order], cols[order], vals[order], w[order], inst[order]
    ninst = int(passes.sum())
    inst_win = np.repeat(np.arange(nwin, dtype=np.int64), passes)
    key = (rows - bounds[w]) * ncols + cols
    # distinct keys per instance, in first-occurrence order
    kspan = int(spec.window_rows) * int(ncols)
    if ninst * kspan < 2**62:
        comb = inst * kspan + key
        order = np.argsort(comb, kind="stable")
        sc = comb[order]
        del comb
    else:  # pragma: no cover - astronomically wide matrices
        order = np.lexsort((key, inst))
        sc = None
    npp = rows.size
    if sc is not None:
        first = np.r_[True, sc[1:] != sc[:-1]] if npp else np.zeros(0, bool)
    else:  # pragma: no cover
        ks, is_ = key[order], inst[order]
        first = np.r_[True, (ks[1:] != ks[:-1]) | (is_[1:] != is_[:-1])] if npp else np.zeros(0, bool)
    gid_sorted = np.cumsum(first) - 1
    gid = np.empty(npp, dtype=np.int64)
    gid[order] = gid_sorted
    first_idx = order[first]
    del order, sc, gid_sorted
    ndist = first_idx.size
    ins = np.argsort(first_idx, kind="stable")
    d_first = first_idx[ins]
    d_inst = inst[d_first]
    d_key = key[d_first]
    d_home = hash_slots(d_key, t, spec.hash)
    disp_ins = linear_probe(d_inst, d_home, t)
    disp_g = np.empty(ndist, dtype=np.int64)
    disp_g[ins] = disp_ins
    home_g = np.empty(ndist, dtype=np.int64)
    home_g[ins] = d_home
    disp = disp_g[gid]
    home = home_g[gid]
    # -- counters ----------------------------------------------------------------------------
    probes = disp + 1
    acc = probes + (1 if v1 else 0)
    hash_probes = int(probes.sum())
    collisions = int(np.count_nonzero(disp))
    n_acc = int(acc.sum())
    atomics = npp * (2 if v1 else 1)
    # -- waves of threads_per_core products --------------------------------------------------
    h = spec.threads_per_core
    n_p = np.bincount(inst, minlength=ninst).astype(np.int64)
    inst_start = np.cumsum(n_p) - n_p
    waves_i = _ceil_div(n_p, h)
    wave_base = np.cumsum(waves_i) - waves_i
    nwaves = int(waves_i.sum())
    wave = wave_base[inst] + (np.arange(npp, dtype=np.int64) - inst_start[inst]) // h
    banks = spec.spad_banks
    final = (home + disp) % t
    load = np.bincount(wave * banks + final % banks, minlength=nwaves * banks).astype(np.int64)
    if v1:
        load *= 2  # key visit + value atomic at the final slot
    probing = np.flatnonzero(disp)
    if probing.size:
        dd = disp[probing]
        tot = int(dd.sum())
        step = np.arange(tot, dtype=np.int64) - np.repeat(np.cumsum(dd) - dd, dd)
        slot = (np.repeat(home[probing], dd) + step) % t
        load += np.bincount(
            np.repeat(wave[probing], dd) * banks + slot % banks, minlength=nwaves * banks
        ).astype(np.int64)
    load = load.reshape(nwaves, banks) if nwaves else np.zeros((0, banks), np.int64)
    bank_conflicts = int(np.maximum(load - 1, 0).sum())
    if nwaves:
        wstart = np.flatnonzero(np.r_[True, wave[1:] != wave[:-1]])
        chain = np.maximum.reduceat(acc, wstart)
        issue = _ceil_div(np.add.reduceat(acc + spec.instr_per_product, wstart), spec.issue_width)
        wave_cycles = np.maximum.reduce(
            [chain * spec.atomic_latency, load.max(axis=1) * spec.bank_busy_cycles, issue]
        )
        hash_cycles = np.bincount(np.repeat(np.arange(ninst), waves_i), weights=wave_cycles,
                                  minlength=ninst).astype(np.int64)
    else:
        hash_cycles = np.zeros(ninst, dtype=np.int64)
    # -- per-instance traffic and write-back -------------------------------------------------
    keys_i = np.bincount(d_inst, minlength=ninst).astype(np.int64)
    a_nnz_w = np.diff(a.indptr[bounds]).astype(np.int64)
    pp_w = segment_sums(work.products, bounds)
    rows_w = np.diff(bounds)
    read_w = a_nnz_w * eb + (rows_w + 1) * PTR_BYTES + pp_w * eb + a_nnz_w * 2 * PTR_BYTES
    read_i = read_w[inst_win]
    filtered = pp_w[inst_win] - n_p  # products of other passes, read and dropped
    nr = work.nnz_row
    rowsort = segment_sums(nr * np.ceil(np.log2(np.maximum(nr, 2))).astype(np.int64), bounds)
    sort_i = _ceil_div(rowsort[inst_win], passes[inst_win])
    tail = _ceil_div(t, banks) * spec.bank_busy_cycles + _ceil_div(
        2 * keys_i + sort_i, spec.issue_width
    )
    first_pass = np.r_[True, inst_win[1:] != inst_win[:-1]]
    write_i = keys_i * eb + np.where(first_pass, rows_w[inst_win] * PTR_BYTES, 0)
    compute = spec.window_overhead_cycles + hash_cycles + _ceil_div(filtered, spec.issue_width)
    phase = TaskPlan("hash", read_i, compute, tail, write_i)
    # -- functional: accumulate into table slots, write back, compact to CSR -----------------
    slot_of_g = np.empty(ndist, dtype=np.int64)
    slot_of_g[ins] = d_inst * t + (d_home + disp_ins) % t
    occupied, slot_idx = np.unique(slot_of_g, return_inverse=True)  # table (scan) order
    if occupied.size != ndist:
        from ..errors import CheckFailedError

        raise CheckFailedError("hash table model placed two keys in one slot")
    table_vals = np.bincount(slot_idx[gid], weights=vals, minlength=ndist)  # the atomic adds
    key_of_slot = np.empty(ndist, dtype=np.int64)
    key_of_slot[slot_idx[ins]] = d_key
    win_of_slot = inst_win[occupied // t]
    out_rows = bounds[win_of_slot] + key_of_slot // ncols
    out_cols = key_of_slot % ncols
    out_vals = table_vals
    output = sp.csr_array((out_vals, (out_rows, out_cols)), shape=(m, ncols))
    counters = {
        "partial_products": npp,
        "nnz_out": ndist,
        "hash_probes": hash_probes,
        "hash_collisions": collisions,
        "hash_inserts": ndist,
        "insert_collisions": int(np.count_nonzero(disp_ins)),
        "max_probe_length": int(disp_ins.max() + 1) if ndist else 0,
        "bank_conflicts": bank_conflicts,
        "atomic_ops": atomics,
        "spad_accesses": n_acc,
        "windows": nwin,
        "table_instances": ninst,
        "window_splits": int(split.sum()),
        "overflow_passes": int((passes - 1).sum()),
        "mean_load_factor": float(keys_i.mean() / t) if ninst else 0.0,
        "redundant_fetches": int(npp - b.nnz),
    }
    sram_r = n_acc * eb + int(keys_i.sum()) * eb
    sram_w = atomics * spec.value_bytes + ndist * spec.index_bytes
    table = {
        "window": inst_win,
        "rows": rows_w[inst_win],
        "products": n_p,
        "keys": keys_i,
        "hash_cycles": hash_cycles,
        "writeback_cycles": tail,
        "read_bytes": read_i,
        "write_bytes": write_i,
    }
    return RowwisePlan([phase], counters, sram_r, sram_w, output, ndist, table)
