"""hwsim.energy: the per-action table, static power over the run, breakdowns of every engine."""

from __future__ import annotations

import math

import pytest

from hwsim.arch import Architecture, list_presets, load_arch
from hwsim.energy import (
    MUX_BIT_PJ,
    REG_BIT_PJ,
    components,
    energy_breakdown,
    energy_table,
    relevant_figures,
)
from hwsim.errors import ConfigError
from hwsim.gemm import plan_gemm, prepare_gemm, simulate_gemm
from hwsim.spgemm import rmat, simulate_spgemm


def _total(bd: dict) -> float:
    return sum(sum(actions.values()) for actions in bd.values())


def _static(bd: dict) -> float:
    return sum(actions.get("static", 0.0) for actions in bd.values())


# -- the table ------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", list_presets())
def test_presets_validate_and_cite_every_figure(preset):
    arch = load_arch(preset)
    Architecture.from_yaml_text(arch.to_yaml())  # round-trips with the new energy keys
    assert arch.provenance.get("energy")  # mac_pj, sram_pj_per_byte, dram_pj_per_byte
    for fig in relevant_figures(arch):
        if fig not in ("mac", "dram"):
            assert arch.provenance.get(f"energy_{fig}"), f"{preset}: no provenance energy_{fig}"
    t = energy_table(arch)
    assert set(t.static_mw) == set(components(arch))
    assert all(v > 0 for v in t.static_mw.values())
    assert all(r > 0 and w > 0 for r, w in t.buffers.values())


def test_sram_price_follows_bank_size():
    arch = load_arch("sat-vcu1525")
    t = energy_table(arch)
    ref = arch.energy.sram_pj_per_byte
    # act: 4 MiB / 32 banks = 128 KiB = 4 x the 32 KiB reference bank -> 2 x the price
    assert t.buffers["act"][0] == pytest.approx(2 * ref)
    assert t.buffers["out"][0] == pytest.approx(math.sqrt(2) * ref)
    assert t.buffers["out"][0] < t.buffers["act"][0]


def test_selector_derived_from_structure():
    t = energy_table(load_arch("sat-vcu1525"))
    assert t.select(8, 8) == pytest.approx(7 * 8 * MUX_BIT_PJ + 3 * REG_BIT_PJ)
    assert t.select(4, 8) < t.select(8, 8) < t.select(8, 16)
    assert 0 < t.select(8, 8) < t.mac("int8")  # a selection is cheaper than the multiply


def _sat_dict(**energy):
    d = load_arch("sat-vcu1525").to_dict()
    d["energy"] = {
        "mac_pj": {"int8": 0.23, "int16": 0.84, "fp16": 1.5, "bf16": 1.5},
        "sram_pj_per_byte": 2.5,
        "dram_pj_per_byte": 162.5,
        **energy,
    }
    return d


def test_old_yaml_keys_load_and_new_keys_override():
    old = Architecture.from_dict(_sat_dict(), source="<old>")
    t = energy_table(old)
    assert t.select_pj is None and t.static_mw["dram"] > 0  # defaults filled
    new = Architecture.from_dict(
        _sat_dict(select_pj=0.5, buffers={"act": {"read_pj_per_byte": 1.0, "write_pj_per_byte": 3.0}},
                  static_mw={"dram": 0.0, "pe_array": 100.0}),
        source="<new>",
    )
    t2 = energy_table(new)
    assert t2.select(8, 8) == 0.5
    assert t2.buffers["act"] == (1.0, 3.0) and t2.buffers["weight"] == t.buffers["weight"]
    assert t2.static_mw["dram"] == 0.0 and t2.static_mw["pe_array"] == 100.0
    # 100 mW for 1000 cycles at 200 MHz = 5 us -> 500 nJ
    assert t2.static_pj("pe_array", 1000) == pytest.approx(500_000.0)


@pytest.mark.parametrize(
    "energy, key",
    [
        ({"static_mw": {"nosuch": 1.0}}, "energy.static_mw.nosuch"),
        ({"static_mw": {"dram": -1.0}}, "static_mw.dram"),
        ({"buffers": {"spad": {"read_pj_per_byte": 1.0}}}, "energy.buffers.spad"),
        ({"select_pj": -0.1}, "energy.select_pj"),
    ],
)
def test_bad_energy_keys_are_named(energy, key):
    with pytest.raises(ConfigError) as exc:
        Architecture.from_dict(_sat_dict(**energy), source="<bad>")
    assert key in str(exc.value)


