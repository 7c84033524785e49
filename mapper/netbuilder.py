"""Build an :class:`~mapper.graph.OpGraph` layer by layer from shapes alone (no weights).

The built-in zoo and the GNN front end describe networks with :class:`NetBuilder`: each call
adds one typed op whose output tensor is named after the op, records the tensor's shape, and
connects the op to the producers of the tensors it reads (edge bytes = elements × the dtype's
bytes). Graph inputs (images, token ids, a KV cache) have no producer: they are listed in
``graph.inputs`` and every tensor's shape is in ``graph.meta["tensors"]``, so a scheduler can
size any operand, including the ones read from DRAM.

Vector-unit costs (``VectorOp.ops_per_element``) come from :data:`VECTOR_COST`; they count
lane operations per output element with every special function (exp, erf, tanh, reciprocal,
rsqrt) at :data:`SPECIAL_FN_OPS` lane operations, an assumption stated here once: a piecewise
polynomial/lookup approximation typical of accelerator vector units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hwsim.errors import ShapeError

from .graph import DTYPE_BYTES, ConvOp, DataOp, GemmOp, MatMulOp, OpGraph, VectorOp

__all__ = ["NetBuilder", "VECTOR_COST", "SPECIAL_FN_OPS", "param_count"]

#: Lane operations charged for one special function (exp, erf, tanh, reciprocal, rsqrt).
SPECIAL_FN_OPS = 4

_S = SPECIAL_FN_OPS
#: Lane operations per output element of each vector operator (category, cost, breakdown).
VECTOR_COST: dict[str, tuple[str, float, str]] = {
    "add": ("elementwise", 1, "one add"),
    "mul": ("elementwise", 1, "one multiply"),
    "relu": ("activation", 1, "one max"),
    "relu6": ("activation", 2, "max then min"),
    "tanh": ("activation", _S, "one special function"),
    "gelu": ("activation", 4 + _S, "0.5·x·(1 + erf(x/√2)): scale, erf, add, two multiplies"),
    "silu": ("activation", 2 + 2 * _S, "x·σ(x): exp, add, reciprocal, multiply"),
    "rope": ("elementwise", 3, "x·cos + rotate(x)·sin with cached tables: 2 mul + 1 add"),
    "softmax": ("softmax", 4 + _S, "row max, subtract, exp, row sum, multiply by 1/sum"),
    "layernorm": ("norm", 6, "mean, subtract, square, variance sum, ·rsqrt·γ, +β"),
    "rmsnorm": ("norm", 4, "square, sum, ·rsqrt, ·γ (rsqrt once per row, not counted)"),
}


def _numel(shape: Sequence[int]) -> int:
    return int(math.prod(shape))


class NetBuilder:
    """Incremental builder of a weightless :class:`OpGraph`.

    Parameters
    ----------
    name : str
        Graph name.
    dtype : str
        Activation dtype of every tensor (key of :data:`~mapper.graph.DTYPE_BYTES`).
    """

    def __init__(self, name: str, dtype: str = "float32"):
        self.graph = OpGraph(name)
        self.dtype = dtype
        self.elem = DTYPE_BYTES[dtype]
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.producer: dict[str, str] = {}
        #: Parameters outside GEMM weights (biases, norms, embeddings), name -> count.
        self.extra_params: dict[str, int] = {}
        self.graph.meta["tensors"] = self.shapes
        self.graph.meta["extra_params"] = self.extra_params

    # -- tensors -------------------------------------------------------------------------
    def input(self, name: str, shape: Sequence[int], dtype: str | None = None) -> str:
        """Declare a graph input tensor (``dtype`` defaults to the builder's)."""
        self.shapes[name] = tuple(int(s) for s in shape)
        self.graph.inputs[name] = (self.shapes[name], dtype or self.dtype)
        return name

    def output(self, tensor: str) -> None:
        """Declare ``tensor`` a graph output."""
        self.graph.outputs[tensor] = (self.shapes[tensor], self.dtype)

    def nbytes(self, tensor: str) -> int:
        """Bytes of ``tensor``."""
        return _numel(self.shapes[tensor]) * self.elem

    def param(self, name: str, count: int) -> None:
        """Record ``count`` non-GEMM parameters (bias, norm, embedding) under ``name``."""
        self.extra_params[name] = self.extra_params.get(name, 0) + int(count)

    def add_op(self, op, out_shape: Sequence[int]) -> str:
        """Add a typed ``op`` (one output tensor) and connect it to its inputs' producers."""
        self.graph.add(op)
        for t in op.inputs:
            src = self.producer.get(t)
            if src is None:
                continue
            if self.graph.g.has_edge(src, op.name):  # an OpGraph edge carries one tensor
                raise ShapeError(f"op {op.name!r} reads two tensors of {src!r}; insert a view")
            self.graph.connect(src, op.name, t, self.nbytes(t))
        out = op.outputs[0]
        self.shapes[out] = tuple(int(s) for s in out_shape)
        self.producer[out] = op.name
        return out

    # -- weight layers -------------------------------------------------------------------
    def conv(
        self, name: str, x: str, cout: int, kernel: int, stride: int = 1, pad: int | None = None,
        groups: int = 1, bn: bool = True, bias: bool = False,
    ) -> str:
        """A 2-D convolution on ``x`` of shape ``(B, C, H, W)`` (square kernel/stride/pad).

        ``pad`` defaults to ``kernel // 2`` ("same" for odd kernels). ``bn``: a BatchNorm
        follows and is folded into the convolution (inference form: its scale into the
        weights, its shift into the op's bias add); the source model's ``2·cout`` affine
        parameters are recorded. ``bias``: the convolution has its own bias (``cout``
        parameters).
        """
        b, cin, h, w = self.shapes[x]
        pad = kernel // 2 if pad is None else pad
        oh = (h + 2 * pad - kernel) // stride + 1
        ow = (w + 2 * pad - kernel) // stride + 1
        op = ConvOp(
            name=name, op_type="conv", inputs=(x,), outputs=(name,), dtype=self.dtype,
            m=b * oh * ow, k=(cin // groups) * kernel * kernel, n=cout // groups, groups=groups,
            bias=bias or bn, batch=b, cin=cin, cout=cout, in_hw=(h, w), out_hw=(oh, ow),
            kernel=(kernel, kernel), stride=(stride, stride), pads=(pad, pad, pad, pad),
        )
        if bias:
            self.param(f"{name}.bias", cout)
        if bn:
            self.param(f"{name}.bn", 2 * cout)
        return self.add_op(op, (b, cout, oh, ow))

    def linear(self, name: str, x: str, n: int, bias: bool = True) -> str:
        """A weight GEMM over the last axis of ``x``: ``(..., K) -> (..., n)``."""
        *lead, k = self.shapes[x]
        op = GemmOp(
            name=name, op_type="gemm", inputs=(x,), outputs=(name,), dtype=self.dtype,
            m=_numel(lead), k=k, n=n, bias=bias,
        )
        if bias:
            self.param(f"{name}.bias", n)
        return self.add_op(op, (*lead, n))

    def matmul(
        self, name: str, a: str, b: str, *, batch: int, m: int, k: int, n: int,
        out_shape: Sequence[int], extra_inputs: Sequence[str] = (),
    ) -> str:
        """``batch`` activation × activation products ``[m, k] @ [k, n]`` (QKᵀ, AV)."""
        op = MatMulOp(
            name=name, op_type="matmul", inputs=(a, b, *extra_inputs), outputs=(name,),
            dtype=self.dtype, m=m, k=k, n=n, batch=batch,
        )
        return self.add_op(op, out_shape)

    # -- vector and data ops ---------------------------------------------------------------
    def vector(
        self, name: str, kind: str, inputs: Sequence[str], out_shape: Sequence[int] | None = None,
        count: int = 1,
    ) -> str:
        """An element-wise/activation/softmax/norm op costed by :data:`VECTOR_COST`.

        ``count`` repeats the operator per element (e.g. two adds for three summands).
        """
        category, cost, _ = VECTOR_COST[kind]
        cost *= count
        shape = self.shapes[inputs[0]] if out_shape is None else tuple(out_shape)
        op = VectorOp(
            name=name, op_type=kind, inputs=tuple(inputs), outputs=(name,), dtype=self.dtype,
            category=category, elements=_numel(shape), ops_per_element=float(cost),
            in_elements=sum(_numel(self.shapes[t]) for t in inputs),
        )
        return self.add_op(op, shape)

    def pool(
        self, name: str, x: str, kind: str, kernel: int, stride: int, pad: int = 0,
    ) -> str:
        """Max/average pooling (``kind`` ``maxpool``/``avgpool``): ``kernel²`` ops per output.

        ``kernel=0`` is a global average pool (``H·W`` ops per output element).
        """
        b, c, h, w = self.shapes[x]
        if kernel == 0:
            kh, kw, oh, ow = h, w, 1, 1
        else:
            kh = kw = kernel
            oh = (h + 2 * pad - kernel) // stride + 1
            ow = (w + 2 * pad - kernel) // stride + 1
        op = VectorOp(
            name=name, op_type=kind, inputs=(x,), outputs=(name,), dtype=self.dtype,
            category="pool", elements=b * c * oh * ow, ops_per_element=float(kh * kw),
            in_elements=b * c * h * w,
        )
        return self.add_op(op, (b, c, oh, ow))

    def data(
        self, name: str, kind: str, inputs: Sequence[str], out_shape: Sequence[int],
        free: bool = True,
    ) -> str:
        """Shape bookkeeping (``free``: a view) or an on-chip copy of the output's bytes."""
        nbytes = 0 if free else _numel(out_shape) * self.elem
        op = DataOp(
            name=name, op_type=kind, inputs=tuple(inputs), outputs=(name,), dtype=self.dtype,
            bytes=nbytes, free=free,
        )
        return self.add_op(op, out_shape)

    def done(self, **meta) -> OpGraph:
        """The graph, with ``meta`` merged into ``graph.meta``."""
        self.graph.meta.update(meta)
        return self.graph


def param_count(graph: OpGraph) -> int:
    """All parameters of a built graph: GEMM weights plus ``meta["extra_params"]``."""
    return graph.total_params() + sum(graph.meta.get("extra_params", {}).values())
