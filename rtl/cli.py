"""``hwsim rtl``: Verilog, parameter/timing summary and FPGA resources of the sparse MAC core."""

from __future__ import annotations

import argparse
import re

__all__ = ["register", "parse_pattern", "core_params_from_args"]

_PATTERN = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


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


def core_params_from_args(args: argparse.Namespace) -> dict[str, int]:
    """Validated core parameters from parsed ``hwsim rtl`` arguments."""
    from .timing import validate_core_params

    n, m = parse_pattern(args.pattern)
    return validate_core_params(
        n=n, m=m, lanes=args.lanes, act_width=args.act_width, weight_width=args.weight_width,
        acc_width=args.acc_width,
    )


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
    p.add_argument("--lanes", type=_int_or_text, default=4,
                   help="output lanes, 1..64 (default 4)")
    p.add_argument("--act-width", type=_int_or_text, default=8,
                   help="activation bits, 2..16 (default 8)")
    p.add_argument("--weight-width", type=_int_or_text, default=8,
                   help="weight bits, 2..16 (default 8)")
    p.add_argument("--acc-width", type=_int_or_text, default=32,
                   help="accumulator bits, 8..48 (default 32)")


def register(subparsers) -> None:
    """Add the ``rtl`` command and its ``verilog``/``info``/``synth`` subcommands."""
    rtl = subparsers.add_parser("rtl", help="sparse MAC core: Verilog, timing, FPGA resources",
                                description="The N:M sparse MAC core (Amaranth).")
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
    # checked by synth_report, not argparse ``choices``: a bad family is a one-line error too
    p.add_argument("--family", default="xc7", metavar="{xc7,xcup}",
                   help="xc7 (7-series) or xcup (UltraScale+); default xc7")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_synth)


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


def _cmd_synth(args) -> int:
    from hwsim.cli import print_json

    from .synth import synth_report

    report = synth_report(core_params_from_args(args), family=args.family)
    if args.json:
        print_json(report)
        return 0
    print(f"{report['family']}: {report['dsp']} DSP, {report['lut']} LUT, {report['ff']} FF, "
          f"{report['carry']} carry")
    for cell, count in report["cells"].items():
        print(f"  {cell:<12} {count}")
    return 0
