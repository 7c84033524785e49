"""Lowering: every operation of an OpGraph becomes a tile plan (or a process) of its engine.

Each weight GEMM goes through its engine's own ``plan`` exactly as one GEMM does
(:func:`hwsim.gemm.prepare_gemm` → :func:`hwsim.gemm.plan_gemm`); convolutions are already in
GEMM form (im2col shapes, ``ConvOp``); groups run as a batched loop of per-group GEMMs (their
plans back to back in one task), never as a dense block-diagonal weight. Activation ×
activation products are GEMMs with a dense second operand, once per batch/head. Vector work is
costed by :mod:`hwsim.vector`. Identical operations (same shape, sparsity, engine and weights
or seed) are planned once and reused.

Residency (one model of buffer occupancy: :func:`hwsim.memory.buffer_footprint`, what GEMM
runs report as ``peak_buffer_bytes``): walking the ops in schedule order, an op's output tensor
stays on chip when the tensors already live on chip, this output and the op's own
double-buffered peak fit in the buffers that hold activations (``act`` and ``out``, or the
one pool); it is freed after its last consumer. Otherwise it is spilled: the producer
stores it and each consumer loads it from DRAM (and waits for the producer's stores before
loading). Graph inputs come from DRAM, graph outputs go to DRAM. Activations are costed at
the engine datapath's precision (``precision``), whatever the model's dtype.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwsim.engines.base import PRECISION_BYTES, TilePlan

from .graph import DataOp, GemmOp, MatMulOp, Op, OpGraph, SpGemmOp, VectorOp

__all__ = ["LoweredOp", "lower_graph", "concat_plans"]


@dataclass
class LoweredOp:
    """One operation ready to schedule.

    Attributes
    ----------
    op : Op
    engine : str or None
        ``None`` for free data movement (no task).
    plan : TilePlan or None
        Its tiles (``None`` for SpGEMM, which runs as a process, and free ops).
    jobs : list
        ``(GemmJob, TilePlan)`` of each distinct GEMM it runs (identical operations share
        them; the check runs each shared job once).
    spgemm : tuple or None
        :func:`hwsim.spgemm.engine.plan_spgemm` output for SpGEMM ops.
    out_bytes : int
        Its output activation at the datapath precision.
    on_chip_out : bool
        Its output stays on chip.
    inputs_on_chip : bool
        Every activation it reads is on chip.
    """

    op: Op
    engine: str | None
    plan: TilePlan | None = None
    jobs: list = field(default_factory=list)
    spgemm: Any = None
    out_bytes: int = 0
    on_chip_out: bool = False
    inputs_on_chip: bool = False


def concat_plans(plans: list[TilePlan], engine: str) -> TilePlan:
    """Plans run back to back as one plan (groups, heads, batch of identical GEMMs)."""
    if len(plans) == 1:
        one = copy.copy(plans[0])  # keeps its tile table unbuilt (hwsim._lazy)
        one.notes = dict(one.notes)
        return one
    cat = {f: np.concatenate([getattr(p, f) for p in plans]) for f in (
        "compute_cycles", "load_bytes", "store_bytes", "performed_macs", "sram_read_bytes",
        "sram_write_bytes", "act_load_bytes")}
    return TilePlan(
        engine=engine,
        multipliers=plans[0].multipliers,
        buffer_bytes=max(p.buffer_bytes for p in plans),
        notes={"mode": plans[0].notes.get("mode"), "plans": len(plans)},
        **cat,
    )


def _weight_key(w: np.ndarray | None) -> str:
    if w is None:
        return "synthetic"
    h = hashlib.blake2b(np.ascontiguousarray(w).view(np.uint8), digest_size=12)
    return f"{w.dtype}:{w.shape}:{h.hexdigest()}"


class _Planner:
    """Plans GEMMs through the engine's own ``plan``, once per distinct operation."""

    def __init__(self, arch, dataflow, precision, seed, check):
        self.arch, self.dataflow, self.precision = arch, dataflow, precision
        self.seed, self.check = seed, check
        self.cache: dict[tuple, tuple] = {}

    def gemm(self, engine, m, k, n, sparsity, weight):
        from hwsim.gemm import plan_gemm, prepare_gemm

        key = (engine, m, k, n, str(sparsity), _weight_key(weight))
        hit = self.cache.get(key)
        if hit is None:
            if weight is None:
                weight = pattern_weight(k, n, sparsity, seed=self.seed,
                                        precision=self.precision)
            job = prepare_gemm(
                self.arch, m, k, n, sparsity=sparsity, weight=weight, engine=engine,
                dataflow=self.dataflow, precision=self.precision, check=self.check,
                seed=self.seed,
            )
            hit = (job, plan_gemm(job), False)
            self.cache[key] = hit
            return hit[0], hit[1], True
        return hit[0], hit[1], False


