"""cocotb bench of the generated ``sparse_mac`` Verilog: driver, back-pressure, monitor, model, checker."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly
from rtl_cases import (
    RESET_CYCLES,
    Case,
    Record,
    cases_from_json,
    check_record,
    record_to_json,
)

from rtl.golden import GroupStream, MacParams, golden_mac, pack_input, unpack_output
from rtl.timing import core_timing

# Inputs change on the falling edge and are sampled (with every settled output) in the
# ReadOnly phase of that time step, so "cycle c" is the same on every simulator: the clock
# period that ends with the rising edge moving the data.

_CASES: list[Case] = (
    cases_from_json(os.environ["SPARSE_MAC_CASES"]) if "SPARSE_MAC_CASES" in os.environ else []
)
_RECORDS = Path(os.environ.get("SPARSE_MAC_RECORDS", "."))


@dataclass
class InputDriver:
    """Source of ``i``: offers group 0 in cycle 0 and every later group ``gaps[g]`` idle cycles
    after group ``g`` transferred; holds each group until it is accepted."""

    dut: object
    params: MacParams
    stream: GroupStream
    gaps: np.ndarray
    index: int = 0
    wait: int = 0

    def __post_init__(self):
        self.words = [pack_input(self.params, g) for g in self.stream]

    @property
    def done(self) -> bool:
        return self.index >= len(self.words)

    def drive(self) -> bool:
        """Set ``i`` for this cycle; return whether a group is offered."""
        offering = not self.done and self.wait == 0
        self.dut.i__valid.value = int(offering)
        if offering:
            self.dut.i__payload.value = self.words[self.index]
        return offering

    def advance(self, offered: bool, accepted: bool) -> None:
        if accepted:
            self.wait = int(self.gaps[self.index])
            self.index += 1
        elif not offered and self.wait:
            self.wait -= 1


@dataclass
class OutputBackpressure:
    """Sink readiness: ``o.ready`` follows a seeded cyclic pattern, or stays high when forced."""

    dut: object
    pattern: np.ndarray
    force: bool = False

    def drive(self, cycle: int) -> bool:
        ready = self.force or bool(self.pattern[cycle % len(self.pattern)])
        self.dut.o__ready.value = int(ready)
        return ready


@dataclass
class StreamMonitor:
    """Samples both handshakes in the ReadOnly phase and logs transfers and stalls per cycle."""

    dut: object
    params: MacParams
    in_cycles: list[int] = field(default_factory=list)
    stall_cycles: list[int] = field(default_factory=list)
    out_cycles: list[int] = field(default_factory=list)
    valid_cycles: list[int] = field(default_factory=list)  # o.valid first high, per result
    outputs: list[np.ndarray] = field(default_factory=list)
    held: int | None = None  # o payload offered but not taken last cycle

    def sample(self, cycle: int, offered: bool, ready: bool) -> bool:
        """Log this cycle; return whether the offered group was accepted.

        Also checks the core's side of the output stream rule: once ``o.valid`` is high it
        stays high, with the same payload, until the transfer.
        """
        accepted = False
        if offered:
            accepted = bool(int(self.dut.i__ready.value))
            (self.in_cycles if accepted else self.stall_cycles).append(cycle)
        valid = bool(int(self.dut.o__valid.value))
        word = self.dut.o__payload.value.to_unsigned() if valid else None
        if self.held is not None:
            assert valid and word == self.held, (
                f"o.valid dropped or o.payload changed in cycle {cycle} before the transfer")
        elif valid:
            self.valid_cycles.append(cycle)
        self.held = word if valid and not ready else None
        if valid and ready:
            self.outputs.append(unpack_output(self.params, word))
            self.out_cycles.append(cycle)
        return accepted


class GoldenModel:
    """Expected results of a phase from the NumPy golden model."""

    def __init__(self, params: MacParams, stream: GroupStream):
        self.expected = golden_mac(params, stream)


class Checker:
    """Scoreboard: every delivered result must be the next expected one."""

    def __init__(self, name: str, model: GoldenModel):
        self.name = name
        self.model = model
        self.count = 0

    def check(self, result: np.ndarray, cycle: int) -> None:
        k = self.count
        assert k < len(self.model.expected), (
            f"{self.name}: unexpected extra result #{k} {result.tolist()} in cycle {cycle}")
        want = self.model.expected[k]
        assert np.array_equal(result, want), (
            f"{self.name}: result #{k} in cycle {cycle} is {result.tolist()}, "
            f"expected {want.tolist()}")
        self.count += 1


async def _reset(dut) -> None:
    await FallingEdge(dut.clk)
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    for _ in range(RESET_CYCLES):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


async def run_phase(dut, case: Case, phase: int, record: Record) -> None:
    """Reset, then run one phase of ``case`` and append what happened to ``record``."""
    params, stream = case.params, case.phases[phase]
    final = phase == len(case.phases) - 1
    timing = core_timing(**params.as_dict())
    drain = timing.latency + timing.output_buffer_depth + 4
    limit = 40 * len(stream) + 4 * len(case.ready) + 100

    await _reset(dut)
    driver = InputDriver(dut, params, stream, case.gaps[phase])
    sink = OutputBackpressure(dut, case.ready)
    monitor = StreamMonitor(dut, params)
    checker = Checker(f"{case.name}[phase {phase}]", GoldenModel(params, stream))
    cycle, extra = 0, 0
    while cycle <= limit:
        if driver.done:
            if not final:
                break  # the next reset cuts this phase right after its last group
            if checker.count >= stream.n_results:
                extra += 1
                sink.force = True  # keep listening for duplicated results
                if extra > drain:
                    break
        if cycle:
            await FallingEdge(dut.clk)
        offered = driver.drive()
        ready = sink.drive(cycle)
        await ReadOnly()
        n_out = len(monitor.outputs)
        accepted = monitor.sample(cycle, offered, ready)
        driver.advance(offered, accepted)
        if len(monitor.outputs) > n_out:
            checker.check(monitor.outputs[-1], cycle)
        cycle += 1
    record.outputs.append(np.array(monitor.outputs, dtype=np.int64).reshape(-1, params.lanes))
    record.in_cycles.append(monitor.in_cycles)
    record.out_cycles.append(monitor.out_cycles)
    record.stall_cycles.append(monitor.stall_cycles)
    record.valid_cycles.append(monitor.valid_cycles)


@cocotb.test()
@cocotb.parametrize(case_index=list(range(len(_CASES))))
async def sparse_mac_case(dut, case_index: int) -> None:
    """Run one case, check it in the bench, and save its record for the pytest side."""
    case = _CASES[case_index]
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    record = Record(outputs=[], in_cycles=[], out_cycles=[], stall_cycles=[], valid_cycles=[])
    try:
        for phase in range(len(case.phases)):
            await run_phase(dut, case, phase, record)
    finally:
        record_to_json(record, _RECORDS / f"{case_index}.json")
    errors = check_record(case, record)
    assert not errors, "\n".join(errors)
