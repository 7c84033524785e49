"""The vector unit as a tile plan: element-wise, normalisation, softmax, pooling, mask selection.

Cost model (documented, one place): an operation of ``elements`` outputs at ``ops_per_element``
lane operations each takes ``ceil(elements * ops_per_element / (lanes * ops_per_cycle))`` cycles
of :class:`hwsim.arch.VectorSpec`. Its DRAM traffic is what the caller says it reads and writes
(activations that stay on chip move nothing). The work is cut into chunks that fit half of the
on-chip buffer, so loads, compute and stores of successive chunks overlap like GEMM tiles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .engines._tiling import half_buffer_budget
from .engines.base import TilePlan

__all__ = ["VECTOR_ENGINE", "vector_cycles", "vector_plan"]

#: Engine key of the vector unit in schedules (it is ``Architecture.vector``, not an entry of
#: ``Architecture.engines``).
VECTOR_ENGINE = "vector"


def vector_cycles(arch: Any, elements: int, ops_per_element: float = 1.0) -> int:
    """Cycles of ``elements * ops_per_element`` lane operations on the vector unit."""
    v = arch.vector
    work = float(elements) * float(ops_per_element)
    return int(math.ceil(work / (int(v.lanes) * int(v.ops_per_cycle)))) if work > 0 else 0


def vector_plan(
    arch: Any,
    elements: int,
    *,
    ops_per_element: float = 1.0,
    read_bytes: int = 0,
    write_bytes: int = 0,
    sram_read_bytes: int = 0,
    sram_write_bytes: int = 0,
    engine: str = VECTOR_ENGINE,
) -> TilePlan:
    """A :class:`~hwsim.engines.base.TilePlan` for one vector operation.

    Parameters
    ----------
    arch : Architecture
    elements : int
        Output elements.
    ops_per_element : float
        Lane operations per output element.
    read_bytes, write_bytes : int
        DRAM bytes the operation reads before / writes after computing.
    sram_read_bytes, sram_write_bytes : int
        On-chip buffer bytes it reads and writes.
    engine : str
        Engine key of the plan.

    Returns
    -------
    TilePlan
        Chunks of at most half the on-chip buffer (in- plus out-bytes), in order.
    """
    total = vector_cycles(arch, elements, ops_per_element)
    budget = max(1, half_buffer_budget(arch))
    span = max(int(read_bytes) + int(write_bytes), int(sram_read_bytes), 1)
    chunks = max(1, min(int(math.ceil(span / budget)), max(1, int(elements))))

    def split(x: int) -> np.ndarray:
        base = np.full(chunks, int(x) // chunks, dtype=np.int64)
        base[: int(x) % chunks] += 1
        return base

    load, store, comp = split(read_bytes), split(write_bytes), split(total)
    return TilePlan(
        engine=engine,
        multipliers=0,
        compute_cycles=comp,
        load_bytes=load,
        store_bytes=store,
        performed_macs=np.zeros(chunks, dtype=np.int64),
        sram_read_bytes=split(sram_read_bytes),
        sram_write_bytes=split(sram_write_bytes),
        buffer_bytes=int((load + store).max(initial=0)),
        notes={"vector_cycles": total},
    )
