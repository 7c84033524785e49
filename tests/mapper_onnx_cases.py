"""Small ONNX models built with ``onnx.helper`` for the mapper tests, with hand-counted MACs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MOBILENET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "onnx" / \
    "mobilenetv3_cls.onnx"
OPSET = 17


def _h():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    return onnx, TensorProto, helper, numpy_helper


def _model(nodes, inputs, outputs, inits, opset=OPSET, name="g"):
    onnx, _, helper, numpy_helper = _h()
    graph = helper.make_graph(
        nodes, name, inputs, outputs,
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _vi(name, shape, elem=None):
    _, TensorProto, helper, _ = _h()
    return helper.make_tensor_value_info(name, elem or TensorProto.FLOAT, shape)


def rand(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def mlp():
    """x[batch,16] → Gemm(transB, 32) → Relu → MatMul(8) → Add; MACs = batch·(16·32 + 32·8)."""
    _, _, helper, _ = _h()
    inits = {"W1": rand((32, 16), 1), "b1": rand((32,), 2), "W2": rand((32, 8), 3),
             "b2": rand((8,), 4)}
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu1"),
        helper.make_node("MatMul", ["r", "W2"], ["o"], name="fc2"),
        helper.make_node("Add", ["o", "b2"], ["y"], name="add2"),
    ]
    return _model(nodes, [_vi("x", ["batch", 16])], [_vi("y", ["batch", 8])], inits)


def mlp_macs(batch):
    return batch * (16 * 32 + 32 * 8)


def convnet():
    """Conv+BN+Relu, grouped non-square Conv, depthwise Conv, pools, Flatten, Gemm.

    Input 1×3×12×10. Unnamed nodes (names come from the front end).
    """
    _, _, helper, _ = _h()
    inits = {
        "w1": rand((8, 3, 3, 3), 10), "s": rand((8,), 11) + 2, "bb": rand((8,), 12),
        "mu": rand((8,), 13), "var": np.abs(rand((8,), 14)) + 0.5,
        "w2": rand((8, 4, 3, 1), 15), "b2": rand((8,), 16),
        "w3": rand((8, 1, 1, 3), 17),
        "wf": rand((8, 4), 18), "bf": rand((4,), 19),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "bb", "mu", "var"], ["n1"]),
        helper.make_node("Relu", ["n1"], ["r1"]),
        # grouped, non-square kernel (3, 1), stride (2, 1): 12x10 -> 5x10
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], group=2, strides=[2, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        # depthwise (1, 3) kernel with W padding: 5x10 -> 5x10
        helper.make_node("Conv", ["r2", "w3"], ["c3"], group=8, pads=[0, 1, 0, 1]),
        helper.make_node("MaxPool", ["c3"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["gp"]),
        helper.make_node("Flatten", ["gp"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"]),
    ]
    return _model(nodes, [_vi("x", [1, 3, 12, 10])], [_vi("y", [1, 4])], inits)


#: conv1 12·10·8·27 + conv2 5·10·8·(4·3) + conv3 5·10·8·3 + gemm 8·4
CONVNET_MACS = 12 * 10 * 8 * 27 + 5 * 10 * 8 * 12 + 5 * 10 * 8 * 3 + 8 * 4


def transformer(d=16, heads=2, ff=32):
    """One encoder block, inputs x[batch, sequence, d] with symbolic dims; head split via a
    Shape/Gather/Concat/Reshape subgraph; LayerNorm, act×act QKᵀ and AV, erf-GELU FFN."""
    _, TensorProto, helper, _ = _h()
    dh = d // heads
    inits = {f"W{n}": rand((d, d), 20 + i) * 0.3 for i, n in enumerate("qkvo")}
    inits.update({"W1": rand((d, ff), 30) * 0.3, "W2": rand((ff, d), 31) * 0.3,
                  "g1": np.ones(d, np.float32), "be1": np.zeros(d, np.float32),
                  "g2": np.ones(d, np.float32), "be2": np.zeros(d, np.float32),
                  "i0": np.array([0], np.int64), "i1": np.array([1], np.int64),
                  "hd": np.array([heads, dh], np.int64), "dm": np.array([d], np.int64),
                  "scale": np.array(np.sqrt(dh), np.float32), "half": np.array(0.5, np.float32),
                  "one": np.array(1.0, np.float32),
                  "sq2": np.array(np.sqrt(2.0), np.float32)})
    mk = helper.make_node
    nodes = [
        mk("LayerNormalization", ["x", "g1", "be1"], ["ln1"], name="ln1", axis=-1),
        mk("Shape", ["x"], ["shp"], name="shape"),
        mk("Gather", ["shp", "i0"], ["bsz"], name="g_b", axis=0),
        mk("Gather", ["shp", "i1"], ["seq"], name="g_s", axis=0),
        mk("Concat", ["bsz", "seq", "hd"], ["split_shape"], name="cat_split", axis=0),
        mk("Concat", ["bsz", "seq", "dm"], ["merge_shape"], name="cat_merge", axis=0),
    ]
    for n in "qkv":
        nodes += [
            mk("MatMul", ["ln1", f"W{n}"], [f"{n}0"], name=f"proj_{n}"),
            mk("Reshape", [f"{n}0", "split_shape"], [f"{n}1"], name=f"split_{n}"),
            mk("Transpose", [f"{n}1"], [f"{n}h"], name=f"heads_{n}",
               perm=[0, 2, 3, 1] if n == "k" else [0, 2, 1, 3]),
        ]
    nodes += [
        mk("MatMul", ["qh", "kh"], ["s0"], name="qk"),
        mk("Div", ["s0", "scale"], ["s1"], name="scale_scores"),
        mk("Softmax", ["s1"], ["a"], name="softmax", axis=-1),
        mk("MatMul", ["a", "vh"], ["ctx"], name="av"),
        mk("Transpose", ["ctx"], ["ctx_t"], name="merge_t", perm=[0, 2, 1, 3]),
        mk("Reshape", ["ctx_t", "merge_shape"], ["ctx2"], name="merge"),
        mk("MatMul", ["ctx2", "Wo"], ["o"], name="proj_o"),
        mk("Add", ["o", "x"], ["res1"], name="res1"),
        mk("LayerNormalization", ["res1", "g2", "be2"], ["ln2"], name="ln2", axis=-1),
        mk("MatMul", ["ln2", "W1"], ["f1"], name="ffn1"),
        mk("Div", ["f1", "sq2"], ["e0"], name="gelu_div"),
        mk("Erf", ["e0"], ["e1"], name="gelu_erf"),
        mk("Add", ["e1", "one"], ["e2"], name="gelu_add"),
        mk("Mul", ["f1", "e2"], ["e3"], name="gelu_mul"),
        mk("Mul", ["e3", "half"], ["gl"], name="gelu_half"),
        mk("MatMul", ["gl", "W2"], ["f2"], name="ffn2"),
        mk("Add", ["f2", "res1"], ["y"], name="res2"),
    ]
    _ = TensorProto
    return _model(nodes, [_vi("x", ["batch", "sequence", d])],
                  [_vi("y", ["batch", "sequence", d])], inits)


def transformer_macs(b, s, d=16, heads=2, ff=32):
    dh = d // heads
    return b * s * d * d * 4 + 2 * b * heads * s * s * dh + 2 * b * s * d * ff


def int8_weight(shape, seed, pattern_zero_every=None):
    """int8 values in [-127, 127] \\ {0} with real zeros: every ``pattern_zero_every``-th
    column block pruned 2:4 along axis 0 when given, else ~30% random zeros."""
    rng = np.random.default_rng(seed)
    q = rng.integers(1, 128, size=shape) * rng.choice([-1, 1], size=shape)
    if pattern_zero_every:
        from hwsim.sparsity import prune_nm

        return prune_nm(q.astype(np.int8), "2:4", axis=0)
    q[rng.random(shape) < 0.3] = 0
    return q.astype(np.int8)


def quantized():
    """x[2,16] → MatMul(DequantizeLinear(int8 Wa)) → MatMul(Cast(int8 Wb) · scale) → y[2,8].

    ``Wa`` (16×12) is 2:4 along K with zero point 0; ``Wb`` (12×8) has ~30% real zeros."""
    _, TensorProto, helper, _ = _h()
    inits = {"qa": int8_weight((16, 12), 40, pattern_zero_every=1),
             "sa": np.array(0.02, np.float32), "za": np.array(0, np.int8),
             "qb": int8_weight((12, 8), 41), "sb": np.array(0.05, np.float32)}
    mk = helper.make_node
    nodes = [
        mk("DequantizeLinear", ["qa", "sa", "za"], ["wa"], name="dq_a"),
        mk("MatMul", ["x", "wa"], ["h"], name="mm_a"),
        mk("Cast", ["qb"], ["qbf"], name="cast_b", to=TensorProto.FLOAT),
        mk("Mul", ["qbf", "sb"], ["wb"], name="scale_b"),
        mk("MatMul", ["h", "wb"], ["y"], name="mm_b"),
    ]
    return _model(nodes, [_vi("x", [2, 16])], [_vi("y", [2, 8])], inits)


def detection():
    """Two-scale neck: Conv s2 → Resize ×2 (nearest) → Concat with the stride-1 branch →
    Split → two 1×1 heads; input 1×4×8×8."""
    _, _, helper, _ = _h()
    inits = {"wa": rand((6, 4, 3, 3), 50), "wb": rand((6, 4, 3, 3), 51),
             "scales": np.array([1, 1, 2, 2], np.float32),
             "wh1": rand((5, 6, 1, 1), 52), "wh2": rand((3, 6, 1, 1), 53),
             "split": np.array([6, 6], np.int64)}
    mk = helper.make_node
    nodes = [
        mk("Conv", ["x", "wa"], ["a"], name="down", strides=[2, 2], pads=[1, 1, 1, 1]),
        mk("Sigmoid", ["a"], ["as"], name="sig"),
        mk("Mul", ["a", "as"], ["silu"], name="silu"),
        mk("Resize", ["silu", "", "scales"], ["up"], name="up", mode="nearest"),
        mk("Conv", ["x", "wb"], ["b"], name="side", pads=[1, 1, 1, 1]),
        mk("Concat", ["up", "b"], ["cat"], name="cat", axis=1),
        mk("Split", ["cat", "split"], ["s1", "s2"], name="split", axis=1),
        mk("Conv", ["s1", "wh1"], ["y1"], name="head1"),
        mk("Conv", ["s2", "wh2"], ["y2"], name="head2"),
    ]
    return _model(nodes, [_vi("x", [1, 4, 8, 8])],
                  [_vi("y1", [1, 5, 8, 8]), _vi("y2", [1, 3, 8, 8])], inits)


#: down 4·4·6·36 + side 8·8·6·36 + heads 8·8·(5+3)·6
DETECTION_MACS = 16 * 6 * 36 + 64 * 6 * 36 + 64 * 8 * 6


def conv_transpose():
    """x[1,4,5,5] → ConvTranspose(4→6, k3, s2, pad 1) → y[1,6,9,9].

    (``onnx.reference``'s ConvTranspose mis-reshapes grouped weights, so the reference
    model is ungrouped.)"""
    _, _, helper, _ = _h()
    inits = {"w": rand((4, 6, 3, 3), 60)}
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", strides=[2, 2],
                              pads=[1, 1, 1, 1])]
    return _model(nodes, [_vi("x", [1, 4, 5, 5])], [_vi("y", [1, 6, 9, 9])], inits)


def int_matmul():
    """An all-integer model: int32 x[3,8] @ int32 W[8,4] + int32 b."""
    _, TensorProto, helper, _ = _h()
    rng = np.random.default_rng(70)
    inits = {"W": rng.integers(-5, 6, size=(8, 4)).astype(np.int32),
             "b": rng.integers(-5, 6, size=(4,)).astype(np.int32)}
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
             helper.make_node("Add", ["h", "b"], ["y"], name="bias")]
    return _model(nodes, [_vi("x", [3, 8], TensorProto.INT32)],
                  [_vi("y", [3, 4], TensorProto.INT32)], inits)
