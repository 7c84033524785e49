# amaranth: UnusedElaboratable=no
"""Contract 2: the SimPy PE model's cycle prediction equals the RTL's measured cycles exactly.

``hwsim.engines.pe_array.predict_core_schedule`` (and its tuple view ``predict_core_cycles``)
predicts, for a stream of dot products with input pauses and a cyclic ``o.ready`` pattern, the
transfer cycle of every input group (``i.ready`` drops when the output buffer is full), the first
``o.valid`` and the output transfer of each dot product, from :func:`rtl.timing.core_timing`.
Here the same streams run on the real design at three levels -- Amaranth's simulator, and cocotb
on the generated Verilog in Icarus and in Verilator -- and the measured cycles must equal the
prediction cycle for cycle: with ``o.ready`` always high (``STREAMS``) and with random output
back-pressure (``BACKPRESSURE_STREAMS``). Cycle 0 is the first cycle after reset at every level
(see ``rtl_cases.Record``); a case's ``gaps`` and ``ready`` are the prediction's ``input_gaps``
and ``out_ready`` unchanged.
"""


from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from rtl_cases import (
    CONFIGS,
    Case,
    Record,
    dot_lengths,
    measured_core_cycles,
    measured_core_schedule,
    random_gaps,
    random_ready,
    shuffled_ready,
    simulate_amaranth,
)

import rtl.timing
from hwsim.engines.pe_array import predict_core_cycles, predict_core_schedule
from rtl.golden import MacParams, random_stream

#: 2:8 x 4 lanes, 1:4 x 2, 4:8 x 2 with odd widths (7/5-bit operands, 20-bit accumulator), dense.
CONTRACT_CONFIGS = ["2of8_l4", "1of4_l2", "4of8_l2_w5_acc20", "dense4_l2_min"]
#: (seed, probability of a pause after a group, longest pause); the first stream has none.
STREAMS = [(101, 0.0, 0), (202, 0.3, 3), (303, 0.6, 7)]
#: With output back-pressure: (seed, p_pause, longest pause, dot product lengths, o.ready
#: probability; None = on/off runs with long stalls). Short dot products fill the output buffer,
#: so ``i.ready`` drops too.
BACKPRESSURE_STREAMS = [(404, 0.3, 3, (1, 3), 0.3), (505, 0.2, 5, (1, 6), 0.7),
                        (606, 0.1, 2, (1, 2), None)]
GROUPS_PER_STREAM = 160
ALWAYS_READY = np.ones(1, dtype=bool)


def contract_cases(params: MacParams) -> list[Case]:
    """Seeded streams with random input pauses: dot products of 1..20 groups with o.ready high,
    then short dot products with seeded cyclic o.ready patterns (30..70 % high)."""
    idx = "dense" if params.n == params.m else "nm"
    salt = 1000 * (params.n * 17 + params.m) + params.lanes  # other streams per configuration
    cases = []
    for base, p_pause, max_gap in STREAMS:
        seed = base + salt
        s = random_stream(params, GROUPS_PER_STREAM, seed, dot_len=(1, 20), indices=idx)
        gaps = (random_gaps(len(s), seed + 1, p_pause=p_pause, max_gap=max_gap) if max_gap
                else np.zeros(len(s), dtype=np.int64))
        cases.append(Case(f"contract_s{seed}", params, [s], [gaps], ALWAYS_READY))
    for base, p_pause, max_gap, dot_len, p_ready in BACKPRESSURE_STREAMS:
        seed = base + salt
        s = random_stream(params, GROUPS_PER_STREAM, seed, dot_len=dot_len, indices=idx)
        gaps = random_gaps(len(s), seed + 1, p_pause=p_pause, max_gap=max_gap)
        ready = (random_ready(seed + 2, length=211, mean_on=5.0, mean_off=4.0, long_off_every=4,
                              long_off=12) if p_ready is None
                 else shuffled_ready(seed + 2, p_ready))
        cases.append(Case(f"contract_bp_s{seed}", params, [s], [gaps], ready))
    return cases


def backpressured(case: Case) -> bool:
    return not bool(np.all(case.ready))


