"""GEMM driver: operands, engine plan, SimPy tile pipeline, energy and the functional check."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import sparsity as sp

# Run arguments (engine, dataflow, array) and the result assembly live in private modules; this
# is their public home.
from ._gemm_result import (  # noqa: F401  (re-exports)
    _RESULT_FIELDS,
    _table,
    _tile_frame,
    gemm_energy,
    gemm_energy_breakdown,
    gemm_result,
    resource_counters,
)
from ._gemm_setup import (  # noqa: F401  (re-exports)
    DATAFLOWS,
    _engine_with_array,
    _pick_dataflow,
    _positive_int,
    _sparsity,
    parse_array,
    pick_engine,
    run_arguments,
)
from ._lazy import Deferred  # noqa: F401  (importable from here)
from ._seed import check_seed  # noqa: F401  (importable from here)
from .arch import GEMM_KINDS, Architecture, load_arch  # noqa: F401  (importable from here)
from .check import ACT_BLOCK_ROWS, _check, activation_rows, reference_product
from .engines import engine_model
from .engines.base import GemmWork, TilePlan
from .errors import ConfigError, ShapeError  # noqa: F401  (importable from here)
from .memory import buffer_footprint
from .pipeline import PipelineStats, run_tiles, write_trace  # noqa: F401  (importable from here)
from .result import RunResult
from .synthetic import (  # noqa: F401  (synthetic_weight is part of this module's API)
    _INT_PRECISIONS,
    _WEIGHT_DTYPE,
    _check_precision,
    synthetic_weight,
)

__all__ = [
    "simulate_gemm",
    "GemmJob",
    "prepare_gemm",
    "plan_gemm",
    "check_gemm",
    "gemm_result",
    "gemm_energy",
    "gemm_energy_breakdown",
    "ROW_LIMIT",
    "parse_array",
    "pick_engine",
    "run_arguments",
    "synthetic_weight",
    "reference_product",
    "activation_rows",
    "ACT_BLOCK_ROWS",
    "resource_counters",
    "CHECK_ELEMENT_LIMIT",
    "WEIGHT_ELEMENT_LIMIT",
    "DATAFLOWS",
]

#: Largest ``M*K + K*N + M*N`` the functional check materialises (elements).
CHECK_ELEMENT_LIMIT = 64 * 2**20
#: Largest weight (K*N elements) the model builds: closed forms count the real sparsity of an
#: actual weight array, so it must fit in memory (2**30 int8 elements use ~5 GB at peak).
WEIGHT_ELEMENT_LIMIT = 2**30


def _operands(k, n, m_eff, spec, weight, precision, seed, check, legacy):
    if weight is not None:
        weight = np.asarray(weight)
        if weight.shape != (k, n):
            raise ShapeError(f"weight must have shape (k, n) = ({k}, {n}), got {weight.shape}")
        if isinstance(spec, sp.NMPattern):
            sp.check_nm(weight, spec, axis=0, name="weight")
    else:
        if k * n > WEIGHT_ELEMENT_LIMIT:
            raise ShapeError(
                f"k*n = {k}*{n} = {k * n} weight elements exceed the model's limit of "
                f"{WEIGHT_ELEMENT_LIMIT}: the closed forms count the real sparsity of a weight "
                "array, which must fit in memory; simulate a smaller k or n (e.g. one tile row)"
            )
        try:
            weight = synthetic_weight(k, n, spec, seed=seed, precision=precision)
        except MemoryError as exc:
            raise ShapeError(
                f"k*n = {k}*{n}: not enough memory for the weight array ({exc})"
            ) from None
    act, reason = None, None
    if not check:
        reason = "functional check disabled (check=False)"
    elif legacy:
        if m_eff * k + k * n + m_eff * n > CHECK_ELEMENT_LIMIT:
            reason = (
                f"operands too large for the check: M*K+K*N+M*N = "
                f"{m_eff * k + k * n + m_eff * n} elements > {CHECK_ELEMENT_LIMIT}"
            )
        else:
            act = activation_rows(seed, precision, k, 0, m_eff)
    return weight, act, reason


@dataclass
class GemmJob:
    """A validated GEMM ready to plan: what :func:`prepare_gemm` returns.

    Attributes
    ----------
    arch : Architecture
        The architecture (with any ``array`` override applied).
    engine : str
        Engine name in ``arch``.
    model : GemmEngine
        The engine model (``plan`` / ``compute``).
    work : GemmWork
        Shapes, operands and sparsity.
    params : dict
        The inputs that define the run (for the result).
    check_reason : str or None
        Why the functional check will not run (``None`` when it will).
    started : float
        ``time.perf_counter()`` when preparation began (wall time of the run).
    check_mode : str or None
        ``"sampled"``, ``"full"`` or ``None`` (no check); see :func:`hwsim.check.check_mode`.
    """

    arch: Architecture
    engine: str
    model: Any
    work: GemmWork
    params: dict
    check_reason: str | None
    started: float
    check_mode: str | None = None


#: Largest ``m * batch`` the model plans (rows of the activation): tiles grow with M.
ROW_LIMIT = 2**26


def prepare_gemm(
    arch: Architecture | str | Path,
    m: int,
    k: int,
    n: int,
    *,
    sparsity: Any = "dense",
    weight: np.ndarray | None = None,
    engine: str | None = None,
    dataflow: str | None = None,
    precision: str = "int8",
    batch: int = 1,
    array: Any = None,
    check: bool | str = True,
    seed: int = 0,
) -> GemmJob:
    """Validate a GEMM and build its operands (first step of :func:`simulate_gemm`).

    Parameters are those of :func:`simulate_gemm` (without ``training`` and ``trace``).

    Returns
    -------
    GemmJob

    Raises
    ------
    ShapeError, ConfigError, PatternError, TypeError, ValueError
        As :func:`simulate_gemm`.
    """
    from .check import check_mode

    t0 = time.perf_counter()
    mode = check_mode(check)
    arch, m, k, n, batch, seed = run_arguments(arch, m, k, n, batch, seed)
    _check_precision(precision)
    if m * batch > ROW_LIMIT:
        raise ShapeError(
            f"m*batch = {m}*{batch} = {m * batch} activation rows exceed the model's limit of "
            f"{ROW_LIMIT} (the plan's per-tile arrays grow with the rows); simulate fewer rows "
            "and scale"
        )
    name, arch = _engine_with_array(arch, engine, array)
    spec = arch.engine(name)
    flow = _pick_dataflow(spec, dataflow)
    sp_spec = _sparsity(sparsity)
    m_eff = m * batch
    model = engine_model(spec.kind)
    legacy = not callable(getattr(model, "execute_tile", None))
    w, act, reason = _operands(k, n, m_eff, sp_spec, weight, precision, seed, mode, legacy)
    work = GemmWork(
        m=m_eff, k=k, n=n, weight=w, sparsity=sp_spec, precision=precision, dataflow=flow,
        act=act, seed=seed,
    )
    params = {
        "m": m,
        "k": k,
        "n": n,
        "batch": batch,
        "sparsity": str(sp_spec),
        "precision": precision,
        "dataflow": flow,
        "engine_kind": spec.kind,
        "array": None if array is None else list(parse_array(array)),
        "training": False,
        "weight_given": weight is not None,
        "check_mode": mode,
    }
    return GemmJob(arch, name, model, work, params, reason, t0, mode)


def plan_gemm(job: GemmJob) -> TilePlan:
    """The engine's tile plan of ``job`` (closed forms on the real sparsity).

    Raises
    ------
    ShapeError
        A buffer's peak occupancy (:func:`hwsim.memory.buffer_footprint`, double buffered)
        exceeds its capacity.
    """
    plan = job.model.plan(job.work, job.arch, job.engine)
    caps = {name: b.capacity_bytes for name, b in job.arch.buffers.items()}
    for name, used in buffer_footprint(plan).items():
        cap = caps.get(name, job.arch.onchip_bytes)
        if used > cap:
            raise ShapeError(
                f"engine {job.engine!r} planned tiles that need {used} B of on-chip buffer "
                f"{name!r} (double buffered), capacity is {cap} B"
            )
    return plan


def check_gemm(
    job: GemmJob, plan: TilePlan | None = None, *, progress: bool | None = None
) -> tuple[str, str | None, float, str | None]:
    """Run the functional check of ``job`` against the schedule ``plan`` charged (contract 9).

    Engines with ``execute_tile`` are checked tile by tile (:func:`hwsim.check.check_tiles`):
    the plan's tile grid must cover the GEMM exactly once, and every checked tile is executed
    from its compressed operands, its counted figures (compute cycles included) compared with
    the plan's and its output with the dense NumPy product. Other engines (``compute`` only)
    are compared on the whole output.

    Parameters
    ----------
    job : GemmJob
    plan : TilePlan, optional
        The plan whose timing is reported (planned again when omitted).
    progress : bool, optional
        tqdm bar on stderr for a full check (default: when stderr is a terminal).

    Returns
    -------
    (state, reason, seconds, scope) : tuple
        ``("passed", None, s, "sampled 9 of 64 tiles")`` or ``("skipped", why, 0.0, None)``.

    Raises
    ------
    CheckFailedError
        An output differs from the reference, a counted figure from the plan's, or the tiles
        do not cover the GEMM (the tile and the figure are named).
    """
    if job.check_mode is None or (job.check_reason is not None and job.work.act is None):
        return "skipped", job.check_reason, 0.0, None
    t = time.perf_counter()
    if not callable(getattr(job.model, "execute_tile", None)):
        _check(job.model, job.work, job.arch, job.engine)
        return "passed", None, time.perf_counter() - t, "full (whole output)"
    from .check import check_tiles

    if plan is None:
        plan = plan_gemm(job)
    scope = check_tiles(job, plan, full=job.check_mode == "full", progress=progress)
    return "passed", None, time.perf_counter() - t, scope


def simulate_gemm(
    arch: Architecture | str | Path,
    m: int,
    k: int,
    n: int,
    *,
    sparsity: Any = "dense",
    weight: np.ndarray | None = None,
    engine: str | None = None,
    dataflow: str | None = None,
    precision: str = "int8",
    batch: int = 1,
    array: Any = None,
    training: bool = False,
    check: bool | str = True,
    seed: int = 0,
    trace: str | Path | list | None = None,
) -> RunResult:
    """Simulate ``out[M*batch, N] = act[M*batch, K] @ weight[K, N]`` on one engine.

    Parameters
    ----------
    arch : Architecture, preset name or YAML path
    m, k, n : int
        GEMM shape (``m`` rows per batch element).
    sparsity : str or sparsity spec
        ``dense``, ``N:M``, ``block:BxB:D`` or ``unstructured:D`` (of the weight, N:M along K).
    weight : numpy.ndarray, optional
        Actual ``K x N`` weight; its real zeros are what the engine counts. Synthetic when
        omitted (:func:`synthetic_weight`: seeded, satisfying ``sparsity``).
    engine : str, optional
        Engine name (or kind) in ``arch``; default the first GEMM-capable engine.
    dataflow : str, optional
        ``ws``, ``os`` or ``is``; default the engine's.
    precision : str
        ``int8``, ``int16``, ``fp16`` or ``bf16``.
    batch : int
        Multiplies M.
    array : str or (int, int), optional
        ``"RxC"`` override of the engine's rows and columns.
    training : bool
        Run SAT's three training GEMMs (``hwsim.training.simulate_training``).
    check : bool or str
        ``"sampled"`` (``True``, the default): execute a seeded sample of tiles (always the
        first, the last and the edge tiles) from their compressed operands, and compare their
        counted figures with the plan and their outputs with the dense NumPy product;
        ``"full"``: every tile; ``False``: no check. The result's ``check_scope`` says which.
    seed : int
        Seed of the synthetic operands.
    trace : path or list, optional
        Chrome trace file to write atomically, or a list to append the trace events to.

    Returns
    -------
    RunResult

    Raises
    ------
    ShapeError
        Impossible shapes (naming the field) or a weight of the wrong shape.
    ConfigError
        Unknown engine, precision, dataflow or array override.
    PatternError
        A given weight that does not satisfy a declared N:M pattern.
    CheckFailedError
        The engine's output differs from the reference (first mismatch named).
    TypeError, ValueError
        ``seed`` is not a non-negative integer.
    """
    if training:
        from .training import simulate_training

        return simulate_training(
            arch, m, k, n, sparsity=sparsity, weight=weight, engine=engine, dataflow=dataflow,
            precision=precision, batch=batch, array=array, check=check, seed=seed, trace=trace,
        )
    job = prepare_gemm(
        arch, m, k, n, sparsity=sparsity, weight=weight, engine=engine, dataflow=dataflow,
        precision=precision, batch=batch, array=array, check=check, seed=seed,
    )
    plan = plan_gemm(job)
    events: list | None = trace if isinstance(trace, list) else ([] if trace else None)
    st = run_tiles(plan, job.arch, trace=events)
    result = gemm_result(job, plan, st, check=check_gemm(job, plan))
    if trace is not None and not isinstance(trace, list):
        write_trace(trace, events)
    return result
