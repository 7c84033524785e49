"""Tests for hwsim.sweep, hwsim.store and ``hwsim sweep``: specs, keys, resume, executors."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest

from hwsim import store as store_mod
from hwsim import sweep as sw
from hwsim import sweep_spec as sw_spec
from hwsim.cli import main
from hwsim.errors import ConfigError, InputFileError, MissingExtraError
from hwsim.result import SCHEMA_VERSION
from hwsim.store import TIMING_COLUMNS, SweepStore
from hwsim.sweep import (
    PointFailedError,
    SweepSpec,
    load_results,
    load_spec,
    point_key,
    run_sweep,
)

BASE = {"arch": "sat-vcu1525", "m": 64, "k": 128, "n": 64}
SPEC = {
    "kind": "gemm",
    "seed": 3,
    "base": BASE,
    "axes": {"array": ["8x8", "16x16"], "sparsity": ["dense", "2:8", "1:8"]},
}
SPEC_YAML = """\
name: tiny
kind: gemm
seed: 3
base: {arch: sat-vcu1525, m: 64, k: 128, n: 64}
axes:
  array: [8x8, 16x16]
  sparsity: [dense, 2:8, 1:8]   # unquoted N:M stays a string (no YAML base-60)
"""


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without host timings: what must be identical between runs."""
    return frame.drop(columns=[c for c in TIMING_COLUMNS if c in frame]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    """The uninterrupted serial run of SPEC."""
    store = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    report = run_sweep(SPEC, store=store, executor="serial", progress=False)
    assert (report.ran, report.skipped, report.failed, report.points) == (6, 0, 0, 6)
    return report.frame


# -- spec and expansion -------------------------------------------------------------------------
def test_grid_expansion_order_and_defaults():
    points = SweepSpec.from_dict(SPEC).expand()
    assert [(p.axes["array"], p.axes["sparsity"]) for p in points] == [
        ("8x8", "dense"), ("8x8", "2:8"), ("8x8", "1:8"),
        ("16x16", "dense"), ("16x16", "2:8"), ("16x16", "1:8"),
    ]  # fmt: skip
    assert [p.index for p in points] == list(range(6))
    p = points[0]
    assert p.params["seed"] == 3 and p.params["precision"] == "int8" and p.params["batch"] == 1
    assert p.params["dataflow"] is None and p.params["check"] is True
    assert set(p.axes) == {"array", "sparsity"}
    assert "arch" not in p.run_args and p.run_args["m"] == 64


def test_explicit_points_crossed_with_axes():
    spec = {
        "base": BASE,
        "points": [{"array": "8x8"}, {"array": [16, 8], "seed": 9}],
        "axes": {"sparsity": ["dense", "2:8"]},
    }
    points = SweepSpec.from_dict(spec).expand()
    assert [(p.axes["array"], p.axes["sparsity"], p.params["seed"]) for p in points] == [
        ("8x8", "dense", 0), ("8x8", "2:8", 0), ("16x8", "dense", 9), ("16x8", "2:8", 9),
    ]  # fmt: skip
    only = SweepSpec.from_dict({"base": BASE, "points": [{"m": 32}, {"m": 64}]}).expand()
    assert [p.params["m"] for p in only] == [32, 64] and only[0].axes == {"m": 32}


def test_seed_axis_overrides_spec_seed_and_duplicates_dropped():
    spec = {"seed": 7, "base": BASE, "axes": {"seed": [1, 2, 1]}}
    points = SweepSpec.from_dict(spec).expand()
    assert [p.params["seed"] for p in points] == [1, 2]
    assert SweepSpec.from_dict({"seed": 7, "base": BASE}).expand()[0].params["seed"] == 7


def test_yaml_spec_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC_YAML)
    spec = load_spec(path)
    assert spec.name == "tiny" and spec.source == str(path)
    assert spec.axes["sparsity"] == ["dense", "2:8", "1:8"]
    keys = [p.key for p in spec.expand()]
    assert keys == [p.key for p in SweepSpec.from_dict(SPEC).expand()]


