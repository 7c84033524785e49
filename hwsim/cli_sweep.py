"""``hwsim sweep``: run a design-space sweep into a resumable SQLite store, or show a store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli import UsageError, fit_columns, format_table, output_file, parse_columns

__all__ = ["register", "run"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return value


def register(subparsers) -> None:
    """Add ``sweep`` to the ``hwsim`` parser."""
    p = subparsers.add_parser(
        "sweep",
        help="run a design-space sweep (resumable; results in SQLite), or `sweep show STORE`",
        description=(
            "Run every design point of SPEC.yaml that is not yet in the store (re-running a "
            "sweep resumes it), or print a store's table with `hwsim sweep show STORE`. "
            "SPEC may also name a bundled spec (e.g. nm_design_space). Exits 1 when a point "
            "failed."
        ),
    )
    p.add_argument("spec", metavar="SPEC.yaml | show", help="sweep spec, or `show`")
    p.add_argument("show_store", nargs="?", metavar="STORE", help="store to show (`show` only)")
    p.add_argument("--store", default=None, metavar="FILE.sqlite",
                   help="result store (default: SPEC's name with .sqlite, in this folder)")
    p.add_argument("--executor", default="processes", choices=("serial", "processes", "dask"),
                   help="where points run (default: a local process pool)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (dask; default: a local cluster)")
    p.add_argument("--workers", type=_positive, default=None, metavar="N",
                   help="worker processes (default: CPU count)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing point")
    p.add_argument("--no-retry-errors", action="store_true",
                   help="do not re-run points stored with an error")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--max-points", type=_positive, default=None, metavar="N",
                   help="largest sweep run (default 10000; the grid is counted first)")
    p.add_argument("--columns", default=None, metavar="A,B,C",
                   help="`show`: the columns to print (default: the axes and a few results, "
                        "to fit 100 characters); `--columns all` for every column")
    p.add_argument("--csv", default=None, type=output_file, metavar="OUT.csv",
                   help="export the table as CSV")
    p.add_argument("--parquet", default=None, type=output_file, metavar="OUT.parquet",
                   help="export the table as Parquet")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--json-rows", action="store_true",
                   help="print the summary and every row as JSON (implies --json)")
    p.set_defaults(func=run)


def _rows(frame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def _export(args, db, keys=None) -> dict:
    out = {}
    if args.csv:
        out["csv"] = str(db.to_csv(args.csv, keys))
    if args.parquet:
        out["parquet"] = str(db.to_parquet(args.parquet, keys))
    return out


#: Result columns ``sweep show`` prints after the axes by default, in order of preference.
SHOW_COLUMNS = ("status", "cycles", "utilization", "energy_pj", "dsp", "check", "error")
#: Width the default ``sweep show`` table fits in.
SHOW_WIDTH = 100


def _pick_columns(frame, wanted: str | None, axes: list[str]) -> list[str]:
    have = list(frame.columns)
    if wanted is not None:
        return parse_columns(wanted, have)
    fixed = [c for c in axes if c in have]
    return fit_columns(frame, fixed, [c for c in SHOW_COLUMNS if c in have], SHOW_WIDTH)


def _show(args: argparse.Namespace) -> int:
    from .cli import print_json
    from .store import SweepStore

    if not args.show_store:
        raise UsageError("`hwsim sweep show` needs a STORE file: hwsim sweep show STORE.sqlite")
    with SweepStore(args.show_store, create=False) as db:
        frame = db.to_frame()
        axes = list(dict.fromkeys(a for r in db.rows() for a in r["axes"]))
        exported = _export(args, db)
    if args.json or args.json_rows:
        failed = int((frame["status"] == "error").sum()) if len(frame) else 0
        payload = {"store": args.show_store, "points": len(frame), "failed": failed, **exported}
        if args.json_rows:
            payload["rows"] = _rows(frame)
        print_json(payload)
    elif not len(frame):
        print("(empty store)")
    else:
        cols = _pick_columns(frame, args.columns, axes)
        print(format_table(frame, cols))
    return 0


def run(args: argparse.Namespace) -> int:
    """Handler of ``hwsim sweep``; returns the exit code (1 when some point failed)."""
    from .cli import print_json

    if args.spec == "show":
        return _show(args)
    if args.show_store:
        raise UsageError(f"unexpected argument {args.show_store!r} (only `show` takes a STORE)")
    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler needs --executor dask")
    if args.columns is not None:
        raise UsageError("--columns applies to `hwsim sweep show` only")
    from .store import SweepStore
    from .sweep import load_spec, run_sweep

    spec = load_spec(args.spec)
    store = args.store or f"{spec.name or Path(args.spec).stem}.sqlite"
    if args.store is not None and not args.store.strip():
        raise UsageError("--store: expected a file path, got an empty string")
    client = None
    executor = args.executor
    try:
        if args.scheduler:
            from .errors import require

            distributed = require("distributed", "sweep", "the dask executor")
            client = executor = distributed.Client(args.scheduler, timeout="10s")
        # the store is created by run_sweep only once the whole spec has expanded, so a
        # spec rejected at validation leaves no file behind
        report = run_sweep(spec, store=store, executor=executor, max_workers=args.workers,
                           progress=not args.no_progress, fail_fast=args.fail_fast,
                           retry_errors=not args.no_retry_errors, max_points=args.max_points)
        keys = list(report.frame["key"]) if len(report.frame) else []
        with SweepStore(store, create=False) as db:
            exported = _export(args, db, keys)
    finally:
        if client is not None:
            client.close()
    summary = {**report.summary(), "executor": args.executor, **exported}
    if args.json or args.json_rows:
        if args.json_rows:
            summary["rows"] = _rows(report.frame)
        print_json(summary)
    else:
        width = max(len(k) for k in summary)
        for k, v in summary.items():
            print(f"{k:<{width}}  {v}")
    if report.failed:
        first = report.frame[report.frame["status"] == "error"].iloc[0]
        print(f"hwsim: error: {report.failed} of {report.points} sweep points failed "
              f"(first: {first['error']}); see `hwsim sweep show {store}`", file=sys.stderr)
        return 1
    return 0
