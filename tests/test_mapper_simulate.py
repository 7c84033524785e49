"""Whole-network runs: one SimPy run per network (contract 8), residency, mapping, training."""

import json

import numpy as np
import pytest

from hwsim.arch import Architecture, load_arch
from hwsim.errors import CheckFailedError, ConfigError
from hwsim.gemm import simulate_gemm
from hwsim.sparsity import parse_sparsity
from mapper.assign import load_mapping
from mapper.graph import GemmOp, OpGraph, VectorOp
from mapper.simulate import map_graph, simulate_network


def mlp(sp="2:8", m=128, k=768, h=3072, side=False):
    """fc1 -> gelu -> fc2 (and, optionally, an independent vector op on the input)."""
    s = parse_sparsity(sp)
    g = OpGraph("mlp")
    g.add(GemmOp("fc1", "gemm", inputs=("x",), outputs=("h",), m=m, k=k, n=h, sparsity=s))
    g.add(VectorOp("gelu", "gelu", inputs=("h",), outputs=("a",), elements=m * h,
                   ops_per_element=8))
    g.add(GemmOp("fc2", "gemm", inputs=("a",), outputs=("y",), m=m, k=h, n=k, sparsity=s))
    g.connect("fc1", "gelu", "h", m * h * 4)
    g.connect("gelu", "fc2", "a", m * h * 4)
    if side:
        g.add(VectorOp("side", "relu", inputs=("x",), outputs=("z",), elements=m * k * 64))
    return g


@pytest.fixture(scope="module")
def sparse_run():
    return simulate_network(mlp(), "sat-vcu1525", check=False)


def test_one_run_is_shorter_than_separate_runs_and_not_shorter_than_the_engine(sparse_run):
    r = sparse_run
    t = r.table.set_index("name")
    separate = sum(simulate_gemm("sat-vcu1525", 128, kk, nn, sparsity="2:8", check=False).cycles
                   for kk, nn in ((768, 3072), (3072, 768)))
    gemm_busy = int(t.loc[["fc1", "fc2"], "compute_cycles"].sum())
    # fc2's weights load while gelu runs: the network is shorter than the GEMMs run apart
    # plus the vector op, and never shorter than what the engines compute in sequence
    assert gemm_busy + int(t.loc["gelu", "compute_cycles"]) <= r.cycles
    assert r.cycles < separate + int(t.loc["gelu", "cycles"])
    assert list(t.index) == ["fc1", "gelu", "fc2"]
    assert (t["start"].diff().dropna() > 0).all()  # dependencies: in order


def test_independent_ops_on_different_engines_overlap():
    r = simulate_network(mlp(side=True), "sat-vcu1525", check=False)
    t = r.table.set_index("name")
    assert t.loc["side", "start"] < t.loc["fc1", "end"]  # vector unit busy while the array is
    assert r.compute_cycles < int(t["compute_cycles"].sum())  # busy union, not a sum


def test_intermediate_activations_stay_on_chip_or_spill(sparse_run):
    t = sparse_run.table.set_index("name")
    # on SAT (10 MB of buffers) h and a stay on chip: fc1 writes nothing, gelu moves nothing
    assert t.loc["fc1", "dram_write_bytes"] == 0 and bool(t.loc["fc1", "output_on_chip"])
    assert t.loc["gelu", "dram_read_bytes"] == 0 and t.loc["gelu", "dram_write_bytes"] == 0
    assert t.loc["fc2", "dram_write_bytes"] == 128 * 768  # graph output leaves the chip
    small = load_arch("sat-vcu1525").to_dict()
    for b in small["buffers"].values():
        b["capacity_bytes"] = 128 * 1024
    r = simulate_network(mlp(), Architecture.from_dict(small), check=False)
    s = r.table.set_index("name")
    assert not bool(s.loc["fc1", "output_on_chip"])
    assert s.loc["fc1", "dram_write_bytes"] == 128 * 3072  # h spilled at int8
    assert s.loc["gelu", "dram_read_bytes"] == 128 * 3072
    assert r.counters["spilled_tensors"] >= 1
    assert r.dram_read_bytes > sparse_run.dram_read_bytes


def test_dense_vs_sparse_speedup_comes_from_the_engine():
    dense = simulate_network(mlp("dense"), "sat-vcu1525", check=False)
    sparse = simulate_network(mlp("2:8"), "sat-vcu1525", check=False)
    d, s = dense.table.set_index("name"), sparse.table.set_index("name")
    assert d.loc["fc1", "compute_cycles"] / s.loc["fc1", "compute_cycles"] > 3.5
    assert d.loc["gelu", "compute_cycles"] == s.loc["gelu", "compute_cycles"]
    assert 1.5 < dense.cycles / sparse.cycles < 4.0


def test_identical_ops_are_planned_once():
    g = OpGraph("twins")
    prev = None
    for i in range(6):
        g.add(GemmOp(f"l{i}", "gemm", m=64, k=256, n=256, sparsity=parse_sparsity("2:8")))
        if prev:
            g.connect(prev, f"l{i}", f"t{i}", 64 * 256)
        prev = f"l{i}"
    mp = map_graph(g, "sat-vcu1525", check=False)
    assert mp.info["unique_plans"] == 1 and mp.info["planned_ops"] == 6


