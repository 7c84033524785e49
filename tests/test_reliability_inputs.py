"""Reliability (issue 10 §1, §4; issue 8 §7): every bad input is refused with a typed one-line
error, in bounded time and memory, before anything is built."""

from __future__ import annotations

import resource
import time

import pytest

from hwsim import sweep_spec as sw_spec
from hwsim._spec import _short
from hwsim.arch import Architecture, load_arch
from hwsim.cli import main
from hwsim.errors import ConfigError, InputFileError, ShapeError
from hwsim.spgemm import inputs as sp_inputs
from hwsim.sweep import load_spec

BASE = "base: {arch: sat-vcu1525, m: 8, k: 16, n: 8}\n"


def _bomb(levels: int = 9, width: int = 9) -> list[str]:
    """A "billion laughs" chain: level i is a list of ``width`` aliases of level i-1."""
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return lines


def _one_line_error(capsys, argv, code=1) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def bounded():
    """Run the body under a 3 GB address-space cap (a memory bomb fails, not the machine) and
    check it took under 10 s."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, hard))
    t0 = time.monotonic()
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert time.monotonic() - t0 < 10


# -- YAML alias bombs, bounded reprs ----------------------------------------------------------------
def test_alias_bomb_in_arch_is_refused_before_construction(tmp_path, bounded, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join([*_bomb(), "name: *l9"]) + "\n")
    with pytest.raises(ConfigError, match=r"expands to more than 1,000,000 nodes"):
        Architecture.from_yaml(path)
    err = _one_line_error(capsys, ["arch", "validate", str(path)])
    assert "bomb.yaml" in err


def test_alias_bomb_in_sweep_spec_is_refused(tmp_path, bounded):
    path = tmp_path / "bomb.yaml"
    path.write_text("kind: gemm\n" + BASE + "description:\n"
                    + "".join(f"  {x}\n" for x in _bomb()))
    with pytest.raises(ConfigError, match="expands to more than"):
        load_spec(path)


def test_moderate_aliases_under_the_budget_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("kind: gemm\nbase: &b {arch: sat-vcu1525, m: 8, k: 16, n: 8}\n"
                    "points: [{m: 8}, {m: 16}]\n")
    assert load_spec(path).base["arch"] == "sat-vcu1525"


def test_recursive_alias_is_a_config_error(tmp_path):
    path = tmp_path / "rec.yaml"
    path.write_text("kind: gemm\ndescription: &a [1, *a]\n")
    with pytest.raises(ConfigError, match="recursive YAML alias"):
        load_spec(path)


def test_short_repr_is_bounded_on_huge_nested_values():
    value = ["x" * 10]
    for _ in range(12):  # 10**12 leaves if expanded: repr() of it would never end
        value = [value] * 10
    t0 = time.monotonic()
    text = _short(value)
    assert time.monotonic() - t0 < 1 and len(text) <= 60
    assert _short("y" * 1000).endswith("...") and len(_short("y" * 1000)) == 60


def test_sweep_spec_errors_quote_bounded_values():
    with pytest.raises(ConfigError) as exc:
        sw_spec.SweepSpec.from_dict({"kind": "gemm", "seed": ["z" * 10_000] * 1000})
    assert len(str(exc.value)) < 300


# -- input files: size limit, non-regular files, encodings ---------------------------------------
@pytest.mark.parametrize("argv", [
    ["arch", "validate", "/dev/zero"],
    ["sweep", "/dev/zero"],
    ["gemm", "--arch", "/dev/urandom", "--m", "8", "--k", "8", "--n", "8"],
    ["spgemm", "--matrix", "/dev/zero"],
])
def test_device_files_are_refused_without_reading(argv, capsys, bounded):
    err = _one_line_error(capsys, argv)
    assert "not a regular file" in err


def test_oversized_yaml_is_refused_naming_the_size(tmp_path, monkeypatch):
    from hwsim import _yaml

    monkeypatch.setattr(_yaml, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text("kind: gemm\n" + BASE + "description: '" + "x" * 2000 + "'\n")
    with pytest.raises(InputFileError, match=r"big\.yaml: sweep spec is 2,\d{3} bytes; the limit "
                                             r"is 1,000 bytes"):
        load_spec(path)
    with pytest.raises(InputFileError, match="architecture file is"):
        Architecture.from_yaml(path)


def test_non_utf8_sweep_spec_names_the_file(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: gemm\ndescription: caf\xe9\n")
    with pytest.raises(InputFileError, match=r"latin1\.yaml: not a UTF-8 text"):
        load_spec(path)
    assert "latin1.yaml" in _one_line_error(capsys, ["sweep", str(path)])


# -- duplicate keys --------------------------------------------------------------------------------
def test_duplicate_keys_name_the_key_and_both_lines(tmp_path, capsys):
    spec = tmp_path / "dup.yaml"
    spec.write_text("kind: gemm\nname: a\n" + BASE + "name: b\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'name' on lines 2 and 4"):
        load_spec(spec)
    arch_text = load_arch("sat-vcu1525").to_yaml()
    arch = tmp_path / "arch.yaml"
    arch.write_text(arch_text.replace("    rows: 32\n", "    rows: 32\n    rows: 64\n", 1))
    err = _one_line_error(capsys, ["arch", "validate", str(arch)])
    assert "duplicate key 'rows' on lines" in err


# -- sweep grids -----------------------------------------------------------------------------------
def test_huge_grid_is_counted_not_expanded(tmp_path, bounded, capsys):
    axes = {name: list(range(1, 101)) for name in ("m", "k", "n", "batch")}  # 10**8 points
    spec = sw_spec.SweepSpec.from_dict({"kind": "gemm", "base": {"arch": "sat-vcu1525"},
                                        "axes": axes})
    assert spec.count_points() == 100_000_000
    with pytest.raises(ConfigError, match=r"100,000,000 points .* the limit is 10,000"):
        spec.expand()
    with pytest.raises(ConfigError, match="the limit is 5"):
        sw_spec.SweepSpec.from_dict({"kind": "gemm", "base": {"arch": "sat-vcu1525", "m": 8,
                                     "k": 8}, "axes": {"n": [8, 16, 24, 32, 40, 48]}}).expand(5)
    path = tmp_path / "grid.yaml"
    path.write_text("kind: gemm\nbase: {arch: sat-vcu1525, m: 8, k: 8}\naxes:\n  n: [8, 16, 24]\n")
    err = _one_line_error(capsys, ["sweep", str(path), "--max-points", "2", "--executor",
                                   "serial", "--store", str(tmp_path / "g.sqlite")])
    assert "3 points" in err and not (tmp_path / "g.sqlite").exists()


def test_every_bad_key_of_a_sweep_spec_is_reported(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: gemm\nfoo: 1\nbase: {arch: sat-vcu1525, m: 8, k: 8, n: 8, bar: 2, "
                    "batch: 0}\naxes: {sparsity: []}\n")
    with pytest.raises(ConfigError) as exc:
        load_spec(path)
    msg = str(exc.value)
    assert "4 problems" in msg
    for key in ("foo: unknown key", "base.bar: unknown run argument", "base.batch: expected",
                "axes.sparsity: expected a non-empty list"):
        assert key in msg
    _one_line_error(capsys, ["sweep", str(path), "--store", str(tmp_path / "bad.sqlite")])
    assert not (tmp_path / "bad.sqlite").exists()  # a rejected spec leaves nothing behind


def test_spec_rejected_at_expansion_leaves_no_store(tmp_path, capsys):
    path = tmp_path / "x.yaml"
    path.write_text("kind: gemm\nbase: {arch: sat-vcu1525, m: 8, k: 8, n: 8, array: 9999x2}\n")
    store = tmp_path / "x.sqlite"
    _one_line_error(capsys, ["sweep", str(path), "--executor", "serial", "--store", str(store)])
    assert list(tmp_path.iterdir()) == [path]  # no store file, empty or not


# -- SpGEMM inputs: memory follows entries, not declared sizes -----------------------------------
def test_mtx_header_declaring_a_huge_matrix_is_refused(tmp_path, bounded):
    path = tmp_path / "huge.mtx"
    path.write_text("%%MatrixMarket matrix coordinate real general\n"
                    "1000000000 1000000000 3\n1 1 1.0\n2 2 2.0\n3 3 3.0\n")
    with pytest.raises(InputFileError, match=r"declares a 1,000,000,000 x 1,000,000,000 matrix "
                                             r"with 3 entries; the limits are"):
        sp_inputs.read_mtx(path)


def test_rmat_beyond_the_machine_is_refused_up_front(bounded, capsys):
    with pytest.raises(ValueError, match=r"268,435,456 edges; the limit is 8,388,608"):
        sp_inputs.rmat(25, 8, seed=0)
    err = _one_line_error(capsys, ["spgemm", "--rmat", "25,8"])
    assert "edges; the limit is" in err


def test_partial_product_budget_is_checked_before_simulating(monkeypatch):
    a = sp_inputs.rmat(8, 4, seed=1)
    pp = sp_inputs.partial_products(a, a)
    pattern = (a != 0).astype(int)
    assert pp == int((pattern @ pattern).sum())  # one multiplication per (i, k, j) pair
    monkeypatch.setattr(sp_inputs, "MAX_PARTIAL_PRODUCTS", pp - 1)
    with pytest.raises(ShapeError, match=f"{pp:,} partial products; the simulator's limit"):
        sp_inputs.operands(a)
    monkeypatch.setattr(sp_inputs, "MAX_PARTIAL_PRODUCTS", pp)
    assert sp_inputs.operands(a)[0].shape == a.shape


# -- arguments -------------------------------------------------------------------------------------
def test_rtl_non_integer_lanes_is_a_usage_error_like_gemm(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["rtl", "info", "--lanes", "4.0"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["gemm", "--arch", "sat-vcu1525", "--m", "4.0", "--k", "8", "--n", "8"])
    assert exc.value.code == 2
    assert "expected an integer, not '4.0'" in capsys.readouterr().err


def test_selector_m_must_be_a_power_of_two_with_a_key_path(tmp_path, capsys):
    text = load_arch("sat-vcu1525").to_yaml()
    path = tmp_path / "m7.yaml"
    path.write_text(text.replace("    m: 8\n", "    m: 7\n", 1))
    err = _one_line_error(capsys, ["arch", "validate", str(path)])
    assert "engines.pe_array.m: m must be a power of two" in err
