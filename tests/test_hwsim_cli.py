"""Tests for the top-level ``hwsim`` command line (version, help, error contract)."""

import subprocess
import sys

import pytest

from hwsim import __version__
from hwsim.cli import _SUBCOMMANDS, build_parser, main


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
    assert {name for name, _ in _SUBCOMMANDS} <= set(choices)


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
