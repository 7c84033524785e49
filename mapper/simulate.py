"""Whole-network simulation: one SimPy run per network (DESIGN.md, contract 8).

``load → prune → map → simulate``: :func:`map_graph` assigns engines and lowers every op to its
engine's plan; :func:`simulate_network` schedules them as ONE :func:`hwsim.schedule.run_schedule`
(engines shared, one DRAM model, cross-layer prefetch, independent ops on different engines
overlapping) and reads every per-layer figure from that run. Training (``training=True``)
expands every weight GEMM into ``LAYER/fwd``, ``LAYER/bwd_data`` and ``LAYER/wgrad`` (BDWP
masks, SAT's N:M pre-generation on the vector unit) with the backward pass in reverse graph
order; act×act products get their two dense gradient GEMMs, vector ops a backward costed like
their forward.
"""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import ConfigError

from .graph import MatMulOp, OpGraph
from .lower import LoweredOp, lower_graph

__all__ = ["Mapping", "map_graph", "simulate_network"]


@dataclass
class Mapping:
    """An OpGraph mapped onto an architecture: engines, plans and residency.

    Attributes
    ----------
    graph : OpGraph
    arch : Architecture
        With any ``array`` override applied.
    engine : str
        The GEMM engine of the default policy.
    lowered : list of LoweredOp
        Ops in schedule order.
    info : dict
        Lowering statistics (``unique_plans``, ``spilled_tensors``...).
    precision, dataflow : str
    """

    graph: OpGraph
    arch: Any
    engine: str
    lowered: list[LoweredOp]
    info: dict
    precision: str
    dataflow: str | None


def map_graph(
    graph: OpGraph,
    arch: Any,
    *,
    mapping: Any = None,
    engine: str | None = None,
    dataflow: str | None = None,
    precision: str = "int8",
    array: Any = None,
    seed: int = 0,
    check: bool = True,
) -> Mapping:
    """Assign engines and lower every op of ``graph`` (no simulation yet).

    Parameters
    ----------
    graph : OpGraph
    arch : Architecture, preset name or YAML path
    mapping : path, dict or list, optional
        Engine overrides (:func:`mapper.assign.load_mapping`).
    engine : str, optional
        GEMM engine of the default policy (default: the architecture's first).
    dataflow, precision, array, seed, check
        As :func:`hwsim.gemm.simulate_gemm`.

    Returns
    -------
    Mapping

    Raises
    ------
    ConfigError
        No GEMM engine, a bad mapping, an unsupported precision or dataflow.
    """
    from hwsim.arch import load_arch
    from hwsim.gemm import _check_precision, _engine_with_array

    from .assign import assign_engines, load_mapping

    arch = load_arch(arch)
    _check_precision(precision)
    if not isinstance(graph, OpGraph):
        raise ConfigError(f"graph must be a mapper OpGraph, got {type(graph).__name__}")
    gemm = None
    if graph.gemm_ops() or any(isinstance(o, MatMulOp) for o in graph.ops()):
        gemm, arch = _engine_with_array(arch, engine, array)
    elif array is not None:
        raise ConfigError("array applies to a GEMM engine; this graph has no GEMM")
    rules = load_mapping(mapping) if mapping is not None else None
    engines = assign_engines(graph, arch, rules, gemm_engine=gemm)
    lowered, info = lower_graph(graph, arch, engines, dataflow=dataflow, precision=precision,
                                seed=seed, check=check)
    return Mapping(graph, arch, gemm or "", lowered, info, precision, dataflow)


def _task_deps(graph: OpGraph, lowered: list[LoweredOp]) -> dict[str, tuple[str, ...]]:
    """Dependencies between scheduled ops (free data ops are looked through)."""
    scheduled = {lo.op.name for lo in lowered if lo.engine is not None}
    deps: dict[str, tuple[str, ...]] = {}
    memo: dict[str, set[str]] = {}

    def sources(name: str) -> set[str]:
        if name in memo:
            return memo[name]
        out: set[str] = set()
        for p in graph.predecessors(name):
            out |= {p} if p in scheduled else sources(p)
        memo[name] = out
        return out

    for lo in lowered:
        if lo.engine is not None:
            deps[lo.op.name] = tuple(sorted(sources(lo.op.name)))
    return deps


