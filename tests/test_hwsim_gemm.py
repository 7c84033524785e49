"""Tests for hwsim.gemm: the driver with a private fake engine, then the real engines end to end."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import hwsim.gemm as gemm_mod
from hwsim.arch import Architecture, EngineSpec, load_arch, register_engine_kind
from hwsim.energy import energy_table
from hwsim.engines import ENGINE_MODELS, register_engine_model
from hwsim.engines.base import GemmWork, TilePlan
from hwsim.errors import CheckFailedError, ConfigError, PatternError, ShapeError
from hwsim.gemm import parse_array, simulate_gemm
from hwsim.result import RunResult
from hwsim.sparsity import Dense


@register_engine_kind("_test_gemm_fake")
@dataclass(frozen=True)
class _FakeSpec(EngineSpec):
    gemm_capable: ClassVar[bool] = True
    rows: int = field(default=4, metadata={"range": (1, 64)})
    cols: int = field(default=4, metadata={"range": (1, 64)})

    @property
    def multipliers(self) -> int:
        return self.rows * self.cols


@register_engine_model("_test_gemm_fake")
class _FakeEngine:
    """One tile per 64 rows of M; skips zero weights; ``corrupt`` breaks the output."""

    corrupt: ClassVar[bool] = False
    seen: ClassVar[list] = []

    def plan(self, work: GemmWork, arch: Architecture, engine_name: str) -> TilePlan:
        spec = arch.engine(engine_name)
        type(self).seen.append(work)
        nnz = int(np.count_nonzero(work.weight))
        rows = np.diff(np.r_[np.arange(0, work.m, 64), work.m])
        macs = rows * nnz
        eb = work.elem_bytes
        return TilePlan(
            engine=engine_name,
            multipliers=spec.multipliers,
            compute_cycles=-(-macs // spec.multipliers),
            load_bytes=rows * work.k * eb + nnz * eb,
            store_bytes=rows * work.n * eb,
            performed_macs=macs,
            sram_read_bytes=rows * work.k * eb,
            sram_write_bytes=rows * work.n * eb,
            buffer_bytes=64 * work.k * eb,
            tiles=pd.DataFrame({"m0": np.arange(rows.size) * 64}),
            notes={"fake_nnz": nnz, "cycles": 123},  # "cycles" must not clash with results
        )

    def compute(self, work: GemmWork, arch: Architecture, engine_name: str) -> np.ndarray:
        out = work.act.astype(np.int64) @ work.weight.astype(np.int64)
        if type(self).corrupt:
            out[1, 2] += 1
        return out


@pytest.fixture
def arch() -> Architecture:
    d = load_arch("dense-systolic").to_dict()
    d["engines"] = {"fake": {"kind": "_test_gemm_fake", "rows": 4, "cols": 4}}
    return Architecture.from_dict(d, source="<fake>")


def test_result_fields(arch):
    r = simulate_gemm(arch, 100, 32, 16, seed=3)
    assert isinstance(r, RunResult) and r.kind == "gemm" and r.engine == "fake"
    assert r.cycles == r.compute_cycles + r.stall_cycles and r.stall_cycles > 0
    assert r.dense_macs == 100 * 32 * 16 == r.performed_macs  # dense weight: no zeros
    assert r.check == "passed" and r.check_reason is None and r.seed == 3
    assert r.arch_hash == arch.hash()
    assert r.seconds == pytest.approx(r.cycles / 200e6)
    assert r.utilization == pytest.approx(r.performed_macs / (16 * r.cycles))
    # Energy: the action table (a plan without per-operand notes books its SRAM bytes on the
    # activation buffer, "act": 64 KiB banks -> sqrt(2) x the 32 KiB figure; its DRAM loads fill
    # the weight buffer (no act_load_bytes), its stores drain "out": 32 KiB banks) + static.
    t = energy_table(arch)
    act_pj = arch.energy.sram_pj_per_byte * math.sqrt(1048576 / 16 / 32768)
    assert t.buffers["act"] == (pytest.approx(act_pj), pytest.approx(act_pj))
    assert t.buffers["weight"][1] == pytest.approx(act_pj)
    assert t.buffers["out"][0] == pytest.approx(arch.energy.sram_pj_per_byte)
    static = sum(t.static_mw.values()) * r.cycles / 200.0 * 1e3
    assert static > 0
    assert r.energy_pj == pytest.approx(
        r.performed_macs * t.mac("int8")
        + (r.sram_read_bytes + r.sram_write_bytes + r.dram_read_bytes) * act_pj
        + r.dram_write_bytes * arch.energy.sram_pj_per_byte
        + (r.dram_read_bytes + r.dram_write_bytes) * arch.energy.dram_pj_per_byte
        + static
    )
    bd = r.counters["energy_breakdown"]
    assert bd["fake"]["mac"] == pytest.approx(r.performed_macs * 0.23)
    assert sum(sum(a.values()) for a in bd.values()) == pytest.approx(r.energy_pj)
    assert r.events > 0 and r.wall_seconds > 0
    assert list(r.table["m0"]) == [0, 64]
    assert list(r.table["compute_start"]) == sorted(r.table["compute_start"])
    assert r.counters["num_tiles"] == 2 and r.counters["fake_nnz"] == 32 * 16
    assert "cycles" not in r.counters
    assert r.params["m"] == 100 and r.params["sparsity"] == "dense"
    d = r.to_dict()
    json.dumps(d)
    assert d["num_tiles"] == 2 and d["check"] == "passed"


def test_batch_multiplies_m(arch):
    r = simulate_gemm(arch, 10, 8, 8, batch=3)
    assert r.dense_macs == 30 * 8 * 8
    assert _FakeEngine.seen[-1].m == 30


def test_sparsity_reduces_performed_macs(arch):
    r = simulate_gemm(arch, 64, 64, 32, sparsity="2:8")
    assert r.performed_macs == r.dense_macs // 4
    assert r.check == "passed"
    assert str(_FakeEngine.seen[-1].sparsity) == "2:8"


def test_given_weight_zeros_count(arch):
    w = np.ones((16, 8), dtype=np.int8)
    w[:8] = 0
    r = simulate_gemm(arch, 4, 16, 8, weight=w)
    assert r.performed_macs == 4 * 8 * 8 and r.params["weight_given"]
    with pytest.raises(
        ShapeError, match=r"weight must have shape \(k, n\) = \(16, 4\), got \(16, 8\)"
    ):
        simulate_gemm(arch, 4, 16, 4, weight=w)
    with pytest.raises(PatternError):
        simulate_gemm(arch, 4, 16, 8, weight=np.ones((16, 8), dtype=np.int8), sparsity="2:8")


def test_seeded_operands_deterministic(arch):
    simulate_gemm(arch, 8, 16, 8, sparsity="unstructured:0.5", seed=7)
    a = _FakeEngine.seen[-1]
    simulate_gemm(arch, 8, 16, 8, sparsity="unstructured:0.5", seed=7)
    b = _FakeEngine.seen[-1]
    assert np.array_equal(a.weight, b.weight) and np.array_equal(a.act, b.act)
    assert a.act.dtype == np.int8 and a.seed == 7


def test_check_failure_names_engine_position_values(arch, monkeypatch):
    monkeypatch.setattr(_FakeEngine, "corrupt", True)
    with pytest.raises(
        CheckFailedError,
        match=r"engine 'fake' \(_test_gemm_fake\) output differs .* at \[1, 2\]: got .*, expected .* \(1 of 64 elements differ\)",
    ):
        simulate_gemm(arch, 8, 8, 8)


def test_check_skipped(arch, monkeypatch):
    r = simulate_gemm(arch, 8, 8, 8, check=False)
    assert r.check == "skipped" and "disabled" in r.check_reason
    assert _FakeEngine.seen[-1].act is None
    monkeypatch.setattr(gemm_mod, "CHECK_ELEMENT_LIMIT", 100)
    r = simulate_gemm(arch, 8, 8, 8)
    assert r.check == "skipped" and "too large" in r.check_reason


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"m": 0}, r"m must be an integer >= 1, got 0"),
        ({"k": 1.5}, r"k must be an integer >= 1, got 1\.5"),
        ({"n": "3"}, r"n must be an integer >= 1, got '3'"),
        ({"batch": 0}, r"batch must be an integer >= 1, got 0"),
    ],
)
def test_impossible_shapes(arch, kwargs, match):
    shape = {"m": 4, "k": 4, "n": 4}
    shape.update({k: v for k, v in kwargs.items() if k in shape})
    extra = {k: v for k, v in kwargs.items() if k not in shape}
    with pytest.raises(ShapeError, match=match):
        simulate_gemm(arch, shape["m"], shape["k"], shape["n"], **extra)


def test_option_errors(arch):
    with pytest.raises(ConfigError, match=r"no engine 'tpu' in architecture .*; engines: fake"):
        simulate_gemm(arch, 4, 4, 4, engine="tpu")
    with pytest.raises(ConfigError, match=r"precision must be one of .*got 'int4'"):
        simulate_gemm(arch, 4, 4, 4, precision="int4")
    with pytest.raises(ConfigError, match=r"supports dataflows ws, os, is, got 'xs'"):
        simulate_gemm(arch, 4, 4, 4, dataflow="xs")
    with pytest.raises(ConfigError, match=r"array must look like RxC"):
        simulate_gemm(arch, 4, 4, 4, array="4by4")
    with pytest.raises(ConfigError, match=r"supports dataflows ws, os, got 'is'"):
        simulate_gemm("sat-vcu1525", 4, 8, 4, dataflow="is")


@pytest.mark.parametrize(
    ("seed", "exc", "match"),
    [
        # used to reach numpy as "expected non-negative integer", naming no field
        (-1, ValueError, r"seed must be a non-negative integer, not -1"),
        # used to be accepted as int(None) -> TypeError from int(), or an unseeded run
        (None, TypeError, r"seed must be a non-negative integer, not None"),
        (2.5, TypeError, r"seed must be a non-negative integer, not 2\.5"),
    ],
)
def test_seed_is_validated(arch, seed, exc, match):
    with pytest.raises(exc, match=match):
        simulate_gemm(arch, 4, 4, 4, seed=seed)
    with pytest.raises(exc, match=match):
        gemm_mod.synthetic_weight(8, 4, Dense(), seed=seed)


def test_synthetic_weight_rejects_unknown_precision():
    # used to leak a bare KeyError('int4')
    with pytest.raises(ConfigError, match=r"precision must be one of .*got 'int4'"):
        gemm_mod.synthetic_weight(8, 4, Dense(), seed=0, precision="int4")


def test_engine_by_kind_and_array_override(arch):
    r = simulate_gemm(arch, 64, 16, 16, engine="_test_gemm_fake", array="8x2")
    assert r.counters["multipliers"] == 16 and r.params["array"] == [8, 2]
    r2 = simulate_gemm(arch, 64, 16, 16, array=(8, 8))
    assert r2.counters["multipliers"] == 64 and r2.arch_hash != arch.hash()
    assert parse_array("32x16") == (32, 16) and parse_array([2, 3]) == (2, 3)


def test_trace_file_written(arch, tmp_path):
    path = tmp_path / "trace.json"  # the folder must exist: writes never create one
    simulate_gemm(arch, 130, 16, 16, trace=path)
    doc = json.loads(path.read_text())
    assert sum(e["ph"] == "X" and e["cat"] == "compute" for e in doc["traceEvents"]) == 3
    events: list = []
    simulate_gemm(arch, 130, 16, 16, trace=events)
    assert any(e["ph"] == "X" for e in events)


def test_unregistered_model():
    d = load_arch("dense-systolic").to_dict()
    d["engines"] = {"v": {"kind": "vector", "lanes": 4, "ops_per_cycle": 1}}
    with pytest.raises(ConfigError, match=r"architecture 'dense-systolic' has no GEMM engine"):
        simulate_gemm(Architecture.from_dict(d), 4, 4, 4)
    assert "_test_gemm_fake" in ENGINE_MODELS


# -- the real engines, end to end (when the engines helper's modules are present) --------------
_REAL = [
    ("dense-systolic", "hwsim.engines.systolic", "dense"),
    ("dense-systolic", "hwsim.engines.systolic", "2:8"),
    ("sat-vcu1525", "hwsim.engines.pe_array", "dense"),
    ("sat-vcu1525", "hwsim.engines.pe_array", "2:8"),
    ("flightllm-u280", "hwsim.engines.dsp_chain", "dense"),
    ("flightllm-u280", "hwsim.engines.dsp_chain", "2:8"),
]


@pytest.mark.parametrize(("preset", "module", "sparsity"), _REAL)
def test_real_engine_end_to_end(preset, module, sparsity):
    pytest.importorskip(module)
    r = simulate_gemm(preset, 96, 256, 80, sparsity=sparsity, seed=1)
    assert r.check == "passed"
    assert r.cycles == r.compute_cycles + r.stall_cycles > 0
    assert 0 < r.utilization <= 1.0
    assert r.dense_macs == 96 * 256 * 80
    assert r.dram_read_bytes > 0 and r.dram_write_bytes > 0
    if sparsity == "2:8" and preset != "dense-systolic":
        dense = simulate_gemm(preset, 96, 256, 80, seed=1)
        assert r.performed_macs < dense.performed_macs
    assert math.isfinite(r.energy_pj) and r.energy_pj > 0


# -- synthetic operands, the exact reference and per-DSP counters ------------------------------
@pytest.mark.parametrize("pattern", ["2:8", "4:8", "1:4", "3:8"])
@pytest.mark.parametrize("k", [5, 37, 64])
@pytest.mark.parametrize("precision", ["int8", "int16", "fp16"])
def test_synthetic_weight_meets_pattern_exactly(pattern, k, precision):
    from hwsim.sparsity import check_nm, parse_sparsity

    spec = parse_sparsity(pattern)
    w = gemm_mod.synthetic_weight(k, 11, spec, seed=2, precision=precision)
    assert w.shape == (k, 11) and w.dtype == gemm_mod._WEIGHT_DTYPE[precision]
    check_nm(w, spec, axis=0)
    full = k // spec.m * spec.m
    per_group = (w[:full] != 0).reshape(-1, spec.m, 11).sum(axis=1)
    assert (per_group == spec.n).all()  # exactly n kept: timing sees the declared pattern
    assert np.array_equal(w, gemm_mod.synthetic_weight(k, 11, spec, seed=2, precision=precision))


def test_synthetic_weight_positions_uniform():
    from hwsim.sparsity import NMPattern

    w = gemm_mod.synthetic_weight(8 * 2000, 16, NMPattern(2, 8), seed=0)
    freq = (w != 0).reshape(-1, 8, 16).mean(axis=(0, 2))
    assert freq == pytest.approx(np.full(8, 2 / 8), abs=0.01)
    d = gemm_mod.synthetic_weight(64, 64, Dense(), seed=0)
    assert np.count_nonzero(d) == d.size and d.min() == -128 and d.max() == 127


def test_reference_product_exact_and_guarded():
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(5, 300)).astype(np.int8)
    w = rng.integers(-128, 128, size=(300, 7)).astype(np.int8)
    ref = gemm_mod.reference_product(a, w)
    assert ref.dtype == np.float64 and np.array_equal(ref, a.astype(np.int64) @ w.astype(np.int64))
    big = np.full((1, 4), 2**40, dtype=np.int64)  # 4 * 2**80 >= 2**53: float64 would round
    exact = gemm_mod.reference_product(big, big.T + 1)
    assert exact.dtype == np.int64


def test_exact_matmul_and_acc_dtype_guard():
    from hwsim.engines._tiling import acc_dtype, exact_matmul

    rng = np.random.default_rng(1)
    for dt, k in ((np.int8, 3000), (np.int16, 50)):
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=(9, k), endpoint=True).astype(dt)
        b = rng.integers(info.min, info.max, size=(k, 6), endpoint=True).astype(dt)
        got = exact_matmul(a, b)
        assert np.array_equal(got, a.astype(np.int64) @ b.astype(np.int64))
    assert acc_dtype(np.ones((2, 3), np.int8), np.ones((3, 2), np.int8)) is np.float64
    huge = np.full((2, 4), 2**30, dtype=np.int64)
    assert acc_dtype(huge, huge.T) is np.int64
    assert exact_matmul(huge, huge.T).dtype == np.int64


def test_per_dsp_counters():
    r = simulate_gemm("sat-vcu1525", 64, 256, 64, sparsity="2:8", check=False)
    res = load_arch("sat-vcu1525").resources_summary()
    assert r.counters["dsp"] == res["dsp"] == 2048 and r.counters["resources_basis"] == "rtl_core"
    assert r.counters["lut"] == res["lut"] and r.counters["bram_kb"] == res["bram_kb"]
    assert r.counters["macs_per_cycle_per_dsp"] == pytest.approx(r.dense_macs / (r.cycles * 2048))
    assert r.counters["check_wall_seconds"] >= 0
    json.dumps(r.to_dict())


def test_lazy_top_level_api():
    import subprocess
    import sys

    code = (
        "import sys, hwsim; assert 'simpy' not in sys.modules and 'pandas' not in sys.modules; "
        "from hwsim import simulate_gemm, load_arch, Architecture, list_presets; "
        "assert isinstance(load_arch('sat-vcu1525'), Architecture); "
        "assert 'sat-vcu1525' in list_presets() and simulate_gemm.__module__ == 'hwsim.gemm'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    import hwsim

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hwsim.nope  # noqa: B018
    assert {"simulate_gemm", "load_arch", "Architecture", "list_presets"} <= set(hwsim.__all__)


def test_array_override_needs_a_rows_by_cols_engine():
    with pytest.raises(ConfigError, match="array \\(RxC\\) applies to engines with a rows x cols"):
        simulate_gemm("flightllm-u280", 4, 64, 64, array="4x16")


def test_huge_m_or_batch_is_refused_before_any_allocation():
    # used to grow to 10.5 GB over 46 s and end in a raw MemoryError
    import time

    from hwsim.gemm import ROW_LIMIT

    t = time.perf_counter()
    with pytest.raises(ShapeError, match=r"m\*batch = 1000000000000\*1 .* limit of"):
        simulate_gemm("sat-vcu1525", 10**12, 64, 64)
    with pytest.raises(ShapeError, match=r"m\*batch = 8\*1000000000 "):
        simulate_gemm("sat-vcu1525", 8, 64, 64, batch=10**9)
    assert time.perf_counter() - t < 5
    # the largest allowed M still runs: only sampled tiles' activations are built
    r = simulate_gemm("dense-systolic", ROW_LIMIT // 64, 16, 16, check=True)
    assert r.check == "passed" and "sampled" in r.counters["check_scope"]
