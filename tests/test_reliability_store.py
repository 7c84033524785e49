"""Reliability (issue 10 §2, §4): store faults and output files are one-line typed errors, found
before any work where possible; atomic writes never replace devices or links."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from hwsim._io import atomic_write_text
from hwsim.cli import main
from hwsim.store import StoreError, SweepStore
from hwsim.sweep import run_sweep

SPEC = {"kind": "gemm", "seed": 1, "base": {"arch": "sat-vcu1525", "m": 8, "k": 16, "n": 8},
        "axes": {"sparsity": ["dense", "2:8"]}}
SPEC_YAML = ("kind: gemm\nseed: 1\nbase: {arch: sat-vcu1525, m: 8, k: 16, n: 8}\n"
             "axes: {sparsity: [dense, '2:8']}\n")


def _err(capsys, argv, code=1) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s.sqlite"
    run_sweep(SPEC, store=path, executor="serial", progress=False)
    return path


def test_corrupt_store_is_a_one_line_error(store, tmp_path, capsys):
    with SweepStore(store) as db:  # fold the WAL in, so the pages are in the main file
        db._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(store.read_bytes())
    data[100:4096 * 2] = os.urandom(4096 * 2 - 100)  # header tail and schema pages
    store.write_bytes(bytes(data))
    err = _err(capsys, ["sweep", "show", str(store)])
    assert "StoreError" in err and str(store) in err
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC_YAML)
    _err(capsys, ["sweep", str(spec), "--store", str(store), "--executor", "serial"])


def test_disk_full_while_storing_is_a_typed_error_and_keeps_earlier_points(store, monkeypatch):
    calls = []

    def full(self, *args):
        calls.append(1)
        raise sqlite3.OperationalError("database or disk is full")

    spec = dict(SPEC, axes={"sparsity": ["dense", "2:8", "1:8"]})
    monkeypatch.setattr(SweepStore, "_put_row", full)
    with pytest.raises(StoreError, match="the disk is full"):
        run_sweep(spec, store=store, executor="serial", progress=False)
    monkeypatch.undo()
    assert calls and len(SweepStore(store, create=False)) == 2  # the points stored before


def test_read_only_store_is_refused_before_any_work(store, tmp_path, capsys, monkeypatch):
    store.chmod(0o444)
    ran = []
    monkeypatch.setattr("hwsim.sweep._execute", lambda *a: ran.append(a))
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC_YAML.replace("'2:8'", "'2:8', '1:8'"))
    err = _err(capsys, ["sweep", str(spec), "--store", str(store), "--executor", "serial"])
    assert "read-only" in err and not ran
    assert main(["sweep", "show", str(store)]) == 0  # reading it is fine


def test_empty_file_is_not_silently_made_a_store(tmp_path, capsys):
    path = tmp_path / "typo.sqlite"
    path.touch()
    with pytest.raises(Exception, match="empty file \\(0 bytes\\), not a sweep store"):
        SweepStore(path)
    assert path.stat().st_size == 0


def test_second_sweep_on_a_store_in_use_is_refused(store, tmp_path):
    with SweepStore(store, lock=True):
        with pytest.raises(StoreError, match=rf"in use by another running sweep \(pid {os.getpid()}"):
            run_sweep(SPEC, store=store, executor="serial", progress=False)
    # released with the first: the second now runs (nothing left to do)
    assert run_sweep(SPEC, store=store, executor="serial", progress=False).skipped == 2


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    stale = tmp_path / ".out.json.0123abcd.tmp"
    stale.write_text("half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = tmp_path / ".out.json.89abcdef.tmp"  # a concurrent writer's: too young to touch
    fresh.write_text("busy")
    other = tmp_path / ".other.json.0123abcd.tmp"  # another file's: not ours
    other.write_text("x")
    os.utime(other, (old, old))
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert not stale.exists() and fresh.exists() and other.exists()


def test_symlinks_are_written_through_not_replaced(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_non_regular_outputs_are_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        atomic_write_text(fifo, "through")
        assert os.read(r, 100) == b"through"
    finally:
        os.close(r)
    assert fifo.is_fifo()  # not replaced by a regular file
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text("/dev/full", "x")
    assert os.path.exists("/dev/full") and not os.path.isfile("/dev/full")


@pytest.mark.parametrize("argv", [
    ["gemm", "--arch", "sat-vcu1525", "--m", "8", "--k", "16", "--n", "8", "--trace", ""],
    ["gemm", "--arch", "sat-vcu1525", "--m", "8", "--k", "16", "--n", "8", "--trace", "{d}/no/t.json"],
    ["rtl", "verilog", "-o", "{d}/missing/x.v"],
    ["rtl", "verilog", "-o", ""],
])
def test_bad_output_paths_are_usage_errors_before_running(argv, tmp_path, capsys):
    argv = [a.replace("{d}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("empty string" in err or "does not exist" in err)
    assert list(tmp_path.iterdir()) == []  # no folder created


def test_trace_to_stdout_writes_through(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out.txt"
    with open(out, "wb") as fh:  # stdout redirected to a file: /dev/stdout resolves to it
        proc = subprocess.run([sys.executable, "-m", "hwsim", "gemm", "--arch", "sat-vcu1525",
                               "--m", "8", "--k", "16", "--n", "8", "--trace", "/dev/stdout"],
                              stdout=fh, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    # the trace and the summary both reached the same file, in order, nothing replaced
    assert '"traceEvents"' in text and text.index("traceEvents") < text.index("arch_hash")
    assert os.path.islink("/dev/stdout")  # the link itself was not replaced


def test_sweep_show_without_store_is_a_usage_error(capsys):
    err = _err(capsys, ["sweep", "show"], code=2)
    assert "needs a STORE" in err


def test_sweep_show_fits_100_columns_with_integer_dsp_and_no_nan(store, capsys):
    spec = dict(SPEC, kind="spgemm", base={"rmat": [4, 2]}, axes={"dataflow": ["inner"]})
    run_sweep(spec, store=store, executor="serial", progress=False)  # a row without dsp
    assert main(["sweep", "show", str(store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 100 and len(lines) == 4
    header = lines[0].split()
    assert "dsp" in header and "NaN" not in "".join(lines) and "nan" not in "".join(lines)
    dsp = header.index("dsp")
    cells = [line.split()[dsp] for line in lines[1:]]
    assert sorted(cells) == ["-", "2048", "2048"], cells  # integers; a missing value is "-"
    assert main(["sweep", "show", str(store), "--columns", "key,cycles"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["key", "cycles"]
    _err(capsys, ["sweep", "show", str(store), "--columns", "nope"], code=2)


def test_demo_table_fits_100_columns_without_nan(monkeypatch, capsys):
    import pandas as pd

    from hwsim import demo

    label = "SMASH SpGEMM R-MAT 2^11 ef8 A*A, rowwise-hash"
    sat = [{"workload": f"SAT PE array, GEMM 1024^3, case {i}", "engine": "pe_array",
            "cycles": 137602 + i, "utilization": 0.9525, "energy_pj": 5.76e8, "dsp": 2048.0,
            "check": "passed", "wall_seconds": 0.1} for i in range(4)]
    table = pd.DataFrame([
        {"workload": label, "engine": "smash", "cycles": 348814, "utilization": 0.0735,
         "energy_pj": 2.56e9, "dsp": float("nan"), "check": "passed", "wall_seconds": 0.1},
        *sat,
    ], columns=demo._COLUMNS)
    monkeypatch.setattr(demo, "run_demo", lambda **kw: table)
    assert main(["demo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = lines[:3]
    assert max(map(len, rows)) <= 100 and "NaN" not in "\n".join(rows) and label in rows[1]
    assert rows[0].split()[:2] == ["workload", "cycles"]
    dsp = rows[0].split().index("dsp") - len(rows[0].split())  # from the right: labels have spaces
    assert rows[1].split()[dsp] == "-" and rows[2].split()[dsp] == "2048"
