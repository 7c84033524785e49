"""Timing contracts and parameter validation of the N:M sparse MAC core and PE array (pure Python)."""

from __future__ import annotations

import operator
from dataclasses import dataclass

__all__ = [
    "CoreTiming", "core_timing", "validate_core_params", "idx_width_for",
    "ArrayTiming", "array_timing", "validate_array_params", "array_fold_starts",
    "array_tile_cycles", "ArraySchedule", "predict_array_schedule", "array_preload_cycles",
    "array_skew_cycles", "array_overhead_cycles", "ArrayOSTiming", "array_os_timing",
    "array_os_drain_cycles", "array_os_skew_cycles", "array_os_overhead_cycles",
    "array_os_block_ends", "array_os_tile_cycles", "predict_array_os_schedule",
    "ARRAY_DATAFLOWS", "validate_array_dataflow",
]

#: Pipeline registers between an accepted group and the updated accumulator: index mux into the
#: multiplier input registers, product register, accumulator register.
_PIPELINE_STAGES = 3


@dataclass(frozen=True)
class CoreTiming:
    """Cycle-level timing of one :class:`rtl.sparse_mac.SparseMAC` configuration.

    Attributes
    ----------
    latency : int
        ``L``: if the ``last`` group of a dot product transfers on the input in cycle ``t``,
        ``o__valid`` is first high in cycle ``t + L`` (when the output buffer is not holding
        older results).
    ii : int
        Initiation interval: cycles between accepted groups with the output never back-pressured.
    output_buffer_depth : int
        Results the core can hold between the input and the output port: ``i__ready`` is low
        exactly when this many results (accepted ``last`` groups not yet delivered) are in flight.
    """

    latency: int
    ii: int
    output_buffer_depth: int


def _check_int(name: str, value, lo: int, hi: int, extra: str = "") -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer in {lo}..{hi}{extra}, not {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer in {lo}..{hi}{extra}, not {value!r}"
        ) from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}{extra}, not {value}")
    return value


def validate_core_params(
    *, n, m, lanes, act_width, weight_width, acc_width
) -> dict[str, int]:
    """Check the parameters of the sparse MAC core; return them as plain ``int``.

    Parameters
    ----------
    n : int
        Non-zeros per group, ``1..m``.
    m : int
        Group size, a power of two in ``2..16``.
    lanes : int
        Output lanes (weight rows) sharing the activations, ``1..64``.
    act_width, weight_width : int
        Signed operand widths in bits, ``2..16``.
    acc_width : int
        Accumulator width in bits, ``8..48``; sums wrap modulo ``2**acc_width``.

    Returns
    -------
    dict
        ``{"n", "m", "lanes", "act_width", "weight_width", "acc_width"}`` as Python ints.

    Raises
    ------
    TypeError
        A parameter is not an integer (``bool`` is rejected too).
    ValueError
        A parameter is out of range, ``m`` is not a power of two, or ``n > m``.
    """
    m = _check_int("m", m, 2, 16, extra=" and a power of two")
    if m & (m - 1):
        raise ValueError(f"m must be an integer in 2..16 and a power of two, not {m}")
    n = _check_int("n", n, 1, m)
    lanes = _check_int("lanes", lanes, 1, 64)
    act_width = _check_int("act_width", act_width, 2, 16)
    weight_width = _check_int("weight_width", weight_width, 2, 16)
    acc_width = _check_int("acc_width", acc_width, 8, 48)
    return dict(
        n=n, m=m, lanes=lanes, act_width=act_width, weight_width=weight_width,
        acc_width=acc_width,
    )


def idx_width_for(m: int) -> int:
    """Bits of one activation index: ``max(1, log2(m))``."""
    return max(1, (int(m) - 1).bit_length())


