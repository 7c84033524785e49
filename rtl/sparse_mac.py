"""The N:M sparse multiply-accumulate core as an Amaranth 0.5 component."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .timing import CoreTiming, core_timing, idx_width_for, validate_core_params

__all__ = ["SparseMAC", "input_layout", "output_layout"]


def input_layout(*, n, m, lanes, act_width, weight_width, idx_width) -> data.StructLayout:
    """Payload of the input stream, packed least-significant field first.

    Parameters
    ----------
    n, m, lanes, act_width, weight_width : int
        Core parameters.
    idx_width : int
        Bits of one activation index.

    Returns
    -------
    amaranth.lib.data.StructLayout
        Fields ``act`` (M signed), ``wval`` (lanes × N signed), ``widx`` (lanes × N unsigned),
        ``first`` and ``last``.
    """
    return data.StructLayout({
        "act": data.ArrayLayout(signed(act_width), m),
        "wval": data.ArrayLayout(data.ArrayLayout(signed(weight_width), n), lanes),
        "widx": data.ArrayLayout(data.ArrayLayout(unsigned(idx_width), n), lanes),
        "first": unsigned(1),
        "last": unsigned(1),
    })


def output_layout(*, lanes, acc_width) -> data.ArrayLayout:
    """Payload of the output stream: ``lanes`` signed accumulators, lane 0 least significant."""
    return data.ArrayLayout(signed(acc_width), lanes)


class SparseMAC(wiring.Component):
    """N:M structured-sparse multiply-accumulate core with ``lanes`` output lanes.

    Every cycle the core can accept one group: M activations shared by all lanes and, per lane,
    N weights with N indices into the activations. Lane ``l`` adds
    ``sum_j wval[ln][j] * act[widx[ln][j]]`` to its accumulator (modulo ``2**acc_width``); a group
    with ``first`` clears the accumulators before adding, and after a group with ``last`` the
    accumulators are sent on ``o``. Dense mode is the same hardware fed ``act[0..n-1]`` with
    ``widx = 0..n-1``.

    Pipeline (see :func:`rtl.timing.core_timing`): the index multiplexers feed registered
    multiplier inputs, the products are registered, and the accumulator register adds the lane
    sum; a ``last`` group writes the new accumulator value into a first-word-fall-through
    buffer of ``output_buffer_depth`` entries in the same cycle. ``i.ready`` is low exactly when
    ``output_buffer_depth`` results are in flight (buffered, or ``last`` groups still in the
    pipeline), so back-pressure never drops a result and, with ``o.ready`` high, the core
    accepts a group every cycle.

    Parameters
    ----------
    n : int
        Non-zeros per group, ``1..m``.
    m : int
        Group size, a power of two in ``2..16``.
    lanes : int
        Output lanes, ``1..64``.
    act_width, weight_width : int
        Signed two's complement operand widths, ``2..16``.
    acc_width : int
        Accumulator width, ``8..48``.

    Attributes
    ----------
    i : In(stream.Signature(input_layout(...)))
        Groups.
    o : Out(stream.Signature(output_layout(...)))
        One payload of ``lanes`` accumulators per completed dot product.

    Raises
    ------
    TypeError
        A parameter is not an integer.
    ValueError
        A parameter is out of range, ``m`` is not a power of two, or ``n > m``.
    """

    def __init__(self, *, n, m, lanes, act_width=8, weight_width=8, acc_width=32):
        p = validate_core_params(
            n=n, m=m, lanes=lanes, act_width=act_width, weight_width=weight_width,
            acc_width=acc_width,
        )
        self._n, self._m, self._lanes = p["n"], p["m"], p["lanes"]
        self._act_width, self._weight_width = p["act_width"], p["weight_width"]
        self._acc_width = p["acc_width"]
        self._timing = core_timing(**p)
        super().__init__({
            "i": In(stream.Signature(input_layout(
                n=self._n, m=self._m, lanes=self._lanes, act_width=self._act_width,
                weight_width=self._weight_width, idx_width=self.idx_width,
            ))),
            "o": Out(stream.Signature(output_layout(lanes=self._lanes, acc_width=self._acc_width))),
        })

    # -- parameters (read-only) -----------------------------------------------------------------
    @property
    def n(self) -> int:
        """Non-zeros per group."""
        return self._n

    @property
    def m(self) -> int:
        """Group size."""
        return self._m

    @property
    def lanes(self) -> int:
        """Output lanes."""
        return self._lanes

    @property
    def act_width(self) -> int:
        """Activation bits."""
        return self._act_width

    @property
    def weight_width(self) -> int:
        """Weight bits."""
        return self._weight_width

    @property
    def acc_width(self) -> int:
        """Accumulator bits."""
        return self._acc_width

    @property
    def idx_width(self) -> int:
        """Bits of one activation index, ``max(1, log2(m))``."""
        return idx_width_for(self._m)

    @property
    def timing(self) -> CoreTiming:
        """The :class:`rtl.timing.CoreTiming` of this configuration."""
        return self._timing

    @property
    def latency(self) -> int:
        """Cycles from the ``last`` input transfer to ``o.valid`` (``core_timing(...).latency``)."""
        return self._timing.latency

    @property
    def ii(self) -> int:
        """Initiation interval in cycles (``core_timing(...).ii``)."""
        return self._timing.ii

    @property
    def output_buffer_depth(self) -> int:
        """Results in flight at which ``i.ready`` drops."""
        return self._timing.output_buffer_depth

    # -- hardware -------------------------------------------------------------------------------
    def elaborate(self, platform):
        """Build the pipeline (Amaranth's elaboration hook; ``platform`` is unused)."""
        m = Module()
        lanes, n = self._lanes, self._n
        aw, ww, accw = self._act_width, self._weight_width, self._acc_width
        pw = aw + ww
        depth = self._timing.output_buffer_depth

        m.submodules.fifo = fifo = SyncFIFO(width=lanes * accw, depth=depth)

        # Stage 1: gathered activation and weight per multiplier (the DSP A/B registers).
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_a = [[Signal(signed(aw), name=f"s1_a_{ln}_{j}") for j in range(n)] for ln in range(lanes)]
        s1_b = [[Signal(signed(ww), name=f"s1_b_{ln}_{j}") for j in range(n)] for ln in range(lanes)]
        # Stage 2: products (the DSP M registers).
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_p = [[Signal(signed(pw), name=f"s2_p_{ln}_{j}") for j in range(n)] for ln in range(lanes)]
        # Stage 3: accumulators (the DSP P registers).
        acc = [Signal(signed(accw), name=f"acc_{ln}") for ln in range(lanes)]

        # Results in flight: buffered, or a ``last`` group still in the pipeline. Ready does not
        # look at the input, so there is no combinational path from i.valid/o.ready to i.ready.
        in_flight = fifo.level + s1_last + s2_last
        m.d.comb += self.i.ready.eq(in_flight < depth)
        accept = self.i.valid & self.i.ready

        payload = self.i.payload
        m.d.sync += [s1_valid.eq(accept), s1_first.eq(accept & payload.first),
                     s1_last.eq(accept & payload.last)]
        for ln in range(lanes):
            for j in range(n):
                m.d.sync += [
                    s1_a[ln][j].eq(payload.act[payload.widx[ln][j]]),
                    s1_b[ln][j].eq(payload.wval[ln][j]),
                ]

        m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last)]
        for ln in range(lanes):
            for j in range(n):
                m.d.sync += s2_p[ln][j].eq(s1_a[ln][j] * s1_b[ln][j])

        new_acc = Signal(data.ArrayLayout(signed(accw), lanes))
        for ln in range(lanes):
            total = Mux(s2_first, 0, acc[ln])
            for j in range(n):
                total = total + s2_p[ln][j]
            # truncation of the wide sum is the modulo-2**acc_width wrap
            m.d.comb += new_acc[ln].eq(total)
            with m.If(s2_valid):
                m.d.sync += acc[ln].eq(new_acc[ln])

        m.d.comb += [
            fifo.w_data.eq(new_acc),
            # in_flight < depth at acceptance guarantees a free slot here
            fifo.w_en.eq(s2_valid & s2_last),
            self.o.valid.eq(fifo.r_rdy),
            self.o.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.o.ready),
        ]
        return m
