"""Validate ``hwsim.engines.systolic`` against real SCALE-Sim v3 runs.

SCALE-Sim is run in its own interpreter (``--scalesim-python``, a venv with ``scalesim``
installed; it is not a dependency of this project and is never imported here): the plan in
``benchmarks/scalesim/plan.csv`` expands into one SCALE-Sim run per (topology subset,
dataflow, array, sparsity mode, memory mode), executed by ``benchmarks/scalesim/
scalesim_driver.py`` in a temporary directory. SCALE-Sim's compute cycles of each layer
("Total Cycles" minus "Stall Cycles" of its ``COMPUTE_REPORT.csv``) are compared with
:func:`hwsim.engines.systolic.scalesim_compute_cycles` of the layer as
:func:`mapper.frontends.scalesim.scalesim_topology_layers` reads it.

Usage::

    python -m venv /root/scalesim-venv
    /root/scalesim-venv/bin/pip install 'numpy<2.4' scalesim==3.0.0
    .venv/bin/python benchmarks/validate_scalesim.py --scalesim-python /root/scalesim-venv/bin/python

Prints one line per (layer, configuration) and the number of exact matches; exits 1 on any
mismatch or failed run. ``--random N`` (default 40) adds runs of random small layers and
arrays (edge cases: 1-wide arrays, single pixels, N:M tails, depthwise); ``--dry-run`` lists
the runs with their estimated run time. With ~2 free cores the default plan takes ~3-7 min.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim._io import atomic_write_text  # noqa: E402
from hwsim.engines.systolic import (  # noqa: E402
    scalesim_compute_cycles,
    scalesim_fold_cycles,
    scalesim_layer_dims,
)
from hwsim.sparsity import NMPattern  # noqa: E402
from mapper.frontends.scalesim import scalesim_topology_layers  # noqa: E402

HERE = Path(__file__).resolve().parent / "scalesim"
DRIVER = HERE / "scalesim_driver.py"
TEMPLATE = HERE / "scale.cfg.in"

#: Sparsity modes of the plan: SCALE-Sim's ``[sparsity]`` settings (layer-wise N:M from the
#: topology's Sparsity column, ``OptimizedMapping = false``).
MODES = {
    "dense": {"sparsity_support": "false", "sparse_rep": "ellpack_block"},
    "nm": {"sparsity_support": "true", "sparse_rep": "ellpack_block"},
    "nm-csr": {"sparsity_support": "true", "sparse_rep": "csr"},
}


@dataclass
class Job:
    """One SCALE-Sim run: a topology subset on one array, dataflow, sparsity and memory mode."""

    id: str
    topology: str
    gemm: bool
    dataflow: str
    rows: int
    cols: int
    mode: str
    memory: str
    topo_text: str
    config: str
    layers: list = field(default_factory=list)  # ScaleSimLayer, one per SCALE-Sim LayerID
    raw_rows: dict = field(default_factory=dict)  # topology row text by layer name
    cost: float = 0.0


def _select_rows(text: str, names: list[str] | None, dedupe: bool) -> str:
    """Header plus the chosen rows of a topology, verbatim (SCALE-Sim's own line format)."""
    lines = text.splitlines()
    out, seen = [lines[0]], set()
    for line in lines[1:]:
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if names is not None and cells[0] not in names:
            continue
        key = (tuple(c for c in cells[1:] if c), "DP" in cells[0])
        if dedupe and key in seen:
            continue
        seen.add(key)
        out.append(line)
    return "\n".join(out) + "\n"


def _estimate_seconds(df: str, rows: int, cols: int, layer, sparse: bool) -> float:
    """Rough SCALE-Sim run time of one layer (its memory model walks every demand row)."""
    pat = NMPattern.parse(layer.sparsity) if sparse else None
    k = layer.k if pat is None else pat.effective_length(layer.k)
    sr, sc, t = scalesim_layer_dims(df, layer.p, k, layer.n)
    demand_rows = math.ceil(sr / rows) * math.ceil(sc / cols) * scalesim_fold_cycles(df, rows, cols, t)
    width = rows + 2 * cols
    prefetch = layer.p * k + k * layer.n
    compress = layer.n * math.ceil(layer.k / NMPattern.parse(layer.sparsity).m) if sparse else 0
    return 0.03 + demand_rows * (40e-6 + 0.75e-6 * width) + 1.2e-6 * prefetch + 3e-6 * compress


def _make_job(jid, topo, gemm, df, r, c, mode, memory, text) -> Job:
    if memory == "CALC":
        interface, bandwidth, sram_kb = "CALC", 10, 6144
    else:  # USER:<words per cycle>:<kB per SRAM>, to provoke stalls
        _, bw, kb = memory.split(":")
        interface, bandwidth, sram_kb = "USER", int(bw), int(kb)
    config = TEMPLATE.read_text().format(
        run_name=jid, rows=r, cols=c, dataflow=df, sram_kb=sram_kb,
        bandwidth=bandwidth, interface=interface, **MODES[mode],
    )
    job = Job(jid, topo, gemm, df, r, c, mode, memory, text, config)
    job.layers = scalesim_topology_layers(text, gemm=gemm)
    job.raw_rows = {ln.split(",")[0].strip(): ln.strip() for ln in text.splitlines()[1:]}
    sparse = mode != "dense"
    job.cost = sum(_estimate_seconds(df, r, c, la, sparse) for la in job.layers)
    return job


def random_jobs(count: int, seed: int) -> list[Job]:
    """``count`` runs of three random small layers each (conv or GEMM, any N:M with a tail),
    on random small arrays (1 to 16 a side): the edge cases real networks rarely hit."""
    rng = random.Random(seed)
    patterns = ["1:1", "1:2", "2:4", "1:4", "3:4", "2:8", "3:8", "4:8", "1:3", "2:3"]
    jobs = []
    for j in range(count):
        gemm = rng.random() < 0.3
        rows = []
        for li in range(3):
            nm = rng.choice(patterns)
            if gemm:
                m, n, k = rng.choice([1, 2, rng.randint(1, 40)]), rng.randint(1, 40), rng.randint(1, 60)
                rows.append(f"g{j}_{li}, {m}, {n}, {k}, {nm},")
            else:
                fh, fw = rng.randint(1, 5), rng.randint(1, 5)
                ih, iw = fh + rng.randint(0, 12), fw + rng.randint(0, 12)
                ch, nf, st = rng.randint(1, 12), rng.randint(1, 30), rng.randint(1, 3)
                name = f"{'DP' if rng.random() < 0.15 else 'c'}{j}_{li}"
                rows.append(f"{name}, {ih}, {iw}, {fh}, {fw}, {ch}, {nf}, {st}, {nm},")
        head = "Layer, M, N, K, Sparsity," if gemm else (
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Strides, Sparsity,")
        text = head + "\n" + "\n".join(rows) + "\n"
        df = rng.choice(["ws", "os", "is"])
        r, c = rng.choice([1, 2, 3, 4, 5, 7, 8, 16]), rng.choice([1, 2, 3, 4, 6, 8, 9, 16])
        mode = rng.choice(["dense", "nm"])
        jobs.append(_make_job(f"r{j}-random-{df}-{r}x{c}-{mode}-CALC", "random", gemm, df, r, c,
                              mode, "CALC", text))
    return jobs


def build_jobs(plan_path: Path, dedupe: bool = True) -> list[Job]:
    """Expand the plan CSV into jobs (repeated identical layers dropped when ``dedupe``)."""
    jobs: list[Job] = []
    with open(plan_path, newline="") as fh:
        for i, row in enumerate(csv.DictReader(r for r in fh if not r.startswith("#"))):
            topo = row["topology"].strip()
            gemm = row["format"].strip() == "gemm"
            names = None if row["layers"].strip() == "*" else row["layers"].split()
            text = _select_rows((HERE / "topologies" / topo).read_text(), names, dedupe)
            memory = row["memory"].strip()
            for df in row["dataflows"].split():
                for arr in row["arrays"].split():
                    r, c = (int(x) for x in arr.lower().split("x"))
                    for mode in row["modes"].split():
                        jid = f"p{i}-{Path(topo).stem}-{df}-{r}x{c}-{mode}-{memory.replace(':', '_')}"
                        jobs.append(_make_job(jid, topo, gemm, df, r, c, mode, memory, text))
    return jobs


def run_scalesim(jobs: list[Job], python: str, workers: int, workdir: Path) -> dict:
    """Run the jobs in ``workers`` driver processes (longest first); results by job id."""
    buckets: list[list[Job]] = [[] for _ in range(max(1, workers))]
    loads = [0.0] * len(buckets)
    for job in sorted(jobs, key=lambda j: -j.cost):
        b = loads.index(min(loads))
        buckets[b].append(job)
        loads[b] += job.cost
    procs = []
    for b, bucket in enumerate(buckets):
        if not bucket:
            continue
        path = workdir / f"jobs{b}.json"
        payload = [
            {"id": j.id, "config": j.config, "topology": j.topo_text, "gemm": j.gemm} for j in bucket
        ]
        path.write_text(json.dumps(payload))
        out = open(workdir / f"out{b}.jsonl", "w")
        err = open(workdir / f"err{b}.txt", "w")
        procs.append(
            (subprocess.Popen([python, str(DRIVER), str(path), str(workdir / f"w{b}")],
                              stdout=out, stderr=err, cwd=workdir), out, err, b)
        )
    results = {}
    for proc, out, err, b in procs:
        proc.wait()
        out.close()
        err.close()
        for line in (workdir / f"out{b}.jsonl").read_text().splitlines():
            if line.strip():
                res = json.loads(line)
                results[res["id"]] = res
        if proc.returncode:
            tail = (workdir / f"err{b}.txt").read_text()[-2000:]
            print(f"driver {b} exited {proc.returncode}:\n{tail}", file=sys.stderr)
    return results


def compare(jobs: list[Job], results: dict) -> tuple[list[dict], list[str]]:
    """Per-layer records (depthwise sub-layers folded into their layer) and run errors."""
    records, errors = [], []
    for job in jobs:
        res = results.get(job.id)
        if res is None or "error" in res:
            errors.append(f"{job.id}: {'no result' if res is None else res['error'].strip()}")
            continue
        rep = res["layers"]
        if len(rep) != len(job.layers):
            errors.append(f"{job.id}: SCALE-Sim reported {len(rep)} layers, expected {len(job.layers)}")
            continue
        sparse = job.mode != "dense"
        by_name: dict[str, dict] = {}
        for la, r in zip(job.layers, rep, strict=True):
            ss = r["total"] - r["stall"]
            ours = scalesim_compute_cycles(
                job.dataflow, job.rows, job.cols, la.p, la.k, la.n, la.sparsity if sparse else None
            )
            base = la.name.split("Channel_")[0] if "Channel_" in la.name else la.name
            rec = by_name.get(base)
            if rec is None:
                rec = by_name[base] = {
                    "topology": job.topology, "format": "gemm" if job.gemm else "conv",
                    "layer": base, "p": la.p, "k": la.k, "n": la.n,
                    "sparsity": la.sparsity if sparse else "dense", "mode": job.mode,
                    "dataflow": job.dataflow, "rows": job.rows, "cols": job.cols,
                    "memory": job.memory, "row": job.raw_rows.get(base, ""), "instances": 0, "scalesim": ss, "ours": ours,
                    "scalesim_values": set(), "ours_values": set(), "stall": 0, "match": True,
                }
            rec["instances"] += 1
            rec["scalesim_values"].add(ss)
            rec["ours_values"].add(ours)
            rec["stall"] += r["stall"]
            rec["match"] &= ss == ours
        for rec in by_name.values():
            if len(rec["scalesim_values"]) != 1 or len(rec["ours_values"]) != 1:
                rec["match"] = False
            rec["scalesim_values"] = sorted(rec["scalesim_values"])
            rec["ours_values"] = sorted(rec["ours_values"])
            records.append(rec)
    return records, errors


def pytest_rows(records: list[dict]) -> str:
    """``TABLE`` rows of ``tests/test_hwsim_engines_systolic_scalesim.py`` (matching records)."""
    order = ["alexnet.csv", "resnet18.csv", "mobilenet_v1.csv", "bert_base_seq128.csv"]
    rank = {t: i for i, t in enumerate(order)}
    keep = sorted(
        (r for r in records if r["match"]),
        key=lambda r: (rank.get(r["topology"], len(order)), r["topology"], r["row"], r["dataflow"],
                       r["rows"], r["cols"], r["mode"], r["memory"]),
    )
    lines = [
        f"    ({Path(r['topology']).stem!r}, {r['format']!r}, {r['row']!r}, {r['dataflow']!r}, "
        f"{r['rows']}, {r['cols']}, {r['mode']!r}, {r['memory']!r}, {r['instances']}, "
        f"{r['scalesim']}),"
        for r in keep
    ]
    return "\n".join(lines) + "\n"


def print_table(records: list[dict]) -> None:
    """Print one line per (layer, configuration): SCALE-Sim's cycles, ours and the difference."""
    head = (f"{'topology':<22}{'layer':<22}{'P,K,N':<18}{'df':<4}{'array':>8} {'sparsity':<9}"
            f"{'memory':<12}{'scalesim':>10}{'ours':>10}{'diff':>7}  stalls")
    print(head)
    print("-" * len(head))
    for r in records:
        inst = f"x{r['instances']}" if r["instances"] > 1 else ""
        pkn = f"{r['p']},{r['k']},{r['n']}"
        arr = f"{r['rows']}x{r['cols']}"
        sp = r["sparsity"] + ("*" if r["mode"] == "nm-csr" else "")
        flag = "" if r["match"] else "  MISMATCH"
        print(
            f"{Path(r['topology']).stem:<22}{(r['layer'] + inst)[:21]:<22}{pkn:<18}"
            f"{r['dataflow']:<4}{arr:>8} {sp:<9}{r['memory']:<12}{r['scalesim']:>10}"
            f"{r['ours']:>10}{r['ours'] - r['scalesim']:>7}  {r['stall']}{flag}"
        )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; 1 on any mismatch or failed run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scalesim-python", required=True, help="interpreter with scalesim installed")
    ap.add_argument("--plan", default=str(HERE / "plan.csv"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", default="", help="run only jobs whose id contains this text")
    ap.add_argument("--dry-run", action="store_true", help="list the runs and estimated times")
    ap.add_argument("--no-dedupe", action="store_true", help="also run repeated identical layers")
    ap.add_argument("--random", type=int, default=40, help="extra runs of random small layers")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random layers")
    ap.add_argument("--json-out", help="write the per-layer records as JSON")
    ap.add_argument("--pytest-rows", help="write the records as rows of the frozen test table")
    ap.add_argument("--keep", help="work in this directory and keep SCALE-Sim's outputs")
    args = ap.parse_args(argv)

    jobs = build_jobs(Path(args.plan), not args.no_dedupe) + random_jobs(args.random, args.seed)
    jobs = [j for j in jobs if args.only in j.id]
    est = sum(j.cost for j in jobs)
    print(f"{len(jobs)} SCALE-Sim runs, {sum(len(j.layers) for j in jobs)} SCALE-Sim layers, "
          f"~{est / max(1, args.workers):.0f} s estimated on {args.workers} workers")
    if args.dry_run:
        for j in sorted(jobs, key=lambda j: -j.cost):
            print(f"  {j.cost:8.1f} s  {j.id}  ({len(j.layers)} layers)")
        return 0
    ver = subprocess.run(
        [args.scalesim_python, "-c",
         "import importlib.metadata as m; print(m.version('scalesim'), m.version('numpy'))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    print(f"SCALE-Sim {ver[0]} (numpy {ver[1]}) via {args.scalesim_python}")

    t0 = time.time()
    if args.keep:
        workdir = Path(args.keep)
        workdir.mkdir(parents=True, exist_ok=True)
        results = run_scalesim(jobs, args.scalesim_python, args.workers, workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="scalesim-") as tmp:
            results = run_scalesim(jobs, args.scalesim_python, args.workers, Path(tmp))
    records, errors = compare(jobs, results)
    print_table(records)
    n_ok = sum(r["match"] for r in records)
    n_sub = sum(r["instances"] for r in records)
    print(f"\n{n_ok}/{len(records)} layer x configuration comparisons match exactly "
          f"({n_sub} SCALE-Sim layers incl. depthwise channels; * = SparseRep csr) "
          f"in {time.time() - t0:.0f} s")
    for e in errors:
        print("ERROR", e, file=sys.stderr)
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(
            {"scalesim": ver[0], "numpy": ver[1], "date": time.strftime("%Y-%m-%d"),
             "records": records}, indent=1))
    if args.pytest_rows:
        atomic_write_text(args.pytest_rows, pytest_rows(records))
    return 0 if n_ok == len(records) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
