"""Per-operation results of one scheduled run, combined into a RunResult (training and networks).

Both drivers that run several operations in one SimPy environment (BDWP training of a layer,
whole networks from the mapper) describe each operation with an :class:`OpRecord` and call
:func:`combine_results`: one function, one definition of the totals.

Totals: ``cycles`` is the time the last operation finished; ``compute_cycles`` the cycles in
which at least one engine computed (union over engines, so overlapped work is not counted
twice); ``stall_cycles`` the rest (no engine computing: waiting on DRAM, fill, dependencies).
Per operation, ``cycles`` is its span in the run (first load to last store), ``compute_cycles``
its engine's busy time, and ``bound`` is the roofline classification: ``memory`` when moving its
DRAM bytes at the full bandwidth takes longer than its compute, ``compute`` otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .result import RunResult
from .schedule import ScheduleStats

__all__ = ["OpRecord", "combine_results", "LAYER_COLUMNS"]

#: Columns of the per-operation table, in order.
LAYER_COLUMNS = (
    "name", "op", "engine", "cycles", "compute_cycles", "stall_cycles", "start", "end",
    "dense_macs", "performed_macs", "utilization", "dram_read_bytes", "dram_write_bytes",
    "sram_read_bytes", "sram_write_bytes", "energy_pj", "bound",
)


@dataclass
class OpRecord:
    """What a driver knows about one operation besides its times in the run.

    Attributes
    ----------
    name, op, engine : str
        Task name (layer name), operator as given (``Conv``, ``gemm``...), engine name.
    dense_macs, performed_macs : int
        Dense-equivalent MACs and multiplications issued (0 for vector/data ops).
    multipliers : int
        Multipliers of its engine (utilization denominator; 0 for non-MAC engines).
    sram_read_bytes, sram_write_bytes : int
    energy_pj : float
        Energy of its actions except DRAM (MACs, SRAM, vector ops); DRAM energy is added
        from the bytes it moved in the run.
    extra : dict
        Further columns for the table (sparsity, density, shape, check...).
    """

    name: str
    op: str
    engine: str
    dense_macs: int = 0
    performed_macs: int = 0
    multipliers: int = 0
    sram_read_bytes: int = 0
    sram_write_bytes: int = 0
    energy_pj: float = 0.0
    extra: dict = field(default_factory=dict)
    #: ``{component: {action: pJ}}`` of ``energy_pj`` (:mod:`hwsim.energy`); ``None``: all of
    #: it is booked as the engine's ``other`` action.
    energy_breakdown: dict | None = None

    @classmethod
    def from_plan(cls, name: str, op: str, engine: str, plan: Any, arch: Any, *,
                  work: Any = None, dense_macs: int = 0, precision: str = "int8",
                  extra: dict | None = None) -> OpRecord:
        """The record of an operation that ran ``plan``: its MACs and SRAM bytes, and its
        on-chip energy from the action table (a GEMM's with its ``work``: precision and N:M
        window of the selections; any other plan's at ``precision``). DRAM and static power
        are added by :func:`combine_results` from the run."""
        from .energy import energy_breakdown, plan_counts

        if work is not None:
            from .gemm import gemm_energy_breakdown

            e_pj, bd = gemm_energy_breakdown(arch, plan, work, static=False)
        else:
            e_pj, bd = energy_breakdown(arch, plan_counts(arch, plan), 0, precision=precision,
                                        static=False)
        return cls(name, op, engine, int(dense_macs), int(plan.performed_macs.sum()),
                   int(plan.multipliers), int(plan.sram_read_bytes.sum()),
                   int(plan.sram_write_bytes.sum()), e_pj, dict(extra or {}),
                   energy_breakdown=bd)


def combine_results(
    *,
    kind: str,
    arch: Any,
    engine: str,
    sched: ScheduleStats,
    records: list[OpRecord],
    started: float,
    seed: int | None,
    check: str,
    check_reason: str | None,
    params: dict,
    counters: dict | None = None,
    multipliers: int = 0,
) -> RunResult:
    """One :class:`RunResult` from a scheduled run and its per-operation records.

    Parameters
    ----------
    kind : str
        ``"training"`` or ``"network"``.
    arch : Architecture
    engine : str
        Main engine (the GEMM engine).
    sched : ScheduleStats
        The one run (:func:`hwsim.schedule.run_schedule`).
    records : list of OpRecord
        One per task of the run, in graph order; the table keeps that order.
    started : float
        ``time.perf_counter()`` at the start of the run.
    seed, check, check_reason, params
        As :class:`RunResult`.
    counters : dict, optional
        Extra counters.
    multipliers : int
        Multipliers of the main engine (utilization = performed / (multipliers * cycles)).

    Returns
    -------
    RunResult
        ``energy_pj`` is the table's per-operation energy plus the static power of every
        component over the run's cycles; ``counters["energy_breakdown"]`` splits it by
        component and action (:mod:`hwsim.energy`).
    """
    from ._lazy import frame_of_records

    e_dram = float(arch.energy.dram_pj_per_byte)
    per_cycle = arch.dram.bandwidth_gbps * 1e9 / (arch.clock_mhz * 1e6)  # DRAM bytes per cycle

    def dram_cycles(tt) -> float:
        return (tt.dram_read_bytes + tt.dram_write_bytes) / per_cycle
    rows = []
    for r in records:
        tt = sched.tasks[r.name]
        span = tt.cycles
        energy = r.energy_pj + (tt.dram_read_bytes + tt.dram_write_bytes) * e_dram
        util = r.performed_macs / (r.multipliers * span) if r.multipliers and span else 0.0
        row = {
            "name": r.name, "op": r.op, "engine": r.engine, "cycles": span,
            "compute_cycles": tt.compute_cycles, "stall_cycles": max(0, span - tt.compute_cycles),
            "start": int(tt.start), "end": int(-(-tt.end // 1)),
            "dense_macs": r.dense_macs, "performed_macs": r.performed_macs,
            "utilization": util, "dram_read_bytes": tt.dram_read_bytes,
            "dram_write_bytes": tt.dram_write_bytes, "sram_read_bytes": r.sram_read_bytes,
            "sram_write_bytes": r.sram_write_bytes, "energy_pj": energy,
            "bound": "memory" if dram_cycles(tt) > tt.compute_cycles else "compute",
        }
        row.update(r.extra)
        rows.append(row)
    table = frame_of_records(rows, list(LAYER_COLUMNS) + [
        c for c in (rows[0] if rows else {}) if c not in LAYER_COLUMNS
    ])
    cycles = int(sched.cycles)
    busy = int(min(sched.busy_cycles, cycles))
    from .energy import add_breakdowns, energy_breakdown

    static_pj, static_bd = energy_breakdown(arch, {}, cycles)
    breakdown = add_breakdowns(
        *(r.energy_breakdown or {r.engine: {"other": r.energy_pj}} for r in records),
        {"dram": {"read": e_dram * sum(sched.tasks[r.name].dram_read_bytes for r in records),
                  "write": e_dram * sum(sched.tasks[r.name].dram_write_bytes for r in records)}},
        static_bd,
    )
    performed = sum(r.performed_macs for r in records)
    dense = sum(r.dense_macs for r in records)
    from .gemm import resource_counters

    all_counters = dict(resource_counters(arch, dense, cycles))
    all_counters["num_ops"] = len(records)
    all_counters.update(counters or {})
    all_counters["energy_breakdown"] = breakdown
    return RunResult(
        kind=kind,
        engine=engine,
        arch=arch.name,
        arch_hash=arch.hash(),
        cycles=cycles,
        compute_cycles=busy,
        stall_cycles=cycles - busy,
        seconds=arch.cycles_to_seconds(cycles),
        wall_seconds=time.perf_counter() - started,
        dense_macs=dense,
        performed_macs=performed,
        utilization=performed / (multipliers * cycles) if multipliers and cycles else 0.0,
        dram_read_bytes=sched.dram_read_bytes,
        dram_write_bytes=sched.dram_write_bytes,
        sram_read_bytes=sum(r.sram_read_bytes for r in records),
        sram_write_bytes=sum(r.sram_write_bytes for r in records),
        energy_pj=float(np.sum([row["energy_pj"] for row in rows], dtype=np.float64)) + static_pj,
        events=sched.events,
        check=check,
        check_reason=check_reason,
        seed=seed,
        counters=all_counters,
        params=params,
        table=table,
    )
