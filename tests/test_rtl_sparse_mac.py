# amaranth: UnusedElaboratable=no
"""Tests of the ``SparseMAC`` Amaranth component: parameters, ports, timing and simulation."""

from __future__ import annotations

import re

import numpy as np
import pytest
from amaranth.hdl import Shape
from amaranth.lib import data, stream
from rtl_cases import (
    CONFIGS,
    Case,
    MacCoreSuite,
    build_cases,
    dot_product_timestamps,
    predict_out_cycles,
    random_gaps,
    random_ready,
    simulate_amaranth,
)

from rtl.golden import MacParams, golden_mac, pack_input, random_stream
from rtl.sparse_mac import SparseMAC
from rtl.timing import CoreTiming, core_timing, validate_core_params
from rtl.verilog import generate_verilog

GOOD = dict(n=2, m=8, lanes=4, act_width=8, weight_width=8, acc_width=32)


class TestAmaranthLevel(MacCoreSuite):
    """The shared cases in Amaranth's simulator, with exact cycle checks."""

    n_random = 3000

    def run(self, params, case):
        return simulate_amaranth(case)


# -- construction ------------------------------------------------------------------------------
def test_init_round_trip():
    dut = SparseMAC(**GOOD)
    assert {k: getattr(dut, k) for k in GOOD} == GOOD
    assert dut.idx_width == 3
    assert dut.timing == core_timing(**GOOD)
    assert (dut.latency, dut.ii) == (core_timing(**GOOD).latency, core_timing(**GOOD).ii)
    assert dut.output_buffer_depth == core_timing(**GOOD).output_buffer_depth
    assert SparseMAC(**{k: getattr(dut, k) for k in GOOD}).signature == dut.signature


@pytest.mark.parametrize("name", [*GOOD, "idx_width", "latency", "ii"])
def test_parameters_are_read_only(name):
    dut = SparseMAC(**GOOD)
    with pytest.raises(AttributeError):
        setattr(dut, name, 3)


def test_signature_is_two_streams():
    dut = SparseMAC(**GOOD)
    i_mem, o_mem = dut.signature.members["i"], dut.signature.members["o"]
    assert i_mem.flow.name == "In" and o_mem.flow.name == "Out"
    assert isinstance(i_mem.signature.flip(), stream.Signature)
    assert isinstance(o_mem.signature, stream.Signature)
    assert not o_mem.signature.always_valid and not o_mem.signature.always_ready
    layout = data.Layout.cast(dut.i.payload.shape())
    assert list(name for name, _ in layout) == ["act", "wval", "widx", "first", "last"]


def test_payload_layout_matches_golden_packing():
    p = MacParams(**{**GOOD, "weight_width": 5})
    dut = SparseMAC(**p.as_dict())
    layout = data.Layout.cast(dut.i.payload.shape())
    assert layout.size == p.in_width
    s = random_stream(p, 1, seed=4, indices="any")
    view = data.Const(layout, pack_input(p, s[0]))
    assert [view.act[e] for e in range(p.m)] == s.act[0].tolist()
    assert [[view.wval[ln][j] for j in range(p.n)] for ln in range(p.lanes)] == s.wval[0].tolist()
    assert [[view.widx[ln][j] for j in range(p.n)] for ln in range(p.lanes)] == s.widx[0].tolist()
    assert (view.first, view.last) == (int(s.first[0]), int(s.last[0]))
    assert Shape.cast(dut.o.payload.shape()).width == p.lanes * p.acc_width


# -- one test per error message -----------------------------------------------------------------
BAD = [
    ({"m": 6}, ValueError, r"^m must be an integer in 2\.\.16 and a power of two, not 6$"),
    ({"m": 32}, ValueError, r"^m must be an integer in 2\.\.16 and a power of two, not 32$"),
    ({"m": 1}, ValueError, r"^m must be an integer in 2\.\.16 and a power of two, not 1$"),
    ({"m": 8.0}, TypeError, r"^m must be an integer in 2\.\.16 and a power of two, not 8\.0$"),
    ({"n": 9}, ValueError, r"^n must be an integer in 1\.\.8, not 9$"),
    ({"n": 0}, ValueError, r"^n must be an integer in 1\.\.8, not 0$"),
    ({"n": "2"}, TypeError, r"^n must be an integer in 1\.\.8, not '2'$"),
    ({"n": True}, TypeError, r"^n must be an integer in 1\.\.8, not True$"),
    ({"lanes": 0}, ValueError, r"^lanes must be an integer in 1\.\.64, not 0$"),
    ({"lanes": 65}, ValueError, r"^lanes must be an integer in 1\.\.64, not 65$"),
    ({"lanes": None}, TypeError, r"^lanes must be an integer in 1\.\.64, not None$"),
    ({"act_width": 1}, ValueError, r"^act_width must be an integer in 2\.\.16, not 1$"),
    ({"act_width": 17}, ValueError, r"^act_width must be an integer in 2\.\.16, not 17$"),
    ({"act_width": 8.5}, TypeError, r"^act_width must be an integer in 2\.\.16, not 8\.5$"),
    ({"weight_width": 1}, ValueError, r"^weight_width must be an integer in 2\.\.16, not 1$"),
    ({"weight_width": "8"}, TypeError, r"^weight_width must be an integer in 2\.\.16, not '8'$"),
    ({"acc_width": 7}, ValueError, r"^acc_width must be an integer in 8\.\.48, not 7$"),
    ({"acc_width": 49}, ValueError, r"^acc_width must be an integer in 8\.\.48, not 49$"),
    ({"acc_width": []}, TypeError, r"^acc_width must be an integer in 8\.\.48, not \[\]$"),
]


