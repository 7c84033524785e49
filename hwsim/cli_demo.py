"""``hwsim demo``: run the built-in demonstration workloads and print their table."""

from __future__ import annotations

import argparse

__all__ = ["register"]


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
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from .cli import print_json
    from .demo import run_demo

    table = run_demo(seed=args.seed, out=args.out, progress=sys.stderr.isatty())
    if args.json:
        print_json({"seed": args.seed, "demo": table.to_dict(orient="records")})
        return 0
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns=["wall_seconds"]).to_string(index=False))
    sat = table.set_index("workload")["cycles"]
    print(
        f"\nSAT 2:8 vs dense GEMM speedup: "
        f"{sat.iloc[0] / sat.iloc[1]:.2f}x; BDWP training speedup: {sat.iloc[2] / sat.iloc[3]:.2f}x"
    )
    print(f"all functional checks: {', '.join(sorted(set(table['check'])))}")
    return 0
