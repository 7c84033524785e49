"""Contract 9: a mutated plan (or a broken functional path) must fail the check, every engine."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

import hwsim.engines.dsp_chain as dsp_mod
import hwsim.engines.pe_array as pe_mod
import hwsim.engines.systolic as sys_mod
from hwsim.check import pick_blocks, tile_geometry
from hwsim.engines.base import TilePlan
from hwsim.errors import CheckFailedError
from hwsim.gemm import check_gemm, plan_gemm, prepare_gemm

# (arch, module, m, k, n, extra kwargs): small GEMMs that still cut into several tiles
ENGINES = {
    "pe_array": ("sat-vcu1525", pe_mod, 300, 256, 96, {}),
    "systolic_ws": ("dense-systolic", sys_mod, 70, 160, 200, {"dataflow": "ws", "array": "8x16"}),
    "systolic_os": ("dense-systolic", sys_mod, 70, 160, 200, {"dataflow": "os", "array": "8x16"}),
    "systolic_is": ("dense-systolic", sys_mod, 70, 160, 200, {"dataflow": "is", "array": "8x16"}),
    "dsp_chain": ("flightllm-u280", dsp_mod, 96, 512, 80, {}),
}


def _job(key, check="full", sparsity="2:8", **over):
    arch, _, m, k, n, kw = ENGINES[key]
    job = prepare_gemm(arch, m, k, n, sparsity=sparsity, check=check, seed=5, **{**kw, **over})
    return job, plan_gemm(job)


def _without(plan: TilePlan, j: int) -> TilePlan:
    keep = np.arange(plan.num_tiles) != j
    arrays = {f: getattr(plan, f)[keep] for f in (
        "compute_cycles", "load_bytes", "store_bytes", "performed_macs", "sram_read_bytes",
        "sram_write_bytes", "act_load_bytes")}
    tiles = plan.tiles[keep].reset_index(drop=True)
    return dataclasses.replace(plan, tiles=tiles, operands=None, **arrays)


@pytest.mark.parametrize("key", sorted(ENGINES))
@pytest.mark.parametrize("sparsity", ["2:8", "dense"])
def test_unmutated_plans_pass_full_and_sampled(key, sparsity):
    job, plan = _job(key, sparsity=sparsity)
    assert plan.num_tiles > 1
    assert check_gemm(job, plan)[0] == "passed"
    job.check_mode = "sampled"
    state, _, _, scope = check_gemm(job, plan)
    assert state == "passed" and scope.startswith("sampled")


@pytest.mark.parametrize("key", sorted(ENGINES))
@pytest.mark.parametrize("sparsity", ["2:8", "dense"])
def test_wrong_compute_cycles_fail(key, sparsity):
    job, plan = _job(key, check="sampled", sparsity=sparsity)  # tile 0 is always checked
    plan.compute_cycles[0] += 1
    with pytest.raises(CheckFailedError, match=r"tile 0: executed compute_cycles = \d+, the plan charged"):
        check_gemm(job, plan)


@pytest.mark.parametrize("key", sorted(ENGINES))
def test_dropped_tile_fails(key):
    job, plan = _job(key, check="sampled")
    with pytest.raises(CheckFailedError, match="do not cover the GEMM exactly once|do not partition"):
        check_gemm(job, _without(plan, plan.num_tiles // 2))


@pytest.mark.parametrize("key", sorted(ENGINES))
@pytest.mark.parametrize("sparsity", ["2:8", "dense"])
def test_wrong_tile_boundary_fails(key, sparsity):
    """Move one inner boundary of the grid (still a partition): the charged figures no longer
    match the boxes."""
    job, plan = _job(key, check="sampled", sparsity=sparsity)
    t = plan.tiles
    for ax in ("m", "n", "k"):
        inner = sorted(set(t[f"{ax}1"]) - {int(t[f"{ax}1"].max())})
        if inner:
            b = int(inner[0])
            t.loc[t[f"{ax}1"] == b, f"{ax}1"] = b + 1
            t.loc[t[f"{ax}0"] == b, f"{ax}0"] = b + 1
            break
    else:  # pragma: no cover - every case above has an inner boundary
        pytest.fail("no inner boundary")
    with pytest.raises(CheckFailedError, match="executed .* the plan charged"):
        check_gemm(job, plan)


def test_pe_array_lockstep_forced_to_one_fails(monkeypatch):
    """The review's example: step counts forced to 1 cut the cycles; the check must say so."""
    real = pe_mod._grouping

    def one_step(w, n, m, cols):
        steps, lock, slots = real(w, n, m, cols)
        return steps, np.ones_like(lock), slots

    job, plan = _job("pe_array", sparsity="4:8")
    honest = int(plan.compute_cycles.sum())
    monkeypatch.setattr(pe_mod, "_grouping", one_step)
    job, plan = _job("pe_array", sparsity="4:8", check="sampled")
    assert int(plan.compute_cycles.sum()) < honest
    with pytest.raises(CheckFailedError, match="compute_cycles|lockstep_steps"):
        check_gemm(job, plan)


@pytest.mark.parametrize("df", ["ws", "os", "is"])
def test_systolic_wrong_fold_or_stream_fails(df, monkeypatch):
    real_fold = sys_mod.scalesim_fold_cycles
    monkeypatch.setattr(sys_mod, "scalesim_fold_cycles", lambda *a: real_fold(*a) - 1)
    job, plan = _job(f"systolic_{df}", check="sampled")
    with pytest.raises(CheckFailedError, match="executed compute_cycles"):
        check_gemm(job, plan)
    monkeypatch.undo()
    real = sys_mod.scalesim_layer_dims
    monkeypatch.setattr(sys_mod, "scalesim_layer_dims",
                        lambda d, p, k, n: (lambda s: (s[0], s[1], s[2] - 1))(real(d, p, k, n)))
    job, plan = _job(f"systolic_{df}", check="sampled")  # one streamed row short: a gap
    with pytest.raises(CheckFailedError, match="do not partition"):
        check_gemm(job, plan)


