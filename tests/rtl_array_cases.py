"""Cases, a simulator-independent stream driver/monitor and records for every level of the PE arrays (WS, OS)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rtl.array_golden import (
    ArrayParams,
    Block,
    Fold,
    golden_blocks,
    golden_folds,
    pack_act_row,
    pack_weight_row,
    random_blocks,
    random_folds,
    unpack_result,
)
from rtl.timing import (
    array_os_timing,
    array_timing,
    predict_array_os_schedule,
    predict_array_schedule,
)

#: (name, params) every level runs: the issue's configurations, odd widths, a wrapping accumulator.
ARRAY_CONFIGS: dict[str, ArrayParams] = {
    "2of8_4x4": ArrayParams(rows=4, cols=4, n=2, m=8),
    "2of4_8x8": ArrayParams(rows=8, cols=8, n=2, m=4),
    "1of4_2x8": ArrayParams(rows=2, cols=8, n=1, m=4),
    "4of8_3x5": ArrayParams(rows=3, cols=5, n=4, m=8),
    "dense4_4x4": ArrayParams(rows=4, cols=4, n=4, m=4),
    "2of4_3x2_w7_5_acc12": ArrayParams(rows=3, cols=2, n=2, m=4, act_width=7, weight_width=5,
                                       acc_width=12),
}
RESET_CYCLES = 2


@dataclass
class ArrayCase:
    """One stimulus: phases of folds (WS) or blocks (``dataflow="os"``); the array is reset
    before each phase.

    ``w_gaps``/``a_gaps``: per phase, idle cycles each source waits after each transfer (the
    ``w_gaps``/``a_gaps`` of :func:`rtl.timing.predict_array_schedule`). ``ready``: cyclic
    ``o__ready`` pattern. ``cut``: per phase, the cycle at which a non-final phase is cut by the
    next reset (mid-tile), ``None`` for the last.
    """

    name: str
    params: ArrayParams
    phases: list[list[Fold]]
    w_gaps: list[np.ndarray]
    a_gaps: list[np.ndarray]
    ready: np.ndarray
    cut: list[int | None]
    dataflow: str = "ws"

    @property
    def backpressured(self) -> bool:
        return not bool(np.all(self.ready))

    @property
    def timing(self):
        """:class:`rtl.timing.ArrayTiming` (WS) or :class:`rtl.timing.ArrayOSTiming` (OS)."""
        fn = array_os_timing if self.dataflow == "os" else array_timing
        return fn(**self.params.as_dict())

    def predict(self, phase: int = -1):
        """:func:`rtl.timing.predict_array_schedule` (or ``predict_array_os_schedule``) of one
        phase."""
        fn = predict_array_os_schedule if self.dataflow == "os" else predict_array_schedule
        return fn([len(f) for f in self.phases[phase]], self.timing,
                  w_gaps=self.w_gaps[phase], a_gaps=self.a_gaps[phase],
                  out_ready=self.ready if self.backpressured else None)

    def golden(self, phase: int) -> np.ndarray:
        """Golden results of one phase, in stream order."""
        fn = golden_blocks if self.dataflow == "os" else golden_folds
        return fn(self.params, self.phases[phase])


@dataclass
class ArrayRecord:
    """What a level observed, per phase: outputs and transfer cycles of every stream."""

    outputs: list[np.ndarray] = field(default_factory=list)
    w_cycles: list[list[int]] = field(default_factory=list)
    a_cycles: list[list[int]] = field(default_factory=list)
    out_cycles: list[list[int]] = field(default_factory=list)
    valid_cycles: list[list[int]] = field(default_factory=list)


class PhaseBench:
    """Sources, sink and monitor of one phase, independent of the simulator.

    Each cycle: :meth:`drive` gives the inputs to apply; after they settle :meth:`observe`
    takes the sampled ``w_ready``, ``a_ready``, ``o_valid`` and ``o_payload``.
    """

    def __init__(self, case: ArrayCase, phase: int):
        p = case.params
        folds = case.phases[phase]
        self.p, self.case = p, case
        # WS: R weight rows per fold; OS: one weight row per step (len of the block)
        w_rows = (lambda f: len(f)) if case.dataflow == "os" else (lambda f: p.rows)
        self.w_words = [pack_weight_row(p, f.wval[r], f.widx[r]) for f in folds
                        for r in range(w_rows(f))]
        self.a_words = [pack_act_row(p, f.act[i], i == len(f) - 1) for f in folds
                        for i in range(len(f))]
        self.results = p.rows * len(folds) if case.dataflow == "os" else len(self.a_words)
        self.w_gaps, self.a_gaps = case.w_gaps[phase], case.a_gaps[phase]
        self.wi = self.ai = self.w_wait = self.a_wait = 0
        self.held = False
        self.force_ready = False
        self.words: list[int] = []
        self.w_cycles: list[int] = []
        self.a_cycles: list[int] = []
        self.out_cycles: list[int] = []
        self.valid_cycles: list[int] = []

    def drive(self, c: int):
        """``(w_valid, w_word, a_valid, a_word, o_ready)`` for cycle ``c``."""
        self._wv = self.wi < len(self.w_words) and self.w_wait == 0
        self._av = self.ai < len(self.a_words) and self.a_wait == 0
        self._rdy = self.force_ready or bool(self.case.ready[c % len(self.case.ready)])
        return (self._wv, self.w_words[self.wi] if self._wv else 0,
                self._av, self.a_words[self.ai] if self._av else 0, self._rdy)

    def observe(self, c: int, w_ready: bool, a_ready: bool, o_valid: bool, o_word: int):
        if self._wv and w_ready:
            self.w_cycles.append(c)
            self.w_wait = int(self.w_gaps[self.wi])
            self.wi += 1
        elif not self._wv and self.w_wait:
            self.w_wait -= 1
        if self._av and a_ready:
            self.a_cycles.append(c)
            self.a_wait = int(self.a_gaps[self.ai])
            self.ai += 1
        elif not self._av and self.a_wait:
            self.a_wait -= 1
        if o_valid and not self.held:
            self.valid_cycles.append(c)
        self.held = o_valid and not self._rdy
        if o_valid and self._rdy:
            self.words.append(int(o_word))
            self.out_cycles.append(c)

    @property
    def expected(self) -> int:
        return self.results

    def finish(self, rec: ArrayRecord) -> None:
        rec.outputs.append(np.array([unpack_result(self.p, w) for w in self.words],
                                    dtype=np.int64).reshape(-1, self.p.cols))
        rec.w_cycles.append(self.w_cycles)
        rec.a_cycles.append(self.a_cycles)
        rec.out_cycles.append(self.out_cycles)
        rec.valid_cycles.append(self.valid_cycles)


def phase_limit(case: ArrayCase, phase: int) -> int:
    """Cycles a phase may take at most (a hang fails the check instead of running forever)."""
    folds = case.phases[phase]
    rows = sum(len(f) for f in folds)
    return (case.params.rows + 8) * len(folds) * 8 + 12 * rows + 4 * len(case.ready) + \
        8 * case.timing.result_latency + 100


def simulate_array_amaranth(case: ArrayCase) -> ArrayRecord:
    """Run ``case`` on :class:`rtl.pe_array.NMPeArray` (or :class:`rtl.pe_array_os.NMPeArrayOS`)
    in Amaranth's simulator."""
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator

    from rtl.pe_array import NMPeArray
    from rtl.pe_array_os import NMPeArrayOS

    dut = (NMPeArrayOS if case.dataflow == "os" else NMPeArray)(**case.params.as_dict())
    top = Module()
    top.domains.sync = cd = ClockDomain("sync")
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    rec = ArrayRecord()
    w_pl, a_pl, o_pl = (dut.w.payload.as_value(), dut.a.payload.as_value(),
                        dut.o.payload.as_value())

    async def bench(ctx):
        for ph in range(len(case.phases)):
            ctx.set(cd.rst, 1)
            ctx.set(dut.w.valid, 0)
            ctx.set(dut.a.valid, 0)
            ctx.set(dut.o.ready, 0)
            for _ in range(RESET_CYCLES):
                await ctx.tick()
            ctx.set(cd.rst, 0)

            def step(c, drive):
                wv, ww, av, aw, rdy = drive
                ctx.set(dut.w.valid, wv)
                ctx.set(w_pl, ww)
                ctx.set(dut.a.valid, av)
                ctx.set(a_pl, aw)
                ctx.set(dut.o.ready, rdy)
                out = (bool(ctx.get(dut.w.ready)), bool(ctx.get(dut.a.ready)),
                       bool(ctx.get(dut.o.valid)), ctx.get(o_pl))
                return out

            b = PhaseBench(case, ph)
            cut = case.cut[ph]
            lat = case.timing.result_latency
            limit = phase_limit(case, ph)
            c, extra = 0, 0
            while c <= limit:
                if cut is not None and c >= cut:
                    break
                if len(b.words) >= b.expected:
                    b.force_ready = True
                    extra += 1
                    if extra > lat + 4:
                        break
                b.observe(c, *step(c, b.drive(c)))
                await ctx.tick()
                c += 1
            b.finish(rec)

    sim.add_testbench(bench)
    sim.run()
    return rec


