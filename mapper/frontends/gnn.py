"""GNN front end: graph convolution layers ``H' = ReLU(Â · H · W)`` over a given graph.

The adjacency comes from a Matrix Market file, a SciPy sparse matrix, a networkx graph or a
dense array (read by :func:`hwsim.spgemm.inputs.as_csr`, which raises the typed errors). With
``normalize`` it becomes Kipf & Welling's (ICLR 2017) ``Â = D^-1/2 (A + I) D^-1/2``, ``D`` the
row sums of ``A + I``; otherwise it is used as given.

Each layer ``l`` is three ops, in the order the brief's ``Â·X·W`` is written:

* ``gcn.<l>.aggregate`` — :class:`~mapper.graph.SpGemmOp` ``Â · H`` (``H`` dense, ``n`` =
  its width: ``features`` for the first layer, ``hidden`` after) for the SpGEMM engine;
* ``gcn.<l>.transform`` — :class:`~mapper.graph.GemmOp` ``(ÂH) · W`` (``N × width`` by
  ``width × hidden``, with a bias as PyG's ``GCNConv``) for a GEMM engine;
* ``gcn.<l>.relu`` — :class:`~mapper.graph.VectorOp` ReLU.

``(ÂH)W = Â(HW)``: the other order would make the sparse product ``hidden`` wide instead of
``width``; it is not modelled here.
"""

from __future__ import annotations

import os
from typing import Any

from hwsim.errors import ConfigError, ShapeError

from ..graph import OpGraph, SpGemmOp
from ..netbuilder import NetBuilder

__all__ = ["gcn_graph", "normalized_adjacency"]


def normalized_adjacency(a: Any):
    """``D^-1/2 (A + I) D^-1/2`` of a square sparse matrix (CSR, float64).

    Raises
    ------
    ShapeError
        ``a`` is not square, or a row of ``A + I`` sums to zero or less (no real ``D^-1/2``).
    """
    import numpy as np
    import scipy.sparse as sp

    n = a.shape[0]
    if a.shape[0] != a.shape[1]:
        raise ShapeError(f"adjacency must be square, got shape {a.shape[0]}x{a.shape[1]}")
    a_hat = sp.csr_array(a + sp.eye_array(n, format="csr"))
    deg = np.asarray(a_hat.sum(axis=1)).ravel()
    if np.any(deg <= 0):
        bad = int(np.flatnonzero(deg <= 0)[0])
        raise ShapeError(f"adjacency: row {bad} of A + I sums to {deg[bad]:g}; the symmetric "
                         "normalisation needs positive degrees (pass normalize=False)")
    d = sp.dia_array((1.0 / np.sqrt(deg), 0), shape=(n, n))
    out = sp.csr_array(d @ a_hat @ d)
    out.sort_indices()
    return out


def _positive(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be an integer >= 1, got {value!r}", key=key)
    return int(value)


def gcn_graph(
    adjacency: Any,
    *,
    features: int,
    hidden: int,
    layers: int = 1,
    normalize: bool = True,
    seed: int = 0,
) -> OpGraph:
    """An :class:`OpGraph` of ``layers`` GCN layers over ``adjacency``.

    Parameters
    ----------
    adjacency : path, scipy.sparse matrix, networkx.Graph or numpy.ndarray
        The graph's ``N × N`` adjacency ``A`` (a ``.mtx`` path is read as Matrix Market).
    features : int
        Width of the input node features ``X`` (``N × features``, dense).
    hidden : int
        Output width of every layer.
    layers : int
        Stacked GCN layers.
    normalize : bool
        Use ``Â = D^-1/2 (A + I) D^-1/2`` (default) instead of ``A``.
    seed : int
        Recorded in ``meta["seed"]``: the seed of the synthetic dense features a functional
        check draws (the graph holds no random values itself).

    Returns
    -------
    OpGraph
        ``meta``: ``front_end="gnn"``, ``model="gcn"``, ``nodes``, ``edges`` (nonzeros of
        ``Â``), ``features``, ``hidden``, ``layers``, ``normalize``, ``seed``, ``source``,
        ``tensors`` and ``extra_params`` (biases).

    Raises
    ------
    ConfigError
        ``features``, ``hidden`` or ``layers`` not a positive integer.
    InputFileError
        Unreadable or malformed Matrix Market file, non-numeric values.
    ShapeError
        Non-square adjacency; non-positive degree when normalising.
    """
    from hwsim.spgemm.inputs import as_csr

    features = _positive(features, "features")
    hidden = _positive(hidden, "hidden")
    layers = _positive(layers, "layers")
    source = str(adjacency) if isinstance(adjacency, (str, os.PathLike)) else "<matrix>"
    a = as_csr(adjacency, name="adjacency")
    if a.shape[0] != a.shape[1]:
        raise ShapeError(f"{source}: adjacency must be square, got {a.shape[0]}x{a.shape[1]}")
    a_hat = normalized_adjacency(a) if normalize else a
    nodes = int(a.shape[0])
    nb = NetBuilder("gcn", "float32")
    h = nb.input("x", (nodes, features))
    for layer in range(layers):
        p = f"gcn.{layer}"
        width = nb.shapes[h][1]
        op = SpGemmOp(name=f"{p}.aggregate", op_type="spmm", inputs=(h,),
                      outputs=(f"{p}.aggregate",), dtype="float32", a=a_hat, b=None, n=width)
        h = nb.add_op(op, (nodes, width))
        h = nb.linear(f"{p}.transform", h, hidden, bias=True)
        h = nb.vector(f"{p}.relu", "relu", [h])
    nb.output(h)
    return nb.done(
        front_end="gnn", model="gcn", nodes=nodes, edges=int(a_hat.nnz), features=features,
        hidden=hidden, layers=layers, normalize=bool(normalize), seed=seed, source=source,
    )
