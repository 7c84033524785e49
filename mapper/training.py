"""One BDWP training step of a whole network as one schedule (SAT, DESIGN.md contract 8).

Every weight GEMM ``LAYER`` becomes ``LAYER/fwd`` (N:M along K), ``LAYER/bwd_data`` (N:M along
the other axis of W: BDWP), ``LAYER/wgrad`` (dense, with the read-modify-write of W) and, when
the layer is N:M, ``LAYER/pregen`` on the vector unit (next step's masks, overlapped with the
weight update) -- the same expansion as :func:`hwsim.training.simulate_training`. The backward
pass runs in reverse graph order as one chain (each backward task waits for the one before, which
produced its gradient). Activation × activation products get their two dense gradient GEMMs
(``/bwd_a``, ``/bwd_b``); vector and copy ops a backward costed like their forward (``/bwd``).
Layers whose weights are neither dense nor N:M train dense (BDWP has no other pattern).

Documented simplification: backward tasks read their operands (saved activations, gradients)
from DRAM and write their results back -- no on-chip residency across the backward pass.
"""

from __future__ import annotations

from typing import Any

from hwsim.combine import OpRecord
from hwsim.schedule import Task

from .graph import GemmOp, MatMulOp
from .lower import concat_plans

__all__ = ["training_schedule"]


def _gemm_plans(planner, engine, shapes):
    """Plans (and new jobs) of one GEMM per group: ``shapes`` = [(m, k, n, sparsity, w)]."""
    plans, jobs = [], []
    for m, k, n, spc, w in shapes:
        job, plan, new = planner.gemm(engine, int(m), int(k), int(n), spc, w)
        plans.append(plan)
        if all(j is not job for j, _ in jobs):
            jobs.append((job, plan))
    return concat_plans(plans, engine), jobs


def _layer_weights(op: GemmOp, pattern):
    """Per group: (forward weight K×N, backward weight N×K) after BDWP masks, or synthetic."""
    if op.weight is None:
        return [(None, None)] * int(op.groups)
    from hwsim.training import bdwp_weights

    w_ff, w_bp = bdwp_weights(op.weight, pattern)  # all groups at once: (groups, K, N)
    return list(zip(w_ff, w_bp, strict=True))


def _weight_tasks(lo, mp, planner, fwd_deps):
    from hwsim.engines._tiling import nm_pattern_of
    from hwsim.sparsity import Dense
    from hwsim.training import _with_weight_rmw, pregen_plan
    from hwsim.vector import VECTOR_ENGINE

    op, arch, eng = lo.op, mp.arch, lo.engine
    pattern = nm_pattern_of(op.sparsity)
    spc = pattern if pattern is not None else Dense()
    ws = _layer_weights(op, pattern)
    m, k, n = int(op.m), int(op.k), int(op.n)
    ff, jf = _gemm_plans(planner, eng, [(m, k, n, spc, w[0]) for w in ws])
    bp, jb = _gemm_plans(planner, eng, [(m, n, k, spc, w[1]) for w in ws])
    wu, jw = _gemm_plans(planner, eng, [(k, m, n, Dense(), None)] * int(op.groups))
    wu = _with_weight_rmw(wu)
    fwd = Task(f"{op.name}/fwd", eng, ff, deps=fwd_deps, wait_deps_before_load=True)
    back = [("bwd_data", bp, jb), ("wgrad", wu, jw)]
    extra = []
    if pattern is not None:
        from hwsim.engines.base import PRECISION_BYTES

        eb = PRECISION_BYTES[mp.precision]
        pplan, _, _ = pregen_plan(arch, k, n * int(op.groups), pattern, eb)
        extra.append(("pregen", pplan, VECTOR_ENGINE))
    return fwd, jf, back, extra


