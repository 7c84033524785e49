"""SimPy memory system: DRAM/HBM channels with contention, on-chip buffer accounting, fit checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import simpy

from .errors import ShapeError

if TYPE_CHECKING:  # pragma: no cover
    from .arch import Architecture, BufferSpec, DramSpec, EnergySpec

__all__ = ["DramModel", "DramChannel", "Transfer", "OnChipBuffer", "check_fits", "check_tile_fits"]


@dataclass(slots=True)
class DramChannel:
    """One DRAM/HBM channel: a FIFO server of its data bus.

    Attributes
    ----------
    index : int
        Channel number.
    free_at : float
        Time (cycles) the data bus finishes its last granted transfer.
    busy_cycles : int
        Cycles the data bus spent transferring.
    transfers : int
        Transfers (or transfer parts) served.
    """

    index: int
    free_at: float = 0.0
    busy_cycles: int = 0
    transfers: int = 0


@dataclass(frozen=True)
class Transfer:
    """One channel's share of a read or write, for traces: bus busy ``[start, end)``, data at ``done``."""

    op: str
    tag: str
    channel: int
    nbytes: int
    start: float
    end: float
    done: float


class DramModel:
    """Off-chip memory as ``channels`` FIFO servers in a SimPy environment (time in cycles).

    Data moves in whole bursts of ``dram.burst_bytes`` (the access granularity: DDR4 BL8 x 64
    bits = 64 B, an HBM2 pseudo-channel BL4 x 64 bits = 32 B). A contiguous transfer of
    ``nbytes`` from a burst-aligned address moves ``ceil(nbytes / burst_bytes)`` bursts; a
    gather (scattered pieces: rows of B in SpGEMM, index-driven fetches) passes the bursts its
    pieces touch as ``bursts=``, so it costs what its bursts cost on the bus, not its payload at
    streaming bandwidth. The burst-rounded bytes are what occupies the channels below;
    :attr:`read_bytes`/:attr:`write_bytes` stay payload bytes, :attr:`read_bursts`/
    :attr:`write_bursts` count bursts.

    A transfer's burst-rounded bytes are cut into ``dram.granule_bytes`` granules interleaved round-robin over the
    channels (continuing where the previous transfer stopped). Each channel moves its share as
    one piece: its bus is busy ``ceil(bytes / bytes_per_cycle_per_channel)`` cycles, starting when
    the channel is free (requests are served in arrival order, like a capacity-1
    ``simpy.Resource``), and the data is complete ``latency_cycles`` later (latency is pipelined:
    it does not hold the bus). An uncontended transfer on one channel therefore takes exactly
    ``latency_cycles + ceil(bytes / bytes_per_cycle_per_channel)``; two transfers on one channel
    serialise on the bus. The grant time of a FIFO server is ``max(now, free_at)``, so it is
    computed directly instead of scheduling request/release events: a transfer costs one SimPy
    timeout whatever the channel count, keeping events proportional to tiles (DESIGN.md, 3).
    ``tests/test_hwsim_memory_reference.py`` checks this against one ``simpy.Resource`` per
    channel: for the same arrival order, completion times, bus windows and busy cycles match.

    Parameters
    ----------
    env : simpy.Environment
        Environment whose ``now`` counts accelerator cycles.
    dram : DramSpec
        Channels, total bandwidth, latency and interleave granule.
    clock_mhz : float
        Accelerator clock, to convert GB/s and ns to bytes/cycle and cycles.
    energy : EnergySpec, optional
        When given, :attr:`energy_pj` accumulates ``dram_pj_per_byte`` per byte moved.
    record : bool
        Keep every :class:`Transfer` in :attr:`log` (for traces).

    Attributes
    ----------
    read_bytes, write_bytes : int
        Payload bytes moved so far.
    read_bursts, write_bursts : int
        Bursts moved so far (``bursts * burst_bytes`` is what the bus carried).
    channels : list[DramChannel]
        Per-channel state (``busy_cycles``...).
    bytes_per_cycle : float
        Bytes per cycle of one channel.
    latency_cycles : int
        Access latency in cycles.
    """

    def __init__(
        self,
        env: simpy.Environment,
        dram: DramSpec,
        clock_mhz: float,
        *,
        energy: EnergySpec | None = None,
        record: bool = False,
    ):
        self.env = env
        self.dram = dram
        self.clock_mhz = float(clock_mhz)
        self.energy = energy
        self.record = record
        self.read_bytes = 0
        self.write_bytes = 0
        self.read_bursts = 0
        self.write_bursts = 0
        self.burst_bytes = int(dram.burst_bytes)
        self.energy_pj = 0.0
        self.log: list[Transfer] = []
        self.n_channels = int(dram.channels)
        # per-channel state as arrays: a transfer books all its shares in a few array steps
        self._free = [0.0] * self.n_channels  # when each channel's bus is next free
        # busy cycles and shares served, counted per distinct split and summed when read
        self._booked: dict[tuple[int, int], list] = {}
        self.bytes_per_cycle = dram.bytes_per_cycle_per_channel(self.clock_mhz)
        self.latency_cycles = dram.latency_cycles(self.clock_mhz)
        self._next_channel = 0
        self._share_cache: dict[tuple[int, int], tuple] = {}

    def _totals(self) -> tuple[np.ndarray, np.ndarray]:
        busy = np.zeros(self.n_channels, dtype=np.int64)
        served = np.zeros(self.n_channels, dtype=np.int64)
        for count, idx, cycles in self._booked.values():
            busy[idx] += count * cycles
            served[idx] += count
        return busy, served

    @property
    def channels(self) -> list[DramChannel]:
        """Per-channel state now (a snapshot)."""
        busy, served = self._totals()
        return [
            DramChannel(i, self._free[i], int(busy[i]), int(served[i]))
            for i in range(self.n_channels)
        ]

    @property
    def busy_cycles(self) -> list[int]:
        """Data-bus busy cycles of each channel."""
        return self._totals()[0].tolist()

    @property
    def bursts(self) -> int:
        """Bursts read and written so far."""
        return self.read_bursts + self.write_bursts

    def read(self, nbytes: int, *, tag: str = "", bursts: int | None = None) -> simpy.events.Process:
        """Start a read of ``nbytes`` payload; the process finishes when all data arrived.

        ``bursts``: bursts a gather touches (default: a contiguous, burst-aligned transfer).
        """
        n = _byte_count(nbytes)
        return self.env.process(self._transfer("read", n, tag, self._bursts(n, bursts)))

    def write(self, nbytes: int, *, tag: str = "", bursts: int | None = None) -> simpy.events.Process:
        """Start a write of ``nbytes`` payload; the process finishes when it is complete."""
        n = _byte_count(nbytes)
        return self.env.process(self._transfer("write", n, tag, self._bursts(n, bursts)))

    def _bursts(self, nbytes: int, bursts) -> int:
        least = -(-nbytes // self.burst_bytes)
        if bursts is None:
            return least
        b = _byte_count(bursts)
        if b < least:
            raise ValueError(
                f"bursts ({b}) cannot carry {nbytes} B: at least {least} bursts of "
                f"{self.burst_bytes} B are needed"
            )
        return b

    def split(self, nbytes: int) -> list[tuple[int, int]]:
        """``(channel, bytes)`` shares of a transfer starting at the next channel (no side effect)."""
        if nbytes <= 0:
            return []
        n_ch = self.n_channels
        g = self.dram.granule_bytes
        granules = -(-nbytes // g)
        last = nbytes - (granules - 1) * g
        full, extra = divmod(granules, n_ch)
        shares = []
        for j in range(min(granules, n_ch)):
            count = full + (1 if j < extra else 0)
            size = count * g
            if j == (granules - 1) % n_ch:
                size -= g - last  # this channel carries the short last granule
            shares.append(((self._next_channel + j) % n_ch, size))
        return shares

    def start(self, op: str, nbytes: int, *, tag: str = "", bursts: int | None = None) -> float:
        """Book a transfer issued now on the channels and return the time its data is done.

        The same booking as :meth:`read` / :meth:`write` without a SimPy process: the caller
        waits ``done - env.now`` itself (:mod:`hwsim.pipeline` does, one timeout a transfer).

        Parameters
        ----------
        op : {"read", "write"}
        nbytes : int
            Payload bytes.
        tag : str
            Label of the transfer in :attr:`log`.
        bursts : int, optional
            As :meth:`read`.

        Returns
        -------
        float
            Cycle at which the last share's data has arrived.
        """
        if type(nbytes) is int and nbytes >= 0 and bursts is None:  # the pipeline's case
            return self._book(op, nbytes, tag, -(-nbytes // self.burst_bytes))
        n = _byte_count(nbytes)
        return self._book(op, n, tag, self._bursts(n, bursts))

    def _shares(self, bus: int) -> tuple:
        """``(channels, bytes, bus cycles)`` lists of ``bus`` bytes from the next channel, and
        the channel after the last granule (memoised: a network moves the same few sizes over
        and over)."""
        key = (bus, self._next_channel)
        hit = self._share_cache.get(key)
        if hit is None:
            split = self.split(bus)
            idx = [c for c, _ in split]
            size = [b for _, b in split]
            busy = [math.ceil(b / self.bytes_per_cycle - 1e-9) for b in size]
            nxt = (self._next_channel + -(-bus // self.dram.granule_bytes)) % self.n_channels
            hit = (idx, size, busy, nxt)
            if len(self._share_cache) >= 4096:
                self._share_cache.clear()
            self._share_cache[key] = hit
        return hit

    def _book(self, op: str, nbytes: int, tag: str, bursts: int) -> float:
        now = self.env.now
        done = now
        bus = bursts * self.burst_bytes  # what the channels carry
        if bus > 0:
            key = (bus, self._next_channel)
            idx, size, busy, self._next_channel = self._shares(bus)
            # a FIFO server grants at max(now, free_at); shares of one transfer are on
            # distinct channels
            free, last = self._free, now
            begins = [] if self.record else None
            for c, b in zip(idx, busy, strict=True):
                f = free[c]
                if f < now:
                    f = now
                if begins is not None:
                    begins.append(f)
                f += b
                free[c] = f
                if f > last:
                    last = f
            entry = self._booked.get(key)
            if entry is None:
                self._booked[key] = [1, np.array(idx, dtype=np.intp), np.array(busy, dtype=np.int64)]
            else:
                entry[0] += 1
            done = last + self.latency_cycles
            if begins is not None:
                lat = self.latency_cycles
                self.log.extend(
                    Transfer(op, tag, c, n, float(f0), float(f0 + b), float(f0 + b) + lat)
                    for c, n, f0, b in zip(idx, size, begins, busy, strict=True)
                )
        if op == "read":
            self.read_bytes += nbytes
            self.read_bursts += bursts
        else:
            self.write_bytes += nbytes
            self.write_bursts += bursts
        if self.energy is not None:
            self.energy_pj += bus * self.energy.dram_pj_per_byte
        return done

    def _transfer(self, op: str, nbytes: int, tag: str, bursts: int):
        now = self.env.now
        done = self._book(op, nbytes, tag, bursts)
        if done > now:
            yield self.env.timeout(done - now)
        return done


class OnChipBuffer:
    """Accounting of one on-chip SRAM buffer: occupancy, peak, traffic and port cycles.

    Parameters
    ----------
    capacity_bytes, banks, bytes_per_cycle : int
        As in :class:`hwsim.arch.BufferSpec`.
    name : str
        Buffer name, used in error messages.

    Raises
    ------
    ShapeError
        From :meth:`allocate` when the buffer would overflow.
    """

    def __init__(
        self,
        capacity_bytes: int,
        banks: int = 1,
        bytes_per_cycle: int = 64,
        *,
        name: str = "buffer",
    ):
        for label, v in (
            ("capacity_bytes", capacity_bytes),
            ("banks", banks),
            ("bytes_per_cycle", bytes_per_cycle),
        ):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{label} must be a positive integer, not {v!r}")
        self.capacity_bytes = capacity_bytes
        self.banks = banks
        self.bytes_per_cycle = bytes_per_cycle
        self.name = name
        self.used = 0
        self.peak = 0
        self.read_bytes = 0
        self.write_bytes = 0

    @classmethod
    def from_spec(cls, name: str, spec: BufferSpec) -> OnChipBuffer:
        """Buffer from an architecture's :class:`~hwsim.arch.BufferSpec`."""
        return cls(spec.capacity_bytes, spec.banks, spec.bytes_per_cycle, name=name)

    def allocate(self, nbytes: int) -> None:
        """Reserve ``nbytes``; ShapeError naming the buffer and sizes when it does not fit."""
        if self.used + nbytes > self.capacity_bytes:
            raise ShapeError(
                f"buffer {self.name!r} overflows: {self.used} B used + {nbytes} B requested "
                f"> capacity {self.capacity_bytes} B"
            )
        self.used += nbytes
        self.peak = max(self.peak, self.used)

    def free(self, nbytes: int) -> None:
        """Release ``nbytes`` reserved earlier."""
        if nbytes > self.used:
            raise ValueError(
                f"buffer {self.name!r}: freeing {nbytes} B but only {self.used} B used"
            )
        self.used -= nbytes

    def read(self, nbytes: int) -> int:
        """Count a read; returns the port cycles it takes."""
        nbytes = _byte_count(nbytes)
        self.read_bytes += nbytes
        return self.access_cycles(nbytes)

    def write(self, nbytes: int) -> int:
        """Count a write; returns the port cycles it takes."""
        nbytes = _byte_count(nbytes)
        self.write_bytes += nbytes
        return self.access_cycles(nbytes)

    def access_cycles(self, nbytes: int) -> int:
        """Port cycles to move ``nbytes`` (all banks in parallel)."""
        return -(-int(nbytes) // self.bytes_per_cycle)


def _byte_count(nbytes) -> int:
    """A transfer size: a non-negative integer (numpy integers accepted)."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)):
        raise TypeError(f"nbytes must be a non-negative integer, not {nbytes!r}")
    if nbytes < 0:
        raise ValueError(f"nbytes must be a non-negative integer, not {nbytes}")
    return int(nbytes)


def check_fits(name: str, capacity_bytes: int, tile_bytes: int, *, slots: int = 1) -> None:
    """Raise ShapeError when ``slots`` copies of a ``tile_bytes`` tile exceed ``capacity_bytes``."""
    need = int(tile_bytes) * slots
    if need > capacity_bytes:
        copies = f"{slots} x {int(tile_bytes)} B = {need} B" if slots > 1 else f"{need} B"
        raise ShapeError(
            f"one tile does not fit in on-chip buffer {name!r}: needs {copies}, "
            f"capacity is {capacity_bytes} B"
        )


def check_tile_fits(
    arch: Architecture, tile_bytes: int, *, slots: int = 2, buffer: str | None = None
) -> None:
    """Check that ``slots`` tiles (double buffering: 2) fit on chip.

    With ``buffer`` the named buffer is checked; otherwise the total of all buffers.

    Raises
    ------
    ShapeError
        Naming the buffer(s) and the sizes.
    ConfigError
        When ``buffer`` is not a buffer of the architecture.
    """
    if buffer is not None:
        if buffer not in arch.buffers:
            from .errors import ConfigError

            raise ConfigError(
                f"no buffer {buffer!r}; buffers: {', '.join(arch.buffers)}", key="buffers"
            )
        check_fits(buffer, arch.buffers[buffer].capacity_bytes, tile_bytes, slots=slots)
        return
    name = "+".join(arch.buffers) or "<none>"
    check_fits(name, arch.onchip_bytes, tile_bytes, slots=slots)


def buffer_footprint(plan, *, slots: int = 2) -> dict[str, int]:
    """Peak bytes each on-chip buffer holds while ``plan`` runs with ``slots``-deep buffering.

    The one model of buffer occupancy (GEMM runs report it as ``peak_buffer_bytes``; a network
    scheduler asks it whether an activation can stay on chip). With ``slots`` slots the blocks
    of tiles ``i .. i + slots - 1`` are resident together (the next tiles' loads overlap tile
    ``i``); a tile that reuses the block of the tile before it (same activation, weight or
    output block) adds nothing. Roles sharing a buffer add up.

    Parameters
    ----------
    plan : TilePlan
        With ``operands`` (``role -> (buffer, bytes per tile, new block per tile)``).
    slots : int
        Buffer depth (2 = double buffering).

    Returns
    -------
    dict
        ``buffer name -> peak bytes``; empty when the plan records no operands.
    """
    ops = getattr(plan, "operands", None) or {}
    per: dict[str, np.ndarray] = {}
    for buf, nbytes, new in ops.values():
        b = np.asarray(nbytes, dtype=np.int64)
        fresh = np.where(np.asarray(new, dtype=bool), b, 0)
        tot = b.copy()
        for j in range(1, max(1, int(slots))):
            tot[: max(0, b.size - j)] += fresh[j:]
        per[buf] = tot if buf not in per else per[buf] + tot
    return {k: int(v.max(initial=0)) for k, v in per.items()}
