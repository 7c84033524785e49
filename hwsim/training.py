"""SAT's BDWP training step of one layer, as ONE scheduled run: sparse forward, sparse
backward-data, dense weight update with its read-modify-write of W, N:M pre-generation.

The layer computes ``Y = X·W`` with ``X`` (M×K) and ``W`` (K×N). One training step is three GEMMs
planned by the engine exactly as :func:`hwsim.gemm.simulate_gemm` plans one, plus a vector-unit
task, all in one SimPy environment with one DRAM model (DESIGN.md, 8):

* ``ff``  ``Y  = X · (W ⊙ mask_fwd)``   weight K×N, N:M along K (axis 0)
* ``bp``  ``dX = dY · (W ⊙ mask_bwd)ᵀ``  weight N×K, N:M along N (axis 1 of W) -- BDWP
* ``wu``  ``dW = Xᵀ · dY``                dense, (K×M)·(M×N); each output tile of the update is a
  read-modify-write of W (``W ← W − η·dW``): the old W tile is read, the new one written.
* ``pregen`` the vector unit selects the next step's top-``n`` of every ``m`` along both axes of
  W and writes the two compressed copies (values + indices), reading the dense W. SAT overlaps
  it with the weight update: it starts once the backward-data GEMM no longer needs this step's
  weights and runs on the vector unit while the PE array runs ``wu``; only what outlasts ``wu``
  adds time (``pregen_exposed_cycles``), and its DRAM traffic contends with the GEMMs'.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

__all__ = ["simulate_training", "pregeneration_cycles", "training_tasks", "bdwp_weights"]


def pregeneration_cycles(arch: Any, k: int, n: int, masks: int = 2) -> int:
    """Vector-unit cycles to select top-``n`` of ``m`` for ``masks`` directions of a K×N weight.

    Each lane streams one element per op through a compare-and-insert into its group's
    ``n``-entry list: ``ceil(masks · K · N / (lanes · ops_per_cycle))``.
    """
    v = arch.vector
    return int(math.ceil(masks * k * n / (int(v.lanes) * int(v.ops_per_cycle))))


def bdwp_weights(weight: np.ndarray, pattern: Any) -> tuple[np.ndarray, np.ndarray]:
    """The two GEMM weights of a BDWP step: ``W`` masked N:M along K for the forward pass, and
    ``W`` masked N:M along N, transposed (N × K), for the backward-data pass ``dX = dY · Wᵀ``.

    ``weight`` is ``K × N`` or a stack ``(groups, K, N)`` (the last two axes); ``pattern``
    ``None`` (dense training) gives ``W`` and ``Wᵀ``.
    """
    from .sparsity import bdwp_masks

    w = np.asarray(weight)
    if pattern is None:
        return w, np.ascontiguousarray(np.swapaxes(w, -1, -2))
    fm, bm = bdwp_masks(w, pattern, forward_axis=w.ndim - 2, backward_axis=w.ndim - 1)
    w_bp = np.where(bm, w, 0).astype(w.dtype)
    return np.where(fm, w, 0).astype(w.dtype), np.ascontiguousarray(np.swapaxes(w_bp, -1, -2))


def _compressed_bytes(k: int, n: int, pattern: Any, eb: int) -> int:
    """Bytes of one N:M-compressed copy of a K×N weight: kept values + their indices."""
    from .sparsity import nm_metadata_bits

    groups = -(-k // pattern.m)
    kept = groups * min(pattern.n, pattern.m) * n
    return kept * eb + -(-nm_metadata_bits((k, n), pattern, axis=0) // 8)


def pregen_plan(arch: Any, k: int, n: int, pattern: Any, eb: int):
    """Vector-unit tile plan of the N:M pre-generation of a K×N weight (both directions)."""
    from .vector import vector_plan

    read = k * n * eb
    write = 2 * _compressed_bytes(k, n, pattern, eb)
    plan = vector_plan(
        arch, 2 * k * n, read_bytes=read, write_bytes=write,
        sram_read_bytes=2 * read, sram_write_bytes=write,
    )
    return plan, read, write


def _with_weight_rmw(plan):
    """The weight-update plan with W read before each output tile is written back (RMW)."""
    plan.load_bytes = plan.load_bytes + plan.store_bytes
    plan.sram_read_bytes = plan.sram_read_bytes + plan.store_bytes
    plan.notes["weight_rmw_read_bytes"] = int(plan.store_bytes.sum())
    return plan


def training_tasks(name: str, jobs: dict, arch: Any, pattern: Any, k: int, n: int,
                   deps: tuple[str, ...] = ()):
    """Schedule tasks and plans of one layer's training step.

    Parameters
    ----------
    name : str
        Layer name; tasks are ``NAME/fwd``, ``NAME/bwd_data``, ``NAME/wgrad`` and
        ``NAME/pregen`` (when ``pattern`` is N:M).
    jobs : dict
        ``{"ff": GemmJob, "bp": GemmJob, "wu": GemmJob}`` from :func:`hwsim.gemm.prepare_gemm`.
    arch : Architecture
    pattern : NMPattern or None
    k, n : int
        Weight shape.
    deps : tuple of str
        Tasks the forward GEMM waits for.

    Returns
    -------
    list of (Task, plan, job_or_None, label)
    """
    from .gemm import plan_gemm
    from .schedule import Task
    from .vector import VECTOR_ENGINE

    plans = {g: plan_gemm(j) for g, j in jobs.items()}
    plans["wu"] = _with_weight_rmw(plans["wu"])
    names = {"ff": f"{name}/fwd", "bp": f"{name}/bwd_data", "wu": f"{name}/wgrad"}
    eng = jobs["ff"].engine
    out = [
        (Task(names["ff"], eng, plans["ff"], deps=deps), plans["ff"], jobs["ff"], "ff"),
        (Task(names["bp"], eng, plans["bp"], deps=(names["ff"],)), plans["bp"], jobs["bp"], "bp"),
        (Task(names["wu"], eng, plans["wu"], deps=(names["ff"],)), plans["wu"], jobs["wu"], "wu"),
    ]
    if pattern is not None:
        pplan, _, _ = pregen_plan(arch, k, n, pattern, jobs["ff"].work.elem_bytes)
        out.append((Task(f"{name}/pregen", VECTOR_ENGINE, pplan, deps=(names["bp"],)),
                    pplan, None, "pregen"))
    return out


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
    array: Any = None,
    check: bool = True,
    seed: int = 0,
    trace: Any = None,
):
    """Simulate one BDWP training step of a ``K × N`` layer on ``M·batch`` rows, in one run.

    Parameters
    ----------
    arch : Architecture, preset name or YAML path
    m, k, n : int
        Layer shape: ``Y[M, N] = X[M, K] · W[K, N]``.
    sparsity : NMPattern, str or Dense
        Pattern of both BDWP masks (``"dense"`` gives plain dense training).
    weight : numpy.ndarray, optional
        Dense ``K × N`` weight to prune; synthetic (seeded) when omitted.
    engine, dataflow, precision, array, check, seed
        As :func:`hwsim.gemm.simulate_gemm`, for each of the three GEMMs.
    batch : int
        Multiplies ``M``.
    trace : path or list, optional
        Chrome trace of the run (one track per engine and per DRAM channel).

    Returns
    -------
    RunResult
        ``kind="training"``; ``table`` has one row per task (``gemm`` column: ``ff``, ``bp``,
        ``wu``, ``pregen``); counters hold ``pregen_cycles``, ``pregen_exposed_cycles``,
        ``pregen_dram_read_bytes``, ``pregen_dram_write_bytes``, ``weight_rmw_read_bytes`` and
        each GEMM's span ``ff_cycles``, ``bp_cycles``, ``wu_cycles``.

    Raises
    ------
    ShapeError
        ``m``, ``k``, ``n`` or ``batch`` is not a positive integer.
    ConfigError
        ``sparsity`` is neither dense nor N:M (BDWP has no model for other patterns).
    TypeError, ValueError
        ``seed`` is not a non-negative integer.
    """
    from .combine import OpRecord, combine_results
    from .engines._tiling import nm_pattern_of
    from .errors import ConfigError
    from .gemm import check_gemm, prepare_gemm, run_arguments
    from .pipeline import write_trace
    from .schedule import run_schedule, schedule_trace
    from .sparsity import Dense, parse_sparsity

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
    w_ff, w_bp = bdwp_weights(weight, pattern)
    sp_name = pattern if pattern is not None else Dense()
    dy = rng.integers(-127, 128, size=(rows, n), dtype=np.int16).astype(np.int8)
    common = dict(engine=engine, dataflow=dataflow, precision=precision, check=check,
                  seed=seed, array=array)
    jobs = {
        "ff": prepare_gemm(arch, rows, k, n, sparsity=sp_name, weight=w_ff, **common),
        "bp": prepare_gemm(arch, rows, n, k, sparsity=sp_name, weight=w_bp, **common),
        "wu": prepare_gemm(arch, k, rows, n, sparsity=Dense(), weight=dy, **common),
    }
    arch = jobs["ff"].arch  # with the array override
    entries = training_tasks("layer", jobs, arch, pattern, k, n)
    events = trace if isinstance(trace, list) else ([] if trace else None)
    sched = run_schedule([e[0] for e in entries], arch, record=events is not None)
    checks = {label: check_gemm(job, plan) for _t, plan, job, label in entries if job is not None}
    records = []
    for task, plan, job, label in entries:
        if job is not None:
            w = job.work
            extra = {"gemm": label, "m": w.m, "k": w.k, "n": w.n, "sparsity": str(w.sparsity),
                     "check": checks[label][0]}
            records.append(OpRecord.from_plan(task.name, label, task.engine, plan, arch,
                                              work=w, dense_macs=w.dense_macs, extra=extra))
        else:
            plan.notes.setdefault("sram_operands",  # W's copies
                                  {"weight": [int(plan.sram_read_bytes.sum()),
                                              int(plan.sram_write_bytes.sum())]})
            records.append(OpRecord.from_plan(task.name, label, task.engine, plan, arch,
                                              extra={"gemm": label, "sparsity": str(sp_name)}))
    tt = sched.tasks
    wu_end = tt["layer/wgrad"].end
    pregen = exposed = p_read = p_write = 0
    if pattern is not None:
        pregen = int(entries[-1][1].compute_cycles.sum())
        exposed = max(0, int(math.ceil(tt["layer/pregen"].end - wu_end - 1e-9)))
        p_read, p_write = tt["layer/pregen"].dram_read_bytes, tt["layer/pregen"].dram_write_bytes
    passed = all(c[0] == "passed" for c in checks.values())
    first = jobs["ff"]
    result = combine_results(
        kind="training", arch=arch, engine=first.engine, sched=sched, records=records,
        started=t0, seed=seed, check="passed" if passed else "skipped",
        check_reason=None if passed else checks["ff"][1],
        params={"m": m, "k": k, "n": n, "batch": batch, "sparsity": str(sp_name),
                "precision": precision, "training": True, "dataflow": first.params["dataflow"],
                "array": first.params["array"]},
        counters={
            "check_wall_seconds": sum(c[2] for c in checks.values()),
            "pregen_cycles": pregen,
            "pregen_exposed_cycles": exposed,
            "pregen_dram_read_bytes": p_read,
            "pregen_dram_write_bytes": p_write,
            "weight_rmw_read_bytes": int(entries[2][1].notes["weight_rmw_read_bytes"]),
            **{f"{g}_cycles": tt[e[0].name].cycles for e, g in zip(entries[:3], ("ff", "bp", "wu"), strict=True)},
        },
        multipliers=int(entries[0][1].multipliers),
    )
    if events is not None:
        events.extend(schedule_trace(sched, [e[0] for e in entries], arch))
        if not isinstance(trace, list):
            write_trace(trace, events)
    return result