def schedule_order(graph: OpGraph, lowered: list[LoweredOp]) -> list[LoweredOp]:
    """The static order of the ops on their engines: by dependency level, then graph order.

    Engines run their ops in a fixed order (an offline schedule, as SAT's). Ordering by level
    (the length of the longest dependency chain before an op) lets an independent op -- a
    residual branch, a side computation -- run on its engine as soon as its inputs exist,
    instead of waiting behind ops that come before it in graph order only by accident.
    """
    import networkx as nx

    level = {}
    for i, gen in enumerate(nx.topological_generations(graph.g)):
        for name in gen:
            level[name] = i
    index = {lo.op.name: i for i, lo in enumerate(lowered)}
    return sorted(lowered, key=lambda lo: (level.get(lo.op.name, 0), index[lo.op.name]))


def _spgemm_process(sp):
    from hwsim.spgemm.sim import phases_process

    machine, _name, spec, *_rest, plan = sp

    def proc(env, dram):
        return phases_process(env, dram, plan.phases, workers=spec.cores)

    return proc


def simulate_network(
    graph: OpGraph | Mapping,
    arch: Any = None,
    *,
    mapping: Any = None,
    engine: str | None = None,
    dataflow: str | None = None,
    precision: str = "int8",
    array: Any = None,
    training: bool = False,
    check: bool = True,
    seed: int = 0,
    trace: Any = None,
    progress: bool | None = None,
):
    """Simulate a whole network (or one training step of it) in ONE SimPy run.

    Parameters
    ----------
    graph : OpGraph or Mapping
        The network (from a front end, pruned or not), or an already mapped one.
    arch : Architecture, preset name or YAML path
        Required unless ``graph`` is a :class:`Mapping`.
    mapping, engine, dataflow, precision, array
        As :func:`map_graph`.
    training : bool
        Simulate one BDWP training step instead of inference.
    check : bool
        Functional check of every distinct GEMM the run planned (from the compressed operands
        the engine was given, against NumPy).
    seed : int
        Seed of synthetic weights and operands.
    trace : path or list, optional
        Chrome/Perfetto trace: one track per engine and per DRAM channel, ops labelled.
    progress : bool, optional
        A progress bar on stderr for runs longer than a second (default: when stderr is a
        terminal).

    Returns
    -------
    RunResult
        ``kind="network"``; ``table`` has one row per scheduled op in graph order.

    Raises
    ------
    ConfigError, ShapeError, PatternError
        Bad arguments or operations the engines cannot run.
    CheckFailedError
        An engine's output differs from the reference (the op is named).
    """
    with _gc_paused():
        return _simulate(graph, arch, mapping=mapping, engine=engine, dataflow=dataflow,
                         precision=precision, array=array, training=training, check=check,
                         seed=seed, trace=trace, progress=progress)


