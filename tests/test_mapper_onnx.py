"""ONNX front end: shapes, MACs, operators, weights and detected sparsity of mapped graphs."""

from __future__ import annotations

import collections
import subprocess
import sys

import mapper_onnx_cases as C
import numpy as np
import pytest

from hwsim.errors import InputFileError, ShapeError, UnsupportedOperatorError
from hwsim.sparsity import BlockSparsity, Dense, NMPattern, Unstructured, prune_nm
from mapper.frontends.onnx import SPECIAL, VECTOR_COST, load_onnx, supported_operators
from mapper.graph import ConvOp, DataOp, GemmOp, MatMulOp, VectorOp
from mapper.prune import detect_sparsity

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def mobilenet():
    if not C.MOBILENET.exists():
        pytest.fail(f"shared data missing: {C.MOBILENET}")
    return load_onnx(C.MOBILENET, input_shapes=(1, 3, 48, 192))


def test_import_mapper_is_light():
    code = ("import sys, mapper, mapper.graph, mapper.prune; "
            "assert 'onnx' not in sys.modules, 'onnx imported'; "
            "assert 'pandas' not in sys.modules, 'pandas imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mobilenet_maps_with_hand_counted_macs(mobilenet):
    g = mobilenet
    kinds = collections.Counter(o.kind for o in g.ops())
    assert kinds == {"vector": 124, "gemm": 54, "data": 2}
    assert len(g.gemm_ops()) == 54
    # every BatchNormalization follows a Conv; 18 SE-conv biases and the FC bias are Adds
    folded = collections.Counter(k.split("@")[0] for k in g.meta["folded"])
    assert folded == {"BatchNormalization": 35, "Add": 19}
    assert not any(o.op_type == "BatchNormalization" for o in g.ops())
    assert g.op("MatMul@0").bias and g.op("MatMul@0").outputs == ("linear_1.tmp_1",)
    # Ground truth from execution: run the model with onnx.reference, read each Conv's output.
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    from mapper.frontends._onnx_fold import reference_overrides

    model = onnx.load(C.MOBILENET)
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t)
              for n in model.graph.node if n.op_type == "Constant"}
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "MatMul")]
    outs = ReferenceEvaluator(model, new_ops=reference_overrides()).run(
        [n.output[0] for n in convs], {"x": np.zeros((1, 3, 48, 192), np.float32)})
    macs = 0
    for node, y in zip(convs, outs, strict=True):
        w = consts[node.input[1]]
        macs += y.size * (int(np.prod(w.shape[1:])) if node.op_type == "Conv" else w.shape[0])
    assert g.total_macs() == macs == 16_315_376
    assert g.total_params() == sum(consts[n.input[1]].size for n in convs)
    # Stride [2, 1] (H, W order) of the text-direction classifier's depthwise convolutions.
    dw = g.op("Conv@2")
    assert isinstance(dw, ConvOp) and dw.groups == 8 and dw.stride == (2, 1)
    assert dw.in_hw == (24, 96) and dw.out_hw == (12, 96) and (dw.k, dw.n) == (9, 1)
    # Real pretrained float weights: nothing is zero, so nothing is assumed sparse.
    assert all(isinstance(o.sparsity, Dense) and o.density == 1.0 for o in g.gemm_ops())
    assert g.outputs == {"save_infer_model/scale_0.tmp_1": ((1, 2), "float32")}
    # The Shape→Cast→Slice→Cast→Concat→Reshape subgraph was folded to a constant.
    assert [o.op_type for o in g.ops() if o.kind == "data"] == ["Reshape", "Identity"]
    assert isinstance(g.meta["onnx_model"], onnx.ModelProto)


def test_mobilenet_unbound_dims_name_the_input_and_parameter():
    with pytest.raises(ShapeError, match=r"input 'x' dim 0 .*input_shapes"):
        load_onnx(C.MOBILENET)