def test_bundled_spec():
    assert "nm_design_space" in sw.list_sweeps()
    spec = load_spec("nm_design_space")
    assert spec.base["arch"] == "sat-vcu1525" and len(spec.expand()) == 12


# -- keys ---------------------------------------------------------------------------------------
#: sha256[:20] of the canonical JSON of the material below (recomputed by hand in the test):
#: key_version 2, schema_version 1, hwsim_version "0.1.0".
GOLDEN_KEY = "9369d3c3cbd39c1b4ead"
GOLDEN_PARAMS = {"m": 64, "k": 128, "n": 64, "sparsity": "2:8", "seed": 0}
GOLDEN_VERSION = "0.1.0"  # pinned, so that releasing a new hwsim does not move the literal


def test_point_key_is_canonical_json_hash(monkeypatch):
    monkeypatch.setattr(sw_spec, "__version__", GOLDEN_VERSION)
    params = GOLDEN_PARAMS
    key = point_key("gemm", params, "0123456789abcdef")
    assert key == point_key("gemm", dict(reversed(params.items())), "0123456789abcdef")
    # canonical JSON and key material are frozen: changing them must bump KEY_VERSION
    material = {
        "key_version": 2,
        "schema_version": 1,
        "hwsim_version": GOLDEN_VERSION,
        "kind": "gemm",
        "arch_hash": "0123456789abcdef",
        "params": params,
        "inputs": {},
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(blob).hexdigest()[:20] == GOLDEN_KEY
    assert key == GOLDEN_KEY and sw.KEY_VERSION == 2 and SCHEMA_VERSION == 1
    assert key != point_key("gemm", {**params, "seed": 1}, "0123456789abcdef")
    assert key != point_key("gemm", params, "0123456789abcdee")
    assert key != point_key("spgemm", params, "0123456789abcdef")
    # the preset name or file path is not part of the key; only the design's hash is
    assert key == point_key("gemm", {**params, "arch": "/some/where.yaml"}, "0123456789abcdef")


def test_golden_key_in_another_process():
    code = (
        "import json,sys; import hwsim.sweep_spec as s; s.__version__ = sys.argv[2]; "
        "print(s.point_key('gemm', json.loads(sys.argv[1]), '0123456789abcdef'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(GOLDEN_PARAMS), GOLDEN_VERSION],
        capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "321"},
    )  # fmt: skip
    assert out.stdout.strip() == GOLDEN_KEY


def test_key_same_in_another_process():
    points = SweepSpec.from_dict(SPEC).expand()
    code = (
        "import json,sys; from hwsim.sweep import SweepSpec; "
        "spec = json.loads(sys.argv[1]); "
        "print(json.dumps([p.key for p in SweepSpec.from_dict(spec).expand()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(SPEC)],
        capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123"},
    )  # fmt: skip
    assert json.loads(out.stdout) == [p.key for p in points]


def test_new_hwsim_version_reruns_points_and_keeps_old_rows(tmp_path, monkeypatch, reference):
    store = tmp_path / "s.sqlite"
    first = run_sweep(SPEC, store=store, executor="serial", progress=False)
    assert "hwsim_version" not in load_results(store).columns  # one version: no column
    monkeypatch.setattr(sw_spec, "__version__", "99.0.0")
    monkeypatch.setattr(store_mod, "__version__", "99.0.0")
    again = run_sweep(SPEC, store=store, executor="serial", progress=False)
    assert (again.ran, again.skipped) == (6, 0)  # a model change re-runs every point
    assert set(again.frame.key).isdisjoint(first.frame.key)
    assert "hwsim_version" not in again.frame.columns  # the report holds this sweep's points
    pd.testing.assert_frame_equal(_numbers(again.frame).drop(columns="key"),
                                  _numbers(reference).drop(columns="key"))
    rows = load_results(store)
    assert len(rows) == 12 and list(rows.columns[-1:]) == ["hwsim_version"]
    assert sorted(rows.hwsim_version.unique()) == ["0.1.0", "99.0.0"]
    assert set(rows[rows.hwsim_version == "0.1.0"].key) == set(first.frame.key)


