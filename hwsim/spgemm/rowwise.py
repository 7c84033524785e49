"""SMASH row-wise SpGEMM: windows, exact hashing work per window, and the merged output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import CheckFailedError
from .hashing import hash_slots, linear_probe
from .spec import SpgemmSpec
from .work import (
    PTR_BYTES,
    RowWork,
    expand_rowwise,
    fiber_bursts,
    make_windows,
    range_bursts,
    segment_sums,
)

__all__ = [
    "TaskPlan",
    "RowwisePlan",
    "plan_rowwise",
    "window_bounds",
    "b_row_cache",
    "BRowCache",
    "CHUNK_PRODUCTS",
]

#: Partial products expanded at once (windows are processed in chunks of about this many, so
#: the host's peak memory stays bounded whatever the matrix; results do not depend on it).
CHUNK_PRODUCTS = 1 << 20


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
    read_bursts : numpy.ndarray or None
        DRAM bursts the task's reads touch when they gather scattered pieces (rows of B...);
        None: contiguous reads, ``ceil(read_bytes / burst_bytes)`` bursts.
    """

    name: str
    read_bytes: np.ndarray
    compute_cycles: np.ndarray
    tail_cycles: np.ndarray
    write_bytes: np.ndarray
    read_bursts: np.ndarray | None = None

    def __post_init__(self) -> None:
        for k in ("read_bytes", "compute_cycles", "tail_cycles", "write_bytes"):
            setattr(self, k, np.asarray(getattr(self, k), dtype=np.int64).reshape(-1))
        if self.read_bursts is not None:
            self.read_bursts = np.asarray(self.read_bursts, dtype=np.int64).reshape(-1)

    @property
    def tasks(self) -> int:
        """Tasks in the phase."""
        return int(self.read_bytes.size)


@dataclass
class RowwisePlan:
    """Outcome of a dataflow planner: phases of tasks, counters, on-chip traffic and the output.

    ``table`` holds extra per-task columns of the first phase (one entry per task).
    ``bounds`` (row boundaries of the windows) and ``passes`` (table instances of each
    window) are the row-wise plan's geometry, which :mod:`hwsim.spgemm.walk` checks.
    """

    phases: list[TaskPlan]
    counters: dict[str, Any]
    sram_read_bytes: int
    sram_write_bytes: int
    output: sp.csr_array | None
    nnz_out: int
    table: dict[str, np.ndarray] = field(default_factory=dict)
    bounds: np.ndarray | None = None
    passes: np.ndarray | None = None


