"""SCALE-Sim topology front end: per-layer compute cycles of the systolic engine on the ops it
builds equal the real SCALE-Sim figures; conventions, export round trip, typed errors."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engines import engine_model
from hwsim.engines.base import GemmWork
from hwsim.errors import InputFileError, ShapeError
from hwsim.sparsity import Dense, NMPattern
from mapper.frontends.scalesim import (
    load_topology,
    scalesim_gemm_shape,
    scalesim_topology_layers,
    write_topology,
)
from mapper.graph import ConvOp, GemmOp
from mapper.zoo import zoo_graph

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "_frozen_scalesim", ROOT / "tests" / "test_hwsim_engines_systolic_scalesim.py"
)
FROZEN = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(FROZEN)  # TABLE: 466 figures measured with SCALE-Sim 3.0.0
CONV = FROZEN.HEADER["conv"] + "\n"
GEMM = FROZEN.HEADER["gemm"] + "\n"


@cache
def _arch(rows: int, cols: int):
    return load_arch("dense-systolic").with_engine_overrides("systolic", rows=rows, cols=cols)


def _engine_cycles(op, df: str, rows: int, cols: int, sparsity) -> int:
    """Compute cycles of ONE group of ``op`` planned by the systolic engine."""
    m, k, n = scalesim_gemm_shape(op)
    work = GemmWork(m, k, n, np.broadcast_to(np.int8(0), (k, n)), sparsity, dataflow=df)
    plan = engine_model("systolic").plan(work, _arch(rows, cols), "systolic")
    return int(plan.compute_cycles.sum())


def test_engine_cycles_on_loaded_ops_equal_scalesim():
    """Every frozen SCALE-Sim row: load it as a topology, plan the op, compare per layer."""
    for net, fmt, row, df, rows, cols, mode, _mem, instances, scalesim in FROZEN.TABLE:
        g = load_topology((GEMM if fmt == "gemm" else CONV) + row + "\n")
        (op,) = g.ops()
        assert op.name == row.split(",")[0].strip()
        assert op.groups == instances, (net, row)  # DP rows: one group per SCALE-Sim layer
        sp = None if mode == "dense" else op.sparsity
        got = _engine_cycles(op, df, rows, cols, Dense() if sp is None else sp)
        assert got == scalesim, (net, row, df, rows, cols, mode)


def test_frozen_table_is_large_and_varied():
    assert len(FROZEN.TABLE) >= 400
    assert {t[1] for t in FROZEN.TABLE} == {"conv", "gemm"}
    assert any(t[8] > 1 for t in FROZEN.TABLE)  # depthwise rows are covered


def test_conv_row_becomes_a_conv_op():
    g = load_topology(CONV + "Conv1, 224, 224, 11, 11, 3, 96, 4, 3:8,\n")
    op = g.op("Conv1")
    assert isinstance(op, ConvOp)
    # SCALE-Sim: ofmap = ceil((224 - 11 + 4) / 4) = 55 (an overhang a real conv would pad).
    assert (op.m, op.k, op.n, op.out_hw) == (3025, 363, 96, (55, 55))
    assert op.pads == (0, 0, 3, 3) and (54 * 4 + 11 - 224) == 3
    assert op.sparsity == NMPattern(3, 8) and op.density == pytest.approx(3 / 8)
    assert g.meta["scalesim"]["Conv1"]["line"] == 2 and g.meta["form"] == "conv"


def test_conventions_match_scalesim_reader():
    text = (ROOT / "benchmarks" / "scalesim" / "topologies" / "conventions.csv").read_text()
    layers = scalesim_topology_layers(text)
    g = load_topology(text)
    expanded = [la for op in g.ops() for la in g.meta["scalesim"][op.name]["layers"]]
    assert expanded == [la.name for la in layers]
    by_name = {la.name: la for la in layers}
    for op in g.ops():
        for la in g.meta["scalesim"][op.name]["layers"]:
            assert scalesim_gemm_shape(op) == (by_name[la].p, by_name[la].k, by_name[la].n)
    nc = g.op("no_trailing_comma")  # its last field (the sparsity) is dropped, as SCALE-Sim
    assert nc.sparsity is None and g.meta["scalesim"]["no_trailing_comma"]["sparsity"] == "1:1"
    dw = g.op("DP_multi_filter")
    assert (dw.groups, dw.cin, dw.cout, dw.k, dw.n) == (3, 3, 15, 9, 5)


def test_gemm_form_told_apart_by_header():
    g = load_topology(GEMM + "qkv, 128, 2304, 768, 2:4,\nscores, 128, 128, 64,\n")
    q, s = g.op("qkv"), g.op("scores")
    assert type(q) is GemmOp and (q.m, q.k, q.n) == (128, 768, 2304)
    assert q.sparsity == NMPattern(2, 4) and s.sparsity is None
    assert g.meta["form"] == "gemm"


def test_chain_and_independent_layers():
    text = CONV + "a, 12, 12, 3, 3, 4, 8, 1,\nb, 10, 10, 3, 3, 8, 8, 1,\n"
    g = load_topology(text)
    assert g.predecessors("b") == ["a"]
    assert g.g.edges["a", "b"]["bytes"] == 8 * 10 * 10  # a's ofmap, one byte per word
    assert list(g.inputs) == ["a.ifmap"] and list(g.outputs) == ["b"]
    free = load_topology(text, chain=False)
    assert free.g.number_of_edges() == 0 and set(free.inputs) == {"a.ifmap", "b.ifmap"}


def test_bundled_topologies(tmp_path):
    tops = ROOT / "mapper" / "topologies"
    assert load_topology(tops / "resnet18.csv").total_macs() == 1_814_073_344
    assert load_topology(tops / "mobilenet_v2.csv").total_macs() == 300_774_272
    bert = load_topology(tops / "bert_base_layer_seq128.csv")
    assert bert.name == "bert_base_layer_seq128" and len(bert) == 8
    assert bert.op("encoder.0.ffn.down").k == 3072


@pytest.mark.parametrize("name", ["resnet50", "mobilenet-v1", "vit-b16"])
def test_write_then_load_keeps_every_layer(name, tmp_path):
    g = zoo_graph(name)
    path = tmp_path / f"{name}.csv"
    write_topology(g, path)
    back = load_topology(path)
    assert back.total_macs() == g.total_macs()
    for op in g.gemm_ops():
        got = back.op(op.name if op.groups == 1 else f"DP_{op.name}")
        assert scalesim_gemm_shape(got) == scalesim_gemm_shape(op) and got.groups == op.groups


def test_batched_convolutions_become_one_row_per_image():
    g = zoo_graph("resnet18", batch=2)
    back = load_topology(write_topology(g))
    assert back.total_macs() == g.total_macs()
    assert back.op("layer3.1.conv2.1").m == 14 * 14 and back.op("fc").m == 2


def test_gemm_shape_of_other_ops_is_an_error():
    g = zoo_graph("resnet18")
    with pytest.raises(ShapeError, match="relu"):
        scalesim_gemm_shape(g.op("relu"))


@pytest.mark.parametrize(
    "text,needle",
    [
        ("Name, A, B,\nx, 1, 2,\n", "line 1: header"),
        (CONV + "a, 12, 12, 3, 3, 4, 8\n", "line 2: needs the fields"),
        (CONV + "a, 12, 12, 3, x, 4, 8, 1,\n", "line 2: field 'Filter Width'"),
        (CONV + "\na, 12, 12, 3, 3, 0, 8, 1,\n", "line 3: field 'Channels'"),
        (CONV + "a, 2, 12, 3, 3, 4, 8, 1,\n", "line 2: field 'Filter Height'/'Filter Width'"),
        (CONV + "a, 12, 12, 3, 3, 4, 8, 1, 5:4,\n", "line 2: field 'Sparsity'"),
        (CONV + "a, 12, 12, 3, 3, 4, 8, 1,\na, 9, 9, 1, 1, 4, 8, 1,\n", "line 3: duplicate"),
        (GEMM + "q, 128, 2304,\n", "line 2: needs the fields Layer, M, N, K"),
        (CONV + "\n", "no layers"),
    ],
)
def test_bad_topology_is_a_typed_error(text, needle, tmp_path):
    path = tmp_path / "topo.csv"
    path.write_text(text)
    with pytest.raises(InputFileError) as err:
        load_topology(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_missing_file_is_a_typed_error(tmp_path):
    with pytest.raises(InputFileError, match="nope.csv"):
        load_topology(tmp_path / "nope.csv")
