"""Check modes (sampled / full / off), the sample's guaranteed tiles, CLI flags, huge M."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from hwsim.check import SAMPLE_BLOCKS, check_mode, pick_blocks, tile_geometry
from hwsim.cli import main
from hwsim.errors import ConfigError
from hwsim.gemm import activation_rows, check_gemm, plan_gemm, prepare_gemm, simulate_gemm


def test_modes_and_bools():
    assert check_mode(True) == "sampled" and check_mode("full") == "full"
    assert check_mode(False) is None and check_mode(None) is None
    with pytest.raises(ConfigError, match="check must be True, False, 'sampled' or 'full'"):
        check_mode("most")
    r = simulate_gemm("sat-vcu1525", 128, 64, 64, sparsity="2:8", check=True)
    assert r.check == "passed" and r.counters["check_scope"].startswith("sampled ")
    r = simulate_gemm("sat-vcu1525", 128, 64, 64, sparsity="2:8", check="full")
    assert r.check == "passed" and r.counters["check_scope"] == "full"
    r = simulate_gemm("sat-vcu1525", 128, 64, 64, sparsity="2:8", check=False)
    assert r.check == "skipped" and r.counters["check_scope"] is None


def test_sample_always_has_first_last_and_edge_blocks():
    from hwsim.arch import Architecture, load_arch

    d = load_arch("sat-vcu1525").to_dict()
    for b in d["buffers"].values():
        b["capacity_bytes"] = 32768
    arch = Architecture.from_dict(d, source="<small>")
    job = prepare_gemm(arch, 1000, 128, 1000, sparsity="2:8", check="sampled", seed=1)
    plan = plan_gemm(job)
    geo = tile_geometry(plan, job.work)
    nblocks = np.unique(geo["block"]).size
    assert nblocks > 4 + SAMPLE_BLOCKS
    for seed in range(3):
        chosen = set(pick_blocks(geo, seed, full=False).tolist())
        b = geo["block"]
        assert {int(b[0]), int(b[-1])} <= chosen
        assert int(b[np.argmax(geo["m1"])]) in chosen and int(b[np.argmax(geo["n1"])]) in chosen
        tail = (geo["m1"] == 1000) & (geo["n1"] == 1000)
        assert int(b[tail][0]) in chosen  # the corner (tail along M and N)
        assert len(chosen) <= 5 + SAMPLE_BLOCKS
    state, _, _, scope = check_gemm(job, plan)
    checked = int(scope.split()[1])
    assert state == "passed" and f"of {plan.num_tiles} tiles" in scope
    assert checked < plan.num_tiles


def test_activation_rows_are_the_same_however_drawn():
    whole = activation_rows(3, "int8", 40, 0, 700)
    assert whole.shape == (700, 40) and whole.dtype == np.int8
    np.testing.assert_array_equal(activation_rows(3, "int8", 40, 250, 530), whole[250:530])
    assert activation_rows(3, "fp16", 8, 0, 5).dtype == np.float16


def test_huge_m_checks_only_the_sampled_rows():
    """The check of a 4M-row GEMM draws only the rows of its sampled tiles."""
    import tracemalloc

    tracemalloc.start()
    t = time.perf_counter()
    r = simulate_gemm("sat-vcu1525", 2**22, 64, 64, sparsity="2:8")
    wall = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert r.check == "passed" and r.counters["check_scope"].startswith("sampled")
    assert peak < 64 * 2**20  # the activation alone would be 256 MiB
    assert wall < 30


def test_full_check_shows_progress_on_request(capsys):
    job = prepare_gemm("dense-systolic", 100, 64, 64, check="full")
    plan = plan_gemm(job)
    assert check_gemm(job, plan, progress=True)[3] == "full"
    assert "hwsim check" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "scope"),
    [([], "sampled"), (["--check"], "sampled"), (["--check", "sampled"], "sampled"),
     (["--check", "full"], "full"), (["--no-check"], None)],
)
def test_cli_flags(flags, scope, capsys):
    argv = ["gemm", "--arch", "sat-vcu1525", "--m", "64", "--k", "64", "--n", "64",
            "--sparsity", "2:8", "--json", *flags]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    if scope is None:
        assert doc["check"] == "skipped" and doc["check_scope"] is None
    else:
        assert doc["check"] == "passed" and doc["check_scope"].split()[0] == scope


def _exit(argv) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)


def test_cli_bad_check_is_usage_error(capsys):
    argv = ["gemm", "--arch", "sat-vcu1525", "--m", "8", "--k", "8", "--n", "8"]
    assert _exit([*argv, "--check", "most"]) == 2
    assert _exit([*argv, "--check", "--no-check"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
