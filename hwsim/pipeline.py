"""SimPy tile pipeline: double-buffered loads, compute and stores contending for DRAM channels."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from ._io import atomic_write_json
from .memory import DramModel, check_tile_fits

if TYPE_CHECKING:  # pragma: no cover
    from .arch import Architecture
    from .engines.base import TilePlan

__all__ = [
    "PipelineStats", "PlanTimes", "BufferSlots", "ReleaseSlots", "EngineSlots", "Turn", "CountingEnvironment", "plan_process",
    "run_tiles", "trace_document", "write_trace",
]

#: Chrome-trace process id of the accelerator and the first DRAM channel thread id.
_PID = 1
_TID_ENGINE = 1
_TID_DRAM0 = 100


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (``events``)."""

    def __init__(self, initial_time: float = 0):
        super().__init__(initial_time)
        self.events = 0

    def step(self) -> None:
        """Process the next event and count it."""
        super().step()  # raises EmptySchedule at the end, which is not an event
        self.events += 1


@dataclass
class PipelineStats:
    """Outcome of :func:`run_tiles` (times in accelerator cycles).

    Attributes
    ----------
    compute_cycles : int
        Sum of the tiles' compute cycles (engine busy time).
    stall_cycles : int
        ``cycles - compute_cycles``: the engine waiting on memory (first load and last store
        included).
    cycles : int
        Time the last store completes.
    events : int
        SimPy events processed.
    dram_read_bytes, dram_write_bytes : int
        Off-chip traffic.
    load_start, load_end, compute_start, compute_end, store_end : numpy.ndarray
        Per-tile times.
    channel_busy_cycles : list[int]
        Data-bus busy cycles of each DRAM channel.
    dram_read_bursts, dram_write_bursts, burst_bytes : int
        Whole DRAM bursts the traffic took, and the burst size (results report ``dram_bursts``
        and burst-rounded bytes beside the payload bytes).
    """

    compute_cycles: int
    stall_cycles: int
    cycles: int
    events: int
    dram_read_bytes: int
    dram_write_bytes: int
    load_start: np.ndarray
    load_end: np.ndarray
    compute_start: np.ndarray
    compute_end: np.ndarray
    store_end: np.ndarray
    channel_busy_cycles: list[int] = field(default_factory=list)
    dram_read_bursts: int | None = None
    dram_write_bursts: int | None = None
    burst_bytes: int | None = None

    @property
    def num_tiles(self) -> int:
        """Tiles that ran."""
        return int(self.compute_start.size)


@dataclass
class PlanTimes:
    """Per-tile times of one plan run by :func:`plan_process` (cycles), filled as it runs.

    Attributes
    ----------
    load_start, load_end, compute_start, compute_end, store_end : numpy.ndarray
        One entry per tile.
    done : float
        Time its last store completed (the plan's outputs are all written).
    acquired : float
        Time the plan got its engine (its dependencies were done and the previous plan on the
        engine had finished computing): where its own span on the engine's timeline begins.
    """

    load_start: np.ndarray
    load_end: np.ndarray
    compute_start: np.ndarray
    compute_end: np.ndarray
    store_end: np.ndarray
    done: float = 0.0
    acquired: float = 0.0

    @classmethod
    def empty(cls, n: int) -> PlanTimes:
        """Zeroed arrays for ``n`` tiles."""
        z = [np.zeros(n, dtype=np.float64) for _ in range(5)]
        return cls(*z)


class BufferSlots:
    """The input slots of one double buffer: a counting semaphore with a FIFO of callbacks.

    :meth:`take_or_call` grants a free slot at once, or queues a callback that :meth:`give`
    calls when a slot is handed back (at that simulated time), in the order the takers asked.
    The loader of :func:`plan_process` is such a callback: a freed slot books the next load
    in the same step, with no process to wake.
    """

    __slots__ = ("capacity", "level", "_waiting")

    def __init__(self, slots: int):
        self.capacity = int(slots)
        self.level = int(slots)
        self._waiting: deque = deque()

    def take_or_call(self, then: Callable[[], None]) -> bool:
        """Take a slot: ``True`` when one was free, else ``then()`` is called when it is handed
        over (from :meth:`give`, at that simulated time)."""
        if self.level > 0 and not self._waiting:
            self.level -= 1
            return True
        self._waiting.append(then)
        return False

    def give(self) -> None:
        """Hand a slot back (to the first waiter, when there is one)."""
        if self._waiting:
            self._waiting.popleft()()
        elif self.level < self.capacity:
            self.level += 1
        else:
            raise RuntimeError("a buffer slot was given back that was never taken")


