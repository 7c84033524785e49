"""Tests for ``hwsim arch list|show|validate``."""

from __future__ import annotations

import json

import pytest
import yaml

from hwsim.arch import Architecture, load_arch
from hwsim.cli import main


def test_list_text(capsys):
    assert main(["arch", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("sat-vcu1525", "flightllm-u280", "dense-systolic"):
        assert name in out


def test_list_json(capsys):
    assert main(["arch", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 1
    rows = {r["name"]: r for r in doc["presets"]}
    assert rows["sat-vcu1525"]["engines"] == {"pe_array": "nm_pe_array"}
    assert rows["sat-vcu1525"]["arch_hash"] == load_arch("sat-vcu1525").hash()


@pytest.mark.parametrize("name", ["sat-vcu1525", "flightllm-u280", "dense-systolic"])
def test_show_loads_back(name, capsys, tmp_path):
    assert main(["arch", "show", name]) == 0
    text = capsys.readouterr().out
    f = tmp_path / "edit.yaml"
    f.write_text(text)
    assert Architecture.from_yaml(f) == load_arch(name)
    assert main(["arch", "validate", str(f)]) == 0
    assert "valid architecture" in capsys.readouterr().out


def test_show_json(capsys):
    assert main(["arch", "show", "dense-systolic", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["arch"]["engines"]["systolic"]["kind"] == "systolic"


def test_validate_json(capsys, tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(load_arch("sat-vcu1525").to_yaml())
    assert main(["arch", "validate", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True


def test_validate_error_one_line(capsys, tmp_path):
    d = load_arch("sat-vcu1525").to_dict()
    d["engines"]["pe_array"]["rowz"] = 1
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(d))
    assert main(["arch", "validate", str(f)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("hwsim: error: ConfigError: ")
    assert "bad.yaml: engines.pe_array.rowz: unknown key 'rowz'" in err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (
            ["arch", "show", "nope"],
            "ConfigError: <preset nope>: unknown architecture preset 'nope'",
        ),
        (["arch", "validate", "missing.yaml"], "InputFileError: missing.yaml: cannot read"),
    ],
)
def test_errors_exit_1(argv, match, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_yaml_syntax_error(capsys, tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("a: [\n")
    assert main(["arch", "validate", str(f)]) == 1
    assert "YAML syntax error" in capsys.readouterr().err
