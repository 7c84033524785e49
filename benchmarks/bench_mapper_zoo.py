"""Whole-process timing of the zoo and SCALE-Sim topology paths (issue 7 §5).

Each case is a fresh ``python -m hwsim run ...`` (or a bare zoo build) process, start-up
included, pinned to one core; the wall time is the best of ``--repeat`` runs and the peak RSS is the child's
``ru_maxrss``; the CPU time (user + system) is printed beside the wall time, as a figure that a
loaded machine disturbs less. Each case runs once first, uncounted, so that bytecode is compiled
as in an installed tool. SCALE-Sim v3's own whole-process times on the same topologies and arrays are the
figures measured on this machine and quoted in issue 7 (ResNet-18 on 32×32 WS: 165 s; BERT-base
on 32×32 OS: 109 s); they are not re-measured here (SCALE-Sim is not a dependency).

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_mapper_zoo.py [--repeat 3] [--json OUT]

The machine's load matters: run it on an idle machine for figures to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPO = ROOT / "benchmarks" / "scalesim" / "topologies"

#: (label, argv after ``python``, wall target s, RSS target MB, SCALE-Sim seconds or None)
CASES = [
    ("zoo build: all nine models",
     ["-c", "from mapper.zoo import ZOO_MODELS, zoo_graph\n"
            "[zoo_graph(n) for n in ZOO_MODELS]"], None, None, None),
    ("run llama2-7b decode (kv 1024) on flightllm-u280",
     ["-m", "hwsim", "run", "--arch", "flightllm-u280", "--model", "llama2-7b", "--phase",
      "decode", "--kv-len", "1024", "--no-check", "--json"], 1.0, 1024, None),
    ("run bert-base seq 128 2:8 on sat-vcu1525",
     ["-m", "hwsim", "run", "--arch", "sat-vcu1525", "--model", "bert-base", "--sparsity", "2:8",
      "--no-check", "--json"], 1.0, None, None),
    ("run resnet50 on sat-vcu1525",
     ["-m", "hwsim", "run", "--arch", "sat-vcu1525", "--model", "resnet50", "--no-check",
      "--json"], 1.0, None, None),
    ("run resnet18.csv on dense-systolic 32x32 ws",
     ["-m", "hwsim", "run", "--arch", "dense-systolic", "--array", "32x32", "--dataflow", "ws",
      "--model", str(TOPO / "resnet18.csv"), "--no-check", "--json"], None, None, 165.0),
    ("run bert_base_seq128.csv on dense-systolic 32x32 os",
     ["-m", "hwsim", "run", "--arch", "dense-systolic", "--array", "32x32", "--dataflow", "os",
      "--model", str(TOPO / "bert_base_seq128.csv"), "--no-check", "--json"], None, None, 109.0),
]


def _one_core() -> None:
    """Pin the child to one core (issue 7 states its targets on one core)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # not CPU 0 (interrupts)


def _run(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MB, CPU seconds) of one child process.

    The child may write bytecode (an installed tool has its ``.pyc`` files), so the first run
    of a case, a warm-up, is not counted.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=_one_core)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n"
                         f"{proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main(args: list[str] | None = None) -> int:
    """Run every case and print a table (and JSON with ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    opts = p.parse_args(args)
    rows = []
    for label, argv, wall_target, rss_target, scalesim in CASES:
        _run(argv)  # warm-up: bytecode compiled and cached
        runs = [_run(argv) for _ in range(opts.repeat)]
        wall, rss = min(r[0] for r in runs), max(r[1] for r in runs)
        cpu = min(r[2] for r in runs)
        row = {"case": label, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
               "peak_rss_mb": round(rss, 1),
               "wall_target_s": wall_target, "rss_target_mb": rss_target,
               "scalesim_s": scalesim,
               "speedup_vs_scalesim": round(scalesim / wall, 1) if scalesim else None}
        rows.append(row)
        extra = f"  {row['speedup_vs_scalesim']}x faster than SCALE-Sim" if scalesim else ""
        target = f"  (target <= {wall_target} s)" if wall_target else ""
        print(f"{label:55s} {wall:7.2f} s (cpu {cpu:5.2f} s) {rss:7.0f} MB{target}{extra}",
              flush=True)
    if opts.json:
        opts.json.write_text(json.dumps({"load": os.getloadavg(), "cases": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
