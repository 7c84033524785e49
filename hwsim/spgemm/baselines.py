"""Inner- and outer-product SpGEMM baselines on the same machine and memory as SMASH."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .rowwise import RowwisePlan, TaskPlan, _ceil_div
from .spec import SpgemmSpec
from .work import PTR_BYTES, RowWork, fiber_bursts, make_windows, segment_sums, sum_products

__all__ = ["plan_inner", "plan_outer"]


def plan_inner(
    a: sp.csr_array, b: sp.csr_array, work: RowWork, spec: SpgemmSpec, *, burst_bytes: int = 64
) -> RowwisePlan:
    """Inner product: every candidate ``(i, j)`` fetches row ``i`` of A and column ``j`` of B.

    A naive inner-product kernel knows no output structure, so its candidates are all pairs of
    a nonempty row of A and a nonempty column of B. Each candidate streams both fibres from
    DRAM (``(a_i + b_j)`` entries plus two pointer pairs) and intersects them by merging
    (``a_i + b_j`` comparison steps); matches are the multiplications (the same
    ``partial_products`` as row-wise). The counts are closed forms over row blocks
    (``sum_i sum_j (a_i + b_j) = n_cols * sum_i a_i + n_rows * nnz(B)``): the pairs are never
    materialised. Tasks are blocks of rows (``window_rows`` at most, at least four blocks per
    core). Every fetch is a gather of one fibre: its DRAM bursts are counted from the fibre's
    real offsets (:func:`~hwsim.spgemm.work.fiber_bursts`; B's columns as a CSC copy).

    The output is computed as the dataflow does: per ``(i, j)``, the products along ``k`` in
    ascending ``k`` order, summed (:func:`~hwsim.spgemm.work.sum_products`, in row blocks).
    """
    m, _, ncols = work.shape
    eb = spec.index_bytes + spec.value_bytes
    a_rows = work.a_row_nnz
    nc = int(np.count_nonzero(work.b_col_nnz))
    nnz_b = int(b.nnz)
    blk = max(1, min(spec.window_rows, -(-m // (4 * spec.cores))))
    bounds = np.r_[np.arange(0, m, blk, dtype=np.int64), m]
    nonempty = (a_rows > 0).astype(np.int64)
    nr_blk = segment_sums(nonempty, bounds)
    sa_blk = segment_sums(a_rows, bounds)
    pp_blk = segment_sums(work.products, bounds)
    nnz_blk = segment_sums(work.nnz_row, bounds)
    cand = nr_blk * nc
    fetched = nc * sa_blk + nr_blk * nnz_b  # entries of A and B streamed by all candidates
    read = fetched * eb + cand * 4 * PTR_BYTES
    ib, vb = spec.index_bytes, spec.value_bytes
    a_fb = np.where(a_rows > 0, fiber_bursts(a.indptr, ib, vb, burst_bytes), 0)
    col_ptr = np.r_[np.int64(0), np.cumsum(work.b_col_nnz, dtype=np.int64)]
    b_fb = np.where(work.b_col_nnz > 0, fiber_bursts(col_ptr, ib, vb, burst_bytes), 0)
    bursts = nc * segment_sums(a_fb, bounds) + nr_blk * int(b_fb.sum())
    compute = spec.window_overhead_cycles + _ceil_div(
        fetched + pp_blk * spec.instr_per_product, spec.issue_width
    )
    write = nnz_blk * eb + np.diff(bounds) * PTR_BYTES
    phase = TaskPlan("dot", read, compute, np.zeros_like(read), write, bursts)
    out = sum_products(a, b, order="rowwise")
    total_fetched = int(fetched.sum())
    counters = {
        "partial_products": work.partial_products,
        "nnz_out": int(out.nnz),
        "candidate_pairs": int(cand.sum()),
        "merge_steps": total_fetched,
        "fetched_elements": total_fetched,
        "redundant_fetches": int(total_fetched - a.nnz - b.nnz),
        "hash_probes": 0,
        "hash_collisions": 0,
        "bank_conflicts": 0,
        "atomic_ops": 0,
        "windows": int(bounds.size - 1),
    }
    # Scratchpad: fibres arrive by narrow loads straight into registers (as row-wise streams
    # rows of B) and each (i, j) sum is a register; each output row is assembled in the
    # scratchpad and read back by its write-back (row-wise: the table's write-back read).
    spad = int(out.nnz) * eb
    return RowwisePlan([phase], counters, spad, spad, out, int(out.nnz), {})


def plan_outer(a: sp.csr_array, b: sp.csr_array, work: RowWork, spec: SpgemmSpec) -> RowwisePlan:
    """Outer product: multiply columns of A by rows of B, then merge the partial matrices.

    Multiply phase (OuterSPACE-style): tasks are consecutive ``k`` packed to ``capacity``
    products; each reads column ``k`` of A and row ``k`` of B once (no redundant fetch) and
    writes every product to DRAM as a ``(column, value)`` entry of its output row's bucket.
    Merge phase, after a barrier: windows of rows read their buckets back, sort-merge each row
    (``p * ceil(log2 p)`` steps for a row of ``p`` products) and write C.

    The output is computed the same way: products generated ``k`` by ``k`` (for a block of rows
    at a time), then merged by a sort on ``(row, column)`` and a sum of equal keys in ``k``
    order.
    """
    m, kdim, ncols = work.shape
    eb = spec.index_bytes + spec.value_bytes
    ac_cnt = np.bincount(a.indices, minlength=kdim).astype(np.int64)
    per_k = ac_cnt * work.b_row_nnz
    kb = make_windows(per_k, spec.capacity, kdim if kdim else 1)
    pp_t = segment_sums(per_k, kb)
    a_t = segment_sums(ac_cnt, kb)
    b_t = segment_sums(work.b_row_nnz, kb)
    nk = np.diff(kb)
    read1 = (a_t + b_t) * eb + 4 * nk * PTR_BYTES
    comp1 = spec.window_overhead_cycles + _ceil_div(pp_t * spec.instr_per_product, spec.issue_width)
    write1 = pp_t * eb
    mult = TaskPlan("multiply", read1, comp1, np.zeros_like(read1), write1)
    rb = make_windows(work.products, spec.capacity, spec.window_rows)
    pp_w = segment_sums(work.products, rb)
    p = work.products
    sort_steps = segment_sums(p * np.ceil(np.log2(np.maximum(p, 2))).astype(np.int64), rb)
    read2 = pp_w * eb + (np.diff(rb) + 1) * PTR_BYTES
    comp2 = spec.window_overhead_cycles + _ceil_div(sort_steps + pp_w, spec.issue_width)
    write2 = segment_sums(work.nnz_row, rb) * eb + np.diff(rb) * PTR_BYTES
    merge = TaskPlan("merge", read2, comp2, np.zeros_like(read2), write2)
    out = sum_products(a, b, order="outer")
    npp = int(per_k.sum())
    counters = {
        "partial_products": npp,
        "nnz_out": int(out.nnz),
        "partial_product_bytes": int(2 * npp * eb),
        "fetched_elements": int(a.nnz + b.nnz),
        "redundant_fetches": 0,
        "merge_steps": int(sort_steps.sum()),
        "hash_probes": 0,
        "hash_collisions": 0,
        "bank_conflicts": 0,
        "atomic_ops": 0,
        "windows": int(rb.size - 1),
    }
    # Scratchpad: the multiply phase stores products straight to their DRAM buckets (narrow
    # stores); the merge loads a window's buckets into the scratchpad (a write per product),
    # sorts them there (a read and a write per sort step) and reads them once more to sum
    # equal keys into C.
    steps = int(sort_steps.sum())
    spad_r, spad_w = (steps + npp) * eb, (npp + steps) * eb
    return RowwisePlan([mult, merge], counters, spad_r, spad_w, out, int(out.nnz), {})