def test_mlp_symbolic_batch_and_transb():
    m = C.mlp()
    with pytest.raises(ShapeError, match=r"symbolic dim 'batch'.*dims=\{'batch'"):
        load_onnx(m)
    g = load_onnx(m, dims={"batch": 4})
    assert g.total_macs() == C.mlp_macs(4) == 3072
    fc1, fc2 = g.op("fc1"), g.op("fc2")
    assert (fc1.m, fc1.k, fc1.n, fc1.bias) == (4, 16, 32, True)  # K after transB
    w1 = onnx.numpy_helper.to_array([i for i in m.graph.initializer if i.name == "W1"][0])
    np.testing.assert_array_equal(fc1.weight[0], w1.T)
    assert (fc2.m, fc2.k, fc2.n) == (4, 32, 8)
    assert isinstance(fc1.source, onnx.NodeProto) and fc1.source.op_type == "Gemm"
    assert g.inputs == {"x": ((4, 16), "float32")}
    assert list(g.g.edges(data="tensor")) == [("fc1", "relu1", "h"), ("relu1", "fc2", "r")]
    assert fc2.bias and fc2.outputs == ("y",) and g.meta["folded"] == {"add2": "fc2"}
    assert g.g.edges["fc1", "relu1"]["bytes"] == 4 * 32 * 4
    # Same graph from a bare input shape and from a file path.
    assert load_onnx(m, input_shapes=(4, 16)).total_macs() == 3072


def test_convnet_grouped_non_square_and_bn_folding():
    m = C.convnet()
    g = load_onnx(m)
    assert g.total_macs() == C.CONVNET_MACS
    names = [o.name for o in g.ops()]
    assert names[:3] == ["Conv_0", "Relu_2", "Conv_3"]  # unnamed nodes: op type + index
    assert g.meta["folded"] == {"BatchNormalization_1": "Conv_0"}
    c1 = g.op("Conv_0")
    assert c1.bias and c1.outputs == ("n1",) and (c1.m, c1.k, c1.n) == (120, 27, 8)
    c2 = g.op("Conv_3")
    assert c2.kernel == (3, 1) and c2.stride == (2, 1) and c2.groups == 2
    assert c2.in_hw == (12, 10) and c2.out_hw == (5, 10) and (c2.k, c2.n) == (12, 4)
    c3 = g.op("Conv_5")
    assert c3.groups == 8 and c3.kernel == (1, 3) and c3.pads == (0, 1, 0, 1)
    assert (c3.m, c3.k, c3.n) == (50, 3, 1)
    # GEMM form: W[co] of each group flattened row-major over (cin/g, kh, kw).
    w2 = onnx.numpy_helper.to_array([i for i in m.graph.initializer if i.name == "w2"][0])
    for grp in range(2):
        for j in range(4):
            np.testing.assert_array_equal(c2.weight[grp][:, j], w2[grp * 4 + j].ravel())
    pool = g.op("MaxPool_6")
    assert isinstance(pool, VectorOp) and pool.ops_per_element == 4 and pool.elements == 8 * 2 * 5
    gap = g.op("GlobalAveragePool_7")
    assert gap.ops_per_element == 10 and gap.elements == 8
    assert isinstance(g.op("Flatten_8"), DataOp) and g.op("Flatten_8").free


