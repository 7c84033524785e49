"""SimPy tile pipeline: double-buffered loads, compute and stores contending for DRAM channels."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from ._io import atomic_write_json
from .memory import DramModel, check_tile_fits

if TYPE_CHECKING:  # pragma: no cover
    from .arch import Architecture
    from .engines.base import TilePlan

__all__ = ["PipelineStats", "CountingEnvironment", "run_tiles", "trace_document", "write_trace"]

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

    @property
    def num_tiles(self) -> int:
        """Tiles that ran."""
        return int(self.compute_start.size)


def run_tiles(
    plan: TilePlan,
    arch: Architecture,
    *,
    trace: list | None = None,
    slots: int = 2,
) -> PipelineStats:
    """Run a tile plan through loads, compute and stores with double buffering.

    Tile ``i+1`` loads while tile ``i`` computes (``slots`` input buffers); a tile computes once
    its load finished, the previous compute is done and an output slot is free; its store
    starts when its compute ends and overlaps later computes, contending with loads for the
    DRAM channels. A slot of the input buffer is released when the tile's compute ends, an
    output slot when its store completes.

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
    n = plan.num_tiles
    comp = plan.compute_cycles.tolist()
    load = plan.load_bytes.tolist()
    store = plan.store_bytes.tolist()
    t = {k: np.zeros(n, dtype=np.float64) for k in ("ls", "le", "cs", "ce", "se")}
    in_free = simpy.Container(env, capacity=slots, init=slots)
    out_free = simpy.Container(env, capacity=slots, init=slots)
    # Loads in flight, in tile order. A load is issued as soon as an input slot is free and
    # does not wait for the previous load to finish, so DRAM latency overlaps across the
    # (up to ``slots``) outstanding loads while the channels stream back to back.
    issued = simpy.Store(env)

    def load_one(i: int):
        t["ls"][i] = env.now
        if load[i]:
            yield dram.read(load[i], tag=f"load {i}")
        t["le"][i] = env.now

    def loader():
        for i in range(n):
            yield in_free.get(1)
            yield issued.put(env.process(load_one(i)))

    def storer(i: int):
        yield dram.write(store[i], tag=f"store {i}")
        t["se"][i] = env.now
        yield out_free.put(1)

    done_index = [0]

    def compute():
        for _ in range(n):
            done = yield issued.get()
            yield done
            i = done_index[0]
            done_index[0] += 1
            yield out_free.get(1)
            t["cs"][i] = env.now
            if comp[i]:
                yield env.timeout(comp[i])
            t["ce"][i] = env.now
            yield in_free.put(1)
            if store[i]:
                env.process(storer(i))
            else:
                t["se"][i] = env.now
                yield out_free.put(1)

    env.process(loader())
    env.process(compute())
    env.run()
    cycles = int(math.ceil(env.now - 1e-9)) if n else 0
    compute_cycles = int(plan.compute_cycles.sum())
    if trace is not None:
        trace.extend(_trace_events(plan, arch, t, dram))
    return PipelineStats(
        compute_cycles=compute_cycles,
        stall_cycles=cycles - compute_cycles,
        cycles=cycles,
        events=env.events,
        dram_read_bytes=dram.read_bytes,
        dram_write_bytes=dram.write_bytes,
        load_start=t["ls"],
        load_end=t["le"],
        compute_start=t["cs"],
        compute_end=t["ce"],
        store_end=t["se"],
        channel_busy_cycles=dram.busy_cycles,
    )


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