@pytest.mark.parametrize(("change", "exc", "match"), BAD, ids=lambda v: repr(v)[:40])
def test_bad_parameters(change, exc, match):
    with pytest.raises(exc, match=match):
        SparseMAC(**{**GOOD, **change})
    with pytest.raises(exc, match=match):
        core_timing(**{**GOOD, **change})
    with pytest.raises(exc, match=match):
        validate_core_params(**{**GOOD, **change})


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        SparseMAC(2, 8, 4)  # noqa


def test_numpy_integers_are_accepted():
    dut = SparseMAC(**{k: np.int64(v) for k, v in GOOD.items()})
    assert type(dut.n) is int and dut.n == 2


# -- timing contract ----------------------------------------------------------------------------
def test_core_timing_contract():
    t = core_timing(**GOOD)
    assert isinstance(t, CoreTiming)
    assert t.ii == 1 and t.latency >= 1
    # with o.ready high, `latency` results are in the pipeline and one is being delivered
    assert t.output_buffer_depth >= t.latency + 1
    with pytest.raises(AttributeError):
        t.latency = 5  # frozen


def test_rtl_timing_does_not_import_amaranth():
    import subprocess
    import sys

    code = "import sys, rtl.timing; assert 'amaranth' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_latency_and_ii_measured():
    """Back-to-back single-group dot products with o.ready high: one group per cycle from the
    first cycle after reset, and each result exactly ``latency`` cycles after its group."""
    p = CONFIGS["2of8_l4"]
    s = random_stream(p, 50, seed=9, dot_len=(1, 1))
    case = Case("ii", p, [s], [np.zeros(50, dtype=np.int64)], np.ones(1, dtype=bool), True)
    rec = simulate_amaranth(case)
    lat = core_timing(**p.as_dict()).latency
    assert rec.in_cycles[0] == list(range(50))
    assert rec.stall_cycles[0] == []
    assert rec.out_cycles[0] == [c + lat for c in range(50)]
    assert rec.outputs[0].tolist() == golden_mac(p, s).tolist()


def test_timestamps_with_pauses():
    """The helper the SimPy cross-check uses: (last-in, out) cycles per dot product."""
    p = CONFIGS["2of4_l3_acc12"]
    s = random_stream(p, 120, seed=5, dot_len=(2, 6))
    gaps, ready = random_gaps(len(s), 6, p_pause=0.4), random_ready(7)
    rec = simulate_amaranth(Case("pauses", p, [s], [gaps], ready))
    stamps = dot_product_timestamps(Case("pauses", p, [s], [gaps], ready), rec)
    assert len(stamps) == s.n_results
    lat = core_timing(**p.as_dict()).latency
    assert [o for _, o in stamps] == predict_out_cycles([t for t, _ in stamps], ready, lat)
    assert all(o >= t + lat for t, o in stamps)


def test_cases_cover_the_required_features():
    names = {c.name for c in build_cases(CONFIGS["2of8_l4"], 10)}
    assert {"random", "timing", "single", "extremes", "dup_idx", "dense", "reset"} <= names
    patterns = {(p.n, p.m) for p in CONFIGS.values()}
    assert {(1, 4), (2, 4), (2, 8), (4, 8), (1, 16), (4, 4)} <= patterns


# -- generated Verilog --------------------------------------------------------------------------
def test_verilog_port_contract():
    text = generate_verilog(**GOOD)
    header = re.search(r"module sparse_mac\((.*?)\);", text, re.S).group(1)
    ports = {name.strip() for name in header.split(",")}
    assert ports == {"clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid",
                     "o__ready", "o__payload"}
    p = MacParams(**GOOD)
    assert re.search(rf"input \[{p.in_width - 1}:0\] i__payload;", text)
    assert re.search(rf"output \[{p.out_width - 1}:0\] o__payload;", text)
    assert re.search(r"output i__ready;", text) and re.search(r"input o__ready;", text)


def test_verilog_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"^n must be an integer in 1\.\.4, not 5$"):
        generate_verilog(**{**GOOD, "n": 5, "m": 4})
