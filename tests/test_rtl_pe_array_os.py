# amaranth: UnusedElaboratable=no
"""The output-stationary N:M PE array: parameters, timing closed forms, golden model, tile
builder, and the Amaranth simulation level."""

from __future__ import annotations

import numpy as np
import pytest
from rtl_array_cases import (
    ARRAY_CONFIGS,
    build_cases,
    check_record,
    make_case,
    simulate_array_amaranth,
)

from rtl.array_golden import (
    Block,
    golden_block,
    random_blocks,
    tile_blocks,
    tile_output_os,
)
from rtl.golden import wrap
from rtl.timing import (
    array_os_block_ends,
    array_os_tile_cycles,
    array_os_timing,
    predict_array_os_schedule,
)

BASE = dict(rows=4, cols=4, n=2, m=8, act_width=8, weight_width=8, acc_width=32)


# -- parameters --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, exc, match", [
    ({"rows": 0}, ValueError, r"rows must be an integer in 1\.\.64"),
    ({"cols": 65}, ValueError, r"cols must be an integer in 1\.\.64"),
    ({"rows": True}, TypeError, r"rows must be an integer"),
    ({"cols": 2.5}, TypeError, r"cols must be an integer"),
    ({"m": 6}, ValueError, r"power of two"),
    ({"n": 9}, ValueError, r"n must be an integer in 1\.\.8"),
    ({"acc_width": 4}, ValueError, r"acc_width"),
    ({"act_width": 17}, ValueError, r"act_width must be an integer in 2\.\.16"),
])
def test_os_params_validated(bad, exc, match):
    from rtl.pe_array_os import NMPeArrayOS

    with pytest.raises(exc, match=match):
        NMPeArrayOS(**{**BASE, **bad})
    with pytest.raises(exc, match=match):
        array_os_timing(**{**BASE, **bad})


def test_os_params_keyword_only_and_round_trip():
    from rtl.pe_array_os import NMPeArrayOS

    with pytest.raises(TypeError):
        NMPeArrayOS(4, 4, 2, 8)  # positional use must fail
    dut = NMPeArrayOS(**{**BASE, "cols": 5, "acc_width": 20})
    assert dut.params == {**BASE, "cols": 5, "acc_width": 20}
    assert dut.timing == array_os_timing(**dut.params)


def test_os_payloads_are_the_ws_layouts():
    """Same port widths as nm_pe_array: a weight row of C x n, R activation groups + last, C
    accumulators."""
    from rtl.pe_array_os import NMPeArrayOS

    p = ARRAY_CONFIGS["4of8_3x5"]
    dut = NMPeArrayOS(**p.as_dict())
    assert dut.w.payload.shape().size == p.cols * p.n * (p.weight_width + p.idx_width)
    assert dut.a.payload.shape().size == p.rows * p.m * p.act_width + 1
    assert dut.o.payload.shape().size == p.cols * p.acc_width


# -- timing closed forms ------------------------------------------------------------------------------
def test_os_timing_terms():
    t = array_os_timing(**{**BASE, "cols": 6})
    # drain R, column skew C - 1, the core's L = 3, +1 to read the accumulator register
    assert (t.drain, t.skew, t.latency) == (4, 5, 3)
    assert t.result_latency == 9 and t.output_buffer_depth == 13


def test_os_closed_forms_by_hand():
    t = array_os_timing(**{**BASE, "cols": 6})
    # blocks of 2, 6 and 3 steps: the first ends in 1; the next at least R = 4 later
    assert array_os_block_ends([2, 6, 3], t) == [1, 7, 11]
    # 2 + 6 + max(3, 4) steps, then drain 4 + skew 5 + L 3
    assert array_os_tile_cycles([2, 6, 3], t) == 2 + 6 + 4 + 4 + 5 + 3
    for bad in ([], [2, 0]):
        with pytest.raises(ValueError, match="block_lengths"):
            array_os_tile_cycles(bad, t)


