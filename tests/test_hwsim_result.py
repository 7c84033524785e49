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


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    import sys

    from hwsim.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes the import fail
    with pytest.raises(MissingExtraError, match=r"pip install 'hwsim\[sweep\]'"):
        _result().to_parquet(tmp_path / "r.parquet")
    assert list(tmp_path.iterdir()) == []


def test_from_stats_takes_timing_and_dram_from_the_run():
    import time
    from types import SimpleNamespace

    from hwsim.arch import load_arch

    arch = load_arch("sat-vcu1525")
    stats = SimpleNamespace(cycles=250, compute_cycles=200, stall_cycles=50,
                            dram_read_bytes=4096, dram_write_bytes=512, events=17)
    started = time.perf_counter()
    r = RunResult.from_stats(arch=arch, stats=stats, started=started, kind="gemm",
                             engine="pe_array", dense_macs=10, performed_macs=5, utilization=0.1)
    assert (r.arch, r.arch_hash) == ("sat-vcu1525", arch.hash())
    assert (r.cycles, r.compute_cycles, r.stall_cycles) == (250, 200, 50)
    assert (r.dram_read_bytes, r.dram_write_bytes, r.events) == (4096, 512, 17)
    assert r.seconds == pytest.approx(250 / (arch.clock_mhz * 1e6))
    assert 0 <= r.wall_seconds <= time.perf_counter() - started


@pytest.mark.parametrize("payload", [
    {}, {"a": 1}, {"layers": []}, {"layers": [{"x": 1}, {"y": [1, 2.5]}]},
    {"a": {"b": 2}, "layers": [{"name": "l\"1", "v": None}], "z": "end"},
])
def test_json_text_round_trips_with_a_layer_per_line(payload):
    from hwsim.result import json_text

    text = json_text(payload)
    assert json.loads(text) == payload
    lines = [line.strip().rstrip(",") for line in text.splitlines()]
    for row in payload.get("layers") or []:  # each record on a line of its own
        assert json.dumps(row) in lines


def test_unbuilt_tables_pickle_and_give_the_same_layers():
    """Tables are built on first read (no pandas on a run's path), yet results still cross
    process pools (pickle) and the JSON layers equal the DataFrame's rows."""
    import pickle

    from hwsim._lazy import Deferred, raw
    from hwsim.gemm import simulate_gemm
    from mapper.api import load, simulate

    net = simulate(load("resnet18"), "sat-vcu1525", check=False)
    assert isinstance(raw(net, "table"), Deferred)
    layers = net.to_dict()["layers"]  # from the stored rows
    assert isinstance(raw(net, "table"), Deferred)  # JSON did not build the table
    back = pickle.loads(pickle.dumps(net))
    assert back.table.shape == (len(layers), len(net.table.columns))
    assert back.to_dict()["layers"] == layers  # now from the built DataFrame
    g = simulate_gemm("sat-vcu1525", 64, 64, 64)
    assert pickle.loads(pickle.dumps(g)).table.equals(g.table)
