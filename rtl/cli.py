"""``hwsim rtl``: Verilog, timing summary, FPGA resources, place and route and packaging of the
sparse MAC core and the N:M PE array."""

from __future__ import annotations

import argparse
import re

__all__ = ["register", "parse_pattern", "parse_array", "core_params_from_args",
           "array_params_from_args", "add_dataflow_arg", "lanes_conflict", "dataflow_conflict"]

_PATTERN = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
_ARRAY = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
_DEFAULT_LANES = 4


def parse_pattern(text: str) -> tuple[int, int]:
    """Parse an ``"n:m"`` pattern such as ``"2:8"`` into ``(n, m)``.

    Only the syntax is checked here; the values are validated with the core parameters.

    Parameters
    ----------
    text : str

    Returns
    -------
    (int, int)

    Raises
    ------
    ValueError
        ``text`` is not two decimal integers separated by a colon.
    """
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"pattern must look like N:M (e.g. 2:8), not {text!r}")
    return int(match.group(1)), int(match.group(2))


def parse_array(text: str) -> tuple[int, int]:
    """Parse an ``"RxC"`` array size such as ``"4x4"`` into ``(rows, cols)`` (syntax only).

    Raises
    ------
    ValueError
        ``text`` is not two decimal integers separated by ``x``.
    """
    match = _ARRAY.match(str(text))
    if not match:
        raise ValueError(f"array must look like RxC (e.g. 4x4), not {text!r}")
    return int(match.group(1)), int(match.group(2))


def core_params_from_args(args: argparse.Namespace) -> dict[str, int]:
    """Validated core parameters from parsed ``hwsim rtl`` arguments."""
    from .timing import validate_core_params

    n, m = parse_pattern(args.pattern)
    lanes = _DEFAULT_LANES if args.lanes is None else args.lanes
    return validate_core_params(
        n=n, m=m, lanes=lanes, act_width=args.act_width, weight_width=args.weight_width,
        acc_width=args.acc_width,
    )


def array_params_from_args(args: argparse.Namespace) -> dict[str, int]:
    """Validated PE array parameters from ``--array RxC`` and the core arguments.

    Raises
    ------
    ValueError, TypeError
        Bad parameters.
    """
    from .timing import validate_array_params

    rows, cols = parse_array(args.array)
    n, m = parse_pattern(args.pattern)
    return validate_array_params(rows=rows, cols=cols, n=n, m=m, act_width=args.act_width,
                                 weight_width=args.weight_width, acc_width=args.acc_width)


