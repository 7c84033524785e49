"""End-to-end functional check: GEMMs through a callback, the rest through onnx.reference."""

from __future__ import annotations

import mapper_onnx_cases as C
import numpy as np
import pytest

from hwsim.errors import CheckFailedError, ConfigError
from hwsim.sparsity import check_nm
from mapper.check import check_network, numpy_gemm, random_inputs
from mapper.frontends.onnx import load_onnx
from mapper.graph import OpGraph
from mapper.prune import prune_graph

onnx = pytest.importorskip("onnx")


def _recording(calls):
    def fn(op, act, weight, group):
        calls.append((op.name, act.shape, weight.shape, group))
        check_nm(weight, op.sparsity, axis=0, name=op.name) if hasattr(op.sparsity, "m") \
            else None
        return act @ weight
    return fn


def test_mlp_pruned_24_passes():
    g = prune_graph(load_onnx(C.mlp(), dims={"batch": 3}), "2:4")
    calls = []
    res = check_network(g, _recording(calls), seed=1)
    assert res["layers_checked"] == 2 and res["nodes"] == 4
    assert calls == [("fc1", (3, 16), (16, 32), 0), ("fc2", (3, 32), (32, 8), 0)]
    assert res["outputs"]["y"].shape == (3, 8) and res["max_rel_error"] < 1e-5
    # the output really is the pruned network's: compute it by hand
    x = random_inputs(g, 1)["x"]
    fc1, fc2 = g.op("fc1"), g.op("fc2")
    init = {i.name: onnx.numpy_helper.to_array(i) for i in C.mlp().graph.initializer}
    h = np.maximum(x @ fc1.weight[0] + init["b1"], 0)
    np.testing.assert_allclose(res["outputs"]["y"], h @ fc2.weight[0] + init["b2"], rtol=1e-5)


def test_convnet_pruned_24_passes_with_groups():
    g = prune_graph(load_onnx(C.convnet()), "2:4")
    calls = []
    res = check_network(g, _recording(calls))
    assert res["layers_checked"] == 4
    per_layer = {}
    for name, act, w, grp in calls:
        per_layer.setdefault(name, []).append((act, w, grp))
    assert [a for a, _, _ in per_layer["Conv_0"]] == [(120, 27)]
    assert per_layer["Conv_3"] == [((50, 12), (12, 4), 0), ((50, 12), (12, 4), 1)]
    assert len(per_layer["Conv_5"]) == 8 and per_layer["Conv_5"][7] == ((50, 3), (3, 1), 7)


@pytest.mark.parametrize("layer", ["Conv_3", "Gemm_9"])
def test_corrupted_gemm_names_the_layer(layer):
    g = prune_graph(load_onnx(C.convnet()), "2:4")

    def corrupt(op, act, weight, group):
        out = act @ weight
        if op.name == layer and group == 0:
            out = out.copy()
            out[0, 0] += 1.0
        return out

    with pytest.raises(CheckFailedError, match=rf"at layer '{layer}' \("):
        check_network(g, corrupt)


def test_transformer_checks_weight_gemms_and_attention():
    g = prune_graph(load_onnx(C.transformer(), dims={"batch": 2, "sequence": 3}), "2:4")
    calls = []
    res = check_network(g, _recording(calls))
    assert res["layers_checked"] == 6
    assert {c[0] for c in calls} == {"proj_q", "proj_k", "proj_v", "proj_o", "ffn1", "ffn2"}
    assert all(c[1][0] == 6 for c in calls)  # batch * sequence rows


def test_quantized_and_integer_models_exact():
    g = prune_graph(load_onnx(C.quantized()), "2:4")
    assert check_network(g)["layers_checked"] == 2
    gi = prune_graph(load_onnx(C.int_matmul()), "2:4")
    res = check_network(gi, numpy_gemm)
    assert res["outputs"]["y"].dtype == np.int32 and res["max_abs_error"] == 0

    def off_by_one(op, act, weight, group):
        out = act @ weight
        out[-1, -1] += 1
        return out

    with pytest.raises(CheckFailedError, match=r"layer 'mm'.*1 of 12 elements.*exactly"):
        check_network(gi, off_by_one)


def test_conv_transpose_through_col2im():
    g = prune_graph(load_onnx(C.conv_transpose()), "2:4")
    calls = []
    res = check_network(g, _recording(calls))
    assert res["layers_checked"] == 1 and calls[0][1:3] == ((25, 4), (4, 54))


def test_detection_and_mobilenet_networks():
    g = prune_graph(load_onnx(C.detection()), "2:4")
    assert check_network(g)["layers_checked"] == 4
    mb = prune_graph(load_onnx(C.MOBILENET, input_shapes=(1, 3, 48, 192)), "2:4")
    res = check_network(mb, seed=2)
    assert res["layers_checked"] == 54 and res["nodes"] == 566
    assert res["outputs"]["save_infer_model/scale_0.tmp_1"].shape == (1, 2)


def test_bad_inputs():
    g = load_onnx(C.mlp(), dims={"batch": 1})
    with pytest.raises(ConfigError, match="lacks graph input"):
        check_network(g, inputs={})
    with pytest.raises(ConfigError, match="not read from ONNX"):
        check_network(OpGraph("zoo"))
    with pytest.raises(Exception, match="gemm_fn returned shape"):
        check_network(g, lambda op, a, w, grp: a)