def core_timing(*, n, m, lanes, act_width, weight_width, acc_width) -> CoreTiming:
    """Latency, initiation interval and output buffering of one core configuration.

    This is the single source of timing: :class:`rtl.sparse_mac.SparseMAC` returns it from its
    ``latency``/``ii`` properties and sizes its output buffer with it, and the SimPy model
    reads it. The co-simulation tests measure the generated Verilog against it.

    Parameters
    ----------
    n, m, lanes, act_width, weight_width, acc_width : int
        As in :func:`validate_core_params`.

    Returns
    -------
    CoreTiming

    Raises
    ------
    TypeError, ValueError
        As in :func:`validate_core_params`.
    """
    validate_core_params(
        n=n, m=m, lanes=lanes, act_width=act_width, weight_width=weight_width,
        acc_width=acc_width,
    )
    latency = _PIPELINE_STAGES
    # Results in flight with the output never stalled: one per pipeline stage (the ``last``
    # group in each stage) plus the one being delivered; one more slot keeps II = 1.
    return CoreTiming(latency=latency, ii=1, output_buffer_depth=latency + 1)


# -- the N:M PE array (rtl/pe_array.py, top module nm_pe_array) ---------------------------------


@dataclass(frozen=True)
class ArrayTiming:
    """Cycle-level timing of one :class:`rtl.pe_array.NMPeArray` configuration (WS dataflow).

    Attributes
    ----------
    rows, cols : int
        ``R`` and ``C``.
    latency : int
        ``L``: pipeline latency of one PE (the core's, :func:`core_timing`).
    preload : int
        Weight-row transfers per fold (``R``): a fold's activations are accepted only once all
        its rows sit in the PE weight registers, and the next fold's rows (the other bank of
        the double-buffered registers) load while it streams.
    skew : int
        ``(R - 1) + (C - 1)``: activations enter PE row ``r`` ``r`` cycles late and move one
        column per cycle; partial sums move one row per cycle; the outputs are deskewed.
    result_latency : int
        ``skew + L``: if activation row ``i`` transfers in cycle ``t``, its result row is first
        valid in ``t + result_latency`` (output buffer not holding older results).
    output_buffer_depth : int
        Results in flight at which ``a__ready`` drops: ``result_latency + 1`` keeps II = 1.
    """

    rows: int
    cols: int
    latency: int
    preload: int
    skew: int
    result_latency: int
    output_buffer_depth: int


def array_preload_cycles(rows: int) -> int:
    """Weight-row transfers before a tile's first activation row: ``R`` (one PE row each)."""
    return int(rows)


def array_skew_cycles(rows: int, cols: int) -> int:
    """Input skew plus output deskew of the array: ``(R - 1) + (C - 1)``."""
    return (int(rows) - 1) + (int(cols) - 1)


def array_overhead_cycles(rows: int, cols: int, latency: int) -> int:
    """Per-tile fill and drain: preload ``R`` + skew ``(R - 1) + (C - 1)`` + PE latency ``L``.

    With :func:`array_tile_cycles`, a tile of folds ``len_0..len_{F-1}`` (no pauses) takes
    ``sum_{f < F-1} max(len_f, R) + len_{F-1} + array_overhead_cycles(R, C, L)`` cycles.
    """
    return array_preload_cycles(rows) + array_skew_cycles(rows, cols) + int(latency)


def validate_array_params(*, rows, cols, n, m, act_width, weight_width, acc_width):
    """Check the parameters of the PE array; return them as plain ``int``.

    Parameters
    ----------
    rows, cols : int
        PE rows (reduction steps of a fold) and columns (outputs), ``1..64``.
    n, m, act_width, weight_width, acc_width : int
        As :func:`validate_core_params` (one PE is one lane of the core).

    Returns
    -------
    dict

    Raises
    ------
    TypeError, ValueError
        A parameter is not an integer or out of range.
    """
    rows = _check_int("rows", rows, 1, 64)
    cols = _check_int("cols", cols, 1, 64)
    core = validate_core_params(n=n, m=m, lanes=1, act_width=act_width,
                                weight_width=weight_width, acc_width=acc_width)
    del core["lanes"]
    return dict(rows=rows, cols=cols, **core)


#: Dataflows of the RTL array: weight-stationary (:class:`rtl.pe_array.NMPeArray`) and
#: output-stationary (:class:`rtl.pe_array_os.NMPeArrayOS`).
ARRAY_DATAFLOWS = ("ws", "os")


