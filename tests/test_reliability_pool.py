"""Reliability (issue 10 §3): the process pool under worker deaths and interrupts.

Subprocess tests are bounded by timeouts and use small sweeps, so that they hold on a loaded
2-core machine.
"""

from __future__ import annotations

import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hwsim import _pool
from hwsim.sweep import _mp_context

REPO = Path(__file__).resolve().parents[1]
SPEC = """\
name: pool
kind: gemm
seed: 3
base: {arch: sat-vcu1525, m: 1024, k: 1024, n: 1024}
axes:
  sparsity: [dense, 4:8, 2:8, 1:8]
  array: [16x16, 32x32]
  seed: [1, 2, 3]
"""
POINTS = 24


def test_a_dying_worker_costs_only_its_own_task_retried_once():
    import threading

    tasks = [(math.sqrt, (4.0,)), (os._exit, (3,)), (math.sqrt, (9.0,)), (math.sqrt, (16.0,)),
             (math.sqrt, (25.0,)), (math.sqrt, (threading.Lock(),))]
    out = {tid: (ok, val) for tid, ok, val in
           _pool.run_tasks(tasks, workers=2, ctx=_mp_context())}
    assert out[0] == (True, 2.0) and out[2] == (True, 3.0) and out[4] == (True, 5.0)
    ok, (etype, msg) = out[1]
    assert not ok and etype == _pool.WORKER_DIED
    assert "exit code 3" in msg and f"{_pool.ATTEMPTS} times" in msg
    assert out[5] == (False, ("TypeError", "cannot pickle '_thread.lock' object"))
    assert out[3] == (True, 4.0) and len(out) == len(tasks)


def _sweep(tmp_path: Path, workers: int = 2) -> subprocess.Popen:
    spec = tmp_path / "pool.yaml"
    spec.write_text(SPEC)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "hwsim", "sweep", str(spec), "--store",
         str(tmp_path / "pool.sqlite"), "--workers", str(workers), "--no-progress"],
        env=env, cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def _rows(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    except sqlite3.Error:
        return 0


def _workers(proc: subprocess.Popen, want: int, timeout: float = 60) -> list[psutil.Process]:
    """The pool's workers: children of the forkserver, itself a child of the sweep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = psutil.Process(proc.pid).children(recursive=True)
        workers = [k for k in kids if k.ppid() != proc.pid]
        if len(workers) >= want:
            return workers
        time.sleep(0.1)
    raise AssertionError("the pool's workers did not start")


def _session_left(sid: int, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for p in psutil.process_iter():
            try:
                if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(p.pid)
            except (OSError, psutil.Error):
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.mark.slow
def test_killed_worker_is_replaced_and_its_point_retried(tmp_path):
    proc = _sweep(tmp_path)
    try:
        victim = _workers(proc, 2)[0]
        deadline = time.monotonic() + 60
        while _rows(tmp_path / "pool.sqlite") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim.kill()  # as the OOM killer would
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert re.search(r"^failed\s+0$", out, re.M)
    assert re.search(rf"^points\s+{POINTS}$", out, re.M)
    assert _rows(tmp_path / "pool.sqlite") == POINTS


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_ends_the_whole_sweep_cleanly(tmp_path, sig):
    proc = _sweep(tmp_path)
    try:
        _workers(proc, 2)
        deadline = time.monotonic() + 60
        while _rows(tmp_path / "pool.sqlite") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        t0 = time.monotonic()
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # a terminal's Ctrl-C reaches the whole group
        else:
            os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + sig, err
    assert took < 5, took  # ~0.5 s unloaded; generous for a loaded 2-core machine
    assert err.count("\n") == 1 and "Traceback" not in err, err
    stored = int(re.search(r"(\d+) point\(s\) stored this run", err).group(1))
    assert stored == _rows(tmp_path / "pool.sqlite") >= 1  # every finished point is kept
    assert _session_left(proc.pid) == []  # no forkserver, worker or resource tracker left
