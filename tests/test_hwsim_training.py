"""Tests of hwsim.training: SAT's BDWP training step."""

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.errors import ConfigError, ShapeError
from hwsim.training import pregeneration_cycles, simulate_training


@pytest.fixture(scope="module")
def runs():
    sparse = simulate_training("sat-vcu1525", 512, 512, 512, sparsity="2:8", check=False)
    dense = simulate_training("sat-vcu1525", 512, 512, 512, sparsity="dense", check=False)
    return sparse, dense


def test_bdwp_speedup_between_sat_and_bound(runs):
    sparse, dense = runs
    speedup = dense.cycles / sparse.cycles
    assert 1.5 <= speedup <= 2.0


def test_table_and_pregeneration_overlap(runs):
    sparse, dense = runs
    assert list(sparse.table["gemm"]) == ["ff", "bp", "wu", "pregen"]
    assert sparse.counters["pregen_cycles"] == pregeneration_cycles(load_arch("sat-vcu1525"), 512, 512)
    t = sparse.table.set_index("gemm")
    # one engine: the three GEMMs compute one after another, in order
    assert t.loc["ff", "end"] <= t.loc["bp", "start"] + 1
    assert t.loc["bp", "start"] < t.loc["wu", "start"]
    # the vector unit pre-generates while the PE array runs the weight update (SAT's overlap)
    assert t.loc["wu", "start"] <= t.loc["pregen", "start"] < t.loc["wu", "end"]
    assert sparse.counters["pregen_exposed_cycles"] == max(0, t.loc["pregen", "end"] - t.loc["wu", "end"])
    assert dense.counters["pregen_cycles"] == 0


def test_one_run_overlaps_layers_but_not_compute(runs):
    # DESIGN.md contract 8: one environment. The next GEMM's weight loads start while the
    # previous one computes, so the step is shorter than three separate runs, but never
    # shorter than the engine's busy time.
    from hwsim.gemm import simulate_gemm

    sparse, _ = runs
    t = sparse.table.set_index("gemm")
    separate = sum(
        simulate_gemm("sat-vcu1525", int(t.loc[g, "m"]), int(t.loc[g, "k"]), int(t.loc[g, "n"]),
                      sparsity=t.loc[g, "sparsity"], check=False).cycles
        for g in ("ff", "bp", "wu")
    )
    busy = int(t.loc[["ff", "bp", "wu"], "compute_cycles"].sum())
    assert busy <= sparse.cycles < separate


def test_pregeneration_and_weight_update_traffic(runs):
    sparse, dense = runs
    k = n = 512
    # pre-generation reads the dense W once and writes two 2:8 copies (values + 3-bit indices)
    assert sparse.counters["pregen_dram_read_bytes"] == k * n
    copy = k * n // 4 + k * n // 4 * 3 // 8
    assert sparse.counters["pregen_dram_write_bytes"] == 2 * copy
    # the weight update reads the old W before writing each updated tile
    assert sparse.counters["weight_rmw_read_bytes"] == k * n
    assert dense.counters["pregen_dram_read_bytes"] == 0


def test_exposed_pregeneration_adds_time():
    arch = load_arch("sat-vcu1525")
    slow = arch.__class__.from_dict({**arch.to_dict(), "vector": {"lanes": 1, "ops_per_cycle": 1}})
    r = simulate_training(slow, 32, 256, 256, sparsity="2:8", check=False)
    assert r.counters["pregen_exposed_cycles"] > 0


def test_functional_check_all_three_gemms():
    w = np.random.default_rng(0).integers(-50, 50, size=(40, 24)).astype(np.int8)
    r = simulate_training("sat-vcu1525", 16, 40, 24, sparsity="2:8", weight=w)
    assert r.check == "passed"
    assert set(r.table["check"].dropna()) == {"passed"}


def test_via_simulate_gemm():
    from hwsim.gemm import simulate_gemm

    r = simulate_gemm("sat-vcu1525", 32, 64, 32, sparsity="2:8", training=True)
    assert r.kind == "training" and r.check == "passed"


@pytest.mark.parametrize("sparsity", ["block:2x2:0.5", "unstructured:0.5"])
def test_training_refuses_patterns_without_a_bdwp_model(sparsity):
    # used to train dense silently and report sparsity "dense"
    with pytest.raises(ConfigError, match=rf"training \(BDWP\) needs dense or N:M sparsity, not '{sparsity}'"):
        simulate_training("sat-vcu1525", 8, 16, 8, sparsity=sparsity)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        # used to reach numpy as "negative dimensions are not allowed"
        ({"m": -1}, ShapeError, r"m must be an integer >= 1, got -1"),
        ({"k": 0}, ShapeError, r"k must be an integer >= 1, got 0"),
        ({"batch": 0}, ShapeError, r"batch must be an integer >= 1, got 0"),
        ({"seed": -3}, ValueError, r"seed must be a non-negative integer, not -3"),
    ],
)
def test_training_validates_shape_and_seed(kwargs, exc, match):
    shape = {"m": 8, "k": 16, "n": 8}
    shape.update({k: v for k, v in kwargs.items() if k in shape})
    extra = {k: v for k, v in kwargs.items() if k not in shape}
    with pytest.raises(exc, match=match):
        simulate_training("sat-vcu1525", shape["m"], shape["k"], shape["n"], **extra)