def test_os_predictor_by_hand():
    """2 x 1 array (drain 2, T = 0 + 3 + 1 = 4, D = 6): three one-step blocks. Step 1
    transfers in 1 but its block may end only in 2 (the first block's rows use the bus in 4
    and 5), so both ports hold step 1 until 2 and take step 2 in 3; it ends in 4."""
    t = array_os_timing(rows=2, cols=1, n=1, m=2, act_width=8, weight_width=8, acc_width=16)
    s = predict_array_os_schedule([1, 1, 1], t)
    assert s.w_cycles == s.a_cycles == (0, 1, 3)
    assert s.out_valid == s.out_transfer == (4, 5, 6, 7, 8, 9)
    # o__ready in cycles 2, 5, 8, ...: rows queue. A w pause of 2 puts step 1's w in 3 (its a,
    # in 1, is held until then); step 2 transfers in 4 but its block ends in 5 = 3 + drain
    s = predict_array_os_schedule([1, 1, 1], t, w_gaps=[2, 0, 0], out_ready=[0, 0, 1])
    assert s.w_cycles == (0, 3, 4) and s.a_cycles == (0, 1, 4)
    assert s.out_valid == (4, 6, 9, 12, 15, 18)
    assert s.out_transfer == (5, 8, 11, 14, 17, 20)
    with pytest.raises(ValueError, match="w_gaps/a_gaps need 3"):
        predict_array_os_schedule([1, 2], t, w_gaps=[0])
    with pytest.raises(ValueError, match="out_ready"):
        predict_array_os_schedule([1], t, out_ready=[0])


@pytest.mark.parametrize("lengths", [[5, 7, 6], [1, 2, 1, 3], [9], [2, 12, 1, 1]])
def test_os_predictor_without_pauses_is_the_closed_form(lengths):
    t = array_os_timing(**BASE)
    s = predict_array_os_schedule(lengths, t)
    ends = array_os_block_ends(lengths, t)
    want = [e + r + t.result_latency for e in ends for r in range(t.rows)]
    assert list(s.out_valid) == list(s.out_transfer) == want
    assert s.out_transfer[-1] + 1 == array_os_tile_cycles(lengths, t)


# -- golden --------------------------------------------------------------------------------------------
def test_golden_block_matches_loops():
    p = ARRAY_CONFIGS["2of4_3x2_w7_5_acc12"]
    for block in random_blocks(p, 4, seed=9, indices="any", extremes=0.5):
        got = golden_block(p, block)
        assert got.shape == (p.rows, p.cols)
        for r in range(p.rows):
            for c in range(p.cols):
                s = sum(int(block.wval[k, c, j]) * int(block.act[k, r, block.widx[k, c, j]])
                        for k in range(len(block)) for j in range(p.n))
                assert got[r, c] == int(wrap(s, p.acc_width))


@pytest.mark.parametrize("name, dense", [("2of8_4x4", False), ("4of8_3x5", False),
                                         ("1of4_2x8", False), ("dense4_4x4", True),
                                         ("2of4_3x2_w7_5_acc12", False)])
