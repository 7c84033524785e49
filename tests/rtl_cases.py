"""Test cases, cycle records and checks shared by every verification level of the sparse MAC core."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from rtl.golden import (
    GroupStream,
    MacParams,
    concat_streams,
    golden_mac,
    pack_input,
    random_stream,
    unpack_output,
)
from rtl.timing import core_timing

__all__ = [
    "CONFIGS",
    "Case",
    "Record",
    "build_cases",
    "check_record",
    "MacCoreSuite",
    "simulate_amaranth",
    "dot_product_timestamps",
    "dot_lengths",
    "measured_core_cycles",
    "measured_core_schedule",
    "predict_out_cycles",
    "random_gaps",
    "random_ready",
    "shuffled_ready",
    "cases_to_json",
    "cases_from_json",
    "record_to_json",
    "record_from_json",
]

#: Configurations every level runs: (name, params). Covers 1:4, 2:4, 2:8, 4:8, 1:16 and dense
#: (N = M), several lanes, odd widths and accumulators narrow enough to wrap.
CONFIGS: dict[str, MacParams] = {
    "1of4_l2": MacParams(n=1, m=4, lanes=2, act_width=8, weight_width=8, acc_width=32),
    "2of4_l3_acc12": MacParams(n=2, m=4, lanes=3, act_width=8, weight_width=8, acc_width=12),
    "2of8_l4": MacParams(n=2, m=8, lanes=4, act_width=8, weight_width=8, acc_width=32),
    "4of8_l2_w5_acc20": MacParams(n=4, m=8, lanes=2, act_width=7, weight_width=5, acc_width=20),
    "1of16_l1_16b": MacParams(n=1, m=16, lanes=1, act_width=16, weight_width=16, acc_width=48),
    "dense4_l2_min": MacParams(n=4, m=4, lanes=2, act_width=2, weight_width=2, acc_width=8),
}

#: Cycles the reset is held before each phase.
RESET_CYCLES = 2


@dataclass
class Case:
    """One stimulus for the core, replayed identically at every level.

    Attributes
    ----------
    name : str
    params : MacParams
    phases : list of GroupStream
        The core is reset before each phase; a phase other than the last is cut by the next
        reset right after its last group transfers (its undelivered results are dropped).
    gaps : list of numpy.ndarray
        Per phase and group ``g``: idle cycles the source waits after group ``g`` transfers
        before it offers group ``g + 1`` (the last entry is unused; group 0 is offered in cycle
        0). This is the ``input_gaps`` of :func:`hwsim.engines.pe_array.predict_core_cycles`,
        so a case's gaps go to the SimPy model's prediction unchanged.
    ready : numpy.ndarray
        ``o.ready`` in cycle ``c`` of a phase is ``ready[c % len(ready)]``: the ``out_ready``
        of :func:`hwsim.engines.pe_array.predict_core_schedule`, unchanged.
    check_timing : bool
        Stream without pauses or back-pressure: assert II = 1 from the first cycle after reset
        and ``o.valid`` exactly ``latency`` cycles after each ``last`` group.
    """

    name: str
    params: MacParams
    phases: list[GroupStream]
    gaps: list[np.ndarray]
    ready: np.ndarray
    check_timing: bool = False

    @property
    def n_groups(self) -> int:
        return sum(len(s) for s in self.phases)


@dataclass
class Record:
    """What a level observed for one :class:`Case`, per phase.

    Cycles count from 0, the first cycle after the phase's reset (the first clock period with
    ``rst`` low); "transfer in cycle ``c``" means valid and ready were both high in cycle ``c``
    (so the rising edge ending ``c`` moves data). Untimed levels leave the cycle lists as
    ``None``.

    Attributes
    ----------
    outputs : list of numpy.ndarray
        ``(results, lanes)`` signed values delivered on ``o``.
    in_cycles, out_cycles : list of list of int, or None
        Transfer cycle of every input group / every output result.
    stall_cycles : list of list of int, or None
        Cycles with ``i.valid`` high and ``i.ready`` low.
    valid_cycles : list of list of int, or None
        Cycle in which ``o.valid`` is first high with each result (equal to its transfer cycle
        when ``o.ready`` is high).
    """

    outputs: list[np.ndarray]
    in_cycles: list[list[int]] | None = None
    out_cycles: list[list[int]] | None = None
    stall_cycles: list[list[int]] | None = None
    valid_cycles: list[list[int]] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def timed(self) -> bool:
        return self.in_cycles is not None


# -- stimulus ------------------------------------------------------------------------------------
def random_gaps(n_groups: int, seed: int, p_pause: float = 0.3, max_gap: int = 4) -> np.ndarray:
    """Idle cycles after each group: 0 with probability ``1 - p_pause``, else 1..max_gap."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(1, max_gap + 1, size=n_groups)
    gaps[rng.random(n_groups) >= p_pause] = 0
    return gaps.astype(np.int64)


