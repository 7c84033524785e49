"""torch.fx front end: shapes, MACs, detected sparsity, folding, names, errors, end-to-end check.

Skipped when torch is not installed (the ``[torch]`` extra is not a CI requirement).
"""

from __future__ import annotations

import io
import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

from hwsim.errors import CheckFailedError, ConfigError, ShapeError, UnsupportedOperatorError
from hwsim.sparsity import Dense, NMPattern, Unstructured, prune_nm
from mapper.api import load, prune, simulate
from mapper.check_torch import check_torch_network
from mapper.graph import ConvOp, DataOp, GemmOp, MatMulOp, VectorOp
from mapper.simulate import engine_gemm_fn, map_graph

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


def _prune_linear_2_4(mod) -> None:
    """2:4 along each Linear's reduction axis (``in_features``), by magnitude, in place."""
    with torch.no_grad():
        for m in mod.modules():
            if isinstance(m, nn.Linear):
                w = m.weight.numpy()
                m.weight.copy_(torch.from_numpy(prune_nm(w, NMPattern(2, 4), axis=1)))


class MLP(nn.Module):
    def __init__(self, d=256, h=512, out=64):
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(d, h), nn.Linear(h, d), nn.Linear(d, out)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        y = self.drop(F.relu(self.fc1(x)))
        return self.head(F.gelu(self.fc2(y)) + x)


def test_pruned_mlp_is_detected_2_4_exact_macs_faster_and_checked_end_to_end():
    torch.manual_seed(0)
    mod = MLP()
    _prune_linear_2_4(mod)
    x = torch.randn(4, 8, 256)
    g = load(mod, example_inputs=(x,))
    gemms = g.gemm_ops()
    assert [o.name for o in gemms] == ["fc1", "fc2", "head"]
    assert all(o.sparsity == NMPattern(2, 4) and o.density == 0.5 for o in gemms)
    assert [(o.m, o.k, o.n) for o in gemms] == [(32, 256, 512), (32, 512, 256), (32, 256, 64)]
    assert g.total_macs() == 32 * (256 * 512 + 512 * 256 + 256 * 64)
    # weights as given: the GEMM-form weight is W.T, so 2:4 holds along k
    np.testing.assert_array_equal(g.op("fc1").weight[0], mod.fc1.weight.detach().numpy().T)
    assert isinstance(g.op("drop"), DataOp) and g.op("drop").free
    sparse = simulate(g, "sat-vcu1525")
    dense = simulate(prune(g, "dense"), "sat-vcu1525", check=False)
    assert sparse.check == "passed" and sparse.counters["check_layers"] == 3
    assert sparse.dense_macs == dense.dense_macs == g.total_macs()
    assert sparse.cycles < 0.8 * dense.cycles
    # the network's output from the engines' functional path equals the module's own forward
    res = check_torch_network(g, engine_gemm_fn(map_graph(g, "sat-vcu1525")))
    assert res["layers_checked"] == 3
    with torch.no_grad():
        want = mod.eval()(x).numpy()
    (out,) = res["outputs"].values()
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_a_wrong_engine_output_names_the_layer(monkeypatch):
    from hwsim.engines import pe_array

    real = pe_array.PeArrayEngine.compute

    def off_by_one(self, work, arch, name):
        out = np.array(real(self, work, arch, name), dtype=np.float64)
        out[0, 0] += 1.0
        return out

    torch.manual_seed(1)
    g = load(MLP(16, 32, 8), example_inputs=torch.randn(3, 16))
    monkeypatch.setattr(pe_array.PeArrayEngine, "compute", off_by_one)
    with pytest.raises(CheckFailedError, match=r"layer 'fc1' \(Linear\).*torch module"):
        check_torch_network(g, engine_gemm_fn(map_graph(g, "sat-vcu1525")))