def test_key_changes_with_point_and_arch(tmp_path):
    from hwsim.arch import load_arch

    def key(**over):
        return SweepSpec.from_dict({"base": {**BASE, **over}}).expand()[0].key

    k0 = key()
    assert k0 == key(sparsity="dense", precision="int8", batch=1)  # explicit defaults
    assert k0 != key(sparsity="2:8") and k0 != key(m=32) and k0 != key(seed=1)
    assert k0 != key(**{"arch.clock_mhz": 123.0})
    # the same design from a YAML file keys like the preset; an edited design does not
    arch = load_arch("sat-vcu1525")
    same = tmp_path / "same.yaml"
    same.write_text(arch.to_yaml())
    assert key(arch=str(same)) == k0
    edited = tmp_path / "edited.yaml"
    edited.write_text(arch.to_yaml().replace("clock_mhz: ", "clock_mhz: 1", 1))
    assert key(arch=str(edited)) != k0


# -- running and resuming -----------------------------------------------------------------------
def test_serial_run_frame(reference):
    f = reference
    assert list(f.columns[:4]) == ["key", "status", "array", "sparsity"]
    assert (f.status == "ok").all() and (f.check == "passed").all()
    assert {"cycles", "macs_per_cycle_per_dsp", "energy_pj", "wall_seconds"} <= set(f.columns)
    assert (f.dense_macs == 64 * 128 * 64).all()
    dense, sparse = f.cycles[3], f.cycles[4]  # 16x16: dense vs 2:8
    assert sparse < dense


