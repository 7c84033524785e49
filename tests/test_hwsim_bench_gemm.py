"""Tests for benchmarks/bench_gemm.py: it runs and its event counts follow tiles, not MACs.

Speed itself is reported by the benchmark, not asserted here: wall-clock limits in unit tests
are flaky on shared machines.
"""

from __future__ import annotations

import io

import pytest
from conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_gemm")


def test_events_grow_with_tiles_not_macs(bench):
    rows = bench.bench(["sat-vcu1525"], [256, 1024, 4096], ["dense", "2:8"], repeat=2)
    for r in rows:
        # a fixed handful per plan and per tile: ~13 per tile plus ~5 per store, and with K
        # uncut (tiles sized per buffer) every tile stores its finished outputs
        assert r["events"] <= 12 + 18 * r["tiles"]
    by = {(r["sparsity"], r["size"]): r for r in rows}
    assert by["2:8", 256]["check"] == "passed" and by["2:8", 4096]["check"] == "skipped"
    # 64x the MACs from 1024^3 to 4096^3; the events follow the tiles (32x here), not the MACs.
    small, big = by["2:8", 1024], by["2:8", 4096]
    assert big["events"] / small["events"] <= big["tiles"] / small["tiles"] < 64
    assert by["2:8", 4096]["wall_s"] > 0
    out = io.StringIO()
    bench.report(rows, out=out)
    text = out.getvalue()
    assert "events" in text and "wall_s" in text and "4096^3 2:8 on sat-vcu1525" in text
