"""Contract between compute engines (closed forms per tile) and the SimPy tile pipeline.

An engine turns one GEMM into a :class:`TilePlan`: arrays with one entry per tile (a
buffer-sized block of work, many array folds), each computed in closed form with NumPy from the
real sparsity of the operands. The pipeline (:mod:`hwsim.pipeline`) then runs the tiles in SimPy
— loads through DRAM channels into double buffers, compute, stores — so the number of events
grows with tiles, never with cycles or MACs (DESIGN.md, contract 3). The engine also runs each
tile from its compressed operands, counting what it executes, so the functional check exercises
the schedule the timing counted (contracts 4 and 9).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .._lazy import deferred_field

if TYPE_CHECKING:  # pragma: no cover
    from ..arch import Architecture

__all__ = ["GemmWork", "TilePlan", "GemmEngine", "PRECISION_BYTES"]

#: Bytes per element of each supported precision.
PRECISION_BYTES = {"int8": 1, "int16": 2, "fp16": 2, "bf16": 2, "fp32": 4}


@dataclass(frozen=True)
class GemmWork:
    """One GEMM ``out[M, N] = act[M, K] @ weight[K, N]`` with the weight as sparse operand.

    Attributes
    ----------
    m, k, n : int
        Output rows (pixels × batch, tokens), reduction length, output columns (filters).
    weight : numpy.ndarray
        The pruned weight, dense ``K × N`` array; its zeros are the real sparsity the closed
        forms count. N:M groups run along K (axis 0).
    sparsity : object
        The declared pattern (:class:`hwsim.sparsity.Dense`, ``NMPattern``, ``BlockSparsity``,
        ``Unstructured``); the weight satisfies it.
    precision : str
        Key of :data:`PRECISION_BYTES`.
    dataflow : str
        ``"ws"``, ``"os"`` or ``"is"`` (engines that have a single dataflow ignore it).
    act : numpy.ndarray or None
        The ``M × K`` activation, when materialised: for an engine checked on its whole
        output (``compute``). Tile-walking checks draw only the rows they run
        (:func:`hwsim.check.activation_rows`) and leave it ``None``.
    seed : int
        Seed that produced the synthetic operands (recorded in results).
    """

    m: int
    k: int
    n: int
    weight: np.ndarray
    sparsity: Any
    precision: str = "int8"
    dataflow: str = "ws"
    act: np.ndarray | None = None
    seed: int = 0

    @property
    def dense_macs(self) -> int:
        """``m * k * n``."""
        return self.m * self.k * self.n

    @property
    def elem_bytes(self) -> int:
        """Bytes per element at :attr:`precision`."""
        return PRECISION_BYTES[self.precision]


@dataclass
class TilePlan:
    """Per-tile work of one GEMM on one engine, ready for the SimPy pipeline.

    All arrays are ``int64`` and have one entry per tile, in execution order.

    Attributes
    ----------
    engine : str
        Engine name in the architecture.
    multipliers : int
        Multipliers of the engine (denominator of utilization).
    compute_cycles : ndarray
        Cycles the engine is busy on each tile (fill and drain of the array included).
    load_bytes : ndarray
        DRAM bytes that must arrive before the tile can start (operands not already on chip;
        N:M values plus metadata for sparse weights).
    store_bytes : ndarray
        DRAM bytes written after the tile (outputs leaving the chip; 0 when kept on chip).
    performed_macs : ndarray
        Multiplications issued on each tile (padding and idle selector slots included).
    sram_read_bytes, sram_write_bytes : ndarray
        On-chip buffer traffic of each tile.
    buffer_bytes : int
        Bytes one tile occupies in the on-chip buffer (one of the two double-buffer slots).
    tiles : pandas.DataFrame or None
        Per-tile boxes ``m0, m1, k0, k1, n0, n1`` (``k`` in the engine's reduction
        coordinates, ``notes["k_extent"]`` long when not ``K``) and per-tile counts the
        functional check recounts (e.g. ``lockstep_steps``, ``folds``, ``group_passes``,
        ``weight_bytes``); also shown in traces and tables.
    notes : dict
        Engine-specific totals for the result's ``counters`` (e.g. ``fill_cycles``).
    act_load_bytes : ndarray or None
        The part of ``load_bytes`` that is the activation operand (zeros when not given). A
        network run drops it when the activation is already on chip (the producer kept it).
    operands : dict or None
        Buffer occupancy of each operand role (``act``, ``weight``, ``out``): ``role ->
        (buffer name, bytes of the tile's block, bool: the tile brings a new block)``. Read by
        :func:`hwsim.memory.buffer_footprint` (the one model of buffer occupancy).
    """

    engine: str
    multipliers: int
    compute_cycles: np.ndarray
    load_bytes: np.ndarray
    store_bytes: np.ndarray
    performed_macs: np.ndarray
    sram_read_bytes: np.ndarray
    sram_write_bytes: np.ndarray
    buffer_bytes: int
    tiles: Any = deferred_field()
    notes: dict[str, Any] = field(default_factory=dict)
    act_load_bytes: Any = None
    operands: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        names = (
            "compute_cycles",
            "load_bytes",
            "store_bytes",
            "performed_macs",
            "sram_read_bytes",
            "sram_write_bytes",
        )
        arrays = {k: np.asarray(getattr(self, k), dtype=np.int64).reshape(-1) for k in names}
        sizes = {a.size for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"TilePlan arrays must have one length, got { {k: a.size for k, a in arrays.items()} }")
        for k, a in arrays.items():
            if a.size and a.min() < 0:
                raise ValueError(f"TilePlan.{k} has a negative entry")
            setattr(self, k, a)
        if self.act_load_bytes is None:
            self.act_load_bytes = np.zeros_like(self.load_bytes)
        else:
            a = np.asarray(self.act_load_bytes, dtype=np.int64).reshape(-1)
            if a.size != self.load_bytes.size or (a > self.load_bytes).any() or (a < 0).any():
                raise ValueError("TilePlan.act_load_bytes must be a per-tile part of load_bytes")
            self.act_load_bytes = a

    def evolve(self, **changes: Any) -> TilePlan:
        """A copy with ``changes`` applied and validated, its tile table left unbuilt.

        (``dataclasses.replace`` would read every field, building the table with pandas.)
        """
        new = copy.copy(self)
        new.__dict__.update(changes)
        new.__post_init__()
        return new

    @property
    def num_tiles(self) -> int:
        """Tiles in the plan."""
        return int(self.compute_cycles.size)


@runtime_checkable
class GemmEngine(Protocol):
    """What the GEMM driver needs from an engine model."""

    #: Engine kind this model implements (``"nm_pe_array"``, ``"systolic"``, ``"dsp_chain"``).
    kind: str

    def plan(self, work: GemmWork, arch: Architecture, engine_name: str) -> TilePlan:
        """Cut ``work`` into tiles and evaluate each tile's closed forms."""
        ...

    def compute(self, work: GemmWork, arch: Architecture, engine_name: str) -> np.ndarray:
        """Numerical output computed from the compressed operands the engine is given."""
        ...

    # Built-in engines also define ``execute_tile(work, arch, engine_name, plan, i, act,
    # cols=None) -> (out, counts)``: tile ``i`` of ``plan`` run from its compressed operands,
    # with the figures counted while running it (``compute_cycles``, ``performed_macs`` and
    # tile columns of ``plan.tiles``). The functional check (:mod:`hwsim.check`) walks the
    # plan with it (contract 9); engines without it are checked on ``compute`` alone.
