"""``load → prune → map → simulate``: the mapper's public flow, each step a plain function.

>>> from mapper.api import load, prune, simulate
>>> g = load("bert-base", seq_len=128)
>>> r = simulate(prune(g, "2:8"), "sat-vcu1525")        # RunResult(kind="network")
>>> r.table  # one row per layer                          # doctest: +SKIP
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError

from .graph import OpGraph

__all__ = ["load", "prune", "simulate", "run_model"]


def load(
    model: Any,
    *,
    batch: int = 1,
    seq_len: int = 128,
    kv_len: int | None = None,
    phase: str = "prefill",
    dims: dict[str, int] | None = None,
    input_shapes: Any = None,
    passthrough: tuple[str, ...] = (),
    graph: Any = None,
    features: int | None = None,
    hidden: int | None = None,
    seed: int = 0,
    example_inputs: Any = None,
) -> OpGraph:
    """An :class:`~mapper.graph.OpGraph` from a zoo name, an ONNX file, a SCALE-Sim topology
    CSV, ``"gcn"`` with a graph (Matrix Market file or scipy matrix), or a PyTorch module.

    Parameters
    ----------
    model : str, path, onnx.ModelProto or torch.nn.Module
        ``bert-base``, ``llama2-7b``... (:data:`mapper.zoo.ZOO_MODELS`), ``FILE.onnx``,
        ``FILE.csv`` (SCALE-Sim topology), ``gcn``, a ``torch.nn.Module`` (traced with
        torch.fx, :func:`mapper.frontends.torchfx.load_torch`; needs ``example_inputs``), or
        an ``OpGraph`` (returned as is).
    batch, seq_len, kv_len, phase
        Zoo model options.
    dims, input_shapes, passthrough
        ONNX options (symbolic dimension bindings, per-input shapes, operators declared free).
    graph, features, hidden
        GCN options: the adjacency, input feature width and hidden width.
    seed : int
        Seed of generated parts (GCN features).
    example_inputs : torch.Tensor or tuple of torch.Tensor, optional
        The forward inputs of a torch module (they fix its shapes); ``passthrough`` applies
        to it too.

    Raises
    ------
    ConfigError
        Unknown model name or missing options.
    InputFileError, UnsupportedOperatorError, ShapeError
        From the front ends.
    """
    if isinstance(model, OpGraph):
        return model
    if _is_torch_module(model):
        if example_inputs is None:
            raise ConfigError("a torch.nn.Module needs example_inputs (the forward's inputs, "
                              "which fix its shapes)", key="example_inputs")
        from .frontends.torchfx import load_torch

        return load_torch(model, example_inputs, passthrough=passthrough)
    if example_inputs is not None:
        raise ConfigError(f"example_inputs applies to a torch.nn.Module, not "
                          f"{type(model).__name__}", key="example_inputs")
    if not isinstance(model, (str, Path)):
        from .frontends.onnx import load_onnx

        return load_onnx(model, dims=dims, input_shapes=input_shapes, passthrough=passthrough)
    text = str(model)
    low = text.lower()
    if low == "gcn":
        if graph is None or features is None or hidden is None:
            raise ConfigError("model 'gcn' needs graph (adjacency), features and hidden")
        from .frontends.gnn import gcn_graph

        return gcn_graph(graph, features=features, hidden=hidden, seed=seed)
    if low.endswith(".onnx"):
        from .frontends.onnx import load_onnx

        return load_onnx(text, dims=dims, input_shapes=input_shapes, passthrough=passthrough)
    if low.endswith(".csv"):
        from .frontends.scalesim import load_topology

        return load_topology(text)
    from .zoo import ZOO_MODELS, zoo_graph

    if text in ZOO_MODELS:
        return zoo_graph(text, batch=batch, seq_len=seq_len, kv_len=kv_len, phase=phase)
    raise ConfigError(
        f"model {text!r} is neither a zoo model ({', '.join(ZOO_MODELS)}) nor a .onnx or "
        ".csv file, nor 'gcn'"
    )


def _is_torch_module(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module``, without importing torch: an instance of one
    means torch is already imported."""
    torch = sys.modules.get("torch")
    nn = getattr(torch, "nn", None)
    return nn is not None and isinstance(obj, nn.Module)


def prune(graph: OpGraph, sparsity: Any = None, *, scope: str = "layer", seed: int = 0) -> OpGraph:
    """Prune ``graph``'s weights (``None``: keep them as they are, sparsity as detected).

    See :func:`mapper.prune.prune_graph`.
    """
    if sparsity is None:
        return graph
    from .prune import prune_graph

    return prune_graph(graph, sparsity, scope=scope, seed=seed)


def simulate(graph: OpGraph, arch: Any, **options: Any):
    """Map and simulate ``graph`` on ``arch`` in one SimPy run (:func:`mapper.simulate.simulate_network`)."""
    from .simulate import simulate_network

    return simulate_network(graph, arch, **options)


def run_model(arch: Any, model: Any, *, sparsity: Any = None, load_options: dict | None = None,
              **options: Any):
    """``load → prune → simulate`` in one call (what ``hwsim run`` and sweeps of kind
    ``network`` use)."""
    opts = dict(load_options or {})
    g = load(model, **opts)
    return simulate(prune(g, sparsity, seed=options.get("seed", 0)), arch, **options)
