"""The ``hwsim`` command line: one entry point, subcommands registered by their own modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from ._version import __version__
from .errors import HwsimError
from .result import envelope, json_text

__all__ = [
    "main", "print_json", "print_summary", "build_parser", "UsageError", "output_file",
    "add_check_flags", "check_mode",
]


class UsageError(HwsimError, ValueError):
    """A command-line mistake found by a handler (not argparse): exit code 2, like argparse's."""


def add_check_flags(parser: argparse.ArgumentParser, help_check: str) -> None:
    """``--check [sampled|full]`` / ``--no-check``, the check modes of every run command
    (DESIGN.md, contract 9). ``args.check`` is ``None`` (sampled), ``"sampled"``, ``"full"`` or
    ``False``; :func:`check_mode` turns it into the library's ``check`` argument."""
    chk = parser.add_mutually_exclusive_group()
    chk.add_argument(
        "--check", nargs="?", const="sampled",
        default=None,  # sampled (a default equal to const would hide --check from the group)
        choices=("sampled", "full"), help=help_check,
    )
    chk.add_argument("--no-check", dest="check", action="store_const", const=False,
                     help="skip the functional check")


def check_mode(value: Any) -> str | bool:
    """The ``check`` argument of a run from the parsed ``--check`` / ``--no-check``."""
    return "sampled" if value is None else value


def output_file(text: str) -> str:
    """argparse ``type`` of an output path: not empty, and its folder must exist.

    Checked before anything runs, so that a long simulation does not end in an unwritable path
    (and a missing folder is never created behind the user's back).
    """
    import os

    if not text or not text.strip():
        raise argparse.ArgumentTypeError("expected a file path, got an empty string")
    parent = os.path.dirname(text) or "."
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {parent!r} does not exist")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: it is a folder")
    return text

# (subcommand, module). Each module defines ``register(subparsers)`` which adds its parser and
# sets ``func`` (a callable taking the parsed args and returning an exit code). Modules keep
# heavy imports (amaranth, simpy, scipy) inside their handlers so that ``hwsim --help`` is fast.
#: Subcommands that are not a run kind; each run kind with a ``cli`` module in the registry
#: (:data:`hwsim.runs.RUN_KINDS`: gemm, spgemm, network = ``hwsim run``) adds its own.
_TOOLS: list[tuple[str, str]] = [
    ("arch", "hwsim.cli_arch"),
    ("rtl", "rtl.cli"),
    ("demo", "hwsim.cli_demo"),
    ("sweep", "hwsim.cli_sweep"),
    ("prune", "mapper.cli_prune"),
]


def _subcommands() -> list[tuple[str, str]]:
    from .runs import RUN_KINDS

    runs = [(k.name, k.cli) for k in RUN_KINDS.values() if k.cli]
    return _TOOLS[:1] + runs + _TOOLS[1:]


def print_summary(result: dict[str, Any], keys, stream=None) -> None:
    """Print ``keys`` of a flat result dict as an aligned ``key  value`` table (text output).

    Keys absent from ``result`` are skipped, as is a ``check_reason`` of ``None``; floats are
    shown with 6 significant digits.
    """
    stream = stream or sys.stdout
    width = max(len(k) for k in keys)
    for key in keys:
        if key not in result or (key == "check_reason" and result[key] is None):
            continue
        v = result[key]
        text = f"{v:.6g}" if isinstance(v, float) else str(v)
        stream.write(f"{key:<{width}}  {text}\n")


def _cell_text(v) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    text = str(v)
    return text if len(text) <= 60 else text[:57] + "..."


def format_table(frame, columns: list[str]) -> str:
    """Plain aligned text of ``columns`` of a DataFrame: numbers right-aligned, integral floats
    as integers (``dsp``), other floats to 4 significant digits, missing values as ``-``."""
    cells = [[_cell_text(v) for v in frame[c].tolist()] for c in columns]
    widths = [max([len(c), *map(len, col)]) for c, col in zip(columns, cells, strict=True)]
    numeric = [all(t == "-" or t.lstrip("-").replace(".", "", 1).replace("e", "", 1)
                   .replace("+", "").isdigit() for t in col) for col in cells]

    def line(items):
        return "  ".join(t.rjust(w) if num else t.ljust(w)
                         for t, w, num in zip(items, widths, numeric, strict=True)).rstrip()

    out = [line(columns)]
    out += [line(row) for row in zip(*cells, strict=True)]
    return "\n".join(out)


def fit_columns(frame, fixed: list[str], preferred: list[str], width: int) -> list[str]:
    """``fixed`` columns then as many of ``preferred`` (in order) as fit ``width`` characters.

    ``error`` (when preferred) is kept last and dropped last.
    """
    cols = [*fixed, *preferred]
    while len(cols) > len(fixed) + 1 and max(
            map(len, format_table(frame.head(50), cols).split("\n"))) > width:
        cols.pop(-2 if cols[-1] == "error" and len(cols) > len(fixed) + 2 else -1)
    return cols


def parse_columns(wanted: str, have: list[str]) -> list[str]:
    """``--columns a,b,c`` (or ``all``) checked against the available columns."""
    if wanted.strip() == "all":
        return list(have)
    cols = [c.strip() for c in wanted.split(",") if c.strip()]
    unknown = [c for c in cols if c not in have]
    if not cols or unknown:
        raise UsageError(f"--columns: unknown column(s) {', '.join(unknown) or '(none)'}; "
                         f"columns: {', '.join(have)}")
    return cols


def print_json(payload: dict[str, Any], stream=None) -> None:
    """Print ``payload`` as JSON with ``schema_version`` and ``hwsim_version`` first."""
    stream = stream or sys.stdout
    stream.write(json_text(envelope(payload)))


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (the CLI's error contract), exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``hwsim`` argument parser with every registered subcommand."""
    parser = _Parser(
        prog="hwsim",
        description="Co-design simulator for sparse neural-network accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, modname in _subcommands():
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used by the console script)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"hwsim: error: {' '.join(str(exc).split())} (see --help)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        sys.stderr.close()
        return 0
    except (HwsimError, ValueError, TypeError, OSError) as exc:
        # One line, typed, non-zero: the contract for every user-facing failure.
        msg = " ".join(str(exc).split())
        print(f"hwsim: error: {type(exc).__name__}: {msg}", file=sys.stderr)
        return 1
    except MemoryError as exc:
        # The model materialises the real weight (its zeros are what the engines count), so
        # an impossible shape ends here; numpy's message names the shape and the size.
        msg = " ".join(str(exc).split()) or "out of memory"
        print(f"hwsim: error: MemoryError: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        import signal

        # a second Ctrl-C while the message is printed must not become a traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signum = getattr(exc, "signum", signal.SIGINT)
        stored = getattr(exc, "stored", None)
        what = "terminated" if signum == signal.SIGTERM else "interrupted"
        more = f"; {stored} point(s) stored this run, re-run to resume" if stored is not None else ""
        print(f"hwsim: {what}{more}", file=sys.stderr)
        return 128 + int(signum)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