def test_os_tile_from_compressed_operands_is_the_product(name, dense):
    """Blocks built from the compressed weight (partial row block, partial column fold, tail
    group) reassemble into act @ W, wrapped."""
    from hwsim.sparsity import NMPattern, prune_nm

    p = ARRAY_CONFIGS[name]
    rng = np.random.default_rng(5)
    M, K, N = 2 * p.rows + 1, 3 * p.m - 3, 2 * p.cols + 1
    lo_a, lo_w = -(1 << (p.act_width - 1)), -(1 << (p.weight_width - 1))
    act = rng.integers(lo_a, -lo_a, size=(M, K))
    w = rng.integers(lo_w, -lo_w, size=(K, N))
    if not dense:
        w = np.asarray(prune_nm(w.astype(float), NMPattern(p.n, p.m), axis=0)).astype(np.int64)
    blocks = tile_blocks(p, act, w, dense=dense)
    assert len(blocks) == 3 * 3  # 3 column folds x 3 row blocks
    steps = -(-K // (p.n if dense else p.m))
    assert all(len(b) == steps for b in blocks)
    results = np.concatenate([golden_block(p, b) for b in blocks])
    assert np.array_equal(tile_output_os(p, results, M, N), wrap(act @ w, p.acc_width))


def test_block_rejects_bad_shapes():
    with pytest.raises(ValueError, match="wval/widx"):
        Block(np.zeros((2, 2, 1)), np.zeros((2, 2, 1)), np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="at least one"):
        Block(np.zeros((0, 2, 1)), np.zeros((0, 2, 1)), np.zeros((0, 2, 4)))


def test_os_wrapping_case_really_wraps():
    p = ARRAY_CONFIGS["2of4_3x2_w7_5_acc12"]
    case = next(c for c in build_cases(p, seed=501, dataflow="os") if c.name == "extremes")
    block = case.phases[0][0]
    k_idx = np.arange(len(block))[:, None, None, None]
    r_idx = np.arange(p.rows)[None, :, None, None]
    raw = (block.act[k_idx, r_idx, block.widx[:, None]] * block.wval[:, None]).sum(axis=(0, 3))
    assert np.abs(raw).max() >= 1 << (p.acc_width - 1)
    assert not np.array_equal(golden_block(p, block), raw)


# -- Amaranth simulation level ----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ARRAY_CONFIGS))
def test_amaranth_os_array_matches_golden_and_timing(name):
    """Every case (short blocks that wait for the drain, long blocks, pauses, back-pressure,
    wrap, duplicate indices, reset mid-tile): results equal the golden and every transfer
    cycle equals rtl.timing.predict_array_os_schedule."""
    p = ARRAY_CONFIGS[name]
    total = 0
    for case in build_cases(p, seed=3 + 100 * list(ARRAY_CONFIGS).index(name), dataflow="os"):
        rec = simulate_array_amaranth(case)
        assert check_record(case, rec) == []
        total += len(rec.outputs[-1])
    assert total >= 150


def test_amaranth_os_runs_a_real_tile():
    """A 2:8 GEMM tile (two row blocks, two column folds) through the OS array."""
    from hwsim.sparsity import NMPattern, prune_nm

    p = ARRAY_CONFIGS["2of8_4x4"]
    rng = np.random.default_rng(11)
    M, K, N = 6, 50, 7
    act = rng.integers(-128, 128, size=(M, K))
    w = np.asarray(prune_nm(rng.integers(-128, 128, size=(K, N)).astype(float),
                            NMPattern(2, 8), axis=0)).astype(np.int64)
    blocks = tile_blocks(p, act, w)
    case = make_case("tile", p, blocks, seed=1, pauses=True, p_ready=0.6, dataflow="os")
    rec = simulate_array_amaranth(case)
    assert check_record(case, rec) == []
    assert np.array_equal(tile_output_os(p, rec.outputs[0], M, N), act @ w)


def test_os_ready_depends_on_registers_only():
    """In every cycle of a paused, back-pressured run, w__ready and a__ready are the same
    whatever w__valid, a__valid and o__ready are (no combinational path)."""
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator

    from rtl.pe_array_os import NMPeArrayOS

    p = ARRAY_CONFIGS["1of4_2x8"]
    dut = NMPeArrayOS(**p.as_dict())
    top = Module()
    top.domains.sync = ClockDomain("sync")
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    rng = np.random.default_rng(4)
    seen = set()

    async def bench(ctx):
        last = 1 << (p.rows * p.m * p.act_width)
        for cyc in range(200):
            readies = set()
            for wv, av, rdy in ((0, 0, 0), (1, 1, 1), (1, 0, 1), (0, 1, 0)):
                ctx.set(dut.w.valid, wv)
                ctx.set(dut.a.valid, av)
                ctx.set(dut.o.ready, rdy)
                ctx.set(dut.a.payload.as_value(), last if cyc % 3 == 0 else 0)
                readies.add((ctx.get(dut.w.ready), ctx.get(dut.a.ready)))
            assert len(readies) == 1, cyc
            seen.update(readies)
            ctx.set(dut.w.valid, int(rng.random() < 0.7))
            ctx.set(dut.a.valid, int(rng.random() < 0.6))
            ctx.set(dut.o.ready, int(rng.random() < 0.3))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    assert len(seen) >= 3  # both ports were seen ready and held


def test_os_verilog_ports():
    import re

    from rtl.verilog import ARRAY_OS_TOP, array_port_widths, array_top, generate_array_verilog

    params = dict(rows=2, cols=3, n=2, m=4, act_width=8, weight_width=8, acc_width=32)
    text = generate_array_verilog(**params, dataflow="os")
    assert array_top("os") == ARRAY_OS_TOP == "nm_pe_array_os"
    assert re.search(rf"^module {ARRAY_OS_TOP}\(", text, re.M)
    for name, width in array_port_widths(**params).items():
        decl = rf"^\s*(input|output) (\[{width - 1}:0\] )?{name};" if width > 1 else \
            rf"^\s*(input|output) {name};"
        assert re.search(decl, text, re.M), name
    with pytest.raises(ValueError, match="dataflow must be one of ws, os, not 'is'"):
        generate_array_verilog(**params, dataflow="is")
