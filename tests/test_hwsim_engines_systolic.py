"""Tests of hwsim.engines.systolic: SCALE-Sim v3 compute cycles and fold-group tiles."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.engines.base import GemmWork
from hwsim.engines.systolic import (
    SystolicEngine,
    scalesim_compute_cycles,
)
from hwsim.sparsity import Dense, NMPattern, random_weights
from mapper.frontends.scalesim import scalesim_conv_dims

# SCALE-Sim v3's own golden reports (test/general/golden_trace_*/COMPUTE_REPORT.csv and
# test/sparsity): compute cycles = "Total Cycles" - "Stall Cycles".
#   user_ws: GEMM M=256 N=128 K=256 on 32x32 WS: 52447 - 41248 = 11199
#   user_os: same layer, OS:                       52447 - 42272 = 10175
#   user_is: same layer, IS:                       19984 - 5777  = 14207
#   calc:    AlexNet Conv1 (224x224, 11x11x3, 96 filters, stride 4), 32x32 WS, no stalls: 112283
GOLDEN = [
    ("ws", 32, 32, 256, 256, 128, None, 11199),
    ("os", 32, 32, 256, 256, 128, None, 10175),
    ("is", 32, 32, 256, 256, 128, None, 14207),
    ("ws", 32, 32, 3025, 363, 96, None, 112283),
]

# Hand-derived from SCALE-Sim's code (fold = 2R+C+T-2 for WS/IS, R+C+T-2 for OS; "- 1" once;
# layer-wise n:m: K_eff = n*floor(K/m) + min(n, K%m)).
HAND = [
    ("ws", 8, 8, 10, 20, 12, None, 3 * 2 * (16 + 8 + 10 - 2) - 1),
    ("os", 8, 4, 10, 20, 12, None, 2 * 3 * (8 + 4 + 20 - 2) - 1),
    ("is", 4, 8, 10, 20, 12, None, 5 * 2 * (8 + 8 + 12 - 2) - 1),
    ("ws", 16, 16, 100, 363, 96, "1:4", math.ceil(91 / 16) * 6 * (32 + 16 + 100 - 2) - 1),
    ("os", 16, 16, 100, 363, 96, "2:8", 7 * 6 * (16 + 16 + 92 - 2) - 1),  # K_eff = 90 + 2
    ("is", 128, 128, 3025, 363, 96, "1:4", 1 * 24 * (256 + 128 + 96 - 2) - 1),
    ("ws", 32, 32, 64, 64, 64, "2:4", 1 * 2 * (64 + 32 + 64 - 2) - 1),
    ("os", 32, 64, 64, 1000, 64, "3:8", 2 * 1 * (32 + 64 + 375 - 2) - 1),
]


@pytest.mark.parametrize("df,r,c,p,k,n,sp,expected", GOLDEN + HAND)
def test_scalesim_table(df, r, c, p, k, n, sp, expected):
    assert scalesim_compute_cycles(df, r, c, p, k, n, sp) == expected


def test_conv_dims_follow_scalesim_ceil():
    assert scalesim_conv_dims(224, 224, 11, 11, 3, 96, 4) == (3025, 363, 96)
    assert scalesim_conv_dims(256, 256, 1, 256, 1, 128) == (256, 256, 128)  # GEMM row


def test_unknown_dataflow():
    with pytest.raises(ValueError, match="dataflow must be one of"):
        scalesim_compute_cycles("rs", 8, 8, 1, 1, 1)


def _plan(m, k, n, df, sp=None, arch="dense-systolic", seed=0, **over):
    a = load_arch(arch)
    if over:
        a = a.with_engine_overrides("systolic", **over)
    spec = Dense() if sp is None else NMPattern.parse(sp)
    w = random_weights((k, n), spec, seed=seed)
    work = GemmWork(m, k, n, w, spec, dataflow=df)
    return SystolicEngine().plan(work, a, "systolic"), work, a


@pytest.mark.parametrize("df", ["ws", "os", "is"])
@pytest.mark.parametrize("rc", [(32, 32), (8, 16), (128, 128)])
@pytest.mark.parametrize("sp", [None, "2:8"])
def test_sum_over_tiles_equals_scalesim(df, rc, sp):
    plan, work, _ = _plan(700, 1500, 600, df, sp, rows=rc[0], cols=rc[1])
    want = scalesim_compute_cycles(df, *rc, 700, 1500, 600, sp and NMPattern.parse(sp))
    assert int(plan.compute_cycles.sum()) == want


def test_many_tiles_when_buffers_are_small():
    plan, _, a = _plan(4096, 4096, 4096, "ws")
    assert plan.num_tiles > 1
    assert int(plan.compute_cycles.sum()) == scalesim_compute_cycles("ws", 32, 32, 4096, 4096, 4096)
    assert 2 * plan.buffer_bytes <= a.onchip_bytes
    assert int(plan.store_bytes.sum()) == 4096 * 4096  # every output leaves once


def test_traffic_of_pipelined_tiles():
    plan, work, _ = _plan(100, 64, 48, "os")
    assert plan.num_tiles == 4  # cut into PIPELINE_TILES along the row folds
    assert int(plan.load_bytes.sum()) == 100 * 64 + 64 * 48  # each operand loaded once
    assert int(plan.load_bytes[0]) == 32 * 64 + 64 * 48
    assert int(plan.performed_macs.sum()) == work.dense_macs


def test_nm_metadata_counted():
    plan, _, _ = _plan(64, 64, 64, "ws", "2:8")
    assert int(plan.load_bytes.sum()) == 64 * 64 + 16 * 64 + 16 * 64 * 3 // 8


@settings(max_examples=40, deadline=None)
@given(
    df=st.sampled_from(["ws", "os", "is"]),
    r=st.integers(1, 40), c=st.integers(1, 40),
    p=st.integers(1, 300), k=st.integers(1, 300), n=st.integers(1, 300),
    nm=st.sampled_from([None, (1, 4), (2, 8), (3, 8)]),
)
def test_random_shapes_match_formula(df, r, c, p, k, n, nm):
    a = load_arch("dense-systolic").with_engine_overrides("systolic", rows=r, cols=c)
    spec = Dense() if nm is None else NMPattern(*nm)
    work = GemmWork(p, k, n, np.zeros((k, n), np.int8), spec, dataflow=df)
    plan = SystolicEngine().plan(work, a, "systolic")
    k_eff = k if nm is None else spec.effective_length(k)
    sr, sc, t = {"ws": (k_eff, n, p), "os": (p, n, k_eff), "is": (k_eff, p, n)}[df]
    fold = (r + c + t - 2) if df == "os" else (2 * r + c + t - 2)
    assert int(plan.compute_cycles.sum()) == math.ceil(sr / r) * math.ceil(sc / c) * fold - 1


@pytest.mark.parametrize("sp", [None, "2:8", "1:4"])
def test_functional_from_compressed(sp):
    rng = np.random.default_rng(1)
    spec = Dense() if sp is None else NMPattern.parse(sp)
    w = random_weights((37, 11), spec, seed=3)
    x = rng.integers(-9, 9, size=(5, 37))
    work = GemmWork(5, 37, 11, w, spec, act=x)
    out = SystolicEngine().compute(work, load_arch("dense-systolic"), "systolic")
    np.testing.assert_array_equal(out, x @ w.astype(np.int64))
