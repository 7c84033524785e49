"""SAT's N:M sparse PE array (dense and sparse modes, WS/OS) and the cycle model of one sparse MAC core."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError
from . import register_engine_model
from ._tiling import (
    check_work,
    exact_matmul,
    first_of_block,
    fit_tile,
    grid3,
    nm_matmul,
    nm_slot_positions,
    operand_footprints,
    reuse_traffic,
    spans,
    tiles_frame,
)
from .base import GemmWork, TilePlan

__all__ = [
    "PeArrayEngine", "CoreDotSchedule", "predict_core_cycles", "predict_core_schedule",
    "pe_core_timing", "array_overhead_cycles", "array_os_overhead_cycles", "os_stream_cycles",
]

# Model (one PE = the RTL core of rtl/sparse_mac.py with lanes=1):
#
# * A PE has ``n`` multipliers behind an ``m``-to-``n`` selector. One *step* = one cycle (II
#   from the RTL) in which a PE consumes one group: ``m`` activations and up to ``n`` weights
#   with their in-group indices. Dense mode feeds ``n`` consecutive values per step, so a
#   dense reduction of ``K`` takes ``ceil(K / n)`` steps.
# * Sparse mode: a group of the weight column ``j`` with ``nnz`` nonzeros needs
#   ``ceil(nnz / n)`` steps (a finer pattern, 1:8 on 2:8 hardware, still takes one step;
#   4:8 takes two). The ``C`` columns of a fold move in lock-step (the activation window is
#   shared along a PE row), so a group costs the maximum over those columns, at least 1
#   (the static schedule streams every group position). Counts come from the real weight.
# * Within a tile the folds run back to back (WS: double-buffered PE weight registers); a
#   fold costs ``max(stream, R)`` -- the stream of activation rows (WS) or of steps (OS), or
#   the ``R`` cycles to preload the next weights (WS) / drain the ``R`` result rows (OS) if
#   longer.
# * WS is the RTL array of rtl/pe_array.py, measured cycle for cycle against
#   ``rtl.timing.predict_array_schedule``: the last fold of a tile costs its ``tm`` rows, not
#   ``max(tm, R)`` (nothing follows it to preload), and once per tile the array pays preload
#   ``R`` + skew ``R - 1 + C - 1`` + the core's latency ``L`` (``rtl.timing.
#   array_overhead_cycles``), so a WS tile is ``(F - 1) * max(tm, R) + tm + R + (R - 1) +
#   (C - 1) + L`` (``rtl.timing.array_tile_cycles``). SCALE-Sim pays its ``2R + C - 2`` per
#   fold instead; overlapping folds is what lets a 2:8 GEMM get close to the ideal 4x (the
#   remaining gap is this per-tile term).
# * OS is the RTL array of rtl/pe_array_os.py, measured against ``rtl.timing.
#   predict_array_os_schedule``: a block (R activation rows x one fold of C columns, the whole
#   ``tk`` reduction in place) is ``kf`` steps; blocks end at least ``R`` cycles apart (their
#   ``R`` result rows leave one per cycle), the first block is just its ``kf`` steps, and once
#   per tile the array pays drain ``R`` + skew ``C - 1`` + ``L`` (``rtl.timing.
#   array_os_overhead_cycles``; there is no weight preload and no row skew to fill).


def pe_core_timing(spec: Any):
    """:class:`rtl.timing.CoreTiming` of one PE of ``spec`` (the single source of PE timing)."""
    from rtl.timing import core_timing

    return core_timing(
        n=spec.n, m=spec.m, lanes=1, act_width=spec.act_width,
        weight_width=spec.weight_width, acc_width=spec.acc_width,
    )


def array_overhead_cycles(rows: int, cols: int, latency: int) -> int:
    """Fill + drain of one WS tile: ``R`` (preload) + ``R - 1 + C - 1`` (skew) + ``L``,
    from :func:`rtl.timing.array_overhead_cycles` (measured on the RTL array)."""
    from rtl import timing

    return timing.array_overhead_cycles(rows, cols, latency)


def array_os_overhead_cycles(rows: int, cols: int, latency: int) -> int:
    """Fill + drain of one OS tile: ``R`` (drain) + ``C - 1`` (skew) + ``L``, from
    :func:`rtl.timing.array_os_overhead_cycles` (measured on the RTL OS array)."""
    from rtl import timing

    return timing.array_os_overhead_cycles(rows, cols, latency)


def _os_drain(rows: int) -> int:
    from rtl import timing

    return timing.array_os_drain_cycles(rows)


def os_stream_cycles(kf, row_blocks, rows: int, ii: int = 1):
    """Steps of an OS tile: ``row_blocks`` blocks per column fold, fold ``f`` of ``kf[..., f]``
    steps; every block costs ``max(kf * II, drain)`` except the tile's first, which costs its
    steps (``rtl.timing.array_os_tile_cycles``; ``drain`` from ``rtl.timing.
    array_os_drain_cycles``).

    Parameters
    ----------
    kf : array_like of int
        Steps per column fold, last axis the folds of the tile (first fold first).
    row_blocks : int or array_like of int
        ``ceil(tm / R)``, broadcast against ``kf[..., 0]``.
    rows : int
    ii : int

    Returns
    -------
    numpy.ndarray or int
    """
    steps = np.asarray(kf, dtype=np.int64) * int(ii)
    per = np.maximum(steps, _os_drain(rows))
    return np.asarray(row_blocks) * per.sum(axis=-1) - (per[..., 0] - steps[..., 0])


class CoreDotSchedule(NamedTuple):
    """Predicted cycles of one dot product on one core (see :func:`predict_core_schedule`).

    Attributes
    ----------
    in_cycles : tuple of int
        Transfer cycle of each of its groups on ``i`` (``i_valid & i_ready``).
    out_valid : int
        First cycle ``o_valid`` is high with its result.
    out_transfer : int
        Cycle its result transfers on ``o`` (``o_valid & o_ready``).
    """

    in_cycles: tuple[int, ...]
    out_valid: int
    out_transfer: int

    @property
    def first_in(self) -> int:
        """Transfer cycle of its first group."""
        return self.in_cycles[0]

    @property
    def last_in(self) -> int:
        """Transfer cycle of its ``last`` group."""
        return self.in_cycles[-1]


def _ready_pattern(out_ready) -> np.ndarray | None:
    if out_ready is None:
        return None
    pat = np.asarray(list(out_ready))
    if pat.ndim != 1 or pat.size == 0 or not np.isin(pat, (0, 1)).all():
        raise ValueError("out_ready must be a non-empty sequence of 0/1 (or bool) values")
    pat = pat.astype(bool)
    if not pat.any():
        raise ValueError("out_ready must be high in at least one cycle of its period")
    return pat


def predict_core_schedule(
    dot_lengths, *, n, m, lanes, act_width, weight_width, acc_width, input_gaps=None,
    out_ready=None,
) -> list[CoreDotSchedule]:
    """Cycle schedule of one core for a stream of dot products, with input pauses and output
    back-pressure.

    This is the single-core reference of contract 2: ``tests/test_rtl_timing_contract.py``
    checks it cycle for cycle against the RTL (Amaranth, Icarus, Verilator). Cycle 0 is the
    first cycle after reset; "transfers in cycle ``c``" means valid and ready are both high in
    ``c``. With ``L``, ``II`` and ``D`` the ``latency``, ``ii`` and ``output_buffer_depth`` of
    :func:`rtl.timing.core_timing` (the only source of these numbers):

    * **Input.** The source offers group 0 in cycle 0 and group ``i`` in
      ``t_{i-1} + max(II, 1 + gap_{i-1})``, then holds it until it transfers. It transfers in
      the first cycle from then on where ``i_ready`` is high. ``i_ready`` is low exactly when
      ``D`` results are in flight: dot products whose ``last`` group transferred in an earlier
      cycle and whose result has not yet transferred on ``o`` (they sit in the pipeline or the
      output buffer). It is a function of registered state only (no path from ``i_valid`` or
      ``o_ready``), so with results ``0..K-1`` accepted the group transfers in
      ``max(offer, out_transfer[K - D] + 1)`` (just ``offer`` while ``K < D``).
    * **Output.** Result ``k`` is first valid in ``max(last_in[k] + L, out_transfer[k-1] + 1)``
      (in-order first-word-fall-through buffer) and transfers in the first cycle ``c`` from
      then on with ``out_ready[c % len(out_ready)]`` high.

    With ``o_ready`` always high nothing ever waits (``D = L + 1``): ``out_valid = out_transfer
    = last_in + L`` and groups transfer when offered. These are the conventions of the RTL
    test bench (``tests/rtl_cases.py``: a case's ``gaps`` and ``ready`` are ``input_gaps`` and
    ``out_ready`` unchanged).

    Parameters
    ----------
    dot_lengths : sequence of int
        Groups of each dot product (``>= 1``), in stream order.
    n, m, lanes, act_width, weight_width, acc_width : int
        Core parameters, as :func:`rtl.timing.core_timing`.
    input_gaps : sequence of int, optional
        Idle cycles the source waits after each group transfers (one per group; the last is
        unused). Default: none.
    out_ready : sequence of 0/1 or bool, optional
        Cyclic ``o_ready`` pattern: ``o_ready`` in cycle ``c`` is ``out_ready[c % len]``.
        Default ``None``: always high.

    Returns
    -------
    list of CoreDotSchedule
        One per dot product, in order.

    Raises
    ------
    ValueError
        A length below 1, a negative gap, a gap list of the wrong length, or an ``out_ready``
        pattern that is empty, not 0/1, or never high.
    """
    from rtl.timing import core_timing

    timing = core_timing(
        n=n, m=m, lanes=lanes, act_width=act_width, weight_width=weight_width,
        acc_width=acc_width,
    )
    ii, lat, depth = int(timing.ii), int(timing.latency), int(timing.output_buffer_depth)
    lengths = np.asarray(list(dot_lengths), dtype=np.int64)
    if lengths.size and lengths.min() < 1:
        raise ValueError(f"dot_lengths must be integers >= 1, not {lengths.min()}")
    total = int(lengths.sum())
    gaps = np.zeros(total, dtype=np.int64) if input_gaps is None else np.asarray(
        list(input_gaps), dtype=np.int64
    )
    if gaps.size != total:
        raise ValueError(f"input_gaps must have one entry per group ({total}), not {gaps.size}")
    if gaps.size and gaps.min() < 0:
        raise ValueError(f"input_gaps must be >= 0, not {gaps.min()}")
    pattern = _ready_pattern(out_ready)
    if pattern is None:
        wait_ready = np.zeros(1, dtype=np.int64)
    else:
        # wait_ready[r]: cycles from a cycle with residue r to the next one with o_ready high
        period = pattern.size
        high = np.flatnonzero(pattern)
        nxt = np.searchsorted(high, np.arange(period))
        wrapped = nxt == high.size
        target = np.where(wrapped, high[0] + period, high[np.minimum(nxt, high.size - 1)])
        wait_ready = target - np.arange(period)
    period = wait_ready.size
    step = np.maximum(ii, 1 + gaps).tolist()

    out: list[CoreDotSchedule] = []
    transfers: list[int] = []  # o transfer cycle of each result so far
    g, prev = 0, None  # next group, transfer cycle of the previous group
    for length in lengths.tolist():
        cycles = []
        for _ in range(length):
            offer = 0 if prev is None else prev + step[g - 1]
            k = len(transfers)
            prev = offer if k < depth else max(offer, transfers[k - depth] + 1)
            cycles.append(prev)
            g += 1
        valid = prev + lat if not transfers else max(prev + lat, transfers[-1] + 1)
        transfers.append(valid + int(wait_ready[valid % period]))
        out.append(CoreDotSchedule(tuple(cycles), valid, transfers[-1]))
    return out


def predict_core_cycles(
    dot_lengths, *, n, m, lanes, act_width, weight_width, acc_width, input_gaps=None,
    out_ready=None,
) -> list[tuple[int, int]] | list[tuple[int, int, int]]:
    """Cycle of the last input transfer and of the first ``o_valid`` of each dot product.

    A tuple view of :func:`predict_core_schedule` (which documents the model and the cycle
    conventions); all timing comes from :func:`rtl.timing.core_timing`.

    Parameters
    ----------
    dot_lengths : sequence of int
        Groups of each dot product (``>= 1``), in stream order.
    n, m, lanes, act_width, weight_width, acc_width : int
        Core parameters, as :func:`rtl.timing.core_timing`.
    input_gaps : sequence of int, optional
        Idle cycles after each group transfer (one per group; the last is unused).
    out_ready : sequence of 0/1 or bool, optional
        Cyclic ``o_ready`` pattern (``out_ready[c % len]`` in cycle ``c``). Default ``None``:
        ``o_ready`` always high.

    Returns
    -------
    list of (int, int) or list of (int, int, int)
        ``(last_in_cycle, out_valid_cycle)`` per dot product when ``out_ready`` is ``None``
        (then the result also transfers in ``out_valid_cycle``); ``(last_in_cycle,
        out_valid_cycle, out_transfer_cycle)`` when ``out_ready`` is given.

    Raises
    ------
    ValueError
        As :func:`predict_core_schedule`.
    """
    sched = predict_core_schedule(
        dot_lengths, n=n, m=m, lanes=lanes, act_width=act_width, weight_width=weight_width,
        acc_width=acc_width, input_gaps=input_gaps, out_ready=out_ready,
    )
    if out_ready is None:
        return [(d.last_in, d.out_valid) for d in sched]
    return [(d.last_in, d.out_valid, d.out_transfer) for d in sched]


def _grouping(weight: np.ndarray, n: int, m: int, cols: int):
    """Per-group steps: ``(steps_gj, lockstep_gf, slots_gj)`` for the weight's real nonzeros."""
    from ..sparsity import NMPattern, group_nnz

    k, nn = weight.shape
    nnz = group_nnz(weight, NMPattern(1, m), axis=0)  # (G, N); only m matters for grouping
    steps = -(-nnz // n)
    glen = np.full(nnz.shape[0], m, dtype=np.int64)
    if k % m:
        glen[-1] = k % m
    slots = np.minimum(np.maximum(steps, 1) * n, glen[:, None])
    fc = -(-nn // cols)
    pad = np.zeros((steps.shape[0], fc * cols), dtype=np.int64)
    pad[:, :nn] = steps
    lock = np.maximum(pad.reshape(-1, fc, cols).max(axis=2), 1)
    return steps, lock, slots


def _select_slots(w: np.ndarray, m: int, cols=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weight as an m-to-n selector stream: per group of ``m`` rows and column, the
    nonzeros in slots ``0, 1, ...``.

    Each group column's nonzero pattern is an ``m``-bit mask; a table indexed by the mask gives
    the in-group positions of its slots (the selector's index encoding) and their count.

    Returns
    -------
    (values, positions, count) : tuple
        ``values`` and absolute reduction ``positions`` of the slots of the columns ``cols``
        (default all), ``(G * width) × len(cols)`` with ``width`` the most nonzeros of any
        group (unused slots: value 0 at a distinct free position of the group), and the
        nonzeros of every ``(group, column)`` (all columns).
    """
    k, nn = w.shape
    g = -(-k // m)
    wp = w if k == g * m else np.concatenate([w, np.zeros((g * m - k, nn), w.dtype)])
    nz = (wp != 0).reshape(g, m, nn)
    sel = np.arange(nn) if cols is None else np.asarray(cols)
    if m <= 16:
        bits8 = nz.view(np.uint8)
        mask = np.zeros((g, nn), dtype=np.uint8 if m <= 8 else np.uint16)
        for p in range(m):  # the group's nonzero pattern as an m-bit selector code
            mask |= bits8[:, p, :].astype(mask.dtype) << p
        codes = np.arange(1 << m, dtype=np.int64)
        bits = (codes[:, None] >> np.arange(m)) & 1  # (2**m, m)
        cnt_lut = bits.sum(axis=1)
        cnt = cnt_lut[mask]
        width = max(1, int(cnt.max(initial=0)))
        order = np.argsort(1 - bits, axis=1, kind="stable")[:, :width]  # set bits first
        local = order[mask[:, sel]]  # (g, len(sel), width)
    else:  # pragma: no cover - wide groups: sort the positions
        order = np.argsort(~nz, axis=1, kind="stable")
        cnt = nz.sum(axis=1)
        width = max(1, int(cnt.max(initial=0)))
        local = np.moveaxis(order[:, :width, :], 1, 2)[:, sel, :]
    local = np.moveaxis(local, 2, 1)  # (g, width, len(cols))
    vals = np.take_along_axis(wp.reshape(g, m, nn)[:, :, sel], local, axis=1)
    positions = local + (np.arange(g, dtype=np.int64) * m)[:, None, None]
    return vals.reshape(g * width, -1), positions.reshape(g * width, -1), cnt


def _is_dense(sparsity: Any) -> bool:
    from ..sparsity import Dense

    return sparsity is None or isinstance(sparsity, Dense) or (
        isinstance(sparsity, str) and sparsity.strip().lower() in ("", "dense", "none")
    )


@register_engine_model("nm_pe_array")
class PeArrayEngine:
    """SAT PE array: ``R × C`` sparse PEs with ``n`` multipliers and an ``m``-to-``n`` selector.

    The weight (``K × N``) is the sparse operand, grouped by ``m`` along ``K``; dense weights
    run in dense mode on the same multipliers. See the module comment for the closed forms.
    """

    kind = "nm_pe_array"

    def plan(self, work: GemmWork, arch: Any, engine_name: str) -> TilePlan:
        """Tiles of ``tm × tk × tn`` (half the buffers) with per-tile closed-form cycles."""
        spec = arch.engine(engine_name)
        spec.check_precision(work.precision, engine_name)  # fp16 on an int8 datapath: error
        dataflows = tuple(spec.dataflows)
        check_work(work, dataflows)
        rows, cols, n, m = int(spec.rows), int(spec.cols), int(spec.n), int(spec.m)
        timing = pe_core_timing(spec)
        ii, lat = int(timing.ii), int(timing.latency)
        w = np.asarray(work.weight)
        K, N, M = work.k, work.n, work.m
        eb = work.elem_bytes
        idx_bits = (m - 1).bit_length()
        steps, lock, slots = _grouping(w, n, m, cols)
        sparse_total = int(lock.sum())
        dense_total = math.ceil(K / n) * lock.shape[1]
        mode = "dense" if _is_dense(work.sparsity) or sparse_total >= dense_total else "sparse"

        max_slots = min(m, max(1, int(steps.max(initial=1))) * n) if mode == "sparse" else m

        def need(d):  # bytes of one slot per role, an upper bound over the tiles of this size
            tm, tk, tn = min(d["m"], M), min(d["k"], K), min(d["n"], N)
            if mode == "sparse":
                s_ = -(-tk // m) * min(max_slots, tk) * tn
                wb = s_ * eb + -(-(s_ * idx_bits) // 8)
            else:
                wb = tk * tn * eb
            return {"act": tm * tk * eb, "weight": wb, "out": tm * tn * eb}

        d = fit_tile(
            {"m": M, "n": N, "k": K}, {"m": rows, "k": m * rows, "n": cols}, need, arch,
            stream="m", what=f"GEMM {M}x{K}x{N} on engine {engine_name!r}",
        )
        m0, mlen = spans(M, d["m"])
        k0, klen = spans(K, d["k"])
        n0, nlen = spans(N, d["n"])
        gstart = k0 // m  # tk is a multiple of m unless it is all of K
        fstart = n0 // cols  # tn is a multiple of C unless it is all of N
        fcols = np.minimum(cols, N - np.arange(lock.shape[1]) * cols)  # used columns per fold
        if mode == "sparse":
            kf = np.add.reduceat(lock, gstart, axis=0)  # steps per (k tile, column fold)
            slot_kn = np.add.reduceat(np.add.reduceat(slots, gstart, axis=0), n0, axis=1)
            w_bytes_kn = slot_kn * eb + -(-(slot_kn * idx_bits) // 8)
        else:
            kf = np.repeat(-(-klen // n)[:, None], lock.shape[1], axis=1)
            w_bytes_kn = klen[:, None] * nlen[None, :] * eb
        macs_kn = np.add.reduceat(kf * fcols[None, :] * n, fstart, axis=1)  # per activation row
        ws_kn = np.add.reduceat(-(-kf // rows), fstart, axis=1)  # WS row folds per (k, n) tile
        foldc = -(-nlen // cols)

        ni, mi, ki = grid3(n0.size, m0.size, k0.size)  # n outer, m, k inner
        tm, tk, tn = mlen[mi], klen[ki], nlen[ni]
        if work.dataflow == "os":
            # blocks of R rows per column fold, each max(kf, drain); the tile's first block
            # is just its steps (os_stream_cycles, RTL-measured), vectorised over the tiles
            per = np.maximum(kf * ii, _os_drain(rows))
            first = per[:, fstart] - kf[:, fstart] * ii
            stream = -(-tm // rows) * np.add.reduceat(per, fstart, axis=1)[ki, ni] \
                - first[ki, ni]
            fill = array_os_overhead_cycles(rows, cols, 0)
        else:
            # folds back to back at max(rows, R); the last one is just its rows (RTL-measured)
            fold = np.maximum(tm * ii, rows)
            stream = ws_kn[ki, ni] * fold - (fold - tm * ii)
            fill = array_overhead_cycles(rows, cols, 0)
        compute = stream + fill + lat
        act_b = tm * tk * eb
        w_b = w_bytes_kn[ki, ni]
        out_b = tm * tn * eb
        load_a, load_w, store = reuse_traffic(mi, ki, ni)
        lock_kn = np.add.reduceat(kf, fstart, axis=1)  # lock-step steps per activation row
        return TilePlan(
            engine=engine_name,
            multipliers=rows * cols * n,
            compute_cycles=compute,
            load_bytes=act_b * load_a + w_b * load_w,
            act_load_bytes=act_b * load_a,
            store_bytes=out_b * store,
            performed_macs=tm * macs_kn[ki, ni],
            sram_read_bytes=act_b * foldc[ni] + w_b * -(-tm // rows),
            sram_write_bytes=out_b,
            buffer_bytes=int((act_b + w_b + out_b).max()),
            operands=operand_footprints(
                arch, act=(act_b, load_a), weight=(w_b, load_w), out=(out_b, first_of_block(mi, ni))
            ),
            tiles=tiles_frame(
                m0=m0[mi], m1=m0[mi] + tm, k0=k0[ki], k1=k0[ki] + tk, n0=n0[ni], n1=n0[ni] + tn,
                lockstep_steps=lock_kn[ki, ni], weight_bytes=w_b, stream_cycles=stream,
            ),
            notes={
                "mode": mode,
                "dataflow": work.dataflow,
                "stream_cycles": int(stream.sum()),
                "fill_drain_cycles": int(fill * compute.size),
                "pipeline_latency_cycles": int(lat * compute.size),
                "core_latency": lat,
                "core_ii": ii,
                "steps_sparse": sparse_total,
                "steps_dense": dense_total,
                "max_steps_per_group": int(steps.max(initial=0)),
                # energy (hwsim.energy): selector uses, SRAM bytes by operand, index bytes read
                "select_ops": int((tm * macs_kn[ki, ni]).sum()) if mode == "sparse" else 0,
                "sram_operands": {"act": [int((act_b * foldc[ni]).sum()), 0],
                                  "weight": [int((w_b * -(-tm // rows)).sum()), 0],
                                  "out": [0, int(out_b.sum())]},
                "sram_meta_read_bytes": int(((w_b - slot_kn[ki, ni] * eb) * -(-tm // rows)).sum())
                if mode == "sparse" else 0,
            },
        )

    def compute(self, work: GemmWork, arch: Any, engine_name: str) -> np.ndarray:
        """Output from what the PEs are given: N:M values + indices gathered against the
        activation window (sparse mode), or the dense weight fed ``n`` at a time (dense mode)."""
        from ..sparsity import NMPattern, compress_nm

        spec = arch.engine(engine_name)
        check_work(work)
        if work.act is None:
            raise ConfigError("compute() needs work.act (the functional check is off)")
        n, m = int(spec.n), int(spec.m)
        w = np.asarray(work.weight)
        if _is_dense(work.sparsity):
            # Dense mode feeds n consecutive values a step: the plain product (exact BLAS).
            return exact_matmul(work.act, w)
        steps, _, _ = _grouping(w, n, m, int(spec.cols))
        # A group needing s steps is issued as s selector passes of n slots each.
        n_eff = min(m, max(1, int(steps.max(initial=1))) * n)
        pattern = NMPattern(n_eff, m)
        comp = compress_nm(w, pattern, axis=0)
        return nm_matmul(work.act, comp.values, nm_slot_positions(comp.indices, pattern))

    def execute_tile(
        self, work: GemmWork, arch: Any, engine_name: str, plan: TilePlan, i: int,
        act: np.ndarray, cols: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Run tile ``i`` of ``plan`` as the PEs do, counting what they issue (contract 9).

        The tile's weight block (``plan.tiles`` ``k0:k1 × n0:n1``) is compressed the way the
        selectors are fed: in every group of ``m`` reduction rows, the nonzeros of a column take
        slots ``0, 1, ...`` in order, ``n`` slots per step (dense mode: ``n`` consecutive values
        per step). The output is the product of those slots (values at their recorded positions)
        with ``act`` (activation rows of the tile, all ``K`` columns: every row of
        ``m0:m1`` or a sample of them) for the output columns ``cols`` (tile-local; default
        all). Counted over the whole tile, whatever rows and columns are multiplied as it goes: the steps
        each group occupies per column, the lock-step steps of each fold of ``C`` columns (the
        slowest column, at least 1), the multiplier-slot issues and the weight bytes; from those
        the tile's compute cycles follow (module comment).

        Returns
        -------
        (out, counts) : tuple
            The partial output of the given rows (``len(act) × (n1-n0)``) and the counted figures
            (``compute_cycles``, ``performed_macs``, ``lockstep_steps``, ``weight_bytes``).
        """
        pick = cols
        spec = arch.engine(engine_name)
        rows, cols, n, m = int(spec.rows), int(spec.cols), int(spec.n), int(spec.m)
        timing = pe_core_timing(spec)
        ii, lat = int(timing.ii), int(timing.latency)
        t = plan.tiles.iloc[int(i)]
        k0, k1, n0, n1 = int(t.k0), int(t.k1), int(t.n0), int(t.n1)
        tm = int(t.m1) - int(t.m0)
        w = np.asarray(work.weight)[k0:k1, n0:n1]
        tk, tn = w.shape
        sel = np.arange(tn) if pick is None else np.asarray(pick, dtype=np.int64)
        eb = work.elem_bytes
        nfold = -(-tn // cols)
        fcols = np.minimum(cols, tn - np.arange(nfold) * cols)
        if plan.notes.get("mode") == "dense":
            kf = np.full(nfold, -(-tk // n), dtype=np.int64)
            out = exact_matmul(act[:, k0:k1], w[:, sel])
            wbytes = tk * tn * eb
        else:
            g = -(-tk // m)
            vals, pos, cnt = _select_slots(w, m, sel)  # what the selectors are fed
            steps = -(-cnt // n)  # steps: occupied groups of n slots
            pad = np.zeros((g, nfold * cols), dtype=np.int64)
            pad[:, :tn] = steps
            lock = np.maximum(pad.reshape(g, nfold, cols).max(axis=2), 1)
            kf = lock.sum(axis=0)
            glen = np.minimum(m, tk - np.arange(g) * m)[:, None]
            used = np.minimum(np.maximum(steps, 1) * n, glen)
            nslots = int(used.sum())
            idx_bits = (m - 1).bit_length()
            wbytes = nslots * eb + -(-(nslots * idx_bits) // 8)
            # the selectors gather each slot's activation by its index
            out = nm_matmul(act[:, k0:k1], vals, pos)
        if work.dataflow == "os":  # blocks of R rows per column fold (as the plan, the RTL)
            stream = int(os_stream_cycles(kf, -(-tm // rows), rows, ii))
            fill = array_os_overhead_cycles(rows, cols, 0)
        else:  # the folds executed back to back; the last costs its rows (as the plan, the RTL)
            fold = max(tm * ii, rows)
            stream = int((-(-kf // rows)).sum()) * fold - (fold - tm * ii)
            fill = array_overhead_cycles(rows, cols, 0)
        counts = {
            "compute_cycles": stream + fill + lat,
            "performed_macs": tm * int((kf * fcols).sum()) * n,
            "lockstep_steps": int(kf.sum()),
            "weight_bytes": int(wbytes),
        }
        return out, counts
