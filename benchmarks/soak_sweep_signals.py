"""Soak of interrupts on a process-pool sweep: Ctrl-C (SIGINT to the process group, as a
terminal sends it) and SIGTERM (to the main process only), several runs of each.

For every run it reports whether the sweep hung (not gone within ``--hang-seconds`` of the
signal), how long it took to exit, whether any process of its session outlived it (the
forkserver, a worker, the resource tracker: an orphan), whether stderr holds a traceback,
and whether points were lost: the CLI's "N point(s) stored this run" must equal the rows the
store gained, and after all runs a final resume must complete the sweep with every point
``ok`` and a table equal (timing columns aside) to an uninterrupted reference run.

Usage::

    python benchmarks/soak_sweep_signals.py [--runs 5] [--workers 2] [--json]

Exit code 0 when every run was clean, 1 otherwise. Bounded: each run is killed after
``--hang-seconds`` (counted as a hang) and the whole soak takes about a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

SPEC = """\
name: soak
kind: gemm
seed: 3
base: {arch: sat-vcu1525, m: 512, k: 1024, n: 2048}
axes:
  sparsity: [dense, 4:8, 2:8, 1:8]
  array: [16x16, 32x32, 64x32]
  seed: [1, 2, 3]
"""
TIMING = {"wall_seconds", "check_wall_seconds"}


def _cmd(spec: Path, store: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "hwsim", "sweep", str(spec), "--store", str(store),
            "--executor", "processes", "--workers", str(workers), "--no-progress"]


#: Checkout whose hwsim is soaked (``--root``; default this one).
ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _rows(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    except sqlite3.Error:
        return 0


def _session(sid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def one_run(sig: int, spec: Path, store: Path, workers: int, hang_seconds: float,
            wait_rows: int, double: bool = False) -> dict:
    """Start a sweep, signal it once a point is stored (or after 3 s), observe the outcome."""
    before = _rows(store)
    # files, not pipes: an orphaned worker holding a pipe open must not look like a hang
    errfile = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(_cmd(spec, store, workers), env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=errfile, text=True)
    sid = proc.pid
    t_start = time.monotonic()
    while time.monotonic() - t_start < 20 and proc.poll() is None:
        if _rows(store) >= before + wait_rows and time.monotonic() - t_start > 1.0:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # land the signal while points are running
    finished_early = proc.poll() is not None
    t_sig = time.monotonic()
    if not finished_early:
        if sig == signal.SIGINT:
            os.killpg(sid, signal.SIGINT)  # what a terminal's Ctrl-C does
            if double:  # an impatient user presses Ctrl-C again
                time.sleep(0.05)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(sid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGTERM)
    hang = False
    try:
        proc.wait(timeout=hang_seconds)
    except subprocess.TimeoutExpired:
        hang = True
        os.killpg(sid, signal.SIGKILL)
        proc.wait()
    exit_s = time.monotonic() - t_sig
    orphans = []
    deadline = time.monotonic() + 3.0  # the forkserver and tracker exit on EOF, give them 3 s
    while time.monotonic() < deadline:
        orphans = _session(sid)
        if not orphans:
            break
        time.sleep(0.1)
    orphan_desc = [f"{p.pid}:{' '.join(p.cmdline())[:60]}" for p in orphans]
    for p in orphans:
        try:
            p.kill()
        except psutil.Error:
            pass
    errfile.seek(0)
    err = errfile.read()
    errfile.close()
    after = _rows(store)
    m = re.search(r"(\d+) point\(s\) stored this run", err)
    reported = int(m.group(1)) if m else None
    lost = None if reported is None else reported - (after - before)
    return {
        "signal": signal.Signals(sig).name + ("x2" if double else ""),
        "finished_before_signal": finished_early,
        "returncode": proc.returncode,
        "exit_seconds": round(exit_s, 2),
        "hang": hang,
        "orphans": orphan_desc,
        "traceback": "Traceback" in err,
        "stderr_first_line": err.strip().splitlines()[0] if err.strip() else "",
        "stderr_lines": len(err.strip().splitlines()),
        "stored_reported": reported,
        "rows_gained": after - before,
        "points_lost": lost,
    }


def kill_worker_run(spec: Path, store: Path, workers: int) -> dict:
    """SIGKILL one pool worker (as the OOM killer would) mid-sweep; count the failed points."""
    proc = subprocess.Popen(_cmd(spec, store, workers), env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    victim = None
    t0 = time.monotonic()
    while victim is None and time.monotonic() - t0 < 60 and proc.poll() is None:
        kids = psutil.Process(proc.pid).children(recursive=True)
        workers_ = [k for k in kids if k.ppid() != proc.pid]
        if len(workers_) >= workers and _rows(store) >= 1:
            victim = workers_[0]
        time.sleep(0.05)
    if victim is not None:
        victim.kill()
    try:
        _, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = dict(db.execute("SELECT status, COUNT(*) FROM points GROUP BY status").fetchall())
        kinds = [r[0] for r in db.execute(
            "SELECT DISTINCT error_type FROM points WHERE status='error'")]
    return {"returncode": proc.returncode, "ok": rows.get("ok", 0),
            "failed": rows.get("error", 0), "error_types": kinds,
            "traceback": "Traceback" in err}


def _table(store: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT key, status, result FROM points ORDER BY key").fetchall()
    out = []
    for key, status, result in rows:
        res = {k: v for k, v in json.loads(result or "{}").items() if k not in TIMING}
        out.append((key, status, json.dumps(res, sort_keys=True)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per signal (default 5)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hang-seconds", type=float, default=10.0)
    ap.add_argument("--double", type=int, default=2,
                    help="extra runs with two Ctrl-C 50 ms apart (default 2)")
    ap.add_argument("--json", action="store_true", help="print every run as JSON")
    ap.add_argument("--root", type=Path, default=None,
                    help="checkout to soak (default: this one), e.g. to measure another branch")
    args = ap.parse_args(argv)
    global ROOT
    if args.root is not None:
        ROOT = args.root.resolve()
    with tempfile.TemporaryDirectory(prefix="hwsim-soak-") as tmp:
        tmp = Path(tmp)
        spec = tmp / "soak.yaml"
        spec.write_text(SPEC)
        store = tmp / "soak.sqlite"
        runs = []
        for i in range(args.runs * 2):
            sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
            if _rows(store) >= 30:  # keep work left to interrupt
                store.unlink()
                for extra in ("-wal", "-shm"):
                    Path(f"{store}{extra}").unlink(missing_ok=True)
            runs.append(one_run(sig, spec, store, args.workers, args.hang_seconds, 1))
        for _ in range(args.double):
            runs.append(one_run(signal.SIGINT, spec, store, args.workers, args.hang_seconds, 1,
                                double=True))
        killed = kill_worker_run(spec, tmp / "killed.sqlite", args.workers)
        # resume to completion, compare with an uninterrupted reference
        resume = subprocess.run(_cmd(spec, store, args.workers), env=_env(),
                                capture_output=True, text=True, timeout=600)
        ref = tmp / "ref.sqlite"
        subprocess.run(_cmd(spec, ref, args.workers), env=_env(), capture_output=True,
                       text=True, timeout=600, check=True)
        final_ok = resume.returncode == 0 and _table(store) == _table(ref)
    summary = {
        "runs": len(runs),
        "hangs": sum(r["hang"] for r in runs),
        "orphans": sum(len(r["orphans"]) for r in runs),
        "tracebacks": sum(r["traceback"] for r in runs),
        "points_lost": sum(r["points_lost"] or 0 for r in runs),
        "unreported": sum(r["stored_reported"] is None for r in runs),
        "max_exit_seconds": max(r["exit_seconds"] for r in runs),
        "resumed_table_equals_reference": final_ok,
        "killed_worker_run": killed,
    }
    if args.json:
        print(json.dumps({"summary": summary, "runs": runs}, indent=2))
    else:
        print(f"{'signal':<8}{'rc':>5}{'exit_s':>8}  hang orphans tb  stored/gained  stderr")
        for r in runs:
            print(f"{r['signal']:<8}{r['returncode']:>5}{r['exit_seconds']:>8}  "
                  f"{r['hang']!s:<5}{len(r['orphans']):>7} {r['traceback']!s:<5} "
                  f"{r['stored_reported']}/{r['rows_gained']:<10} {r['stderr_first_line'][:60]}")
        for k, v in summary.items():
            print(f"{k}: {v}")
    clean = (summary["hangs"] == summary["orphans"] == summary["tracebacks"] == 0
             and summary["points_lost"] == 0 and summary["unreported"] == 0 and final_ok)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