def test_resume_after_interrupt(tmp_path, monkeypatch, reference):
    store = tmp_path / "s.sqlite"
    real = sw.run_kind_point
    calls = []

    def flaky(kind, arch, args):
        calls.append(args["sparsity"])
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the sweep
        return real(kind, arch, args)

    monkeypatch.setattr(sw, "run_kind_point", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(SPEC, store=store, executor="serial", progress=False)
    with SweepStore(store) as db:
        assert len(db) == 3  # committed one by one
    calls.clear()
    report = run_sweep(SPEC, store=store, executor="serial", progress=False)
    assert (report.ran, report.skipped, report.failed) == (3, 3, 0)
    assert len(calls) == 3
    pd.testing.assert_frame_equal(_numbers(report.frame), _numbers(reference))
    again = run_sweep(SPEC, store=store, executor="serial", progress=False)
    assert (again.ran, again.skipped) == (0, 6)


def test_store_holding_a_prefix(tmp_path, reference):
    store = tmp_path / "s.sqlite"
    part = {**SPEC, "axes": {"array": ["8x8"], "sparsity": ["dense", "2:8", "1:8"]}}
    first = run_sweep(part, store=store, executor="serial", progress=False)
    assert first.ran == 3
    report = run_sweep(SPEC, store=store, executor="processes", max_workers=2, progress=False)
    assert (report.ran, report.skipped) == (3, 3)
    pd.testing.assert_frame_equal(_numbers(report.frame), _numbers(reference))
    assert len(load_results(store)) == 6


def test_processes_identical_to_serial(tmp_path, reference):
    report = run_sweep(
        SPEC, store=tmp_path / "p.sqlite", executor="processes", max_workers=2, progress=False
    )
    assert (report.ran, report.failed, report.executor) == (6, 0, "processes")
    pd.testing.assert_frame_equal(_numbers(report.frame), _numbers(reference))


def test_dask_client_identical_to_serial(tmp_path, reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        report = run_sweep(SPEC, store=tmp_path / "d.sqlite", executor=client, progress=False)
    assert (report.ran, report.failed, report.executor) == (6, 0, "Client")
    pd.testing.assert_frame_equal(_numbers(report.frame), _numbers(reference))


def test_any_concurrent_futures_executor(tmp_path, reference):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        report = run_sweep(SPEC, store=tmp_path / "t.sqlite", executor=pool, progress=False)
    pd.testing.assert_frame_equal(_numbers(report.frame), _numbers(reference))


def test_in_memory_store_and_store_object(tmp_path):
    with SweepStore(":memory:") as db:
        report = run_sweep({"base": BASE}, store=db, executor="serial", progress=False)
        assert report.store_path == ":memory:" and len(db) == 1


# -- failing points -----------------------------------------------------------------------------
ERR_SPEC = {"base": BASE, "axes": {"dataflow": ["ws", "is"]}}  # the SAT array has no IS dataflow


def test_error_points_recorded_and_counted(tmp_path):
    store = tmp_path / "e.sqlite"
    report = run_sweep(ERR_SPEC, store=store, executor="serial", progress=False)
    assert (report.ran, report.failed) == (2, 1)
    f = report.frame
    assert list(f.status) == ["ok", "error"]
    assert f.error[1].startswith("ConfigError: ") and "dataflow" in f.error[1]
    assert pd.isna(f.error[0]) and f.cycles[0] > 0 and pd.isna(f.cycles[1])
    assert "dataflow" in f.columns and "result_dataflow" not in f.columns  # equal to the axis
    with SweepStore(store) as db:
        (err,) = db.errors()
        assert err["error_type"] == "ConfigError" and "Traceback" in err["traceback"]
    retry = run_sweep(ERR_SPEC, store=store, executor="serial", progress=False)
    assert (retry.ran, retry.skipped, retry.failed) == (1, 1, 1)
    keep = run_sweep(ERR_SPEC, store=store, executor="serial", progress=False, retry_errors=False)
    assert (keep.ran, keep.skipped, keep.failed) == (0, 2, 1)


def test_fail_fast(tmp_path):
    spec = {"base": BASE, "axes": {"dataflow": ["is", "ws", "os"]}}
    store = tmp_path / "f.sqlite"
    with pytest.raises(PointFailedError, match=r"dataflow=is\) failed: ConfigError: .*resume"):
        run_sweep(spec, store=store, executor="serial", progress=False, fail_fast=True)
    with SweepStore(store) as db:
        assert len(db) == 1 and len(db.errors()) == 1


def test_processes_record_errors(tmp_path):
    report = run_sweep(ERR_SPEC, store=tmp_path / "e.sqlite", max_workers=2, progress=False)
    assert list(report.frame.status) == ["ok", "error"] and report.failed == 1


# -- spec errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "key", "match"),
    [
        ({"base": BASE, "axis": {}}, "axis", "unknown key 'axis'; allowed keys: kind, name"),
        ({"kind": "conv", "base": BASE}, "kind", "expected one of gemm, spgemm"),
        ({"base": {**BASE, "tile": 4}}, "base.tile", "unknown run argument 'tile' .*: .*m, n"),
        ({"base": BASE, "axes": {"tile": [1]}}, "axes.tile", "unknown run argument 'tile'"),
        ({"base": {**BASE, "m": "big"}}, "base.m", "expected an integer >= 1, got 'big'"),
        ({"base": BASE, "axes": {"sparsity": ["2:8", 5]}}, r"axes.sparsity\[1\]", "pattern"),
        ({"base": BASE, "axes": {"sparsity": []}}, "axes.sparsity", "non-empty list"),
        ({"base": BASE, "axes": {"array": ["8x8", "8by8"]}}, r"axes.array\[1\]", "RxC"),
        ({"base": BASE, "axes": {"array": ["8x8", "8192x8"]}}, r"axes.array\[1\]", "rows"),
        ({"base": {**BASE, "check": "yes"}}, "base.check", "expected true or false"),
        ({"base": {k: v for k, v in BASE.items() if k != "m"}}, "base", "missing run argument 'm'"),
        ({"base": {**BASE, "arch": "no-such"}}, "base.arch", "unknown architecture preset"),
        ({"base": {**BASE, "arch.dram.nope": 1}}, "base.arch.dram.nope", "no field 'dram.nope'"),
        ({"base": {**BASE, "arch.clock_mhz": -5}}, "base.arch.clock_mhz", "clock_mhz"),
        ({"base": BASE, "points": [{"m": 8}], "axes": {"m": [1]}}, r"points\[0\]", "also an axis"),
        ({"kind": "spgemm", "base": {}}, "base", "exactly one input"),
        ({"kind": "spgemm", "base": {"rmat": [6, 2], "arch": "sat-vcu1525"}}, "base.arch",
         "no engine of kind 'spgemm'"),
        ({"kind": "spgemm", "base": {"rmat": [6, "x"]}}, "base.rmat", "SCALE, EDGE_FACTOR"),
        ({"kind": "spgemm", "base": {"rmat": [6, 2], "table_entries": 3}},
         "base.table_entries", "table_entries"),
        ({"seed": -1, "base": BASE}, "seed", "expected an integer >= 0"),
    ],
)  # fmt: skip
def test_spec_errors_name_the_key(spec, key, match):
    with pytest.raises(ConfigError, match=match) as err:
        SweepSpec.from_dict(spec).expand()
    assert err.value.source == "<dict>"
    assert err.value.key is not None and __import__("re").fullmatch(key, err.value.key)


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: {m: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: YAML syntax error"):
        load_spec(bad)
    bad.write_text(SPEC_YAML.replace("m: 64", "m: 6.5"))
    with pytest.raises(ConfigError, match=r"bad\.yaml: base\.m: expected an integer"):
        load_spec(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: a sweep spec is a mapping"):
        load_spec(bad)
    with pytest.raises(InputFileError, match="missing.yaml: cannot read sweep spec"):
        load_spec(tmp_path / "missing.yaml")


def test_bad_executor_and_workers():
    with pytest.raises(ConfigError, match="executor must be one of serial, processes, dask"):
        run_sweep({"base": BASE}, store=":memory:", executor="threads")
    with pytest.raises(ConfigError, match="max_workers must be a positive integer"):
        run_sweep({"base": BASE}, store=":memory:", max_workers=0)


def test_dask_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"hwsim\[sweep\]"):
        run_sweep({"base": BASE}, store=":memory:", executor="dask", progress=False)


# -- spgemm -------------------------------------------------------------------------------------
def test_spgemm_sweep(tmp_path):
    spec = {
        "kind": "spgemm",
        "seed": 5,
        "base": {"rmat": [6, 4], "workers": 4},
        "axes": {"dataflow": ["rowwise-hash", "outer"], "table_entries": [256, 1024]},
    }
    report = run_sweep(spec, store=tmp_path / "sp.sqlite", executor="serial", progress=False)
    f = report.frame
    assert report.ran == 4 and (f.status == "ok").all() and (f.check == "passed").all()
    assert (f.seed == 5).all() and f.nnz_out.nunique() == 1
    assert json.loads(f.phase_cycles[0])  # nested counters as JSON text
    mtx = tmp_path / "a.mtx"
    from scipy.io import mmwrite

    from hwsim.spgemm import rmat

    mmwrite(mtx, rmat(6, 4, seed=5))
    (tmp_path / "spec.yaml").write_text("kind: spgemm\nbase: {matrix: a.mtx, workers: 4}\n")
    by_file = run_sweep(tmp_path / "spec.yaml", store=tmp_path / "m.sqlite", executor="serial",
                        progress=False)  # fmt: skip
    assert by_file.frame.nnz_out[0] == f.nnz_out[0]


# -- store and export ---------------------------------------------------------------------------
def test_export_csv_parquet(tmp_path, reference):
    pytest.importorskip("pyarrow")
    store = tmp_path / "x.sqlite"
    run_sweep(SPEC, store=store, executor="serial", progress=False)
    with SweepStore(store) as db:
        db.to_csv(tmp_path / "out.csv")
        db.to_parquet(tmp_path / "out.parquet")
        frame = db.to_frame()
    csv = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, na_values=[""])
    assert list(csv.columns) == list(frame.columns) and list(csv.cycles) == list(frame.cycles)
    pq = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(_numbers(pq), _numbers(reference), check_dtype=False)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave nothing behind


def test_store_files_are_sqlite_json_not_pickle(tmp_path):
    store = tmp_path / "s.sqlite"
    run_sweep({"base": BASE}, store=store, executor="serial", progress=False)
    con = sqlite3.connect(store)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        params, result = con.execute("SELECT params, result FROM points").fetchone()
    finally:
        con.close()
    assert json.loads(params)["m"] == 64 and json.loads(result)["cycles"] > 0


def test_load_results_errors(tmp_path):
    with pytest.raises(InputFileError, match="no such sweep store"):
        load_results(tmp_path / "none.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database " * 100)
    with pytest.raises(InputFileError, match="cannot use as a sweep store"):
        load_results(junk)
    other = tmp_path / "other.sqlite"  # a database of someone else: refused, left untouched
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = other.read_bytes()
    for create in (True, False):
        with pytest.raises(InputFileError, match="not a sweep store"):
            SweepStore(other, create=create)
    assert other.read_bytes() == before
    old = tmp_path / "old.sqlite"
    SweepStore(old).close()
    con = sqlite3.connect(old)
    con.execute("UPDATE meta SET value='99' WHERE name='store_schema'")
    con.commit()
    con.close()
    with pytest.raises(InputFileError, match="layout 99, this hwsim reads layout 1"):
        load_results(old)


def test_progress_bar_off_without_tty():
    with sw._progress(10, True, "x") as bar:
        assert bar.disable  # pytest captures stderr: not a terminal
    with sw._progress(10, False, "x") as bar:
        assert bar.disable


def test_worker_initializer_limits_blas_threads(monkeypatch):
    import types

    calls = []
    fake = types.ModuleType("threadpoolctl")
    fake.threadpool_limits = lambda **kw: calls.append(kw)
    monkeypatch.setitem(sys.modules, "threadpoolctl", fake)
    sw._limit_blas_threads()
    assert calls == [{"limits": 1, "user_api": "blas"}]
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # not installed: nothing to do
    sw._limit_blas_threads()


def test_lazy_top_level_exports():
    code = (
        "import sys, hwsim; "
        "assert not {'hwsim.sweep', 'hwsim.sweep_spec', 'yaml', 'pandas'} & set(sys.modules); "
        "from hwsim import run_sweep, load_results; import hwsim.sweep as sw; "
        "assert run_sweep is sw.run_sweep and load_results is sw.load_results; "
        "assert {'run_sweep', 'load_results'} <= set(hwsim.__all__) & set(dir(hwsim))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spec_names_reexported():
    for name in sw_spec.__all__:
        assert getattr(sw, name) is getattr(sw_spec, name) and name in sw.__all__


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_summary_resume_and_exports(tmp_path, capsys, monkeypatch):
    pytest.importorskip("pyarrow")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(SPEC_YAML)
    argv = ["sweep", "tiny.yaml", "--executor", "serial", "--json", "--csv", "t.csv",
            "--parquet", "t.parquet"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 1 and "hwsim_version" in doc
    assert (doc["ran"], doc["skipped"], doc["failed"], doc["store"]) == (6, 0, 0, "tiny.sqlite")
    assert len(pd.read_csv("t.csv")) == 6 and len(pd.read_parquet("t.parquet")) == 6
    assert main(["sweep", "tiny.yaml", "--store", "tiny.sqlite", "--json-rows"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ran"], doc["skipped"]) == (0, 6)
    assert [r["sparsity"] for r in doc["rows"][:3]] == ["dense", "2:8", "1:8"]
    assert main(["sweep", "show", "tiny.sqlite", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["points"] == 6
    assert main(["sweep", "show", "tiny.sqlite"]) == 0
    assert "16x16" in capsys.readouterr().out


def test_cli_errors_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(SPEC_YAML.replace("m: 64", "m: big"))
    assert main(["sweep", "bad.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hwsim: error: ConfigError: bad.yaml: base.m: expected an integer")
    assert main(["sweep", "show", "nothing.sqlite"]) == 1
    assert "InputFileError" in capsys.readouterr().err
    (tmp_path / "err.yaml").write_text(
        "base: {arch: sat-vcu1525, m: 64, k: 128, n: 64}\naxes: {dataflow: [ws, is]}\n"
    )
    assert main(["sweep", "err.yaml", "--executor", "serial", "--json"]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out)["failed"] == 1
    assert out.err.count("\n") == 1 and "1 of 2 sweep points failed" in out.err
    assert main(["sweep", "err.yaml", "--executor", "serial", "--fail-fast"]) == 1
    assert "PointFailedError" in capsys.readouterr().err
