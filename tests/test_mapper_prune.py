"""Pruning a graph's weights, the per-layer report, BDWP pairs, ONNX write-back and the CLI."""

from __future__ import annotations

import json

import mapper_onnx_cases as C
import numpy as np
import pytest

from hwsim.cli import main
from hwsim.errors import ConfigError
from hwsim.sparsity import (
    BlockSparsity,
    Dense,
    NMPattern,
    Unstructured,
    check_nm,
    nm_metadata_bits,
)
from mapper.frontends.onnx import load_onnx
from mapper.graph import GemmOp, OpGraph
from mapper.prune import (
    bdwp_pair,
    detect_sparsity,
    prune_graph,
    pruned_onnx_model,
    sparsity_report,
    write_pruned_onnx,
)

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def convnet():
    return load_onnx(C.convnet())


def test_nm_prune_along_k_and_report(convnet):
    before = {o.name: o.weight.copy() for o in convnet.gemm_ops()}
    p = prune_graph(convnet, "2:4")
    for op in p.gemm_ops():
        check_nm(op.weight, "2:4", axis=1, name=op.name)
        assert op.sparsity == NMPattern(2, 4)
        kept = op.weight != 0
        np.testing.assert_array_equal(op.weight[kept], before[op.name][kept])
        assert op.density == np.count_nonzero(op.weight) / op.weight.size
    for op in convnet.gemm_ops():  # the input graph is untouched
        np.testing.assert_array_equal(op.weight, before[op.name])
        assert isinstance(op.sparsity, Dense)
    rows = {r["name"]: r for r in sparsity_report(p)}
    r = rows["Conv_0"]  # k = 27 = 6 groups of 4 + a tail of 3 keeping 2
    assert r["nnz"] == 8 * (6 * 2 + 2) and r["params"] == 216
    assert r["metadata_bytes"] == nm_metadata_bits((1, 27, 8), NMPattern(2, 4), axis=1) // 8
    assert r["sparsity"] == "2:4"
    assert p.meta["sparsity_mode"] == "2:4" and list(p.g.edges) == list(convnet.g.edges)


def test_unstructured_layer_and_global(convnet):
    per = prune_graph(convnet, "unstructured:0.25")
    for op in per.gemm_ops():
        assert np.count_nonzero(op.weight) == max(1, round(0.25 * op.weight.size))
    glob = prune_graph(convnet, "unstructured:0.25", scope="global")
    total = sum(o.weight.size for o in glob.gemm_ops())
    kept = sum(np.count_nonzero(o.weight) for o in glob.gemm_ops())
    assert kept == round(0.25 * total)
    dens = sorted(o.density for o in glob.gemm_ops())
    assert dens[0] < 0.25 < dens[-1]  # one threshold: layers differ
    with pytest.raises(ConfigError, match="scope='global' applies to unstructured"):
        prune_graph(convnet, "block:2x2:0.5", scope="global")
    with pytest.raises(ConfigError, match="scope must be"):
        prune_graph(convnet, "2:4", scope="net")


def test_block_and_dense(convnet):
    p = prune_graph(convnet, "block:2x2:0.5")
    op = p.op("Conv_0")
    spec, _ = detect_sparsity(op.weight)
    assert op.sparsity == BlockSparsity(2, 0.5)
    assert isinstance(spec, BlockSparsity) and spec.block >= 2
    d = prune_graph(convnet, "dense")
    assert d.meta["sparsity_mode"] == "dense"
    for a, b in zip(d.gemm_ops(), convnet.gemm_ops(), strict=True):
        assert isinstance(a.sparsity, Dense) and a.weight is b.weight


def test_weightless_ops_take_the_declared_pattern():
    g = OpGraph("zoo")
    g.add(GemmOp(name="fc", op_type="gemm", m=4, k=10, n=3))
    p = prune_graph(g, "2:4")
    op = p.op("fc")
    assert op.sparsity == NMPattern(2, 4) and op.weight is None
    assert op.density == pytest.approx((2 * 2 + 2) / 10)
    assert prune_graph(g, "unstructured:0.3").op("fc").density == 0.3
    assert sparsity_report(p)[0]["nnz"] == round(op.density * 30)


