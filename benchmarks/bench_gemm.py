"""Simulator speed of ``simulate_gemm``: wall time and SimPy events grow with tiles, not MACs.

Run ``python benchmarks/bench_gemm.py [--max 8192] [--presets ...]``. For each engine preset,
dense and 2:8, and square shapes 256^3 ... 8192^3 it prints the tiles, events, events per
tile, simulator wall time (weights generated beforehand and timed separately), wall time per
tile and per billion MACs. The functional check is on only for the smallest shape, and its
time is excluded from ``wall_s`` (reported as ``check_s``).
"""

from __future__ import annotations

import argparse
import sys
import time

from hwsim.arch import load_arch
from hwsim.gemm import simulate_gemm, synthetic_weight
from hwsim.sparsity import parse_sparsity

PRESETS = ("sat-vcu1525", "flightllm-u280", "dense-systolic")
SIZES = (256, 512, 1024, 2048, 4096, 8192)
CHECK_UP_TO = 256


def bench(presets, sizes, sparsities, repeat: int = 1) -> list[dict]:
    """Best-of-``repeat`` runs of every (preset, sparsity, size): one row of figures each."""
    rows = []
    weights: dict = {}
    for sp in sparsities:
        for s in sizes:
            t = time.perf_counter()
            weights[sp, s] = synthetic_weight(s, s, parse_sparsity(sp), seed=0)
            weights[sp, s, "gen"] = time.perf_counter() - t
    for preset in presets:
        arch = load_arch(preset)
        engine = arch.gemm_engines()[0]
        simulate_gemm(arch, 64, 64, 64, check=False)  # warm imports and caches
        for sp in sparsities:
            for s in sizes:
                best = None
                for _ in range(repeat):
                    r = simulate_gemm(
                        arch, s, s, s, sparsity=sp, weight=weights[sp, s], check=s <= CHECK_UP_TO
                    )
                    if best is None or _sim_s(r) < _sim_s(best):
                        best = r
                tiles = best.counters["num_tiles"]
                rows.append(
                    {
                        "preset": preset,
                        "engine": engine,
                        "sparsity": sp,
                        "size": s,
                        "tiles": tiles,
                        "events": best.events,
                        "ev_per_tile": best.events / tiles,
                        "wall_s": _sim_s(best),
                        "check_s": best.counters["check_wall_seconds"],
                        "ms_per_tile": 1e3 * _sim_s(best) / tiles,
                        "s_per_gmac": _sim_s(best) / (best.dense_macs / 1e9),
                        "weight_gen_s": weights[sp, s, "gen"],
                        "check": best.check,
                        "sim_cycles": best.cycles,
                    }
                )
    return rows


def _sim_s(r) -> float:
    """Simulator wall time without the functional check."""
    return r.wall_seconds - r.counters["check_wall_seconds"]


def report(rows: list[dict], out=sys.stdout) -> None:
    """Print the table and the 4096^3 2:8 verdict (target: under a second of wall time)."""
    head = (
        f"{'preset':<16}{'sparsity':>8}{'size':>6}{'tiles':>7}{'events':>8}{'ev/tile':>8}"
        f"{'wall_s':>8}{'ms/tile':>9}{'s/GMAC':>9}{'wgen_s':>8}{'check_s':>8}  check"
    )
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in rows:
        print(
            f"{r['preset']:<16}{r['sparsity']:>8}{r['size']:>6}{r['tiles']:>7}{r['events']:>8}"
            f"{r['ev_per_tile']:>8.1f}{r['wall_s']:>8.3f}{r['ms_per_tile']:>9.3f}"
            f"{r['s_per_gmac']:>9.5f}{r['weight_gen_s']:>8.3f}{r['check_s']:>8.3f}  {r['check']}",
            file=out,
        )
    big = [r for r in rows if r["size"] == 4096 and r["sparsity"] == "2:8"]
    for r in big:
        verdict = "OK" if r["wall_s"] < 1.0 else "SLOW"
        print(f"4096^3 2:8 on {r['preset']}: {r['wall_s']:.3f} s wall [{verdict}]", file=out)


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max", type=int, default=8192, help="largest M=K=N (default 8192)")
    p.add_argument("--presets", nargs="*", default=list(PRESETS))
    p.add_argument("--repeat", type=int, default=1, help="best of N runs")
    args = p.parse_args(argv)
    sizes = [s for s in SIZES if s <= args.max]
    report(bench(args.presets, sizes, ("dense", "2:8"), args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
