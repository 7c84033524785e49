"""GEMM results: energy from the plan, resource counters, the per-tile table, the RunResult.

:mod:`hwsim.gemm` re-exports every name here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._gemm_setup import pick_engine
from ._lazy import Deferred
from .arch import Architecture
from .engines.base import GemmWork, TilePlan
from .memory import buffer_footprint
from .pipeline import PipelineStats
from .result import RunResult

if TYPE_CHECKING:  # pragma: no cover
    from .gemm import GemmJob


def _table(plan: TilePlan, st: PipelineStats) -> Deferred:
    """The per-tile table of a GEMM run, built (with pandas) when it is first read."""
    return Deferred(_tile_frame, plan, st)


def _tile_frame(plan: TilePlan, st: PipelineStats):
    import pandas as pd

    cols: dict[str, Any] = {"tile": np.arange(plan.num_tiles)}
    if plan.tiles is not None and len(plan.tiles) == plan.num_tiles:
        for c in plan.tiles.columns:
            cols[str(c)] = np.asarray(plan.tiles[c])
    for k in ("compute_cycles", "load_bytes", "store_bytes", "performed_macs"):
        cols[k] = getattr(plan, k)
    cols.update(
        load_start=st.load_start,
        load_end=st.load_end,
        compute_start=st.compute_start,
        compute_end=st.compute_end,
        store_end=st.store_end,
    )
    return pd.DataFrame(cols)


def gemm_energy(arch: Architecture, precision: str, performed: int, sram_bytes: int,
                dram_bytes: int) -> float:
    """Dynamic energy (pJ) of a GEMM from its totals alone, priced by :mod:`hwsim.energy`.

    MACs at ``precision``, ``sram_bytes`` as reads of the first buffer, ``dram_bytes``; no
    selector, metadata or static energy (a driver with the plan uses
    :func:`gemm_energy_breakdown`).
    """
    from .energy import energy_breakdown

    first = next(iter(arch.buffers), None)
    counts = {("dram", "read"): dram_bytes, (pick_engine(arch, None), "mac"): performed}
    if first is not None:
        counts[(first, "read")] = sram_bytes
    return energy_breakdown(arch, counts, 0, precision=precision, static=False)[0]


def gemm_energy_breakdown(arch: Architecture, plan: TilePlan, work: GemmWork, *,
                          cycles: float = 0, dram: tuple[int, int] = (0, 0), static: bool = True):
    """Energy of a planned GEMM from the architecture's per-action table (:mod:`hwsim.energy`).

    Parameters
    ----------
    arch : Architecture
    plan : TilePlan
        Its MACs, selections and per-buffer SRAM bytes are priced.
    work : GemmWork
        Gives the precision and the N:M window of the selections.
    cycles : float
        Run cycles the static power is charged over (with ``static``).
    dram : (int, int)
        DRAM bytes read and written.
    static : bool
        Add static power of every component over ``cycles``.

    Returns
    -------
    (total_pj, breakdown) : tuple
        As :func:`hwsim.energy.energy_breakdown`.
    """
    from .energy import energy_breakdown, plan_counts
    from .engines._tiling import nm_pattern_of

    counts = plan_counts(arch, plan)
    counts[("dram", "read")], counts[("dram", "write")] = dram
    pattern = nm_pattern_of(work.sparsity)
    return energy_breakdown(arch, counts, cycles, precision=work.precision,
                            m=pattern.m if pattern is not None else 1, static=static)


def gemm_result(
    job: GemmJob,
    plan: TilePlan,
    st: PipelineStats,
    *,
    check: tuple = ("skipped", None, 0.0),
) -> RunResult:
    """Assemble the :class:`RunResult` of a planned and run GEMM (energy, counters, table)."""
    arch, work = job.arch, job.work
    performed = int(plan.performed_macs.sum())
    sram_r, sram_w = int(plan.sram_read_bytes.sum()), int(plan.sram_write_bytes.sum())
    energy, breakdown = gemm_energy_breakdown(arch, plan, work, cycles=st.cycles,
                                              dram=(st.dram_read_bytes, st.dram_write_bytes))
    util = performed / (plan.multipliers * st.cycles) if plan.multipliers and st.cycles else 0.0
    counters = {"num_tiles": plan.num_tiles, "multipliers": int(plan.multipliers)}
    counters.update({k_: v for k_, v in plan.notes.items()
                     if k_ not in _RESULT_FIELDS and k_ != "sram_operands"})
    counters["energy_breakdown"] = breakdown
    counters.update(resource_counters(arch, work.dense_macs, st.cycles))
    counters["check_wall_seconds"] = check[2]
    counters["check_scope"] = check[3] if len(check) > 3 else None
    counters["peak_buffer_bytes"] = buffer_footprint(plan)
    return RunResult.from_stats(
        arch=arch,
        stats=st,
        started=job.started,
        kind="gemm",
        engine=job.engine,
        dense_macs=work.dense_macs,
        performed_macs=performed,
        utilization=util,
        sram_read_bytes=sram_r,
        sram_write_bytes=sram_w,
        energy_pj=energy,
        check=check[0],
        check_reason=check[1] if check[0] != "passed" else None,
        seed=work.seed,
        counters=counters,
        params=dict(job.params),
        table=_table(plan, st),
    )


_RESULT_FIELDS = frozenset(RunResult.__dataclass_fields__)


def resource_counters(arch: Architecture, dense_macs: int, cycles: int) -> dict[str, Any]:
    """Per-run resource figures for ranking designs per DSP.

    ``dsp``, ``lut``, ``ff``, ``bram_kb``, ``uram_kb`` from
    :meth:`~hwsim.arch.Architecture.resources_summary` (``resources_basis`` says whether they
    come from the RTL core's synthesis or an estimate), ``fits_device`` and ``device_warning``
    (what exceeds the device, or None), and ``macs_per_cycle_per_dsp``: the
    dense-equivalent MACs the run achieved per cycle and per DSP slice (sparsity credited).
    """
    res = arch.resources_summary()
    dsp = int(res["dsp"])
    return {
        "fits_device": res["fits_device"],
        "device_warning": "; ".join(res["device_warnings"]) or None,
        "dsp": dsp,
        "lut": int(res["lut"]),
        "ff": int(res["ff"]),
        "bram_kb": float(res["bram_kb"]),
        "uram_kb": float(res["uram_kb"]),
        "resources_basis": res["basis"],
        "macs_per_cycle_per_dsp": dense_macs / (cycles * dsp) if dsp and cycles else None,
    }
