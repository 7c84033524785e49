"""``hwsim demo``: run the built-in demonstration workloads and print their table."""

from __future__ import annotations

import argparse

__all__ = ["register"]

#: Columns printed after ``workload`` by default, in order of preference (fit 100 characters).
_DEFAULT_COLUMNS = ("cycles", "utilization", "energy_pj", "dsp", "check", "engine")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the ``hwsim`` parser."""
    p = sub.add_parser(
        "demo",
        help="run the built-in demo (every engine on default workloads)",
        description="Simulate the built-in workloads on every preset: SAT N:M GEMM and BDWP "
        "training, SCALE-Sim-compatible systolic baseline, FlightLLM decode GEMV and SMASH "
        "SpGEMM on a generated R-MAT graph; every run checks its numerics against NumPy/SciPy.",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the generated operands")
    p.add_argument("--out", metavar="DIR", help="also write demo.csv and demo.json into DIR")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.add_argument("--columns", default=None, metavar="A,B,C",
                   help="columns to print (default: a set that fits 100 characters; `all`)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from .cli import print_json
    from .demo import run_demo

    table = run_demo(seed=args.seed, out=args.out, progress=sys.stderr.isatty())
    if args.json:
        print_json({"seed": args.seed, "demo": table.to_dict(orient="records")})
        return 0
    from .cli import fit_columns, format_table, parse_columns

    shown = table.drop(columns=["wall_seconds"])
    if args.columns is not None:
        cols = parse_columns(args.columns, list(shown.columns))
    else:
        cols = fit_columns(shown, ["workload"], [c for c in _DEFAULT_COLUMNS if c in shown], 100)
    print(format_table(shown, cols))
    sat = table.set_index("workload")["cycles"]
    bert = [w for w in sat.index if "BERT-base" in w]
    print(
        f"\nSAT 2:8 vs dense GEMM speedup: "
        f"{sat.iloc[0] / sat.iloc[1]:.2f}x; BDWP training speedup: {sat.iloc[2] / sat.iloc[3]:.2f}x"
        + (f"; BERT-base network speedup: {sat[bert[0]] / sat[bert[1]]:.2f}x"
           if len(bert) == 2 else "")
    )
    print(f"all functional checks: {', '.join(sorted(set(table['check'])))}")
    return 0