def random_ready(seed: int, length: int = 509, mean_on: float = 6.0, mean_off: float = 4.0,
                 long_off_every: int = 5, long_off: int = 24) -> np.ndarray:
    """A seeded ``o.ready`` pattern of on/off runs, with an occasional long stall that fills the
    output buffer (so ``i.ready`` has to drop)."""
    rng = np.random.default_rng(seed)
    out: list[bool] = []
    run = 0
    while len(out) < length:
        on = int(rng.geometric(1 / mean_on))
        off = long_off if run % long_off_every == long_off_every - 1 else int(
            rng.geometric(1 / mean_off))
        out += [True] * on + [False] * off
        run += 1
    return np.array(out[:length], dtype=bool)


def shuffled_ready(seed: int, p_ready: float, length: int = 97) -> np.ndarray:
    """A seeded cyclic ``o.ready`` pattern high in exactly ``round(p_ready * length)`` (at least
    one) of its ``length`` cycles, in random order."""
    rng = np.random.default_rng(seed)
    out = np.zeros(length, dtype=bool)
    out[: max(1, round(p_ready * length))] = True
    return rng.permutation(out)


def _extreme_stream(p: MacParams, n_groups: int, seed: int) -> GroupStream:
    """Most-negative operands everywhere, long dot products (forces the accumulator to wrap)."""
    s = random_stream(p, n_groups, seed, dot_len=(8, 40), indices="any", extremes=1.0,
                      p_continue=0.2)
    s.act[:, :] = -(1 << (p.act_width - 1))
    s.wval[: n_groups // 2] = -(1 << (p.weight_width - 1))
    return s


def build_cases(params: MacParams, n_random: int, seed: int = 1) -> list[Case]:
    """The cases of one configuration; ``n_random`` sets the size of the long random case.

    Parameters
    ----------
    params : MacParams
    n_random : int
        Groups in the random case (the other cases are short and fixed).
    seed : int

    Returns
    -------
    list of Case
        ``random``, ``timing``, ``single``, ``extremes``, ``dup_idx``, ``dense`` and ``reset``.
    """
    p = params
    idx = "dense" if p.n == p.m else "nm"
    no_gaps = np.zeros  # readability below
    always = np.ones(1, dtype=bool)
    cases = []

    s = random_stream(p, n_random, seed, dot_len=(1, 6), indices=idx)
    cases.append(Case("random", p, [s], [random_gaps(len(s), seed + 1)],
                      random_ready(seed + 2)))

    # single-group dot products back to back are the worst case for the output buffer at II = 1
    s = concat_streams(random_stream(p, 32, seed + 10, dot_len=(1, 1), indices=idx),
                       random_stream(p, 48, seed + 11, dot_len=(1, 5), indices=idx))
    cases.append(Case("timing", p, [s], [no_gaps(len(s), dtype=np.int64)], always,
                      check_timing=True))

    s = random_stream(p, 48, seed + 20, dot_len=(1, 1), indices=idx, extremes=0.3)
    cases.append(Case("single", p, [s], [no_gaps(len(s), dtype=np.int64)],
                      random_ready(seed + 21, mean_on=2.0, mean_off=5.0)))

    s = _extreme_stream(p, 96, seed + 30)
    cases.append(Case("extremes", p, [s], [random_gaps(len(s), seed + 31, p_pause=0.1)],
                      random_ready(seed + 32, mean_on=10.0, mean_off=2.0)))

    s = random_stream(p, 96, seed + 40, dot_len=(1, 4), indices="any", extremes=0.2)
    cases.append(Case("dup_idx", p, [s], [random_gaps(len(s), seed + 41)],
                      random_ready(seed + 42)))

    s = random_stream(p, 64, seed + 50, dot_len=(1, 4), indices="dense")
    cases.append(Case("dense", p, [s], [random_gaps(len(s), seed + 51, p_pause=0.2)],
                      random_ready(seed + 52)))

    # Reset with a result in the pipeline and others buffered: phase A ends with ``last`` and
    # is cut right after; phase B starts without ``first`` to show the reset cleared the sums.
    a = random_stream(p, 40, seed + 60, dot_len=(1, 3), indices=idx)
    b = random_stream(p, 60, seed + 61, dot_len=(1, 5), indices=idx)
    b.first[0] = False
    cases.append(Case("reset", p, [a, b],
                      [no_gaps(len(a), dtype=np.int64), random_gaps(len(b), seed + 62)],
                      random_ready(seed + 63, mean_on=1.5, mean_off=3.0)))
    return cases


# -- checks --------------------------------------------------------------------------------------
def predict_out_cycles(last_in: list[int], ready: np.ndarray, latency: int) -> list[int]:
    """Output transfer cycles of an in-order, first-word-fall-through result buffer.

    Result ``k`` becomes valid at ``max(last_in[k] + latency, out[k-1] + 1)`` and transfers on
    the first cycle from then on where ``ready`` is high.
    """
    out: list[int] = []
    for k, t in enumerate(last_in):
        c = t + latency if k == 0 else max(t + latency, out[-1] + 1)
        while not ready[c % len(ready)]:
            c += 1
        out.append(c)
    return out


def dot_lengths(stream: GroupStream) -> list[int]:
    """Groups of each dot product (result) of ``stream``, in order: the runs ending at ``last``."""
    ends = np.flatnonzero(np.asarray(stream.last, dtype=bool))
    return np.diff(np.concatenate(([-1], ends))).astype(int).tolist()


def measured_core_cycles(case: Case, record: Record, phase: int = 0) -> list[tuple[int, int]]:
    """``(cycle of the last input transfer, first cycle of o.valid)`` per delivered result.

    The measured counterpart of :func:`hwsim.engines.pe_array.predict_core_cycles`, in the same
    cycle numbering (see :class:`Record`).
    """
    stream = case.phases[phase]
    last_in = [c for c, is_last in zip(record.in_cycles[phase], stream.last, strict=False)
               if is_last]
    return list(zip(last_in, record.valid_cycles[phase], strict=False))


def measured_core_schedule(case: Case, record: Record, phase: int = 0
                           ) -> list[tuple[tuple[int, ...], int, int]]:
    """``(group transfer cycles, first o.valid cycle, o transfer cycle)`` per delivered result.

    The measured counterpart of :func:`hwsim.engines.pe_array.predict_core_schedule` (whose
    ``CoreDotSchedule`` records compare equal to these tuples), in the cycle numbering of
    :class:`Record`.
    """
    ends = np.flatnonzero(np.asarray(case.phases[phase].last, dtype=bool)) + 1
    starts = np.concatenate(([0], ends[:-1]))
    in_c = record.in_cycles[phase]
    groups = [tuple(in_c[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    return list(zip(groups, record.valid_cycles[phase], record.out_cycles[phase], strict=False))


def dot_product_timestamps(case: Case, record: Record, phase: int = 0) -> list[tuple[int, int]]:
    """``(cycle of the last input transfer, cycle of the output transfer)`` per dot product.

    Parameters
    ----------
    case : Case
    record : Record
        A timed record (Amaranth or cocotb level).
    phase : int

    Returns
    -------
    list of (int, int)
        Only dot products whose result was delivered.
    """
    stream = case.phases[phase]
    last_in = [c for c, is_last in zip(record.in_cycles[phase], stream.last, strict=True) if is_last]
    return list(zip(last_in, record.out_cycles[phase], strict=False))


def _in_flight(c: int, last_in: list[int], out_cycles: list[int]) -> int:
    return sum(t < c for t in last_in) - sum(t < c for t in out_cycles)


def check_record(case: Case, record: Record) -> list[str]:
    """Compare a level's record with the golden model and the timing contract.

    Returns
    -------
    list of str
        Problems found (empty when the record is right).
    """
    p = case.params
    timing = core_timing(**p.as_dict())
    errors: list[str] = []

    def err(phase: int, msg: str) -> None:
        errors.append(f"{case.name}[phase {phase}]: {msg}")

    if len(record.outputs) != len(case.phases):
        return [f"{case.name}: {len(record.outputs)} phases recorded, {len(case.phases)} run"]
    for ph, stream in enumerate(case.phases):
        expected = golden_mac(p, stream)
        got = np.asarray(record.outputs[ph], dtype=np.int64).reshape(-1, p.lanes)
        final = ph == len(case.phases) - 1
        if final and len(got) != len(expected):
            err(ph, f"{len(got)} results delivered, {len(expected)} expected")
        if len(got) > len(expected):
            got = got[: len(expected)]
        bad = np.flatnonzero(np.any(got != expected[: len(got)], axis=1))
        if bad.size:
            k = int(bad[0])
            err(ph, f"{bad.size} wrong results; first is #{k}: got {got[k].tolist()}, "
                    f"expected {expected[k].tolist()}")
        if not record.timed:
            continue
        in_c, out_c = record.in_cycles[ph], record.out_cycles[ph]
        stalls = record.stall_cycles[ph]
        if len(in_c) != len(stream):
            err(ph, f"{len(in_c)} of {len(stream)} groups accepted")
            continue
        gaps = case.gaps[ph]
        earliest = [0] + [in_c[g - 1] + 1 + int(gaps[g - 1]) for g in range(1, len(in_c))]
        if any(c < e for c, e in zip(in_c, earliest, strict=True)):
            err(ph, "a group transferred before the source offered it")
        last_in = [c for c, is_last in zip(in_c, stream.last, strict=True) if is_last]
        if not final and stream.last[-1] and len(got) >= len(expected):
            err(ph, "the result in flight at reset was delivered instead of dropped")
        want_out = predict_out_cycles(last_in, case.ready, timing.latency)
        n_cmp = min(len(out_c), len(want_out))
        if out_c[:n_cmp] != want_out[:n_cmp]:
            k = next(i for i in range(n_cmp) if out_c[i] != want_out[i])
            err(ph, f"result #{k} transferred in cycle {out_c[k]}, expected cycle {want_out[k]} "
                    f"(last group in cycle {last_in[k]}, latency {timing.latency})")
        valid_c = record.valid_cycles[ph] if record.valid_cycles is not None else None
        if valid_c is not None:
            # first-word fall-through: result k shows latency cycles after its last group, or
            # the cycle after result k - 1 left, whichever is later
            want_valid = [t + timing.latency if k == 0 else max(t + timing.latency,
                                                                 out_c[k - 1] + 1)
                          for k, t in enumerate(last_in[: len(out_c)])]
            if len(valid_c) < len(out_c) or valid_c[: len(out_c)] != want_valid:
                err(ph, f"o.valid first high in cycles {valid_c[:8]}..., expected "
                        f"{want_valid[:8]}...")
        # i.ready low exactly when output_buffer_depth results are in flight
        depth = timing.output_buffer_depth
        for c in stalls:
            if _in_flight(c, last_in, out_c) != depth:
                err(ph, f"i.ready low in cycle {c} with only "
                        f"{_in_flight(c, last_in, out_c)} of {depth} results in flight")
                break
        for c in in_c:
            if _in_flight(c, last_in, out_c) >= depth:
                err(ph, f"group accepted in cycle {c} with a full output buffer")
                break
        if case.check_timing:
            if in_c != list(range(len(stream))):
                err(ph, f"II is not {timing.ii}: input transfers in cycles {in_c[:8]}...")
            if out_c != [t + timing.latency for t in last_in[: len(out_c)]]:
                err(ph, f"latency is not {timing.latency}")
    return errors


# -- the suite every level inherits --------------------------------------------------------------
class MacCoreSuite:
    """Base class of the per-level test classes (pymtl3 style): the same cases at every level.

    Subclasses set ``n_random`` (groups in the long random case per configuration) and
    implement :meth:`run`, or :meth:`run_cases` to run all cases of a configuration at once.
    """

    n_random = 200

    def run(self, params: MacParams, case: Case) -> Record:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_cases(self, params: MacParams, cases: list[Case], tmp_path_factory) -> list[Record]:
        return [self.run(params, case) for case in cases]

    @pytest.mark.parametrize("config", list(CONFIGS))
    def test_cases(self, config, tmp_path_factory):
        params = CONFIGS[config]
        cases = build_cases(params, self.n_random)
        records = self.run_cases(params, cases, tmp_path_factory)
        errors = []
        for case, record in zip(cases, records, strict=True):
            errors += check_record(case, record)
        assert not errors, "\n".join(errors)


# -- Amaranth simulation (also used by the SimPy cross-check) ------------------------------------
def simulate_amaranth(case: Case, *, vcd: str | None = None) -> Record:
    """Run ``case`` on :class:`rtl.sparse_mac.SparseMAC` in Amaranth's simulator.

    Parameters
    ----------
    case : Case
    vcd : str, optional
        Write waves to this file.

    Returns
    -------
    Record
        Outputs and transfer/stall cycles per phase.
    """
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator

    from rtl.sparse_mac import SparseMAC

    p = case.params
    dut = SparseMAC(**p.as_dict())
    top = Module()
    top.domains.sync = cd = ClockDomain("sync")
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    rec = Record(outputs=[], in_cycles=[], out_cycles=[], stall_cycles=[], valid_cycles=[])
    i_payload, o_payload = dut.i.payload.as_value(), dut.o.payload.as_value()
    timing = core_timing(**p.as_dict())
    drain = timing.latency + timing.output_buffer_depth + 4

    async def bench(ctx):
        for ph, stream in enumerate(case.phases):
            final = ph == len(case.phases) - 1
            words = [pack_input(p, grp) for grp in stream]
            gaps = case.gaps[ph]
            ctx.set(cd.rst, 1)
            ctx.set(dut.i.valid, 0)
            ctx.set(dut.o.ready, 0)
            for _ in range(RESET_CYCLES):
                await ctx.tick()
            ctx.set(cd.rst, 0)
            outs, in_c, out_c, stalls, valid_c = [], [], [], [], []
            g, wait, c, extra, held = 0, 0, 0, 0, False
            limit = 40 * len(stream) + 4 * len(case.ready) + 100
            while True:
                if g == len(stream):
                    if not final:
                        break
                    if len(outs) >= stream.n_results:
                        extra += 1
                        if extra > drain:
                            break
                if c > limit:
                    break
                offering = g < len(stream) and wait == 0
                ctx.set(dut.i.valid, offering)
                if offering:
                    ctx.set(i_payload, words[g])
                ready = bool(case.ready[c % len(case.ready)]) or extra > 0
                ctx.set(dut.o.ready, ready)
                if offering:
                    if ctx.get(dut.i.ready):
                        in_c.append(c)
                        wait = int(gaps[g])
                        g += 1
                    else:
                        stalls.append(c)
                elif wait:
                    wait -= 1
                valid = bool(ctx.get(dut.o.valid))
                if valid and not held:
                    valid_c.append(c)
                held = valid and not ready
                if ready and valid:
                    outs.append(ctx.get(o_payload))
                    out_c.append(c)
                await ctx.tick()
                c += 1
            rec.outputs.append(np.array([unpack_output(p, w) for w in outs],
                                        dtype=np.int64).reshape(-1, p.lanes))
            rec.in_cycles.append(in_c)
            rec.out_cycles.append(out_c)
            rec.stall_cycles.append(stalls)
            rec.valid_cycles.append(valid_c)

    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return rec


# -- JSON transport to and from the cocotb benches ------------------------------------------------
def _stream_to_dict(s: GroupStream) -> dict:
    return {k: getattr(s, k).astype(np.int64).tolist()
            for k in ("act", "wval", "widx", "first", "last")}


def cases_to_json(cases: list[Case], path: str | Path) -> None:
    """Write cases for a cocotb bench."""
    data = [{
        "name": c.name,
        "params": c.params.as_dict(),
        "phases": [_stream_to_dict(s) for s in c.phases],
        "gaps": [g.astype(np.int64).tolist() for g in c.gaps],
        "ready": c.ready.astype(int).tolist(),
        "check_timing": c.check_timing,
    } for c in cases]
    Path(path).write_text(json.dumps(data))


def cases_from_json(path: str | Path) -> list[Case]:
    """Read cases written by :func:`cases_to_json`."""
    out = []
    for d in json.loads(Path(path).read_text()):
        phases = [GroupStream(ph["act"], ph["wval"], ph["widx"], ph["first"], ph["last"])
                  for ph in d["phases"]]
        out.append(Case(d["name"], MacParams(**d["params"]), phases,
                        [np.array(g, dtype=np.int64) for g in d["gaps"]],
                        np.array(d["ready"], dtype=bool), d["check_timing"]))
    return out


def record_to_json(record: Record, path: str | Path) -> None:
    """Write a record (from a cocotb bench)."""
    Path(path).write_text(json.dumps({
        "outputs": [np.asarray(o, dtype=np.int64).tolist() for o in record.outputs],
        "in_cycles": record.in_cycles,
        "out_cycles": record.out_cycles,
        "stall_cycles": record.stall_cycles,
        "valid_cycles": record.valid_cycles,
        "meta": record.meta,
    }))


def record_from_json(path: str | Path, lanes: int) -> Record:
    """Read a record written by :func:`record_to_json`."""
    d = json.loads(Path(path).read_text())
    return Record(
        outputs=[np.array(o, dtype=np.int64).reshape(-1, lanes) for o in d["outputs"]],
        in_cycles=d["in_cycles"], out_cycles=d["out_cycles"], stall_cycles=d["stall_cycles"],
        valid_cycles=d.get("valid_cycles"), meta=d.get("meta", {}),
    )