# -- cases -----------------------------------------------------------------------------------------
def random_gaps(count: int, seed: int, p_pause: float = 0.3, max_gap: int = 4) -> np.ndarray:
    """Idle cycles after each transfer: 0 with probability ``1 - p_pause``, else 1..max_gap."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(1, max_gap + 1, size=count)
    gaps[rng.random(count) >= p_pause] = 0
    return gaps.astype(np.int64)


def shuffled_ready(seed: int, p_ready: float, length: int = 53) -> np.ndarray:
    """Cyclic ``o__ready`` pattern high in ``round(p_ready * length)`` (>= 1) random cycles."""
    rng = np.random.default_rng(seed)
    out = np.zeros(length, dtype=bool)
    out[: max(1, round(p_ready * length))] = True
    return rng.permutation(out)


def _idx_mode(p: ArrayParams) -> str:
    return "dense" if p.n == p.m else "nm"


def _w_count(params: ArrayParams, items, dataflow: str) -> int:
    """``w`` transfers of a phase: ``R`` per fold (WS), one per step (OS)."""
    return sum(map(len, items)) if dataflow == "os" else params.rows * len(items)


def make_case(name, params, folds, seed, *, pauses=False, p_ready=None,
              dataflow="ws") -> ArrayCase:
    """One-phase case of folds (or, ``dataflow="os"``, blocks); ``pauses`` adds seeded source
    pauses, ``p_ready`` back-pressure."""
    n_w, n_a = _w_count(params, folds, dataflow), sum(len(f) for f in folds)
    if pauses:
        wg, ag = random_gaps(n_w, seed + 1), random_gaps(n_a, seed + 2)
    else:
        wg, ag = np.zeros(n_w, dtype=np.int64), np.zeros(n_a, dtype=np.int64)
    ready = np.ones(1, dtype=bool) if p_ready is None else shuffled_ready(seed + 3, p_ready)
    return ArrayCase(name, params, [folds], [wg], [ag], ready, [None], dataflow)


def random_items(params: ArrayParams, count: int, seed: int, lengths=(1, 6), *,
                 indices="nm", extremes=0.1, dataflow="ws"):
    """:func:`rtl.array_golden.random_folds` (WS) or ``random_blocks`` (OS)."""
    if dataflow == "os":
        return random_blocks(params, count, seed, block_len=lengths, indices=indices,
                             extremes=extremes)
    return random_folds(params, count, seed, fold_len=lengths, indices=indices,
                        extremes=extremes)


def build_cases(params: ArrayParams, seed: int = 1, n_folds: int = 6,
                dataflow: str = "ws") -> list[ArrayCase]:
    """The cases of one configuration: free-running, paused, back-pressured, extremes (wrap),
    short and long folds (blocks, for OS), and a reset in the middle of a tile."""
    idx = _idx_mode(params)
    R = params.rows

    def gen(count, s, lengths=(1, 6), indices=idx, extremes=0.1):
        return random_items(params, count, s, lengths, indices=indices, extremes=extremes,
                            dataflow=dataflow)

    def case(name, items, s, **kw):
        return make_case(name, params, items, s, dataflow=dataflow, **kw)

    cases = [
        case("free", gen(n_folds, seed), seed),
        case("short_folds", gen(n_folds, seed + 10, (1, 2)), seed + 10),
        case("long_folds", gen(3, seed + 20, (R + 2, 2 * R + 6)), seed + 20),
        case("pauses", gen(n_folds, seed + 30), seed + 30, pauses=True),
        case("backpressure", gen(n_folds, seed + 40, (1, 5)), seed + 40, pauses=True,
             p_ready=0.35),
        case("dup_idx", gen(3, seed + 50, indices="any"), seed + 50, p_ready=0.7),
        # OS: twice as many (blocks of 1..3 steps wait for the drain: the spacing rule)
        case("many_tiles", gen(max(12, 120 // R) * (2 if dataflow == "os" else 1), seed + 80,
                               (1, 3)), seed + 80, pauses=True, p_ready=0.8),
    ]
    ext = gen(3, seed + 60, indices="any", extremes=1.0)
    for f in ext:
        f.act[:] = -(1 << (params.act_width - 1))
        f.wval[:] = -(1 << (params.weight_width - 1))
    cases.append(case("extremes", ext, seed + 60))
    # reset mid-tile: phase 0 is cut while weights, activations and results are in flight
    a, b = gen(4, seed + 70), gen(3, seed + 71)
    cut = len(a[0]) + 2 + (0 if dataflow == "os" else R)
    cases.append(ArrayCase("reset_mid_tile", params, [a, b],
                           [np.zeros(_w_count(params, a, dataflow), dtype=np.int64),
                            random_gaps(_w_count(params, b, dataflow), seed + 72)],
                           [np.zeros(sum(map(len, a)), dtype=np.int64),
                            random_gaps(sum(map(len, b)), seed + 73)],
                           np.ones(1, dtype=bool), [cut, None], dataflow))
    return cases


def check_record(case: ArrayCase, rec: ArrayRecord) -> list[str]:
    """Errors: wrong results (vs the golden) or cycles that differ from the prediction."""
    errors = []
    for ph in range(len(case.phases)):
        if case.cut[ph] is not None:
            continue  # cut by reset; only the following phase must be clean
        want = case.golden(ph)
        got = rec.outputs[ph]
        if got.shape != want.shape or not np.array_equal(got, want):
            bad = next((i for i in range(min(len(got), len(want)))
                        if not np.array_equal(got[i], want[i])), min(len(got), len(want)))
            errors.append(f"{case.name}[{ph}]: {len(got)} results, {len(want)} expected; "
                          f"first difference at #{bad}")
        try:
            sched = case.predict(ph)
        except ValueError as exc:  # e.g. a different number of weight rows per fold
            errors.append(f"{case.name}[{ph}]: the measured stream is not the predicted one: "
                          f"{exc}")
            continue
        for what, meas, pred in (("w", rec.w_cycles[ph], sched.w_cycles),
                                 ("a", rec.a_cycles[ph], sched.a_cycles),
                                 ("o valid", rec.valid_cycles[ph], sched.out_valid),
                                 ("o transfer", rec.out_cycles[ph], sched.out_transfer)):
            if tuple(meas) != tuple(pred):
                k = next((i for i, (x, y) in enumerate(zip(meas, pred, strict=False))
                          if x != y),
                         min(len(meas), len(pred)))
                errors.append(f"{case.name}[{ph}]: {what} transfer #{k} measured "
                              f"{list(meas[k:k + 1])}, predicted {list(pred[k:k + 1])} "
                              f"({len(meas)} vs {len(pred)} transfers)")
    return errors


# -- JSON transport to and from the cocotb bench ----------------------------------------------------
def cases_to_json(cases: list[ArrayCase], path) -> None:
    Path(path).write_text(json.dumps([{
        "name": c.name, "params": c.params.as_dict(),
        "phases": [[{"wval": f.wval.tolist(), "widx": f.widx.tolist(), "act": f.act.tolist()}
                    for f in ph] for ph in c.phases],
        "w_gaps": [g.tolist() for g in c.w_gaps], "a_gaps": [g.tolist() for g in c.a_gaps],
        "ready": c.ready.astype(int).tolist(), "cut": c.cut, "dataflow": c.dataflow,
    } for c in cases]))


def cases_from_json(path) -> list[ArrayCase]:
    out = []
    for d in json.loads(Path(path).read_text()):
        item = Block if d["dataflow"] == "os" else Fold
        out.append(ArrayCase(
            d["name"], ArrayParams(**d["params"]),
            [[item(**f) for f in ph] for ph in d["phases"]],
            [np.array(g, dtype=np.int64) for g in d["w_gaps"]],
            [np.array(g, dtype=np.int64) for g in d["a_gaps"]],
            np.array(d["ready"], dtype=bool), d["cut"], d["dataflow"]))
    return out


def record_to_json(rec: ArrayRecord, path) -> None:
    Path(path).write_text(json.dumps({
        "outputs": [o.tolist() for o in rec.outputs], "w_cycles": rec.w_cycles,
        "a_cycles": rec.a_cycles, "out_cycles": rec.out_cycles,
        "valid_cycles": rec.valid_cycles}))


def record_from_json(path, cols: int) -> ArrayRecord:
    d = json.loads(Path(path).read_text())
    return ArrayRecord([np.array(o, dtype=np.int64).reshape(-1, cols) for o in d["outputs"]],
                       d["w_cycles"], d["a_cycles"], d["out_cycles"], d["valid_cycles"])