def validate_array_dataflow(dataflow) -> str:
    """``dataflow`` if it is one of :data:`ARRAY_DATAFLOWS`; ``ValueError`` otherwise."""
    if not isinstance(dataflow, str) or dataflow not in ARRAY_DATAFLOWS:
        raise ValueError(f"dataflow must be one of {', '.join(ARRAY_DATAFLOWS)}, "
                         f"not {dataflow!r}")
    return dataflow


def _array_pe(**params) -> tuple[dict[str, int], CoreTiming]:
    """The validated array parameters and the timing of one PE (one lane of the core)."""
    p = validate_array_params(**params)
    return p, core_timing(lanes=1, **{k: v for k, v in p.items() if k not in ("rows", "cols")})


def array_timing(*, rows, cols, n, m, act_width, weight_width, acc_width) -> ArrayTiming:
    """Timing terms of one array configuration: the single source the SimPy engine reads.

    Parameters
    ----------
    rows, cols, n, m, act_width, weight_width, acc_width : int
        As :func:`validate_array_params`.

    Returns
    -------
    ArrayTiming
    """
    p, core = _array_pe(rows=rows, cols=cols, n=n, m=m, act_width=act_width,
                        weight_width=weight_width, acc_width=acc_width)
    skew = array_skew_cycles(p["rows"], p["cols"])
    res = skew + core.latency
    return ArrayTiming(rows=p["rows"], cols=p["cols"], latency=core.latency,
                       preload=array_preload_cycles(p["rows"]), skew=skew, result_latency=res,
                       output_buffer_depth=res + 1)


def array_fold_starts(fold_lengths, timing: ArrayTiming) -> list[int]:
    """Cycle in which each fold's first activation row transfers, with no pauses.

    Closed form (weights and activations offered every cycle from cycle 0, ``o__ready``
    high): the first fold starts after its ``preload`` weight rows, ``s_0 = R``; then
    ``s_{f+1} = s_f + max(len_f, R)`` -- the fold streams ``len_f`` activation rows while the
    next fold's ``R`` weight rows load into the other register bank.

    Parameters
    ----------
    fold_lengths : sequence of int
        Activation rows of each fold (``>= 1``).
    timing : ArrayTiming

    Returns
    -------
    list of int
    """
    starts, s = [], timing.preload
    for length in fold_lengths:
        starts.append(s)
        s += max(int(length), timing.preload)
    return starts


def array_tile_cycles(fold_lengths, timing: ArrayTiming) -> int:
    """Cycles of one tile (cycle 0 to its last result transfer, inclusive), no pauses.

    ``R + sum_{f < F-1} max(len_f, R) + len_{F-1} + (R - 1) + (C - 1) + L``: preload, the
    folds back to back (each at least ``R``, the next fold's preload), the last fold's rows,
    skew and the PE pipeline. The result of activation row ``i`` of fold ``f`` transfers in
    ``array_fold_starts(...)[f] + i + result_latency``.

    Parameters
    ----------
    fold_lengths : sequence of int
        Activation rows of each fold (``>= 1``; at least one fold).
    timing : ArrayTiming

    Returns
    -------
    int
    """
    lengths = _lengths(fold_lengths, "fold_lengths")
    return array_fold_starts(lengths, timing)[-1] + lengths[-1] + timing.result_latency


@dataclass(frozen=True)
class ArraySchedule:
    """Predicted transfer cycles of one tile on the array (see :func:`predict_array_schedule`).

    Attributes
    ----------
    w_cycles, a_cycles : tuple of int
        Transfer cycle of every weight row and every activation row, in stream order.
    out_valid, out_transfer : tuple of int
        Per result (one per activation row): first cycle ``o__valid`` is high with it, and the
        cycle it transfers.
    """

    w_cycles: tuple[int, ...]
    a_cycles: tuple[int, ...]
    out_valid: tuple[int, ...]
    out_transfer: tuple[int, ...]


def _lengths(lengths, what: str = "block_lengths") -> list[int]:
    out = [int(x) for x in lengths]
    if not out or min(out) < 1:
        raise ValueError(f"{what} must be one or more integers >= 1")
    return out


def _offers(prev: int | None, gap: int) -> int:
    return 0 if prev is None else prev + 1 + gap


