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
    assert kinds == {"vector": 143, "gemm": 54, "data": 2}
    assert len(g.gemm_ops()) == 54
    assert len(g.meta["folded"]) == 35  # every BatchNormalization follows a Conv
    assert not any(o.op_type == "BatchNormalization" for o in g.ops())
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
    assert list(g.g.edges(data="tensor")) == [("fc1", "relu1", "h"), ("relu1", "fc2", "r"),
                                               ("fc2", "add2", "o")]
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


def test_unsupported_operator_and_passthrough():
    from onnx import helper

    node = helper.make_node("Einsum", ["x", "x"], ["y"], name="mystery", equation="ij,ij->ij")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [2, 2])],
                              [helper.make_tensor_value_info("y", 1, [2, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOperatorError,
                       match=r"'Einsum' \(node 'mystery'\).*passthrough.*Conv.*MatMul"):
        load_onnx(model)
    g = load_onnx(model, passthrough=("Einsum",))
    op = g.op("mystery")
    assert isinstance(op, DataOp) and op.free
    assert "Einsum" not in supported_operators() and len(supported_operators()) > 100


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
