"""The built-in zoo: published MAC and parameter counts, DAG structure, costs, errors."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import networkx as nx
import pytest

from hwsim.errors import ConfigError
from mapper.graph import DTYPE_BYTES, ConvOp, DataOp, GemmOp, MatMulOp, VectorOp
from mapper.netbuilder import SPECIAL_FN_OPS, VECTOR_COST
from mapper.zoo import ZOO_MODELS, param_count, zoo_graph

# Published dense MACs (GMACs, at the precision they are printed) and parameter counts.
# torchvision model docs ("GFLOPS" column, which counts multiply-accumulates, attention
# products included, and "Params"); MobileNet v1: Howard et al. 2017, Table 1 (569 M
# mult-adds); BERT: Hugging Face bert-{base,large}-uncased; LLaMA-2-7B: Meta / HF config.
PUBLISHED_GMACS = {
    "resnet18": (1.814, 3), "resnet50": (4.089, 3), "vgg16": (15.47, 2),
    "mobilenet-v2": (0.301, 3), "vit-b16": (17.56, 2), "mobilenet-v1": (0.569, 3),
}
PUBLISHED_PARAMS = {
    "resnet18": 11_689_512, "resnet50": 25_557_032, "vgg16": 138_357_544,
    "mobilenet-v2": 3_504_872, "vit-b16": 86_567_656, "bert-base": 109_482_240,
    "bert-large": 335_141_888, "llama2-7b": 6_738_415_616,
}


@pytest.fixture(scope="module")
def graphs():
    return {name: zoo_graph(name) for name in ZOO_MODELS}


@pytest.mark.parametrize("name", sorted(PUBLISHED_GMACS))
def test_macs_equal_published(graphs, name):
    value, digits = PUBLISHED_GMACS[name]
    assert round(graphs[name].total_macs() / 1e9, digits) == value


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_params_equal_published(graphs, name):
    assert param_count(graphs[name]) == PUBLISHED_PARAMS[name]


def test_mobilenet_v1_params_match_paper(graphs):
    assert round(param_count(graphs["mobilenet-v1"]) / 1e6, 1) == 4.2  # Table 1: 4.2 M


def test_bert_base_macs_breakdown(graphs):
    """BERT-base, seq 128: 10.872 G MACs of weight GEMMs + 0.302 G of attention = 11.17 G.

    Per layer: Q, K, V, output projections 4·S·768² and the FFN 2·S·768·3072, i.e.
    S·768·9216; the pooler is one 768×768 GEMM on the [CLS] token. The attention products
    QKᵀ and PV are 2·S²·768 per layer. The often-quoted "~11.2 G" is their sum.
    """
    g, s = graphs["bert-base"], 128
    weight = sum(o.macs for o in g.gemm_ops())
    attention = sum(o.macs for o in g.ops() if isinstance(o, MatMulOp))
    assert weight == 12 * s * 768 * (4 * 768 + 2 * 3072) + 768 * 768 == 10_872_225_792
    assert attention == 12 * 2 * s * s * 768 == 301_989_888
    assert round(g.total_macs() / 1e9, 1) == 11.2


def test_llama_decode_reads_the_kv_cache():
    kv = 1000
    g = zoo_graph("llama2-7b", phase="decode", kv_len=kv)
    gemm_params = sum(o.params for o in g.gemm_ops())
    # One new token: every GEMM weight is used once; attention spans kv + 1 positions.
    assert sum(o.macs for o in g.gemm_ops()) == gemm_params
    scores = g.op("model.layers.7.self_attn.scores")
    assert (scores.batch, scores.m, scores.k, scores.n) == (32, 1, 128, kv + 1)
    assert "model.layers.7.self_attn.k_cache" in scores.inputs
    shape, dtype = g.inputs["model.layers.7.self_attn.v_cache"]
    assert shape == (1, 32, kv, 128) and dtype == "float16"
    cache_bytes = sum(math.prod(s) * DTYPE_BYTES[d] for n, (s, d) in g.inputs.items()
                      if n.endswith("_cache"))
    assert cache_bytes == 2 * 32 * kv * 4096 * 2  # K and V, 32 layers, fp16
    assert "model.layers.31.self_attn.rope_k" in g.outputs  # appended cache entries
    assert g.meta["kv_len"] == kv and g.meta["tokens"] == 1
    assert zoo_graph("llama2-7b", phase="decode", seq_len=64).meta["kv_len"] == 64


def test_llama_prefill_shapes():
    g = zoo_graph("llama2-7b", seq_len=16)
    assert not any(n.endswith("_cache") for n in g.inputs)
    q = g.op("model.layers.0.self_attn.q_proj")
    assert (q.m, q.k, q.n) == (16, 4096, 4096)
    ctx = g.op("model.layers.0.self_attn.context")
    assert (ctx.batch, ctx.m, ctx.k, ctx.n) == (32, 16, 16, 128)
    head = g.op("lm_head")
    assert (head.m, head.k, head.n) == (1, 4096, 32000)  # the next token's logits only
    g2 = zoo_graph("llama2-7b", seq_len=16, kv_len=48)  # chunked prefill after 48 tokens
    assert g2.op("model.layers.0.self_attn.scores").n == 64


@pytest.mark.parametrize("name", ["resnet50", "bert-base", "mobilenet-v2"])
def test_batch_scales_work(name):
    one, four = zoo_graph(name), zoo_graph(name, batch=4)
    assert four.total_macs() == 4 * one.total_macs()
    assert param_count(four) == param_count(one)


@pytest.mark.parametrize("name", sorted(ZOO_MODELS))
def test_graph_is_a_connected_dag_with_sized_edges(graphs, name):
    g = graphs[name]
    assert nx.is_directed_acyclic_graph(g.g)
    assert nx.is_weakly_connected(g.g)
    tensors = g.meta["tensors"]
    for u, v, data in g.g.edges(data=True):
        op_u, op_v = g.op(u), g.op(v)
        assert data["tensor"] in op_u.outputs and data["tensor"] in op_v.inputs
        assert data["bytes"] == math.prod(tensors[data["tensor"]]) * op_u.elem_bytes
    for op in g.ops():  # every input is produced by a predecessor or is a graph input
        produced = {g.g.edges[p, op.name]["tensor"] for p in g.predecessors(op.name)}
        assert set(op.inputs) <= produced | set(g.inputs), op.name
    for gemm in g.gemm_ops():
        assert gemm.weight is None and gemm.sparsity is None
    assert set(g.outputs) <= set(tensors)


def test_residual_branches_are_edges(graphs):
    r18 = graphs["resnet18"]
    assert set(r18.predecessors("layer1.0.add")) == {"layer1.0.conv2", "maxpool"}
    assert set(r18.predecessors("layer2.0.add")) == {"layer2.0.conv2", "layer2.0.downsample.0"}
    assert set(r18.predecessors("layer2.1.add")) == {"layer2.1.conv2", "layer2.0.relu"}
    mv2 = graphs["mobilenet-v2"]
    assert set(mv2.predecessors("features.3.add")) == {"features.3.project", "features.2.project"}
    assert "features.2.add" not in mv2.g  # stride 2: no residual
    bert = graphs["bert-base"]
    assert set(bert.predecessors("encoder.5.ffn.add")) == {"encoder.5.ffn.down",
                                                           "encoder.5.attn.norm"}
    assert set(bert.predecessors("encoder.5.attn.scores")) == {"encoder.5.attn.q",
                                                               "encoder.5.attn.k"}


def test_conv_fields_and_lowering(graphs):
    c = graphs["resnet50"].op("layer3.1.conv2")
    assert isinstance(c, ConvOp)
    assert (c.cin, c.cout, c.in_hw, c.out_hw, c.kernel) == (256, 256, (14, 14), (14, 14), (3, 3))
    assert (c.m, c.k, c.n, c.groups, c.bias) == (196, 256 * 9, 256, 1, True)  # folded BN
    dw = graphs["mobilenet-v2"].op("features.4.dw")
    assert (dw.groups, dw.k, dw.n, dw.stride, dw.out_hw) == (144, 9, 1, (2, 2), (28, 28))
    first = graphs["resnet18"].op("conv1")
    assert (first.m, first.k, first.pads) == (112 * 112, 3 * 49, (3, 3, 3, 3))


def test_vector_costs_follow_the_table(graphs):
    bert, vit = graphs["bert-base"], graphs["vit-b16"]
    sm = bert.op("encoder.0.attn.softmax")
    assert isinstance(sm, VectorOp) and sm.category == "softmax"
    assert sm.elements == 12 * 128 * 128 and sm.ops_per_element == VECTOR_COST["softmax"][1]
    assert VECTOR_COST["softmax"][1] == 4 + SPECIAL_FN_OPS
    assert vit.op("encoder.layers.encoder_layer_3.mlp.1").op_type == "gelu"
    pool = graphs["resnet18"].op("maxpool")
    assert (pool.category, pool.ops_per_element, pool.elements) == ("pool", 9.0, 64 * 56 * 56)
    gap = graphs["resnet18"].op("avgpool")
    assert (gap.ops_per_element, gap.elements, gap.in_elements) == (49.0, 512, 512 * 49)
    llama = graphs["llama2-7b"]
    assert llama.op("model.layers.0.mlp.act_fn").op_type == "silu"
    assert llama.op("model.norm").category == "norm"
    emb = llama.op("model.embed_tokens")
    assert isinstance(emb, DataOp) and not emb.free and emb.bytes == 128 * 4096 * 2


def test_names_are_stable_and_readable(graphs):
    names = [o.name for o in zoo_graph("resnet18").ops()]
    assert names == [o.name for o in graphs["resnet18"].ops()]
    assert names[:4] == ["conv1", "relu", "maxpool", "layer1.0.conv1"] and names[-1] == "fc"
    assert "features.28" in graphs["vgg16"].g and "classifier.6" in graphs["vgg16"].g
    assert isinstance(graphs["vit-b16"].op("heads.head"), GemmOp)


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({"name": "resnet-18"}, "model"),
        ({"name": "resnet18", "batch": 0}, "batch"),
        ({"name": "resnet18", "batch": True}, "batch"),
        ({"name": "bert-base", "seq_len": 2.5}, "seq_len"),
        ({"name": "bert-base", "seq_len": 513}, "seq_len"),
        ({"name": "llama2-7b", "phase": "train"}, "phase"),
        ({"name": "resnet50", "phase": "decode"}, "phase"),
        ({"name": "bert-base", "kv_len": 10}, "kv_len"),
        ({"name": "llama2-7b", "phase": "decode", "kv_len": -1}, "kv_len"),
        ({"name": "llama2-7b", "phase": "decode", "kv_len": 4096}, "kv_len"),
        ({"name": "llama2-7b", "seq_len": 5000}, "seq_len"),
    ],
)
def test_bad_parameters_are_typed_errors(kwargs, key):
    name = kwargs.pop("name")
    with pytest.raises(ConfigError) as err:
        zoo_graph(name, **kwargs)
    assert err.value.key == key
    if key == "model":
        assert all(m in str(err.value) for m in ZOO_MODELS)


def test_building_is_fast_and_imports_nothing_heavy():
    t = time.perf_counter()
    for name in ZOO_MODELS:
        zoo_graph(name)
    assert time.perf_counter() - t < 2.0  # ~40 ms here; generous for a loaded machine
    code = ("import sys, mapper.zoo; mapper.zoo.zoo_graph('llama2-7b', phase='decode');"
            "print(sorted(m for m in ('pandas', 'onnx', 'scipy', 'simpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_builder_refuses_two_tensors_on_one_edge():
    from hwsim.errors import ShapeError
    from mapper.netbuilder import NetBuilder

    nb = NetBuilder("t")
    x = nb.linear("a", nb.input("x", (4, 8)), 8)
    with pytest.raises(ShapeError, match="reads two tensors of 'a'"):
        nb.matmul("aa", x, x, batch=1, m=4, k=8, n=4, out_shape=(4, 4), extra_inputs=())