class ReleaseSlots:
    """The output slots of one double buffer, each known by the time it is (or will be) free.

    A slot is freed when its tile's store completes. With :class:`~hwsim.memory.DramModel`
    that time is known when the store is booked, so :meth:`give_at` files it then and the
    compute loop of :func:`plan_process` takes the earliest one, waiting for it inside its
    compute timeout (no event per slot). A DRAM model that only signals completion (a
    reference in the tests) gives the slot at completion time instead; a taker that finds no
    slot filed waits on :meth:`wait`.
    """

    __slots__ = ("env", "capacity", "_times", "_waiting")

    def __init__(self, env: simpy.Environment, slots: int):
        self.env = env
        self.capacity = int(slots)
        self._times: list[float] = [0.0] * self.capacity  # a heap of the free slots' times
        self._waiting: deque = deque()

    def take_at(self) -> float | None:
        """Take the slot that frees first and return its time, or ``None`` when none is filed
        (then wait on :meth:`wait`, whose value is the time)."""
        if self._times and not self._waiting:
            return heapq.heappop(self._times)
        return None

    def wait(self) -> simpy.Event:
        """Event triggered with a slot's time when one is given back (after ``take_at`` found
        none)."""
        ev = self.env.event()
        self._waiting.append(ev)
        return ev

    def give_at(self, time: float) -> None:
        """File a slot as free from ``time`` (to the first waiter, when there is one)."""
        if self._waiting:
            self._waiting.popleft().succeed(time)
        elif len(self._times) < self.capacity:
            heapq.heappush(self._times, time)
        else:
            raise RuntimeError("a buffer slot was given back that was never taken")


@dataclass
class EngineSlots:
    """The double buffers of one engine, shared by every plan that runs on it in one environment.

    ``inputs`` (:class:`BufferSlots`) and ``outputs`` (:class:`ReleaseSlots`) have ``slots``
    buffer slots each. Plans run on
    an engine in a static order (the order their processes are created, as an offline schedule
    fixes it): ``loads_done`` is the event that the previous plan has issued all of its loads,
    ``computed`` the event that it has finished computing. A plan loads after the previous
    plan's loads, as soon as a slot frees (cross-plan double buffering, bounded by the buffer),
    and computes after the previous plan's computes. A dynamic order could deadlock: a later
    plan that became ready first would hold the engine while its loads wait behind the
    earlier plan's buffer slots.
    """

    inputs: BufferSlots
    outputs: ReleaseSlots
    loads_done: simpy.Event | None = None
    computed: simpy.Event | None = None

    @classmethod
    def new(cls, env: simpy.Environment, slots: int = 2) -> EngineSlots:
        """Fresh slots for one engine in ``env``."""
        return cls(inputs=BufferSlots(slots), outputs=ReleaseSlots(env, slots))

    def take_turn(self, env: simpy.Environment) -> Turn:
        """The next place in this engine's static order (call in the order the plans run)."""
        turn = Turn(self.loads_done, env.event(), self.computed, env.event())
        self.loads_done, self.computed = turn.my_loads, turn.my_compute
        return turn


@dataclass(frozen=True)
class Turn:
    """A plan's place in its engine's static order: the previous plan's events to wait for and
    this plan's own, which the next plan waits for."""

    prev_loads: simpy.Event | None
    my_loads: simpy.Event
    prev_compute: simpy.Event | None
    my_compute: simpy.Event


