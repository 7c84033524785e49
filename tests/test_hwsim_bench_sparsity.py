"""Tests for benchmarks/bench_sparsity.py: its figures come from real runs and its verdict can fail.

The speed itself is the benchmark's target, not asserted here (no wall-clock limits in tests).
"""

from __future__ import annotations

import io

import pytest
from conftest import load_benchmark

from hwsim.sparsity import NMPattern


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_sparsity")


def test_rows_come_from_the_runs(bench):
    rows = bench.bench(sizes=[64], patterns=["2:8", "4:64"], dtypes=["int8"], repeat=1)
    assert [(r["pattern"], r["axis"]) for r in rows] == [
        ("2:8", 0), ("2:8", 1), ("4:64", 0), ("4:64", 1)
    ]
    for r in rows:
        p = NMPattern.parse(r["pattern"])
        assert r["slots"] == p.effective_length(64) and r["seconds"] > 0


def test_verdict_fails_on_a_missed_target(bench):
    row = {"size": 1024, "dtype": "float32", "pattern": "2:8", "axis": 0, "slots": 256}
    out = io.StringIO()
    assert bench.report([{**row, "seconds": bench.TARGET_1024_S / 2}], out=out)
    assert "OK" in out.getvalue()
    out = io.StringIO()
    assert not bench.report([{**row, "seconds": bench.TARGET_1024_S * 2}], out=out)
    assert "SLOW" in out.getvalue()