def _int_or_text(text: str):
    """A decimal integer; anything else is a usage error (exit 2), as ``type=int`` gives for
    ``hwsim gemm --m 4.0``. The range is checked by :func:`validate_core_params` (exit 1)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None


def _add_core_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pattern", default="2:4", metavar="N:M",
                   help="N non-zeros per group of M activations (default 2:4; N:N is dense)")
    p.add_argument("--lanes", type=_int_or_text, default=None,
                   help=f"output lanes of the core, 1..64 (default {_DEFAULT_LANES})")
    p.add_argument("--act-width", type=_int_or_text, default=8,
                   help="activation bits, 2..16 (default 8)")
    p.add_argument("--weight-width", type=_int_or_text, default=8,
                   help="weight bits, 2..16 (default 8)")
    p.add_argument("--acc-width", type=_int_or_text, default=32,
                   help="accumulator bits, 8..48 (default 32)")


def add_dataflow_arg(p: argparse.ArgumentParser) -> None:
    """``--dataflow ws|os`` (the array's dataflow; checked by the command, so a bad value is a
    one-line error like a bad family)."""
    p.add_argument("--dataflow", default="ws", metavar="{ws,os}",
                   help="with --array: weight-stationary (top nm_pe_array, default) or "
                        "output-stationary (top nm_pe_array_os)")


def register(subparsers) -> None:
    """Add the ``rtl`` command and its ``verilog``/``info``/``synth``/``pnr``/``export``
    subcommands."""
    rtl = subparsers.add_parser(
        "rtl", help="sparse MAC core and PE array: Verilog, timing, resources, P&R, export",
        description="The N:M sparse MAC core and SAT's N:M PE array (Amaranth).")
    sub = rtl.add_subparsers(dest="rtl_command", metavar="SUBCOMMAND")
    rtl.set_defaults(func=lambda args: _no_subcommand(rtl))

    p = sub.add_parser("verilog", help="write the core's Verilog (top module sparse_mac)")
    _add_core_args(p)
    from hwsim.cli import output_file

    p.add_argument("-o", "--output", required=True, metavar="FILE", type=output_file,
                   help="Verilog file to write (its folder must exist)")
    p.set_defaults(func=_cmd_verilog)

    p = sub.add_parser("info", help="parameters, latency, II and ports of the core")
    _add_core_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("synth", help="FPGA resource counts through Yosys synth_xilinx")
    _add_core_args(p)
    p.add_argument("--array", metavar="RxC", default=None,
                   help="synthesise the R x C PE array (top nm_pe_array) instead of the core")
    add_dataflow_arg(p)
    # checked by synth_report, not argparse ``choices``: a bad family is a one-line error too
    p.add_argument("--family", default="xc7", metavar="{xc7,xcup}",
                   help="xc7 (7-series) or xcup (UltraScale+); default xc7")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("pnr", help="place and route on an ECP5 (Yosys + nextpnr): Fmax, LUTs, DSPs")
    _add_core_args(p)
    p.add_argument("--array", metavar="RxC", default=None,
                   help="place and route the R x C PE array instead of the core")
    add_dataflow_arg(p)
    p.add_argument("--family", default="ecp5", metavar="{ecp5}", help="ecp5 (default)")
    p.add_argument("--device", default="85k", metavar="{25k,45k,85k}",
                   help="ECP5 size (default 85k)")
    p.add_argument("--freq", type=float, default=100.0, metavar="MHZ",
                   help="target clock for the placer (default 100)")
    p.add_argument("--seed", type=_int_or_text, default=1, help="placer seed (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_pnr)

    from .export import register_export

    register_export(sub, _add_core_args)


def _no_subcommand(parser: argparse.ArgumentParser) -> int:
    import sys

    parser.print_help(sys.stderr)
    return 2


def _cmd_verilog(args) -> int:
    from hwsim._io import atomic_write_text

    from .verilog import generate_verilog

    params = core_params_from_args(args)
    path = atomic_write_text(args.output, generate_verilog(**params))
    print(f"wrote {path}")
    return 0


def core_info(params: dict[str, int]) -> dict:
    """Parameters, ``idx_width``, ``latency``, ``ii`` and ``ports`` ({name: width}) of a core."""
    from .timing import core_timing, idx_width_for
    from .verilog import port_widths

    timing = core_timing(**params)
    return {
        **params,
        "idx_width": idx_width_for(params["m"]),
        "latency": timing.latency,
        "ii": timing.ii,
        "output_buffer_depth": timing.output_buffer_depth,
        "ports": port_widths(**params),
    }


def _cmd_info(args) -> int:
    from hwsim.cli import print_json

    info = core_info(core_params_from_args(args))
    if args.json:
        print_json(info)
        return 0
    print(f"sparse_mac {info['n']}:{info['m']} x {info['lanes']} lanes, "
          f"act {info['act_width']} b, weight {info['weight_width']} b, "
          f"acc {info['acc_width']} b, index {info['idx_width']} b")
    print(f"  latency {info['latency']} cycles, II {info['ii']}, "
          f"output buffer {info['output_buffer_depth']} results")
    for name, width in info["ports"].items():
        print(f"  port {name:<11} {width}")
    return 0


def lanes_conflict(args, command: str) -> bool:
    """Print a usage error and return True when ``--lanes`` is given with ``--array``."""
    import sys

    if getattr(args, "array", None) is not None and args.lanes is not None:
        print(f"hwsim rtl {command}: error: --lanes does not apply with --array "
              "(each PE is one lane)", file=sys.stderr)
        return True
    return False


def dataflow_conflict(args, command: str) -> bool:
    """Print a usage error and return True when ``--dataflow`` other than ``ws`` is given for
    the core (no ``--array``/``--arch``)."""
    import sys

    array = getattr(args, "array", None) is not None or getattr(args, "arch", None) is not None
    if not array and getattr(args, "dataflow", "ws") != "ws":
        print(f"hwsim rtl {command}: error: --dataflow applies to the PE array (--array RxC)",
              file=sys.stderr)
        return True
    return False


def _cmd_synth(args) -> int:
    from hwsim.cli import print_json

    if lanes_conflict(args, "synth") or dataflow_conflict(args, "synth"):
        return 2
    from .synth import synth_array_report, synth_report

    if args.array is not None:
        params = array_params_from_args(args)
        report = {**params, "dataflow": args.dataflow,
                  **synth_array_report(params, family=args.family, dataflow=args.dataflow)}
    else:
        report = synth_report(core_params_from_args(args), family=args.family)
    if args.json:
        print_json(report)
        return 0
    print(f"{report['family']}: {report['dsp']} DSP, {report['lut']} LUT, {report['ff']} FF, "
          f"{report['carry']} carry")
    for cell, count in report["cells"].items():
        print(f"  {cell:<12} {count}")
    return 0


def _cmd_pnr(args) -> int:
    from hwsim.cli import print_json

    if lanes_conflict(args, "pnr") or dataflow_conflict(args, "pnr"):
        return 2
    from .pnr import pnr_report

    array = args.array is not None
    params = array_params_from_args(args) if array else core_params_from_args(args)
    report = pnr_report(params, array=array, dataflow=args.dataflow, family=args.family,
                        freq_mhz=args.freq, seed=args.seed, device=args.device)
    if args.json:
        print_json(report)
        return 0
    print(f"{report['family']} {report['device']} {report['top']}: "
          f"Fmax {report['fmax_mhz']} MHz, {report['luts']} LUT, {report['ff']} FF, "
          f"{report['dsp']} DSP")
    return 0
