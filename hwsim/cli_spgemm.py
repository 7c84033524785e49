"""``hwsim spgemm``: simulate one sparse × sparse product and print its result."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


#: Keys printed by the text output, in order (``--json`` prints everything).
SUMMARY_KEYS = (
    "arch",
    "engine",
    "cycles",
    "compute_cycles",
    "stall_cycles",
    "seconds",
    "wall_seconds",
    "partial_products",
    "nnz_out",
    "dense_macs",
    "utilization",
    "dram_read_bytes",
    "dram_write_bytes",
    "energy_pj",
    "hash_probes",
    "hash_collisions",
    "bank_conflicts",
    "atomic_ops",
    "events",
    "check",
    "check_reason",
    "seed",
    "arch_hash",
)


def _rmat_arg(text: str) -> tuple[int, int]:
    try:
        scale, ef = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected SCALE,EDGEFACTOR (two integers), not {text!r}"
        ) from None
    return scale, ef


def register(subparsers) -> None:
    """Add the ``spgemm`` subcommand to the ``hwsim`` parser."""
    p = subparsers.add_parser(
        "spgemm",
        help="simulate C = A·B (SMASH row-wise hashing, inner or outer product)",
        description="Simulate a sparse × sparse matrix product on a many-core SpGEMM machine.",
    )
    p.add_argument("--arch", default="smash-piuma", help="preset name or YAML file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--matrix", metavar="A.mtx", help="Matrix Market file of A")
    src.add_argument("--rmat", metavar="SCALE,EDGEFACTOR", type=_rmat_arg,
                     help="seeded R-MAT graph of 2**SCALE vertices as A")
    p.add_argument("--matrix-b", metavar="B.mtx", help="Matrix Market file of B (default: A)")
    p.add_argument("--dataflow", default="rowwise-hash", choices=("rowwise-hash", "inner", "outer"))
    p.add_argument("--kernel", choices=("v1", "v2", "v3"), default=None,
                   help="SMASH kernel version for rowwise-hash (default: the arch's)")
    p.add_argument("--b-cache-bytes", metavar="BYTES", type=int, default=None,
                   help="rowwise-hash: per-core window-scoped cache for rows of B, bytes "
                        "(default: the arch's, 0 = no cache)")
    p.add_argument("--workers", type=int, default=None, help="worker cores (default: the arch's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the R-MAT generator")
    p.add_argument("--no-check", action="store_true", help="skip the check against SciPy A@B")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``hwsim spgemm``; returns the exit code."""
    from .cli import print_json, print_summary
    from .errors import ConfigError
    from .spgemm import rmat, simulate_spgemm

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be a positive integer, not {args.workers}")
    if args.kernel is not None and args.dataflow != "rowwise-hash":
        # the kernel versions are SMASH's; the baselines would ignore the flag silently
        raise ConfigError(
            f"--kernel applies to --dataflow rowwise-hash only, not {args.dataflow!r}"
        )
    if args.b_cache_bytes is not None and args.b_cache_bytes < 0:
        raise ValueError(f"--b-cache-bytes must be >= 0, not {args.b_cache_bytes}")
    if args.b_cache_bytes is not None and args.dataflow != "rowwise-hash":
        raise ConfigError(
            f"--b-cache-bytes applies to --dataflow rowwise-hash only, not {args.dataflow!r}"
        )
    overrides = {}
    if args.kernel:
        overrides["kernel"] = args.kernel
    if args.b_cache_bytes is not None:
        overrides["b_cache_bytes"] = args.b_cache_bytes
    if args.rmat is not None:
        a = rmat(*args.rmat, seed=args.seed)
    else:
        a = args.matrix
    res = simulate_spgemm(
        a,
        args.matrix_b,
        arch=args.arch,
        dataflow=args.dataflow,
        workers=args.workers,
        seed=args.seed,
        check=not args.no_check,
        **overrides,
    )
    payload = res.to_dict()
    payload["params"]["input"] = (
        f"rmat:{args.rmat[0]},{args.rmat[1]}" if args.rmat is not None else args.matrix
    )
    if args.json:
        print_json(payload)
    else:
        print_summary(payload, SUMMARY_KEYS)
    return 0
