"""One run, one clock: a DAG of planned operations in ONE SimPy environment (DESIGN.md, 8).

A network (or a training step) is a list of :class:`Task` s in a static, topological order.
Every task runs in the same environment on the same :class:`~hwsim.memory.DramModel`; the
engines are shared resources (:class:`~hwsim.pipeline.EngineSlots`): tasks on one engine
compute one after another in list order, and a task's loads start as soon as the previous task
on its engine has issued its own and a buffer slot frees (cross-layer double buffering, bounded
by the buffer). A task computes once every task it depends on is done. Tasks on different
engines overlap. Per-task figures are read from that one run, never from separate runs summed.

A GEMM run is the same machinery with one task (:func:`hwsim.pipeline.run_tiles`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError
from .memory import DramModel, check_tile_fits
from .pipeline import CountingEnvironment, EngineSlots, PlanTimes, plan_process

__all__ = [
    "Task", "TaskTimes", "ScheduleStats", "run_schedule", "busy_union", "schedule_trace",
]


@dataclass
class Task:
    """One operation of a schedule.

    Attributes
    ----------
    name : str
        Unique name (the layer / op name).
    engine : str
        Engine it runs on (a key shared by the tasks that contend for that engine).
    plan : TilePlan or None
        Its tiles; ``None`` when ``process`` is given instead.
    deps : tuple of str
        Tasks that must be done before its first compute.
    wait_deps_before_load : bool
        Its first load also waits for ``deps`` (its inputs come from DRAM, written by them).
    process : callable, optional
        ``process(env, dram) -> generator`` for work that is not a tile plan (SpGEMM phases);
        it holds its engine for its whole duration and returns its compute cycles.
    meta : dict
        Anything the caller wants back with the task's times.
    """

    name: str
    engine: str
    plan: Any = None
    deps: tuple[str, ...] = ()
    wait_deps_before_load: bool = False
    process: Callable | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class TaskTimes:
    """What one task did in the run (cycles of the accelerator clock).

    Attributes
    ----------
    start : float
        It got its engine: its dependencies were done and the previous task on the engine had
        finished computing (loads it prefetched before that overlapped the previous task).
    ready : float
        Its dependencies were all done.
    end : float
        Its last output was written (``done``).
    compute_cycles : int
        Cycles its engine was busy on it.
    intervals : list of (float, float)
        Compute intervals on the engine (for the busy-union of the whole run).
    dram_read_bytes, dram_write_bytes : int
        Its DRAM traffic.
    tiles : PlanTimes or None
        Per-tile times for plan tasks.
    """

    start: float = 0.0
    ready: float = 0.0
    end: float = 0.0
    compute_cycles: int = 0
    intervals: list = field(default_factory=list)
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    tiles: PlanTimes | None = None

    @property
    def cycles(self) -> int:
        """``end - start`` rounded up: the task's span on its engine's timeline."""
        return int(math.ceil(self.end - self.start - 1e-9))


@dataclass
class ScheduleStats:
    """Outcome of :func:`run_schedule`.

    Attributes
    ----------
    cycles : int
        Time the last task finished.
    busy_cycles : int
        Cycles in which at least one engine computed (union over engines).
    events : int
        SimPy events of the whole run.
    dram_read_bytes, dram_write_bytes : int
        Traffic through the one DRAM model.
    tasks : dict
        Task name -> :class:`TaskTimes`.
    channel_busy_cycles : list of int
    dram : DramModel
        The run's DRAM model (its log, when recording, feeds traces).
    """

    cycles: int
    busy_cycles: int
    events: int
    dram_read_bytes: int
    dram_write_bytes: int
    tasks: dict[str, TaskTimes]
    channel_busy_cycles: list[int]
    dram: Any = None


def busy_union(intervals: list[tuple[float, float]]) -> int:
    """Length of the union of ``[start, end)`` intervals, rounded up to whole cycles."""
    if not intervals:
        return 0
    iv = np.asarray(sorted(intervals), dtype=np.float64)
    total, cur_s, cur_e = 0.0, iv[0, 0], iv[0, 1]
    for s, e in iv[1:]:
        if s > cur_e:
            total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    total += cur_e - cur_s
    return int(math.ceil(total - 1e-9))


def _pass_on(prev, mine) -> None:
    """Trigger ``mine`` when ``prev`` has (at once when there is none or it is processed)."""
    if prev is None or prev.callbacks is None:
        mine.succeed()
    else:
        prev.callbacks.append(lambda _ev: mine.succeed())


def run_schedule(
    tasks: list[Task],
    arch: Any,
    *,
    slots: int = 2,
    record: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ScheduleStats:
    """Run ``tasks`` (in their static order) in one SimPy environment with one DRAM model.

    Parameters
    ----------
    tasks : list of Task
        Topologically ordered: a task's ``deps`` come before it.
    arch : Architecture
        Clock, DRAM and buffers.
    slots : int
        Buffer slots per engine (2 = double buffering).
    record : bool
        Keep the DRAM transfer log (for traces).
    progress : callable, optional
        Called with a task's name when it finishes.

    Raises
    ------
    ConfigError
        Duplicate task names, or a dependency on an unknown or later task.
    ShapeError
        A plan whose double-buffered tiles do not fit the on-chip buffers.
    """
    seen: set[str] = set()
    for t in tasks:
        if t.name in seen:
            raise ConfigError(f"duplicate task name {t.name!r} in the schedule")
        for d in t.deps:
            if d not in seen:
                raise ConfigError(
                    f"task {t.name!r} depends on {d!r}, which is not an earlier task"
                )
        seen.add(t.name)
        if t.plan is not None:
            check_tile_fits(arch, t.plan.buffer_bytes, slots=slots)
    env = CountingEnvironment()
    dram = DramModel(env, arch.dram, arch.clock_mhz, record=record)
    engines: dict[str, EngineSlots] = {}
    done: dict[str, Any] = {}
    out: dict[str, TaskTimes] = {}

    def run_task(task: Task, ready_ev, tt: TaskTimes, turn):
        if task.plan is not None:
            times = PlanTimes.empty(task.plan.num_tiles)
            tt.tiles = times
            yield env.process(
                plan_process(
                    env, task.plan, dram, engines[task.engine], times, ready=ready_ev,
                    load_after=ready_ev if task.wait_deps_before_load else None,
                    tag=f"{task.name}: ", turn=turn,
                )
            )
            tt.start = times.acquired
            tt.compute_cycles = int(task.plan.compute_cycles.sum())
            tt.intervals = list(zip(times.compute_start.tolist(), times.compute_end.tolist(), strict=True))
            tt.dram_read_bytes = int(task.plan.load_bytes.sum())
            tt.dram_write_bytes = int(task.plan.store_bytes.sum())
        else:
            # it loads nothing through the engine's buffers: the next plan's loads only wait
            # for the loads of the plan before this task
            _pass_on(turn.prev_loads, turn.my_loads)
            if ready_ev is not None:
                yield ready_ev
            if turn.prev_compute is not None and not turn.prev_compute.triggered:
                yield turn.prev_compute
            tt.start = env.now
            r0, w0 = dram.read_bytes, dram.write_bytes
            busy = yield env.process(task.process(env, dram))
            turn.my_compute.succeed()
            tt.compute_cycles = int(busy)
            tt.intervals = [(tt.start, tt.start + int(busy))]
            # Other engines may move data meanwhile: these counts are exact only when
            # nothing else transfers during this task.
            tt.dram_read_bytes = dram.read_bytes - r0
            tt.dram_write_bytes = dram.write_bytes - w0
        tt.end = env.now
        if progress is not None:
            progress(task.name)

    def ready_event(task: Task, tt: TaskTimes):
        deps = [done[d] for d in task.deps]
        if not deps:
            return None
        ev = env.all_of(deps)

        def mark(_ev):
            tt.ready = env.now

        ev.callbacks.append(mark)
        return ev

    for task in tasks:
        if task.engine not in engines:
            engines[task.engine] = EngineSlots.new(env, slots)
        tt = TaskTimes()
        out[task.name] = tt
        # places on the engines are taken here, in list order: the static order, whatever
        # kind of task (plan or process) starts first inside the environment
        turn = engines[task.engine].take_turn(env)
        done[task.name] = env.process(run_task(task, ready_event(task, tt), tt, turn))
    env.run()
    cycles = int(math.ceil(env.now - 1e-9)) if tasks else 0
    busy = busy_union([iv for tt in out.values() for iv in tt.intervals])
    return ScheduleStats(
        cycles=cycles,
        busy_cycles=min(busy, cycles),
        events=env.events,
        dram_read_bytes=int(dram.read_bytes),
        dram_write_bytes=int(dram.write_bytes),
        tasks=out,
        channel_busy_cycles=dram.busy_cycles,
        dram=dram,
    )


def schedule_trace(sched: ScheduleStats, tasks: list[Task], arch: Any) -> list[dict]:
    """Chrome/Perfetto trace events of a run: one track per engine and per DRAM channel.

    Compute slices are labelled ``TASK: compute i`` (``args`` carry the task and tile); DRAM
    slices carry the transfer tag (``TASK: load i``) when the run recorded its DRAM log.
    """
    us = 1.0 / arch.clock_mhz
    pid = 1
    tids: dict[str, int] = {}
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
         "args": {"name": f"hwsim {arch.name}"}},
    ]
    for t in tasks:
        if t.engine not in tids:
            tids[t.engine] = len(tids) + 1
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tids[t.engine],
                           "args": {"name": f"engine {t.engine}"}})
        tt = sched.tasks[t.name]
        if tt.tiles is not None:
            spans = zip(tt.tiles.compute_start.tolist(), tt.tiles.compute_end.tolist(), strict=True)
        else:
            spans = iter(tt.intervals)
        for i, (s, e) in enumerate(spans):
            events.append({"name": f"{t.name}: compute {i}", "cat": "compute", "ph": "X",
                           "ts": s * us, "dur": (e - s) * us, "pid": pid,
                           "tid": tids[t.engine], "args": {"op": t.name, "tile": i}})
    dram = sched.dram
    if dram is not None:
        for ch in dram.channels:
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": 100 + ch.index,
                           "args": {"name": f"dram ch{ch.index}"}})
        for x in dram.log:
            events.append({"name": x.tag or x.op, "cat": x.op, "ph": "X", "ts": x.start * us,
                           "dur": (x.done - x.start) * us, "pid": pid, "tid": 100 + x.channel,
                           "args": {"bytes": x.nbytes, "bus_cycles": x.end - x.start}})
    return events