def test_transformer_head_dims_and_shape_subgraph_folding():
    g = load_onnx(C.transformer(), dims={"batch": 2, "sequence": 5})
    assert g.total_macs() == C.transformer_macs(2, 5) == 22080
    qk, av = g.op("qk"), g.op("av")
    assert isinstance(qk, MatMulOp) and (qk.batch, qk.m, qk.k, qk.n) == (4, 5, 8, 5)
    assert isinstance(av, MatMulOp) and (av.batch, av.m, av.k, av.n) == (4, 5, 5, 8)
    assert all(isinstance(g.op(f"proj_{n}"), GemmOp) for n in "qkvo")
    assert g.op("ffn1").m == 10 and g.op("ffn1").n == 32
    ln = g.op("ln1")
    assert ln.category == "norm" and ln.ops_per_element == 7 and ln.elements == 160
    sm = g.op("softmax")
    assert sm.elements == 100 and sm.ops_per_element == VECTOR_COST["Softmax"][1]
    assert g.op("gelu_erf").ops_per_element == SPECIAL
    # Shape/Gather/Concat were folded away; the head split Reshapes remain as free views.
    assert not any(o.op_type in ("Shape", "Gather", "Concat") for o in g.ops())
    assert g.op("split_q").free and not g.op("heads_q").free
    assert g.op("heads_q").bytes == 10 * 16 * 4
    # A different binding gives different shapes (nothing is baked in).
    assert load_onnx(C.transformer(), dims={"batch": 1, "sequence": 7}).total_macs() == \
        C.transformer_macs(1, 7)


def test_quantized_weights_traced_with_real_zeros():
    m = C.quantized()
    g = load_onnx(m)
    init = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    a, b = g.op("mm_a"), g.op("mm_b")
    assert [o.name for o in g.ops()] == ["mm_a", "mm_b"]  # weight chains folded away
    assert a.sparsity == NMPattern(2, 4) and a.density == 0.5
    np.testing.assert_allclose(a.weight[0], init["qa"].astype(np.float32) * 0.02)
    assert b.density == np.count_nonzero(init["qb"]) / init["qb"].size
    assert isinstance(b.sparsity, Unstructured) and b.sparsity.density == b.density
    origin = g.meta["onnx_weights"]["mm_b"]["origin"]
    assert (origin.kind, origin.name) == ("initializer", "qb")


def test_detection_neck_resize_concat_split():
    g = load_onnx(C.detection())
    assert g.total_macs() == C.DETECTION_MACS
    up = g.op("up")
    assert isinstance(up, DataOp) and not up.free and up.bytes == 6 * 8 * 8 * 4
    assert g.op("sig").ops_per_element == VECTOR_COST["Sigmoid"][1]
    assert isinstance(g.op("split"), DataOp)
    assert set(g.predecessors("head1")) == {"split"}
    assert set(g.predecessors("cat")) == {"up", "side"}
    assert g.outputs["y2"] == ((1, 3, 8, 8), "float32")


def test_conv_transpose_col2im_form():
    g = load_onnx(C.conv_transpose())
    op = g.op("up")
    assert op.transposed and (op.m, op.k, op.n) == (25, 4, 54)
    assert g.total_macs() == 25 * 4 * 6 * 9 and op.out_hw == (9, 9)


