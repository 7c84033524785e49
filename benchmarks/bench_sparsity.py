"""Host speed of N:M pruning and compression (``prune_nm`` + ``compress_nm``) on large weights.

Run ``python benchmarks/bench_sparsity.py [--repeat 3]``. For float32 and int8 weights of
1024^2 and 4096^2, patterns 2:4, 2:8 and 4:64, along both axes, it prints the best wall time of
pruning plus compressing and checks the target: a 1024^2 weight in well under a second
(:data:`TARGET_1024_S`), which no per-group Python loop can meet. Exits 1 when a target is
missed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from hwsim.sparsity import compress_nm, prune_nm

SIZES = (1024, 4096)
PATTERNS = ("2:4", "2:8", "4:64")
DTYPES = ("float32", "int8")
#: Seconds allowed to prune and compress one 1024 x 1024 weight along one axis.
TARGET_1024_S = 0.5


def bench(sizes=SIZES, patterns=PATTERNS, dtypes=DTYPES, repeat: int = 3) -> list[dict]:
    """Best-of-``repeat`` wall time of ``compress_nm(prune_nm(x))`` per configuration.

    Parameters
    ----------
    sizes : iterable of int
        Square weight sides.
    patterns : iterable of str
        N:M patterns.
    dtypes : iterable of str
        NumPy dtypes of the seeded weights.
    repeat : int
        Runs per configuration; the fastest is reported.

    Returns
    -------
    list of dict
        ``size``, ``dtype``, ``pattern``, ``axis``, ``seconds`` and ``slots`` (compressed length
        along the axis, from the run itself).
    """
    rows = []
    rng = np.random.default_rng(0)
    for size in sizes:
        base = rng.standard_normal((size, size))
        for dt in dtypes:
            x = (base * 40).astype(dt) if dt == "int8" else base.astype(dt)
            for pattern in patterns:
                for axis in (0, 1):
                    best, slots = float("inf"), 0
                    for _ in range(repeat):
                        t0 = time.perf_counter()
                        c = compress_nm(prune_nm(x, pattern, axis), pattern, axis)
                        best = min(best, time.perf_counter() - t0)
                        slots = c.values.shape[axis]
                    rows.append({"size": size, "dtype": dt, "pattern": pattern, "axis": axis,
                                 "seconds": best, "slots": slots})
    return rows


def report(rows: list[dict], out=sys.stdout) -> bool:
    """Print the table and the target verdicts; True when every target is met."""
    print(f"{'size':>6} {'dtype':>8} {'pattern':>8} {'axis':>5} {'slots':>6} {'seconds':>9}",
          file=out)
    ok = True
    for r in rows:
        verdict = ""
        if r["size"] == 1024:
            met = r["seconds"] < TARGET_1024_S
            ok &= met
            verdict = "  OK" if met else f"  SLOW (target {TARGET_1024_S} s)"
        print(f"{r['size']:>6} {r['dtype']:>8} {r['pattern']:>8} {r['axis']:>5} {r['slots']:>6} "
              f"{r['seconds']:>9.4f}{verdict}", file=out)
    return ok


def main(argv=None) -> int:
    """Run the benchmark; exit code 1 when a speed target is missed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    p.add_argument("--max", type=int, default=max(SIZES), help="largest side (default 4096)")
    args = p.parse_args(argv)
    rows = bench([s for s in SIZES if s <= args.max], repeat=args.repeat)
    return 0 if report(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
