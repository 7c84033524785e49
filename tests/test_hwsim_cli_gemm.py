"""Tests for ``hwsim gemm`` (runs the real systolic / PE-array engines when present)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwsim.cli import main

KEYS = {
    "cycles", "compute_cycles", "stall_cycles", "seconds", "wall_seconds", "dense_macs",
    "performed_macs", "utilization", "dram_read_bytes", "dram_write_bytes", "energy_pj",
    "events", "check", "seed", "arch_hash", "schema_version", "hwsim_version", "params",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _needs_systolic():
    pytest.importorskip("hwsim.engines.systolic")


def test_json_keys(capsys):
    argv = ["gemm", "--arch", "dense-systolic", "--m", "64", "--k", "96", "--n", "48", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert KEYS <= set(doc)
    assert doc["check"] == "passed" and doc["dense_macs"] == 64 * 96 * 48
    assert doc["cycles"] == doc["compute_cycles"] + doc["stall_cycles"]
    assert doc["params"]["dataflow"] == "os"


def test_text_output(capsys):
    argv = ["gemm", "--arch", "dense-systolic", "--m", "8", "--k", "8", "--n", "8", "--no-check"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for key in ("cycles", "stall_cycles", "utilization", "arch_hash", "check_reason"):
        assert key in out
    assert "skipped" in out


def test_options(capsys):
    argv = [
        "gemm", "--arch", "dense-systolic", "--m", "32", "--k", "64", "--n", "32",
        "--dataflow", "ws", "--array", "16x8", "--batch", "2", "--seed", "5",
        "--sparsity", "2:8", "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["params"]["array"] == [16, 8] and doc["params"]["batch"] == 2
    assert doc["dense_macs"] == 64 * 64 * 32 and doc["seed"] == 5


def test_sat_pe_array(capsys):
    pytest.importorskip("hwsim.engines.pe_array")
    argv = ["gemm", "--arch", "sat-vcu1525", "--m", "64", "--k", "128", "--n", "64"]
    assert main([*argv, "--sparsity", "2:8", "--json"]) == 0
    sparse = json.loads(capsys.readouterr().out)
    assert main([*argv, "--json"]) == 0
    dense = json.loads(capsys.readouterr().out)
    assert sparse["check"] == dense["check"] == "passed"
    assert sparse["performed_macs"] < dense["performed_macs"]


def test_trace_written(tmp_path, capsys):
    path = tmp_path / "t.json"
    argv = ["gemm", "--arch", "dense-systolic", "--m", "16", "--k", "16", "--n", "16"]
    assert main([*argv, "--trace", str(path)]) == 0
    doc = json.loads(path.read_text())
    assert any(e["ph"] == "X" for e in doc["traceEvents"])
    assert str(path) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--m", "0", "--k", "4", "--n", "4"], "ShapeError: m must be an integer >= 1, got 0"),
        (["--m", "4", "--k", "4", "--n", "4", "--engine", "tpu"], "ConfigError: no engine 'tpu'"),
        (
            ["--m", "4", "--k", "4", "--n", "4", "--sparsity", "3:2"],
            "SparsityParseError: invalid sparsity '3:2': n must be an integer in 1..m (=2), not 3",
        ),
        (
            ["--m", "4", "--k", "4", "--n", "4", "--array", "axb"],
            "ConfigError: array must look like RxC",
        ),
        # used to be numpy's "expected non-negative integer", naming no option
        (
            ["--m", "4", "--k", "4", "--n", "4", "--seed=-1"],
            "ValueError: seed must be a non-negative integer, not -1",
        ),
        # used to run dense training silently
        (
            ["--m", "4", "--k", "8", "--n", "4", "--training", "--sparsity", "block:2x2:0.5"],
            "ConfigError: training (BDWP) needs dense or N:M sparsity, not 'block:2x2:0.5'",
        ),
        # used to print a traceback, then a raw MemoryError: the weight must fit in memory
        (
            ["--m", "1", "--k", "100000000", "--n", "100000000", "--no-check"],
            "ShapeError: k*n = 100000000*100000000 = 10000000000000000 weight elements exceed",
        ),
    ],
)
def test_errors_one_line_exit_1(extra, match, capsys, tmp_path):
    trace = tmp_path / "t.json"
    assert main(["gemm", "--arch", "dense-systolic", *extra, "--trace", str(trace)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hwsim: error: ") and match in err
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_unknown_arch(capsys):
    assert main(["gemm", "--arch", "nope", "--m", "4", "--k", "4", "--n", "4"]) == 1
    assert "unknown architecture preset 'nope'" in capsys.readouterr().err


ALL_KEYS = KEYS | {
    "wall_seconds", "check_reason", "num_tiles", "dsp", "lut", "bram_kb",
    "macs_per_cycle_per_dsp", "check_wall_seconds",
}  # fmt: skip


def test_every_flag_and_key(tmp_path, capsys):
    pytest.importorskip("hwsim.engines.pe_array")
    trace = tmp_path / "t.json"
    argv = [
        "gemm", "--arch", "sat-vcu1525", "--m", "16", "--k", "64", "--n", "32",
        "--sparsity", "2:8", "--precision", "int8", "--engine", "pe_array", "--dataflow", "ws",
        "--array", "8x8", "--batch", "2", "--check", "--seed", "9", "--trace", str(trace),
        "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert ALL_KEYS <= set(doc)
    assert doc["cycles"] == doc["compute_cycles"] + doc["stall_cycles"]
    assert doc["seconds"] == pytest.approx(doc["cycles"] / 200e6)
    assert doc["utilization"] == pytest.approx(
        doc["performed_macs"] / (doc["multipliers"] * doc["cycles"])
    )
    assert doc["multipliers"] == 8 * 8 * 2 and doc["dsp"] == 8 * 8 // 4 * 8
    p = doc["params"]
    # int8: the 8-bit SAT datapath refuses int16 (tests/test_fidelity_defects.py)
    assert (p["precision"], p["dataflow"], p["array"], p["batch"]) == ("int8", "ws", [8, 8], 2)
    assert doc["check"] == "passed" and doc["seed"] == 9 and doc["dense_macs"] == 32 * 64 * 32
    events = json.loads(trace.read_text())["traceEvents"]
    cats = {e.get("cat") for e in events if e["ph"] == "X"}
    assert {"compute", "read", "write"} <= cats  # loads, computes, stores
    assert any(e["ph"] == "M" and e["args"]["name"].startswith("dram ch") for e in events)


@pytest.mark.parametrize(
    ("arch", "sparsity"),
    [("flightllm-u280", "block:8x8:0.5"), ("dense-systolic", "unstructured:0.3"),
     ("flightllm-u280", "dense")],
)
def test_sparsity_kinds(arch, sparsity, capsys):
    argv = ["gemm", "--arch", arch, "--m", "8", "--k", "64", "--n", "32", "--sparsity", sparsity]
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["check"] == "passed" and doc["params"]["sparsity"]


def test_training_flag(capsys):
    pytest.importorskip("hwsim.training")
    argv = ["gemm", "--arch", "sat-vcu1525", "--m", "16", "--k", "64", "--n", "32",
            "--sparsity", "2:8", "--training", "--json"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "training" and doc["check"] == "passed"
    assert doc["cycles"] == doc["compute_cycles"] + doc["stall_cycles"]
    assert {"ff_cycles", "bp_cycles", "wu_cycles", "pregen_cycles"} <= set(doc)


def test_no_check_skipped_and_large_operands_still_checked(capsys, monkeypatch):
    argv = ["gemm", "--arch", "dense-systolic", "--m", "8", "--k", "8", "--n", "8", "--json"]
    assert main([*argv, "--no-check"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["check"] == "skipped" and "disabled" in doc["check_reason"]
    assert doc["check_scope"] is None
    import hwsim.gemm as gemm_mod

    # the tile walk draws only the checked tiles' activation rows: no whole-operand limit
    monkeypatch.setattr(gemm_mod, "CHECK_ELEMENT_LIMIT", 10)
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["check"] == "passed" and doc["check_scope"].startswith("sampled")


@pytest.mark.parametrize(
    ("arch", "module", "cls"),
    [("sat-vcu1525", "hwsim.engines.pe_array", "PeArrayEngine"),
     ("flightllm-u280", "hwsim.engines.dsp_chain", "DspChainEngine"),
     ("dense-systolic", "hwsim.engines.systolic", "SystolicEngine")],
)
def test_functional_mismatch_fails_the_run(arch, module, cls, monkeypatch, capsys):
    """A wrong engine output is a CheckFailedError: one line on stderr, exit status 1."""
    import importlib

    engine = getattr(importlib.import_module(module), cls)
    real = engine.execute_tile

    def wrong(self, work, a, name, plan, i, act, cols=None):
        out, counts = real(self, work, a, name, plan, i, act, cols)
        out = np.array(out, dtype=np.float64)
        if i == 0:
            out[0, 0] += 1
        return out, counts

    monkeypatch.setattr(engine, "execute_tile", wrong)
    argv = ["gemm", "--arch", arch, "--m", "8", "--k", "64", "--n", "16", "--sparsity", "2:8"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CheckFailedError" in err and "at [0, 0]" in err
    assert main([*argv, "--no-check"]) == 0  # the check, not the timing, failed


def test_training_trace_holds_the_three_gemms_in_sequence(tmp_path, capsys):
    path = tmp_path / "train.json"
    args = ["gemm", "--arch", "sat-vcu1525", "--m", "64", "--k", "64", "--n", "64",
            "--sparsity", "2:8", "--training", "--trace", str(path), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    events = [e for e in json.loads(path.read_text())["traceEvents"] if e["ph"] == "X"]
    computes = [e for e in events if e.get("cat") == "compute"]
    names = {"ff": "layer/fwd", "bp": "layer/bwd_data", "wu": "layer/wgrad"}
    by_gemm = {g: [e for e in computes if e["name"].startswith(f"{t}: ")] for g, t in names.items()}
    assert all(by_gemm.values())
    # the vector unit's pre-generation has its own track
    assert any(e["name"].startswith("layer/pregen: ") for e in computes)
    # forward, backward-data, weight update run one after the other
    assert max(e["ts"] + e["dur"] for e in by_gemm["ff"]) <= min(e["ts"] for e in by_gemm["bp"])
    # (trace times are float microseconds: equal cycle times may differ in the last bit)
    assert max(e["ts"] + e["dur"] for e in by_gemm["bp"]) <= min(e["ts"] for e in by_gemm["wu"]) + 1e-9
    end_us = max(e["ts"] + e["dur"] for e in events)
    assert end_us <= out["seconds"] * 1e6 + 1e-6
