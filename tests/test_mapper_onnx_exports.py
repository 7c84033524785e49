"""Models in the shapes real exporters and ONNX Runtime's tools write (issue 7: "pretrained models
we have not seen must map too"): detection nets across opsets, QOperator / QDQ / dynamic /
4-bit quantization, fused transformer operators, opset differences, external data, control
flow. MACs, op kinds and weight sparsity are checked against values counted here from the
builders' own arrays; each model also passes the end-to-end check."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import mapper_onnx_export_cases as E  # noqa: E402

from hwsim.errors import InputFileError, ShapeError, UnsupportedOperatorError  # noqa: E402
from hwsim.sparsity import NMPattern  # noqa: E402
from mapper.check import check_network  # noqa: E402
from mapper.frontends.onnx import VECTOR_COST, load_onnx, supported_operators  # noqa: E402
from mapper.graph import DataOp, GemmOp, MatMulOp, VectorOp  # noqa: E402
from mapper.prune import prune_graph, pruned_onnx_model  # noqa: E402


def _init(model, name):
    return next(onnx.numpy_helper.to_array(i) for i in model.graph.initializer
                if i.name == name)


@pytest.mark.parametrize("opset,sizes", [(11, False), (13, False), (17, False), (18, True)])
def test_yolo_detection_net_across_opsets(opset, sizes):
    model, macs = E.yolo(opset, resize_sizes=sizes)
    g = load_onnx(model, dims={"batch": 2})
    assert g.total_macs() == 2 * sum(macs.values()) == 2 * 284_672
    assert {o.name: o.macs for o in g.gemm_ops()} == {k: 2 * v for k, v in macs.items()}
    assert len(g.meta["folded"]) == 7  # every BatchNormalization folded into its Conv
    up = g.op("up")
    assert isinstance(up, DataOp) and not up.free and up.bytes == 2 * 16 * 16 * 16 * 4
    assert g.op("stem/sigmoid").ops_per_element == VECTOR_COST["Sigmoid"][1]
    assert g.op("sppf/pool0").ops_per_element == 25
    assert isinstance(g.op("c2f/split"), DataOp) and isinstance(g.op("head/split"), DataOp)
    assert g.outputs["y"][0] == (2, 256, 6)
    # the Shape → Gather → Unsqueeze → Concat chain of the head folds away
    assert {"head/shape", "head/gather", "head/unsqueeze"}.isdisjoint(g.g.nodes)
    if opset in (11, 18):  # each opset's nodes run at their own version in the check
        assert check_network(prune_graph(g, "2:4"))["layers_checked"] == 8


def test_yolo_unbound_batch_names_the_dim():
    with pytest.raises(ShapeError, match="'batch'"):
        load_onnx(E.yolo(13)[0])


def test_qoperator_format():
    m = E.qoperator()
    g = load_onnx(m)
    assert g.total_macs() == E.QOPERATOR_MACS
    cw, gw, gz = _init(m, "cw"), _init(m, "gw"), _init(m, "gz")
    assert g.op("qconv").density == np.count_nonzero(cw) / cw.size
    qg = g.op("qgemm")
    assert isinstance(qg, GemmOp) and (qg.m, qg.k, qg.n) == (1, 16, 10) and qg.bias
    assert qg.density == np.mean(gw != gz[:, None]) == 14 / 16
    assert qg.sparsity == NMPattern(14, 16)
    np.testing.assert_array_equal(qg.weight[0], (gw.astype(np.int32) - gz[:, None]).T)
    assert g.op("qsig").ops_per_element == VECTOR_COST["Sigmoid"][1] + 3
    assert g.op("qadd").ops_per_element == 1 + 3
    assert g.op("qavg").ops_per_element == 4 and g.op("qgap").ops_per_element == 16
    assert isinstance(g.op("qcat"), DataOp) and g.op("qcat").bytes == 16 * 4 * 4
    assert g.op("qsoftmax").category == "softmax"
    assert check_network(prune_graph(g, "2:4"))["layers_checked"] == 1  # QLinearConv


def test_dynamic_quantization():
    m = E.dynamic_quant()
    g = load_onnx(m, dims={"batch": 3})
    assert g.total_macs() == E.dynamic_quant_macs(3)
    w1, z1, w2, w3 = (_init(m, n) for n in ("w1", "z1", "w2", "w3"))
    assert g.op("mmi").density == np.mean(w1 != z1) == 14 / 16
    assert g.op("mmitf").density == np.mean(w2 != 4) == 11 / 12
    assert g.op("dqmm").density == np.count_nonzero(w3) / w3.size
    assert (g.op("mmitf").m, g.op("mmitf").k, g.op("mmitf").n) == (24, 12, 10)
    assert g.op("mmitf").bias and g.op("dql2").category == "elementwise"
    assert check_network(prune_graph(g, "2:4"))["layers_checked"] == 1  # MatMulInteger


def test_qdq_per_channel_int4_and_blocked_weights():
    m = E.qdq()
    g = load_onnx(m)
    assert g.total_macs() == E.QDQ_MACS
    assert [o.name for o in g.gemm_ops()] == ["conv", "mm_int4", "mm_blocked"]
    cw, cz = _init(m, "cw"), _init(m, "cz")
    assert g.op("conv").density == np.mean(cw != cz[:, None, None, None]) == 1 - 45 / 288
    mw, mz = _init(m, "mw").astype(np.int8), _init(m, "mz").astype(np.int8)
    assert g.op("mm_int4").density == np.mean(mw != mz) == 1 - 8 / 96
    bw, bz = _init(m, "bw").astype(np.int8), _init(m, "bz").astype(np.int8)
    assert g.op("mm_blocked").density == np.mean(bw != np.repeat(bz, 4, axis=0)) == 1 - 5 / 72
    pruned = prune_graph(g, "2:4")
    assert check_network(pruned)["layers_checked"] == 3
    # the pruned weights are written back into the int4 initializers as their zero points
    again = load_onnx(pruned_onnx_model(pruned))
    assert all(o.sparsity == NMPattern(2, 4) or o.density < 0.5 for o in again.gemm_ops())


@pytest.mark.parametrize("with_zp", [True, False])
def test_matmul_nbits_blockwise_4bit(with_zp):
    m, q, zero = E.matmul_nbits(with_zp=with_zp)
    g = load_onnx(m)
    op = g.op("mm4")
    assert isinstance(op, GemmOp) and (op.m, op.k, op.n) == (3, 40, 6) and g.total_macs() == 720
    zfull = np.repeat(zero, 16, axis=1)[:, :40]
    assert op.density == np.mean(q != zfull)
    scales = _init(m, "scales")
    expect = ((q - zfull) * np.repeat(scales, 16, axis=1)[:, :40]).T
    np.testing.assert_allclose(op.weight[0], expect, rtol=1e-6)
    pruned = prune_graph(g, "2:4")
    assert check_network(pruned)["layers_checked"] == 0  # run by its reference op
    again = load_onnx(pruned_onnx_model(pruned)).op("mm4")
    assert again.sparsity == NMPattern(2, 4) or again.density < 0.5
    np.testing.assert_array_equal(again.weight != 0, pruned.op("mm4").weight != 0)


def test_fused_bert_attention_decomposes():
    m = E.fused_bert()
    g = load_onnx(m, dims={"batch": 2, "sequence": 5})
    assert g.total_macs() == E.fused_bert_macs(2, 5)
    qkv = g.op("attn/qkv")
    assert isinstance(qkv, GemmOp) and (qkv.m, qkv.k, qkv.n) == (10, 16, 48)
    assert qkv.density == 0.75 and qkv.op_type == "Attention" and qkv.bias
    qk, av = g.op("attn/qk"), g.op("attn/av")
    assert isinstance(qk, MatMulOp) and (qk.batch, qk.m, qk.k, qk.n) == (4, 5, 8, 5)
    assert (av.batch, av.m, av.k, av.n) == (4, 5, 5, 8)
    sm = g.op("attn/softmax")
    assert isinstance(sm, VectorOp) and sm.elements == 2 * 2 * 5 * 5
    qa = _init(m, "Qa")
    assert g.op("qattn/qkv").density == np.mean(qa != 2) == 1 - 16 / 768
    assert set(g.predecessors("attn/qk")) == {"attn/qkv", "embed"}
    assert g.op("bias_gelu").ops_per_element == 8
    assert g.op("fast_gelu").ops_per_element == 12 and g.op("skip_ln1").ops_per_element == 9
    assert g.op("embed").category == "norm"
    assert check_network(prune_graph(g, "2:4"))["layers_checked"] == 4  # the four MatMuls


def test_decoder_with_kv_cache_mha_gqa_rotary():
    g = load_onnx(E.decoder(), dims={"batch": 2, "sequence": 5, "past": 3})
    assert g.total_macs() == E.decoder_macs(2, 5, 3)
    qk = g.op("gqa/qk")
    assert (qk.batch, qk.m, qk.k, qk.n) == (2 * 2, 5, 8, 8)  # T = past 3 + 5
    assert g.op("mha/qk").n == 8 and g.op("gqa/rotary").elements == 2 * 5 * 4 * 8
    cache = g.op("mha/kv_cache")
    assert isinstance(cache, DataOp) and cache.bytes == 2 * 2 * 5 * 16 * 4
    assert g.outputs["gqa_present_key"][0] == (2, 2, 8, 8)
    assert g.op("rms1").ops_per_element == 4 and g.op("rope_q").ops_per_element == 3
    assert check_network(g)["layers_checked"] == 7


def test_opset23_attention_rms_rotary():
    g = load_onnx(E.opset23(), dims={"batch": 2, "sequence": 5, "past": 3})
    assert g.total_macs() == E.opset23_macs(2, 5, 3)
    qk = g.op("attn/qk")
    assert (qk.batch, qk.m, qk.k, qk.n) == (2 * 4, 5, 4, 8)
    assert check_network(g)["layers_checked"] == 4


@pytest.mark.parametrize("opset", [10, 13, 18])
def test_opset_differences(opset):
    g = load_onnx(E.opset_variants(opset))
    assert g.total_macs() == E.OPSET_VARIANT_MACS
    same = g.op("conv_same")
    assert same.out_hw == (3, 3) and same.pads == (0, 0, 1, 1)
    de = g.op("deconv")
    assert de.out_hw == (6, 6) and (de.m, de.k, de.n) == (18, 8, 36)
    assert (g.op("gemm_ta").m, g.op("gemm_ta").k, g.op("gemm_ta").n) == (2, 8, 5)
    assert (g.op("mm_1d").m, g.op("mm_1d").k, g.op("mm_1d").n) == (2, 5, 1)
    assert g.op("gap").ops_per_element == 25 and g.op("clip").elements == 2 * 8 * 9
    assert check_network(g)["layers_checked"] == 4


def test_external_data_beside_the_model(tmp_path, monkeypatch):
    import mapper_onnx_cases as C

    d = tmp_path / "model"
    d.mkdir()
    onnx.save_model(C.mlp(), str(d / "m.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="m.bin", size_threshold=0)
    monkeypatch.chdir(tmp_path)  # loaded from another folder
    assert load_onnx(d / "m.onnx", dims={"batch": 2}).total_macs() == C.mlp_macs(2)
    evil = onnx.load(str(d / "m.onnx"), load_external_data=False)
    for t in evil.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../../outside.bin"
    onnx.save(evil, str(d / "evil.onnx"))
    with pytest.raises(InputFileError, match="outside the directory"):
        load_onnx(d / "evil.onnx", dims={"batch": 2})
    (d / "m.bin").unlink()
    with pytest.raises(InputFileError, match="m.bin"):
        load_onnx(d / "m.onnx", dims={"batch": 2})


def test_data_dependent_control_flow_is_named():
    from onnx import helper

    body = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "b", [],
                             [helper.make_tensor_value_info("t", 1, [2])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
             helper.make_node("Greater", ["s", "z"], ["c"], name="cmp"),
             helper.make_node("If", ["c"], ["y"], name="branch", then_branch=body,
                              else_branch=body)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [2])],
                              [helper.make_tensor_value_info("y", 1, [2])],
                              [onnx.numpy_helper.from_array(np.array(0, np.float32), "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(UnsupportedOperatorError, match="'If' .*'branch'.*control flow"):
        load_onnx(model)


def test_supported_list_and_unknown_contrib_op():
    from onnx import helper

    ops = supported_operators()
    for op in ("Attention", "MultiHeadAttention", "GroupQueryAttention", "QAttention",
               "SkipLayerNormalization", "SimplifiedLayerNormalization", "RMSNormalization",
               "FastGelu", "BiasGelu", "BiasAdd", "RotaryEmbedding", "QLinearAdd", "QGemm",
               "MatMulNBits", "QLinearConcat", "QLinearGlobalAveragePool"):
        assert op in ops
    assert len(ops) >= 150
    node = helper.make_node("DecoderMaskedMultiHeadAttention", ["x"], ["y"], name="dmmha",
                            domain=E.MS)
    model = E._ms_model([node], [E._vi("x", [1, 4])], [E._vi("y", [1, 4])], {})
    with pytest.raises(UnsupportedOperatorError, match="domain 'com.microsoft'"):
        load_onnx(model)


@pytest.mark.parametrize("case", ["yolo", "qop", "bad", "unbound"])
def test_cli_on_exported_patterns(case, tmp_path, monkeypatch, capsys):
    import json

    from hwsim.cli import main

    monkeypatch.chdir(tmp_path)
    if case == "bad":
        node = onnx.helper.make_node("DecoderMaskedMultiHeadAttention", ["x"], ["y"],
                                     domain=E.MS)
        model = E._ms_model([node], [E._vi("x", [1, 4])], [E._vi("y", [1, 4])], {})
    else:
        model = E.qoperator() if case == "qop" else E.yolo(11)[0]
    onnx.save(model, "m.onnx")
    dims = [] if case in ("qop", "unbound", "bad") else ["--dim", "batch=1"]
    rc = main(["run", "--arch", "sat-vcu1525", "--model", "m.onnx", "--json", *dims])
    out, err = capsys.readouterr()
    if case in ("yolo", "qop"):
        assert rc == 0, err
        d = json.loads(out)
        assert d["check"] == "passed"
        assert sum(x["dense_macs"] for x in d["layers"]) == (
            E.QOPERATOR_MACS if case == "qop" else 284_672)
    else:
        assert rc == (2 if case == "unbound" else 1)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