def predict_array_schedule(fold_lengths, timing: ArrayTiming, *, w_gaps=None, a_gaps=None,
                           out_ready=None) -> ArraySchedule:
    """Every transfer cycle of a stream of folds, with source pauses and output back-pressure.

    The recurrence the RTL implements (cycle 0 = first cycle after reset; ``R``, ``D``,
    ``T`` = ``rows``, ``output_buffer_depth``, ``result_latency`` of ``timing``). Each source
    offers its item ``k`` in cycle 0 (``k = 0``) or ``gaps[k - 1] + 1`` cycles after item
    ``k - 1`` transferred, and holds it until it transfers.

    * Weight row ``k`` (fold ``f = k // R``) transfers in the first cycle from its offer on
      that is after row ``k - 1`` and, for ``f >= 2``, after the cycle in which the last
      activation row of fold ``f - 2`` (the previous user of its register bank) transferred.
    * Activation row ``j`` of fold ``f`` transfers in the first cycle from its offer on that is
      after row ``j - 1``, after the last weight row of fold ``f``, and after the transfer of
      result ``j - D`` (``a__ready`` counts results in flight).
    * Result ``j`` is valid in ``max(a_j + T, o_{j-1} + 1)`` and transfers in the first cycle
      from then on with ``out_ready[c % len(out_ready)]`` high.

    Parameters
    ----------
    fold_lengths : sequence of int
        Activation rows per fold (``>= 1``).
    timing : ArrayTiming
    w_gaps, a_gaps : sequence of int, optional
        Idle cycles each source waits after each transfer (one per item). Default none.
    out_ready : sequence of 0/1, optional
        Cyclic ``o__ready`` pattern; default always high.

    Returns
    -------
    ArraySchedule

    Raises
    ------
    ValueError
        Bad lengths, gaps or ready pattern.
    """
    lengths = _lengths(fold_lengths, "fold_lengths")
    # a fold is ``preload`` weight-row transfers (one per PE row), then its activation rows
    rows, depth, lat = timing.preload, timing.output_buffer_depth, timing.result_latency
    n_w, n_a = rows * len(lengths), sum(lengths)
    w_gaps = [0] * n_w if w_gaps is None else [int(g) for g in w_gaps]
    a_gaps = [0] * n_a if a_gaps is None else [int(g) for g in a_gaps]
    if len(w_gaps) != n_w or len(a_gaps) != n_a or min(w_gaps + a_gaps, default=0) < 0:
        raise ValueError(f"w_gaps/a_gaps need {n_w}/{n_a} entries >= 0")
    ready = [1] if out_ready is None else [int(bool(x)) for x in out_ready]
    if not ready or not any(ready):
        raise ValueError("out_ready must be a non-empty 0/1 pattern that is high somewhere")
    w, a, valid, out = [], [], [], []
    last_a: list[int] = []  # cycle of the last activation row of each fold
    for f, length in enumerate(lengths):
        for _ in range(rows):
            k = len(w)
            t = _offers(w[-1] if w else None, w_gaps[k - 1] if k else 0)
            if f >= 2:
                t = max(t, last_a[f - 2] + 1)
            w.append(t)
        for _ in range(length):
            j = len(a)
            t = max(_offers(a[-1] if a else None, a_gaps[j - 1] if j else 0), w[-1] + 1)
            if j >= depth:
                t = max(t, out[j - depth] + 1)
            a.append(t)
            v = t + lat if not out else max(t + lat, out[-1] + 1)
            c = v
            while not ready[c % len(ready)]:
                c += 1
            valid.append(v)
            out.append(c)
        last_a.append(a[-1])
    return ArraySchedule(tuple(w), tuple(a), tuple(valid), tuple(out))


# -- the output-stationary array (rtl/pe_array_os.py, top module nm_pe_array_os) ----------------