def _one_node(node, inputs, outputs, opset=17):
    from onnx import helper

    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, 1, s)
                                            for n, s in inputs],
                              [helper.make_tensor_value_info(n, 1, s) for n, s in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_unsupported_operator_and_passthrough():
    from onnx import helper

    node = helper.make_node("Hardmax", ["x"], ["y"], name="mystery")
    model = _one_node(node, [("x", [2, 2])], [("y", [2, 2])])
    with pytest.raises(UnsupportedOperatorError,
                       match=r"'Hardmax' \(node 'mystery'\).*passthrough.*Conv.*MatMul"):
        load_onnx(model)
    g = load_onnx(model, passthrough=("Hardmax",))
    op = g.op("mystery")
    assert isinstance(op, DataOp) and op.free
    assert "Hardmax" not in supported_operators() and len(supported_operators()) > 100
    free = load_onnx(C.mlp(), dims={"batch": 1}, passthrough=("Relu",)).op("relu1")
    assert isinstance(free, DataOp) and free.free  # explicit passthrough wins


def test_einsum_attention_and_reduction():
    from onnx import helper

    qk = helper.make_node("Einsum", ["q", "k"], ["s"], name="qk", equation="bhid,bhjd->bhij")
    g = load_onnx(_one_node(qk, [("q", [2, 3, 5, 4]), ("k", [2, 3, 6, 4])],
                            [("s", [2, 3, 5, 6])], opset=12))
    op = g.op("qk")
    assert isinstance(op, MatMulOp) and (op.batch, op.m, op.k, op.n) == (6, 5, 4, 6)
    red = helper.make_node("Einsum", ["q"], ["r"], name="sum", equation="bij->bj")
    r = load_onnx(_one_node(red, [("q", [2, 5, 4])], [("r", [2, 4])], opset=12)).op("sum")
    assert r.category == "reduce" and r.elements == 8 and r.ops_per_element == 5
    bad = helper.make_node("Einsum", ["q", "q"], ["t"], name="ell", equation="...i,...i->...")
    with pytest.raises(UnsupportedOperatorError, match="ellipsis"):
        load_onnx(_one_node(bad, [("q", [2, 3])], [("t", [2])], opset=12))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_onnx(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a model")
    with pytest.raises(InputFileError, match="not a readable ONNX model"):
        load_onnx(bad)


def test_detect_sparsity_from_values():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 16, 6)).astype(np.float32)
    assert detect_sparsity(w) == (Dense(), 1.0)
    spec, d = detect_sparsity(prune_nm(w, "2:4", axis=1))
    assert spec == NMPattern(2, 4) and d == 0.5
    spec, d = detect_sparsity(prune_nm(w, "1:4", axis=1))
    assert spec == NMPattern(1, 4) and d == 0.25  # the tightest pattern, not 2:8
    spec, d = detect_sparsity(prune_nm(w, "2:8", axis=1))
    assert spec == NMPattern(2, 8)
    # N:M along n (the wrong axis) is not N:M along k.
    assert not isinstance(detect_sparsity(prune_nm(w, "2:4", axis=2))[0], NMPattern)
    tiles = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 1, 1], [0, 1, 1, 0]], dtype=bool)
    blk = rng.standard_normal((1, 32, 32)) * np.kron(tiles, np.ones((8, 8)))[None]
    spec, d = detect_sparsity(blk)
    assert spec == BlockSparsity(8, 0.5) and d == 0.5
    uns = rng.standard_normal((1, 64, 64))
    uns[rng.random(uns.shape) < 0.5] = 0
    spec, d = detect_sparsity(uns)
    assert isinstance(spec, Unstructured) and spec.density == d == np.count_nonzero(uns) / uns.size


def test_dynamic_quantized_integer_gemms():
    """MatMulInteger / QLinearConv: the weight is stored minus its zero point."""
    m = C.dynamic_quantized()
    g = load_onnx(m)
    mmi, qc = g.op("mmi"), g.op("qconv")
    init = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    np.testing.assert_array_equal(mmi.weight[0], init["wq"].astype(np.int32) - 3)
    # rows 0, 3, 6 of each group of 8 equal the zero point: 5 nonzeros per 8 along K
    assert mmi.sparsity == NMPattern(5, 8) and mmi.density == 10 / 16
    assert (qc.m, qc.k, qc.n) == (25, 18, 4) and qc.density == 1 - 6 / 72
    assert g.total_macs() == 2 * 16 * 8 + 25 * 18 * 4
    assert g.op("dql").category == "elementwise"


def _light(name):
    from pathlib import Path

    path = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"
    if not path.exists():
        pytest.skip(f"{path} is not shipped with this onnx version")
    return path


def test_light_resnet50_published_macs():
    """The onnx package's own ResNet-50 export maps to torchvision's 4.089 GMACs."""
    g = load_onnx(_light("resnet50"))
    assert g.total_macs() == 4_089_184_256 and len(g.gemm_ops()) == 54
    assert g.total_params() == 25_502_912



