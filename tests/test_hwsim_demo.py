"""Tests for the built-in demo (what ``make demo`` runs)."""

import json

from hwsim.cli import main
from hwsim.demo import DEMO_WORKLOADS, run_demo


def test_demo_runs_every_engine_and_every_check_passes(tmp_path):
    table = run_demo(seed=0, out=tmp_path, progress=False)
    assert len(table) == len(DEMO_WORKLOADS)
    assert set(table["engine"]) == {"pe_array", "systolic", "dsp_chain", "smash"}
    assert (table["check"] == "passed").all()
    assert (table["cycles"] == table["cycles"].astype(int)).all()
    cycles = table.set_index("workload")["cycles"]
    assert 3.0 <= cycles.iloc[0] / cycles.iloc[1] < 4.0  # SAT 2:8 vs dense
    assert 1.5 <= cycles.iloc[2] / cycles.iloc[3] <= 2.0  # BDWP training
    saved = json.loads((tmp_path / "demo.json").read_text())
    from hwsim import __version__
    from hwsim.result import SCHEMA_VERSION

    assert list(saved)[:2] == ["schema_version", "hwsim_version"]
    assert (saved["schema_version"], saved["hwsim_version"]) == (SCHEMA_VERSION, __version__)
    assert saved["seed"] == 0
    assert [r["cycles"] for r in saved["demo"]] == table["cycles"].tolist()
    assert (tmp_path / "demo.csv").read_text().startswith("workload,engine,cycles")


def test_demo_cli_json(capsys):
    assert main(["demo", "--json", "--seed", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["schema_version"] == 1
    assert {r["check"] for r in out["demo"]} == {"passed"}
