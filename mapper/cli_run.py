"""``hwsim run``: simulate a whole network (zoo, ONNX, SCALE-Sim topology, GCN) in one run."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def _dim(text: str) -> tuple[str, int]:
    """argparse type of one ``--dim NAME=V`` (:func:`mapper.cli_prune.parse_dims`)."""
    from .cli_prune import parse_dims

    try:
        return next(iter(parse_dims([text]).items()))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _path(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file path, got an empty string")
    return text


def register(subparsers) -> None:
    """Add ``run`` to the ``hwsim`` parser."""
    from hwsim.cli import add_check_flags, output_file

    p = subparsers.add_parser(
        "run",
        help="simulate a whole network (zoo model, ONNX, SCALE-Sim CSV, GCN) in one run",
        description="Map a network onto an accelerator and simulate it in one SimPy run.",
    )
    p.add_argument("--arch", required=True, metavar="PRESET|FILE.yaml")
    p.add_argument("--model", required=True, metavar="ZOO|FILE.onnx|FILE.csv|gcn")
    p.add_argument("--sparsity", default=None, metavar="SPEC",
                   help="prune first: N:M | block:BxB:D | unstructured:D; 'dense' runs the "
                        "engines in dense mode (default: weights as they are)")
    p.add_argument("--array", default=None, metavar="RxC", help="override GEMM engine rows x cols")
    p.add_argument("--dataflow", default=None, choices=("ws", "os", "is"))
    p.add_argument("--engine", default=None, help="GEMM engine name in the architecture")
    p.add_argument("--precision", default="int8", choices=("int8", "int16", "fp16", "bf16"))
    p.add_argument("--training", action="store_true", help="one BDWP training step")
    p.add_argument("--seq-len", type=_positive, default=128, help="sequence length (default 128)")
    p.add_argument("--kv-len", type=_positive, default=None, help="cached tokens (decode)")
    p.add_argument("--phase", default="prefill", choices=("prefill", "decode"))
    p.add_argument("--batch", type=_positive, default=1)
    p.add_argument("--dim", type=_dim, action="append", default=[], metavar="NAME=V",
                   help="bind an ONNX symbolic dimension (repeatable)")
    p.add_argument("--input-shape", action="append", default=[], metavar="[NAME=]D1xD2..",
                   help="shape of an ONNX input (repeatable; NAME= may be omitted with one "
                        "input)")
    p.add_argument("--passthrough", default="", metavar="Op1,Op2",
                   help="ONNX operators to treat as free")
    p.add_argument("--graph", type=_path, default=None, metavar="A.mtx", help="GCN adjacency")
    p.add_argument("--features", type=_positive, default=None, help="GCN input features")
    p.add_argument("--hidden", type=_positive, default=None, help="GCN hidden width")
    p.add_argument("--mapping", type=_path, default=None, metavar="FILE.yaml",
                   help="engine overrides per layer name / op type")
    add_check_flags(p, "functional check: ONNX models with weights end to end (always full "
                       "outputs); otherwise every distinct GEMM against the tiles its timing "
                       "counted, sampled (default; bare --check) or full")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trace", type=output_file, default=None, metavar="FILE.json")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print totals and layers as JSON")
    out.add_argument("--csv", type=output_file, default=None, metavar="FILE",
                     help="per-layer table")
    out.add_argument("--parquet", type=output_file, default=None, metavar="FILE")
    p.add_argument("--top", type=int, default=5, help="layers shown in the text summary")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from hwsim.cli import UsageError, check_mode, print_json
    from hwsim.errors import ShapeError

    from .api import load, prune
    from .cli_prune import parse_input_shapes, unbound_dim_hint
    from .report import summary_text
    from .simulate import simulate_network

    if args.seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {args.seed}")
    dims = dict(args.dim)
    try:
        shapes = parse_input_shapes(args.input_shape)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        graph = load(
            args.model, batch=args.batch, seq_len=args.seq_len, kv_len=args.kv_len,
            phase=args.phase, dims=dims or None, input_shapes=shapes,
            passthrough=tuple(x for x in args.passthrough.split(",") if x),
            graph=args.graph, features=args.features, hidden=args.hidden, seed=args.seed,
        )
    except ShapeError as exc:
        hint = unbound_dim_hint(exc)
        if hint is None:
            raise
        raise UsageError(hint) from None
    graph = prune(graph, args.sparsity, seed=args.seed)
    res = simulate_network(
        graph, args.arch, mapping=args.mapping, engine=args.engine, dataflow=args.dataflow,
        precision=args.precision, array=args.array, training=args.training,
        check=check_mode(args.check),
        seed=args.seed, trace=args.trace,
    )
    if args.json:
        print_json(res.to_dict())
    elif args.csv:
        res.to_csv(args.csv)
        sys.stdout.write(summary_text(res, args.top))
    elif args.parquet:
        res.to_parquet(args.parquet)
        sys.stdout.write(summary_text(res, args.top))
    else:
        sys.stdout.write(summary_text(res, args.top))
    return 0