def test_training_expands_layers_backward_in_reverse():
    r = simulate_network(mlp(), "sat-vcu1525", training=True, check=False)
    names = list(r.table["name"])
    assert names[:3] == ["fc1/fwd", "gelu/fwd", "fc2/fwd"]
    back = [n for n in names[3:] if not n.endswith("/pregen")]
    assert back == ["fc2/bwd_data", "fc2/wgrad", "gelu/bwd", "fc1/bwd_data", "fc1/wgrad"]
    t = r.table.set_index("name")
    assert t.loc["fc1/bwd_data", "start"] >= t.loc["gelu/bwd", "end"] - 1
    inf = simulate_network(mlp(), "sat-vcu1525", check=False)
    assert r.cycles > 2 * inf.cycles


def test_check_names_the_op(monkeypatch):
    from hwsim.engines import pe_array

    real = pe_array.PeArrayEngine.execute_tile

    def wrong(self, *args, **kwargs):
        out, counts = real(self, *args, **kwargs)
        out = np.array(out, dtype=np.int64)
        out[0, 0] += 1
        return out, counts

    monkeypatch.setattr(pe_array.PeArrayEngine, "execute_tile", wrong)
    with pytest.raises(CheckFailedError, match=r"op 'fc1' \(gemm\)"):
        simulate_network(mlp(m=16, k=64, h=32), "sat-vcu1525")


def test_mapping_rules_are_validated(tmp_path):
    f = tmp_path / "map.yaml"
    f.write_text("rules:\n  - {op_type: gemm, engine: nope}\n")
    with pytest.raises(ConfigError, match="engine 'nope'"):
        simulate_network(mlp(), "sat-vcu1525", mapping=f, check=False)
    f.write_text("rules:\n  - {name: 'fc*', engine: vector}\n")
    with pytest.raises(ConfigError, match="cannot run it"):
        simulate_network(mlp(), "sat-vcu1525", mapping=f, check=False)
    f.write_text("rules:\n  - {name: 'fc*', enigne: vector}\n")
    with pytest.raises(ConfigError, match=r"rules\[0\].*unknown keys \['enigne'\]"):
        load_mapping(f)


def test_mapping_moves_a_layer_to_another_engine():
    d = load_arch("sat-vcu1525").to_dict()
    d["engines"]["sys"] = {"kind": "systolic", "rows": 16, "cols": 16}
    arch = Architecture.from_dict(d)
    r = simulate_network(mlp(), arch, mapping={"rules": [{"name": "fc2", "engine": "sys"}]},
                         check=False)
    t = r.table.set_index("name")
    assert t.loc["fc1", "engine"] == "pe_array" and t.loc["fc2", "engine"] == "sys"


def test_cli_run_json_and_errors(tmp_path, capsys, monkeypatch):
    from hwsim.cli import main

    assert main(["run", "--arch", "sat-vcu1525", "--model", "no-such-net"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-net" in err
    with pytest.raises(SystemExit) as exc:
        main(["run", "--arch", "sat-vcu1525", "--model", "x.onnx", "--dim", "batch"])
    assert exc.value.code == 2
    capsys.readouterr()
    import mapper.api as api

    monkeypatch.setattr(api, "load", lambda *a, **k: mlp(m=32, k=64, h=64))
    trace = tmp_path / "t.json"
    assert main(["run", "--arch", "sat-vcu1525", "--model", "mlp", "--json",
                 "--trace", str(trace)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [x["name"] for x in out["layers"]] == ["fc1", "gelu", "fc2"]
    for key in ("name", "op", "engine", "cycles", "compute_cycles", "stall_cycles",
                "dense_macs", "performed_macs", "utilization", "dram_read_bytes",
                "dram_write_bytes", "energy_pj", "bound"):
        assert key in out["layers"][0]
    assert out["kind"] == "network" and out["check"] == "passed"
    ev = json.loads(trace.read_text())["traceEvents"]
    assert any(e.get("name", "").startswith("fc2: compute") for e in ev)
    assert any(e.get("args", {}).get("name") == "engine vector" for e in ev)


def test_cli_run_output_paths_are_usage_errors_before_running(capsys, tmp_path):
    from hwsim.cli import main

    for flag in ("--trace", "--csv", "--parquet"):
        with pytest.raises(SystemExit) as exc:
            main(["run", "--arch", "sat-vcu1525", "--model", "resnet18", flag,
                  str(tmp_path / "missing" / "x")])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "does not exist" in err
    assert not (tmp_path / "missing").exists()


def test_mapping_file_refuses_duplicate_keys_and_cli_names_unbound_onnx_dims(tmp_path, capsys):
    from pathlib import Path

    from hwsim.cli import main

    f = tmp_path / "map.yaml"
    f.write_text("rules: [{name: fc1, engine: pe_array}]\nrules: []\n")
    with pytest.raises(ConfigError, match="duplicate key 'rules' on lines 1 and 2"):
        load_mapping(f)
    onnx_file = Path(__file__).resolve().parents[1].parent / "shared/data/onnx/mobilenetv3_cls.onnx"
    assert main(["run", "--arch", "sat-vcu1525", "--model", str(onnx_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--input-shape x=" in err


def test_cli_run_check_modes(capsys):
    from hwsim.cli import main

    scopes = {}
    for flags in ([], ["--check", "full"], ["--no-check"]):
        assert main(["run", "--arch", "sat-vcu1525", "--model", "mobilenet-v1", "--json",
                     *flags]) == 0
        out = json.loads(capsys.readouterr().out)
        scopes[" ".join(flags)] = (out["check"], out.get("check_scope"))
    assert scopes[""][0] == "passed" and scopes[""][1].startswith("sampled")
    assert scopes["--check full"][0] == "passed" and scopes["--check full"][1].startswith("full")
    assert scopes["--no-check"][0] == "skipped"
