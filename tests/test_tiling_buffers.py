"""Tiles fit their buffers (double buffered), large GEMMs are pipelined, peak occupancy reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.arch import Architecture, load_arch
from hwsim.engines.base import TilePlan
from hwsim.engines.systolic import scalesim_compute_cycles
from hwsim.errors import ShapeError
from hwsim.gemm import plan_gemm, prepare_gemm, simulate_gemm
from hwsim.memory import buffer_footprint

PRESETS = ["sat-vcu1525", "dense-systolic", "flightllm-u280"]


def _small(preset: str, kb: int) -> Architecture:
    d = load_arch(preset).to_dict()
    for b in d["buffers"].values():
        b["capacity_bytes"] = kb * 1024
    return Architecture.from_dict(d, source=f"<{preset} with {kb} KiB buffers>")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preset=st.sampled_from(PRESETS),
    kb=st.sampled_from([16, 64, None]),
    m=st.integers(1, 3000), k=st.integers(8, 600), n=st.integers(1, 600),
    sparsity=st.sampled_from(["dense", "2:8", "1:4"]),
    dataflow=st.sampled_from([None, "os"]),
)
def test_peak_never_above_capacity(preset, kb, m, k, n, sparsity, dataflow):
    arch = load_arch(preset) if kb is None else _small(preset, kb)
    if preset == "flightllm-u280":
        dataflow = None
    try:
        job = prepare_gemm(arch, m, k, n, sparsity=sparsity, dataflow=dataflow, check=False)
        plan = plan_gemm(job)
    except ShapeError as e:  # only a tile that truly cannot fit may be refused, naming it
        assert "does not fit on-chip buffer" in str(e) and "capacity is" in str(e)
        return
    peak = buffer_footprint(plan)
    assert set(peak) == {"act", "weight", "out"}
    for name, used in peak.items():
        assert 0 <= used <= arch.buffers[name].capacity_bytes, (name, used)


def test_peak_buffer_bytes_is_a_top_level_object():
    r = simulate_gemm("sat-vcu1525", 256, 256, 256, sparsity="2:8")
    d = r.to_dict()
    assert set(d["peak_buffer_bytes"]) == {"act", "weight", "out"}
    assert json.loads(r.to_json())["peak_buffer_bytes"] == d["peak_buffer_bytes"]
    # 4 tiles of 64 rows along M (pipelining), K and N whole: act 2 x 64 x 256 int8
    assert d["peak_buffer_bytes"]["act"] == 2 * 64 * 256 and d["num_tiles"] == 4


def test_large_ws_gemm_streams_through_small_buffers():
    """200000 x 32 x 32 WS on a 2.5 MB chip: the activation streams in chunks that fit."""
    r = simulate_gemm("dense-systolic", 200000, 32, 32, dataflow="ws", check=False)
    arch = load_arch("dense-systolic")
    assert r.counters["num_tiles"] > 4
    for name, used in r.counters["peak_buffer_bytes"].items():
        assert used <= arch.buffers[name].capacity_bytes
    assert r.compute_cycles == scalesim_compute_cycles("ws", 32, 32, 200000, 32, 32)
    # loads overlap compute: all but the first tile's load start before the previous compute ends
    t = r.table
    assert (t["load_start"].to_numpy()[1:] < t["compute_end"].to_numpy()[:-1]).all()
    assert r.stall_cycles < 0.05 * r.cycles


def test_1024_cube_is_pipelined():
    r = simulate_gemm("sat-vcu1525", 1024, 1024, 1024, sparsity="2:8", check=False)
    t = r.table
    assert r.counters["num_tiles"] >= 4
    assert t["load_start"].iloc[1] < t["compute_end"].iloc[0]  # double buffering overlaps


def test_tile_that_cannot_fit_is_a_shape_error():
    arch = _small("sat-vcu1525", 1)  # 1 KiB buffers: a 32-row tile of K=4096 cannot fit
    with pytest.raises(ShapeError, match=r"on-chip buffer 'act': 2 slots need 2 x \d+ B = \d+ B, capacity is 1024 B"):
        simulate_gemm(arch, 64, 4096, 64, check=False)


def test_pooled_buffers_when_roles_are_not_named():
    d = load_arch("dense-systolic").to_dict()
    d["buffers"] = {"sram": {"capacity_bytes": 256 * 1024}}
    arch = Architecture.from_dict(d, source="<one sram>")
    r = simulate_gemm(arch, 512, 512, 512, check=False)
    assert set(r.counters["peak_buffer_bytes"]) == {"sram"}
    assert r.counters["peak_buffer_bytes"]["sram"] <= 256 * 1024


def test_buffer_footprint_counts_reused_blocks_once():
    z = np.zeros(3, dtype=np.int64)
    plan = TilePlan(
        engine="e", multipliers=1, compute_cycles=z + 1, load_bytes=z, store_bytes=z,
        performed_macs=z, sram_read_bytes=z, sram_write_bytes=z, buffer_bytes=0,
        operands={
            "act": ("a", np.array([10, 20, 30]), np.array([True, True, True])),
            "weight": ("w", np.array([7, 7, 9]), np.array([True, False, True])),
            "out": ("a", np.array([1, 1, 1]), np.array([True, True, True])),
        },
    )
    # act+out share buffer "a": tiles (1, 2) hold 20 + 30 + 1 + 1
    assert buffer_footprint(plan) == {"a": 52, "w": 16}
    assert buffer_footprint(plan, slots=1) == {"a": 31, "w": 9}


def test_plan_over_capacity_is_refused(monkeypatch):
    """plan_gemm checks the plan's peak occupancy against every buffer's capacity."""
    import hwsim.engines.pe_array as pe_mod

    real = pe_mod.PeArrayEngine.plan

    def greedy(self, work, arch, name):
        plan = real(self, work, arch, name)
        buf, nbytes, new = plan.operands["weight"]
        plan.operands["weight"] = (buf, nbytes + arch.buffers["weight"].capacity_bytes, new)
        return plan

    monkeypatch.setattr(pe_mod.PeArrayEngine, "plan", greedy)
    job = prepare_gemm("sat-vcu1525", 64, 64, 64, check=False)
    with pytest.raises(ShapeError, match=r"on-chip buffer 'weight' \(double buffered\), capacity is 4194304 B"):
        plan_gemm(job)