def predicted(case: Case) -> list[tuple[int, ...]]:
    """``predict_core_cycles`` of ``case``: ``(last_in, out_valid)`` per dot product with
    o.ready high, ``(last_in, out_valid, out_transfer)`` under back-pressure."""
    return predict_core_cycles(
        dot_lengths(case.phases[0]), **case.params.as_dict(),
        input_gaps=case.gaps[0].tolist(),
        out_ready=case.ready.astype(int).tolist() if backpressured(case) else None,
    )


def assert_contract(case: Case, record: Record, level: str) -> int:
    """Assert the measured cycles of ``case`` equal the prediction; return the dot products.

    Compares ``predict_core_cycles`` with the measured ``(last_in, first o.valid[, o
    transfer])``, then the whole ``predict_core_schedule`` (every group's input transfer too).
    """
    want = predicted(case)
    if backpressured(case):
        got = [(s[-1], v, o) for s, v, o in measured_core_schedule(case, record)]
        what = "(last_in, first o.valid, o transfer)"
    else:
        got = measured_core_cycles(case, record)
        what = "(last_in, first o.valid)"
    assert len(got) == len(want) == case.phases[0].n_results, (
        f"{level} {case.name}: {len(got)} results measured, {len(want)} predicted")
    if got != want:
        bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
        k = bad[0]
        raise AssertionError(
            f"{level} {case.name}: dot product #{k} measured {what} = {got[k]}, "
            f"predict_core_cycles says {want[k]} ({len(bad)} of {len(want)} differ)")
    sched = predict_core_schedule(
        dot_lengths(case.phases[0]), **case.params.as_dict(), input_gaps=case.gaps[0],
        out_ready=case.ready if backpressured(case) else None,
    )
    measured = measured_core_schedule(case, record)
    if measured != sched:
        k = next(i for i, (g, w) in enumerate(zip(measured, sched, strict=True)) if g != w)
        raise AssertionError(
            f"{level} {case.name}: dot product #{k} measured (group transfers, first o.valid, "
            f"o transfer) = {measured[k]}, predict_core_schedule says {tuple(sched[k])}")
    if not backpressured(case):
        # o.ready is high throughout, so first-valid is also the transfer cycle
        assert record.valid_cycles[0] == record.out_cycles[0]
    return len(want)


def assert_config(results: list[tuple[Case, Record]], level: str) -> None:
    """Every case of a configuration matches, and back-pressure really stalled the input."""
    n_free = sum(assert_contract(c, r, level) for c, r in results if not backpressured(c))
    n_bp = sum(assert_contract(c, r, level) for c, r in results if backpressured(c))
    assert n_free >= 3 * 8 and n_bp >= 3 * 40  # enough dot products to mean something
    stalls = sum(len(r.stall_cycles[0]) for c, r in results if backpressured(c))
    late = sum(v < o for c, r in results if backpressured(c)
               for _, v, o in measured_core_schedule(c, r))
    assert stalls >= 5 and late >= 20, (
        f"{level}: back-pressure too weak ({stalls} input stalls, {late} results held)")


@functools.cache
def _amaranth_records(config: str) -> tuple[tuple[Case, Record], ...]:
    return tuple((c, simulate_amaranth(c)) for c in contract_cases(CONFIGS[config]))


# -- level (a): Amaranth simulation ---------------------------------------------------------------
@pytest.mark.parametrize("config", CONTRACT_CONFIGS)
def test_amaranth_matches_pe_model(config):
    assert_config(list(_amaranth_records(config)), "amaranth")


# -- levels (b) and (c): cocotb on the generated Verilog --------------------------------------------
class _CocotbContract:
    simulator = "icarus"

    @pytest.mark.parametrize("config", CONTRACT_CONFIGS)
    def test_matches_pe_model(self, config, tmp_path_factory, monkeypatch):
        from test_rtl_cosim import run_cocotb

        params = CONFIGS[config]
        cases = contract_cases(params)
        workdir = tmp_path_factory.mktemp(f"contract-{self.simulator}-{config}")
        records = run_cocotb(self.simulator, params, cases, workdir, monkeypatch)
        assert_config(list(zip(cases, records, strict=True)), self.simulator)


@pytest.mark.simulator_required("icarus")
class TestContractIcarus(_CocotbContract):
    simulator = "icarus"


@pytest.mark.simulator_required("verilator")
class TestContractVerilator(_CocotbContract):
    simulator = "verilator"


