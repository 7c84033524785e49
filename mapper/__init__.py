"""From pruned networks and sparse matrices to engine work (front ends, pruning, op graph, tiling).

The flow ``load → prune → map → simulate`` is :mod:`mapper.api` (``load``, ``prune``,
``simulate``); the package exports ``load``, ``prune_graph``, ``map_graph`` and
``simulate_network`` (``mapper.prune`` and ``mapper.simulate`` are modules).

Heavy dependencies (onnx, torch) are imported only inside the functions that need them, so
``import mapper`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "load",
    "map_graph",
    "simulate_network",
    "zoo_graph",
    "ZOO_MODELS",
    "OpGraph",
    "load_onnx",
    "load_torch",
    "detect_sparsity",
    "prune_graph",
    "sparsity_report",
    "bdwp_pair",
    "write_pruned_onnx",
    "pruned_onnx_model",
    "check_network",
]

_LAZY = {
    "load": "mapper.api",
    "map_graph": "mapper.simulate",
    "simulate_network": "mapper.simulate",
    "zoo_graph": "mapper.zoo",
    "ZOO_MODELS": "mapper.zoo",
    "OpGraph": "mapper.graph",
    "load_onnx": "mapper.frontends.onnx",
    "load_torch": "mapper.frontends.torchfx",
    "detect_sparsity": "mapper.prune",
    "prune_graph": "mapper.prune",
    "sparsity_report": "mapper.prune",
    "bdwp_pair": "mapper.prune",
    "write_pruned_onnx": "mapper.prune",
    "pruned_onnx_model": "mapper.prune",
    "check_network": "mapper.check",
}


def __getattr__(name: str) -> Any:
    """Import public functions on first use (PEP 562), keeping ``import mapper`` light."""
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'mapper' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(mod), name)