def test_unknown_action_is_a_config_error():
    with pytest.raises(ConfigError, match="no energy figure for action 'teleport'"):
        energy_breakdown(load_arch("sat-vcu1525"), {("pe_array", "teleport"): 1}, 10)


# -- static power ---------------------------------------------------------------------------------
def test_static_energy_is_power_times_time():
    arch = load_arch("sat-vcu1525")
    t = energy_table(arch)
    e1, b1 = energy_breakdown(arch, {("pe_array", "mac"): 1000}, 1000)
    e2, b2 = energy_breakdown(arch, {("pe_array", "mac"): 1000}, 3000)
    assert b1["pe_array"]["mac"] == b2["pe_array"]["mac"] == pytest.approx(230.0)
    per_cycle = sum(t.static_mw.values()) / arch.clock_mhz * 1e3
    assert e2 - e1 == pytest.approx(2000 * per_cycle)
    assert e1 == pytest.approx(_total(b1))


def test_stall_heavy_run_costs_more_static_than_compute_bound():
    # Equal MACs (2^20): a GEMV streams 1 MiB of weights for 1 row, a square GEMM reuses them.
    stall = simulate_gemm("dense-systolic", 1, 4096, 256, check=False)
    comp = simulate_gemm("dense-systolic", 64, 128, 128, check=False)
    assert stall.dense_macs == comp.dense_macs
    assert stall.stall_cycles > comp.stall_cycles and stall.cycles > comp.cycles
    bs, bc = stall.counters["energy_breakdown"], comp.counters["energy_breakdown"]
    assert bs["systolic"]["mac"] == pytest.approx(bc["systolic"]["mac"])
    assert _static(bs) > _static(bc)
    ratio = _static(bs) / _static(bc)
    assert ratio == pytest.approx(stall.cycles / comp.cycles)


# -- GEMM engines ---------------------------------------------------------------------------------
def test_sparse_pays_selector_and_index_energy_dense_does_not():
    sparse = simulate_gemm("sat-vcu1525", 64, 256, 128, sparsity="2:8", check=False)
    dense = simulate_gemm("sat-vcu1525", 64, 256, 128, check=False)
    bs, bd = sparse.counters["energy_breakdown"], dense.counters["energy_breakdown"]
    t = energy_table(load_arch("sat-vcu1525"))
    assert sparse.counters["select_ops"] == sparse.performed_macs > 0
    assert bs["pe_array"]["select"] == pytest.approx(sparse.performed_macs * t.select(8, 8))
    meta = sparse.counters["sram_meta_read_bytes"]
    assert meta > 0
    assert bs["weight"]["metadata_read"] == pytest.approx(meta * t.buffers["weight"][0])
    assert "select" not in bd["pe_array"] and "metadata_read" not in bd["weight"]
    assert dense.counters["select_ops"] == 0 and dense.counters["sram_meta_read_bytes"] == 0
    for r in (sparse, dense):
        assert _total(r.counters["energy_breakdown"]) == pytest.approx(r.energy_pj)


CASES = [
    ("sat-vcu1525", dict(sparsity="2:8", dataflow="ws")),
    ("sat-vcu1525", dict(sparsity="2:8", dataflow="os")),
    ("sat-vcu1525", dict()),
    ("dense-systolic", dict(sparsity="2:4", dataflow="ws")),
    ("dense-systolic", dict(sparsity="2:4", dataflow="os")),
    ("dense-systolic", dict(sparsity="2:4", dataflow="is")),
    ("dense-systolic", dict()),
    ("flightllm-u280", dict(sparsity="2:8")),
    ("flightllm-u280", dict(sparsity="block:16x16:0.25")),
    ("flightllm-u280", dict()),
]


