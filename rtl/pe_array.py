"""SAT's R x C array of N:M sparse PEs (weight-stationary) as an Amaranth 0.5 component."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .timing import array_timing, idx_width_for, validate_array_params

__all__ = ["NMPeArray", "weight_layout", "act_layout", "result_layout"]


def weight_layout(*, n, cols, weight_width, idx_width) -> data.StructLayout:
    """Payload of the weight stream: one PE row of a fold, packed least-significant field first.

    Fields ``wval`` (``cols`` x ``n`` signed values, column 0 and slot 0 least significant) then
    ``widx`` (``cols`` x ``n`` unsigned in-group indices, same order).
    """
    return data.StructLayout({
        "wval": data.ArrayLayout(data.ArrayLayout(signed(weight_width), n), cols),
        "widx": data.ArrayLayout(data.ArrayLayout(unsigned(idx_width), n), cols),
    })


def act_layout(*, m, rows, act_width) -> data.StructLayout:
    """Payload of the activation stream: one activation row of a fold.

    Fields ``act`` (``rows`` groups of ``m`` signed activations; group ``r`` goes to PE row
    ``r``; row 0 and element 0 least significant) then ``last`` (this row ends the fold).
    """
    return data.StructLayout({
        "act": data.ArrayLayout(data.ArrayLayout(signed(act_width), m), rows),
        "last": unsigned(1),
    })


def result_layout(*, cols, acc_width) -> data.ArrayLayout:
    """Payload of the result stream: ``cols`` signed partial sums, column 0 least significant."""
    return data.ArrayLayout(signed(acc_width), cols)


class PeArrayComponent(wiring.Component):
    """What the weight- and output-stationary arrays share: validated keyword-only parameters,
    the three stream ports (``w``, ``a``, ``o``, payloads :func:`weight_layout`,
    :func:`act_layout`, :func:`result_layout`) and the configuration's timing.

    Subclasses set ``timing_of`` (``rtl.timing.array_timing`` or ``array_os_timing``).
    """

    timing_of = None

    def __init__(self, *, rows, cols, n, m, act_width=8, weight_width=8, acc_width=32):
        p = validate_array_params(rows=rows, cols=cols, n=n, m=m, act_width=act_width,
                                  weight_width=weight_width, acc_width=acc_width)
        self._p = p
        self._timing = type(self).timing_of(**p)
        self._layouts = {
            "w": weight_layout(n=p["n"], cols=p["cols"], weight_width=p["weight_width"],
                               idx_width=idx_width_for(p["m"])),
            "a": act_layout(m=p["m"], rows=p["rows"], act_width=p["act_width"]),
            "o": result_layout(cols=p["cols"], acc_width=p["acc_width"]),
        }
        super().__init__({
            "w": In(stream.Signature(self._layouts["w"])),
            "a": In(stream.Signature(self._layouts["a"])),
            "o": Out(stream.Signature(self._layouts["o"])),
        })

    @property
    def params(self) -> dict[str, int]:
        """The validated constructor parameters."""
        return dict(self._p)

    @property
    def timing(self):
        """The timing of this configuration (:class:`rtl.timing.ArrayTiming` for the
        weight-stationary array, :class:`rtl.timing.ArrayOSTiming` for the output-stationary)."""
        return self._timing


class NMPeArray(PeArrayComponent):
    """R x C N:M sparse PE array, weight-stationary, double-buffered weight registers.

    PE ``(r, c)`` holds, per register bank, ``n`` weights and their indices into a group of
    ``m`` activations (one lane of :class:`rtl.sparse_mac.SparseMAC`: the ``m``-to-``n``
    selector, ``n`` multipliers). A *fold* is ``R`` weight rows (transfers on ``w``, row ``r``
    to PE row ``r``) followed by activation rows (transfers on ``a``, the last one flagged
    ``last``); each activation row carries one group per PE row and yields one result row on
    ``o``: ``o[c] = sum_r sum_j wval[r][c][j] * act[r][widx[r][c][j]]`` modulo
    ``2**acc_width``. Accumulation across folds (the rest of the reduction) is the output
    buffer's job. Dense mode is the same hardware fed ``act[r][0..n-1]`` with
    ``widx = 0..n-1``.

    Activations enter PE row ``r`` ``r`` cycles late and move one column per cycle; partial
    sums move down one row per cycle behind the PE's selector and multiplier registers; the
    outputs are deskewed into a first-word-fall-through buffer. Weight rows are written along
    the row with the same one-column-per-cycle skew into the bank not in use, so the next
    fold's weights load while a fold streams; the register bank travels with each activation.
    Timing: :func:`rtl.timing.array_timing` and :func:`rtl.timing.predict_array_schedule`.
    Ready signals depend on registered state only.

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

    timing_of = staticmethod(array_timing)

    def elaborate(self, platform):
        """Build the array (Amaranth's elaboration hook; ``platform`` is unused)."""
        m = Module()
        p, t = self._p, self._timing
        m.submodules.fifo = fifo = SyncFIFO(width=p["cols"] * p["acc_width"],
                                            depth=t.output_buffer_depth)
        a_go, a_bank = self._control(m)
        wreg = self._weight_registers(m)
        # activation control delayed by d cycles: (valid, bank); ctl[d] belongs to PEs r + c = d
        ctl = [(a_go, a_bank)]
        for k in range(1, p["rows"] + p["cols"] + 1):
            v, b = Signal(name=f"ad{k}_v"), Signal(name=f"ad{k}_b")
            m.d.sync += [v.eq(ctl[-1][0]), b.eq(ctl[-1][1])]
            ctl.append((v, b))
        bottom = self._pes(m, wreg, ctl)
        row_out = Signal(self._layouts["o"])
        for c, val in enumerate(bottom):  # deskew: column c waits C - 1 - c cycles
            for k in range(p["cols"] - 1 - c):
                d = Signal(signed(p["acc_width"]), name=f"deskew_c{c}_d{k + 1}")
                m.d.sync += d.eq(val)
                val = d
            m.d.comb += row_out[c].eq(val)
        m.d.comb += [
            fifo.w_data.eq(row_out),
            fifo.w_en.eq(ctl[p["rows"] + p["cols"]][0]),  # a slot was reserved at acceptance
            self.o.valid.eq(fifo.r_rdy),
            self.o.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.o.ready),
        ]
        return m

    def _control(self, m):
        """Register banks (loaded/in use), the weight row pointer and the result credits."""
        R, depth = self._p["rows"], self._timing.output_buffer_depth
        full = [Signal(name=f"bank{b}_full") for b in range(2)]
        w_bank, a_bank = Signal(), Signal()
        w_row = Signal(range(R))
        count = Signal(range(depth + 1))
        m.d.comb += [
            self.w.ready.eq(~Mux(w_bank, full[1], full[0])),
            self.a.ready.eq(Mux(a_bank, full[1], full[0]) & (count < depth)),
        ]
        self._w_go = w_go = self.w.valid & self.w.ready
        a_go = self.a.valid & self.a.ready
        m.d.sync += count.eq(count + a_go - (self.o.valid & self.o.ready))
        with m.If(w_go):
            with m.If(w_row == R - 1):
                m.d.sync += [w_row.eq(0), w_bank.eq(~w_bank)]
                for b in range(2):
                    with m.If(w_bank == b):
                        m.d.sync += full[b].eq(1)
            with m.Else():
                m.d.sync += w_row.eq(w_row + 1)
        with m.If(a_go & self.a.payload.last):
            m.d.sync += a_bank.eq(~a_bank)
            for b in range(2):
                with m.If(a_bank == b):
                    m.d.sync += full[b].eq(0)
        self._w_bank, self._w_row = w_bank, w_row
        return a_go, a_bank

    def _weight_registers(self, m):
        """Both banks of every PE, written one column per cycle after the ``w`` transfer."""
        p = self._p
        R, C, n, ww, iw = p["rows"], p["cols"], p["n"], p["weight_width"], idx_width_for(p["m"])
        wctl = [(self._w_go, self._w_bank, self._w_row)]
        for k in range(1, C):
            v, b = Signal(name=f"wd{k}_v"), Signal(name=f"wd{k}_b")
            r = Signal(range(R), name=f"wd{k}_r")
            m.d.sync += [v.eq(wctl[-1][0]), b.eq(wctl[-1][1]), r.eq(wctl[-1][2])]
            wctl.append((v, b, r))
        wreg = {}  # (bank, r, c) -> (values, indices)
        for c in range(C):
            val, idx = self.w.payload.wval[c], self.w.payload.widx[c]
            for k in range(c):
                nv = Signal(data.ArrayLayout(signed(ww), n), name=f"wv_c{c}_d{k + 1}")
                ni = Signal(data.ArrayLayout(unsigned(iw), n), name=f"wi_c{c}_d{k + 1}")
                m.d.sync += [nv.eq(val), ni.eq(idx)]
                val, idx = nv, ni
            v, b, r = wctl[c]
            for bank in range(2):
                for row in range(R):
                    rv = Signal(data.ArrayLayout(signed(ww), n), name=f"w{bank}_{row}_{c}")
                    ri = Signal(data.ArrayLayout(unsigned(iw), n), name=f"i{bank}_{row}_{c}")
                    with m.If(v & (b == bank) & (r == row)):
                        m.d.sync += [rv.eq(val), ri.eq(idx)]
                    wreg[bank, row, c] = (rv, ri)
        return wreg

    def _pes(self, m, wreg, ctl):
        """The R x C PEs; returns the bottom row's (combinational) column sums."""
        p = self._p
        R, C, n = p["rows"], p["cols"], p["n"]
        aw, ww, accw = p["act_width"], p["weight_width"], p["acc_width"]
        psum_above, bottom = [None] * C, [None] * C
        for r in range(R):
            act = self.a.payload.act[r]
            for k in range(r):  # input skew of row r
                d = Signal(data.ArrayLayout(signed(aw), p["m"]), name=f"skew_r{r}_d{k + 1}")
                m.d.sync += d.eq(act)
                act = d
            for c in range(C):
                if c:  # activations move one column per cycle
                    d = Signal(data.ArrayLayout(signed(aw), p["m"]), name=f"act_{r}_{c}")
                    m.d.sync += d.eq(act)
                    act = d
                bank = ctl[r + c][1]
                (v0, i0), (v1, i1) = wreg[0, r, c], wreg[1, r, c]
                total = psum_above[c] if r else 0
                for j in range(n):
                    # selector into the multiplier input registers, then the product register
                    s1a = Signal(signed(aw), name=f"s1a_{r}_{c}_{j}")
                    s1b = Signal(signed(ww), name=f"s1b_{r}_{c}_{j}")
                    m.d.sync += [s1a.eq(act[Mux(bank, i1[j], i0[j])]),
                                 s1b.eq(Mux(bank, v1[j], v0[j]))]
                    s2 = Signal(signed(aw + ww), name=f"s2p_{r}_{c}_{j}")
                    m.d.sync += s2.eq(s1a * s1b)
                    total = total + s2
                ps = Signal(signed(accw), name=f"psum_{r}_{c}" if r < R - 1 else f"sum_{c}")
                if r < R - 1:
                    m.d.sync += ps.eq(total)  # truncation is the modulo-2**acc_width wrap
                    psum_above[c] = ps
                else:
                    m.d.comb += ps.eq(total)
                    bottom[c] = ps
        return bottom
