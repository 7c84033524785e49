"""GNN front end: GCN layers Â·X·W as SpGEMM + GEMM + ReLU ops; the smash-gcn preset."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from hwsim.arch import load_arch
from hwsim.errors import ConfigError, InputFileError, ShapeError
from mapper.frontends.gnn import gcn_graph, normalized_adjacency
from mapper.graph import GemmOp, SpGemmOp, VectorOp
from mapper.netbuilder import param_count

ROOT = Path(__file__).resolve().parents[1]
# A 5-node path graph plus one weighted chord.
EDGES = [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 4, 1.0), (0, 4, 2.0)]


def _adjacency() -> sp.csr_array:
    r, c, v = zip(*EDGES, strict=True)
    a = sp.coo_array((v, (r, c)), shape=(5, 5))
    return sp.csr_array(a + a.T)


def test_normalized_adjacency_is_kipf_welling():
    a = _adjacency().toarray()
    a_tilde = a + np.eye(5)
    d = np.diag(1 / np.sqrt(a_tilde.sum(axis=1)))
    np.testing.assert_allclose(normalized_adjacency(_adjacency()).toarray(), d @ a_tilde @ d)


def test_one_layer_ops_shapes_and_edges():
    g = gcn_graph(_adjacency(), features=12, hidden=7)
    names = [o.name for o in g.ops()]
    assert names == ["gcn.0.aggregate", "gcn.0.transform", "gcn.0.relu"]
    agg, lin, relu = (g.op(n) for n in names)
    assert isinstance(agg, SpGemmOp) and agg.b is None and agg.n == 12
    np.testing.assert_allclose(agg.a.toarray(), normalized_adjacency(_adjacency()).toarray())
    assert type(lin) is GemmOp and (lin.m, lin.k, lin.n, lin.bias) == (5, 12, 7, True)
    assert isinstance(relu, VectorOp) and relu.elements == 5 * 7
    assert g.g.edges["gcn.0.aggregate", "gcn.0.transform"]["bytes"] == 5 * 12 * 4
    assert agg.inputs == ("x",) and g.inputs["x"] == ((5, 12), "float32")
    assert list(g.outputs) == ["gcn.0.relu"]
    assert g.meta["nodes"] == 5 and g.meta["edges"] == 10 + 5  # symmetric edges + self loops
    assert param_count(g) == 12 * 7 + 7


def test_stacked_layers_and_unnormalized():
    g = gcn_graph(_adjacency(), features=12, hidden=7, layers=3, normalize=False)
    assert len(g) == 9
    second = g.op("gcn.1.aggregate")
    assert second.n == 7 and g.predecessors("gcn.1.aggregate") == ["gcn.0.relu"]
    np.testing.assert_array_equal(second.a.toarray(), _adjacency().toarray())
    assert g.op("gcn.2.transform").k == 7


def test_matrix_market_and_networkx_inputs(tmp_path):
    path = tmp_path / "ring.mtx"
    scipy.io.mmwrite(str(path), sp.coo_matrix(_adjacency()))
    from_file = gcn_graph(path, features=4, hidden=2)
    assert from_file.meta["source"] == str(path)
    graph = nx.Graph()
    graph.add_weighted_edges_from(EDGES)
    from_nx = gcn_graph(graph, features=4, hidden=2)
    for g in (from_file, from_nx):
        np.testing.assert_allclose(g.op("gcn.0.aggregate").a.toarray(),
                                   normalized_adjacency(_adjacency()).toarray())


def test_shared_matrix_files():
    data = ROOT.parent / "shared" / "data" / "mtx"
    if not data.exists():
        pytest.skip("shared data not present")
    g = gcn_graph(data / "p2p-Gnutella31.mtx", features=16, hidden=16)
    a = scipy.io.mmread(str(data / "p2p-Gnutella31.mtx")).tocsr()
    agg = g.op("gcn.0.aggregate")
    assert agg.a.shape == (62586, 62586) and g.op("gcn.0.transform").m == 62586
    assert agg.a.nnz == (a + sp.eye(62586)).nnz  # self loops added once per node
    # A stiffness matrix is no graph: negative entries make the degrees non-positive.
    with pytest.raises(ShapeError, match="row .* sums to"):
        gcn_graph(data / "bcsstk13.mtx", features=4, hidden=4)
    assert gcn_graph(data / "bcsstk13.mtx", features=4, hidden=4, normalize=False).meta[
        "nodes"] == 2003


@pytest.mark.parametrize(
    "kwargs,error,needle",
    [
        ({"features": 0, "hidden": 4}, ConfigError, "features"),
        ({"features": 4, "hidden": 2.0}, ConfigError, "hidden"),
        ({"features": 4, "hidden": 4, "layers": 0}, ConfigError, "layers"),
    ],
)
def test_bad_widths(kwargs, error, needle):
    with pytest.raises(error, match=needle):
        gcn_graph(_adjacency(), **kwargs)


def test_bad_adjacency(tmp_path):
    with pytest.raises(ShapeError, match="square"):
        gcn_graph(sp.csr_array(np.ones((3, 4))), features=2, hidden=2)
    with pytest.raises(InputFileError, match="missing.mtx"):
        gcn_graph(tmp_path / "missing.mtx", features=2, hidden=2)
    bad = tmp_path / "bad.mtx"
    bad.write_text("not a matrix\n")
    with pytest.raises(InputFileError, match="bad.mtx"):
        gcn_graph(bad, features=2, hidden=2)
    negative = sp.csr_array(np.array([[0.0, -3.0], [-3.0, 0.0]]))
    with pytest.raises(ShapeError, match="normalize=False"):
        gcn_graph(negative, features=2, hidden=2)
    assert len(gcn_graph(negative, features=2, hidden=2, normalize=False)) == 3


def test_smash_gcn_preset_keeps_smash_and_adds_a_gemm_engine():
    gcn, piuma = load_arch("smash-gcn"), load_arch("smash-piuma")
    assert gcn.engine("smash") == piuma.engine("smash") and gcn.dram == piuma.dram
    assert gcn.engine("systolic").kind == "systolic" and "systolic" in gcn.provenance
    assert load_arch(ROOT / "hwsim" / "presets" / "smash-gcn.yaml") == gcn


def test_gcn_runs_on_smash_gcn_in_one_checked_run():
    from hwsim.spgemm.inputs import rmat
    from mapper.api import simulate

    g = gcn_graph(rmat(6, 4, seed=0), features=8, hidden=4, layers=2)
    result = simulate(g, load_arch("smash-gcn"))
    engines = dict(zip(result.table["name"], result.table["engine"], strict=True))
    assert engines == {"gcn.0.aggregate": "smash", "gcn.0.transform": "systolic",
                       "gcn.0.relu": "vector", "gcn.1.aggregate": "smash",
                       "gcn.1.transform": "systolic", "gcn.1.relu": "vector"}
    assert result.to_dict()["check"] == "passed"
    assert (result.table["cycles"] > 0).all()
