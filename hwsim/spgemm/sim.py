"""SimPy run of SpGEMM tasks: worker cores pull tasks and share the DRAM channels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..memory import DramModel
from ..pipeline import CountingEnvironment

__all__ = ["SimStats", "run_phases", "phases_process"]


@dataclass
class SimStats:
    """Outcome of :func:`run_phases` (cycles of the accelerator clock).

    Attributes
    ----------
    cycles : int
        End of the last phase (all writes complete).
    compute_cycles : int
        Sum over phases of the busiest worker's compute (overlapped part + tail).
    stall_cycles : int
        ``cycles - compute_cycles``: waiting on DRAM, on the slowest worker, on final writes.
    events : int
        SimPy events processed.
    dram_read_bytes, dram_write_bytes : int
        Payload traffic through the DRAM model.
    dram_read_bursts, dram_write_bursts : int
        Bursts of ``burst_bytes`` that traffic took (gathers touch more than their payload).
    burst_bytes : int
        The DRAM's burst size.
    phase_cycles : dict
        Duration of each phase.
    log : list
        ``(event, phase, task, worker, time)`` tuples when recording, with ``event`` one of
        ``start``, ``data``, ``done``, ``written``.
    timeline : dict
        Per phase, per-task arrays (always kept; one entry per task, so cheap): ``worker``,
        ``start``, ``ready`` (data in and overlapped compute done), ``done`` (tail done) and
        ``written`` (its DRAM write complete; ``done`` when it writes nothing), in cycles.
    """

    cycles: int
    compute_cycles: int
    stall_cycles: int
    events: int
    dram_read_bytes: int
    dram_write_bytes: int
    dram_read_bursts: int = 0
    dram_write_bursts: int = 0
    burst_bytes: int = 1
    phase_cycles: dict[str, int] = field(default_factory=dict)
    log: list = field(default_factory=list)
    timeline: dict = field(default_factory=dict)


def phases_process(env, dram: DramModel, phases, *, workers: int, record: bool = False,
                   out: dict | None = None):
    """SimPy process running SpGEMM phases on ``workers`` cores inside a given environment.

    The semantics are those of :func:`run_phases`; the DRAM model is the caller's, so a network
    run (a GCN layer's ``Â·X``) shares its channels with every other operation. Returns the
    busiest-worker compute cycles summed over phases; ``out`` (when given) receives ``log``,
    ``phase_cycles`` and ``timeline``.
    """
    log: list = []
    compute_total = 0
    phase_cycles: dict[str, int] = {}
    timeline: dict[str, dict[str, np.ndarray]] = {}

    def worker(wid: int, plan, state: dict, busy: list[int], writes: list, tl: dict):
        rb, cc, tc, wb = plan.read_bytes, plan.compute_cycles, plan.tail_cycles, plan.write_bytes
        rbu = plan.read_bursts
        while state["next"] < plan.tasks:
            i = state["next"]
            state["next"] += 1
            tl["worker"][i] = wid
            tl["start"][i] = env.now
            if record:
                log.append(("start", plan.name, i, wid, env.now))
            work = [env.timeout(int(cc[i]))]
            if rb[i] > 0:
                bursts = None if rbu is None else int(rbu[i])
                work.append(dram.read(int(rb[i]), tag=f"{plan.name}{i}", bursts=bursts))
            yield env.all_of(work)
            tl["ready"][i] = env.now
            if record:
                log.append(("data", plan.name, i, wid, env.now))
            if tc[i] > 0:
                yield env.timeout(int(tc[i]))
            tl["done"][i] = tl["written"][i] = env.now
            if record:
                log.append(("done", plan.name, i, wid, env.now))
            busy[wid] += int(cc[i]) + int(tc[i])
            if wb[i] > 0:
                writes.append(env.process(_write(dram, int(wb[i]), plan.name, i, wid, tl)))

    def _write(dram, nbytes, name, i, wid, tl):
        yield dram.write(nbytes, tag=f"{name}{i}w")
        tl["written"][i] = env.now
        if record:
            log.append(("written", name, i, wid, env.now))

    def driver():
        nonlocal compute_total
        for plan in phases:
            t0 = env.now
            state = {"next": 0}
            busy = [0] * workers
            writes: list = []
            tl = {k: np.zeros(plan.tasks, dtype=np.float64) for k in
                  ("worker", "start", "ready", "done", "written")}
            timeline[plan.name] = tl
            procs = [env.process(worker(w, plan, state, busy, writes, tl)) for w in range(workers)]
            yield env.all_of(procs)
            if writes:
                yield env.all_of(writes)
            phase_cycles[plan.name] = int(np.ceil(env.now - t0))
            compute_total += max(busy) if busy else 0

    yield env.process(driver())
    if out is not None:
        out.update(log=log, phase_cycles=phase_cycles, timeline=timeline)
    return compute_total


def run_phases(phases, *, workers: int, dram_spec, clock_mhz: float, record: bool = False) -> SimStats:
    """Run phases one after another (a barrier between them) on ``workers`` cores.

    Inside a phase every worker repeatedly takes the next task (dynamic distribution, in plan
    order), starts streaming its ``read_bytes`` from DRAM while computing for
    ``compute_cycles`` (multithreading overlaps the two: the task waits for both), then spends
    ``tail_cycles`` (write-back) and starts the ``write_bytes`` write without waiting for it.
    The phase ends when every task and every write is done. All workers share one
    :class:`~hwsim.memory.DramModel`, so their streams contend for the channels.

    Parameters
    ----------
    phases : list of TaskPlan
        Per-task arrays (``read_bytes``, ``compute_cycles``, ``tail_cycles``, ``write_bytes``).
    workers : int
        Worker cores.
    dram_spec : hwsim.arch.DramSpec
        Memory to contend for.
    clock_mhz : float
        Clock of the cycle counts.
    record : bool
        Keep an event log in :attr:`SimStats.log`.
    """
    env = CountingEnvironment()
    dram = DramModel(env, dram_spec, clock_mhz)
    out: dict = {}
    proc = env.process(phases_process(env, dram, phases, workers=workers, record=record, out=out))
    env.run()
    compute_total = proc.value
    cycles = int(np.ceil(env.now))
    compute = min(compute_total, cycles)
    return SimStats(
        cycles=cycles,
        compute_cycles=compute,
        stall_cycles=cycles - compute,
        events=env.events,
        dram_read_bytes=int(dram.read_bytes),
        dram_write_bytes=int(dram.write_bytes),
        phase_cycles=out["phase_cycles"],
        log=out["log"],
        timeline=out["timeline"],
        dram_read_bursts=int(dram.read_bursts),
        dram_write_bursts=int(dram.write_bursts),
        burst_bytes=int(dram.burst_bytes),
    )