@contextlib.contextmanager
def _gc_paused():
    """Cyclic garbage collection off while a network maps and runs, back on (as it was) after.

    A run allocates tens of thousands of short-lived SimPy events and plan arrays, which
    trigger collections that find almost nothing (the run's objects stay alive until it
    ends); pausing them saves about a sixth of a LLaMA decode run. Nothing is lost: the
    collector runs as usual once it is back on.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _simulate(graph, arch, *, mapping, engine, dataflow, precision, array, training, check,
              seed, trace, progress):
    from hwsim.pipeline import write_trace
    from hwsim.schedule import Task, run_schedule, schedule_trace

    t0 = time.perf_counter()
    if isinstance(graph, Mapping):
        mp = graph
    else:
        if arch is None:
            raise ConfigError("arch is required to simulate a graph")
        mp = map_graph(graph, arch, mapping=mapping, engine=engine, dataflow=dataflow,
                       precision=precision, array=array, seed=seed, check=check)
    arch = mp.arch
    deps = _task_deps(mp.graph, mp.lowered)
    if training:
        from .training import training_schedule

        tasks, records_for = training_schedule(mp, deps, seed=seed, check=check)
    else:
        tasks = []
        for lo in schedule_order(mp.graph, mp.lowered):
            if lo.engine is None:
                continue
            if lo.spgemm is not None:
                tasks.append(Task(lo.op.name, lo.engine, None, deps=deps[lo.op.name],
                                  process=_spgemm_process(lo.spgemm)))
            else:
                tasks.append(Task(lo.op.name, lo.engine, lo.plan, deps=deps[lo.op.name],
                                  wait_deps_before_load=not lo.inputs_on_chip))
        records_for = None
    bar = _progress(len(tasks), progress)
    events = trace if isinstance(trace, list) else ([] if trace else None)
    try:
        sched = run_schedule(tasks, arch, record=events is not None,
                             progress=(lambda _n: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    check_state, reason, check_s = _check(mp, check)
    from .report import network_result

    result = network_result(mp, tasks, sched, records_for, t0, seed=seed, training=training,
                            check=(check_state, reason, check_s))
    if events is not None:
        events.extend(schedule_trace(sched, tasks, arch))
        if not isinstance(trace, list):
            write_trace(trace, events)
    return result


def _progress(total: int, progress: bool | None):
    import sys

    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm

    # shown only once the run has taken a second (short runs print nothing)
    return tqdm(total=total, unit="op", file=sys.stderr, leave=False, delay=1.0)


def engine_gemm_fn(mp: Mapping):
    """``gemm_fn(op, act, weight, group)`` computing through the op's engine's functional path.

    Each call builds the engine's own work item from the activation it receives and the
    (pruned) weight, so the engine computes from the compressed operands it would be given
    (N:M values + indices through the selector, kept blocks...), in the model's dtype.
    """
    from hwsim.engines import GemmWork, engine_model
    from hwsim.errors import CheckFailedError

    engines = {lo.op.name: lo.engine for lo in mp.lowered}

    def fn(op, act, weight, group):
        eng = engines.get(op.name) or mp.engine
        spec = mp.arch.engine(eng)
        w = np.asarray(weight)
        prec = "fp32" if w.dtype.kind == "f" or np.asarray(act).dtype.kind == "f" else "int16"
        work = GemmWork(m=int(act.shape[0]), k=int(w.shape[0]), n=int(w.shape[1]), weight=w,
                        sparsity=op.sparsity if op.sparsity is not None else _dense(),
                        precision=prec, dataflow=mp.dataflow or _first_dataflow(spec),
                        act=np.asarray(act))
        try:
            out = engine_model(spec.kind).compute(work, mp.arch, eng)
        except CheckFailedError as exc:
            raise CheckFailedError(f"op {op.name!r} ({op.op_type}): {exc}") from None
        return np.asarray(out, dtype=np.result_type(act, w))

    return fn


def _first_dataflow(spec) -> str:
    flows = tuple(getattr(spec, "dataflows", None) or ("ws",))
    return getattr(spec, "dataflow", None) or flows[0]


def _dense():
    from hwsim.sparsity import Dense

    return Dense()


def _check(mp: Mapping, check: bool) -> tuple[str, str | None, float]:
    """Functional check: the whole ONNX network end to end (each GEMM through its engine's
    functional path, every other node with ``onnx.reference``) against ``onnx.reference`` on
    the pruned model; a torch graph end to end against the torch module
    (:func:`mapper.check_torch.check_torch_network`) and, as every other graph (zoo, CSV), each
    distinct GEMM plan from its compressed operands against NumPy."""
    from hwsim.errors import CheckFailedError
    from hwsim.gemm import check_gemm

    if not check:
        return "skipped", "functional check disabled (check=False)", 0.0
    t = time.perf_counter()
    if mp.graph.meta.get("front_end") == "onnx" and any(
            o.weight is not None for o in mp.graph.gemm_ops()):
        from .check import check_network

        summary = check_network(mp.graph, engine_gemm_fn(mp), seed=0)
        mp.info["check_scope"] = (f"full: the whole network against onnx.reference, "
                                  f"{int(summary['layers_checked'])} GEMM layers on the engines")
        mp.info["check_layers"] = int(summary["layers_checked"])
        mp.info["check_max_abs_error"] = float(summary["max_abs_error"])
        return "passed", None, time.perf_counter() - t
    scope = ""
    if mp.graph.meta.get("front_end") == "torch" and any(
            o.weight is not None for o in mp.graph.gemm_ops()):
        from .check_torch import check_torch_network

        summary = check_torch_network(mp.graph, engine_gemm_fn(mp))
        mp.info["check_layers"] = int(summary["layers_checked"])
        mp.info["check_max_abs_error"] = float(summary["max_abs_error"])
        scope = (f"full: the whole network against the torch module, "
                 f"{int(summary['layers_checked'])} GEMM layers on the engines; ")
    checked, skipped, seen = 0, [], set()
    for lo in mp.lowered:
        for job, plan in lo.jobs:
            if id(job) in seen:
                continue
            seen.add(id(job))
            try:
                state, why, _s, _scope = check_gemm(job, plan)
            except CheckFailedError as exc:
                raise CheckFailedError(f"op {lo.op.name!r} ({lo.op.op_type}): {exc}") from None
            if state == "passed":
                checked += 1
            else:
                skipped.append(f"{lo.op.name}: {why}")
    secs = time.perf_counter() - t
    mode = "full" if check == "full" else "sampled"
    mp.info["check_scope"] = (f"{scope}{mode}: {checked} distinct GEMM plans, each against its "
                              "tiles")
    if skipped and not checked and not scope:
        return "skipped", skipped[0], secs
    if skipped:
        return "passed", f"{len(skipped)} GEMM(s) not checked, e.g. {skipped[0]}", secs
    return "passed", None, secs
