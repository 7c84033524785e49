# amaranth: UnusedElaboratable=no
"""Contract 2: the SimPy PE model's cycle prediction equals the RTL's measured cycles exactly.

``hwsim.engines.pe_array.predict_core_cycles`` predicts, for a stream of dot products with input
pauses and ``o.ready`` held high, the cycle of each dot product's last input transfer and of its
first ``o.valid``, from :func:`rtl.timing.core_timing`. Here the same streams run on the real
design at three levels -- Amaranth's simulator, and cocotb on the generated Verilog in Icarus and
in Verilator -- and the measured ``(last_in_cycle, first_valid_cycle)`` pairs must equal the
prediction cycle for cycle. Cycle 0 is the first cycle after reset at every level (see
``rtl_cases.Record``); a case's ``gaps`` are the prediction's ``input_gaps`` unchanged.
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
    random_gaps,
    simulate_amaranth,
)

import rtl.timing
from hwsim.engines.pe_array import predict_core_cycles
from rtl.golden import MacParams, random_stream

#: 2:8 x 4 lanes, 1:4 x 2, 4:8 x 2 with odd widths (7/5-bit operands, 20-bit accumulator), dense.
CONTRACT_CONFIGS = ["2of8_l4", "1of4_l2", "4of8_l2_w5_acc20", "dense4_l2_min"]
#: (seed, probability of a pause after a group, longest pause); the first stream has none.
STREAMS = [(101, 0.0, 0), (202, 0.3, 3), (303, 0.6, 7)]
GROUPS_PER_STREAM = 160
ALWAYS_READY = np.ones(1, dtype=bool)


def contract_cases(params: MacParams) -> list[Case]:
    """Seeded streams with dot products of 1..20 groups and random input pauses, o.ready high."""
    idx = "dense" if params.n == params.m else "nm"
    salt = 1000 * (params.n * 17 + params.m) + params.lanes  # other streams per configuration
    cases = []
    for base, p_pause, max_gap in STREAMS:
        seed = base + salt
        s = random_stream(params, GROUPS_PER_STREAM, seed, dot_len=(1, 20), indices=idx)
        gaps = (random_gaps(len(s), seed + 1, p_pause=p_pause, max_gap=max_gap) if max_gap
                else np.zeros(len(s), dtype=np.int64))
        cases.append(Case(f"contract_s{seed}", params, [s], [gaps], ALWAYS_READY))
    return cases


def predicted(case: Case) -> list[tuple[int, int]]:
    """The PE model's ``(last_in_cycle, out_valid_cycle)`` per dot product of ``case``."""
    return predict_core_cycles(
        dot_lengths(case.phases[0]), **case.params.as_dict(),
        input_gaps=case.gaps[0].tolist(),
    )


def assert_contract(case: Case, record: Record, level: str) -> int:
    """Assert the measured cycles of ``case`` equal the prediction; return the dot products."""
    want = predicted(case)
    got = measured_core_cycles(case, record)
    assert len(got) == len(want) == case.phases[0].n_results, (
        f"{level} {case.name}: {len(got)} results measured, {len(want)} predicted")
    if got != want:
        bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
        k = bad[0]
        raise AssertionError(
            f"{level} {case.name}: dot product #{k} measured (last_in, first o.valid) = {got[k]}, "
            f"predict_core_cycles says {want[k]} ({len(bad)} of {len(want)} differ)")
    # o.ready is high throughout, so first-valid is also the transfer cycle
    assert record.valid_cycles[0] == record.out_cycles[0]
    return len(want)


@functools.cache
def _amaranth_records(config: str) -> tuple[tuple[Case, Record], ...]:
    return tuple((c, simulate_amaranth(c)) for c in contract_cases(CONFIGS[config]))


# -- level (a): Amaranth simulation ---------------------------------------------------------------
@pytest.mark.parametrize("config", CONTRACT_CONFIGS)
def test_amaranth_matches_pe_model(config):
    n = sum(assert_contract(c, r, "amaranth") for c, r in _amaranth_records(config))
    assert n >= 3 * 8  # enough dot products per configuration to mean something


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
        for case, record in zip(cases, records, strict=True):
            assert_contract(case, record, self.simulator)


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
