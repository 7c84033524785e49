"""Shape-inference stand-ins for operators ``onnx.shape_inference`` has no schema for.

ONNX Runtime's contrib operators (domain ``com.microsoft``: ``QLinearAdd``, ``QGemm``,
``MatMulNBits``, ``Attention``, ``SkipLayerNormalization``...) and the few it registers in the
default domain without an ONNX schema (``SimplifiedLayerNormalization``) leave their outputs
without a shape, and so everything downstream. Before each shape-inference pass, every such node
is replaced *in the skeleton model only* by a few standard nodes writing the same output names
with the same shapes and element types (``Identity``, ``Cast``, ``Gather`` on a zero index
vector to change the last dim, ``MatMul``, ``Concat``, ``Reshape``); one pass then infers the
whole graph. The mapped model keeps the original nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Proxy", "proxy_nodes", "register"]

#: ``op_type -> fn(node, proxy)``; fn adds stand-in nodes through ``proxy`` (or returns False
#: when it cannot, leaving the outputs unknown).
PROXIES: dict[str, Callable[[Any, Proxy], Any]] = {}


def register(*op_types: str):
    """Decorator: register a stand-in builder for ``op_types``."""
    def deco(fn):
        for op in op_types:
            PROXIES[op] = fn
        return fn
    return deco


class Proxy:
    """Builds the stand-in nodes of one node (helpers for the functions in :data:`PROXIES`).

    Attributes
    ----------
    node : onnx.NodeProto
        The node stood in for.
    consts : dict
        Constant values by name (their shapes and element types are known).
    nodes, inputs, inits : list
        Stand-in nodes, typed inputs and small initializers added to the skeleton.
    """

    def __init__(self, node, consts, opset: int, shapes=None):
        self.node, self.consts, self.opset = node, consts, opset
        self.shapes = shapes or {}
        self.nodes: list = []
        self.inputs: list = []
        self.inits: list = []
        self._n = 0

    def attr(self, name: str, default=None):
        """Attribute value of the node (bytes decoded), or ``default``."""
        from onnx import helper

        for a in self.node.attribute:
            if a.name == name:
                v = helper.get_attribute_value(a)
                return v.decode() if isinstance(v, bytes) else v
        return default

    def rank(self, name: str) -> int | None:
        """Rank of a constant or of a tensor a previous inference pass shaped, else ``None``."""
        if name in self.consts:
            return int(np.ndim(self.consts[name]))
        s = self.shapes.get(name)
        return None if s is None else len(s)

    def inp(self, i: int) -> str:
        """Name of input ``i`` ('' when absent)."""
        return self.node.input[i] if len(self.node.input) > i else ""

    def tmp(self) -> str:
        self._n += 1
        return f"{self.node.name or self.node.output[0]}__proxy{self._n}"

    def add(self, op_type: str, inputs, out: str | None = None, **attrs) -> str:
        """Add a standard node; returns its output name (a fresh one unless ``out``)."""
        from onnx import helper

        out = out or self.tmp()
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def const(self, value) -> str:
        """A small constant initializer."""
        from onnx import numpy_helper

        name = self.tmp()
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def elem(self, name: str) -> int | None:
        """ONNX element type of a constant, or ``None``."""
        from onnx import helper

        if name in self.consts:
            return helper.np_dtype_to_tensor_dtype(np.asarray(self.consts[name]).dtype)
        return None

    def with_last(self, x: str, n: int, out: str | None = None) -> str:
        """``x`` with its last dim replaced by ``n`` (same element type)."""
        return self.add("Gather", [x, self.const(np.zeros(int(n), np.int64))], out, axis=-1)

    def cast(self, x: str, elem: int | None, out: str | None = None) -> str:
        """``x`` cast to ``elem`` (an ``Identity`` when ``elem`` is unknown)."""
        if elem is None:
            return self.add("Identity", [x], out)
        return self.add("Cast", [x], out, to=int(elem))

    def reshape(self, x: str, shape, out: str | None = None) -> str:
        return self.add("Reshape", [x, self.const(np.array(shape, np.int64))], out)

    def slice(self, x: str, start: int, end: int, axis: int, out: str | None = None) -> str:
        """``x[start:end]`` along ``axis``."""
        c = lambda v: self.const(np.array([v], np.int64))  # noqa: E731
        return self.add("Slice", [x, c(start), c(end), c(axis)], out)

    def unsqueeze_last(self, x: str) -> str:
        """``x`` with a trailing dim of 1 (via ``Slice``, stable across opsets)."""
        return self.add("Slice", [x, self.const(np.array([0], np.int64)),
                                  self.const(np.array([1], np.int64)),
                                  self.const(np.array([-1], np.int64))])


def proxy_nodes(nodes, consts, opset: dict[str, int], shapes=None):
    """``nodes`` with every node that has a stand-in replaced by it.

    Returns
    -------
    nodes : list
    inputs : list of ValueInfoProto
        Typed inputs the stand-ins read.
    inits : list of TensorProto
        Small constants the stand-ins read.
    deferred : int
        Nodes whose stand-in needs shapes a later pass will know.
    """
    from . import _onnx_contrib, _onnx_quant  # noqa: F401  (they register their stand-ins)

    out, inputs, inits, deferred = [], [], [], 0
    for node in nodes:
        fn = PROXIES.get(node.op_type) if node.domain not in ("", "ai.onnx") or \
            node.op_type in _DEFAULT_DOMAIN_CONTRIB else None
        if fn is None:
            out.append(node)
            continue
        p = Proxy(node, consts, opset.get("", 17), shapes)
        if fn(node, p) is False:
            deferred += 1
            continue  # outputs stay unknown
        out.extend(p.nodes)
        inputs.extend(p.inputs)
        inits.extend(p.inits)
    return out, inputs, inits, deferred


#: Operators ONNX Runtime registers in the default domain with no ONNX schema.
_DEFAULT_DOMAIN_CONTRIB = {"SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization"}
