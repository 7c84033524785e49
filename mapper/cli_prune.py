"""``hwsim prune``: prune an ONNX model's weights (N:M, block, unstructured) and write it back."""

from __future__ import annotations

import argparse
import re
import sys

__all__ = ["register", "parse_dims", "parse_input_shapes", "unbound_dim_hint"]


def register(subparsers) -> None:
    """Add ``prune`` to the ``hwsim`` parser."""
    p = subparsers.add_parser(
        "prune",
        help="prune an ONNX model's weights and write it back as valid ONNX",
        description="Prune the GEMM weights (Conv, ConvTranspose, Gemm, MatMul) of an ONNX "
        "model by magnitude along their reduction axis and write the model back with the "
        "weights in their original layout.",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--sparsity", required=True, metavar="SPEC",
                   help="N:M | block:BxB:D | unstructured:D | dense")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    p.add_argument("--scope", choices=("layer", "global"), default="layer",
                   help="unstructured: density per layer or over all weights (default layer)")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=V",
                   help="bind a symbolic input dim by name (repeatable)")
    p.add_argument("--input-shape", action="append", default=[], metavar="[NAME=]AxBxC",
                   help="static shape of an input (NAME= may be omitted with one input)")
    p.add_argument("--passthrough", default="", metavar="Op1,Op2",
                   help="operators to treat as free data movement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the per-layer report as JSON")
    p.set_defaults(func=_run, _parser=p)


def parse_dims(items) -> dict[str, int]:
    """``["batch=1", "sequence=128"]`` → ``{"batch": 1, "sequence": 128}``."""
    out = {}
    for item in items:
        m = re.fullmatch(r"\s*([^=\s]+)\s*=\s*(\d+)\s*", item)
        if not m or int(m[2]) < 1:
            raise ValueError(f"dim {item!r} is not NAME=V with an integer V >= 1")
        out[m[1]] = int(m[2])
    return out


def parse_input_shapes(items):
    """``["images=1x3x320x320"]`` → dict; a single bare ``1x3x320x320`` → a tuple."""
    named, bare = {}, None
    for item in items:
        name, _, shape = item.rpartition("=")
        if not re.fullmatch(r"\s*\d+(\s*[x,]\s*\d+)*\s*", shape):
            raise ValueError(f"input shape {item!r} is not [NAME=]AxBxC with integer dims")
        dims = tuple(int(d) for d in re.split(r"[x,]", shape.replace(" ", "")))
        if name:
            named[name] = dims
        elif bare is not None or len(items) > 1:
            raise ValueError("a bare input shape is only allowed once, for a model with one "
                             "input; name the inputs (NAME=AxB) otherwise")
        else:
            bare = dims
    if bare is not None:
        return bare
    return named or None


def unbound_dim_hint(exc) -> str | None:
    """The CLI wording (naming ``--dim``/``--input-shape``) of an unbound-dim ``ShapeError``."""
    name = getattr(exc, "input_name", None)
    if name is None:
        return None
    shown = "x".join(str(d) for d in exc.input_dims)
    dim = exc.unbound_dim
    if dim:
        return (f"input {name!r} has symbolic dim {dim!r} ({shown}) with no value; "
                f"pass --dim {dim}=V or --input-shape {name}=AxBx...")
    return (f"input {name!r} has an unknown dim ({shown}) with no value; "
            f"pass --input-shape {name}=AxBx...")


def _run(args: argparse.Namespace) -> int:
    try:
        dims = parse_dims(args.dim)
        shapes = parse_input_shapes(args.input_shape)
    except ValueError as exc:
        args._parser.error(str(exc))
    from hwsim.sparsity import parse_sparsity

    try:
        spec = parse_sparsity(args.sparsity)
    except ValueError as exc:
        args._parser.error(f"argument --sparsity: {exc}")
    from hwsim.errors import ShapeError

    from .frontends.onnx import load_onnx
    from .prune import prune_graph, sparsity_report, write_pruned_onnx

    passthrough = tuple(s.strip() for s in args.passthrough.split(",") if s.strip())
    try:
        graph = load_onnx(args.model, dims=dims, input_shapes=shapes, passthrough=passthrough)
    except ShapeError as exc:
        hint = unbound_dim_hint(exc)
        if hint is None:
            raise
        args._parser.error(hint)
    pruned = prune_graph(graph, spec, scope=args.scope, seed=args.seed)
    path = write_pruned_onnx(pruned, args.output)
    rows = sparsity_report(pruned)
    if args.json:
        from hwsim.cli import print_json

        print_json(dict(model=str(args.model), output=str(path), sparsity=str(spec),
                        scope=args.scope, layers=rows))
        return 0
    params = sum(r["params"] for r in rows)
    nnz = sum(r["nnz"] for r in rows)
    meta = sum(r["metadata_bytes"] for r in rows)
    out = sys.stdout
    out.write(f"wrote {path}: {len(rows)} weight layers pruned to {spec}, "
              f"{nnz}/{params} weights kept (density {nnz / max(params, 1):.4f}), "
              f"metadata {meta} bytes\n")
    width = max([len(r["name"]) for r in rows] + [5])
    out.write(f"{'layer':<{width}}  {'op':<13} {'g':>4} {'k':>6} {'n':>6} {'density':>8} "
              f"{'sparsity':<10} {'meta_B':>8}\n")
    for r in rows:
        out.write(f"{r['name']:<{width}}  {r['op']:<13} {r['groups']:>4} {r['k']:>6} "
                  f"{r['n']:>6} {r['density']:>8.4f} {r['sparsity']:<10} "
                  f"{r['metadata_bytes']:>8}\n")
    return 0
