"""Issue 8 §7: resources follow the array and a design larger than its device is flagged; an
unsupported precision is an error; derived fields are checked; versioned demo JSON."""

import copy

import pytest

from hwsim.arch import Architecture, load_arch
from hwsim.cli import main
from hwsim.errors import ConfigError
from hwsim.gemm import simulate_gemm


@pytest.mark.parametrize("preset,engine,basis", [
    ("dense-systolic", "systolic", "estimate"), ("sat-vcu1525", "pe_array", "rtl_core")])
def test_resources_follow_the_array(preset, engine, basis):
    """dsp scales with the multipliers (one DSP48 per multiplier in both: estimate or RTL-core
    basis), so the per-DSP figure is the design's, not 32x32's DSPs under a 64x64 run."""
    a = load_arch(preset).with_engine_overrides(engine, rows=64, cols=64)
    r = simulate_gemm(a, 64, 256, 256, check=False)
    mult = a.engine(engine).multipliers
    assert r.counters["dsp"] == mult and r.counters["resources_basis"] == basis
    assert r.counters["macs_per_cycle_per_dsp"] <= 1.0
    small = simulate_gemm(preset, 64, 256, 256, check=False)
    assert r.counters["dsp"] == 4 * small.counters["dsp"]


def test_design_larger_than_device_is_flagged(capsys):
    big = load_arch("sat-vcu1525").with_engine_overrides("pe_array", rows=64, cols=64)
    res = big.resources_summary()
    assert res["dsp"] == 8192 and res["device_dsp"] == 6840
    assert res["fits_device"] is False
    assert res["device_warnings"] == [
        "design 'sat-vcu1525' needs 8192 DSP slices but device 'xcvu9p (VCU1525)' has 6840 "
        "(resources.device_dsp)"
    ]
    assert load_arch("sat-vcu1525").resources_summary()["fits_device"] is True
    assert load_arch("smash-piuma").resources_summary()["fits_device"] is None  # no device
    argv = ["gemm", "--arch", "sat-vcu1525", "--m", "16", "--k", "64", "--n", "64",
            "--array", "64x64", "--no-check"]
    assert main(argv) == 0  # still simulated, but said
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hwsim: warning: design 'sat-vcu1525' needs 8192 DSP slices but device "
                   "'xcvu9p (VCU1525)' has 6840 (resources.device_dsp)"]
    assert main(argv[:-3] + ["--array", "32x32", "--no-check", "--json"]) == 0
    out = capsys.readouterr()
    assert out.err == "" and '"fits_device": true' in out.out


def test_buffers_larger_than_device_memory_are_flagged(tmp_path, capsys):
    d = load_arch("sat-vcu1525").to_dict()
    d["buffers"]["act"]["capacity_bytes"] = 64 * 2**20  # 64 + 4 + 2 MiB = 71680 KiB > 9720 + 34560
    path = tmp_path / "big.yaml"
    path.write_text(Architecture.from_dict(d).to_yaml())
    assert main(["arch", "validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "hwsim: warning: design 'sat-vcu1525' needs 71680 KiB of buffers but device" in err
    assert "44280 KiB of BRAM + URAM" in err


@pytest.mark.parametrize("precision", ["fp16", "bf16", "int16"])
def test_precision_outside_the_datapath_is_an_error(precision, capsys):
    with pytest.raises(ConfigError, match=(
            r"engine 'pe_array': its integer datapath is 8-bit x 8-bit "
            r"\(engines\.pe_array\.act_width/weight_width\), so it supports precision int8, "
            rf"not '{precision}'")):
        simulate_gemm("sat-vcu1525", 8, 64, 32, precision=precision, check=False)
    assert main(["gemm", "--arch", "sat-vcu1525", "--m", "8", "--k", "64", "--n", "32",
                 "--precision", precision]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "supports precision int8" in err[0]


def test_wider_datapath_runs_int16_at_its_cost():
    d = load_arch("sat-vcu1525").to_dict()
    d["engines"]["pe_array"].update(act_width=16, weight_width=16)
    d["resources"].pop("rtl_core")  # synthesised for 8-bit: not this datapath
    a = Architecture.from_dict(d)
    assert a.engine("pe_array").precisions == ("int8", "int16")
    r = simulate_gemm(a, 8, 64, 32, precision="int16")
    assert r.check == "passed"


@pytest.fixture
def sat_dict():
    return copy.deepcopy(load_arch("sat-vcu1525").to_dict())


def test_editing_m_leaves_no_stale_derived_field(sat_dict):
    d = copy.deepcopy(sat_dict)
    d["engines"]["pe_array"]["m"] = 16
    with pytest.raises(ConfigError, match=r"widths\.index: widths\.index is 3 but "
                                          r"engines\.pe_array\.m = 16 needs 4-bit indices"):
        Architecture.from_dict(d)
    d["widths"]["index"] = 4
    with pytest.raises(ConfigError, match=r"resources\.rtl_core\.m: the RTL core was synthesised "
                                          r"for m=8 but engines\.pe_array\.m is 16"):
        Architecture.from_dict(d)
    d["resources"]["rtl_core"]["m"] = 16
    assert Architecture.from_dict(d).engine("pe_array").m == 16
    d = copy.deepcopy(sat_dict)
    d["engines"]["pe_array"]["act_width"] = 6
    with pytest.raises(ConfigError, match=r"resources\.rtl_core\.act_width"):
        Architecture.from_dict(d)


def test_arch_validate_reports_the_stale_field(tmp_path, capsys):
    text = load_arch("sat-vcu1525").to_yaml().replace("  m: 8\n", "  m: 4\n", 1)
    path = tmp_path / "sat_m4.yaml"
    path.write_text(text)
    assert main(["arch", "validate", str(path)]) != 0
    err = capsys.readouterr().err
    assert "widths.index is 3 but engines.pe_array.m = 4 needs 2-bit indices" in err