@dataclass(frozen=True)
class ArrayOSTiming:
    """Cycle-level timing of one :class:`rtl.pe_array_os.NMPeArrayOS` configuration.

    A *block*: ``R x C`` outputs reduced in place over its steps (one ``w`` and one ``a``
    transfer each); ``t_b``: the cycle its last step enters (:func:`predict_array_os_schedule`).

    Attributes
    ----------
    rows, cols : int
        ``R`` and ``C``.
    latency : int
        ``L``: pipeline latency of one PE (the core's, :func:`core_timing`).
    drain : int
        ``R`` (:func:`array_os_drain_cycles`): a block's results leave as ``R`` rows, one per
        cycle, so consecutive blocks end at least ``R`` cycles apart.
    skew : int
        ``C - 1`` (:func:`array_os_skew_cycles`): column ``c`` of a row finishes ``c`` cycles
        after column 0; the result bus deskews the row.
    result_latency : int
        ``skew + L + 1``: row ``r`` of a block is first valid in ``t_b + r + result_latency``
        (the accumulator register is read onto the result bus, then into the output buffer).
    output_buffer_depth : int
        ``drain + result_latency`` rows: a block's last step waits while fewer than ``R`` are
        free, which never happens with ``o__ready`` high.
    """

    rows: int
    cols: int
    latency: int
    drain: int
    skew: int
    result_latency: int
    output_buffer_depth: int


def array_os_drain_cycles(rows: int) -> int:
    """Cycles a block's results take to leave, one row per cycle: ``R``."""
    return int(rows)


def array_os_skew_cycles(cols: int) -> int:
    """Skew of the columns of one result row (and its deskew): ``C - 1``."""
    return int(cols) - 1


def array_os_overhead_cycles(rows: int, cols: int, latency: int) -> int:
    """Per-tile fill and drain of the OS array: drain ``R`` + skew ``C - 1`` + PE latency ``L``.

    With :func:`array_os_tile_cycles`, a tile of blocks of ``len_0..len_{B-1}`` steps (no
    pauses) takes ``len_0 + sum_{b >= 1} max(len_b, R) + array_os_overhead_cycles(R, C, L)``.
    """
    return array_os_drain_cycles(rows) + array_os_skew_cycles(cols) + int(latency)


def array_os_timing(*, rows, cols, n, m, act_width, weight_width, acc_width) -> ArrayOSTiming:
    """Timing terms of one OS array configuration: the single source the SimPy engine reads.

    Parameters
    ----------
    rows, cols, n, m, act_width, weight_width, acc_width : int
        As :func:`validate_array_params`.

    Returns
    -------
    ArrayOSTiming
    """
    p, core = _array_pe(rows=rows, cols=cols, n=n, m=m, act_width=act_width,
                        weight_width=weight_width, acc_width=acc_width)
    drain, skew = array_os_drain_cycles(p["rows"]), array_os_skew_cycles(p["cols"])
    res = skew + core.latency + 1
    return ArrayOSTiming(rows=p["rows"], cols=p["cols"], latency=core.latency, drain=drain,
                         skew=skew, result_latency=res, output_buffer_depth=drain + res)


def array_os_block_ends(block_lengths, timing: ArrayOSTiming) -> list[int]:
    """Cycle in which each block's last step enters the array, with no pauses.

    Closed form (both sources offer a step every cycle from cycle 0, ``o__ready`` high):
    ``t_0 = len_0 - 1``, ``t_b = t_{b-1} + max(len_b, drain)`` -- the steps follow each other
    one per cycle, but a block's last step waits until the previous block's ``R`` result rows
    have had their ``drain`` cycles on the result bus.

    Parameters
    ----------
    block_lengths : sequence of int
        Steps of each block (``>= 1``).
    timing : ArrayOSTiming

    Returns
    -------
    list of int
    """
    lengths = _lengths(block_lengths)
    ends = [lengths[0] - 1]
    for length in lengths[1:]:
        ends.append(ends[-1] + max(length, timing.drain))
    return ends


def array_os_tile_cycles(block_lengths, timing: ArrayOSTiming) -> int:
    """Cycles of one OS tile (cycle 0 to its last result transfer, inclusive), no pauses.

    ``len_0 + sum_{b >= 1} max(len_b, R) + R + (C - 1) + L``: the first block's steps, every
    further block at least the drain of the one before, then the last block's drain, skew and
    PE pipeline (:func:`array_os_overhead_cycles`). Result row ``r`` of block ``b`` transfers
    in ``array_os_block_ends(...)[b] + r + result_latency``.

    Parameters
    ----------
    block_lengths : sequence of int
        Steps of each block (``>= 1``; at least one block).
    timing : ArrayOSTiming

    Returns
    -------
    int
    """
    lengths = _lengths(block_lengths)
    stream = lengths[0] + sum(max(x, timing.drain) for x in lengths[1:])
    return stream + array_os_overhead_cycles(timing.rows, timing.cols, timing.latency)


