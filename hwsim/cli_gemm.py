"""``hwsim gemm``: simulate one (sparse) GEMM on an accelerator and print the result."""

from __future__ import annotations

import argparse  # noqa: F401  (Namespace in annotations)

__all__ = ["register", "SUMMARY_KEYS"]

#: Keys printed by the text output, in order (``--json`` prints everything).
SUMMARY_KEYS = (
    "arch",
    "engine",
    "cycles",
    "compute_cycles",
    "stall_cycles",
    "seconds",
    "wall_seconds",
    "dense_macs",
    "performed_macs",
    "utilization",
    "dram_read_bytes",
    "dram_write_bytes",
    "sram_read_bytes",
    "sram_write_bytes",
    "energy_pj",
    "events",
    "num_tiles",
    "check",
    "check_scope",
    "check_reason",
    "seed",
    "arch_hash",
)


def register(subparsers) -> None:
    """Add ``gemm`` to the ``hwsim`` parser."""
    from .cli import add_check_flags, output_file

    p = subparsers.add_parser(
        "gemm",
        help="simulate a GEMM out[M,N] = act[M,K] @ weight[K,N] with a sparse weight",
        description="Simulate one GEMM on an accelerator preset or YAML file.",
    )
    p.add_argument("--arch", required=True, metavar="PRESET|FILE.yaml")
    p.add_argument("--m", required=True, type=int, help="output rows (per batch element)")
    p.add_argument("--k", required=True, type=int, help="reduction length")
    p.add_argument("--n", required=True, type=int, help="output columns")
    p.add_argument(
        "--sparsity",
        default="dense",
        metavar="SPEC",
        help="dense | N:M | block:BxB:D | unstructured:D (default dense)",
    )
    p.add_argument("--precision", default="int8", choices=("int8", "int16", "fp16", "bf16"))
    p.add_argument("--engine", default=None, help="engine name in the architecture")
    p.add_argument("--dataflow", default=None, choices=("ws", "os", "is"))
    p.add_argument("--array", default=None, metavar="RxC", help="override engine rows x cols")
    p.add_argument("--batch", type=int, default=1, help="batch (multiplies M)")
    p.add_argument("--training", action="store_true", help="SAT BDWP training (dense or N:M): forward, backward-data and weight-update GEMMs")
    add_check_flags(
        p, "run the tiles the timing counted and compare their counts and outputs: a seeded "
        "sample of tiles incl. first, last and edge tiles (sampled, the default; bare --check)"
        " or every tile with a progress bar (full)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trace", default=None, metavar="FILE.json", type=output_file,
                   help="write a Chrome trace (its folder must exist)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .cli import check_mode, print_json, print_summary
    from .gemm import simulate_gemm

    res = simulate_gemm(
        args.arch,
        args.m,
        args.k,
        args.n,
        sparsity=args.sparsity,
        engine=args.engine,
        dataflow=args.dataflow,
        precision=args.precision,
        batch=args.batch,
        array=args.array,
        training=args.training,
        check=check_mode(args.check),
        seed=args.seed,
        trace=args.trace,
    )
    d = res.to_dict()
    if d.get("device_warning"):  # a design larger than its device: say so, still report
        from .cli_arch import _warn

        _warn(d["device_warning"].split("; "))
    if args.json:
        print_json(d)
        return 0
    print_summary(d, SUMMARY_KEYS)
    if args.trace:
        print_summary({"trace": args.trace}, (*SUMMARY_KEYS, "trace"))
    return 0
