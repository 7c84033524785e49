"""SpGEMM operands: Matrix Market, SciPy, networkx, R-MAT, and their typed errors."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from hwsim.errors import InputFileError, ShapeError
from hwsim.spgemm.inputs import as_csr, operands, read_mtx, rmat


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_mtx_round_trip(tmp_path):
    m = sp.random_array((7, 7), density=0.3, rng=np.random.default_rng(1), format="csr")
    p = tmp_path / "m.mtx"
    scipy.io.mmwrite(p, m)
    got = read_mtx(p)
    assert got.dtype == np.float64 and got.has_sorted_indices
    np.testing.assert_allclose(got.toarray(), m.toarray())


def test_symmetric_file_is_mirrored(tmp_path):
    p = _write(tmp_path, "s.mtx", "%%MatrixMarket matrix coordinate real symmetric\n3 3 3\n1 1 1\n2 1 2\n3 2 4\n")
    got = read_mtx(p).toarray()
    assert got.tolist() == [[1, 2, 0], [2, 0, 4], [0, 4, 0]]


def test_pattern_file_gets_ones_and_explicit_zeros_are_kept(tmp_path):
    pat = _write(tmp_path, "p.mtx", "%%MatrixMarket matrix coordinate pattern general\n2 2 2\n1 1\n2 1\n")
    assert read_mtx(pat).toarray().tolist() == [[1, 0], [1, 0]]
    z = _write(tmp_path, "z.mtx", "%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 0\n2 2 5\n")
    m = read_mtx(z)
    assert m.nnz == 2 and m.data.tolist() == [0.0, 5.0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("%%MatrixMarket matrix coordinate complex general\n2 2 1\n1 1 1.0 2.0\n", "complex"),
        ("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 abc\n", "malformed Matrix Market"),
        ("hello world\n", "not a Matrix Market file"),
        ("%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n", "dense 'array'"),
    ],
)
def test_bad_files_raise_input_file_error_naming_the_file(tmp_path, text, match):
    p = _write(tmp_path, "bad.mtx", text)
    with pytest.raises(InputFileError, match=match) as info:
        read_mtx(p)
    assert "bad.mtx" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="no such Matrix Market file"):
        as_csr(tmp_path / "nope.mtx")


def test_non_square_a_times_a_and_incompatible_shapes(tmp_path):
    p = tmp_path / "rect.mtx"
    scipy.io.mmwrite(p, sp.csr_array(np.ones((2, 3))))
    with pytest.raises(ShapeError, match=r"rect\.mtx: A·A needs a square matrix, got shape 2x3"):
        operands(p)
    with pytest.raises(ShapeError, match="cols\\(A\\) must equal rows\\(B\\)"):
        operands(sp.csr_array(np.ones((2, 3))), sp.csr_array(np.ones((2, 3))))


def test_in_memory_errors():
    with pytest.raises(InputFileError, match="complex"):
        as_csr(sp.csr_array(np.array([[1 + 2j]])))
    with pytest.raises(InputFileError, match="non-numeric"):
        as_csr(np.array([["a"]]))
    with pytest.raises(ShapeError, match="2-D"):
        as_csr(np.ones(3))
    with pytest.raises(InputFileError, match="finite"):
        as_csr(sp.csr_array(np.array([[np.nan]])))
    with pytest.raises(TypeError, match="scipy.sparse matrix"):
        as_csr([[1, 2]])


def test_networkx_graph_adjacency():
    g = nx.DiGraph()
    g.add_edge(0, 1, weight=2.0)
    g.add_edge(1, 2)
    assert as_csr(g).toarray().tolist() == [[0, 2, 0], [0, 0, 1], [0, 0, 0]]


def test_rmat_is_seeded_and_power_law():
    a = rmat(10, 8, seed=7)
    b = rmat(10, 8, seed=7)
    assert a.shape == (1024, 1024)
    assert (a != b).nnz == 0
    assert (a != rmat(10, 8, seed=8)).nnz > 0
    deg = np.sort(np.diff(a.indptr))[::-1]
    assert deg[0] > 20 * np.median(deg)  # heavy head: a few hubs
    assert 0.5 * 8 * 1024 < a.nnz <= 8 * 1024


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scale": 30, "edge_factor": 8}, "scale must be"),
        ({"scale": 4, "edge_factor": 0}, "edge_factor must be"),
        ({"scale": 4, "edge_factor": 2, "a": 0.9, "b": 0.2}, "probabilities"),
        ({"scale": 4, "edge_factor": 2, "weights": "gauss"}, "weights must be"),
    ],
)
def test_rmat_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rmat(seed=0, **kwargs)


@pytest.mark.parametrize(
    ("seed", "exc", "match"),
    [
        (None, TypeError, r"seed must be a non-negative integer, not None"),  # unseeded
        (-1, ValueError, r"seed must be a non-negative integer, not -1"),
        (1.5, TypeError, r"seed must be a non-negative integer, not 1.5"),
    ],
)
def test_rmat_needs_a_non_negative_integer_seed(seed, exc, match):
    with pytest.raises(exc, match=match):
        rmat(4, 2, seed=seed)