def pattern_weight(k: int, n: int, sparsity: Any, *, seed: int, precision: str):
    """The weight of a weightless (zoo, CSV) GEMM whose counts its pattern fixes, or ``None``.

    Dense and N:M patterns fix every count the engines take from a weight (all nonzero; exactly
    ``n`` nonzeros in every full group of ``m`` along K, whatever their positions), so one seeded
    column (:func:`hwsim.gemm.synthetic_weight`) repeated over the ``n`` columns as a read-only
    broadcast view gives the same plan as ``K × N`` random values, without generating or
    storing them. Other patterns (block, unstructured) depend on where the zeros fall: ``None``
    lets :func:`hwsim.gemm.prepare_gemm` draw the full seeded weight.
    """
    from hwsim.gemm import synthetic_weight
    from hwsim.sparsity import Dense, NMPattern

    if not isinstance(sparsity, (Dense, NMPattern)):
        return None
    col = synthetic_weight(k, 1, sparsity, seed=seed, precision=precision)
    return np.broadcast_to(col, (k, n))


def _sparsity_of(op: GemmOp):
    from hwsim.sparsity import Dense

    return op.sparsity if op.sparsity is not None else Dense()


def _lower_gemm(op: GemmOp, engine: str, planner: _Planner) -> LoweredOp:
    plans, jobs = [], []
    for g in range(int(op.groups)):
        w = None if op.weight is None else np.asarray(op.weight[g])
        job, plan, new = planner.gemm(engine, int(op.m), int(op.k), int(op.n), _sparsity_of(op), w)
        plans.append(plan)
        if all(j is not job for j, _ in jobs):
            jobs.append((job, plan))
    return LoweredOp(op, engine, concat_plans(plans, engine), jobs)


def _lower_matmul(op: MatMulOp, engine: str, planner: _Planner) -> LoweredOp:
    from hwsim.sparsity import Dense

    job, base, new = planner.gemm(engine, int(op.m), int(op.k), int(op.n), Dense(), None)
    plan = concat_plans([base] * int(op.batch), engine)
    plan.act_load_bytes = plan.load_bytes.copy()  # both operands are activations
    return LoweredOp(op, engine, plan, [(job, base)])


def _tensor_table(graph: OpGraph, eb_model: dict, eb: int):
    """tensor -> (producer, bytes at the datapath precision, consumers)."""
    table: dict[str, list] = {}
    for u, v, d in graph.g.edges(data=True):
        t = d.get("tensor", f"{u}->{v}")
        ebm = eb_model.get(u, 4)
        nbytes = int(d.get("bytes", 0)) // max(1, ebm) * eb
        entry = table.setdefault(t, [u, nbytes, set()])
        entry[2].add(v)
    return table


def lower_graph(
    graph: OpGraph,
    arch: Any,
    engines: dict[str, str | None],
    *,
    dataflow: str | None = None,
    precision: str = "int8",
    seed: int = 0,
    check: bool = True,
) -> tuple[list[LoweredOp], dict]:
    """Plan every op and decide where each activation lives.

    Parameters
    ----------
    graph : OpGraph
    arch : Architecture
    engines : dict
        Op name -> engine (:func:`mapper.assign.assign_engines`).
    dataflow, precision, seed, check
        As :func:`hwsim.gemm.simulate_gemm` (``check`` builds the operands of each distinct
        GEMM for its functional check).

    Returns
    -------
    (lowered, info) : tuple
        Ops in schedule order; ``info`` holds ``unique_plans``, ``planned_ops``,
        ``spilled_tensors`` and ``peak_onchip_activation_bytes``.
    """
    eb = PRECISION_BYTES[precision]
    planner = _Planner(arch, dataflow, precision, seed, check)
    lowered: list[LoweredOp] = []
    for op in graph.ops():
        eng = engines.get(op.name)
        if eng is None:
            lowered.append(LoweredOp(op, None))
        elif isinstance(op, GemmOp):
            lowered.append(_lower_gemm(op, eng, planner))
        elif isinstance(op, MatMulOp):
            lowered.append(_lower_matmul(op, eng, planner))
        elif isinstance(op, (VectorOp, DataOp)):
            lowered.append(LoweredOp(op, eng))  # planned once its traffic is known
        elif isinstance(op, SpGemmOp):
            from hwsim.spgemm.engine import plan_spgemm

            sp = plan_spgemm(op.a, op.b if op.b is not None else _dense_b(op), arch=arch,
                             engine=eng)
            lowered.append(LoweredOp(op, eng, None, spgemm=sp))
        else:  # pragma: no cover - front ends only build the kinds above
            raise TypeError(f"cannot lower op {op.name!r} of kind {op.kind!r}")
    info = _residency(graph, arch, lowered, eb)
    info["unique_plans"] = len(planner.cache)
    info["planned_ops"] = sum(1 for lo in lowered if lo.engine is not None)
    return lowered, info


def _dense_b(op: SpGemmOp):
    import scipy.sparse as sps

    rows = op.a.shape[1]
    return sps.csr_matrix(np.ones((rows, int(op.n)), dtype=np.float32))


