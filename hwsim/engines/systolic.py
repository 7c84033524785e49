"""Dense systolic-array baseline whose compute cycles equal SCALE-Sim v3's (WS, OS, IS; layer-wise N:M)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import register_engine_model
from ._tiling import (
    acc_dtype,
    check_work,
    half_buffer_budget,
    nm_matmul,
    nm_pattern_of,
    nm_slot_positions,
    reuse_traffic,
    shrink_to_budget,
    spans,
    tiles_frame,
)
from .base import GemmWork, TilePlan

__all__ = [
    "DATAFLOWS",
    "scalesim_compute_cycles",
    "scalesim_fold_cycles",
    "scalesim_layer_dims",
    "SystolicEngine",
]

#: Dataflows of the SCALE-Sim compute models.
DATAFLOWS = ("ws", "os", "is")

# How SCALE-Sim v3 counts (read from scalesim/compute/systolic_compute_{ws,os,is}.py,
# scalesim/memory/double_buffered_scratchpad_mem.py and scalesim/single_layer_sim.py):
#
# * The operand matrices are ifmap ``P × K`` (P = ofmap pixels, K = filter_h·filter_w·channels
#   = the conv window), filter ``K × N`` and ofmap ``P × N``. Each dataflow maps two of them
#   onto the array: WS ``(Sr, Sc, T) = (K, N, P)``, OS ``(P, N, K)``, IS ``(K, P, N)``.
# * Every fold (``ceil(Sr/R) × ceil(Sc/C)`` of them) appends demand rows: WS/IS put an
#   ``R``-row weight-load prefix, the ``T`` streaming rows and a ``C - 1`` drain suffix, then
#   skew across the ``R`` array rows (``+ R - 1``): ``2R + C + T - 2``. OS has no weight-load
#   prefix: ``T`` streaming rows plus ``R + C - 2`` of skew, ``R + C + T - 2``.
# * The memory model services one demand row per cycle starting at cycle 0 and reports
#   ``max(serviced cycle)`` = rows - 1 + stalls; compute cycles are that minus the stalls,
#   hence the single ``- 1`` per layer.
# * Layer-wise n:m sparsity (topology column ``Sparsity``, ``SparsitySupport: true``,
#   ``OptimizedMapping: false``) keeps ``n`` of every ``m`` filter rows and drops the matching
#   ifmap columns (tail group: ``min(n, K % m)``), so K becomes
#   ``K_eff = n·floor(K/m) + min(n, K mod m)`` in all three dataflows. The tail group is
#   padded to ``n`` slots and the all-zero trailing rows are then stripped, which is where
#   ``min(n, K mod m)`` comes from. Without ``SparsitySupport`` the column is ignored: pass
#   ``sparsity=None``. ``OptimizedMapping: true`` (a different, WS-only mapping in 3.0.0) is
#   not modelled.
# * Topology files are read by the mapper's front end, :mod:`mapper.frontends.scalesim`
#   (trailing-comma and ``DP`` layers, conv ``P, K, N``).
#
# Checked against the real tool: SCALE-Sim 3.0.0 runs of AlexNet, ResNet-18, MobileNet v1 and
# BERT-base layers on 8×8 … 128×128 and 32×8 / 8×32 arrays, WS/OS/IS, dense and layer-wise
# N:M, stall-free (CALC) and stalling (USER bandwidth) memories all equal this model to the
# cycle (``benchmarks/validate_scalesim.py``; frozen in
# ``tests/test_hwsim_engines_systolic_scalesim.py``). Stalls never change the compute cycles.


def _k_eff(k: int, sparsity: Any) -> int:
    pattern = nm_pattern_of(sparsity)
    return int(k) if pattern is None else pattern.effective_length(int(k))


def scalesim_layer_dims(dataflow: str, p: int, k: int, n: int) -> tuple[int, int, int]:
    """SCALE-Sim's ``(Sr, Sc, T)`` for a layer with ``P`` pixels, reduction ``K``, ``N`` filters.

    Raises
    ------
    ConfigError
        Unknown dataflow.
    """
    if dataflow == "ws":
        return k, n, p
    if dataflow == "os":
        return p, n, k
    if dataflow == "is":
        return k, p, n
    raise ConfigError(f"dataflow must be one of {DATAFLOWS}, not {dataflow!r}")


def scalesim_fold_cycles(dataflow: str, rows: int, cols: int, t: int) -> int:
    """Demand rows of one fold: ``2R + C + T - 2`` (WS, IS) or ``R + C + T - 2`` (OS)."""
    if dataflow == "os":
        return rows + cols + t - 2
    scalesim_layer_dims(dataflow, 1, 1, 1)
    return 2 * rows + cols + t - 2


def scalesim_compute_cycles(
    dataflow: str, rows: int, cols: int, p: int, k: int, n: int, sparsity: Any = None
) -> int:
    """SCALE-Sim v3 compute cycles ("Total Cycles" minus its stall cycles) of one layer.

    Parameters
    ----------
    dataflow : {"ws", "os", "is"}
    rows, cols : int
        Array height ``R`` and width ``C``.
    p, k, n : int
        Output pixels (``M`` of a GEMM), reduction length, filters (output columns).
    sparsity : NMPattern or str, optional
        Layer-wise ``n:m`` (SCALE-Sim's topology ``Sparsity`` column); ``K`` becomes
        ``K_eff = n·floor(K/m) + min(n, K mod m)``. Anything else counts as dense.

    Returns
    -------
    int
        ``ceil(Sr/R) · ceil(Sc/C) · fold - 1`` with the fold of :func:`scalesim_fold_cycles`.
    """
    sr, sc, t = scalesim_layer_dims(dataflow, int(p), _k_eff(k, sparsity), int(n))
    folds = math.ceil(sr / rows) * math.ceil(sc / cols)
    return folds * scalesim_fold_cycles(dataflow, int(rows), int(cols), t) - 1


def _dense_k_span(start: np.ndarray, length: np.ndarray, k: int, pattern) -> np.ndarray:
    """Dense reduction elements covered by compressed slots ``[start, start + length)``."""
    if pattern is None:
        return length
    first = (start // pattern.n) * pattern.m
    last = np.minimum(k, -(-(start + length) // pattern.n) * pattern.m)
    return np.maximum(0, last - first)


@register_engine_model("systolic")
class SystolicEngine:
    """SCALE-Sim v3 compatible dense systolic array, cut into tiles of whole folds.

    Tiles are blocks of ``a × b`` folds along ``(Sr, Sc)`` with the streaming dimension ``T``
    whole, so the per-fold closed form decomposes exactly: the sum of the tiles' compute
    cycles is :func:`scalesim_compute_cycles` (the first tile carries the ``- 1``). The
    streaming operand passes through the buffer; tiles are sized so the stationary and
    output blocks (and the streamed block when it fits) take half the on-chip buffers.
    """

    kind = "systolic"

    def plan(self, work: GemmWork, arch: Any, engine_name: str) -> TilePlan:
        """Fold-group tiles with SCALE-Sim's cycles and the DRAM/SRAM traffic of each."""
        check_work(work)
        spec = arch.engine(engine_name)
        rows, cols = int(spec.rows), int(spec.cols)
        df = work.dataflow if work.dataflow in DATAFLOWS else spec.dataflow
        pattern = nm_pattern_of(work.sparsity)
        k_eff = _k_eff(work.k, pattern)
        sr, sc, t = scalesim_layer_dims(df, work.m, k_eff, work.n)
        fold = scalesim_fold_cycles(df, rows, cols, t)
        eb = work.elem_bytes
        idx_bits = pattern.idx_bits if pattern is not None else 0
        ratio = work.k / max(k_eff, 1)

        def extents(a_len, b_len):  # (m, k_eff, n) extents of a tile of a × b array lanes
            if df == "ws":
                return t, a_len, b_len
            if df == "os":
                return a_len, k_eff, b_len
            return b_len, a_len, t

        def cost(d):
            m_, ke, n_ = extents(d["a"] * rows, d["b"] * cols)
            m_, ke, n_ = min(m_, work.m), min(ke, k_eff), min(n_, work.n)
            w = ke * n_ * eb + math.ceil(ke * n_ * idx_bits / 8)
            return m_ * math.ceil(ke * ratio) * eb + w + m_ * n_ * eb

        fr, fc = math.ceil(sr / rows), math.ceil(sc / cols)
        budget = half_buffer_budget(arch)
        d = shrink_to_budget({"a": fr, "b": fc}, {}, cost, budget)
        a0, alen = spans(sr, d["a"] * rows)
        b0, blen = spans(sc, d["b"] * cols)
        # SCALE-Sim's loop order: column folds outer, row folds inner.
        bi, ai = (
            x.reshape(-1) for x in np.meshgrid(np.arange(b0.size), np.arange(a0.size), indexing="ij")
        )
        s_start, s_len = a0[ai], alen[ai]
        c_len = blen[bi]
        folds = (-(-s_len // rows)) * (-(-c_len // cols))
        compute = folds * fold
        compute[0] -= 1

        if df == "ws":
            mi, ki, ni = np.zeros_like(ai), ai, bi
            m_len, ke_len, n_len, ke_start = np.full_like(s_len, t), s_len, c_len, s_start
        elif df == "os":
            mi, ki, ni = ai, np.zeros_like(ai), bi
            m_len, ke_len, n_len, ke_start = s_len, np.full_like(s_len, k_eff), c_len, 0 * s_len
        else:
            mi, ki, ni = bi, ai, np.zeros_like(ai)
            m_len, ke_len, n_len, ke_start = c_len, s_len, np.full_like(s_len, t), s_start
        k_len = _dense_k_span(ke_start, ke_len, work.k, pattern)
        act_b = m_len * k_len * eb
        w_b = ke_len * n_len * eb + -(-(ke_len * n_len * idx_bits) // 8)
        out_b = m_len * n_len * eb
        load_a, load_w, store = reuse_traffic(mi, ki, ni)
        rf, cf = -(-s_len // rows), -(-c_len // cols)
        if df == "ws":
            sram_r, sram_w = act_b * cf + w_b, out_b * rf
        elif df == "os":
            sram_r, sram_w = act_b * cf + w_b * rf, out_b
        else:
            sram_r, sram_w = w_b * cf + act_b, out_b * rf
        return TilePlan(
            engine=engine_name,
            multipliers=rows * cols,
            compute_cycles=compute,
            load_bytes=act_b * load_a + w_b * load_w,
            act_load_bytes=act_b * load_a,
            store_bytes=out_b * store,
            performed_macs=m_len * ke_len * n_len,
            sram_read_bytes=sram_r,
            sram_write_bytes=sram_w,
            buffer_bytes=int(min(int((act_b + w_b + out_b).max()), budget)),
            tiles=tiles_frame(m_tile=mi, k_tile=ki, n_tile=ni, folds=folds),
            notes={
                "dataflow": df,
                "k_eff": k_eff,
                "fold_cycles": fold,
                "folds": int(folds.sum()),
                "scalesim_compute_cycles": scalesim_compute_cycles(
                    df, rows, cols, work.m, work.k, work.n, pattern
                ),
                # energy (hwsim.energy): SRAM bytes by operand (as sram_r/sram_w above), the
                # index bytes of the weight reads, one N:M selection per activation fed
                **_energy_notes(df, act_b, w_b, out_b, rf, cf, ke_len * n_len, idx_bits, eb),
            },
        )

    def compute(self, work: GemmWork, arch: Any, engine_name: str) -> np.ndarray:
        """Output from the operands the array is fed: the ``K_eff`` compressed filter rows with
        their ifmap columns gathered (layer-wise N:M), or the dense weight."""
        check_work(work)
        if work.act is None:
            raise ConfigError("compute() needs work.act (the functional check is off)")
        pattern = nm_pattern_of(work.sparsity)
        if pattern is None:
            dt = acc_dtype(work.act, work.weight)
            return np.asarray(work.act, dtype=dt) @ np.asarray(work.weight, dtype=dt)
        from ..sparsity import compress_nm

        comp = compress_nm(work.weight, pattern, axis=0)
        return nm_matmul(work.act, comp.values, nm_slot_positions(comp.indices, pattern))


def _energy_notes(df, act_b, w_b, out_b, rf, cf, w_elems, idx_bits, eb) -> dict:
    """Per-operand SRAM bytes, index bytes read and selections of a plan (hwsim.energy)."""
    a_r, w_r, o_w = {"ws": (act_b * cf, w_b, out_b * rf), "os": (act_b * cf, w_b * rf, out_b),
                     "is": (act_b, w_b * cf, out_b * rf)}[df]
    w_reads = w_r // np.maximum(w_b, 1)
    meta = -(-(w_elems * idx_bits) // 8) * w_reads
    return {
        "select_ops": int(a_r.sum()) // eb if idx_bits else 0,
        "sram_operands": {"act": [int(a_r.sum()), 0], "weight": [int(w_r.sum()), 0],
                          "out": [0, int(o_w.sum())]},
        "sram_meta_read_bytes": int(meta.sum()),
    }