class CNN(nn.Module):
    """Non-square kernel and stride, depthwise and grouped convolutions, BatchNorm, pools."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, (3, 5), stride=(2, 1), padding=(1, 2), bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 32, 1, groups=4)
        self.bn3 = nn.BatchNorm2d(32)
        self.dil = nn.Conv2d(32, 32, 3, padding=2, dilation=2, groups=2)
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.stem(x)))
        x = nn.functional.hardswish(self.bn2(self.dw(x)))
        x = F.silu(self.bn3(self.pw(x)))
        x = self.pool(self.dil(x))
        return self.fc(torch.flatten(self.gap(x), 1))


def _conv_macs(b, cin, cout, hw, kernel, stride, pad, dil, groups):
    out = [(hw[i] + 2 * pad[i] - dil[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in (0, 1)]
    return b * out[0] * out[1] * cout * (cin // groups) * kernel[0] * kernel[1], out


def _randomize_bn(mod) -> None:
    with torch.no_grad():
        for m in mod.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)


def test_cnn_grouped_depthwise_non_square_bn_macs_by_formula_and_onnx():
    torch.manual_seed(2)
    mod = CNN()
    _randomize_bn(mod)
    x = torch.randn(2, 3, 20, 24)
    g = load(mod, example_inputs=x)
    stem, hw = _conv_macs(2, 3, 16, (20, 24), (3, 5), (2, 1), (1, 2), (1, 1), 1)
    dw, hw = _conv_macs(2, 16, 16, hw, (3, 3), (1, 1), (1, 1), (1, 1), 16)
    pw, hw = _conv_macs(2, 16, 32, hw, (1, 1), (1, 1), (0, 0), (1, 1), 4)
    dil, hw = _conv_macs(2, 32, 32, hw, (3, 3), (1, 1), (2, 2), (2, 2), 2)
    assert hw == [10, 24]
    assert g.total_macs() == stem + dw + pw + dil + 2 * 32 * 10
    s = g.op("stem")
    assert isinstance(s, ConvOp) and s.kernel == (3, 5) and s.stride == (2, 1)
    assert s.pads == (1, 2, 1, 2) and (s.m, s.k, s.n) == (2 * 10 * 24, 3 * 15, 16)
    d = g.op("dw")
    assert (d.groups, d.k, d.n, d.cin, d.cout) == (16, 9, 1, 16, 16)
    assert (g.op("pw").groups, g.op("pw").k, g.op("pw").n) == (4, 4, 8)
    assert g.op("dil").dilation == (2, 2) and g.op("dil").out_hw == (10, 24)
    # GEMM-form weight: W[co] flattened over (Cin/g, kh, kw) is the reduction axis
    w = mod.stem.weight.detach().numpy()
    np.testing.assert_array_equal(s.weight[0][:, 7], w[7].reshape(-1))
    # BatchNorm folded into each convolution, as the ONNX front end does
    assert g.meta["folded"] == {"bn1": "stem", "bn2": "dw", "bn3": "pw"}
    assert all(o.bias for o in (s, d, g.op("pw"))) and not any(
        "BatchNorm" in o.op_type for o in g.ops())
    pool = g.op("pool")
    assert isinstance(pool, VectorOp) and pool.ops_per_element == 4.0
    assert g.op("gap").ops_per_element == 5 * 12
    assert isinstance(g.op("fc"), GemmOp) and g.op("fc").m == 2
    # the same network through the ONNX front end counts the same MACs and weights
    onnx = pytest.importorskip("onnx")
    from mapper.frontends.onnx import load_onnx

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(mod.eval(), (x,), buf, dynamo=False)
    go = load_onnx(onnx.load_from_string(buf.getvalue()))
    assert go.total_macs() == g.total_macs() and go.total_params() == g.total_params()
    assert sorted((o.groups, o.k, o.n) for o in go.gemm_ops()) == sorted(
        (o.groups, o.k, o.n) for o in g.gemm_ops())


def test_pruned_cnn_passes_the_end_to_end_check_through_the_engines():
    torch.manual_seed(3)
    mod = CNN()
    _randomize_bn(mod)
    g = prune(load(mod, example_inputs=torch.randn(1, 3, 12, 16)), "2:4")
    res = check_torch_network(g, engine_gemm_fn(map_graph(g, "sat-vcu1525")))
    assert res["layers_checked"] == 5
    assert res["max_rel_error"] < 1e-4
    # the pruned weights were used: the unpruned module's output differs
    with torch.no_grad():
        dense_out = mod.eval()(g.meta["torch_inputs"][0]).numpy()
    (out,) = res["outputs"].values()
    assert np.abs(out - dense_out).max() > 1e-3


class Block(nn.Module):
    """A pre-norm transformer block; attention by SDPA or by explicit matmuls."""

    def __init__(self, d=64, heads=4, ff=256, sdpa=True):
        super().__init__()
        self.h, self.sdpa = heads, sdpa
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.reshape(b, n, self.h, d // self.h).transpose(1, 2) for t in (q, k, v))
        if self.sdpa:
            a = F.scaled_dot_product_attention(q, k, v)
        else:
            s = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.h)
            a = torch.matmul(s.softmax(dim=-1), v)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + self.ff2(F.gelu(self.ff1(self.ln2(x))))


@pytest.mark.parametrize("sdpa", [True, False])
def test_transformer_block_has_act_by_act_matmuls_and_2_4_is_faster(sdpa):
    torch.manual_seed(4)
    b, n, d, h, ff = 1, 128, 256, 4, 1024
    g = load(Block(d, h, ff, sdpa=sdpa), example_inputs=torch.randn(b, n, d))
    mms = [o for o in g.ops() if isinstance(o, MatMulOp)]
    assert [(o.batch, o.m, o.k, o.n) for o in mms] == [(b * h, n, d // h, n), (b * h, n, n, d // h)]
    if sdpa:
        assert [o.name for o in mms] == ["scaled_dot_product_attention.qk",
                                         "scaled_dot_product_attention.av"]
    weights = b * n * (d * 3 * d + d * d + 2 * d * ff)
    assert g.total_macs() == weights + 2 * b * h * n * n * (d // h)
    assert [o.name for o in g.gemm_ops()] == ["qkv", "proj", "ff1", "ff2"]
    assert sum(o.category == "softmax" for o in g.ops() if isinstance(o, VectorOp)) == 1
    assert sum(o.op_type == "LayerNorm" for o in g.ops()) == 2
    dense = simulate(prune(g, "dense"), "sat-vcu1525", check=False)
    sparse = simulate(prune(g, "2:4"), "sat-vcu1525")
    assert sparse.check == "passed" and sparse.counters["check_layers"] == 4
    gd = dense.table[dense.table["kind"] == "gemm"]["compute_cycles"].sum()
    gs = sparse.table[sparse.table["kind"] == "gemm"]["compute_cycles"].sum()
    assert gd / gs > 1.5 and sparse.cycles < 0.85 * dense.cycles


def test_multihead_attention_is_decomposed_and_checked():
    torch.manual_seed(5)
    mha = nn.MultiheadAttention(32, 4, batch_first=True)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn, self.norm = mha, nn.LayerNorm(32)

        def forward(self, x):
            y, _ = self.attn(x, x, x, need_weights=False)
            y = self.norm(x + y)
            z, _ = self.attn(y, y, y, need_weights=False)  # the same layer, called again
            return z

    g = load(Net(), example_inputs=torch.randn(2, 8, 32))
    names = [o.name for o in g.ops() if o.name.startswith("attn")]
    parts = ["in_proj", "qk", "softmax", "av", "out_proj"]
    assert names == [f"attn.{p}" for p in parts] + [f"attn_1.{p}" for p in parts]
    assert (g.op("attn.in_proj").m, g.op("attn.in_proj").n) == (16, 96)
    assert (g.op("attn.qk").batch, g.op("attn.qk").k) == (8, 8)
    assert g.total_macs() == 2 * (16 * 32 * 96 + 2 * 8 * 8 * 8 * 8 + 16 * 32 * 32)
    assert g.g.has_edge("attn.out_proj", "add") and g.g.has_edge("norm", "attn_1.in_proj")
    np.testing.assert_array_equal(g.op("attn.out_proj").weight[0],
                                  mha.out_proj.weight.detach().numpy().T)
    r = simulate(prune(g, "2:4"), "sat-vcu1525")
    assert r.check == "passed" and "against the torch module" in r.counters["check_scope"]


def test_weight_chains_bias_add_conv1d_and_transposed_conv():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(16, 8))
            i, j = torch.meshgrid(torch.arange(16), torch.arange(8), indexing="ij")
            self.register_buffer("mask", (i % 4 == j % 4).float())  # 1:4 along k
            self.b = nn.Parameter(torch.randn(8))
            self.c1 = nn.Conv1d(1, 4, 5, padding="same", padding_mode="reflect")
            self.up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)

        def forward(self, x):
            y = x @ (self.w * self.mask) + self.b  # masked weight: 1:4 along k; bias add
            z = self.c1(y.reshape(-1, 1, 8))
            return self.up(z.reshape(-1, 4, 2, 4))

    torch.manual_seed(6)
    g = load(Net(), example_inputs=torch.randn(4, 16))
    mm = g.op("matmul")
    assert isinstance(mm, GemmOp) and mm.sparsity == NMPattern(1, 4) and mm.density == 0.25
    assert mm.bias and g.meta["folded"] == {"add": "matmul"}
    c1 = g.op("c1")
    assert (c1.kernel, c1.pads, c1.in_hw, c1.k, c1.n) == ((1, 5), (0, 2, 0, 2), (1, 8), 5, 4)
    up = g.op("up")
    assert up.transposed and (up.k, up.n, up.m, up.out_hw) == (4, 18, 4 * 2 * 4, (4, 8))
    res = check_torch_network(g, engine_gemm_fn(map_graph(g, "sat-vcu1525")))
    assert res["layers_checked"] == 3 and res["max_rel_error"] < 1e-5


def test_torch_pruning_and_parametrizations_give_their_real_zeros():
    import torch.nn.utils.parametrize as parametrize
    import torch.nn.utils.prune as torch_prune

    class EvenColumns(nn.Module):
        def forward(self, w):
            return w * (torch.arange(w.shape[1]) % 2 == 0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(16, 16), nn.Linear(16, 8), nn.Linear(16, 16)
            self.pos = nn.Parameter(torch.randn(16))

        def forward(self, x):
            return self.b(self.a(x) + self.c(self.pos))  # c(pos) is a constant: a's bias

    torch.manual_seed(11)
    net = Net()
    torch_prune.l1_unstructured(net.a, "weight", amount=0.5)
    parametrize.register_parametrization(net.b, "weight", EvenColumns())
    g = load(net, example_inputs=torch.randn(4, 16))
    assert [o.name for o in g.ops()] == ["a", "b"] and g.meta["folded"] == {"add": "a"}
    assert g.op("a").sparsity == Unstructured(0.5) and g.op("b").sparsity == NMPattern(1, 2)
    assert g.op("b").op_type == "Linear"  # the parametrized class maps as its base
    r = simulate(g, "sat-vcu1525")
    assert r.check == "passed" and r.counters["check_layers"] == 2


def test_unsupported_operators_name_the_op_and_node_and_passthrough_frees_them():
    class Net(nn.Module):
        def forward(self, x):
            return torch.cumprod(x, 1) + 1

    with pytest.raises(UnsupportedOperatorError,
                       match=r"'cumprod' \(node 'cumprod'\).*passthrough.*Conv2d, .*matmul"):
        load(Net(), example_inputs=torch.randn(2, 3))
    g = load(Net(), example_inputs=torch.randn(2, 3), passthrough=("cumprod",))
    assert isinstance(g.op("cumprod"), DataOp) and g.op("cumprod").free
    with pytest.raises(UnsupportedOperatorError, match=r"'Conv3d' \(node 'c'\)"):
        load(nn.Sequential(OrderedDict(c=nn.Conv3d(1, 1, 1))),
             example_inputs=torch.randn(1, 1, 2, 2, 2))

    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(UnsupportedOperatorError, match="torch.fx cannot trace Branchy"):
        load(Branchy(), example_inputs=torch.randn(2))


def test_names_are_module_paths_and_stable_across_instances_and_loads():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(MLP(8, 16, 8) for _ in range(2))
            self.shared = nn.Linear(8, 8)

        def forward(self, x):
            for blk in self.blocks:
                x = self.shared(blk(x))
            return x + self.shared(x)

    torch.manual_seed(7)
    x = torch.randn(2, 8)
    names = [[o.name for o in load(Net(), example_inputs=x).ops()] for _ in range(2)]
    assert names[0] == names[1]
    assert names[0][:3] == ["blocks.0.fc1", "relu", "blocks.0.drop"]
    assert [n for n in names[0] if n.startswith("shared")] == ["shared", "shared_1", "shared_2"]
    assert "blocks.1.head" in names[0] and "add_2" in names[0]


def test_load_restores_training_mode_and_running_stats():
    torch.manual_seed(8)
    mod = CNN().train()
    before = mod.bn1.running_mean.clone()
    g = load(mod, example_inputs=torch.randn(2, 3, 12, 16))
    assert mod.training and mod.bn1.training
    assert torch.equal(mod.bn1.running_mean, before)
    assert g.meta["front_end"] == "torch" and isinstance(g.op("stem"), ConvOp)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_models_keep_their_dtype_and_pass_the_check(dtype):
    torch.manual_seed(10)
    mod = MLP(32, 64, 16).to(getattr(torch, dtype))
    g = load(mod, example_inputs=torch.randn(8, 32, dtype=getattr(torch, dtype)))
    assert {o.dtype for o in g.ops()} == {dtype} and g.op("fc1").elem_bytes == 2
    assert g.g.edges["fc1", "relu"]["bytes"] == 8 * 64 * 2
    r = simulate(prune(g, "2:4"), "sat-vcu1525")
    assert r.check == "passed" and r.counters["check_layers"] == 3


def test_load_options_are_validated():
    with pytest.raises(ConfigError, match="example_inputs"):
        load(MLP(8, 8, 8))
    with pytest.raises(ConfigError, match="example_inputs applies to a torch.nn.Module"):
        load("resnet18", example_inputs=torch.randn(1))
    with pytest.raises(ConfigError, match=r"example_inputs\[0\] must be a torch.Tensor"):
        load(MLP(8, 8, 8), example_inputs=([1.0] * 8,))
    with pytest.raises(ShapeError, match=r"running MLP on example_inputs failed: .*mat1"):
        load(MLP(8, 8, 8), example_inputs=torch.randn(2, 7))
    g = load(MLP(8, 8, 8), example_inputs=torch.randn(2, 8))
    assert all(isinstance(o.sparsity, Dense) for o in g.gemm_ops())


class Catalogue(nn.Module):
    """One of each operator family: activations, norms, pools, data movement, functional
    GEMMs with parameter weights, act×act bmm, reductions, an embedding lookup."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.acts = nn.Sequential(nn.Hardsigmoid(), nn.LeakyReLU(0.1), nn.Tanh(), nn.Sigmoid(),
                                  nn.Hardswish(), nn.GELU(), nn.SiLU(), nn.ReLU(), nn.Identity())
        self.ln = nn.LayerNorm(16)
        self.w = nn.Parameter(torch.randn(24, 16))
        self.g = nn.Parameter(torch.ones(24))
        self.k = nn.Parameter(torch.randn(8, 2, 3, 3))
        self.bn = nn.BatchNorm1d(24)
        self.avg, self.gap = nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)
        self.sm, self.drop = nn.Softmax(dim=-1), nn.Dropout(0.2)

    def forward(self, tokens, img):
        x = self.ln(self.acts(self.emb(tokens)))  # (B, L, 16)
        b, n = tokens.size(0), tokens.shape[1]
        h = F.linear(x, self.w)  # (B, L, 24)
        h = F.layer_norm(h, (24,), self.g) - h.mean(dim=-1, keepdim=True)
        h = self.bn(h.transpose(1, 2)).permute(0, 2, 1).contiguous()
        a, c = h.split(12, dim=-1)
        s = self.sm(torch.bmm(a, c.transpose(1, 2)) / 4.0)  # act×act
        y = torch.cat([torch.bmm(s, c), a * 2.0], dim=-1).view(b, n, 4, 6).sum(dim=2)
        z = F.conv2d(img, self.k, padding=1, groups=2)
        z = self.gap(self.avg(F.relu(z))).flatten(1)
        q = torch.cat(z.chunk(2, dim=1), dim=1)
        return self.drop(F.softmax(y, dim=-1)), F.gelu(q)