def _residency(graph: OpGraph, arch: Any, lowered: list[LoweredOp], eb: int) -> dict:
    eb_model = {lo.op.name: lo.op.elem_bytes for lo in lowered}
    tensors = _tensor_table(graph, eb_model, eb)
    produced: dict[str, list[str]] = {}
    reads_of: dict[str, list[str]] = {}  # consumer -> the tensors it reads
    for t, (u, _b, consumers) in tensors.items():
        produced.setdefault(u, []).append(t)
        for v in consumers:
            reads_of.setdefault(v, []).append(t)
    live: dict[str, int] = {}
    pending = {t: set(c) for t, (_u, _b, c) in tensors.items()}
    on_chip: dict[str, bool] = {}
    spilled, peak = 0, 0
    for lo in lowered:
        name = lo.op.name
        reads = reads_of.get(name, [])
        lo.inputs_on_chip = bool(reads) and all(on_chip.get(t, False) for t in reads)
        outs = produced.get(name, [])
        lo.out_bytes = sum(tensors[t][1] for t in outs)
        if not outs and lo.engine is not None:  # a graph output: it always leaves the chip
            lo.out_bytes = _out_elements(lo.op) * eb
        cap, need = _activation_room(arch, lo.plan)
        if lo.engine is None:  # a view: its output lives where its input does
            keep = lo.inputs_on_chip or not reads
        else:
            keep = bool(outs) and sum(live.values()) + lo.out_bytes + need <= cap
        for t in outs:
            on_chip[t] = keep
            if keep:
                live[t] = tensors[t][1]
        if outs and not keep:
            spilled += len(outs)
        lo.on_chip_out = keep and bool(outs)
        peak = max(peak, sum(live.values()))
        for t in reads:
            pending[t].discard(name)
            if not pending[t]:
                live.pop(t, None)
        _apply_residency(lo, arch, eb)
    return {"spilled_tensors": spilled, "peak_onchip_activation_bytes": peak}


def _activation_room(arch: Any, plan: TilePlan | None) -> tuple[int, int]:
    """``(capacity, need)`` of the buffers that hold activations while ``plan`` runs.

    Activations live in the buffers of the ``act`` and ``out`` roles (the architecture's
    ``act`` and ``out`` buffers, or its one pool); ``need`` is the plan's own double-buffered
    peak there (:func:`hwsim.memory.buffer_footprint`, the model GEMM runs report as
    ``peak_buffer_bytes``).
    """
    from hwsim.memory import buffer_footprint

    ops = getattr(plan, "operands", None) or {}
    bufs = {ops[r][0] for r in ("act", "out") if r in ops}
    if not bufs:
        bufs = {b for b in ("act", "out") if b in arch.buffers} or set(arch.buffers)
    cap = sum(int(arch.buffers[b].capacity_bytes) for b in bufs if b in arch.buffers)
    if plan is None:
        return cap, 0
    fp = buffer_footprint(plan) if ops else {}
    need = sum(fp.get(b, 0) for b in bufs) if fp else 2 * int(plan.buffer_bytes)
    return cap, need


def _out_elements(op: Op) -> int:
    if isinstance(op, GemmOp):
        return int(op.groups) * int(op.m) * int(op.n)
    if isinstance(op, MatMulOp):
        return int(op.batch) * int(op.m) * int(op.n)
    if isinstance(op, VectorOp):
        return int(op.elements)
    if isinstance(op, DataOp):
        return -(-int(op.bytes) // max(1, op.elem_bytes))
    return 0


def _apply_residency(lo: LoweredOp, arch: Any, eb: int) -> None:
    """Drop the DRAM traffic of activations that stay on chip from the op's plan."""
    p = lo.plan
    if lo.engine is None:
        return
    if isinstance(lo.op, (GemmOp, MatMulOp)):
        load = p.load_bytes - (p.act_load_bytes if lo.inputs_on_chip else 0)
        store = p.store_bytes if not lo.on_chip_out else np.zeros_like(p.store_bytes)
        lo.plan = p.evolve(
            load_bytes=load, store_bytes=store,
            act_load_bytes=np.zeros_like(load) if lo.inputs_on_chip else p.act_load_bytes,
        )
    elif isinstance(lo.op, (VectorOp, DataOp)):
        from hwsim.vector import vector_plan

        op = lo.op
        if isinstance(op, VectorOp):
            elements, ops = int(op.elements), float(op.ops_per_element)
            in_elems = int(op.in_elements or op.elements)
        else:
            elements = in_elems = -(-int(op.bytes) // max(1, op.elem_bytes))
            ops = 1.0
        read = 0 if lo.inputs_on_chip else in_elems * eb
        write = 0 if lo.on_chip_out else lo.out_bytes
        lo.plan = vector_plan(
            arch, elements, ops_per_element=ops, read_bytes=read, write_bytes=write,
            sram_read_bytes=in_elems * eb, sram_write_bytes=elements * eb, engine=lo.engine,
        )