def _ceil_div(a, b):
    return -(-np.asarray(a, dtype=np.int64) // b)


def _pow2_ceil(x: np.ndarray) -> np.ndarray:
    """Smallest power of two >= ``x`` (``x >= 1``), elementwise."""
    x = np.maximum(np.asarray(x, dtype=np.int64), 1)
    return np.left_shift(1, np.ceil(np.log2(x)).astype(np.int64))


def fragment_slots(products: np.ndarray, spec: SpgemmSpec) -> np.ndarray:
    """V3: slots each row takes from the fragment pool (0 for rows without products).

    A row takes the smallest power-of-two number of fragments whose slots hold its product
    bound (known from row pointers before any multiply) at ``max_load``, capped at the table.
    """
    f = min(spec.fragment_entries, spec.table_entries)
    need = np.ceil(np.asarray(products, dtype=np.float64) / (spec.max_load * f)).astype(np.int64)
    slots = f * _pow2_ceil(need)
    return np.where(products > 0, np.minimum(slots, spec.table_entries), 0)


def window_bounds(work: RowWork, spec: SpgemmSpec) -> np.ndarray:
    """Window distribution: row boundaries of the windows (see :func:`plan_rowwise`)."""
    total = int(work.products.sum())
    balance = max(1, -(-total // (spec.cores * spec.windows_per_core)))
    if spec.kernel == "v3":
        frag = min(spec.fragment_entries, spec.table_entries)
        limit = min(spec.table_entries, max(frag, int(balance / spec.max_load)))
        return make_windows(fragment_slots(work.products, spec), limit, spec.window_rows)
    return make_windows(work.products, min(spec.capacity, balance), spec.window_rows)


@dataclass
class BRowCache:
    """Outcome of :func:`b_row_cache`: per-window hits and the counters.

    Attributes
    ----------
    hits : numpy.ndarray
        Per window: references ``A[i, k]`` whose row ``k`` of B came from the cache.
    hit_elements : numpy.ndarray
        Per window: entries of B those hits did not fetch from DRAM.
    references : int
        References to rows of B (``nnz(A)``: one per stored ``A[i, k]``).
    overflow_windows : int
        Windows whose distinct rows of B did not all fit the cache.
    uncached_rows : int
        Distinct (window, row of B) pairs left out of the cache (re-fetched at every reference).
    hit_bursts : numpy.ndarray or None
        Per window: DRAM bursts of B's indices and values the hits did not fetch (when
        :func:`b_row_cache` is given ``row_bursts``).
    """

    hits: np.ndarray
    hit_elements: np.ndarray
    references: int
    overflow_windows: int
    uncached_rows: int
    hit_bursts: np.ndarray | None = None


def b_row_cache(
    a: sp.csr_array,
    b: sp.csr_array,
    bounds: np.ndarray,
    spec: SpgemmSpec,
    row_bursts: np.ndarray | None = None,
) -> BRowCache:
    """Window-scoped cache for rows of B (``spec.b_cache_bytes`` per core; 0: no cache).

    Every window starts with an empty cache (its core keeps nothing from earlier windows).
    The distinct rows ``k`` of B that the window's rows of A reference are taken in order of
    their first reference (A's CSR order) and cached while the running total of their bytes,
    ``nnz(B[k, :]) * entry_bytes`` each, stays within ``b_cache_bytes``; the cache is then
    frozen for the window (no eviction, no replacement). The first reference to a cached row
    fetches it from DRAM, every later one is a hit; a row past the capacity (and every row
    after it in first-reference order) is fetched at every reference, as without a cache.
    So when all of a window's distinct rows fit, each is fetched once; otherwise reuse is
    kept only for a prefix — conservative (an LRU could do better). Hits cost no cycles and
    save only the row's entries: the two row pointers of ``B[k]`` are still read per
    ``A[i, k]``. Computed with one stable sort over the ``(window, k)`` pairs of A's nonzeros.
    """
    nwin = bounds.size - 1
    nref = int(a.nnz)
    zeros = np.zeros(nwin, dtype=np.int64)
    cap = int(spec.b_cache_bytes)
    if cap <= 0 or nref == 0 or nwin == 0:
        return BRowCache(zeros, zeros.copy(), nref, 0, 0, zeros.copy())
    eb = spec.entry_bytes
    b_row = np.diff(b.indptr).astype(np.int64)
    arow = np.repeat(np.arange(a.shape[0], dtype=np.int64), np.diff(a.indptr))
    win_of_row = np.repeat(np.arange(nwin, dtype=np.int64), np.diff(bounds))
    w = win_of_row[arow]
    k = a.indices.astype(np.int64)
    order = np.lexsort((k, w))  # stable: references of one (w, k) stay in stream order
    ws, ks = w[order], k[order]
    first = np.flatnonzero(np.r_[True, (ws[1:] != ws[:-1]) | (ks[1:] != ks[:-1])])
    count = np.diff(np.r_[first, nref])  # references per distinct (window, row)
    g_w, g_k, g_pos = ws[first], ks[first], order[first]
    go = np.argsort(g_pos, kind="stable")  # first-reference order (windows stay contiguous)
    g_w, g_k, count = g_w[go], g_k[go], count[go]
    size = b_row[g_k] * eb
    cum = np.cumsum(size)
    start = np.searchsorted(g_w, g_w, side="left")
    cached = cum - (cum[start] - size[start]) <= cap
    hits_g = np.where(cached, count - 1, 0)
    hits = np.bincount(g_w, weights=hits_g, minlength=nwin).astype(np.int64)
    hit_el = np.bincount(g_w, weights=hits_g * b_row[g_k], minlength=nwin).astype(np.int64)
    uncached = ~cached
    hit_b = None
    if row_bursts is not None:
        hit_b = np.bincount(g_w, weights=hits_g * row_bursts[g_k], minlength=nwin).astype(np.int64)
    return BRowCache(hits, hit_el, nref, int(np.unique(g_w[uncached]).size),
                     int(np.count_nonzero(uncached)), hit_b)


def plan_rowwise(
    a: sp.csr_array,
    b: sp.csr_array,
    work: RowWork,
    spec: SpgemmSpec,
    *,
    chunk_products: int = CHUNK_PRODUCTS,
    burst_bytes: int = 64,
) -> RowwisePlan:
    """Exact hashing work of SMASH V1/V2/V3 on every window, and the merged output.

    **Windows.** Consecutive rows of A are packed greedily by their partial-product bound
    (an upper bound on the distinct keys they insert, known from row pointers before any
    multiply) up to ``capacity = max_load * table_entries`` and ``window_rows`` rows. Windows
    are also cut to at most ``products / (cores * windows_per_core)`` so that every core gets
    several windows to balance (dynamic distribution). Under V3 the packing counts the
    fragment slots the rows take instead (:func:`fragment_slots`), up to the table size.

    **Overflow: split, never spill.** A window whose *distinct* outputs exceed the capacity
    (only a single row can) is split into column-range passes (``ceil(nnz/capacity)`` of them,
    cut at equal counts of its sorted output columns); every pass re-streams the row's rows of
    B and drops products outside its range. Counted as ``window_splits`` / ``overflow_passes``.
    Each window or pass is one table instance.

    **Rows of B.** Every ``A[i, k]`` streams row ``k`` of B from DRAM (with its two row
    pointers), so rows of B are re-fetched whenever several rows of A need them. With
    ``b_cache_bytes > 0`` a window-scoped per-core cache serves repeated references inside a
    window (:func:`b_row_cache`); every pass of a split window re-streams with the same hits
    (the counters, like ``fetched_elements``, count one pass per window). DRAM moves whole
    bursts of ``burst_bytes``: a window streams its rows of A as three contiguous ranges but
    gathers every row of B it references, so its ``read_bursts`` count each row's own bursts
    (:func:`~hwsim.spgemm.work.fiber_bursts`, from the row's real offsets).

    **Hashing.** V1/V2: one table of ``table_entries`` slots per instance, key
    ``local_row * cols(B) + col``. V3: every row of the instance hashes its column into its
    own ``fragment_slots`` slots (a power of two), laid out one row after the other in the
    pool. Distinct keys are inserted in first-occurrence order of the row-wise stream and
    placed by exact linear probing (:func:`~hwsim.spgemm.hashing.linear_probe`); every later
    product with the same key walks the same ``disp + 1`` slots.

    **Timing per instance**, in waves of ``threads_per_core`` products (one per thread): a wave
    lasts the longest of its threads' dependent chain (``accesses * atomic_latency``), the
    busiest bank (``accesses * bank_busy_cycles``, slot ``s`` in bank ``s % spad_banks``) and
    instruction issue (``(instr_per_product + accesses) / issue_width``). V1 makes ``disp + 2``
    scratchpad accesses per product (a key probe per slot visited, then the value's atomic
    add); V2 and V3 (tokenized key|value) ``disp + 1``. V3 adds one fetch-add atomic per row
    (taking its fragments). Write-back scans and clears the slots (V1/V2: the whole table,
    ``table_entries / spad_banks * bank_busy_cycles``, however few keys the window holds; V3:
    only the fragments taken), then compacts: V1/V2 bucket the ``n`` entries by row (a counting
    sort, ``2n`` steps), V3 reads each row's fragments in place (``n`` steps); all sort each
    output row by column (``n_r * ceil(log2 n_r)`` steps), divided by ``issue_width``.

    **Host memory.** Windows are processed in chunks of about ``chunk_products`` partial
    products; nothing crosses a window, so the result is the same for any chunk size.
    """
    m, _, ncols = work.shape
    bounds = window_bounds(work, spec)
    nwin = bounds.size - 1
    nnz_w = segment_sums(work.nnz_row, bounds)
    passes = np.maximum(_ceil_div(nnz_w, spec.capacity), 1)
    pp_w = segment_sums(work.products, bounds)
    # chunks of whole windows, about chunk_products products each
    cum = np.cumsum(pp_w)
    cuts = [0]
    while cuts[-1] < nwin:
        base = cum[cuts[-1] - 1] if cuts[-1] else 0
        nxt = int(cum.searchsorted(base + np.int64(chunk_products), side="right"))
        cuts.append(min(max(nxt, cuts[-1] + 1), nwin))
    parts = [
        _plan_chunk(a, b, work, spec, bounds[c0 : c1 + 1], passes[c0:c1], nnz_w[c0:c1], c0)
        for c0, c1 in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    if not parts:  # no rows at all
        parts = [_plan_chunk(a, b, work, spec, bounds, passes, nnz_w, 0)]
    cat = {k: np.concatenate([p["task"][k] for p in parts]) for k in parts[0]["task"]}
    sums = {k: sum(p["sum"][k] for p in parts) for k in parts[0]["sum"]}
    indptr = np.zeros(m + 1, dtype=np.int64)
    off = 0
    for p in parts:  # chunks cover consecutive rows; their row pointers are local
        lo, hi, ip = p["rows"]
        indptr[lo + 1 : hi + 1] = ip[1:] + off
        off += int(ip[-1])
    output = sp.csr_array(
        (
            np.concatenate([p["data"] for p in parts]),
            np.concatenate([p["indices"] for p in parts]),
            indptr,
        ),
        shape=(m, ncols),
    )
    inst_win = cat["window"]
    ninst = inst_win.size
    ib, vb = spec.index_bytes, spec.value_bytes
    b_data = fiber_bursts(b.indptr, ib, vb, burst_bytes) - fiber_bursts(
        b.indptr, 0, 0, burst_bytes
    )  # bursts of a row's indices and values (its pointers are read even on a hit)
    bc = b_row_cache(a, b, bounds, spec, row_bursts=b_data)
    read_bytes = cat["read_bytes"] - bc.hit_elements[inst_win] * spec.entry_bytes
    per_ref = fiber_bursts(b.indptr, ib, vb, burst_bytes)[a.indices]  # one per A[i, k]
    gather_w = segment_sums(per_ref, a.indptr[bounds])
    read_bursts_w = range_bursts(a.indptr, bounds, ib, vb, burst_bytes) + gather_w - bc.hit_bursts
    read_bursts = read_bursts_w[inst_win]
    b_hits = int(bc.hits.sum())
    b_fetched = int(sums["products"]) - int(bc.hit_elements.sum())
    keys_i = cat["keys"]
    v1 = spec.kernel == "v1"
    npp = sums["products"]
    ndist = sums["keys"]
    atomics = npp * (2 if v1 else 1) + sums["fragment_allocs"]
    counters = {
        "partial_products": npp,
        "nnz_out": ndist,
        "hash_probes": sums["probes"],
        "hash_collisions": sums["collisions"],
        "hash_inserts": ndist,
        "insert_collisions": sums["insert_collisions"],
        "max_probe_length": max(p["max_probe"] for p in parts),
        "bank_conflicts": sums["bank_conflicts"],
        "atomic_ops": atomics,
        "spad_accesses": sums["accesses"],
        "windows": nwin,
        "table_instances": ninst,
        "window_splits": int(np.count_nonzero(passes > 1)),
        "overflow_passes": int((passes - 1).sum()),
        "mean_load_factor": float(keys_i.sum() / max(int(cat["slots"].sum()), 1)),
        "scanned_slots": int(cat["slots"].sum()),
        "fragment_allocs": sums["fragment_allocs"],
        "fetched_elements": int(a.nnz) + b_fetched,
        "redundant_fetches": int(b_fetched - b.nnz),
        "host_chunks": len(parts),
        "b_row_fetches": bc.references - b_hits,
        "b_cache_hits": b_hits,
        "b_cache_overflow_windows": bc.overflow_windows,
        "b_cache_uncached_rows": bc.uncached_rows,
    }
    eb = spec.entry_bytes
    sram_r = sums["accesses"] * eb + ndist * eb
    sram_w = (atomics - sums["fragment_allocs"]) * spec.value_bytes + ndist * spec.index_bytes
    phase = TaskPlan("hash", read_bytes, cat["compute"], cat["tail"], cat["write_bytes"],
                     read_bursts)
    table = {
        "window": inst_win,
        "rows": cat["rows"],
        "products": cat["products"],
        "keys": keys_i,
        "scanned_slots": cat["slots"],
        "hash_cycles": cat["hash_cycles"],
        "writeback_cycles": cat["tail"],
        "probes": cat["probes"],
    }
    return RowwisePlan([phase], counters, sram_r, sram_w, output, ndist, table, bounds, passes)


def _plan_chunk(a, b, work: RowWork, spec: SpgemmSpec, bounds, passes, nnz_w, win0) -> dict:
    """Everything of :func:`plan_rowwise` for the windows ``bounds`` (absolute row bounds),
    the first of which is window ``win0``."""
    ncols = work.shape[2]
    t = spec.table_entries
    eb = spec.entry_bytes
    v1 = spec.kernel == "v1"
    v3 = spec.kernel == "v3"
    lo, hi = int(bounds[0]), int(bounds[-1])
    nwin = bounds.size - 1
    rows, cols, vals = expand_rowwise(a, b, lo, hi)
    npp = rows.size
    win_of_row = np.repeat(np.arange(nwin, dtype=np.int64), np.diff(bounds))
    w = win_of_row[rows - lo]
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
    # -- distinct (row, col) per instance, in first-occurrence (insertion) order -------------
    # (row, col) determines the instance, so grouping by it groups by (instance, key)
    comb = rows * ncols + cols if _fits_int64(work) else None
    if comb is not None:
        order = np.argsort(comb)  # any order of equal keys: first occurrence is taken below
        sc = comb[order]
        del comb
        first = np.r_[True, sc[1:] != sc[:-1]] if npp else np.zeros(0, bool)
        del sc
    else:  # pragma: no cover - astronomically wide matrices
        order = np.lexsort((cols, rows))
        rs, cs = rows[order], cols[order]
        first = np.r_[True, (rs[1:] != rs[:-1]) | (cs[1:] != cs[:-1])] if npp else np.zeros(0, bool)
    gstart = np.flatnonzero(first)
    gid_sorted = np.cumsum(first) - 1
    gid = np.empty(npp, dtype=np.int64)
    gid[order] = gid_sorted
    first_idx = np.minimum.reduceat(order, gstart) if npp else np.zeros(0, np.int64)
    del order, gid_sorted, first
    ndist = first_idx.size
    ins = np.argsort(first_idx)  # distinct keys in insertion order (first indices are unique)
    d_first = first_idx[ins]
    d_inst = inst[d_first]
    d_row = rows[d_first]
    d_col = cols[d_first]
    # -- table geometry of every distinct key: group (table), size, base slot ----------------
    if v3:
        # one group per (instance, row); sizes from the row's product bound; laid out in row
        # order inside the instance's pool
        rslots = fragment_slots(work.products[lo:hi], spec)
        g_new = np.r_[True, (d_inst[1:] != d_inst[:-1]) | (d_row[1:] != d_row[:-1])] if ndist else np.zeros(0, bool)
        g_id = np.cumsum(g_new) - 1
        g_first = np.flatnonzero(g_new)
        g_inst = d_inst[g_first]
        g_size = rslots[d_row[g_first] - lo]
        g_end = np.cumsum(g_size)
        inst_of_g_start = np.r_[True, g_inst[1:] != g_inst[:-1]] if g_first.size else np.zeros(0, bool)
        g_base = g_end - g_size
        # base relative to the start of the instance's pool
        pool0 = np.maximum.accumulate(np.where(inst_of_g_start, g_base, 0)) if g_first.size else g_base
        g_base = g_base - pool0
        d_size = g_size[g_id]
        d_base = g_base[g_id]
        d_key = d_col
        d_home = np.empty(ndist, dtype=np.int64)
        disp_ins = np.empty(ndist, dtype=np.int64)
        for s in np.unique(g_size):
            selk = np.flatnonzero(d_size == s)
            d_home[selk] = hash_slots(d_key[selk], int(s), spec.hash)
            disp_ins[selk] = linear_probe(g_id[selk], d_home[selk], int(s))
        slots_i = np.bincount(g_inst, weights=g_size, minlength=ninst).astype(np.int64)
        fragment_allocs = int(g_first.size)
        groups_i = np.bincount(g_inst, minlength=ninst).astype(np.int64)
    else:
        d_size = np.full(ndist, t, dtype=np.int64)
        d_base = np.zeros(ndist, dtype=np.int64)
        d_key = (d_row - bounds[win_of_row[d_row - lo]]) * ncols + d_col
        d_home = hash_slots(d_key, t, spec.hash)
        disp_ins = linear_probe(d_inst, d_home, t)
        slots_i = np.full(ninst, t, dtype=np.int64)
        fragment_allocs = 0
        groups_i = np.zeros(ninst, dtype=np.int64)
    d_slot = d_base + (d_home + disp_ins) % d_size  # slot inside the instance's table / pool
    # per product (through its distinct key, gid)
    disp_g = np.empty(ndist, dtype=np.int64)
    disp_g[ins] = disp_ins
    disp = disp_g[gid]
    # -- counters ----------------------------------------------------------------------------
    probes = disp + 1
    acc = probes + (1 if v1 else 0)
    n_acc = int(acc.sum())
    # -- waves of threads_per_core products --------------------------------------------------
    h = spec.threads_per_core
    n_p = np.bincount(inst, minlength=ninst).astype(np.int64)
    inst_start = np.cumsum(n_p) - n_p
    waves_i = _ceil_div(n_p, h)
    wave_base = np.cumsum(waves_i) - waves_i
    nwaves = int(waves_i.sum())
    wave = wave_base[inst] + (np.arange(npp, dtype=np.int64) - inst_start[inst]) // h
    banks = spec.spad_banks
    slot_g = np.empty(ndist, dtype=np.int64)
    slot_g[ins] = d_slot
    load = np.bincount(wave * banks + slot_g[gid] % banks, minlength=nwaves * banks)
    if v1:
        load *= 2  # key visit + value atomic at the final slot
    probing = np.flatnonzero(disp)
    if probing.size:
        # the slots a probing product visits before its final one
        dd = disp[probing]
        tot = int(dd.sum())
        step = np.arange(tot, dtype=np.int64) - np.repeat(np.cumsum(dd) - dd, dd)
        home_g = np.empty(ndist, dtype=np.int64)
        home_g[ins] = d_home
        size_g = np.empty(ndist, dtype=np.int64)
        size_g[ins] = d_size
        base_g = np.empty(ndist, dtype=np.int64)
        base_g[ins] = d_base
        pg = gid[probing]
        slot = np.repeat(base_g[pg], dd) + (np.repeat(home_g[pg], dd) + step) % np.repeat(
            size_g[pg], dd
        )
        load += np.bincount(np.repeat(wave[probing], dd) * banks + slot % banks,
                            minlength=nwaves * banks)
    load = load.reshape(nwaves, banks)
    bank_conflicts = int(np.maximum(load - 1, 0).sum())
    if nwaves:
        wstart = np.flatnonzero(np.r_[True, wave[1:] != wave[:-1]])
        chain = np.maximum.reduceat(acc, wstart)
        issue = _ceil_div(np.add.reduceat(acc + spec.instr_per_product, wstart), spec.issue_width)
        wave_cycles = np.maximum(
            np.maximum(chain * spec.atomic_latency, load.max(axis=1) * spec.bank_busy_cycles), issue
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
    nr = work.nnz_row[lo:hi]
    rowsort = segment_sums(nr * np.ceil(np.log2(np.maximum(nr, 2))).astype(np.int64),
                           bounds - lo)
    sort_i = _ceil_div(rowsort[inst_win], passes[inst_win])
    compact = (1 if v3 else 2) * keys_i + sort_i
    tail = _ceil_div(slots_i, banks) * spec.bank_busy_cycles + _ceil_div(compact, spec.issue_width)
    first_pass = np.r_[True, inst_win[1:] != inst_win[:-1]] if ninst else np.zeros(0, bool)
    write_i = keys_i * eb + np.where(first_pass, rows_w[inst_win] * PTR_BYTES, 0)
    compute = (
        spec.window_overhead_cycles
        + hash_cycles
        + _ceil_div(filtered + groups_i, spec.issue_width)
    )
    # -- functional: accumulate into table slots, write back, compact to CSR -----------------
    occ = np.sort(d_inst * (2 * t) + d_slot)  # (instance, slot): no two keys may share one
    if ndist and np.any(occ[1:] == occ[:-1]):
        raise CheckFailedError("hash table model placed two keys in one slot")
    table_vals = np.bincount(gid, weights=vals, minlength=ndist)  # the atomic adds, stream order
    out = sp.csr_array((table_vals, (rows[first_idx] - lo, cols[first_idx])),
                       shape=(hi - lo, ncols))
    out.sort_indices()
    return {
        "task": {
            "window": inst_win + win0,
            "rows": rows_w[inst_win],
            "products": n_p,
            "keys": keys_i,
            "slots": slots_i,
            "hash_cycles": hash_cycles,
            "probes": np.bincount(inst, weights=probes, minlength=ninst).astype(np.int64),
            "tail": tail,
            "compute": compute,
            "read_bytes": read_i,
            "write_bytes": write_i,
        },
        "sum": {
            "products": int(npp),
            "keys": int(ndist),
            "probes": int(probes.sum()),
            "collisions": int(np.count_nonzero(disp)),
            "insert_collisions": int(np.count_nonzero(disp_ins)),
            "bank_conflicts": bank_conflicts,
            "accesses": n_acc,
            "fragment_allocs": fragment_allocs,
        },
        "max_probe": int(disp_ins.max() + 1) if ndist else 0,
        "rows": (lo, hi, out.indptr.astype(np.int64)),
        "indices": out.indices,
        "data": out.data,
    }


def _fits_int64(work: RowWork) -> bool:
    """Whether ``row * cols(B) + col`` fits in an int64 for every output position."""
    m, _, n = work.shape
    return m * max(n, 1) < 2**62