def predict_array_os_schedule(block_lengths, timing: ArrayOSTiming, *, w_gaps=None,
                              a_gaps=None, out_ready=None) -> ArraySchedule:
    """Every transfer cycle of a stream of OS blocks, with source pauses and back-pressure.

    The recurrence the RTL implements (cycle 0 = first cycle after reset; ``R``, ``D``,
    ``T``, ``P`` = ``rows``, ``output_buffer_depth``, ``result_latency``, ``drain``). Step
    ``k`` is the ``k``-th ``w`` transfer paired with the ``k``-th ``a`` transfer; each source
    offers item ``k`` in cycle 0 (``k = 0``) or ``gaps[k - 1] + 1`` cycles after item
    ``k - 1`` transferred, and holds it until it transfers.

    * ``w`` item ``k`` and ``a`` item ``k`` each transfer in the first cycle from their offer
      on that is after ``e_{k-1}``, the cycle step ``k - 1`` entered the array (each port has
      a one-item holding register; ``ready`` is low while it is full).
    * Step ``k`` enters in ``e_k = max(w_k, a_k)``; if it is the last step of block ``b``,
      also no earlier than ``t_{b-1} + P`` and than one cycle after the transfer of result
      ``R (b + 1) - D - 1`` (``R`` free rows in the output buffer). ``t_b = e_k``.
    * Result ``j = b R + r`` (row ``r`` of block ``b``) is valid in
      ``max(t_b + r + T, o_{j-1} + 1)`` and transfers in the first cycle from then on with
      ``out_ready[c % len(out_ready)]`` high.

    Parameters
    ----------
    block_lengths : sequence of int
        Steps per block (``>= 1``).
    timing : ArrayOSTiming
    w_gaps, a_gaps : sequence of int, optional
        Idle cycles each source waits after each transfer (one per step). Default none.
    out_ready : sequence of 0/1, optional
        Cyclic ``o__ready`` pattern; default always high.

    Returns
    -------
    ArraySchedule
        ``out_valid``/``out_transfer`` have ``R`` entries per block.

    Raises
    ------
    ValueError
        Bad lengths, gaps or ready pattern.
    """
    lengths = _lengths(block_lengths)
    rows, depth, lat = timing.rows, timing.output_buffer_depth, timing.result_latency
    steps = sum(lengths)
    w_gaps = [0] * steps if w_gaps is None else [int(g) for g in w_gaps]
    a_gaps = [0] * steps if a_gaps is None else [int(g) for g in a_gaps]
    if len(w_gaps) != steps or len(a_gaps) != steps or min(w_gaps + a_gaps, default=0) < 0:
        raise ValueError(f"w_gaps/a_gaps need {steps} entries >= 0")
    ready = [1] if out_ready is None else [int(bool(x)) for x in out_ready]
    if not ready or not any(ready):
        raise ValueError("out_ready must be a non-empty 0/1 pattern that is high somewhere")
    w, a, valid, out = [], [], [], []
    enter = ends = None
    for b, length in enumerate(lengths):
        for s in range(length):
            k, after = len(w), -1 if enter is None else enter + 1
            w.append(max(_offers(w[-1] if w else None, w_gaps[k - 1] if k else 0), after))
            a.append(max(_offers(a[-1] if a else None, a_gaps[k - 1] if k else 0), after))
            enter = max(w[-1], a[-1])
            if s < length - 1:
                continue
            if ends is not None:
                enter = max(enter, ends + timing.drain)
            need = rows * (b + 1) - depth
            if need > 0:
                enter = max(enter, out[need - 1] + 1)
            ends = enter
            for r in range(rows):
                valid.append(ends + r + lat if not out else max(ends + r + lat, out[-1] + 1))
                c = valid[-1]
                while not ready[c % len(ready)]:
                    c += 1
                out.append(c)
    return ArraySchedule(tuple(w), tuple(a), tuple(valid), tuple(out))
