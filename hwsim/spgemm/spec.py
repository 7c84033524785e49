"""Engine kind ``spgemm``: a PIUMA-like many-core machine with hashing scratchpads (SMASH)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arch import EngineSpec, _c, _r, register_engine_kind
from ..errors import ConfigError

__all__ = ["SpgemmSpec", "KERNELS", "HASHES"]

#: SMASH kernel versions: V1 atomic hashing, V2 tokenized entries, V3 fragmented table memory.
KERNELS = ("v1", "v2", "v3")
#: Hash functions of the scratchpad table.
HASHES = ("multiplicative", "modulo")


@register_engine_kind("spgemm")
@dataclass(frozen=True)
class SpgemmSpec(EngineSpec):
    """Many-core SpGEMM machine: multithreaded cores, banked scratchpads, atomics, shared DRAM.

    Every worker core owns a scratchpad split into ``spad_banks`` word-interleaved banks that
    holds one open-addressing hash table of ``table_entries`` slots (SMASH V1). Threads of the
    core merge partial products into the table with atomic read-modify-writes. Under V3 the same
    slots form a pool of ``fragment_entries``-slot fragments that rows take on demand.

    Attributes
    ----------
    cores : int
        Worker cores (``P``); ``simulate_spgemm(workers=...)`` overrides it.
    threads_per_core : int
        Hardware threads per core; each keeps one scratchpad atomic in flight.
    issue_width : int
        Instructions a core issues per cycle (pipelines); also its multiplies per cycle.
    spad_bytes : int
        Scratchpad bytes per core; the table (``table_entries * entry_bytes``) must fit.
    spad_banks : int
        Scratchpad banks per core (slot ``s`` lives in bank ``s % spad_banks``).
    bank_busy_cycles : int
        Cycles a bank is occupied by one access (1 / per-bank throughput).
    atomic_latency : int
        Cycles from issuing a scratchpad atomic to its completion.
    table_entries : int
        Hash-table slots per window (a power of two).
    max_load : float
        Largest fraction of the table a window may fill (window distribution packs rows up to
        ``max_load * table_entries`` partial products).
    window_rows : int
        Most rows of A in one window.
    windows_per_core : int
        Window distribution aims at this many windows per core at least (windows are cut
        smaller than the table when the matrix is too small to give every core that many full
        tables), so dynamic distribution can balance the cores.
    fragment_entries : int
        V3 only: slots of one fragment (a power of two; a table smaller than a fragment is
        one fragment).
    hash : str
        ``"multiplicative"`` (Fibonacci hashing) or ``"modulo"`` (low bits of the key).
    kernel : str
        ``"v1"`` (atomic hashing: key CAS + value add), ``"v2"`` (tokenized key|value, one
        fused atomic per slot visit) or ``"v3"`` (V2's tokens in a fragmented table: every row
        hashes into its own fragments, taken from the pool on demand; write-back visits only
        those fragments and needs no bucketing by row).
    index_bytes, value_bytes : int
        Bytes of a column index / a value in DRAM and in the table.
    instr_per_product : int
        Instructions a thread spends per partial product besides the atomics (load B entry,
        multiply, hash, loop).
    window_overhead_cycles : int
        Fixed cost of starting a window (dispatch, thread barrier).
    b_cache_bytes : int
        Row-wise only: bytes of a per-core cache for rows of B, scoped to one window (cold at
        every window start, nothing kept across windows). ``0`` (the default) models no cache:
        every ``A[i, k]`` re-fetches row ``k`` of B from DRAM. Otherwise the distinct rows of
        B a window references are cached in first-reference order while their bytes
        (``nnz(B[k, :]) * entry_bytes`` each) fit, and stay pinned for the window (no
        eviction); later references to a cached row are hits, rows past the capacity are
        re-fetched at every reference. See :func:`hwsim.spgemm.rowwise.b_row_cache`.
    """

    cores: int = field(default=8, metadata=_r(1, 4096, "worker cores"))
    threads_per_core: int = field(default=64, metadata=_r(1, 1024, "hardware threads per core"))
    issue_width: int = field(default=4, metadata=_r(1, 64, "instructions per cycle per core"))
    spad_bytes: int = field(default=4 * 2**20, metadata=_r(1024, 2**34, "scratchpad bytes/core"))
    spad_banks: int = field(default=16, metadata=_r(1, 1024, "scratchpad banks per core"))
    bank_busy_cycles: int = field(default=2, metadata=_r(1, 64, "cycles per bank access"))
    atomic_latency: int = field(default=16, metadata=_r(1, 10_000, "atomic RMW latency, cycles"))
    table_entries: int = field(default=16384, metadata=_r(16, 2**26, "hash slots per window"))
    max_load: float = field(default=0.5, metadata=_r(0.05, 0.95, "max table fill per window"))
    window_rows: int = field(default=1024, metadata=_r(1, 2**20, "max rows of A per window"))
    windows_per_core: int = field(default=16, metadata=_r(1, 4096, "windows per core, at least"))
    fragment_entries: int = field(default=64, metadata=_r(1, 2**26, "V3 slots per fragment"))
    hash: str = field(default="multiplicative", metadata=_c(HASHES, "hash function"))
    kernel: str = field(default="v1", metadata=_c(KERNELS, "SMASH kernel version"))
    index_bytes: int = field(default=4, metadata=_r(1, 8, "bytes per column index"))
    value_bytes: int = field(default=8, metadata=_r(1, 8, "bytes per value"))
    instr_per_product: int = field(default=4, metadata=_r(0, 1000, "instructions per product"))
    window_overhead_cycles: int = field(default=100, metadata=_r(0, 10**6, "cycles per window"))
    b_cache_bytes: int = field(
        default=0, metadata=_r(0, 2**30, "per-core window-scoped cache for rows of B, bytes (0: none)")
    )

    def _check(self) -> None:
        t = self.table_entries
        if t & (t - 1):
            raise ConfigError(f"expected a power of two, got {t}", key="table_entries")
        if self.table_bytes > self.spad_bytes:
            raise ConfigError(
                f"hash table ({t} entries x {self.entry_bytes} B = {self.table_bytes} B) does not "
                f"fit the scratchpad ({self.spad_bytes} B)",
                key="table_entries",
            )
        f = self.fragment_entries
        if f & (f - 1):
            raise ConfigError(f"expected a power of two, got {f}", key="fragment_entries")
        if self.capacity < 1:
            raise ConfigError(
                f"max_load * table_entries must be >= 1, got {self.max_load} * {t}", key="max_load"
            )

    @property
    def entry_bytes(self) -> int:
        """Bytes of one table slot (key + value)."""
        return self.index_bytes + self.value_bytes

    @property
    def table_bytes(self) -> int:
        """Bytes of the hash table."""
        return self.table_entries * self.entry_bytes

    @property
    def capacity(self) -> int:
        """Distinct keys (and partial-product upper bound) one window may hold."""
        return int(self.max_load * self.table_entries)

    @property
    def multipliers(self) -> int:
        """One multiply per issue slot per core: ``cores * issue_width``."""
        return self.cores * self.issue_width
