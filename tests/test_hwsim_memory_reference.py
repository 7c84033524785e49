"""DramModel against a plain SimPy reference where every channel is a ``simpy.Resource``.

:class:`hwsim.memory.DramModel` computes each channel's grant time as ``max(now, free_at)``
instead of queueing on a capacity-1 ``simpy.Resource``, claiming the same timing with one
timeout per transfer. :class:`ResourceDram` below is the textbook model the issue asked for:
each channel's share of a transfer is a process that requests the channel's Resource, holds it
for the bus time, releases it and then waits the (pipelined) latency; the transfer is done when
all its shares are. Seeded random workloads must give identical completion times, per-share bus
windows, per-channel busy cycles and byte counts, with fewer SimPy events for DramModel.

The reference shares no arithmetic with DramModel: it walks the bursts one by one to round a
transfer to whole bursts (or takes the bursts a gather says it touches), walks the granules one
by one to split the burst-rounded bytes, and converts GB/s and ns to cycles with exact decimal
fractions.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

import hwsim.pipeline as pipeline
from hwsim.arch import DramSpec, load_arch
from hwsim.engines.base import TilePlan
from hwsim.memory import DramModel
from hwsim.pipeline import CountingEnvironment, run_tiles


class ResourceDram:
    """Reference DRAM: ``channels`` capacity-1 ``simpy.Resource`` s, one process per share.

    Same constructor and observable attributes as :class:`~hwsim.memory.DramModel` that the
    tests and :func:`hwsim.pipeline.run_tiles` use (``read``/``write``, ``read_bytes``,
    ``write_bytes``, ``busy_cycles``, ``log``); ``log`` holds
    ``(op, tag, channel, nbytes, start, end, done)`` tuples.
    """

    def __init__(self, env, dram: DramSpec, clock_mhz: float, *, energy=None, record=False):
        self.env = env
        self.n = dram.channels
        self.granule = dram.granule_bytes
        self.burst = dram.burst_bytes
        self.resources = [simpy.Resource(env, capacity=1) for _ in range(self.n)]
        clock = Fraction(str(clock_mhz)) * 10**6
        self.bytes_per_cycle = Fraction(str(dram.bandwidth_gbps)) * 10**9 / self.n / clock
        self.latency = math.ceil(Fraction(str(dram.latency_ns)) / 10**9 * clock)
        self.busy = [0] * self.n
        self.served = [0] * self.n
        self.read_bytes = 0
        self.write_bytes = 0
        self.read_bursts = 0
        self.write_bursts = 0
        self.log: list[tuple] = []
        self.next_channel = 0

    @property
    def busy_cycles(self) -> list:
        return list(self.busy)

    def read(self, nbytes: int, *, tag: str = "", bursts=None):
        return self.env.process(self._transfer("read", int(nbytes), tag, bursts))

    def write(self, nbytes: int, *, tag: str = "", bursts=None):
        return self.env.process(self._transfer("write", int(nbytes), tag, bursts))

    def split(self, nbytes: int) -> list[tuple[int, int]]:
        """Walk the granules round-robin from the next channel; advance the rotation."""
        shares: dict[int, int] = {}
        k = 0
        while k * self.granule < nbytes:
            ch = (self.next_channel + k) % self.n
            shares[ch] = shares.get(ch, 0) + min(self.granule, nbytes - k * self.granule)
            k += 1
        self.next_channel = (self.next_channel + k) % self.n
        return list(shares.items())  # insertion order: starting channel first

    def _share(self, op, tag, ch, nbytes):
        env = self.env
        with self.resources[ch].request() as req:
            yield req
            start = env.now
            yield env.timeout(math.ceil(Fraction(nbytes) / self.bytes_per_cycle))
            end = env.now
        self.busy[ch] += end - start
        self.served[ch] += 1
        yield env.timeout(self.latency)
        self.log.append((op, tag, ch, nbytes, start, end, env.now))

    def _transfer(self, op, nbytes, tag, bursts):
        if bursts is None:
            bursts = walk_bursts(nbytes, self.burst)
        assert bursts * self.burst >= nbytes
        shares = [
            self.env.process(self._share(op, tag, ch, size))
            for ch, size in self.split(bursts * self.burst)
        ]
        if op == "read":
            self.read_bytes += nbytes
            self.read_bursts += bursts
        else:
            self.write_bytes += nbytes
            self.write_bursts += bursts
        if shares:
            yield self.env.all_of(shares)
        return self.env.now


def walk_bursts(nbytes: int, burst: int) -> int:
    """Bursts a contiguous, burst-aligned transfer touches, counted one burst at a time."""
    count = covered = 0
    while covered < nbytes:
        covered += burst
        count += 1
    return count


# --- workloads ---------------------------------------------------------------------------------


def _preset(name: str) -> tuple[str, DramSpec, float]:
    arch = load_arch(name)
    return name, arch.dram, arch.clock_mhz


SPECS = [
    _preset("flightllm-u280"),  # 32 HBM channels, 575/9 B/cycle, 25-cycle latency
    _preset("sat-vcu1525"),  # 4 channels, 96 B/cycle
    _preset("dense-systolic"),  # 2 channels
    _preset("smash-piuma"),  # 8 channels, 19.2 B/cycle (not a binary float), 64 B granules
    (  # 32 channels with small granules: transfers wrap the channel ring several times
        "u280-256B",
        dataclasses.replace(load_arch("flightllm-u280").dram, granule_bytes=256),
        225.0,
    ),
    (  # one channel, 12.8 GB/s at 333 MHz = 38.438... B/cycle, 45 ns = 15 cycles
        "1ch-odd",
        DramSpec(kind="ddr4", channels=1, bandwidth_gbps=12.8, latency_ns=45.0, granule_bytes=512),
        333.0,
    ),
    (  # 7 channels (not a power of two), 1 ns latency at 300 MHz
        "7ch",
        DramSpec(kind="ddr5", channels=7, bandwidth_gbps=89.6, latency_ns=1.0, granule_bytes=100,
                 burst_bytes=20),
        300.0,
    ),
]


@st.composite
def workloads(draw, specs=SPECS):
    """``(spec, clients)``; a client is a list of ``(delay, op, nbytes, wait, extra)`` steps;
    ``extra`` is None for a contiguous transfer, else the bursts a gather touches beyond the
    fewest that carry ``nbytes``."""
    name, dram, clock = draw(st.sampled_from(specs))
    g = dram.granule_bytes
    size = st.one_of(
        st.integers(0, 3 * g),
        st.integers(0, dram.channels * g * 3),
        st.sampled_from([0, 1, g - 1, g, g + 1, dram.channels * g]),
    )
    # Quarter cycles are exact in binary: fractional issue times keep exact comparisons.
    delay = st.one_of(st.just(0), st.integers(0, 300), st.integers(0, 1200).map(lambda q: q / 4))
    extra = st.one_of(st.none(), st.integers(0, 40))
    step = st.tuples(delay, st.sampled_from(["read", "write"]), size, st.booleans(), extra)
    clients = draw(st.lists(st.lists(step, min_size=1, max_size=8), min_size=1, max_size=5))
    return (name, dram, clock), clients


def _drive(model_cls, spec, clients):
    """Run the clients against ``model_cls``; return completion times by tag, model, env.

    Requests that different clients make at the same instant are issued in client order.
    Left to themselves they would be issued in SimPy's event order, which depends on how many
    events each model used to get there (a ``timeout(latency)`` scheduled at issue here, a
    release-then-timeout chain there), so two simultaneous requests could reach the channels,
    and take the round-robin start channel, in either order. Such ties are arbitrary in both
    models; the dispatcher makes them identical. It waits until nothing else is scheduled at
    ``now`` (``env.peek()``), issues the round's requests sorted by client, and repeats while
    clients keep asking at the same instant.
    """
    _, dram, clock = spec
    env = CountingEnvironment()
    model = model_cls(env, dram, clock, record=True)
    done: dict[str, float] = {}
    pending: list[tuple] = []
    dispatching = [False]

    def dispatcher():
        while True:
            while env.peek() == env.now:
                yield env.timeout(0)
            if not pending:
                dispatching[0] = False
                return
            batch = sorted(pending)
            pending.clear()
            for _, op, nbytes, extra, tag, ticket in batch:
                bursts = None if extra is None else walk_bursts(nbytes, dram.burst_bytes) + extra
                proc = getattr(model, op)(nbytes, tag=tag, bursts=bursts)
                proc.callbacks.append(lambda _ev, tag=tag: done.__setitem__(tag, env.now))
                ticket.succeed(proc)

    def client(c, steps):
        for s, (delay, op, nbytes, wait, extra) in enumerate(steps):
            if delay:
                yield env.timeout(delay)
            ticket = env.event()
            pending.append(((c, s), op, nbytes, extra, f"{c}.{s}", ticket))
            if not dispatching[0]:
                dispatching[0] = True
                env.process(dispatcher())
            proc = yield ticket
            if wait:
                yield proc

    for c, steps in enumerate(clients):
        env.process(client(c, steps))
    env.run()
    return done, model, env


def _shares(model) -> list[tuple]:
    if isinstance(model, DramModel):
        rows = [(t.op, t.tag, t.channel, t.nbytes, t.start, t.end, t.done) for t in model.log]
    else:
        rows = list(model.log)
    return sorted(rows, key=lambda r: (r[1], r[2]))


def _compare(spec, clients):
    got, fast, fast_env = _drive(DramModel, spec, clients)
    want, ref, ref_env = _drive(ResourceDram, spec, clients)
    assert len(got) == sum(map(len, clients))
    assert got == want  # every transfer's completion time, exactly
    assert _shares(fast) == _shares(ref)  # channel, bytes and bus window of every share
    assert fast.busy_cycles == ref.busy_cycles
    assert [c.transfers for c in fast.channels] == ref.served
    assert (fast.read_bytes, fast.write_bytes) == (ref.read_bytes, ref.write_bytes)
    assert (fast.read_bursts, fast.write_bursts) == (ref.read_bursts, ref.write_bursts)
    assert fast.latency_cycles == ref.latency
    assert fast_env.now == ref_env.now
    return fast_env.events, ref_env.events


@settings(max_examples=50)
@given(workloads())
def test_dram_model_matches_resource_reference(workload):
    spec, clients = workload
    fast_events, ref_events = _compare(spec, clients)
    moved = any(nbytes or extra for steps in clients for _, _, nbytes, _, extra in steps)
    # Zero-byte transfers cost the same in both; any real transfer saves events.
    assert fast_events < ref_events if moved else fast_events == ref_events


@settings(max_examples=15)
@given(workloads(specs=[SPECS[0]]))
def test_dram_model_matches_reference_on_32_channels(workload):
    spec, clients = workload
    _compare(spec, clients)


def _open_loop(model_cls, spec, schedule):
    """One process issues ``(time, op, nbytes)`` in order without waiting: no same-time races."""
    _, dram, clock = spec
    env = CountingEnvironment()
    model = model_cls(env, dram, clock, record=True)
    done: dict[int, float] = {}

    def driver():
        for k, (t, op, nbytes) in enumerate(schedule):
            if t > env.now:
                yield env.timeout(t - env.now)
            proc = getattr(model, op)(nbytes, tag=str(k))
            proc.callbacks.append(lambda _ev, k=k: done.__setitem__(k, env.now))

    env.process(driver())
    env.run()
    driver_events = 2 + len({t for t, _, _ in schedule if t > 0})  # start, end, timeouts
    return done, model, env.events - driver_events


def test_event_saving_on_32_channels():
    """Documents the saving: 50 overlapping 256 KiB transfers on the U280's 32 HBM channels.

    Each transfer spans all 32 channels. DramModel: 3 events per transfer (process start, one
    timeout, process end). Reference: per share a process start, request, bus timeout,
    release, latency timeout and process end (6 x 32), plus the transfer's start, AllOf and
    end: 195 events, 65 times as many.
    """
    spec = SPECS[0]
    rng = np.random.default_rng(7)
    times = sorted(rng.integers(0, 20_000, 50).tolist())
    schedule = [(t, str(rng.choice(["read", "write"])), 256 * 1024) for t in times]
    got, fast, fast_events = _open_loop(DramModel, spec, schedule)
    want, ref, ref_events = _open_loop(ResourceDram, spec, schedule)
    assert got == want
    assert _shares(fast) == _shares(ref)
    assert fast.busy_cycles == ref.busy_cycles
    # Alone a transfer takes 25 + ceil(8192 / (575 / 9)) = 154 cycles; these queue.
    assert max(got[k] - t for k, (t, _, _) in enumerate(schedule)) > 250
    assert fast_events == 3 * 50
    assert ref_events == 195 * 50


def _plan(rng, n: int) -> TilePlan:
    z = np.zeros(n, dtype=np.int64)
    comp = rng.integers(0, 3000, n)
    return TilePlan(
        engine="fake",
        multipliers=16,
        compute_cycles=comp,
        load_bytes=rng.integers(0, 300_000, n),
        store_bytes=rng.integers(0, 100_000, n),
        performed_macs=16 * comp,
        sram_read_bytes=z,
        sram_write_bytes=z,
        buffer_bytes=1024,
    )


@pytest.mark.parametrize("preset", ["flightllm-u280", "sat-vcu1525", "smash-piuma"])
def test_run_tiles_same_with_resource_channels(monkeypatch, preset):
    """The pipeline's schedule is unchanged when its DRAM is the Resource reference."""
    arch = load_arch(preset)
    plan = _plan(np.random.default_rng(len(preset)), 40)
    fast = run_tiles(plan, arch)
    monkeypatch.setattr(pipeline, "DramModel", ResourceDram)
    ref = run_tiles(plan, arch)
    for field in ("cycles", "stall_cycles", "dram_read_bytes", "dram_write_bytes"):
        assert getattr(fast, field) == getattr(ref, field), field
    for field in ("load_start", "load_end", "compute_start", "compute_end", "store_end"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(ref, field), err_msg=field)
    assert fast.channel_busy_cycles == ref.channel_busy_cycles
    assert fast.events < ref.events
