"""Tests for the top-level ``hwsim`` command line (version, help, error contract)."""

import subprocess
import sys

import pytest

from hwsim import __version__
from hwsim.cli import build_parser, main


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"hwsim {__version__}"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: hwsim" in capsys.readouterr().err


def test_every_registered_subcommand_is_importable():
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    # tools plus one subcommand per run kind of the registry that has a CLI (network = run)
    assert {"arch", "gemm", "spgemm", "run", "rtl", "demo", "sweep", "prune"} <= set(choices)


def test_run_kind_registry_drives_sweeps_and_the_cli():
    from hwsim.runs import RUN_KINDS, run
    from hwsim.sweep_spec import SweepSpec

    assert list(RUN_KINDS) == ["gemm", "spgemm", "training", "network"]
    # a sweep of kind network and one of kind training validate their run arguments
    spec = SweepSpec.from_dict({"kind": "network", "base": {"arch": "sat-vcu1525",
                                "model": "resnet18"}, "axes": {"sparsity": ["dense", "2:8"]}})
    points = spec.expand()
    assert len(points) == 2
    with pytest.raises(Exception, match="unknown run argument"):
        SweepSpec.from_dict({"kind": "training", "base": {"arch": "sat-vcu1525", "m": 8,
                             "k": 16, "n": 8, "model": "x"}})
    r = run("training", "sat-vcu1525", {"m": 16, "k": 32, "n": 16, "sparsity": "2:8",
                                          "check": False, "seed": 0})
    assert r.kind == "training"
    net = run("network", "sat-vcu1525", {"model": "resnet18", "sparsity": "2:8", "check": False,
                                         "seed": 0})
    assert net.kind == "network" and net.counters["num_layers"] > 40


def test_console_script_runs_as_module():
    out = subprocess.run(
        [sys.executable, "-m", "hwsim", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"hwsim {__version__}"


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["rtl", "verilog", "--pattern", "2:8"])  # -o is required
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hwsim rtl verilog: error:" in err and "-o" in err
