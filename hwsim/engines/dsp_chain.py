"""FlightLLM's configurable sparse DSP chain: DSP48 cascades cut into groups, reduction nodes.

Hardware (FlightLLM, FPGA 2024, Fig. "configurable sparse DSP chain")
--------------------------------------------------------------------
A DSP48 slice multiplies 27x18 and adds its product to the partial sum cascading in from the
slice below (PCIN -> PCOUT, ``stage_latency`` cycles a stage). The engine's ``num_dsps``
slices form ``C = num_dsps // L`` physical cascades of ``L = cascade_length`` slices (a run
of one DSP column; the preset cites where ``L`` comes from). Each cascade is cut into
``L / g`` *groups* of ``g = chain_length`` slices. A *sparse MUX* in front of every slice
picks that slice's activation, by the weight's index, out of the window of ``L`` activations
the buffer broadcasts to the cascade each cycle (the dense configuration's input bandwidth:
one activation per slice). A *reduction node* at the end of every group either passes the
partial sum on down the cascade (linking the group to the next one, for a dot product longer
than ``g``) or breaks the cascade and emits the partial sum (``reduction_latency`` cycles,
one partial sum a cycle: pipelined). Emitted partial sums of the same output from successive
activation windows are added into the output accumulator: one read-modify-write of an
``acc``-bit word per partial sum (``accumulate_latency`` cycles, pipelined; counted as SRAM
traffic of the ``out`` buffer). Scheduling alternates outputs so an accumulation never waits
for the previous one of the same output (assumption).

Mapping
-------
The reduction axis is cut into windows of ``L`` activations. In window ``w`` column ``j`` of
the weight keeps ``s[w, j]`` values (counted from the real weight): a *segment* of
``ceil(s / g)`` linked groups. One cascade pass (one cycle of one cascade, all ``L`` slices)
takes as many groups as it has; segments of the same window from different columns share a
pass (they see the same broadcast activations), and a segment cut at a pass boundary emits
one extra partial sum. A window of an ``n_t``-column tile therefore costs
``ceil(sum_j ceil(s[w, j] / g) / (L / g))`` passes per activation row.

* **Fixed chain (the dense baseline)**: the *same hardware* configured as one unbroken cascade
  (every reduction node passes; ``g = L``): one segment -- one output column -- per pass,
  however few values it keeps. It is this module's formula with ``g = L``.
* **Configurable chain (FlightLLM)**: groups of ``g``, broken where segments end.

Computation efficiency = useful MACs / (passes x L) DSP-cycles; :func:`chain_efficiency`
gives both and their ratio for any ``g``, ``L`` and window. Dense weights fill every slice in
both configurations (ratio 1). For N:M the fixed chain reaches the density ``n/m``; the
configurable chain loses only the unfilled tail of a segment's last group. For block sparsity
``s`` takes multiples of the block size, and windows with no kept block cost nothing in
either configuration.

Timing: a tile of ``tm`` activation rows and ``P`` passes per row costs
``ceil(tm * P / C)`` cycles plus one fill, ``L * stage_latency + reduction_latency +
accumulate_latency``. Decode GEMV (``M = 1``) keeps activations on chip ("always-on-chip
decode"): a tile loads only its weight values and metadata and writes its outputs; the run is
bound by weight bytes over HBM bandwidth.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import register_engine_model
from ._tiling import (
    acc_dtype,
    check_work,
    exact_matmul,
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

__all__ = ["DspChainEngine", "window_nnz", "chain_passes", "chain_efficiency"]


def _decode_columns(arch, n, w_elems, meta_bits, eb, work, fill) -> int:
    """Columns per decode tile, each tile a whole number of DRAM stripes.

    With two input slots the load of tile ``i + 2`` is issued when tile ``i`` finishes
    computing, so the weight stream runs without gaps while a tile's compute plus the DRAM
    latency fits in the bus time of one tile: ``latency + fill + work/T <= bus/T``, i.e.
    ``T <= (bus - work) / (latency + fill)``. What stays exposed is the last tile,
    ``latency + fill + work/T``, so ``T`` is taken large, at half that bound (margin for
    channel imbalance), at most 64 tiles. A compute-bound GEMV balances the first load
    against the per-tile fill instead: ``T = sqrt(bus / fill)``.
    """
    total_bytes = _total(w_elems) * eb + _total(meta_bits) / 8
    col_bytes = total_bytes / max(1, n)
    bus = total_bytes / (arch.dram.bandwidth_gbps * 1e9 / (arch.clock_mhz * 1e6))
    lat = arch.dram.latency_cycles(arch.clock_mhz)
    if bus > work:
        tiles = 0.5 * (bus - work) / max(1, lat + fill)
    else:
        tiles = math.sqrt(bus / max(1, fill))
    tiles = int(min(64, max(2, tiles)))
    cols = -(-n // tiles)
    stripe = arch.dram.channels * arch.dram.granule_bytes
    stripes = round(cols * col_bytes / stripe)
    if stripes >= 1:  # a whole number of stripes keeps every channel equally busy
        cols = max(1, int(stripes * stripe // col_bytes))
    return max(1, min(n, cols))


def _kind(sparsity: Any) -> str:
    from ..sparsity import BlockSparsity

    if nm_pattern_of(sparsity) is not None:
        return "nm"
    if isinstance(sparsity, BlockSparsity):
        return "block"
    return "dense"  # dense and unstructured: the MUX has no index structure to follow


def window_nnz(weight: np.ndarray, window: int, kind: str = "nm") -> np.ndarray:
    """Kept values ``s[w, j]`` per reduction window ``w`` (``window`` rows) and column ``j``.

    ``kind="dense"`` counts every element (zeros are multiplied), otherwise nonzeros.
    """
    w = np.asarray(weight)
    k, n = w.shape
    if _broadcast_cols(w):  # a broadcast column (pattern weight): count it once
        return np.broadcast_to(window_nnz(w[:, :1], window, kind), (-(-k // window), n))
    nw = -(-k // window)
    full, rest = divmod(k, window)
    if kind == "dense":  # every column alike: a read-only broadcast of one column
        col = np.full((nw, 1), window, dtype=np.int64)
        if rest:
            col[-1] = rest
        return np.broadcast_to(col, (nw, n))
    nz = w != 0
    # Count in a narrow type (a window holds < 2**15 rows here) to keep the pass cache-sized.
    acc = np.int16 if window < 2**15 else np.int64
    out = np.empty((nw, n), dtype=np.int64)
    if full:
        out[:full] = nz[: full * window].reshape(full, window, n).sum(axis=1, dtype=acc)
    if rest:
        out[full] = nz[full * window :].sum(axis=0, dtype=np.int64)
    return out


def _nonzeros(weight: np.ndarray) -> int:
    """Nonzeros of ``weight``; a broadcast column (pattern weight) is counted once."""
    w = np.asarray(weight)
    if _broadcast_cols(w):
        return int(np.count_nonzero(w[:, :1])) * w.shape[1]
    return int(np.count_nonzero(w))


def _broadcast_cols(a: np.ndarray) -> bool:
    """``a`` is a (K, N) view repeating one column (a pattern weight or counts derived from it)."""
    return a.ndim == 2 and a.shape[1] > 1 and a.strides[1] == 0


def _total(a: np.ndarray) -> int:
    """Sum of a (windows, N) count array; a column-broadcast one is summed once."""
    if _broadcast_cols(a):
        return int(a[:, 0].sum()) * a.shape[1]
    return int(a.sum())


def _tile_sums(a: np.ndarray, wst: np.ndarray, n0: np.ndarray) -> np.ndarray:
    """Per ``(k tile, n tile)`` sums of a (windows, N) array: columns first, so a
    column-broadcast array (pattern weight) is reduced without being expanded."""
    if _broadcast_cols(a):
        cols = a[:, :1] * np.diff(np.append(n0, a.shape[1]))[None, :]
    else:
        cols = np.add.reduceat(a, n0, axis=1)
    return np.add.reduceat(cols, wst, axis=0)


def _densest(stored: np.ndarray, full: np.ndarray) -> float:
    """Largest ``stored / full`` over windows and columns (column 0 when both broadcast)."""
    if _broadcast_cols(stored) and _broadcast_cols(full):
        stored, full = stored[:, :1], full[:, :1]
    return float((stored / np.maximum(1, full)).max(initial=0))


def chain_passes(
    counts: np.ndarray, group: int, cascade: int, col_starts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cascade passes, groups issued and partial sums emitted per window and column tile.

    Parameters
    ----------
    counts : numpy.ndarray
        ``s[w, j]``: values column ``j`` keeps in window ``w`` (:func:`window_nnz`).
    group, cascade : int
        Group length ``g`` and cascade length ``L`` (a multiple of ``g``); ``g = L`` is the
        unbroken (fixed) cascade.
    col_starts : numpy.ndarray, optional
        First column of every column tile (segments share passes only inside a tile); one tile
        of all columns when omitted.

    Returns
    -------
    (passes, groups, psums) : tuple of numpy.ndarray, each ``(windows, column tiles)``
        ``passes = ceil(sum_j ceil(s / g) / (L / g))``; ``groups = sum_j ceil(s / g)``;
        ``psums``: partial sums emitted, one per non-empty segment plus one per pass boundary
        that cuts a segment (at most ``passes - 1``; counted as that bound).
    """
    if cascade % group:
        raise ConfigError(f"cascade ({cascade}) must be a multiple of group ({group})")
    s = np.asarray(counts, dtype=np.int64)
    starts = np.zeros(1, dtype=np.int64) if col_starts is None else np.asarray(col_starts)
    per_pass = cascade // group
    if s.shape[1] == 0:
        z = np.zeros((s.shape[0], starts.size), dtype=np.int64)
        return z, z, z
    if _broadcast_cols(s):  # every column alike (pattern weight): a tile is width x column 0
        width = np.diff(np.append(starts, s.shape[1]))[None, :]
        groups = -(-s[:, :1] // group) * width
        nonempty = (s[:, :1] > 0).astype(np.int64) * width
    else:
        segs = -(-s // group)
        groups = np.add.reduceat(segs, starts, axis=1)
        nonempty = np.add.reduceat((s > 0).astype(np.int64), starts, axis=1)
    passes = -(-groups // per_pass)
    cut = np.where(per_pass > 1, np.maximum(passes - 1, 0), 0)  # g = L never cuts a segment
    return passes, groups, nonempty + cut


def chain_efficiency(
    weight: np.ndarray,
    group: int,
    kind: str = "nm",
    *,
    cascade: int,
    window: int | None = None,
    counts: np.ndarray | None = None,
) -> dict[str, float]:
    """Computation efficiency (useful MACs / DSP-cycles) of the configurable and fixed chains.

    Parameters
    ----------
    weight : numpy.ndarray
        ``K x N`` weight (its real zeros are counted).
    group : int
        Group length ``g``.
    kind : {"nm", "block", "dense"}
        ``"dense"``: the MUX cannot skip zeros (dense or unstructured weights).
    cascade : int
        Physical cascade length ``L`` (a multiple of ``g``).
    window : int, optional
        Activations broadcast to a cascade per pass; ``L`` (the dense input bandwidth) when
        omitted. A sensitivity knob, not a tuning one: the engine always uses ``L``.
    counts : numpy.ndarray, optional
        ``window_nnz(weight, window, kind)`` when already computed.

    Returns
    -------
    dict
        ``useful_macs`` (per activation row), ``configurable`` and ``fixed`` efficiencies,
        their ``ratio``, and the ``passes_configurable`` / ``passes_fixed`` per row.
    """
    window = cascade if window is None else int(window)
    s = window_nnz(weight, window, kind) if counts is None else counts
    useful = _nonzeros(weight) if kind == "dense" else _total(s)
    p_cfg = int(chain_passes(s, group, cascade)[0].sum())
    p_fix = int(chain_passes(s, cascade, cascade)[0].sum())
    eff_c = useful / (p_cfg * cascade) if p_cfg else 1.0
    eff_f = useful / (p_fix * cascade) if p_fix else 1.0
    return {
        "useful_macs": useful,
        "configurable": eff_c,
        "fixed": eff_f,
        "ratio": eff_c / eff_f,
        "passes_configurable": p_cfg,
        "passes_fixed": p_fix,
    }


def _stored_weight(work, kind, s, window, K, N, w):
    """Stored weight elements and index bits per ``(window, column)``.

    N:M: value slots + ``idx_bits`` each; block: kept values + one block-row index per kept
    ``b x b`` block, shared by its ``b`` columns; dense: every element, no metadata.
    """
    if kind == "nm":
        pattern = nm_pattern_of(work.sparsity)
        starts = np.arange(0, K, pattern.m)
        per_pos = np.zeros(s.shape[0] * window, dtype=np.int64)
        per_pos[starts] = np.minimum(pattern.n, np.minimum(pattern.m, K - starts))
        win_slots = per_pos.reshape(-1, window).sum(axis=1)  # slots per window and column
        shape = (win_slots.size, N)  # the same in every column: broadcast, not repeated
        return (np.broadcast_to(win_slots[:, None], shape),
                np.broadcast_to(win_slots[:, None] * pattern.idx_bits, shape))
    if kind == "block":
        b = int(work.sparsity.block)
        meta_bits = (s // b) * max(1, (-(-K // b) - 1).bit_length()) // b
        return s, meta_bits
    w_elems = window_nnz(w, window, "dense")
    return w_elems, np.broadcast_to(np.zeros((w_elems.shape[0], 1), dtype=np.int64), w_elems.shape)


@register_engine_model("dsp_chain")
class DspChainEngine:
    """FlightLLM sparse DSP chain engine (see the module docstring for the model)."""

    kind = "dsp_chain"

    def plan(self, work: GemmWork, arch: Any, engine_name: str) -> TilePlan:
        """Tiles over ``(M, N, K)`` with cascade-pass counts from the real weight."""
        check_work(work)
        spec = arch.engine(engine_name)
        g, L = int(spec.chain_length), int(spec.cascade_length)
        lanes = max(1, int(spec.num_dsps) // L) * int(spec.macs_per_dsp)  # passes per cycle
        fill = (
            L * int(spec.stage_latency)
            + int(spec.reduction_latency)
            + int(spec.accumulate_latency)
        )
        window = L
        kind = _kind(work.sparsity)
        if kind not in spec.supports:
            raise ConfigError(
                f"engine {engine_name!r} supports {', '.join(spec.supports)} sparsity "
                f"(engines.{engine_name}.supports), not {kind!r} ({work.sparsity})"
            )
        M, K, N = work.m, work.k, work.n
        eb = work.elem_bytes
        acc_b = -(-int(arch.widths.acc) // 8)
        w = np.asarray(work.weight)
        s = window_nnz(w, window, kind)  # (windows, N)
        w_elems, meta_bits = _stored_weight(work, kind, s, window, K, N, w)
        decode = M == 1

        full = window_nnz(w, window, "dense")
        dens, meta = _densest(w_elems, full), _densest(meta_bits, full)

        def need(d):  # one slot per role; weight: the densest window of any column, bounded
            tm, tk, tn = min(d["m"], M), min(d["k"], K), min(d["n"], N)
            wb = math.ceil(tk * tn * (dens * eb + meta / 8))
            return {"act": 0 if decode else tm * tk * eb, "weight": wb,
                    "out": 0 if decode else tm * tn * eb}

        align_k = K if decode else window  # decode keeps whole weight columns per tile
        d = fit_tile({"m": M, "n": N, "k": K}, {"k": align_k}, need, arch,
                     stream=None if decode else "m",
                     what=f"GEMM {M}x{K}x{N} on engine {engine_name!r}")
        if decode and d["k"] >= K:
            work_cycles = chain_passes(s, g, L)[0].sum() / lanes
            d["n"] = min(
                d["n"], _decode_columns(arch, N, w_elems, meta_bits, eb, work_cycles, fill)
            )
        m0, mlen = spans(M, d["m"])
        k0, klen = spans(K, d["k"])
        n0, nlen = spans(N, d["n"])
        wst = k0 // window
        passes_wn, groups_wn, psums_wn = chain_passes(s, g, L, n0)
        p_kn = np.add.reduceat(passes_wn, wst, axis=0)
        g_kn = np.add.reduceat(groups_wn, wst, axis=0)
        ps_kn = np.add.reduceat(psums_wn, wst, axis=0)
        e_kn = _tile_sums(w_elems, wst, n0)
        b_kn = _tile_sums(meta_bits, wst, n0)
        u_kn = _tile_sums(s, wst, n0)
        ni, mi, ki = grid3(n0.size, m0.size, k0.size)
        tm, tk, tn = mlen[mi], klen[ki], nlen[ni]
        passes = tm * p_kn[ki, ni]
        psums = tm * ps_kn[ki, ni]
        compute = -(-passes // lanes) + fill
        w_b = e_kn[ki, ni] * eb + -(-b_kn[ki, ni] // 8)
        act_b = np.zeros_like(tm) if decode else tm * tk * eb
        out_b = tm * tn * eb  # decode writes its outputs too (activations stay on chip)
        load_a, load_w, store = reuse_traffic(mi, ki, ni)
        eff = chain_efficiency(w, g, kind, cascade=L, counts=s)
        useful = (
            M * _nonzeros(w) if kind == "dense" else int((tm * u_kn[ki, ni]).sum())
        )
        return TilePlan(
            engine=engine_name,
            multipliers=int(spec.num_dsps) * int(spec.macs_per_dsp),
            compute_cycles=compute,
            load_bytes=act_b * load_a + w_b * load_w,
            act_load_bytes=act_b * load_a,
            store_bytes=out_b * store,
            performed_macs=tm * g_kn[ki, ni] * g,
            sram_read_bytes=w_b + tm * tk * eb + psums * acc_b,
            sram_write_bytes=tm * tn * eb + psums * acc_b,
            buffer_bytes=int((w_b + tm * tk * eb + tm * tn * eb).max()),
            operands=operand_footprints(
                arch, act=(act_b, load_a), weight=(w_b, load_w), out=(out_b, first_of_block(mi, ni))
            ),
            tiles=tiles_frame(
                m0=m0[mi], m1=m0[mi] + tm, k0=k0[ki], k1=k0[ki] + tk, n0=n0[ni], n1=n0[ni] + tn,
                cascade_passes=passes,
            ),
            notes={
                "sparsity_kind": kind,
                "decode_on_chip": decode,
                "group_length": g,
                "cascade_length": L,
                "cascades": lanes,
                "cascade_passes": int(passes.sum()),
                "partial_sums": int(psums.sum()),
                "useful_macs": useful,
                "efficiency_configurable": eff["configurable"],
                "efficiency_fixed_chain": eff["fixed"],
                "efficiency_ratio": eff["ratio"],
                # as executed: useful MACs over the DSP-cycles of the passes the tiles issued
                "efficiency_executed": useful / max(1, int(passes.sum()) * L),
                "weight_metadata_bytes": int(-(-b_kn // 8).sum()),
                # energy (hwsim.energy): the sparse MUX selects per N:M multiply; SRAM by operand
                "select_ops": int((tm * g_kn[ki, ni] * g).sum()) if kind == "nm" else 0,
                "sram_operands": {"act": [int((tm * tk * eb).sum()), 0],
                                  "weight": [int(w_b.sum()), 0], "out": [int((psums * acc_b).sum()),
                                          int((tm * tn * eb + psums * acc_b).sum())]},
                "sram_meta_read_bytes": int((-(-b_kn[ki, ni] // 8)).sum()),
            },
        )

    def compute(self, work: GemmWork, arch: Any, engine_name: str) -> np.ndarray:
        """Output from the compressed weight the chain is given: N:M values + indices through
        the MUX, the kept blocks of a block-sparse weight, or the dense weight."""
        check_work(work)
        if work.act is None:
            raise ConfigError("compute() needs work.act (the functional check is off)")
        kind = _kind(work.sparsity)
        w = np.asarray(work.weight)
        if kind == "nm":
            from ..sparsity import compress_nm

            pattern = nm_pattern_of(work.sparsity)
            comp = compress_nm(w, pattern, axis=0)
            return nm_matmul(work.act, comp.values, nm_slot_positions(comp.indices, pattern))
        if kind == "dense":
            return exact_matmul(work.act, w)
        dt = acc_dtype(work.act, w)
        a = np.asarray(work.act, dtype=dt)
        b = int(work.sparsity.block)
        kb, nb = -(-work.k // b), -(-work.n // b)
        wp = np.zeros((kb * b, nb * b), dtype=dt)
        wp[: work.k, : work.n] = w
        ap = np.zeros((work.m, kb * b), dtype=dt)
        ap[:, : work.k] = a
        blocks = wp.reshape(kb, b, nb, b).transpose(0, 2, 1, 3)  # (kb, nb, b, b)
        ki, ni = np.nonzero(np.any(blocks != 0, axis=(2, 3)))  # the kept blocks
        out = np.zeros((work.m, nb, b), dtype=dt)
        prods = np.einsum("mib,ibc->mic", ap.reshape(work.m, kb, b)[:, ki, :], blocks[ki, ni])
        np.add.at(out, (slice(None), ni), prods)
        return out.reshape(work.m, nb * b)[:, : work.n]

    def execute_tile(
        self, work: GemmWork, arch: Any, engine_name: str, plan: TilePlan, i: int,
        act: np.ndarray, cols: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Run tile ``i`` of ``plan`` on the chain, counting cascade passes (contract 9).

        For every window of ``L`` reduction rows and every column of the tile, the segment's
        kept values are counted from the weight the MUX is given; segments are packed into
        groups of ``g`` and groups into cascades of ``L`` (:func:`chain_passes`, the tile's
        columns sharing passes), per activation row. The tile takes ``ceil(passes / lanes)``
        cycles plus one fill of the cascade. The output of ``act`` (activation rows, all ``K``
        columns) for the columns ``cols`` (tile-local) is the product of the compressed N:M
        slots (values + indices), or of the weight block for block and dense weights.

        Returns
        -------
        (out, counts) : tuple
            Partial output and ``compute_cycles``, ``performed_macs``, ``cascade_passes``.
        """
        spec = arch.engine(engine_name)
        g, L = int(spec.chain_length), int(spec.cascade_length)
        lanes = max(1, int(spec.num_dsps) // L) * int(spec.macs_per_dsp)
        fill = (L * int(spec.stage_latency) + int(spec.reduction_latency)
                + int(spec.accumulate_latency))
        window = L
        t = plan.tiles.iloc[int(i)]
        m0, m1, k0, k1, n0, n1 = (int(t[c]) for c in ("m0", "m1", "k0", "k1", "n0", "n1"))
        w = np.asarray(work.weight)[k0:k1, n0:n1]
        kind = _kind(work.sparsity)
        s = window_nnz(w, window, kind)  # windows counted from the tile's own start
        p_w, g_w, _ = chain_passes(s, g, L, np.zeros(1, dtype=np.int64))
        passes = int((m1 - m0) * p_w.sum())
        issued = int((m1 - m0) * g_w.sum())
        sel = np.arange(n1 - n0) if cols is None else np.asarray(cols, dtype=np.int64)
        if kind == "nm":
            from ..sparsity import compress_nm

            pattern = nm_pattern_of(work.sparsity)
            comp = compress_nm(w[:, sel], pattern, axis=0)
            pos = nm_slot_positions(comp.indices, pattern) + k0
            out = nm_matmul(act, comp.values, pos)
        else:
            out = exact_matmul(act[:, k0:k1], w[:, sel])
        counts = {
            "compute_cycles": -(-passes // lanes) + fill,
            "performed_macs": issued * g,
            "cascade_passes": passes,
        }
        return out, counts
