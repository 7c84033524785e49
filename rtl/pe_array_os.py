"""SAT's R x C array of N:M sparse PEs (output-stationary) as an Amaranth 0.5 component."""

from __future__ import annotations

from functools import reduce

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.lib.fifo import SyncFIFO

from .pe_array import PeArrayComponent
from .timing import array_os_timing, idx_width_for

__all__ = ["NMPeArrayOS"]


class NMPeArrayOS(PeArrayComponent):
    """R x C N:M sparse PE array, output-stationary: each PE keeps one output in place.

    PE ``(r, c)`` (one lane of :class:`rtl.sparse_mac.SparseMAC`: an ``m``-to-``n`` selector,
    ``n`` multipliers, an accumulator) computes output row ``r`` of a *block* of ``R`` rows
    and output column ``c`` of a fold of ``C`` columns. A block is a sequence of *steps*; step
    ``k`` is the ``k``-th transfer on ``w`` (for every column, ``n`` compressed weights and
    their in-group indices: the same payload as :class:`rtl.pe_array.NMPeArray`'s weight row)
    paired with the ``k``-th transfer on ``a`` (for every PE row, a group of ``m``
    activations; the block's last step is flagged ``last``). PE ``(r, c)`` adds
    ``sum_j wval[c][j] * act[r][widx[c][j]]`` to its accumulator (modulo ``2**acc_width``;
    the first step of a block starts from 0). After the block's last step the ``R x C``
    results leave on ``o`` as ``R`` transfers, row 0 first. Dense mode is the same hardware
    fed ``act[r][0..n-1]`` with ``widx = 0..n-1``.

    Weights enter column ``c`` ``c`` cycles late and move down one row per cycle;
    activations enter row ``r`` ``r`` cycles late and move right one column per cycle, so
    PE ``(r, c)`` sees step ``k`` ``r + c`` cycles after it enters. Row ``r`` of a block
    therefore finishes one cycle after row ``r - 1``: each column has one result bus that
    reads the accumulator of the row finishing in that cycle (at most one, because blocks end
    at least ``R`` cycles apart), the buses are deskewed into a row, and the rows go into a
    first-word-fall-through buffer. An accumulator is free again the cycle after it is read,
    so no second bank is needed: the drain overlaps the next block's steps. Each input port
    has a one-item holding register, so a step enters when both halves are there; ready
    signals depend on registered state only. Timing: :func:`rtl.timing.array_os_timing` and
    :func:`rtl.timing.predict_array_os_schedule`.

    Parameters
    ----------
    rows, cols : int
        ``1..64``.
    n, m, act_width, weight_width, acc_width : int
        As :class:`rtl.sparse_mac.SparseMAC`.

    Attributes
    ----------
    w : In(stream.Signature(weight_layout(...)))
    a : In(stream.Signature(act_layout(...)))
    o : Out(stream.Signature(result_layout(...)))

    Raises
    ------
    TypeError, ValueError
        As :func:`rtl.timing.validate_array_params`.
    """

    timing_of = staticmethod(array_os_timing)

    def elaborate(self, platform):
        """Build the array (Amaranth's elaboration hook; ``platform`` is unused)."""
        m = Module()
        p, t = self._p, self._timing
        R, C = p["rows"], p["cols"]
        m.submodules.fifo = fifo = SyncFIFO(width=C * p["acc_width"],
                                            depth=t.output_buffer_depth)
        w_data, a_data, enter, first = self._steps(m)
        # step control delayed by d cycles: (valid, first, last); ctl[d] belongs to PEs r + c = d
        ctl = [(enter, first, a_data.last)]
        for k in range(1, R + C + 2):
            v, f, la = Signal(name=f"sd{k}_v"), Signal(name=f"sd{k}_f"), Signal(name=f"sd{k}_l")
            m.d.sync += [v.eq(ctl[-1][0]), f.eq(ctl[-1][1]), la.eq(ctl[-1][2])]
            ctl.append((v, f, la))
        acc = self._pes(m, w_data, a_data, ctl)
        done = [v & la for v, _, la in ctl]  # the accumulators of diagonal d - 3 are final
        row_out = Signal(self._layouts["o"])
        for c in range(C):
            # result bus of column c: the one row whose block ended r + c + 3 cycles ago
            bus = reduce(lambda x, y: x | y,
                         [Mux(done[r + c + 3], acc[r][c], 0) for r in range(R)])
            val = Signal(signed(p["acc_width"]), name=f"bus_c{c}")
            m.d.comb += val.eq(bus)
            for k in range(C - 1 - c):  # deskew: column c waits C - 1 - c cycles
                d = Signal(signed(p["acc_width"]), name=f"deskew_c{c}_d{k + 1}")
                m.d.sync += d.eq(val)
                val = d
            m.d.comb += row_out[c].eq(val)
        m.d.comb += [
            fifo.w_data.eq(row_out),
            # R slots were reserved when the block's last step entered
            fifo.w_en.eq(reduce(lambda x, y: x | y, done[C + 2: C + 2 + R])),
            self.o.valid.eq(fifo.r_rdy),
            self.o.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.o.ready),
        ]
        return m

    def _steps(self, m):
        """Holding registers of both ports, the pairing of their items into steps, and the
        block-end rule (drain spacing and free output rows)."""
        R, depth = self._p["rows"], self._timing.output_buffer_depth
        drain = self._timing.drain
        w_data, a_data = Signal(self._layouts["w"]), Signal(self._layouts["a"])
        w_reg, a_reg = Signal(self._layouts["w"]), Signal(self._layouts["a"])
        w_held, a_held = Signal(), Signal()
        m.d.comb += [self.w.ready.eq(~w_held), self.a.ready.eq(~a_held)]
        w_go, a_go = self.w.valid & ~w_held, self.a.valid & ~a_held
        with m.If(w_held):
            m.d.comb += w_data.eq(w_reg)
        with m.Else():
            m.d.comb += w_data.eq(self.w.payload)
        with m.If(a_held):
            m.d.comb += a_data.eq(a_reg)
        with m.Else():
            m.d.comb += a_data.eq(self.a.payload)
        with m.If(w_go):
            m.d.sync += w_reg.eq(self.w.payload)
        with m.If(a_go):
            m.d.sync += a_reg.eq(self.a.payload)
        # cycles since the last block end (saturating) and result rows reserved, not yet sent
        since = Signal(range(drain + 1), init=drain)
        count = Signal(range(depth + 1))
        first = Signal(init=1)
        room = (since >= drain) & (count <= depth - R)
        have_w, have_a = w_held | w_go, a_held | a_go
        enter = Signal()
        m.d.comb += enter.eq(have_w & have_a & (~a_data.last | room))
        ends = enter & a_data.last
        m.d.sync += [
            w_held.eq(have_w & ~enter),
            a_held.eq(have_a & ~enter),
            since.eq(Mux(ends, 1, Mux(since < drain, since + 1, since))),
            count.eq(count + Mux(ends, R, 0) - (self.o.valid & self.o.ready)),
        ]
        with m.If(enter):
            m.d.sync += first.eq(a_data.last)
        return w_data, a_data, enter, first

    def _pes(self, m, w_data, a_data, ctl):
        """The R x C PEs; returns their accumulator registers ``acc[r][c]``."""
        p = self._p
        R, C, n = p["rows"], p["cols"], p["n"]
        aw, ww, accw, iw = p["act_width"], p["weight_width"], p["acc_width"], idx_width_for(p["m"])
        a_lay = data.ArrayLayout(signed(aw), p["m"])
        v_lay, i_lay = data.ArrayLayout(signed(ww), n), data.ArrayLayout(unsigned(iw), n)
        w_above = []  # (values, indices) entering each column of the current row
        for c in range(C):  # input skew of column c
            val, idx = w_data.wval[c], w_data.widx[c]
            for k in range(c):
                nv, ni = Signal(v_lay, name=f"wskew_c{c}_d{k + 1}"), \
                    Signal(i_lay, name=f"iskew_c{c}_d{k + 1}")
                m.d.sync += [nv.eq(val), ni.eq(idx)]
                val, idx = nv, ni
            w_above.append((val, idx))
        acc = []
        for r in range(R):
            act = a_data.act[r]
            for k in range(r):  # input skew of row r
                d = Signal(a_lay, name=f"askew_r{r}_d{k + 1}")
                m.d.sync += d.eq(act)
                act = d
            acc.append([])
            for c in range(C):
                if c:  # activations move one column per cycle
                    d = Signal(a_lay, name=f"act_{r}_{c}")
                    m.d.sync += d.eq(act)
                    act = d
                val, idx = w_above[c]
                if r:  # weights move one row per cycle
                    nv, ni = Signal(v_lay, name=f"wv_{r}_{c}"), Signal(i_lay, name=f"wi_{r}_{c}")
                    m.d.sync += [nv.eq(val), ni.eq(idx)]
                    val, idx = nv, ni
                    w_above[c] = (val, idx)
                total = 0
                for j in range(n):
                    # selector into the multiplier input registers, then the product register
                    s1a = Signal(signed(aw), name=f"s1a_{r}_{c}_{j}")
                    s1b = Signal(signed(ww), name=f"s1b_{r}_{c}_{j}")
                    m.d.sync += [s1a.eq(act[idx[j]]), s1b.eq(val[j])]
                    s2 = Signal(signed(aw + ww), name=f"s2p_{r}_{c}_{j}")
                    m.d.sync += s2.eq(s1a * s1b)
                    total = total + s2
                a_reg = Signal(signed(accw), name=f"acc_{r}_{c}")
                v2, f2, _ = ctl[r + c + 2]
                with m.If(v2):  # truncation is the modulo-2**acc_width wrap
                    m.d.sync += a_reg.eq(Mux(f2, 0, a_reg) + total)
                acc[r].append(a_reg)
        return acc