@pytest.mark.parametrize("arch, kw", CASES)
def test_operand_split_matches_plan_totals(arch, kw):
    job = prepare_gemm(arch, 48, 160, 96, check=False, **kw)
    plan = plan_gemm(job)
    ops = plan.notes["sram_operands"]
    assert sum(r for r, _ in ops.values()) == int(plan.sram_read_bytes.sum())
    assert sum(w for _, w in ops.values()) == int(plan.sram_write_bytes.sum())
    meta = plan.notes["sram_meta_read_bytes"]
    assert 0 <= meta <= ops["weight"][0]
    # N:M indices are read with the weights; (the DSP chain's block index is floored per
    # window and column in the engine, so small block-sparse tiles show none: not asserted)
    if ":" in kw.get("sparsity", "dense") and not kw["sparsity"].startswith("block"):
        assert meta > 0
    elif kw.get("sparsity", "dense") == "dense":
        assert meta == 0
    r = simulate_gemm(arch, 48, 160, 96, check=False, **kw)
    bd = r.counters["energy_breakdown"]
    assert _total(bd) == pytest.approx(r.energy_pj)
    sram = sum(a.get("read", 0) + a.get("write", 0) + a.get("metadata_read", 0)
               for c, a in bd.items() if c in load_arch(arch).buffers)
    assert sram > 0
    assert "sram_operands" not in r.counters  # internal note, not a result column


def test_training_charges_static_once_over_the_run():
    r = simulate_gemm("sat-vcu1525", 64, 256, 128, training=True, sparsity="2:8", check=False)
    bd = r.counters["energy_breakdown"]
    t = energy_table(load_arch("sat-vcu1525"))
    assert _static(bd) == pytest.approx(sum(t.static_mw.values()) * r.cycles / 200.0 * 1e3)
    assert _total(bd) == pytest.approx(r.energy_pj)
    assert r.energy_pj == pytest.approx(float(r.table["energy_pj"].sum()) + _static(bd))
    assert bd["pe_array"]["select"] > 0 and bd["weight"]["write"] > 0  # pre-generation writes


# -- SpGEMM ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph():
    return rmat(8, 4, seed=1)


def test_rowwise_prices_probes_atomics_and_hashes(graph):
    r = simulate_spgemm(graph, dataflow="rowwise-hash", check=False)
    bd = r.counters["energy_breakdown"]
    t = energy_table(load_arch("smash-piuma"))
    c = r.counters
    assert c["hash_probes"] > 0 and c["atomic_ops"] > 0
    assert bd["smash"]["hash_probe"] == pytest.approx(c["hash_probes"] * t.hash_probe_pj)
    assert bd["smash"]["atomic"] == pytest.approx(c["atomic_ops"] * t.atomic_pj)
    assert bd["smash"]["hash"] == pytest.approx(c["partial_products"] * t.hash_pj)
    assert bd["spad"]["read"] == pytest.approx(r.sram_read_bytes * t.buffers["spad"][0])
    assert _total(bd) == pytest.approx(r.energy_pj)


@pytest.mark.parametrize("dataflow", ["inner", "outer"])
def test_baselines_count_scratchpad_traffic(graph, dataflow):
    r = simulate_spgemm(graph, dataflow=dataflow, check=False)
    bd = r.counters["energy_breakdown"]
    eb = 12  # 4 B index + 8 B value
    assert r.sram_read_bytes > 0 and r.sram_write_bytes > 0
    assert r.sram_read_bytes % eb == 0 and r.sram_write_bytes % eb == 0
    # at least every output entry is staged through the scratchpad
    assert r.sram_write_bytes >= r.counters["nnz_out"] * eb
    assert bd["spad"]["read"] > 0 and bd["spad"]["write"] > 0
    assert "hash_probe" not in bd["smash"] and "atomic" not in bd["smash"]
    assert _total(bd) == pytest.approx(r.energy_pj)


def test_gemm_energy_from_totals_keeps_its_signature():
    from hwsim.gemm import gemm_energy

    arch = load_arch("sat-vcu1525")
    t = energy_table(arch)
    got = gemm_energy(arch, "int16", 1000, 300, 20)
    assert got == pytest.approx(1000 * 0.84 + 300 * t.buffers["act"][0] + 20 * 162.5)


