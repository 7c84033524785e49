"""cocotb bench of the generated ``nm_pe_array`` (and ``nm_pe_array_os``) Verilog: the shared stream driver/monitor
(``rtl_array_cases.PhaseBench``), a golden and timing scoreboard, records for pytest."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly
from rtl_array_cases import (
    RESET_CYCLES,
    ArrayRecord,
    PhaseBench,
    cases_from_json,
    check_record,
    phase_limit,
    record_to_json,
)

# Inputs change on the falling edge and everything is sampled in the ReadOnly phase of that
# time step, so "cycle c" is the same as in the Amaranth simulation.

_CASES = (cases_from_json(os.environ["NM_PE_ARRAY_CASES"])
          if "NM_PE_ARRAY_CASES" in os.environ else [])
_RECORDS = Path(os.environ.get("NM_PE_ARRAY_RECORDS", "."))
#: Per case, the port prefix of its configuration's instance (one build holds every
#: configuration, see tests/test_rtl_array_cosim.py); empty for a bare nm_pe_array top.
_PREFIXES = (json.loads(Path(os.environ["NM_PE_ARRAY_PREFIXES"]).read_text())
             if "NM_PE_ARRAY_PREFIXES" in os.environ else [""] * len(_CASES))


class Ports:
    """The stream ports of one array instance, by name without the prefix."""

    def __init__(self, dut, prefix: str):
        self.dut, self.prefix = dut, prefix

    def __getattr__(self, name):
        return getattr(self.dut, self.prefix + name)


async def _reset(dut, ports) -> None:
    await FallingEdge(dut.clk)
    dut.rst.value = 1
    ports.w__valid.value = 0
    ports.a__valid.value = 0
    ports.o__ready.value = 0
    for _ in range(RESET_CYCLES):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


async def run_phase(dut, ports, case, phase: int, record: ArrayRecord) -> None:
    """Reset, run one phase through the shared driver/monitor, append it to ``record``."""
    await _reset(dut, ports)
    bench = PhaseBench(case, phase)
    cut = case.cut[phase]
    lat = case.timing.result_latency
    limit = phase_limit(case, phase)
    c, extra = 0, 0
    while c <= limit:
        if cut is not None and c >= cut:
            break
        if len(bench.words) >= bench.expected:
            bench.force_ready = True  # keep listening for duplicated results
            extra += 1
            if extra > lat + 4:
                break
        if c:
            await FallingEdge(dut.clk)
        wv, ww, av, aw, rdy = bench.drive(c)
        ports.w__valid.value = int(wv)
        ports.w__payload.value = ww
        ports.a__valid.value = int(av)
        ports.a__payload.value = aw
        ports.o__ready.value = int(rdy)
        await ReadOnly()
        o_valid = bool(int(ports.o__valid.value))
        word = ports.o__payload.value.to_unsigned() if o_valid else 0
        bench.observe(c, bool(int(ports.w__ready.value)), bool(int(ports.a__ready.value)),
                      o_valid, word)
        c += 1
    bench.finish(record)


@cocotb.test()
@cocotb.parametrize(case_index=list(range(len(_CASES))))
async def nm_pe_array_case(dut, case_index: int) -> None:
    """Run one case, check results and cycles in the bench, save the record for pytest."""
    case = _CASES[case_index]
    Clock(dut.clk, 10, unit="ns").start()
    record = ArrayRecord()
    try:
        for phase in range(len(case.phases)):
            await run_phase(dut, Ports(dut, _PREFIXES[case_index]), case, phase, record)
    finally:
        record_to_json(record, _RECORDS / f"{case_index}.json")
    errors = check_record(case, record)
    assert not errors, "\n".join(errors)
