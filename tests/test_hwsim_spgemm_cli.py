"""``hwsim spgemm``: JSON keys, the three dataflows, one-line typed errors with exit 1."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from hwsim.cli import main

KEYS = (
    "cycles compute_cycles stall_cycles seconds partial_products nnz_out dense_macs utilization "
    "dram_read_bytes dram_write_bytes energy_pj hash_probes hash_collisions bank_conflicts "
    "atomic_ops events check"
).split()


@pytest.mark.parametrize("dataflow", ["rowwise-hash", "inner", "outer"])
def test_rmat_json(capsys, dataflow):
    code = main(["spgemm", "--arch", "smash-piuma", "--rmat", "7,4", "--dataflow", dataflow,
                 "--workers", "4", "--seed", "3", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for k in KEYS:
        assert k in out, k
    assert out["schema_version"] == 1 and out["kind"] == "spgemm"
    assert out["check"] == "passed" and out["params"]["workers"] == 4
    assert out["params"]["input"] == "rmat:7,4" and out["seed"] == 3
    assert out["dense_macs"] == 128**3


def test_matrix_files_and_no_check(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.mtx", tmp_path / "b.mtx"
    scipy.io.mmwrite(a, sp.random_array((20, 30), density=0.2, rng=rng, format="coo"))
    scipy.io.mmwrite(b, sp.random_array((30, 10), density=0.2, rng=rng, format="coo"))
    assert main(["spgemm", "--matrix", str(a), "--matrix-b", str(b), "--no-check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["check"] == "skipped" and out["params"]["shape_b"] == [30, 10]


def test_shared_matrix(shared_data, capsys):
    path = shared_data / "mtx" / "luxembourg_osm.mtx"
    assert main(["spgemm", "--matrix", str(path), "--dataflow", "outer", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["partial_products"], out["nnz_out"]) == (519206, 393261)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--matrix", "{tmp}/missing.mtx"], "InputFileError: .*missing.mtx: no such Matrix Market file"),
        (["--matrix", "{tmp}/rect.mtx"], "ShapeError: .*rect.mtx: A·A needs a square matrix"),
        (["--rmat", "5,4", "--arch", "nope"], "ConfigError: .*unknown architecture preset 'nope'"),
        (["--rmat", "5,4", "--workers", "0"], "ValueError: --workers must be a positive integer"),
        (["--matrix", "{tmp}/rect.mtx", "--matrix-b", "{tmp}/rect.mtx"],
         r"ShapeError: incompatible shapes for A·B: .*rect.mtx is 2x3, .*rect.mtx is 2x3"),
        (["--matrix", "{tmp}/text.mtx"],
         r"InputFileError: .*text.mtx: malformed Matrix Market file: .*Invalid floating-point"),
        (["--matrix", "{tmp}/noise.mtx"], "InputFileError: .*noise.mtx: not a Matrix Market file"),
        (["--matrix", "{tmp}"], "InputFileError: .*: is a directory, not a Matrix Market file"),
        (["--matrix", "{tmp}/cplx.mtx"], "InputFileError: .*cplx.mtx: complex values"),
        (["--rmat", "5,4", "--arch", "smash-piuma", "--workers", "2", "--dataflow", "inner",
          "--matrix-b", "{tmp}/rect.mtx"], "ShapeError: incompatible shapes"),
        # used to be ignored silently: the kernel versions are the row-wise kernel's
        (["--rmat", "5,4", "--kernel", "v2", "--dataflow", "inner"],
         "ConfigError: --kernel applies to --dataflow rowwise-hash only, not 'inner'"),
        # used to be numpy's bare "expected non-negative integer"
        (["--rmat", "5,4", "--seed=-1"], "ValueError: seed must be a non-negative integer, not -1"),
    ],
)
def test_errors_one_line_exit_1(tmp_path, capsys, args, match):
    scipy.io.mmwrite(tmp_path / "rect.mtx", sp.csr_array(np.ones((2, 3))))
    (tmp_path / "text.mtx").write_text(
        "%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 abc\n"
    )
    (tmp_path / "noise.mtx").write_bytes(bytes(range(256)))
    (tmp_path / "cplx.mtx").write_text(
        "%%MatrixMarket matrix coordinate complex general\n2 2 1\n1 1 1.0 2.0\n"
    )
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["spgemm", *args, "--json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hwsim: error: ")
    import re

    assert re.search(match, err), err


def test_bad_rmat_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["spgemm", "--rmat", "five"])
    assert info.value.code == 2
    assert "SCALE,EDGEFACTOR" in capsys.readouterr().err


def test_kernel_option(capsys):
    assert main(["spgemm", "--rmat", "6,4", "--kernel", "v3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["kernel"] == "v3" and out["fragment_allocs"] > 0
    assert out["atomic_ops"] == out["partial_products"] + out["fragment_allocs"]


def test_text_output_without_json(capsys):
    assert main(["spgemm", "--rmat", "6,4", "--dataflow", "outer"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = dict(line.split(None, 1) for line in lines)
    assert table["check"] == "passed" and int(table["hash_probes"]) == 0
    assert int(table["cycles"]) == int(table["compute_cycles"]) + int(table["stall_cycles"])
