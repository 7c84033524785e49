"""simulate_spgemm: exact counts on real matrices, the three dataflows, SimPy timing, sensitivity."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.sparse as sp

from hwsim.arch import load_arch
from hwsim.errors import CheckFailedError, ConfigError
from hwsim.result import RunResult
from hwsim.spgemm import SpgemmSpec, rmat, simulate_spgemm
from hwsim.spgemm.rowwise import TaskPlan
from hwsim.spgemm.sim import run_phases

DATAFLOWS = ("rowwise-hash", "inner", "outer")
MATRICES = ("bcsstk13", "p2p-Gnutella31", "luxembourg_osm")


def _manifest(shared_data):
    with open(shared_data / "mtx" / "manifest.csv", newline="") as fh:
        return {r["name"]: r for r in csv.DictReader(fh)}


@pytest.mark.parametrize("kernel", ["v1", "v3"])
@pytest.mark.parametrize("name", MATRICES)
def test_real_matrices_counts_exact(shared_data, name, kernel):
    row = _manifest(shared_data)[name]
    res = simulate_spgemm(shared_data / "mtx" / f"{name}.mtx", kernel=kernel)
    assert res.kind == "spgemm" and res.check == "passed"
    assert res.counters["partial_products"] == int(row["gustavson_mults"])
    assert res.counters["nnz_out"] == int(row["nnz_C"])
    assert res.params["shape_a"] == [int(row["rows"]), int(row["cols"])]


@pytest.mark.parametrize("name", MATRICES)
@pytest.mark.parametrize("dataflow", ["inner", "outer"])
def test_real_matrix_baselines_exact(shared_data, name, dataflow):
    row = _manifest(shared_data)[name]
    res = simulate_spgemm(shared_data / "mtx" / f"{name}.mtx", dataflow=dataflow)
    assert res.counters["partial_products"] == int(row["gustavson_mults"])
    assert res.counters["nnz_out"] == int(row["nnz_C"])
    assert res.check == "passed"


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("seed", [0, 1])
def test_rmat_and_random_counts_vs_scipy(dataflow, seed):
    rng = np.random.default_rng(seed)
    a = rmat(9, 6, seed=seed)
    b = sp.random_array((300, 200), density=0.05, rng=rng, format="csr")
    c = sp.random_array((200, 250), density=0.05, rng=rng, format="csr")
    for x, y in ((a, None), (b, c)):
        y_ = x if y is None else y
        ones = lambda m: sp.csr_array((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)  # noqa: E731
        nnz_ref = sp.csr_array(ones(sp.csr_array(x)) @ ones(sp.csr_array(y_))).nnz
        bn = np.diff(sp.csr_array(y_).indptr)
        pp_ref = int(bn[sp.csr_array(x).indices].sum())
        res = simulate_spgemm(x, y, dataflow=dataflow, table_entries=1024)
        assert (res.counters["partial_products"], res.counters["nnz_out"]) == (pp_ref, nnz_ref)
        assert res.check == "passed"


def test_tiny_hand_checked_rowwise():
    a = sp.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
    res = simulate_spgemm(a, workers=1, table_entries=16)
    c = res.counters
    assert (c["partial_products"], c["nnz_out"], res.dense_macs) == (4, 3, 8)
    assert c["atomic_ops"] == 8  # V1: key CAS + value add per product
    # 4 products on 1 core x 16 windows per core: windows are cut to 1 product -> one per row
    assert c["hash_probes"] >= 4 and c["windows"] == 2
    assert res.cycles == res.compute_cycles + res.stall_cycles
    assert res.utilization == pytest.approx(4 / (4 * res.cycles))
    v2 = simulate_spgemm(a, workers=1, table_entries=16, kernel="v2")
    assert v2.counters["atomic_ops"] == 4 and v2.cycles <= res.cycles


def test_cancellation_counts_structure_and_check_passes():
    a = sp.csr_array(np.array([[1.0, 1.0], [1.0, -1.0]]))
    for df in DATAFLOWS:
        res = simulate_spgemm(a, dataflow=df)
        assert res.counters["nnz_out"] == 4 and res.check == "passed"


def test_same_output_different_traffic_on_power_law():
    a = rmat(10, 8, seed=5)
    res = {df: simulate_spgemm(a, dataflow=df) for df in DATAFLOWS}
    row, inner, outer = res["rowwise-hash"], res["inner"], res["outer"]
    traffic = {k: r.dram_read_bytes + r.dram_write_bytes for k, r in res.items()}
    assert traffic["rowwise-hash"] < traffic["outer"] < traffic["inner"]
    assert row.counters["redundant_fetches"] < inner.counters["redundant_fetches"]
    assert outer.counters["redundant_fetches"] == 0
    assert outer.counters["partial_product_bytes"] > 0 == row.counters["partial_product_bytes"]
    assert row.cycles < inner.cycles
    assert len({r.counters["nnz_out"] for r in res.values()}) == 1


def test_check_off_and_result_type():
    res = simulate_spgemm(rmat(6, 4, seed=1), check=False)
    assert isinstance(res, RunResult)
    assert res.check == "skipped" and res.check_reason == "check disabled"
    d = res.to_dict()
    for key in ("hash_probes", "hash_collisions", "bank_conflicts", "atomic_ops", "nnz_out"):
        assert key in d


def test_overflowing_row_is_split_into_passes():
    # one dense row: 64 distinct outputs, table capacity 16 -> 4 column-range passes
    a = sp.csr_array(np.vstack([np.ones((1, 64)), np.eye(64)[:63]]))
    res = simulate_spgemm(a, table_entries=32, max_load=0.5)
    c = res.counters
    assert c["window_splits"] >= 1 and c["overflow_passes"] >= 3
    assert res.check == "passed"
    assert c["nnz_out"] == sp.csr_array(a @ a).nnz


def test_errors():
    a = rmat(5, 4, seed=0)
    with pytest.raises(ConfigError, match="unknown dataflow 'gustavson'"):
        simulate_spgemm(a, dataflow="gustavson")
    with pytest.raises(ConfigError, match="table_entries: expected a power of two"):
        simulate_spgemm(a, table_entries=1000)
    with pytest.raises(ConfigError, match="does not fit the scratchpad"):
        simulate_spgemm(a, table_entries=2**20, spad_bytes=2**20)
    with pytest.raises(ConfigError, match="has no engine of kind 'spgemm'"):
        simulate_spgemm(a, arch="sat-vcu1525")


def test_check_failure_is_typed(monkeypatch):
    import hwsim.spgemm.engine as eng

    monkeypatch.setattr(eng, "check_output", lambda *a, **k: "values differ")
    with pytest.raises(CheckFailedError, match="inner: values differ"):
        simulate_spgemm(rmat(5, 4, seed=0), dataflow="inner")
    # the row-wise kernel is checked by walking its tables (tests/test_checks_mutation.py)


def test_preset_loads_with_provenance():
    arch = load_arch("smash-piuma")
    spec = arch.engine("smash")
    assert isinstance(spec, SpgemmSpec) and spec.kind == "spgemm"
    assert spec.multipliers == spec.cores * spec.issue_width
    assert "threads_per_core" in arch.provenance and "assumption" in arch.provenance["scratchpad"]
    assert load_arch(arch.to_dict() and "smash-piuma") == arch


# -- SimPy: event-log tests -----------------------------------------------------------------------
def test_workers_pull_tasks_in_order_event_log():
    arch = load_arch("smash-piuma")
    plan = TaskPlan("p", [0, 0, 0], [10, 20, 5], [0, 0, 0], [0, 0, 0])
    st = run_phases([plan], workers=2, dram_spec=arch.dram, clock_mhz=arch.clock_mhz, record=True)
    starts = [(e[2], e[3], e[4]) for e in st.log if e[0] == "start"]
    dones = [(e[2], e[3], e[4]) for e in st.log if e[0] == "done"]
    assert starts == [(0, 0, 0), (1, 1, 0), (2, 0, 10)]
    assert dones == [(0, 0, 10), (2, 0, 15), (1, 1, 20)]
    assert (st.cycles, st.compute_cycles, st.stall_cycles) == (20, 20, 0)


def test_dram_read_overlaps_compute_and_contends():
    arch = load_arch("smash-piuma")
    lat = arch.dram.latency_cycles(arch.clock_mhz)  # 100 ns at 1 GHz
    bpc = arch.dram.bytes_per_cycle_per_channel(arch.clock_mhz)  # 19.2 B/cycle
    one = TaskPlan("r", [64], [10], [5], [64])
    st = run_phases([one], workers=1, dram_spec=arch.dram, clock_mhz=arch.clock_mhz, record=True)
    data = next(e[4] for e in st.log if e[0] == "data")
    assert data == lat + int(np.ceil(64 / bpc))  # the read hides the 10 compute cycles
    assert st.cycles == data + 5 + lat + int(np.ceil(64 / bpc))  # + tail + final write
    big = TaskPlan("r", [1 << 20] * 4, [1] * 4, [0] * 4, [0] * 4)
    t1 = run_phases([big], workers=1, dram_spec=arch.dram, clock_mhz=arch.clock_mhz).cycles
    t4 = run_phases([big], workers=4, dram_spec=arch.dram, clock_mhz=arch.clock_mhz).cycles
    assert t4 < t1 < 4.2 * t4  # shared channels: 4 workers cannot go 4x faster than the bus
    assert t4 * arch.dram.bandwidth_gbps * 1e9 / (arch.clock_mhz * 1e6) >= 4 * (1 << 20)


def test_barrier_between_outer_phases():
    res = simulate_spgemm(rmat(8, 4, seed=2), dataflow="outer")
    t = res.table
    assert set(t.phase) == {"multiply", "merge"} and "log" not in res.params
    last_mult = t.loc[t.phase == "multiply", "written"].max()
    first_merge = t.loc[t.phase == "merge", "start"].min()
    assert first_merge >= last_mult
    assert set(res.counters["phase_cycles"]) == {"multiply", "merge"}


def test_task_table_holds_the_simpy_timeline():
    res = simulate_spgemm(rmat(8, 4, seed=2), workers=3)
    t = res.table
    assert len(t) == res.counters["table_instances"] and set(t.phase) == {"hash"}
    assert set(t.worker) == {0, 1, 2}
    assert (t.start <= t.ready).all() and (t.ready <= t.done).all() and (t.done <= t.written).all()
    assert (t.done - t.ready == t.tail_cycles).all()
    assert t.written.max() == res.cycles
    assert t.products.sum() == res.counters["partial_products"]
    assert t["keys"].sum() == res.counters["nnz_out"]
    # one worker never runs two tasks at once
    for _, g in t.sort_values("start").groupby("worker"):
        assert (g.start.to_numpy()[1:] >= g.done.to_numpy()[:-1]).all()
    json_keys = set(res.to_dict())
    assert "table" not in json_keys and "log" not in res.to_dict()["params"]


# -- sensitivity ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def power_law():
    return rmat(10, 8, seed=11)


def test_cycles_non_increasing_with_workers(power_law):
    cyc = [simulate_spgemm(power_law, workers=w, check=False).cycles for w in (1, 2, 4, 8, 16)]
    assert all(x >= y for x, y in zip(cyc, cyc[1:], strict=False))
    assert cyc[0] > 6 * cyc[3]  # near-linear while compute-bound


def test_bandwidth_bound_stops_scaling(power_law):
    slow = dict(arch="smash-piuma", check=False)
    base = load_arch("smash-piuma")
    import dataclasses

    narrow = dataclasses.replace(base, dram=dataclasses.replace(base.dram, bandwidth_gbps=2.0))
    c16 = simulate_spgemm(power_law, workers=16, **slow).cycles
    n8 = simulate_spgemm(power_law, arch=narrow, workers=8, check=False)
    n32 = simulate_spgemm(power_law, arch=narrow, workers=32, check=False)
    # bandwidth-bound: the channels are saturated, more workers change nothing (within the
    # few cycles by which FIFO grant order differs)
    assert abs(n32.cycles - n8.cycles) <= 0.01 * n8.cycles
    assert n32.stall_cycles > n32.compute_cycles and n32.cycles > c16


def test_smaller_table_more_splits_and_cycles(power_law):
    runs = [simulate_spgemm(power_law, table_entries=t, check=False) for t in (128, 512, 2048)]
    cyc = [r.cycles for r in runs]
    splits = [r.counters["window_splits"] + r.counters["windows"] for r in runs]
    assert cyc[0] > cyc[1] > cyc[2]
    assert splits[0] > splits[1] > splits[2]


def test_fuller_tables_probe_more(power_law):
    """A 1024-slot table binds the windows (balance would allow bigger ones), so a higher
    max_load packs more keys into the same slots: longer linear-probing runs."""
    probes = [
        simulate_spgemm(power_law, max_load=f, table_entries=1024, check=False)
        .counters["hash_probes"]
        for f in (0.1, 0.5, 0.9)
    ]
    assert probes[0] < probes[1] < probes[2]


def test_cycles_monotone_in_atomic_latency(power_law):
    cyc = [simulate_spgemm(power_law, atomic_latency=lat, check=False).cycles for lat in (1, 8, 32, 128)]
    assert all(x <= y for x, y in zip(cyc, cyc[1:], strict=False))
    assert cyc[-1] > cyc[0]


def test_multiplicative_hash_beats_modulo_on_power_of_two_columns(power_law):
    """Key = local_row * 1024 + col: modulo 2**14 keeps only 4 bits of the row, so rows of a
    window 16 apart land on the same slots (windows of many rows: one per core)."""
    mul = simulate_spgemm(power_law, windows_per_core=1, check=False)
    mod = simulate_spgemm(power_law, windows_per_core=1, hash="modulo", check=False)
    assert mod.counters["hash_probes"] > 3 * mul.counters["hash_probes"]
    assert mod.cycles > mul.cycles
