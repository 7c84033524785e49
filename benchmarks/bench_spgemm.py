"""Simulator wall time and peak host memory of ``simulate_spgemm`` for A·A, 10^4 … 10^6 nonzeros.

Peak memory is what ``tracemalloc`` sees (NumPy and SciPy buffers included) during a separate,
untimed run of the first dataflow; the row-wise planner works in chunks of windows so it stays bounded.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp

from hwsim.spgemm import rmat, simulate_spgemm


def uniform(n: int, per_row: int, seed: int) -> sp.csr_array:
    """Erdős–Rényi-like square matrix with ``per_row`` nonzeros per row on average (seeded)."""
    rng = np.random.default_rng(seed)
    m = n * per_row
    a = sp.coo_array((rng.uniform(0.5, 1.5, m), (rng.integers(0, n, m), rng.integers(0, n, m))),
                     shape=(n, n)).tocsr()
    a.sum_duplicates()
    return a


def cases(quick: bool):
    """(label, matrix) pairs from ~10^4 to ~10^6 stored entries."""
    yield "rmat s11 ef8", rmat(11, 8, seed=1)
    yield "uniform n=5e3 x2", uniform(5_000, 2, 1)
    yield "rmat s13 ef8", rmat(13, 8, seed=1)
    yield "uniform n=5e4 x2", uniform(50_000, 2, 1)
    if not quick:
        yield "rmat s14 ef8", rmat(14, 8, seed=1)  # 17 M products
        yield "uniform n=2.5e5 x2", uniform(250_000, 2, 1)
        yield "uniform n=5e5 x2", uniform(500_000, 2, 1)


def main(argv=None) -> None:
    """Command-line entry point: time every case and dataflow, then measure peak memory."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="only the small cases")
    p.add_argument("--dataflows", default="rowwise-hash,outer,inner")
    p.add_argument("--no-check", action="store_true", help="time without the SciPy check")
    args = p.parse_args(argv)
    flows = args.dataflows.split(",")
    print(f"{'case':22s} {'nnz(A)':>9s} {'products':>10s} {'nnz(C)':>9s} "
          + " ".join(f"{f + ' s':>14s}" for f in flows) + f" {'events':>8s} {'peak MB':>8s}")
    for label, a in cases(args.quick):
        times, res = [], None
        for f in flows:
            t0 = time.perf_counter()
            res_f = simulate_spgemm(a, dataflow=f, check=not args.no_check)
            times.append(time.perf_counter() - t0)
            res = res if res is not None else res_f
        # a second run of the first dataflow under tracemalloc (which slows allocation-heavy
        # code, so it is not timed)
        tracemalloc.start()
        simulate_spgemm(a, dataflow=flows[0], check=not args.no_check)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        c = res.counters
        print(f"{label:22s} {a.nnz:9d} {c['partial_products']:10d} {c['nnz_out']:9d} "
              + " ".join(f"{t:14.2f}" for t in times) + f" {res.events:8d} {peak / 1e6:8.0f}",
              flush=True)


if __name__ == "__main__":
    main()