def test_operator_catalogue_maps_with_documented_costs_and_checks():
    from mapper.frontends._torch_ops import TORCH_COST
    from mapper.frontends.onnx import VECTOR_COST

    torch.manual_seed(9)
    mod = Catalogue()
    _randomize_bn(mod)
    tokens, img = torch.randint(0, 50, (2, 6)), torch.randn(2, 4, 8, 8)
    g = load(mod, example_inputs=(tokens, img))
    ops = {o.name: o for o in g.ops()}
    assert g.inputs == {"tokens": ((2, 6), "int64"), "img": ((2, 4, 8, 8), "float32")}
    # costs are the ONNX front end's, for the operator an exporter emits
    acts = {"acts.0": "HardSigmoid", "acts.1": "LeakyRelu", "acts.2": "Tanh",
            "acts.3": "Sigmoid", "acts.4": "HardSwish", "acts.5": "Gelu", "acts.7": "Relu"}
    for name, onnx_op in acts.items():
        assert ops[name].ops_per_element == VECTOR_COST[onnx_op][1] and ops[name].elements == 192
    assert ops["acts.6"].ops_per_element == VECTOR_COST["Sigmoid"][1] + 1  # SiLU
    assert ops["ln"].category == ops["layer_norm"].category == "norm"
    assert ops["sm"].ops_per_element == ops["softmax"].ops_per_element == \
        TORCH_COST["softmax"][1]
    assert ops["mean"].category == "reduce" and ops["mean"].ops_per_element == 24
    assert ops["sum_1"].ops_per_element == 4 and ops["bn"].ops_per_element == 2  # not folded
    assert ops["avg"].ops_per_element == 4 and ops["gap"].ops_per_element == 16
    free = {n for n, o in ops.items() if isinstance(o, DataOp) and o.free}
    copies = {n for n, o in ops.items() if isinstance(o, DataOp) and not o.free}
    assert {"acts.8", "contiguous", "view", "flatten", "drop"} <= free
    assert {"emb", "transpose", "permute", "split", "cat", "chunk", "cat_1"} <= copies
    assert ops["emb"].bytes == 2 * 6 * 16 * 4
    assert not any(n.startswith(("size", "getattr", "getitem")) for n in ops)  # sizes, parts
    assert (ops["linear"].m, ops["linear"].k, ops["linear"].n) == (12, 16, 24)
    bmm, bmm1 = ops["bmm"], ops["bmm_1"]
    assert isinstance(bmm, MatMulOp) and (bmm.batch, bmm.m, bmm.k, bmm.n) == (2, 6, 12, 6)
    assert (bmm1.batch, bmm1.m, bmm1.k, bmm1.n) == (2, 6, 6, 12)
    conv = ops["conv2d"]
    assert isinstance(conv, ConvOp) and (conv.groups, conv.k, conv.n, conv.m) == (2, 18, 4, 128)
    # split's parts are edges from the split op itself
    assert g.g.has_edge("split", "bmm") and g.g.has_edge("split", "mul")
    res = check_torch_network(g, engine_gemm_fn(map_graph(g, "sat-vcu1525")))
    assert res["layers_checked"] == 2 and res["max_rel_error"] < 1e-4
    assert simulate(g, "sat-vcu1525").check == "passed"
