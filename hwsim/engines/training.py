"""SAT's BDWP training step of one layer: sparse forward, sparse backward-data, dense weight update, N:M pre-generation."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

__all__ = ["simulate_training", "pregeneration_cycles"]

# The layer computes Y = X·W with X (M×K) and W (K×N). One training step is three GEMMs, each
# run through hwsim.gemm.simulate_gemm (tiles, pipeline, functional check, energy):
#   FF  Y  = X  · (W ⊙ mask_fwd)        weight K×N, N:M along K (axis 0)
#   BP  dX = dY · (W ⊙ mask_bwd)ᵀ       weight N×K, N:M along N (axis 1 of W) -- BDWP
#   WU  dW = Xᵀ · dY                    dense, (K×M)·(M×N)
# SAT pre-generates the next step's two N:M weights (top-n of every m on the vector unit) while
# the dense weight update runs; only the part longer than the WU adds time.


def pregeneration_cycles(arch: Any, k: int, n: int, masks: int = 2) -> int:
    """Vector-unit cycles to select top-``n`` of ``m`` for ``masks`` directions of a K×N weight.

    Each lane streams one element per op through a compare-and-insert into its group's
    ``n``-entry list: ``ceil(masks · K · N / (lanes · ops_per_cycle))``.
    """
    v = arch.vector
    return int(math.ceil(masks * k * n / (int(v.lanes) * int(v.ops_per_cycle))))


def simulate_training(
    arch: Any,
    m: int,
    k: int,
    n: int,
    *,
    sparsity: Any = "2:8",
    weight: np.ndarray | None = None,
    engine: str | None = None,
    dataflow: str | None = None,
    precision: str = "int8",
    batch: int = 1,
    check: bool = True,
    seed: int = 0,
    trace: Any = None,
):
    """Simulate one BDWP training step of a ``K × N`` layer on ``M·batch`` rows.

    Parameters
    ----------
    arch : Architecture, preset name or YAML path
    m, k, n : int
        Layer shape: ``Y[M, N] = X[M, K] · W[K, N]``.
    sparsity : NMPattern, str or Dense
        Pattern of both BDWP masks (``"dense"`` gives plain dense training).
    weight : numpy.ndarray, optional
        Dense ``K × N`` weight to prune; synthetic (seeded) when omitted.
    engine, dataflow, precision, check, seed
        As :func:`hwsim.gemm.simulate_gemm`, for each of the three GEMMs.
    batch : int
        Multiplies ``M``.
    trace : list, optional
        Chrome trace events of the three GEMMs are appended, one after the other in simulated
        time (forward, backward-data, weight update), each event name prefixed with its GEMM;
        :func:`hwsim.gemm.simulate_gemm` writes them to a file when given a path.

    Returns
    -------
    RunResult
        ``kind="training"``; ``table`` has one row per GEMM plus ``pregen``; counters hold
        ``pregen_cycles`` and ``pregen_exposed_cycles`` (the part not hidden by the WU).

    Raises
    ------
    ShapeError
        ``m``, ``k``, ``n`` or ``batch`` is not a positive integer.
    ConfigError
        ``sparsity`` is neither dense nor N:M (BDWP has no model for other patterns).
    TypeError, ValueError
        ``seed`` is not a non-negative integer.
    """
    import pandas as pd

    from ..errors import ConfigError
    from ..gemm import resource_counters, run_arguments, simulate_gemm
    from ..result import RunResult
    from ..sparsity import Dense, bdwp_masks, parse_sparsity
    from ._tiling import nm_pattern_of

    t0 = time.perf_counter()
    arch, m, k, n, batch, seed = run_arguments(arch, m, k, n, batch, seed)
    spec = parse_sparsity(sparsity) if isinstance(sparsity, str) else sparsity
    pattern = nm_pattern_of(spec)
    if pattern is None and spec is not None and not isinstance(spec, Dense):
        # BDWP prunes N:M along each pass's reduction axis; block or unstructured weights
        # have no training model here, and training them dense would report another design.
        raise ConfigError(f"training (BDWP) needs dense or N:M sparsity, not {str(spec)!r}")
    rows = m * batch
    rng = np.random.default_rng([seed, 7])
    if weight is None:
        weight = rng.integers(-127, 128, size=(k, n), dtype=np.int16).astype(np.int8)
    weight = np.asarray(weight)
    if pattern is not None:
        fwd_mask, bwd_mask = bdwp_masks(weight, pattern, forward_axis=0, backward_axis=1)
        w_ff = np.where(fwd_mask, weight, 0).astype(weight.dtype)
        w_bp = np.where(bwd_mask, weight, 0).astype(weight.dtype).T
        sp_name = pattern
    else:
        w_ff, w_bp, sp_name = weight, weight.T, Dense()
    dy = rng.integers(-127, 128, size=(rows, n), dtype=np.int16).astype(np.int8)
    common = dict(engine=engine, dataflow=dataflow, precision=precision, check=check, seed=seed)
    shapes = {
        "ff": (rows, k, n, sp_name, w_ff),
        "bp": (rows, n, k, sp_name, w_bp),
        "wu": (k, rows, n, Dense(), dy),
    }
    runs = {}
    for gemm_name, (gm, gk, gn, gsp, gw) in shapes.items():
        events = [] if isinstance(trace, list) else None
        runs[gemm_name] = simulate_gemm(
            arch, gm, gk, gn, sparsity=gsp, weight=gw, trace=events, **common
        )
        if events is not None:
            _append_trace(trace, events, gemm_name, runs)
    pregen = pregeneration_cycles(arch, k, n) if pattern is not None else 0
    exposed = max(0, pregen - runs["wu"].cycles)
    compute = sum(r.compute_cycles for r in runs.values())
    stall = sum(r.stall_cycles for r in runs.values()) + exposed
    cycles = compute + stall
    table = pd.DataFrame(
        [
            {"gemm": name, "m": r.params["m"], "k": r.params["k"], "n": r.params["n"],
             "sparsity": r.params["sparsity"], "cycles": r.cycles,
             "compute_cycles": r.compute_cycles, "stall_cycles": r.stall_cycles,
             "performed_macs": r.performed_macs, "dense_macs": r.dense_macs, "check": r.check}
            for name, r in runs.items()
        ]
        + [{"gemm": "pregen", "cycles": exposed, "compute_cycles": pregen, "stall_cycles": 0}]
    )
    checks = [r.check for r in runs.values()]
    performed = sum(r.performed_macs for r in runs.values())
    mult = int(runs["ff"].counters.get("multipliers", 0))
    first = runs["ff"]
    return RunResult(
        kind="training",
        engine=first.engine,
        arch=arch.name,
        arch_hash=arch.hash(),
        cycles=cycles,
        compute_cycles=compute,
        stall_cycles=stall,
        seconds=arch.cycles_to_seconds(cycles),
        wall_seconds=time.perf_counter() - t0,
        dense_macs=sum(r.dense_macs for r in runs.values()),
        performed_macs=performed,
        utilization=performed / (mult * cycles) if mult and cycles else 0.0,
        dram_read_bytes=sum(r.dram_read_bytes for r in runs.values()),
        dram_write_bytes=sum(r.dram_write_bytes for r in runs.values()),
        sram_read_bytes=sum(r.sram_read_bytes for r in runs.values()),
        sram_write_bytes=sum(r.sram_write_bytes for r in runs.values()),
        energy_pj=sum(r.energy_pj for r in runs.values()),
        events=sum(r.events for r in runs.values()),
        check="passed" if all(c == "passed" for c in checks) else "skipped",
        check_reason=None if all(c == "passed" for c in checks) else first.check_reason,
        seed=seed,
        counters={
            **resource_counters(arch, sum(r.dense_macs for r in runs.values()), cycles),
            "check_wall_seconds": sum(r.counters.get("check_wall_seconds", 0.0)
                                      for r in runs.values()),
            "pregen_cycles": pregen,
            "pregen_exposed_cycles": exposed,
            **{f"{g}_cycles": r.cycles for g, r in runs.items()},
        },
        params={"m": m, "k": k, "n": n, "batch": batch,
                "sparsity": str(sp_name), "precision": precision, "training": True,
                "dataflow": first.params.get("dataflow")},
        table=table,
    )


def _append_trace(trace: list, events: list, gemm_name: str, runs: dict) -> None:
    """Append one GEMM's trace events after the GEMMs already run (they execute in sequence)."""
    done = list(runs.values())[:-1]
    offset_us = sum(r.seconds for r in done) * 1e6
    for ev in events:
        if ev.get("ph") == "M":
            if not done:  # track names once, from the first GEMM
                trace.append(ev)
            continue
        trace.append({**ev, "name": f"{gemm_name}: {ev['name']}", "ts": ev["ts"] + offset_us})