def test_dsp_chain_wrong_pass_count_fails():
    job, plan = _job("dsp_chain", check="sampled")
    plan.tiles.loc[0, "cascade_passes"] -= 1
    with pytest.raises(CheckFailedError, match="cascade_passes"):
        check_gemm(job, plan)


@pytest.mark.parametrize("key", sorted(ENGINES))
def test_corrupted_operand_fails_the_output(key, monkeypatch):
    mod = ENGINES[key][1]
    real = mod.nm_matmul

    def off(act, values, kidx):
        out = np.array(real(act, values, kidx), dtype=np.float64)
        out[-1, -1] += 1
        return out

    monkeypatch.setattr(mod, "nm_matmul", off)
    job, plan = _job(key, check="sampled")
    with pytest.raises(CheckFailedError, match="output differs from the dense NumPy reference"):
        check_gemm(job, plan)


def test_sampled_scope_misses_what_full_catches():
    """A wrong figure on a tile outside the sample passes ``sampled`` and fails ``full``."""
    from hwsim.arch import Architecture, load_arch

    d = load_arch("sat-vcu1525").to_dict()
    for b in ("act", "weight", "out"):
        d["buffers"][b]["capacity_bytes"] = 65536
    small = Architecture.from_dict(d, source="<small buffers>")
    job2 = prepare_gemm(small, 512, 256, 1024, sparsity="2:8", check="sampled", seed=5)
    plan = plan_gemm(job2)
    geo = tile_geometry(plan, job2.work)
    chosen = pick_blocks(geo, job2.work.seed, full=False)
    outside = np.flatnonzero(~np.isin(geo["block"], chosen))
    assert outside.size  # the sample is a real sample
    plan.compute_cycles[outside[0]] += 7
    assert check_gemm(job2, plan)[0] == "passed"
    job2.check_mode = "full"
    with pytest.raises(CheckFailedError, match=f"tile {outside[0]}: executed compute_cycles"):
        check_gemm(job2, plan)


# -- SMASH row-wise hashing ---------------------------------------------------------------------


def _smash(kernel: str, table_entries: int = 64):
    from hwsim.arch import load_arch
    from hwsim.spgemm.engine import pick_engine
    from hwsim.spgemm.rowwise import plan_rowwise
    from hwsim.spgemm.work import row_work

    a = sp.random_array((120, 120), density=0.06, random_state=3, format="csr")
    arch = load_arch("smash-piuma")
    name, _ = pick_engine(arch, None)
    spec = arch.with_engine_overrides(name, kernel=kernel, table_entries=table_entries,
                                      cores=2).engine(name)
    work = row_work(a, a)
    return a, work, spec, plan_rowwise(a, a, work, spec)


@pytest.mark.parametrize("kernel", ["v1", "v2", "v3"])
def test_smash_walk_matches_plan_full(kernel):
    from hwsim.spgemm.walk import check_rowwise

    a, work, spec, plan = _smash(kernel)
    assert plan.counters["hash_collisions"] > 0 and plan.counters["window_splits"] > 0
    assert check_rowwise(a, a, work, spec, plan, full=True) == "full"


@pytest.mark.parametrize("kernel", ["v1", "v2", "v3"])
def test_smash_wrong_probe_count_fails(kernel, monkeypatch):
    """A plan that hashes differently from the kernel charges other probes: the walk finds out."""
    import hwsim.spgemm.rowwise as rw
    from hwsim.spgemm.walk import check_rowwise

    real = rw.hash_slots
    monkeypatch.setattr(rw, "hash_slots", lambda keys, t, kind: real(keys, t, "modulo"))
    a, work, spec, plan = _smash(kernel)
    with pytest.raises(CheckFailedError, match="walked (probes|hash_cycles|compute_cycles)"):
        check_rowwise(a, a, work, spec, plan, full=True)


def test_smash_plan_mutations_fail():
    from hwsim.spgemm.walk import check_rowwise

    a, work, spec, plan = _smash("v2")
    plan.table["probes"][0] += 1  # a wrong probe count on the first task (always walked)
    with pytest.raises(CheckFailedError, match=r"task 0 .*walked probes"):
        check_rowwise(a, a, work, spec, plan)
    a, work, spec, plan = _smash("v2")
    ph = plan.phases[0]
    plan.phases[0] = dataclasses.replace(  # a dropped task
        ph, read_bytes=ph.read_bytes[:-1], compute_cycles=ph.compute_cycles[:-1],
        tail_cycles=ph.tail_cycles[:-1], write_bytes=ph.write_bytes[:-1])
    with pytest.raises(CheckFailedError, match="tasks for"):
        check_rowwise(a, a, work, spec, plan)
    a, work, spec, plan = _smash("v2")
    plan.bounds[1] += 1  # a wrong window boundary
    with pytest.raises(CheckFailedError, match="walked (products|keys|probes)|table full"):
        check_rowwise(a, a, work, spec, plan)


def test_smash_value_not_through_slots_fails(monkeypatch):
    import hwsim.spgemm.walk as walk

    real = walk.expand_rowwise

    def off(a, b, lo, hi):
        r, c, v = real(a, b, lo, hi)
        v = v.copy()
        v[:1] += 1.0
        return r, c, v

    monkeypatch.setattr(walk, "expand_rowwise", off)
    a, work, spec, plan = _smash("v2")
    with pytest.raises(CheckFailedError, match="written back from the table slots differ"):
        walk.check_rowwise(a, a, work, spec, plan)