def plan_process(
    env: simpy.Environment,
    plan: TilePlan,
    dram: DramModel,
    engine: EngineSlots,
    times: PlanTimes,
    *,
    ready: simpy.Event | None = None,
    load_after: simpy.Event | None = None,
    tag: str = "",
    turn: Turn | None = None,
):
    """SimPy process running one tile plan on one engine, inside a given environment.

    Tile ``i+1`` loads while tile ``i`` computes (the engine's input slots); a tile computes once
    its load finished, the previous compute is done and an output slot is free; its store starts
    when its compute ends and overlaps later computes, contending with every other transfer of
    the environment for the DRAM channels. A slot of the input buffer is released when the
    tile's compute ends, an output slot when its store completes.

    Parameters
    ----------
    env : simpy.Environment
    plan : TilePlan
    dram : DramModel
        The run's one DRAM model (shared by every plan of the environment).
    engine : EngineSlots
        The engine's buffers and static order (shared by the plans on that engine).
    times : PlanTimes
        Filled with per-tile times as the plan runs.
    ready : simpy.Event, optional
        Must have triggered before the first compute (the plan's inputs are produced).
    load_after : simpy.Event, optional
        Must have triggered before the first load (inputs that come from DRAM are written).
    tag : str
        Prefix of the DRAM transfer tags (traces).
    turn : Turn, optional
        The plan's place on its engine, taken when the schedule was laid out
        (:meth:`EngineSlots.take_turn`); taken when the process starts otherwise.
    """
    n = plan.num_tiles
    comp = plan.compute_cycles.tolist()
    load = plan.load_bytes.tolist()
    store = plan.store_bytes.tolist()
    t = times
    turn = turn if turn is not None else engine.take_turn(env)
    prev_loads, my_loads = turn.prev_loads, turn.my_loads
    prev_compute, my_compute = turn.prev_compute, turn.my_compute
    labels = getattr(dram, "record", True)  # transfer tags are only kept in a recorded log
    # DramModel books a transfer at issue and knows when it completes (no event needed);
    # another DRAM model (a reference in the tests) runs read/write processes
    book = getattr(dram, "start", None)
    issued: list = []  # per tile: when its load completes (a time, or the event it fires)
    want: list = [None]  # the compute loop's event while it waits for the next load to issue

    def loaded(i: int, _ev) -> None:
        t.load_end[i] = env.now

    def issue() -> None:
        """Load the next tile into the input slot just taken."""
        i = len(issued)
        now = t.load_start[i] = t.load_end[i] = float(env.now)
        label = f"{tag}load {i}" if labels else ""
        if not load[i]:
            issued.append(now)
        elif book is not None:
            issued.append(book("read", load[i], tag=label))
            t.load_end[i] = issued[i]
        else:
            ev = dram.read(load[i], tag=label)
            ev.callbacks.append(partial(loaded, i))
            issued.append(ev)
        if want[0] is not None:
            w, want[0] = want[0], None
            w.succeed()

    def next_loads() -> None:
        """The loader, as callbacks: issue loads while input slots are free, then wait for one
        (:meth:`BufferSlots.take_or_call` calls back here); no process, no wake-up events."""
        while len(issued) < n:
            if not engine.inputs.take_or_call(after_wait):
                return
            issue()
        my_loads.succeed()

    def after_wait() -> None:
        issue()
        next_loads()

    def start_loads(*_ev) -> None:
        if load_after is not None and load_after.callbacks is not None:
            load_after.callbacks.append(start_loads)  # inputs from DRAM not written yet
            return
        next_loads()

    def stored(i: int, _ev) -> None:
        t.store_end[i] = env.now
        engine.outputs.give_at(env.now)

    pending: list = []  # store events (event-driven DRAM models)
    last_store = 0.0  # when the last booked store completes (DramModel)
    if prev_loads is not None and not prev_loads.triggered:
        prev_loads.callbacks.append(start_loads)  # loads follow the previous plan's loads
    else:
        start_loads()
    if ready is not None:
        yield ready
    if prev_compute is not None and not prev_compute.triggered:
        yield prev_compute
    t.acquired = env.now
    outputs = engine.outputs
    for i in range(n):
        if len(issued) <= i:
            want[0] = env.event()
            yield want[0]
        start = issued[i]
        if isinstance(start, simpy.Event):
            if not start.processed:
                yield start
            start = env.now
        slot = outputs.take_at()
        if slot is None:
            slot = yield outputs.wait()
        now = env.now
        start = max(start, slot, now)  # the load is in and an output slot is free
        t.compute_start[i] = start
        if start + comp[i] > now:
            yield env.timeout(start + comp[i] - now)
        now = t.compute_end[i] = env.now
        label = f"{tag}store {i}" if labels else ""
        if not store[i]:
            t.store_end[i] = now
            outputs.give_at(now)
        elif book is not None:
            done = t.store_end[i] = book("write", store[i], tag=label)
            outputs.give_at(done)
            last_store = max(last_store, done)
        else:
            ev = dram.write(store[i], tag=label)
            ev.callbacks.append(partial(stored, i))
            pending.append(ev)
        engine.inputs.give()  # after the store is booked: the next load (booked at once) follows
    my_compute.succeed()
    if n == 0 and not my_loads.triggered:
        yield my_loads
    if last_store > env.now:
        yield env.timeout(last_store - env.now)
    for ev in pending:
        if not ev.processed:
            yield ev
    t.done = env.now
    return t