def test_dma_fills_and_drains_the_buffers():
    r = simulate_gemm("sat-vcu1525", 64, 256, 128, sparsity="2:8", check=False)
    bd = r.counters["energy_breakdown"]
    t = energy_table(load_arch("sat-vcu1525"))
    fills = bd["act"]["fill"] / t.buffers["act"][1] + bd["weight"]["fill"] / t.buffers["weight"][1]
    assert fills == pytest.approx(r.dram_read_bytes)  # every byte loaded is written on chip
    assert bd["out"]["drain"] == pytest.approx(r.dram_write_bytes * t.buffers["out"][0])


def test_operand_buffers_map_gemm_operands():
    arch = load_arch("smash-gcn")
    t = energy_table(arch)
    assert t.buffer_for("act") == t.buffer_for("weight") == t.buffer_for("out") == "array"
    with pytest.raises(ConfigError, match=r"energy\.operand_buffers\.act: no buffer 'nosuch'"):
        Architecture.from_dict(_sat_dict(operand_buffers={"act": "nosuch"}), source="<bad>")
    with pytest.raises(ConfigError, match=r"energy\.operand_buffers\.psum: no operand"):
        Architecture.from_dict(_sat_dict(operand_buffers={"psum": "act"}), source="<bad>")


def test_network_spgemm_layer_pays_its_on_chip_energy():
    from hwsim.spgemm.engine import plan_spgemm, spgemm_energy

    sp = plan_spgemm(rmat(7, 4, seed=2), arch="smash-gcn")
    e, bd = spgemm_energy(sp[0], sp[1], sp[6], static=False)
    assert "dram" not in bd and all("static" not in a for a in bd.values())
    assert bd["smash"]["hash_probe"] > 0 and bd["spad"]["read"] > 0
    assert e == pytest.approx(_total(bd))


@pytest.mark.parametrize("training", [False, True])
def test_network_breakdown_sums_and_prices_sparse_overheads(training):
    from hwsim.sparsity import parse_sparsity
    from mapper.graph import GemmOp, OpGraph, VectorOp
    from mapper.simulate import simulate_network

    s = parse_sparsity("2:8")
    g = OpGraph("mlp")
    g.add(GemmOp("fc1", "gemm", inputs=("x",), outputs=("h",), m=32, k=128, n=256, sparsity=s))
    g.add(VectorOp("gelu", "gelu", inputs=("h",), outputs=("a",), elements=32 * 256))
    g.add(GemmOp("fc2", "gemm", inputs=("a",), outputs=("y",), m=32, k=256, n=128, sparsity=s))
    g.connect("fc1", "gelu", "h", 32 * 256)
    g.connect("gelu", "fc2", "a", 32 * 256)
    r = simulate_network(g, "sat-vcu1525", training=training, check=False)
    bd = r.counters["energy_breakdown"]
    assert _total(bd) == pytest.approx(r.energy_pj)
    assert all("other" not in a for a in bd.values())  # every op priced by the table
    assert bd["pe_array"]["select"] > 0 and bd["weight"]["metadata_read"] > 0
    t = energy_table(load_arch("sat-vcu1525"))
    assert _static(bd) == pytest.approx(sum(t.static_mw.values()) * r.cycles / 200.0 * 1e3)


def test_spgemm_dram_energy_is_charged_on_bursts(graph):
    r = simulate_spgemm(graph, dataflow="inner", check=False)
    bd = r.counters["energy_breakdown"]
    pj = load_arch("smash-piuma").energy.dram_pj_per_byte
    assert r.counters["dram_burst_read_bytes"] >= r.dram_read_bytes
    assert bd["dram"]["read"] == pytest.approx(r.counters["dram_burst_read_bytes"] * pj)


def test_arch_show_prints_the_table_in_effect(capsys):
    import json

    from hwsim.cli import main

    assert main(["arch", "show", "sat-vcu1525", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["energy_table"]["static_mw"]["dram"] == pytest.approx(1600.0)
    assert doc["energy_table"]["buffers_pj_per_byte"]["act"]["read"] == pytest.approx(5.0)
    assert main(["arch", "show", "sat-vcu1525"]) == 0
    assert "#   static_mw: {pe_array: 15.16" in capsys.readouterr().out
