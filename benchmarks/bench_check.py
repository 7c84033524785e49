"""Cost of the functional check: wall time of checked vs unchecked GEMM runs.

Run ``python benchmarks/bench_check.py [--repeat 3] [--presets ...]``. For each preset it runs
a 4096^3 2:8 GEMM with ``check=False`` and ``check="sampled"`` (the default), and a 1024^3 2:8
GEMM with ``check=False`` and ``check="full"``, and prints the best-of-``repeat`` wall times,
the check's own time (``check_wall_seconds``), the scope and the checked/unchecked ratio. The
sampled check's budget is 3x the unchecked run (DESIGN.md, contract 9).
"""

from __future__ import annotations

import argparse
import sys
import time

from hwsim.gemm import simulate_gemm

PRESETS = ("sat-vcu1525", "dense-systolic", "flightllm-u280")
CASES = ((4096, "sampled"), (1024, "full"))


def _best(preset: str, size: int, check, repeat: int):
    best, res = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        r = simulate_gemm(preset, size, size, size, sparsity="2:8", check=check)
        wall = time.perf_counter() - t
        if best is None or wall < best:
            best, res = wall, r
    return best, res


def bench(presets, repeat: int = 3) -> list[dict]:
    """One row per (preset, size): unchecked and checked best wall times and their ratio."""
    rows = []
    for preset in presets:
        simulate_gemm(preset, 64, 64, 64, check=True)  # warm imports
        for size, mode in CASES:
            off, _ = _best(preset, size, False, repeat)
            on, r = _best(preset, size, mode, repeat)
            rows.append({
                "preset": preset, "size": size, "mode": mode, "tiles": r.counters["num_tiles"],
                "no_check_s": off, "check_s": on, "check_only_s": r.counters["check_wall_seconds"],
                "ratio": on / off, "scope": r.counters["check_scope"],
            })
    return rows


def main(argv=None) -> int:
    """Print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--presets", nargs="+", default=list(PRESETS))
    a = p.parse_args(argv)
    print(f"{'preset':16} {'size':>5} {'mode':8} {'tiles':>6} {'no-check s':>10} "
          f"{'check s':>8} {'check-only s':>12} {'ratio':>6}  scope")
    for r in bench(a.presets, a.repeat):
        print(f"{r['preset']:16} {r['size']:5d} {r['mode']:8} {r['tiles']:6d} "
              f"{r['no_check_s']:10.3f} {r['check_s']:8.3f} {r['check_only_s']:12.3f} "
              f"{r['ratio']:6.2f}  {r['scope']}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
