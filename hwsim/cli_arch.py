"""``hwsim arch``: list, show and validate architecture descriptions."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(subparsers) -> None:
    """Add ``arch list|show|validate`` to the ``hwsim`` parser."""
    p = subparsers.add_parser(
        "arch",
        help="list, show and validate accelerator descriptions",
        description="Architecture presets and YAML descriptions.",
    )
    sub = p.add_subparsers(dest="arch_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="list the bundled presets")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=_list)
    show = sub.add_parser("show", help="print a preset or file as editable YAML")
    show.add_argument("arch", metavar="NAME|FILE")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    show.set_defaults(func=_show)
    val = sub.add_parser("validate", help="check an architecture YAML file")
    val.add_argument("arch", metavar="FILE")
    val.add_argument("--json", action="store_true", help="print JSON")
    val.set_defaults(func=_validate)


def _list(args: argparse.Namespace) -> int:
    from .arch import list_presets, load_arch
    from .cli import print_json

    rows = []
    for name in list_presets():
        a = load_arch(name)
        engines = {k: v.kind for k, v in a.engines.items()}
        rows.append(
            {
                "name": name,
                "arch_hash": a.hash(),
                "clock_mhz": a.clock_mhz,
                "engines": engines,
                "dram": f"{a.dram.kind} x{a.dram.channels} {a.dram.bandwidth_gbps:g} GB/s",
                "description": a.description,
            }
        )
    if args.json:
        print_json({"presets": rows})
        return 0
    for r in rows:
        eng = ", ".join(f"{k} ({v})" for k, v in r["engines"].items())
        print(
            f"{r['name']:<18} {r['clock_mhz']:>7g} MHz  {eng:<28} {r['dram']:<22} {r['arch_hash']}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    from .arch import load_arch
    from .cli import print_json
    from .energy import energy_table

    a = load_arch(args.arch)
    table = energy_table(a).to_dict()  # the energy figures with their defaults filled
    if args.json:
        print_json({"arch": a.to_dict(), "arch_hash": a.hash(), "energy_table": table})
    else:
        sys.stdout.write(f"# hwsim architecture {a.name} (arch_hash {a.hash()})\n")
        sys.stdout.write(a.to_yaml())
        sys.stdout.write("# energy table in effect (defaults filled; hwsim.energy):\n")
        for k, v in table.items():
            sys.stdout.write(f"#   {k}: {_short_figures(v)}\n")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .arch import Architecture
    from .cli import print_json

    a = Architecture.from_yaml(args.arch)
    res = a.resources_summary()
    if args.json:
        print_json({"valid": True, "file": args.arch, "name": a.name, "arch_hash": a.hash(),
                    "fits_device": res["fits_device"], "device_warnings": res["device_warnings"]})
    else:
        print(f"{args.arch}: valid architecture {a.name!r} (arch_hash {a.hash()})")
    _warn(res["device_warnings"])
    return 0


def _short_figures(v):
    """``v`` with floats at 4 significant digits (for the comment block of ``arch show``)."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short_figures(x)}" for k, x in v.items()) + "}"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _warn(lines) -> None:
    """One ``hwsim: warning:`` line on stderr per line."""
    import sys

    for line in lines:
        print(f"hwsim: warning: {line}", file=sys.stderr)