# -- the check has teeth ----------------------------------------------------------------------------
def _patched_timing(monkeypatch, **changes):
    real = rtl.timing.core_timing

    def fake(**params):
        return dataclasses.replace(real(**params), **changes)

    monkeypatch.setattr(rtl.timing, "core_timing", fake)


def test_prediction_reads_latency_from_core_timing(monkeypatch):
    """Latency 3 -> 5 in rtl.timing shifts every predicted o.valid by 2, and the comparison
    against the RTL (which does not change) then fails."""
    case, record = _amaranth_records("2of8_l4")[1]
    real_latency = rtl.timing.core_timing(**case.params.as_dict()).latency
    before = predicted(case)
    _patched_timing(monkeypatch, latency=real_latency + 2)
    after = predicted(case)
    assert [t for t, _ in after] == [t for t, _ in before]
    assert [o for _, o in after] == [o + 2 for _, o in before]
    with pytest.raises(AssertionError, match=r"predict_core_cycles says"):
        assert_contract(case, record, "amaranth")


def test_prediction_reads_ii_from_core_timing(monkeypatch):
    """II 1 -> 2 in rtl.timing spreads back-to-back groups, and the RTL comparison fails."""
    case, record = _amaranth_records("1of4_l2")[0]  # no pauses: II is visible everywhere
    _patched_timing(monkeypatch, ii=2)
    lengths = dot_lengths(case.phases[0])
    assert predicted(case)[0][0] == 2 * (lengths[0] - 1)
    with pytest.raises(AssertionError, match=r"predict_core_cycles says"):
        assert_contract(case, record, "amaranth")


def test_gap_convention_matches_the_bench():
    """A pause after group g delays group g + 1 in both the bench and the prediction."""
    p = CONFIGS["1of4_l2"]
    s = random_stream(p, 6, seed=3, dot_len=(3, 3))  # two dot products of three groups
    gaps = np.array([0, 4, 0, 2, 0, 9], dtype=np.int64)  # the last entry is never used
    case = Case("gap_convention", p, [s], [gaps], ALWAYS_READY)
    record = simulate_amaranth(case)
    assert record.in_cycles[0] == [0, 1, 6, 7, 10, 11]
    lat = rtl.timing.core_timing(**p.as_dict()).latency
    assert predicted(case) == [(6, 6 + lat), (11, 11 + lat)]
    assert_contract(case, record, "amaranth")


def test_prediction_reads_output_buffer_depth_from_core_timing(monkeypatch):
    """output_buffer_depth 4 -> 3 in rtl.timing makes the model drop i.ready one result early:
    the predicted input transfers of a back-pressured stream move, and the comparison against
    the RTL (which does not change) fails."""
    bp_case, bp_record = next((c, r) for c, r in _amaranth_records("2of8_l4") if backpressured(c))
    before = predicted(bp_case)
    depth = rtl.timing.core_timing(**bp_case.params.as_dict()).output_buffer_depth
    _patched_timing(monkeypatch, output_buffer_depth=depth - 1)
    after = predicted(bp_case)
    assert after != before
    assert all(a[0] >= b[0] for a, b in zip(after, before, strict=True))  # only ever later
    with pytest.raises(AssertionError, match=r"predict_core_cycles says"):
        assert_contract(bp_case, bp_record, "amaranth")


def test_backpressure_convention_matches_the_bench():
    """A hand-written o.ready pattern: a full output buffer holds back the input."""
    p = CONFIGS["1of4_l2"]
    s = random_stream(p, 7, seed=5, dot_len=(1, 1))  # seven single-group dot products
    ready = np.array([0] * 9 + [1, 0, 1], dtype=bool)  # low in 0..8, high in 9 and 11 (period 12)
    case = Case("backpressure_convention", p, [s], [np.zeros(7, dtype=np.int64)], ready)
    record = simulate_amaranth(case)
    # results 0..3 fill the buffer (last groups in 0..3); group 4 waits until result 0 leaves
    # in cycle 9, group 5 until result 1 leaves in 11, group 6 until result 2 leaves in 21
    assert record.in_cycles[0] == [0, 1, 2, 3, 10, 12, 22]
    assert record.stall_cycles[0] == [*range(4, 10), 11, *range(13, 22)]
    assert predicted(case) == [(0, 3, 9), (1, 10, 11), (2, 12, 21), (3, 22, 23),
                               (10, 24, 33), (12, 34, 35), (22, 36, 45)]
    assert_contract(case, record, "amaranth")
