"""Dense systolic-array baseline whose compute cycles equal SCALE-Sim v3's (WS, OS, IS; layer-wise N:M)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from . import register_engine_model
from ._tiling import (
    PIPELINE_TILES,
    acc_dtype,
    check_work,
    first_of_block,
    fit_tile,
    grid3,
    nm_matmul,
    nm_pattern_of,
    nm_slot_positions,
    operand_footprints,
    reuse_traffic,
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


def _mkn(df: str, a, b, t):
    """The GEMM's ``(m, k, n)`` view of anything given along the array's ``Sr``, ``Sc`` and the
    streamed ``T`` (extents, ``(start, len)`` boxes, block ids): WS streams M over a K × N
    array, OS streams K over M × N, IS streams N over K × M."""
    if df == "ws":
        return t, a, b
    if df == "os":
        return a, t, b
    return b, a, t


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
        """Fold-group tiles (or fold × stream-chunk tiles) with SCALE-Sim's cycles and traffic.

        Tiling (:func:`~hwsim.engines._tiling.fit_tile`): tiles are blocks of ``a × b`` whole
        folds with the streamed dimension ``T`` whole, cut into at least ``PIPELINE_TILES``
        along the column folds (else the row folds) and shrunk until the double-buffered
        activation, weight and output blocks fit their buffers. When even one fold with ``T``
        whole does not fit, tiles are single folds cut along ``T`` (at least
        ``PIPELINE_TILES`` chunks) (fold-major: a fold streams its ``T`` rows chunk after chunk, its
        stationary block loaded once), so the sum of the tiles' cycles stays SCALE-Sim's: a
        chunk costs its rows, the first chunk of a fold adds the fold's fixed part
        (``fold - T``), the first tile carries the ``- 1``.
        """
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
        fr, fc = math.ceil(sr / rows), math.ceil(sc / cols)

        def need(d):
            a_len, b_len = min(d.get("a", 1) * rows, sr), min(d.get("b", 1) * cols, sc)
            m_, ke, n_ = _mkn(df, a_len, b_len, min(d.get("t", t), t))
            w = ke * n_ * eb + math.ceil(ke * n_ * idx_bits / 8)
            return {"act": m_ * math.ceil(ke * ratio) * eb, "weight": w, "out": m_ * n_ * eb}

        what = f"GEMM {work.m}x{work.k}x{work.n} ({df}) on engine {engine_name!r}"
        try:
            d = fit_tile({"b": fc, "a": fr}, {}, need, arch, what=what,
                         stream="b" if fc >= PIPELINE_TILES else "a")
            d["t"] = t
        except ShapeError:  # one fold with T whole does not fit: single folds, T in chunks
            d = dict(fit_tile({"t": t}, {}, need, arch, stream="t", what=what), a=1, b=1)
        a0, alen = spans(sr, d["a"] * rows)
        b0, blen = spans(sc, d["b"] * cols)
        t0, tlen = spans(t, d["t"])
        # SCALE-Sim's loop order: column folds outer, row folds, then the stream.
        bi, ai, ti = grid3(b0.size, a0.size, t0.size)
        folds = (-(-alen[ai] // rows)) * (-(-blen[bi] // cols))
        compute = folds * (tlen[ti] + np.where(t0[ti] == 0, fold - t, 0))
        compute[0] -= 1
        box = _mkn(df, (a0[ai], alen[ai]), (b0[bi], blen[bi]), (t0[ti], tlen[ti]))
        (m_start, m_len), (ke_start, ke_len), (n_start, n_len) = box
        mi, ki, ni = _mkn(df, ai, bi, ti)
        k_len = _dense_k_span(ke_start, ke_len, work.k, pattern)
        act_b = m_len * k_len * eb
        w_b = ke_len * n_len * eb + -(-(ke_len * n_len * idx_bits) // 8)
        out_b = m_len * n_len * eb
        load_a, load_w, store = reuse_traffic(mi, ki, ni)
        # an output block revisited after a store is read back (partial sums of a cut fold)
        new_out = first_of_block(mi, ni)
        seen = np.zeros(new_out.size, dtype=bool)
        key = mi * (ni.max(initial=0) + 1) + ni
        _, first_idx = np.unique(key, return_index=True)
        seen[:] = True
        seen[first_idx] = False
        psum = np.where(new_out & seen, out_b, 0)
        rf, cf = -(-alen[ai] // rows), -(-blen[bi] // cols)
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
            load_bytes=act_b * load_a + w_b * load_w + psum,
            act_load_bytes=act_b * load_a,
            store_bytes=out_b * store,
            performed_macs=m_len * ke_len * n_len,
            sram_read_bytes=sram_r,
            sram_write_bytes=sram_w,
            buffer_bytes=int((act_b + w_b + out_b).max()),
            operands=operand_footprints(
                arch, act=(act_b, load_a), weight=(w_b, load_w), out=(out_b, new_out)
            ),
            tiles=tiles_frame(
                m0=m_start, m1=m_start + m_len, k0=ke_start, k1=ke_start + ke_len,
                n0=n_start, n1=n_start + n_len, m_tile=mi, k_tile=ki, n_tile=ni, folds=folds,
                weight_bytes=w_b,
            ),
            notes={
                "dataflow": df,
                "k_eff": k_eff,
                "k_extent": k_eff,
                "fold_cycles": fold,
                "stream_length": t,
                "folds": int(folds.sum()),
                "psum_reload_bytes": int(psum.sum()),
                "scalesim_compute_cycles": scalesim_compute_cycles(
                    df, rows, cols, work.m, work.k, work.n, pattern
                ),
                # energy (hwsim.energy): SRAM bytes by operand (as sram_r/sram_w above), the
                # index bytes of the weight reads, one N:M selection per activation fed
                **_energy_notes(df, act_b, w_b, out_b, rf, cf, ke_len * n_len, idx_bits, eb),
            },
        )

    def execute_tile(
        self, work: GemmWork, arch: Any, engine_name: str, plan: TilePlan, i: int,
        act: np.ndarray, cols: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Run tile ``i`` of ``plan`` as the array does, counting folds and streamed rows.

        The tile's box (``plan.tiles``: output rows ``m0:m1``, compressed reduction rows
        ``k0:k1`` of the ``K_eff`` the array is fed, columns ``n0:n1``) is mapped on the array
        as the dataflow does; its folds (``ceil(rows used / R) × ceil(cols used / C)``) and
        streamed rows are counted from the box, and its compute cycles follow: every fold
        streams the chunk, the chunk that starts the stream adds the fold's fixed part, tile 0
        carries SCALE-Sim's ``- 1``. The output of ``act`` (activation rows of the tile, all
        ``K`` columns) for the columns ``cols`` (tile-local, default all) is the product of the
        compressed filter rows (layer-wise N:M: the kept slots and their positions) with the
        activation columns they select.

        Returns
        -------
        (out, counts) : tuple
            Partial output and ``compute_cycles``, ``performed_macs``, ``folds``,
            ``weight_bytes``.
        """
        spec = arch.engine(engine_name)
        rows_, cols_ = int(spec.rows), int(spec.cols)
        df = plan.notes.get("dataflow", work.dataflow)
        pattern = nm_pattern_of(work.sparsity)
        t = plan.tiles.iloc[int(i)]
        m0, m1, ke0, ke1, n0, n1 = (int(t[c]) for c in ("m0", "m1", "k0", "k1", "n0", "n1"))
        ext = {"m": m1 - m0, "k": ke1 - ke0, "n": n1 - n0}
        start = {"m": m0, "k": ke0, "n": n0}
        r_ax, c_ax, s_ax = {"ws": ("k", "n", "m"), "os": ("m", "n", "k"),
                            "is": ("k", "m", "n")}[df]
        folds = -(-ext[r_ax] // rows_) * -(-ext[c_ax] // cols_)
        # a fold's fixed part: R preload rows (WS, IS) + R - 1 + C - 1 skew
        fixed = (0 if df == "os" else rows_) + rows_ + cols_ - 2
        compute = folds * (ext[s_ax] + (fixed if start[s_ax] == 0 else 0)) - (1 if i == 0 else 0)
        sel = np.arange(n1 - n0) if cols is None else np.asarray(cols, dtype=np.int64)
        w = np.asarray(work.weight)
        eb = work.elem_bytes
        if pattern is None:
            vals, pos = w[ke0:ke1, n0 + sel], np.arange(ke0, ke1)[:, None] + 0 * sel[None, :]
            wbytes = ext["k"] * ext["n"] * eb
        else:
            from ..sparsity import compress_nm

            g0, g1 = ke0 // pattern.n, -(-ke1 // pattern.n)
            blk = w[g0 * pattern.m : min(work.k, g1 * pattern.m), n0 + sel]
            comp = compress_nm(blk, pattern, axis=0)  # the filter rows the array is fed
            lo = ke0 - g0 * pattern.n
            vals = np.asarray(comp.values)[lo : lo + ext["k"]]
            pos = (nm_slot_positions(comp.indices, pattern) + g0 * pattern.m)[lo : lo + ext["k"]]
            nslots = vals.shape[0] * ext["n"]  # every column is fed the same slot rows
            wbytes = nslots * eb + -(-(nslots * pattern.idx_bits) // 8)
        out = nm_matmul(act, vals, pos)
        counts = {
            "compute_cycles": int(compute),
            "performed_macs": ext["m"] * ext["k"] * ext["n"],
            "folds": int(folds),
            "weight_bytes": int(wbytes),
        }
        return out, counts

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
