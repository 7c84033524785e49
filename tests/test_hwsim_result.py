"""Tests for hwsim.result: the shared typed result and its serialisation."""

import json

import pytest

from hwsim import SCHEMA_VERSION, RunResult, __version__


def _result(**kw):
    base = dict(
        kind="gemm",
        engine="pe_array",
        arch="sat-vcu1525",
        arch_hash="abc123",
        cycles=110,
        compute_cycles=100,
        stall_cycles=10,
        seconds=1.1e-6,
        wall_seconds=0.01,
        dense_macs=1000,
        performed_macs=250,
        utilization=0.5,
        dram_read_bytes=64,
        dram_write_bytes=32,
        check="passed",
        seed=3,
        counters={"hash_probes": 7},
        params={"m": 10, "sparsity": "2:8"},
    )
    base.update(kw)
    return RunResult(**base)


def test_to_dict_flattens_counters_and_keeps_params():
    d = _result().to_dict()
    assert d["hash_probes"] == 7
    assert d["params"] == {"m": 10, "sparsity": "2:8"}
    assert d["cycles"] == d["compute_cycles"] + d["stall_cycles"]
    assert "table" not in d and "counters" not in d


def test_json_carries_schema_and_tool_version(tmp_path):
    path = tmp_path / "r.json"
    text = _result().to_json(path)
    loaded = json.loads(path.read_text())
    assert loaded == json.loads(text)
    assert loaded["schema_version"] == SCHEMA_VERSION
    assert loaded["hwsim_version"] == __version__
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file


def test_csv_and_parquet_round_trip(tmp_path):
    import pandas as pd

    r = _result()
    r.to_csv(tmp_path / "r.csv")
    r.to_parquet(tmp_path / "r.parquet")
    assert pd.read_csv(tmp_path / "r.csv")["cycles"].tolist() == [110]
    assert pd.read_parquet(tmp_path / "r.parquet")["hash_probes"].tolist() == [7]


def test_cycles_must_add_up():
    with pytest.raises(ValueError, match=r"cycles \(111\) must equal compute_cycles \(100\)"):
        _result(cycles=111)


def test_check_state_is_validated():
    with pytest.raises(ValueError, match="check must be one of"):
        _result(check="ok")


def test_counters_may_not_shadow_fields():
    with pytest.raises(ValueError, match="counters may not shadow result fields"):
        _result(counters={"cycles": 1})
