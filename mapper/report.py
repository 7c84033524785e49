"""The RunResult of a network run, and its text summary."""

from __future__ import annotations

from typing import Any

from hwsim.combine import OpRecord, combine_results

from .graph import GemmOp

__all__ = ["network_result", "summary_text"]


def _record(lo, task, arch, precision: str) -> OpRecord:
    op = lo.op
    plan = task.plan
    extra: dict[str, Any] = {"kind": op.kind}
    if isinstance(op, GemmOp):
        extra.update(m=int(op.m), k=int(op.k), n=int(op.n), groups=int(op.groups),
                     sparsity=str(op.sparsity) if op.sparsity is not None else "dense",
                     density=float(op.density))
    extra["output_on_chip"] = bool(lo.on_chip_out)
    if plan is None:  # SpGEMM: its own counts
        from hwsim.spgemm.engine import spgemm_energy

        sp = lo.spgemm
        work = sp[5]
        e_pj, bd = spgemm_energy(sp[0], sp[1], sp[6], static=False)  # + DRAM, static: combine
        return OpRecord(op.name, op.op_type, task.engine, int(work.dense_macs),
                        int(sp[6].counters.get("partial_products", 0)), 0,
                        int(sp[6].sram_read_bytes), int(sp[6].sram_write_bytes), e_pj, extra,
                        energy_breakdown=bd)
    dense = int(getattr(op, "macs", 0)) if op.kind in ("gemm", "matmul") else 0
    work = lo.jobs[0][0].work if lo.jobs else None  # GEMMs: selector, metadata, per-buffer SRAM
    return OpRecord.from_plan(op.name, op.op_type, task.engine, plan, arch, work=work,
                              dense_macs=dense, precision=precision, extra=extra)


def network_result(mp, tasks, sched, records_for, started: float, *, seed: int, training: bool,
                   check: tuple):
    """Combine the one run of a network into a ``RunResult(kind="network")``."""
    arch = mp.arch
    if records_for is None:
        by_task = {t.name: t for t in tasks}
        records = [_record(lo, by_task[lo.op.name], arch, mp.precision) for lo in mp.lowered
                   if lo.op.name in by_task]
    else:
        records = records_for(tasks, sched)
    g = mp.graph
    mult = 0
    if mp.engine:
        mult = int(arch.engine(mp.engine).multipliers)
    counters: dict[str, Any] = {
        "model": g.name,
        "num_layers": len(tasks),
        "unique_plans": int(mp.info.get("unique_plans", 0)),
        "spilled_tensors": int(mp.info.get("spilled_tensors", 0)),
        "peak_onchip_activation_bytes": int(mp.info.get("peak_onchip_activation_bytes", 0)),
        "check_wall_seconds": check[2],
    }
    for key in ("check_scope", "check_layers", "check_max_abs_error"):
        if key in mp.info:
            counters[key] = mp.info[key]
    seconds = arch.cycles_to_seconds(sched.cycles)
    if g.meta.get("phase") == "decode" and seconds > 0:
        tokens = int(g.meta.get("batch", 1))
        counters["tokens_per_second"] = tokens / seconds
        counters["dram_bytes_per_token"] = (sched.dram_read_bytes + sched.dram_write_bytes) / tokens
    params = {
        "model": g.name,
        "front_end": g.meta.get("front_end"),
        "precision": mp.precision,
        "dataflow": mp.dataflow,
        "training": training,
        **{k: v for k, v in g.meta.items() if k in ("batch", "seq_len", "kv_len", "phase",
                                                   "sparsity")},
    }
    return combine_results(
        kind="network", arch=arch, engine=mp.engine or "vector", sched=sched, records=records,
        started=started, seed=seed, check=check[0], check_reason=check[1], params=params,
        counters=counters, multipliers=mult,
    )


def summary_text(result, top: int = 5) -> str:
    """Totals, the ``top`` most expensive layers and what bounds each, as text."""
    d = result.to_dict()
    lines = [f"model {d['params'].get('model')} on {d['arch']} ({d['engine']}): "
             f"{d['cycles']:,} cycles, {d['seconds'] * 1e3:.4g} ms, check {d['check']}"]
    for key in ("compute_cycles", "stall_cycles", "dense_macs", "performed_macs",
                "utilization", "dram_read_bytes", "dram_write_bytes", "energy_pj",
                "tokens_per_second", "num_layers", "unique_plans", "spilled_tensors"):
        if key in d and d[key] is not None:
            v = d[key]
            lines.append(f"  {key:<22} {v:.6g}" if isinstance(v, float) else f"  {key:<22} {v:,}")
    t = result.table
    if t is not None and len(t):
        lines.append(f"top {min(top, len(t))} layers by cycles:")
        for _, r in t.sort_values("cycles", ascending=False).head(top).iterrows():
            lines.append(f"  {r['name'][:40]:<40} {r['op'][:14]:<14} {r['engine'][:10]:<10} "
                         f"{int(r['cycles']):>12,} cycles  {r['bound']}-bound")
    return "\n".join(lines) + "\n"