def test_lrn_cost_counts_its_window():
    from onnx import helper

    node = helper.make_node("LRN", ["x"], ["y"], name="lrn", size=5)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [1, 8, 4, 4])],
                              [helper.make_tensor_value_info("y", 1, [1, 8, 4, 4])])
    g = load_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    lrn = g.op("lrn")
    assert lrn.category == "norm" and lrn.elements == 128
    assert lrn.ops_per_element == VECTOR_COST["LRN"][1] + 5


def test_exporter_style_embeddings_and_mask():
    g = load_onnx(C.hf_like(), dims={"batch": 2, "sequence": 5})
    assert g.total_macs() == 3 * 2 * 5 * 8 * 8 + 2 * (2 * 5 * 8 * 5)
    # Positions depend only on the bound shape: Shape/Range/Expand/Gather(P) fold to a constant.
    assert {"shape", "range", "pos_expand", "pos_emb"}.isdisjoint(g.g.nodes)
    tok = g.op("tok_emb")
    assert isinstance(tok, DataOp) and tok.bytes == 2 * 5 * 8 * 4 and tok.inputs == ("input_ids",)
    assert g.op("is_pad").dtype == "bool" and g.op("mask_bias").category == "elementwise"
    assert isinstance(g.op("scores"), MatMulOp) and g.op("scores").batch == 2
    assert g.inputs == {"input_ids": ((2, 5), "int64"), "attention_mask": ((2, 5), "int64")}


def test_data_dependent_shapes_are_listed():
    from onnx import helper

    node = helper.make_node("NonZero", ["x"], ["y"], name="nz")
    model = helper.make_model(
        helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [3, 4])],
                          [helper.make_tensor_value_info("y", 7, None)]),
        opset_imports=[helper.make_opsetid("", 13)])
    g = load_onnx(model)
    assert g.meta["unknown_shapes"] == ["nz"] and g.op("nz").bytes == 0
    assert load_onnx(C.convnet()).meta["unknown_shapes"] == []


def test_if_on_a_static_condition_is_inlined():
    """torch exports put shape checks in If nodes: once shapes are bound the branch is known."""
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    then_g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["t"], name="then_mm")],
                               "then", [], [helper.make_tensor_value_info("t", 1, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Relu", ["x"], ["e"], name="else_relu")],
                               "else", [], [helper.make_tensor_value_info("e", 1, [2, 4])])
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("ReduceSum", ["s"], ["tot"], name="sum", keepdims=0),
             helper.make_node("Greater", ["tot", "lim"], ["c"], name="cmp"),
             helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_g,
                              else_branch=else_g)]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", 1, ["b", 4])],
        [helper.make_tensor_value_info("y", 1, None)],
        [w, numpy_helper.from_array(np.array(3, np.int64), "lim")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    g = load_onnx(model, dims={"b": 2})  # 2 + 4 > 3: then-branch
    assert [o.name for o in g.ops()] == ["then_mm", "branch/out0"]
    assert g.op("then_mm").macs == 2 * 4 * 3 and g.outputs["y"][0] == (2, 3)
    from mapper.check import check_network
    from mapper.prune import prune_graph

    # the check inlines the same branch: its GEMM goes through gemm_fn
    assert check_network(prune_graph(g, "2:4"))["layers_checked"] == 1


def test_input_without_shape_needs_input_shapes():
    from onnx import helper

    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    model = helper.make_model(
        helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, None)],
                          [helper.make_tensor_value_info("y", 1, None)]),
        opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ShapeError, match="input 'x' declares no shape; set input_shapes"):
        load_onnx(model)
    assert load_onnx(model, input_shapes=(2, 3)).op("r").elements == 6
    with pytest.raises(ShapeError, match="bare shape but the model has 2 inputs"):
        load_onnx(C.hf_like(), input_shapes=(1, 4))
    with pytest.raises(ShapeError, match="not an input of the model"):
        load_onnx(C.mlp(), input_shapes={"y": (1, 16)})