def training_schedule(mp, deps: dict, *, seed: int, check: bool):
    """Tasks of one training step of ``mp`` and a function that makes their records.

    Returns
    -------
    (tasks, records_for) : tuple
        ``records_for(tasks, sched)`` gives the :class:`~hwsim.combine.OpRecord` list.
    """
    from hwsim.sparsity import Dense

    from .lower import _Planner

    planner = _Planner(mp.arch, mp.dataflow, mp.precision, seed, check)
    nocheck = _Planner(mp.arch, mp.dataflow, mp.precision, seed, False)
    fwd_tasks: list[Task] = []
    backward: list[tuple] = []  # (lo, suffix, plan, engine, jobs)
    info: dict[str, tuple] = {}
    from .simulate import schedule_order

    for lo in schedule_order(mp.graph, mp.lowered):
        if lo.engine is None:
            continue
        name = lo.op.name
        fdeps = tuple(f"{d}/fwd" for d in deps[name])
        if isinstance(lo.op, GemmOp):
            fwd, jobs, back, extra = _weight_tasks(lo, mp, planner, fdeps)
            fwd_tasks.append(fwd)
            lo.jobs = jobs
            info[fwd.name] = (lo, "fwd", jobs)
            backward.append((lo, back, extra))
        elif lo.plan is not None:
            fwd = Task(f"{name}/fwd", lo.engine, lo.plan, deps=fdeps,
                       wait_deps_before_load=not lo.inputs_on_chip)
            fwd_tasks.append(fwd)
            info[fwd.name] = (lo, "fwd", lo.jobs)
            if isinstance(lo.op, MatMulOp):
                op = lo.op
                a, ja = _gemm_plans(nocheck, lo.engine, [(op.m, op.n, op.k, Dense(), None)]
                                    * int(op.batch))
                b, jb = _gemm_plans(nocheck, lo.engine, [(op.k, op.m, op.n, Dense(), None)]
                                    * int(op.batch))
                backward.append((lo, [("bwd_a", a, ja), ("bwd_b", b, jb)], []))
            else:
                spilled = _all_dram(lo.plan, mp.arch)
                backward.append((lo, [("bwd", spilled, [])], []))
        else:  # SpGEMM: forward only (its backward is not modelled)
            fwd = Task(f"{name}/fwd", lo.engine, None, deps=fdeps,
                       process=_spgemm_proc(lo))
            fwd_tasks.append(fwd)
            info[fwd.name] = (lo, "fwd", [])
    tasks = list(fwd_tasks)
    prev = fwd_tasks[-1].name if fwd_tasks else None
    for lo, back, extra in reversed(backward):
        first_back = None
        for suffix, plan, bjobs in back:
            t = Task(f"{lo.op.name}/{suffix}", lo.engine, plan,
                     deps=tuple(d for d in (prev, f"{lo.op.name}/fwd") if d),
                     wait_deps_before_load=True)
            tasks.append(t)
            info[t.name] = (lo, suffix, bjobs)
            first_back = first_back or t.name
        for suffix, plan, eng in extra:
            t = Task(f"{lo.op.name}/{suffix}", eng, plan, deps=(first_back,))
            tasks.append(t)
            info[t.name] = (lo, suffix, [])
        prev = first_back
    tasks = _reorder(tasks)

    def records_for(tasks, sched):
        out = []
        for t in tasks:
            lo, phase, jobs = info[t.name]
            extra: dict[str, Any] = {"layer": lo.op.name, "phase": phase, "kind": lo.op.kind}
            if t.plan is None:
                out.append(OpRecord(t.name, lo.op.op_type, t.engine, extra=extra))
                continue
            out.append(OpRecord.from_plan(  # the action table; DRAM, static: combine_results
                t.name, lo.op.op_type, t.engine, t.plan, mp.arch,
                work=jobs[0][0].work if jobs else None, dense_macs=_dense_macs(lo.op, phase),
                precision=mp.precision, extra=extra))
        return out

    return tasks, records_for


def _dense_macs(op, phase: str) -> int:
    if phase in ("pregen", "bwd") or op.kind not in ("gemm", "matmul"):
        return 0
    return int(op.macs)


def _all_dram(plan, arch):
    """The same vector work with its inputs and outputs moving through DRAM (backward pass)."""
    from hwsim.vector import vector_plan

    v = arch.vector
    cycles = int(plan.compute_cycles.sum())
    r, w = int(plan.sram_read_bytes.sum()), int(plan.sram_write_bytes.sum())
    return vector_plan(arch, cycles * int(v.lanes) * int(v.ops_per_cycle), read_bytes=r,
                       write_bytes=w, sram_read_bytes=r, sram_write_bytes=w, engine=plan.engine)


def _spgemm_proc(lo):
    from .simulate import _spgemm_process

    return _spgemm_process(lo.spgemm)


def _reorder(tasks: list[Task]) -> list[Task]:
    """Forward tasks, then each backward task after the task it depends on (stable)."""
    seen: set[str] = set()
    out: list[Task] = []
    pending = list(tasks)
    while pending:
        rest = []
        for t in pending:
            if all(d in seen for d in t.deps):
                out.append(t)
                seen.add(t.name)
            else:
                rest.append(t)
        if len(rest) == len(pending):  # pragma: no cover - deps always point backwards
            raise RuntimeError("training schedule has a dependency cycle")
        pending = rest
    return out