def test_bdwp_pair_masks(convnet):
    op = convnet.op("Gemm_9")
    fwd, bwd = bdwp_pair(op, "2:4")
    check_nm(op.weight * fwd, "2:4", axis=1)
    check_nm(op.weight * bwd, "2:4", axis=2)
    assert not np.array_equal(fwd, bwd)
    with pytest.raises(ConfigError, match="no weight"):
        bdwp_pair(GemmOp(name="z", op_type="gemm"), "2:4")


def test_write_back_original_layout(tmp_path, convnet):
    p = prune_graph(convnet, "2:4")
    out = write_pruned_onnx(p, tmp_path / "pruned.onnx")
    model = onnx.load(out)
    onnx.checker.check_model(model)
    init = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    assert init["w1"].shape == (8, 3, 3, 3) and init["wf"].shape == (8, 4)
    back = load_onnx(out)
    for a, b in zip(back.gemm_ops(), p.gemm_ops(), strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        # detected again from the file; k=3 (the depthwise 1x3) has no full group of 4
        assert a.sparsity == (NMPattern(2, 4) if a.k >= 4 else Unstructured(2 / 3)), a.name
    # Gemm with transB keeps B as [N, K].
    mlp = prune_graph(load_onnx(C.mlp(), dims={"batch": 1}), "2:4")
    m = pruned_onnx_model(mlp)
    w1 = onnx.numpy_helper.to_array([i for i in m.graph.initializer if i.name == "W1"][0])
    assert w1.shape == (32, 16)
    check_nm(w1, "2:4", axis=1)  # K is axis 1 of the stored (transB) layout
    # symbolic dims are kept in the written model
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_write_back_into_quantized_initializers():
    g = load_onnx(C.quantized())
    p = prune_graph(g, "1:4")
    m = pruned_onnx_model(p)
    init = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    assert init["qa"].dtype == np.int8 and init["qb"].dtype == np.int8
    check_nm(init["qa"], "1:4", axis=0)
    check_nm(init["qb"], "1:4", axis=0)
    assert [n.op_type for n in m.graph.node] == [n.op_type for n in C.quantized().graph.node]
    np.testing.assert_array_equal(init["qb"] != 0, p.op("mm_b").weight[0] != 0)


def test_write_back_dequantize_zero_point():
    """A pruned entry of a uint8 weight with zero point 128 becomes 128, not 0."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(3)
    q = rng.integers(0, 256, size=(8, 4)).astype(np.uint8)
    q[q == 128] = 129
    inits = [numpy_helper.from_array(q, "q"),
             numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(128, np.uint8), "z")]
    nodes = [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["w"], name="dq"),
             helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [2, 8])],
                              [helper.make_tensor_value_info("y", 1, [2, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    g = load_onnx(model)
    assert isinstance(g.op("mm").sparsity, Dense)
    p = prune_graph(g, "2:4")
    out = numpy_helper.to_array(pruned_onnx_model(p).graph.initializer[0])
    pruned = p.op("mm").weight[0] == 0
    assert pruned.sum() == 16 and np.all(out[pruned] == 128) and np.all(out[~pruned] == q[~pruned])
    again = load_onnx(pruned_onnx_model(p))
    assert again.op("mm").sparsity == NMPattern(2, 4)


def test_mobilenet_pruned_round_trip(tmp_path):
    out = tmp_path / "mbv3_24.onnx"
    rc = main(["prune", str(C.MOBILENET), "--sparsity", "2:4", "-o", str(out),
               "--input-shape", "1x3x48x192"])
    assert rc == 0
    g = load_onnx(out, input_shapes={"x": (1, 3, 48, 192)})
    specs = [o.sparsity for o in g.gemm_ops()]
    # every layer with k >= 4 is detected 2:4; the k=2 SE squeeze keeps all its weights
    assert sum(s == NMPattern(2, 4) for s in specs) == 53
    assert [o.k for o, s in zip(g.gemm_ops(), specs, strict=True) if isinstance(s, Dense)] == [2]


def test_cli_prune_json_and_errors(tmp_path, capsys):
    src = tmp_path / "mlp.onnx"
    onnx.save(C.mlp(), src)
    out = tmp_path / "o.onnx"
    assert main(["prune", str(src), "--sparsity", "2:8", "-o", str(out), "--dim", "batch=2",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["layers"]] == ["fc1", "fc2"]
    assert data["layers"][0]["sparsity"] == "2:8" and out.exists()
    # unbound symbolic dim: usage error naming the dim and the flags
    with pytest.raises(SystemExit) as exc:
        main(["prune", str(src), "--sparsity", "2:4", "-o", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'batch'" in err and "--dim batch=V" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        main(["prune", str(src), "--sparsity", "3:2", "-o", str(out), "--dim", "batch=1"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["prune", str(src), "--sparsity", "2:4", "-o", str(out), "--dim", "batch"])
    assert exc.value.code == 2 and "NAME=V" in capsys.readouterr().err
    assert main(["prune", str(tmp_path / "none.onnx"), "--sparsity", "2:4", "-o", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_unstructured_prune_is_detected_with_its_density(convnet):
    p = prune_graph(convnet, "unstructured:0.3")
    w = p.op("Conv_0").weight
    spec, d = detect_sparsity(w)
    assert d == round(0.3 * 216) / 216 == p.op("Conv_0").density
    assert not isinstance(spec, Dense)


def test_write_back_integer_ops_use_the_zero_point():
    g = load_onnx(C.dynamic_quantized())
    p = prune_graph(g, "2:4")
    init = {i.name: onnx.numpy_helper.to_array(i) for i in pruned_onnx_model(p).graph.initializer}
    eff = init["wq"].astype(np.int32) - 3
    check_nm(eff, "2:4", axis=0)
    assert init["wq"].dtype == np.int8 and np.count_nonzero(init["wq"] == 3) >= 8 * 8
    check_nm(init["cw"].reshape(4, -1), "2:4", axis=1)  # W[co] flattened over (cin, kh, kw)
    again = load_onnx(pruned_onnx_model(p))
    assert [o.sparsity for o in again.gemm_ops()] == [NMPattern(2, 4)] * 2


def test_write_back_through_transpose_and_fallback_initializer():
    """W stored [N, K] behind a Transpose is pruned in place along K (its axis 1); a weight
    computed from two constants (no single origin) gets a new initializer the node reads."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(7)
    wt = rng.standard_normal((6, 8)).astype(np.float32)  # [N, K]
    a = rng.standard_normal((6, 4)).astype(np.float32)
    inits = [numpy_helper.from_array(wt, "Wt"), numpy_helper.from_array(a, "A1"),
             numpy_helper.from_array(a * 2, "A2")]
    nodes = [helper.make_node("Transpose", ["Wt"], ["W"], name="t"),
             helper.make_node("MatMul", ["x", "W"], ["h"], name="mm1"),
             helper.make_node("Add", ["A1", "A2"], ["V"], name="sum_w"),
             helper.make_node("MatMul", ["h", "V"], ["y"], name="mm2")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [3, 8])],
                              [helper.make_tensor_value_info("y", 1, [3, 4])], inits)
    g = load_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    origin = g.meta["onnx_weights"]["mm1"]["origin"]
    assert origin.name == "Wt" and origin.ops == [("transpose", [1, 0])]
    assert g.meta["onnx_weights"]["mm2"]["origin"] is None
    p = prune_graph(g, "2:4")
    m = pruned_onnx_model(p)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    check_nm(init["Wt"], "2:4", axis=1)
    np.testing.assert_array_equal(init["Wt"].T, p.op("mm1").weight[0])
    node = [n for n in m.graph.node if n.name == "mm2"][0]
    assert node.input[1] == "V__pruned_mm2"
    np.testing.assert_array_equal(init["V__pruned_mm2"], p.op("mm2").weight[0])
    onnx.checker.check_model(m)
    from mapper.check import check_network

    assert check_network(p)["layers_checked"] == 2

