"""Optional window-scoped cache for rows of B in the row-wise dataflow (``b_cache_bytes``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from hwsim.cli import main
from hwsim.errors import ConfigError
from hwsim.spgemm import rmat, simulate_spgemm

#: One window for the tiny matrices (a single core asked for a single window).
ONE_WINDOW = {"workers": 1, "windows_per_core": 1}


def _tiny():
    # rows of A reference k: {0,1}, {0,1}, {0,2}, {1}; nnz(B[k,:]) = 2, 3, 1, 1
    a = sp.csr_array(np.array([[1.0, 2, 0, 0], [3, 4, 0, 0], [5, 0, 6, 0], [0, 7, 0, 0]]))
    b = sp.csr_array(np.array([[1.0, 0, 2, 0], [0, 3, 4, 5], [6, 0, 0, 0], [0, 0, 0, 7]]))
    return a, b


def _strip(d: dict) -> dict:
    d = dict(d)
    d.pop("wall_seconds")
    d["params"] = {k: v for k, v in d["params"].items() if k != "overrides"}
    return d


@pytest.mark.parametrize("kernel", ["v1", "v3"])
def test_default_is_no_cache_and_unchanged(kernel):
    a = rmat(8, 8, seed=2)
    r0 = simulate_spgemm(a, kernel=kernel)
    r1 = simulate_spgemm(a, kernel=kernel, b_cache_bytes=0)
    assert _strip(r0.to_dict()) == _strip(r1.to_dict())
    pd.testing.assert_frame_equal(r0.table, r1.table)
    c = r0.counters
    assert c["b_cache_hits"] == 0 and c["b_row_fetches"] == a.nnz
    assert c["fetched_elements"] == a.nnz + c["partial_products"]
    assert c["redundant_fetches"] == c["partial_products"] - a.nnz


def test_tiny_hand_computed_dram_reads():
    a, b = _tiny()
    eb = 4 + 8  # index + value bytes of the preset
    r0 = simulate_spgemm(a, b, **ONE_WINDOW)
    assert r0.counters["windows"] == 1 and r0.counters["partial_products"] == 16
    # A entries + row pointers of A + rows of B + two row pointers of B per A[i,k]
    assert r0.dram_read_bytes == 7 * eb + 5 * 8 + 16 * eb + 7 * 2 * 8 == 428
    big = simulate_spgemm(a, b, b_cache_bytes=2**20, **ONE_WINDOW)
    c = big.counters
    # k=0 and k=1 are referenced 3 times each: 2 hits each, saving 2*2 + 2*3 entries
    assert c["b_cache_hits"] == 4 and c["b_row_fetches"] == 3
    assert big.dram_read_bytes == 428 - 10 * eb == 308
    assert c["fetched_elements"] == 7 + 16 - 10
    assert c["redundant_fetches"] == 16 - 10 - b.nnz
    assert c["b_cache_overflow_windows"] == 0 and c["b_cache_uncached_rows"] == 0
    assert big.check == "passed"
    assert big.cycles <= r0.cycles


@pytest.mark.parametrize(
    ("cap", "hits", "saved", "uncached"),
    [
        (1, 0, 0, 3),  # nothing fits
        (30, 2, 2 * 2, 2),  # only B[0] (24 B) fits: first-referenced prefix
        (60, 4, 10, 1),  # B[0] + B[1] = 60 B fit, B[2] does not
        (72, 4, 10, 0),  # all three distinct rows fit
    ],
)
def test_partial_fit_caches_first_referenced_prefix(cap, hits, saved, uncached):
    a, b = _tiny()
    r = simulate_spgemm(a, b, b_cache_bytes=cap, **ONE_WINDOW)
    c = r.counters
    assert c["b_cache_hits"] == hits and c["b_row_fetches"] == 7 - hits
    assert c["b_cache_uncached_rows"] == uncached
    assert c["b_cache_overflow_windows"] == (1 if uncached else 0)
    assert r.dram_read_bytes == 428 - saved * 12


@pytest.mark.parametrize("kernel", ["v1", "v2", "v3"])
def test_monotone_and_counts(kernel):
    a = rmat(9, 8, seed=5)
    prev = None
    for cap in (0, 256, 4096, 65536, 2**20, 2**30):
        r = simulate_spgemm(a, kernel=kernel, b_cache_bytes=cap)
        c = r.counters
        assert r.check == "passed"
        assert c["b_cache_hits"] + c["b_row_fetches"] == a.nnz
        assert c["fetched_elements"] == a.nnz + c["redundant_fetches"] + a.nnz  # B = A
        if prev is not None:
            assert r.dram_read_bytes <= prev.dram_read_bytes
            assert c["b_cache_hits"] >= prev.counters["b_cache_hits"]
            assert c["redundant_fetches"] <= prev.counters["redundant_fetches"]
        prev = r
    assert prev.counters["b_cache_hits"] > 0
    assert prev.dram_read_bytes < simulate_spgemm(a, kernel=kernel).dram_read_bytes


def test_cache_independent_of_chunking_and_with_split_passes():
    a = rmat(8, 8, seed=3)
    r1 = simulate_spgemm(a, b_cache_bytes=8192)
    r2 = simulate_spgemm(a, b_cache_bytes=8192, chunk_products=64)
    assert r2.counters["host_chunks"] > 1
    assert r1.dram_read_bytes == r2.dram_read_bytes and r1.cycles == r2.cycles
    assert r1.counters["b_cache_hits"] == r2.counters["b_cache_hits"]
    # a dense row split into passes: every pass re-streams its rows of B, still checked
    d = sp.csr_array(np.vstack([np.ones((1, 64)), np.eye(64)[:63]]))
    r = simulate_spgemm(d, table_entries=32, max_load=0.5, b_cache_bytes=2**20)
    assert r.counters["overflow_passes"] >= 3 and r.check == "passed"
    assert r.counters["b_cache_hits"] + r.counters["b_row_fetches"] == d.nnz


def test_field_validated():
    a = rmat(5, 4, seed=0)
    with pytest.raises(ConfigError, match="b_cache_bytes"):
        simulate_spgemm(a, b_cache_bytes=-1)
    with pytest.raises(ConfigError, match="b_cache_bytes"):
        simulate_spgemm(a, b_cache_bytes=2**30 + 1)


def test_cli_flag(capsys):
    args = ["spgemm", "--rmat", "8,8", "--seed", "1", "--json"]
    assert main(args) == 0
    off = json.loads(capsys.readouterr().out)
    assert main([*args, "--b-cache-bytes", "65536"]) == 0
    on = json.loads(capsys.readouterr().out)
    assert on["params"]["overrides"] == {"b_cache_bytes": 65536}
    assert on["b_cache_hits"] > 0 and off["b_cache_hits"] == 0
    assert on["dram_read_bytes"] < off["dram_read_bytes"]
    assert on["check"] == "passed"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--b-cache-bytes", "-1"], "ValueError: --b-cache-bytes must be >= 0, not -1"),
        (["--b-cache-bytes", "64", "--dataflow", "outer"],
         "ConfigError: --b-cache-bytes applies to --dataflow rowwise-hash only"),
    ],
)
def test_cli_errors_one_line_exit_1(capsys, extra, match):
    assert main(["spgemm", "--rmat", "5,4", *extra, "--json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hwsim: error: ")
    assert match in err
