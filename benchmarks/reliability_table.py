"""Issue 10's before/after table: each bad-input / fault class, run as a user would, capped.

Every command runs as ``python -m hwsim ...`` from the checkout given by ``--root`` in a fresh
folder, under ``prlimit --as`` (default 3 GB of address space) and a timeout (default 30 s), so
that a memory bomb of an old version ends as "killed at cap" instead of taking the machine.
Prints a Markdown table: class, exit code, first stderr line, peak RSS (MB), seconds.

Classes that need root (a tiny tmpfs for "disk full", a read-only remount) are skipped when
``mount`` is not allowed. Nothing here writes to ``/dev``: the device-node cases are measured
through a FIFO and a symlink in the scratch folder.

Usage::

    python benchmarks/reliability_table.py --root /path/to/checkout [--python PY]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GEMM = ["gemm", "--arch", "sat-vcu1525", "--m", "8", "--k", "16", "--n", "8"]
SPEC = "kind: gemm\nseed: 1\nbase: {arch: sat-vcu1525, m: 8, k: 16, n: 8}\n"


def _bomb_lines(levels=9, width=9):
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]"
              for i in range(1, levels + 1)]
    return lines


class Runner:
    def __init__(self, root: Path, python: str, cap_gb: float, timeout: float):
        self.root, self.python, self.cap, self.timeout = root, python, cap_gb, timeout

    def run(self, argv, cwd: Path, *, background=False, stdout=None):
        cmd = ["prlimit", f"--as={int(self.cap * 2**30)}", self.python, "-m", "hwsim", *argv]
        if not background:
            cmd = ["/usr/bin/time", "-f", "RSSKB=%M", *cmd]
        env = dict(os.environ, PYTHONPATH=str(self.root))
        if background:
            return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout or subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        killed = False
        try:
            _, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            killed = True
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
        secs = time.monotonic() - t0
        rss = None
        lines = []
        for ln in err.strip().splitlines():
            if ln.startswith("RSSKB="):
                rss = int(ln[6:]) / 1024
            elif ln.strip() and not ln.startswith("Command exited with"):
                lines.append(ln)
        err = "\n".join(lines)
        first = lines[0] if lines else ""
        if "Traceback" in err:
            first = f"[traceback, {len(lines)} lines] " + (lines[-1] if lines else "")
        if killed:
            first = f"killed at cap ({self.timeout:g} s)"
        elif "MemoryError" in err and "hwsim: error" not in first:
            first = f"[MemoryError at the {self.cap:g} GB cap] " + first
        return {"rc": proc.returncode, "err": first[:110], "rss_mb": rss, "secs": secs}


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def cases(r: Runner, d: Path):
    """Yield (class, result) for every class; ``d`` is a scratch folder."""
    def fresh(name):
        p = d / name
        p.mkdir()
        return p

    w = fresh("bomb_arch")
    (w / "a.yaml").write_text("\n".join([*_bomb_lines(), "name: *l9"]) + "\n")
    yield "YAML alias bomb, `arch validate`", r.run(["arch", "validate", "a.yaml"], w)
    w = fresh("bomb_sweep")
    (w / "s.yaml").write_text(SPEC + "description:\n" + "".join(f"  {x}\n" for x in
                                                                 _bomb_lines()))
    yield "YAML alias bomb, sweep spec", r.run(["sweep", "s.yaml", "--executor", "serial"], w)
    w = fresh("devzero")
    yield "`gemm --arch /dev/zero`", r.run(["gemm", "--arch", "/dev/zero", "--m", "8", "--k",
                                            "8", "--n", "8"], w)
    yield "`sweep /dev/zero`", r.run(["sweep", "/dev/zero"], w)
    yield "`gemm --arch /dev/urandom`", r.run(["gemm", "--arch", "/dev/urandom", "--m", "8",
                                               "--k", "8", "--n", "8"], w)
    for exp in (9, 8):
        w = fresh(f"mtx{exp}")
        (w / "a.mtx").write_text("%%MatrixMarket matrix coordinate real general\n"
                                 f"{10**exp} {10**exp} 3\n1 1 1.0\n2 2 2.0\n3 3 3.0\n")
        yield f".mtx header 10^{exp} x 10^{exp}, 3 entries", r.run(
            ["spgemm", "--matrix", "a.mtx", "--no-check"], w)
    w = fresh("grid")
    vals = "[" + ", ".join(str(i) for i in range(1, 101)) + "]"
    (w / "g.yaml").write_text(SPEC.replace("m: 8, k: 16, n: 8", "m: 8") +
                              f"axes:\n  k: {vals}\n  n: {vals}\n  batch: {vals}\n"
                              f"  seed: {vals}\n")
    yield "sweep grid of 10^8 points", r.run(["sweep", "g.yaml", "--executor", "serial"], w)
    w = fresh("rmat")
    yield "`spgemm --rmat 25,8`", r.run(["spgemm", "--rmat", "25,8", "--no-check"], w)
    w = fresh("dup")
    (w / "s.yaml").write_text(SPEC + "seed: 2\n")
    yield "duplicate key, sweep spec", r.run(["sweep", "s.yaml", "--executor", "serial"], w)
    arch = subprocess.run([r.python, "-m", "hwsim", "arch", "show", "sat-vcu1525"], text=True,
                          capture_output=True, env=dict(os.environ, PYTHONPATH=str(r.root))).stdout
    (w / "a.yaml").write_text(arch.replace("    rows: 32\n", "    rows: 32\n    rows: 64\n", 1))
    yield "duplicate key, arch", r.run(["arch", "validate", "a.yaml"], w)
    # -- store faults
    w = fresh("corrupt")
    (w / "s.yaml").write_text(SPEC + "axes: {sparsity: [dense, '2:8']}\n")
    r.run(["sweep", "s.yaml", "--executor", "serial", "--store", "s.sqlite"], w)
    import sqlite3

    with contextlib.closing(sqlite3.connect(w / "s.sqlite")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray((w / "s.sqlite").read_bytes())
    data[100:8192] = bytes((i * 7 + 3) % 256 for i in range(8092))
    (w / "s.sqlite").write_bytes(bytes(data))
    yield "corrupt store, `sweep show`", r.run(["sweep", "show", "s.sqlite"], w)
    yield "corrupt store, `sweep`", r.run(["sweep", "s.yaml", "--executor", "serial",
                                          "--store", "s.sqlite"], w)
    w = fresh("full")
    mnt = w / "mnt"
    if _mount_tmpfs(mnt, "400k"):
        try:
            (w / "s.yaml").write_text(SPEC)
            r.run(["sweep", "s.yaml", "--executor", "serial", "--store", "mnt/s.sqlite"], w)
            (w / "s.yaml").write_text(SPEC + "axes:\n  sparsity: [dense, '2:8', '1:8', '4:8']\n"
                                      "  array: [8x8, 16x16, 32x32, 8x16, 16x8]\n"
                                      "  seed: [1, 2, 3, 4, 5]\n")
            fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 4096)
            os.close(fd)
            with contextlib.suppress(OSError):
                os.truncate(mnt / "filler", max(0, (mnt / "filler").stat().st_size - 60_000))
            yield "disk full during a sweep", r.run(["sweep", "s.yaml", "--executor", "serial",
                                                     "--store", "mnt/s.sqlite"], w)
        finally:
            _umount(mnt)
    w = fresh("ro")
    mnt = w / "mnt"
    if _mount_tmpfs(mnt, "4m"):
        try:
            (w / "s.yaml").write_text(SPEC + "axes: {sparsity: [dense, '2:8']}\n")
            r.run(["sweep", "s.yaml", "--executor", "serial", "--store", "mnt/s.sqlite"], w)
            (w / "s.yaml").write_text(SPEC + "axes: {sparsity: [dense, '2:8', '1:8', '4:8']}\n")
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
            yield "read-only store (ro mount)", r.run(["sweep", "s.yaml", "--executor", "serial",
                                                       "--store", "mnt/s.sqlite"], w)
        finally:
            _umount(mnt)
    w = fresh("empty")
    (w / "s.yaml").write_text(SPEC)
    (w / "e.sqlite").touch()
    res = r.run(["sweep", "s.yaml", "--executor", "serial", "--store", "e.sqlite"], w)
    res["err"] = res["err"] or f"(store now {(w / 'e.sqlite').stat().st_size} bytes)"
    yield "0-byte file as store", res
    w = fresh("concurrent")
    (w / "s.yaml").write_text(SPEC.replace("m: 8, k: 16, n: 8", "m: 256, k: 512, n: 1024") +
                              "axes:\n  sparsity: [dense, '2:8', '1:8', '4:8']\n"
                              "  seed: [1, 2, 3, 4]\n")
    first = r.run(["sweep", "s.yaml", "--executor", "serial", "--store", "c.sqlite"], w,
                  background=True)
    time.sleep(2.5)
    res = r.run(["sweep", "s.yaml", "--executor", "serial", "--store", "c.sqlite", "--json"], w)
    first.communicate(timeout=120)
    yield "two sweeps on one store (second)", res
    w = fresh("stale")
    (w / ".t.json.0123abcd.tmp").write_text("half")
    os.utime(w / ".t.json.0123abcd.tmp", (time.time() - 3600,) * 2)
    res = r.run([*GEMM, "--trace", "t.json"], w)
    res["err"] = res["err"] or ("stale tmp left" if (w / ".t.json.0123abcd.tmp").exists()
                                else "stale tmp removed")
    yield "stale `.NAME.xxxx.tmp` of a killed write", res
    # -- outputs
    w = fresh("link")
    (w / "real.json").write_text("")
    (w / "link.json").symlink_to(w / "real.json")
    res = r.run([*GEMM, "--trace", "link.json"], w)
    res["err"] = res["err"] or ("link kept, target written" if (w / "link.json").is_symlink()
                                and (w / "real.json").stat().st_size else "link replaced")
    yield "`--trace` to a symlink", res
    w = fresh("fifo")
    os.mkfifo(w / "p")
    reader = subprocess.Popen(["cat", str(w / "p")], stdout=subprocess.PIPE)
    res = r.run([*GEMM, "--trace", "p"], w)
    got = b""
    with contextlib.suppress(subprocess.TimeoutExpired):
        got = reader.communicate(timeout=5)[0]
    reader.kill()
    res["err"] = res["err"] or ("FIFO kept, written through" if (w / "p").is_fifo() and got
                                else "FIFO replaced by a regular file")
    yield "`--trace` to a FIFO (device-node proxy)", res
    w = fresh("emptytrace")
    yield "`--trace ''`", r.run([*GEMM, "--trace", ""], w)
    res = r.run(["rtl", "verilog", "-o", "missing/dir/x.v"], w)
    res["err"] = res["err"] or ("created missing/dir" if (w / "missing").exists() else "")
    yield "`rtl verilog -o missing/dir/x.v`", res
    w = fresh("latin1")
    (w / "s.yaml").write_bytes(SPEC.encode() + b"description: caf\xe9\n")
    yield "non-UTF-8 sweep spec", r.run(["sweep", "s.yaml"], w)
    yield "`rtl info --lanes 4.0`", r.run(["rtl", "info", "--lanes", "4.0"], w)
    w = fresh("m7")
    (w / "a.yaml").write_text(arch.replace("    m: 8\n", "    m: 7\n", 1))
    yield "`engines.pe_array.m: 7`, `arch validate`", r.run(["arch", "validate", "a.yaml"], w)
    w = fresh("badkeys")
    (w / "s.yaml").write_text("kind: gemm\nfoo: 1\nbase: {arch: sat-vcu1525, m: 8, k: 8, n: 8, "
                              "bar: 2, batch: 0}\n")
    res = r.run(["sweep", "s.yaml"], w)
    res["err"] += f" [.sqlite left: {any(w.glob('*.sqlite'))}]"
    yield "spec with 3 bad keys (8 §7)", res
    w = fresh("badexpand")
    (w / "s.yaml").write_text(SPEC.replace("n: 8}", "n: 8, array: 9999x2}"))
    res = r.run(["sweep", "s.yaml", "--executor", "serial"], w)
    res["err"] += f" [.sqlite left: {any(w.glob('*.sqlite'))}]"
    yield "spec rejected at expansion (8 §7)", res
    yield "`sweep show` without STORE (8 §7)", r.run(["sweep", "show"], w)
    w = fresh("show")
    (w / "s.yaml").write_text(SPEC + "axes: {sparsity: [dense, '2:8']}\n")
    r.run(["sweep", "s.yaml", "--executor", "serial", "--store", "s.sqlite"], w)
    with open(w / "out.txt", "w") as fh:
        res = r.run(["sweep", "show", "s.sqlite"], w, stdout=fh)
    text = (w / "out.txt").read_text()
    res["err"] = (f"width {max(map(len, text.splitlines()))}, NaN cells: {'NaN' in text}")
    yield "`sweep show` table width (8 §7)", res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--cap-gb", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args(argv)
    if shutil.which("prlimit") is None:
        sys.exit("needs prlimit (util-linux)")
    r = Runner(args.root.resolve(), args.python, args.cap_gb, args.timeout)
    print("| class | exit | first stderr line | peak RSS MB | s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="hwsim-rel-") as tmp:
        for name, res in cases(r, Path(tmp)):
            rss = "-" if res["rss_mb"] is None else f"{res['rss_mb']:.0f}"
            err = res["err"].replace("|", "\\|")
            print(f"| {name} | {res['rc']} | {err} | {rss} | {res['secs']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