def run_tiles(
    plan: TilePlan,
    arch: Architecture,
    *,
    trace: list | None = None,
    slots: int = 2,
) -> PipelineStats:
    """Run one tile plan alone: a fresh environment and DRAM model around :func:`plan_process`.

    Parameters
    ----------
    plan : TilePlan
        Per-tile compute cycles and DRAM bytes from an engine.
    arch : Architecture
        Supplies the clock, the DRAM and the on-chip buffer capacity.
    trace : list, optional
        When given, Chrome trace events (``ph: "X"``, ``ts``/``dur`` in microseconds of
        simulated time) are appended: one thread for the engine, one per DRAM channel.
    slots : int
        Buffer slots (2 = double buffering).

    Raises
    ------
    ShapeError
        When ``slots`` tiles of ``plan.buffer_bytes`` do not fit in the on-chip buffers.
    """
    check_tile_fits(arch, plan.buffer_bytes, slots=slots)
    env = CountingEnvironment()
    dram = DramModel(env, arch.dram, arch.clock_mhz, record=trace is not None)
    times = PlanTimes.empty(plan.num_tiles)
    env.process(plan_process(env, plan, dram, EngineSlots.new(env, slots), times))
    env.run()
    n = plan.num_tiles
    cycles = int(math.ceil(env.now - 1e-9)) if n else 0
    compute_cycles = int(plan.compute_cycles.sum())
    if trace is not None:
        trace.extend(_trace_events(plan, arch, _times_dict(times), dram))
    return PipelineStats(
        compute_cycles=compute_cycles,
        stall_cycles=cycles - compute_cycles,
        cycles=cycles,
        events=env.events,
        dram_read_bytes=dram.read_bytes,
        dram_write_bytes=dram.write_bytes,
        load_start=times.load_start,
        load_end=times.load_end,
        compute_start=times.compute_start,
        compute_end=times.compute_end,
        store_end=times.store_end,
        channel_busy_cycles=dram.busy_cycles,
        # a DRAM model without burst accounting (a reference model in tests) reports none
        dram_read_bursts=getattr(dram, "read_bursts", None),
        dram_write_bursts=getattr(dram, "write_bursts", None),
        burst_bytes=getattr(dram, "burst_bytes", None),
    )


def _times_dict(t: PlanTimes) -> dict:
    return {"ls": t.load_start, "le": t.load_end, "cs": t.compute_start,
            "ce": t.compute_end, "se": t.store_end}


def _trace_events(plan: TilePlan, arch: Architecture, t: dict, dram: DramModel) -> list[dict]:
    us = 1.0 / arch.clock_mhz  # one cycle in microseconds
    events: list[dict[str, Any]] = [
        _meta("process_name", 0, f"hwsim {arch.name}"),
        _meta("thread_name", _TID_ENGINE, f"engine {plan.engine}"),
    ]
    for ch in dram.channels:
        events.append(_meta("thread_name", _TID_DRAM0 + ch.index, f"dram ch{ch.index}"))
    coords = None
    if plan.tiles is not None and hasattr(plan.tiles, "to_dict"):
        coords = plan.tiles.to_dict(orient="records")
    for i in range(plan.num_tiles):
        args: dict[str, Any] = {
            "tile": i,
            "compute_cycles": int(plan.compute_cycles[i]),
            "performed_macs": int(plan.performed_macs[i]),
        }
        if coords is not None and i < len(coords):
            args.update({str(k): _scalar(v) for k, v in coords[i].items()})
        events.append(
            {
                "name": f"compute {i}",
                "cat": "compute",
                "ph": "X",
                "ts": t["cs"][i] * us,
                "dur": (t["ce"][i] - t["cs"][i]) * us,
                "pid": _PID,
                "tid": _TID_ENGINE,
                "args": args,
            }
        )
    for x in dram.log:
        events.append(
            {
                "name": x.tag or x.op,
                "cat": x.op,
                "ph": "X",
                "ts": x.start * us,
                "dur": (x.done - x.start) * us,
                "pid": _PID,
                "tid": _TID_DRAM0 + x.channel,
                "args": {"bytes": x.nbytes, "bus_cycles": x.end - x.start},
            }
        )
    return events


def _meta(name: str, tid: int, label: str) -> dict:
    return {"name": name, "ph": "M", "pid": _PID, "tid": tid, "args": {"name": label}}


def _scalar(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def trace_document(trace: list) -> dict:
    """The Chrome trace-event JSON object (``{"traceEvents": [...]}``) for ``trace``."""
    return {"traceEvents": list(trace), "displayTimeUnit": "ns"}


def write_trace(path: str | Path, trace: list) -> Path:
    """Write ``trace`` atomically as a Chrome/Perfetto trace file."""
    return atomic_write_json(path, trace_document(trace))
