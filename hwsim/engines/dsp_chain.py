"""FlightLLM's configurable sparse DSP chain: grouped DSP48 cascades with reduction nodes, N:M and block sparsity.

Model
-----
A DSP48 slice multiplies 27×18 and adds its product to the partial sum cascading in from the
previous slice (PCIN→PCOUT, ``stage_latency`` cycles a stage) into a 48-bit accumulator.
Slices form *groups* of ``chain_length`` (``g``); a reduction node after each group either
passes the partial sum on to the next group (linked) or emits it (broken), costing
``reduction_latency``. A sparse MUX in front of every slice picks its activation by the
weight's index, so a group only sees kept weights.

The activation vector is consumed in windows of ``W = FIXED_CASCADE_GROUPS · g`` consecutive
reduction elements: the span a dense design's full cascade (all groups linked, one reduction
at the end) covers in one pass. For output column ``j`` and window ``w`` the weight row
segment keeps ``s[w, j]`` values -- counted exactly from the real weight.

* Fixed-length dense chain (baseline): the cascade is always ``W`` long and reduces once, so
  each non-empty segment occupies a whole pass of ``W`` DSP-cycles, whatever ``s`` is:
  efficiency ``Σ s / (W · #segments)`` (= the density for N:M).
* Configurable chain (FlightLLM): a segment occupies ``ceil(s / g)`` groups and the reduction
  nodes break the cascade there, so several short segments of the same window (different
  output columns, same broadcast activations) share one ``W``-long cascade: efficiency
  ``Σ s / (g · Σ ceil(s / g))``, below 1 only through the last partly filled group.

The ratio of the two is :func:`chain_efficiency`'s ``ratio``. For exact N:M with ``n/m · W`` a
multiple of ``g`` it is ``m / n`` (4× for 2:8); for block sparsity it varies with how many
blocks each row keeps per window. FlightLLM's 1.6× is a whole-model average that also
contains dense work (attention, unpruned layers) where both chains are at 100%; the model
gives the per-GEMM figure, and the mix follows from the layers run.

Timing: the engine has ``num_dsps // g`` groups, each taking one group-pass (``g`` MACs of
one activation row) per cycle, so a tile costs ``ceil(passes / groups)`` plus one fill
(``g · stage_latency + reduction_latency``). Decode GEMV (``M = 1``) keeps activations and
outputs on chip ("always-on-chip decode"): a tile loads only its weight values and
metadata, the DSP work is small, and the run is bound by weight bytes over HBM bandwidth.
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

__all__ = ["DspChainEngine", "FIXED_CASCADE_GROUPS", "window_nnz", "chain_efficiency"]

#: Groups linked into the fixed-length dense cascade of the baseline (window ``W = 4·g``).
FIXED_CASCADE_GROUPS = 4


def _decode_columns(arch, n, w_elems, meta_bits, eb, passes, groups, fill) -> int:
    """Columns per decode tile, each tile a whole number of DRAM stripes.

    With two input slots the load of tile ``i + 2`` is issued when tile ``i`` finishes
    computing, so the weight stream runs without gaps while a tile's compute plus the DRAM
    latency fits in the bus time of one tile: ``latency + fill + work/T <= bus/T``, i.e.
    ``T <= (bus - work) / (latency + fill)``. What stays exposed is the last tile,
    ``latency + fill + work/T``, so ``T`` is taken large, at half that bound (margin for
    channel imbalance), at most 64 tiles. A compute-bound GEMV balances the first load
    against the per-tile fill instead: ``T = sqrt(bus / fill)``.
    """
    total_bytes = w_elems.sum() * eb + meta_bits.sum() / 8
    col_bytes = total_bytes / max(1, n)
    bus = total_bytes / (arch.dram.bandwidth_gbps * 1e9 / (arch.clock_mhz * 1e6))
    work = passes.sum() / groups
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
    nw = -(-k // window)
    full, rest = divmod(k, window)
    if kind == "dense":
        out = np.full((nw, n), window, dtype=np.int64)
        if rest:
            out[-1] = rest
        return out
    nz = w != 0
    # Count in a narrow type (a window holds < 2**15 rows here) to keep the pass cache-sized.
    acc = np.int16 if window < 2**15 else np.int64
    out = np.empty((nw, n), dtype=np.int64)
    if full:
        out[:full] = nz[: full * window].reshape(full, window, n).sum(axis=1, dtype=acc)
    if rest:
        out[full] = nz[full * window :].sum(axis=0, dtype=np.int64)
    return out


def chain_efficiency(
    weight: np.ndarray, group: int, kind: str = "nm", *, counts: np.ndarray | None = None
) -> dict[str, float]:
    """Computation efficiency (useful MACs / DSP-cycles) of both chains on one weight.

    Parameters
    ----------
    weight : numpy.ndarray
        ``K × N`` weight (its real zeros are counted).
    group : int
        Group length ``g`` (``chain_length``); the fixed cascade is ``FIXED_CASCADE_GROUPS·g``.
    kind : {"nm", "block", "dense"}
    counts : numpy.ndarray, optional
        ``window_nnz(weight, FIXED_CASCADE_GROUPS * group, kind)`` when already computed.

    Returns
    -------
    dict
        ``useful_macs`` (per activation row), ``configurable`` and ``fixed`` efficiencies and
        their ``ratio``.
    """
    window = FIXED_CASCADE_GROUPS * group
    s = window_nnz(weight, window, kind) if counts is None else counts
    # Useful work is the nonzero products; a dense-mode chain (dense or unstructured weights,
    # whose zeros the MUX cannot skip) still spends DSP-cycles on the zeros.
    useful = int(np.count_nonzero(weight)) if kind == "dense" else int(s.sum())
    cfg_cycles = int((-(-s // group)).sum()) * group
    fixed_cycles = int(np.count_nonzero(s)) * window
    eff_c = useful / cfg_cycles if cfg_cycles else 1.0
    eff_f = useful / fixed_cycles if fixed_cycles else 1.0
    return {"useful_macs": useful, "configurable": eff_c, "fixed": eff_f, "ratio": eff_c / eff_f}


@register_engine_model("dsp_chain")
class DspChainEngine:
    """FlightLLM sparse DSP chain engine (see the module docstring for the model)."""

    kind = "dsp_chain"

    def plan(self, work: GemmWork, arch: Any, engine_name: str) -> TilePlan:
        """Tiles over ``(M, N, K)`` with group-pass counts from the real weight."""
        check_work(work)
        spec = arch.engine(engine_name)
        g = int(spec.chain_length)
        groups = max(1, int(spec.num_dsps) // g) * int(spec.macs_per_dsp)
        fill = g * int(spec.stage_latency) + int(spec.reduction_latency)
        window = FIXED_CASCADE_GROUPS * g
        kind = _kind(work.sparsity)
        if kind not in spec.supports:
            raise ConfigError(
                f"engine {engine_name!r} supports {', '.join(spec.supports)} sparsity "
                f"(engines.{engine_name}.supports), not {kind!r} ({work.sparsity})"
            )
        M, K, N = work.m, work.k, work.n
        eb = work.elem_bytes
        w = np.asarray(work.weight)
        s = window_nnz(w, window, kind)  # (windows, N)
        passes = -(-s // g)
        # Stored weight: N:M value slots + indices; block: kept blocks + a block index each.
        pattern = nm_pattern_of(work.sparsity)
        if kind == "nm":
            starts = np.arange(0, K, pattern.m)
            per_pos = np.zeros(s.shape[0] * window, dtype=np.int64)
            per_pos[starts] = np.minimum(pattern.n, np.minimum(pattern.m, K - starts))
            win_slots = per_pos.reshape(-1, window).sum(axis=1)  # slots per window and column
            w_elems = np.repeat(win_slots[:, None], N, axis=1)
            meta_bits = w_elems * pattern.idx_bits
        elif kind == "block":
            b = int(work.sparsity.block)
            w_elems = s  # kept values (zeros inside kept blocks are stored too, but rare)
            # One block-row index per kept b×b block, shared by its b columns.
            meta_bits = (s // b) * max(1, (-(-K // b) - 1).bit_length()) // b
        else:
            w_elems = window_nnz(w, window, "dense")
            meta_bits = np.zeros_like(w_elems)
        decode = M == 1

        dens = float((w_elems / np.maximum(1, window_nnz(w, window, "dense"))).max(initial=0))
        meta = float((meta_bits / np.maximum(1, window_nnz(w, window, "dense"))).max(initial=0))

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
            d["n"] = min(
                d["n"], _decode_columns(arch, N, w_elems, meta_bits, eb, passes, groups, fill)
            )
        m0, mlen = spans(M, d["m"])
        k0, klen = spans(K, d["k"])
        n0, nlen = spans(N, d["n"])
        wst = k0 // window
        p_kn = np.add.reduceat(np.add.reduceat(passes, wst, axis=0), n0, axis=1)
        e_kn = np.add.reduceat(np.add.reduceat(w_elems, wst, axis=0), n0, axis=1)
        b_kn = np.add.reduceat(np.add.reduceat(meta_bits, wst, axis=0), n0, axis=1)
        u_kn = np.add.reduceat(np.add.reduceat(s, wst, axis=0), n0, axis=1)
        ni, mi, ki = grid3(n0.size, m0.size, k0.size)
        tm, tk, tn = mlen[mi], klen[ki], nlen[ni]
        group_passes = tm * p_kn[ki, ni]
        compute = -(-group_passes // groups) + fill
        w_b = e_kn[ki, ni] * eb + -(-b_kn[ki, ni] // 8)
        act_b = np.zeros_like(tm) if decode else tm * tk * eb
        out_b = np.zeros_like(tm) if decode else tm * tn * eb
        load_a, load_w, store = reuse_traffic(mi, ki, ni)
        eff = chain_efficiency(w, g, kind, counts=s)
        return TilePlan(
            engine=engine_name,
            multipliers=int(spec.num_dsps) * int(spec.macs_per_dsp),
            compute_cycles=compute,
            load_bytes=act_b * load_a + w_b * load_w,
            act_load_bytes=act_b * load_a,
            store_bytes=out_b * store,
            performed_macs=group_passes * g,
            sram_read_bytes=w_b + tm * tk * eb,
            sram_write_bytes=tm * tn * eb,
            buffer_bytes=int((w_b + tm * tk * eb + tm * tn * eb).max()),
            operands=operand_footprints(
                arch, act=(act_b, load_a), weight=(w_b, load_w), out=(out_b, first_of_block(mi, ni))
            ),
            tiles=tiles_frame(
                m0=m0[mi], m1=m0[mi] + tm, k0=k0[ki], k1=k0[ki] + tk, n0=n0[ni], n1=n0[ni] + tn,
                group_passes=group_passes,
            ),
            notes={
                "sparsity_kind": kind,
                "decode_on_chip": decode,
                "group_length": g,
                "fixed_cascade_length": window,
                "useful_macs": (
                    int(M * np.count_nonzero(w)) if kind == "dense" else int((tm * u_kn[ki, ni]).sum())
                ),
                "efficiency_configurable": eff["configurable"],
                "efficiency_fixed_chain": eff["fixed"],
                "efficiency_ratio": eff["ratio"],
                "weight_metadata_bytes": int(-(-b_kn // 8).sum()),
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
        """Run tile ``i`` of ``plan`` on the chain, counting group passes (contract 9).

        For every window of the tile's reduction rows and every column the segment's kept
        values are counted from the weight the MUX is given and occupy ``ceil(s / g)`` group
        passes per activation row; the tile takes ``ceil(passes / groups)`` cycles plus one
        fill. The output of ``act`` (activation rows, all ``K`` columns) for the columns
        ``cols`` (tile-local) is the product of the compressed N:M slots (values + indices),
        or of the weight block for block and dense weights.

        Returns
        -------
        (out, counts) : tuple
            Partial output and ``compute_cycles``, ``performed_macs``, ``group_passes``.
        """
        spec = arch.engine(engine_name)
        g = int(spec.chain_length)
        groups = max(1, int(spec.num_dsps) // g) * int(spec.macs_per_dsp)
        fill = g * int(spec.stage_latency) + int(spec.reduction_latency)
        window = FIXED_CASCADE_GROUPS * g
        t = plan.tiles.iloc[int(i)]
        m0, m1, k0, k1, n0, n1 = (int(t[c]) for c in ("m0", "m1", "k0", "k1", "n0", "n1"))
        w = np.asarray(work.weight)[k0:k1, n0:n1]
        kind = _kind(work.sparsity)
        s = window_nnz(w, window, kind)  # windows counted from the tile's own start
        passes = int((m1 - m0) * (-(-s // g)).sum())
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
            "compute_cycles": -(-passes // groups) + fill,
            "performed_macs": passes * g,
            "group_passes": passes,
        }
        return out, counts
