"""ONNX networks end to end: mapped, simulated in one run, checked through the engines."""

from pathlib import Path

import mapper_onnx_cases as cases
import numpy as np
import pytest

from hwsim.errors import CheckFailedError
from mapper.api import load, prune, simulate

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "onnx"


@pytest.mark.parametrize("case", ["mlp", "convnet", "transformer", "quantized"])
def test_pruned_models_pass_the_end_to_end_check(case):
    g = prune(load(getattr(cases, case)(), dims={"batch": 2, "sequence": 8}), "2:4")
    r = simulate(g, "sat-vcu1525")
    assert r.check == "passed"
    assert r.counters["check_layers"] == len(g.gemm_ops()) or r.counters["check_layers"] >= 1
    assert r.counters["check_max_abs_error"] < 1e-3


def test_a_wrong_engine_output_names_the_first_layer(monkeypatch):
    from hwsim.engines import pe_array

    real = pe_array.PeArrayEngine.compute

    def off_by_one(self, work, arch, name):
        out = np.array(real(self, work, arch, name), dtype=np.float64)
        out[0, 0] += 1.0
        return out

    monkeypatch.setattr(pe_array.PeArrayEngine, "compute", off_by_one)
    g = prune(load(cases.mlp(), dims={"batch": 2}), "2:4")
    first = g.gemm_ops()[0].name
    with pytest.raises(CheckFailedError, match=rf"{first}"):
        simulate(g, "sat-vcu1525")


def test_transformer_pruned_2_4_is_faster_on_sat():
    g = load(cases.transformer(d=256, heads=4, ff=1024), dims={"batch": 1, "sequence": 128})
    dense = simulate(prune(g, "dense"), "sat-vcu1525", check=False)
    sparse = simulate(prune(g, "2:4"), "sat-vcu1525", check=False)
    gd = dense.table[dense.table["kind"] == "gemm"]["compute_cycles"].sum()
    gs = sparse.table[sparse.table["kind"] == "gemm"]["compute_cycles"].sum()
    assert gd > 0.4 * dense.table["compute_cycles"].sum()  # the weight GEMMs weigh most
    assert gd / gs > 1.5  # 2:4 halves their steps on 2:8 hardware (one step per group)
    assert sparse.cycles < 0.85 * dense.cycles


def test_mobilenetv3_maps_dense_and_2_4_with_a_layer_table():
    g = load(SHARED / "mobilenetv3_cls.onnx", input_shapes={"x": (1, 3, 48, 192)})
    dense = simulate(prune(g, "dense"), "sat-vcu1525", check=False)
    sparse = simulate(prune(g, "2:4"), "sat-vcu1525", check=False)
    assert len(dense.table) == len(sparse.table) > 50
    assert set(dense.table["op"]) >= {"Conv"}
    assert dense.dense_macs == sparse.dense_macs == g.total_macs()
    assert sparse.cycles < dense.cycles
    convs = sparse.table[sparse.table["op"] == "Conv"]
    assert (convs["sparsity"] == "2:4").any()
