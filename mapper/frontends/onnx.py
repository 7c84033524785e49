"""ONNX front end: a model file (or ``ModelProto``) → :class:`mapper.graph.OpGraph`.

Steps: bind symbolic input dims (``dims`` by name, as ONNX Runtime's free-dimension overrides,
or ``input_shapes`` per input), run ``onnx.shape_inference``, constant-fold shape subgraphs and
weight chains with ``onnx.reference`` until every GEMM-like node has a static shape
(:mod:`._onnx_fold`), then turn each remaining node into a typed op:

* ``Conv`` / ``ConvTranspose`` → :class:`~mapper.graph.ConvOp` (groups kept as a loop dimension;
  GEMM-form weight ``(groups, k, n)`` with ``k = Cin/g·kh·kw`` flattened row-major from
  ``W[co]``; for ``ConvTranspose`` ``k = Cin/g`` and ``n = Cout/g·kh·kw``, col2im form);
  a following ``BatchNormalization`` that only reads the convolution is folded into it
  (``bias=True``; listed in ``graph.meta["folded"]``).
* ``Gemm`` / ``MatMul`` with a constant right operand → :class:`~mapper.graph.GemmOp`
  (``k`` after ``transB``); with two activations → :class:`~mapper.graph.MatMulOp`
  (``batch`` = broadcast leading dims, e.g. batch × heads for QKᵀ and AV).
* element-wise, activation, softmax, normalisation, reduction and pooling nodes →
  :class:`~mapper.graph.VectorOp` costed by :data:`VECTOR_COST`.
* shape and data-movement nodes → :class:`~mapper.graph.DataOp`: views are free
  (:data:`FREE_DATA`), copies cost their output bytes (:data:`COPY_DATA`).

Weight sparsity is detected from the values (:func:`mapper.prune.detect_sparsity`).
Unnamed nodes are named ``{op_type}_{index}`` (index in the original node list).

Vector cost (lane operations per output element, :data:`VECTOR_COST`): 1 for an add, multiply,
compare, select, ReLU, cast; ``SPECIAL`` = 4 for a transcendental or divide-class function
(Exp, Log, Erf, Tanh, Sqrt, Reciprocal, Div: a LUT lookup plus a polynomial/Newton step);
composites add up their parts: Sigmoid = exp + add + reciprocal = 9, HardSigmoid = mul + add +
clip(2) = 4, HardSwish = 5, Gelu (erf form) = 8, Softmax = max + sub + exp + sum + mul = 8,
LayerNormalization = mean + sub + square + sum + mul-rsqrt + scale + shift = 7, inference
BatchNormalization (unfolded) = scale + shift = 2. Pooling and reductions cost one operation per
input element of the window (``kh·kw``; ``H·W`` for a global pool; the reduced length for
``Reduce*``). Resize costs 6 (linear: three lerps of 2) or 32 (cubic), nearest is a copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import ShapeError, UnsupportedOperatorError

from ..graph import DTYPE_BYTES, ConvOp, DataOp, GemmOp, MatMulOp, OpGraph, VectorOp

__all__ = ["load_onnx", "node_names", "supported_operators", "VECTOR_COST", "FREE_DATA",
           "COPY_DATA", "SPECIAL"]

#: Lane operations of a transcendental / divide-class function (LUT + polynomial step).
SPECIAL = 4

#: ``op_type -> (category, ops per output element)``; pools/reductions are computed from shapes.
VECTOR_COST: dict[str, tuple[str, float]] = {
    **{op: ("elementwise", 1) for op in (
        "Add", "Sub", "Mul", "Max", "Min", "Sum", "Mean", "Neg", "Abs", "Sign", "Floor", "Ceil",
        "Round", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor",
        "Not", "IsNaN", "IsInf", "Where", "Cast", "CastLike", "Mod", "BitShift",
        "QuantizeLinear", "DequantizeLinear", "PRelu")},
    **{op: ("elementwise", SPECIAL) for op in (
        "Div", "Sqrt", "Reciprocal", "Exp", "Log", "Erf", "Tanh", "Sin", "Cos", "Atan")},
    "Pow": ("elementwise", 2 * SPECIAL + 1),  # exp(y * log(x))
    "Relu": ("activation", 1),
    "LeakyRelu": ("activation", 2),
    "Clip": ("activation", 2),
    "Sigmoid": ("activation", SPECIAL + 1 + SPECIAL),
    "HardSigmoid": ("activation", 4),
    "HardSwish": ("activation", 5),
    "Gelu": ("activation", SPECIAL + 4),
    "Elu": ("activation", SPECIAL + 2),
    "Selu": ("activation", SPECIAL + 3),
    "Softplus": ("activation", 2 * SPECIAL + 1),
    "Softsign": ("activation", SPECIAL + 2),
    "Mish": ("activation", 3 * SPECIAL + 2),
    "Softmax": ("softmax", SPECIAL + 4),
    "LogSoftmax": ("softmax", 2 * SPECIAL + 4),
    "LayerNormalization": ("norm", 7),
    "InstanceNormalization": ("norm", 7),
    "GroupNormalization": ("norm", 7),
    "BatchNormalization": ("norm", 2),
    "LpNormalization": ("norm", 3 + SPECIAL),
}
#: Reductions: one operation per reduced input element.
_REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
           "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin"}
_POOL = {"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool"}
#: Data-movement ops that are views (no copy).
FREE_DATA = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Size",
             "Dropout", "Constant", "ConstantOfShape", "Range"}
#: Data-movement ops that copy their output (cost: output bytes).
COPY_DATA = {"Transpose", "Concat", "Split", "Slice", "Pad", "Gather", "GatherND",
             "GatherElements", "Expand", "Tile", "ScatterND", "ScatterElements", "DepthToSpace",
             "SpaceToDepth", "TopK", "NonZero", "Compress", "OneHot", "Trilu", "EyeLike"}
_GEMM = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def supported_operators() -> list[str]:
    """Every ONNX op type the front end maps, sorted."""
    return sorted(set(VECTOR_COST) | _REDUCE | _POOL | FREE_DATA | COPY_DATA | _GEMM
                  | {"Resize", "Upsample"})


def node_names(model) -> list[str]:
    """Stable, unique node names: named nodes keep theirs, others become ``{op_type}_{i}``."""
    names, seen = [], set()
    for i, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        while name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        names.append(name)
    return names


def load_onnx(path_or_model, *, dims: dict[str, int] | None = None,
              input_shapes: dict[str, tuple] | tuple | None = None,
              passthrough: tuple[str, ...] = ()) -> OpGraph:
    """Read an ONNX model into an :class:`~mapper.graph.OpGraph`.

    Parameters
    ----------
    path_or_model : str, path or onnx.ModelProto
    dims : dict of str to int, optional
        Values of symbolic input dims by name (e.g. ``{"batch": 1, "sequence": 128}``).
    input_shapes : dict or tuple, optional
        Full static shape per input name; a bare shape when the model has one input.
    passthrough : tuple of str
        Op types the user declares free (mapped to a free :class:`~mapper.graph.DataOp`)
        instead of an unsupported-operator error.

    Returns
    -------
    OpGraph
        ``meta`` holds ``front_end="onnx"``, ``onnx_model`` (the bound, inferred, folded
        ``ModelProto``), ``onnx_source`` (the model as given), ``onnx_weights`` (per weight
        op: node-layout weight tensor, layout and traced origin), ``folded`` (BN → Conv).

    Raises
    ------
    ShapeError
        An unbound symbolic dim (naming it and ``dims``/``input_shapes``), or a GEMM-like node
        whose shape stays unknown after folding.
    UnsupportedOperatorError
        Naming the operator, the node and the supported list.
    InputFileError
        Missing or unreadable file.
    """
    import onnx

    from ._onnx_fold import bind_and_fold, load_model

    model = load_model(path_or_model)
    source = onnx.ModelProto()
    source.CopyFrom(model)
    for node, name in zip(model.graph.node, node_names(model), strict=True):
        node.name = name
    folded, consts, origins, inputs, shapes = bind_and_fold(model, dims, input_shapes)
    name = (Path(str(path_or_model)).stem if not isinstance(path_or_model, onnx.ModelProto)
            else (model.graph.name or "model"))
    b = _Builder(OpGraph(name), folded, consts, origins, shapes, set(passthrough))
    for iname, (shape, et) in inputs.items():
        b.graph.inputs[iname] = (shape, _np_dtype(et))
        b.info[iname] = (shape, _np_dtype(et))
    for node in folded.graph.node:
        b.add_node(node)
    for out in folded.graph.output:
        s, dt = b.info.get(out.name, (shapes.get(out.name), _np_dtype(out.type.tensor_type
                                                                     .elem_type)))
        b.graph.outputs[out.name] = (s, dt)
    b.graph.meta.update(front_end="onnx", onnx_model=folded, onnx_source=source,
                        onnx_weights=b.weights, folded=b.folded_bn,
                        dims=dict(dims or {}), input_shapes={k: v[0] for k, v in inputs.items()})
    return b.graph


def _np_dtype(elem_type: int) -> str:
    from onnx import helper

    try:
        name = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name
    except Exception:  # undefined / exotic types
        return "float32"
    return name if name in DTYPE_BYTES else "float32"


def _attrs(node) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Builder:
    """Turns folded ONNX nodes into ops and edges."""

    def __init__(self, graph, model, consts, origins, shapes, passthrough):
        self.graph, self.model, self.consts = graph, model, consts
        self.origins, self.shapes, self.passthrough = origins, shapes, passthrough
        self.info: dict[str, tuple[tuple[int, ...] | None, str]] = {}
        self.producer: dict[str, str] = {}
        self.weights: dict[str, dict] = {}
        self.folded_bn: dict[str, str] = {}
        self.consumers: dict[str, int] = {}
        for node in model.graph.node:
            for t in node.input:
                self.consumers[t] = self.consumers.get(t, 0) + 1
        self.graph_outputs = {o.name for o in model.graph.output}
        vi = {v.name: v for v in list(model.graph.value_info) + list(model.graph.output)}
        self.vi_dtype = {k: _np_dtype(v.type.tensor_type.elem_type) for k, v in vi.items()}

    # -- helpers -------------------------------------------------------------------------
    def shape(self, t: str) -> tuple[int, ...] | None:
        if t in self.consts:
            return tuple(self.consts[t].shape)
        if t in self.info and self.info[t][0] is not None:
            return self.info[t][0]
        return self.shapes.get(t)

    def need_shape(self, t: str, node) -> tuple[int, ...]:
        s = self.shape(t)
        if s is None:
            raise ShapeError(
                f"node {node.name!r} ({node.op_type}): the shape of {t!r} is still unknown "
                "after shape inference and constant folding; bind the model's symbolic dims "
                "with dims (by name) or input_shapes"
            )
        return s

    def dtype(self, t: str) -> str:
        if t in self.info:
            return self.info[t][1]
        return self.vi_dtype.get(t, "float32")

    def nbytes(self, t: str) -> int:
        s = self.shape(t)
        return 0 if s is None else int(np.prod(s, dtype=np.int64)) * DTYPE_BYTES[self.dtype(t)]

    def elems(self, t: str) -> int:
        s = self.shape(t)
        return 0 if s is None else int(np.prod(s, dtype=np.int64))

    def dyn(self, node) -> tuple[str, ...]:
        return tuple(t for t in node.input if t and t not in self.consts)

    def add(self, op, node, outputs=None) -> None:
        self.graph.add(op)
        for t in op.inputs:
            p = self.producer.get(t)
            if p is not None and p != op.name:
                self.graph.connect(p, op.name, t, self.nbytes(t))
        for t in outputs or node.output:
            if t:
                self.producer[t] = op.name
                self.info[t] = (self.shape(t), self.vi_dtype.get(t, op.dtype))

    # -- dispatch ------------------------------------------------------------------------
    def add_node(self, node) -> None:
        op_type = node.op_type
        base = dict(name=node.name, op_type=op_type, inputs=self.dyn(node),
                    outputs=tuple(o for o in node.output if o),
                    dtype=self.vi_dtype.get(node.output[0], "float32"), source=node)
        if op_type in ("Conv", "ConvTranspose"):
            return self.add(self._conv(node, base), node)
        if op_type in ("Gemm", "MatMul"):
            return self.add(self._gemm(node, base), node)
        if op_type == "BatchNormalization" and self._fold_bn(node):
            return None
        if op_type in VECTOR_COST or op_type in _REDUCE or op_type in _POOL:
            return self.add(self._vector(node, base), node)
        if op_type in ("Resize", "Upsample"):
            mode = _attrs(node).get("mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else str(mode)
            if mode == "nearest":
                return self.add(DataOp(**base, bytes=self.nbytes(node.output[0]), free=False),
                                node)
            cost = 6 if mode == "linear" else 32
            return self.add(VectorOp(**base, category="elementwise",
                                     elements=self.elems(node.output[0]), ops_per_element=cost,
                                     in_elements=self.elems(node.input[0])), node)
        if op_type in FREE_DATA or op_type in self.passthrough:
            return self.add(DataOp(**base, bytes=0, free=True), node)
        if op_type in COPY_DATA:
            nb = sum(self.nbytes(o) for o in node.output if o)
            return self.add(DataOp(**base, bytes=nb, free=False), node)
        raise UnsupportedOperatorError(
            f"ONNX operator {op_type!r} (node {node.name!r}) is not supported; declare it free "
            f"with passthrough=({op_type!r},) or use a model with only: "
            + ", ".join(supported_operators())
        )

    def _vector(self, node, base) -> VectorOp:
        op_type = node.op_type
        out = self.elems(node.output[0])
        ins = sum(self.elems(t) for t in base["inputs"])
        if op_type in _POOL:
            a = _attrs(node)
            if op_type.startswith("Global"):
                s = self.need_shape(node.input[0], node)
                win = int(np.prod(s[2:]))
            else:
                win = int(np.prod(a.get("kernel_shape", [1])))
            return VectorOp(**base, category="pool", elements=out, ops_per_element=float(win),
                            in_elements=ins)
        if op_type in _REDUCE:
            x = self.elems(node.input[0])
            return VectorOp(**base, category="reduce", elements=out,
                            ops_per_element=float(x) / max(out, 1), in_elements=ins)
        cat, cost = VECTOR_COST[op_type]
        return VectorOp(**base, category=cat, elements=out, ops_per_element=float(cost),
                        in_elements=ins)

    def _fold_bn(self, node) -> bool:
        x = node.input[0]
        p = self.producer.get(x)
        if p is None or self.consumers.get(x, 0) != 1 or x in self.graph_outputs:
            return False
        conv = self.graph.op(p)
        if not isinstance(conv, ConvOp) or conv.outputs != (x,):
            return False
        self.graph.replace(conv.replace(outputs=(node.output[0],), bias=True))
        self.producer[node.output[0]] = p
        self.info[node.output[0]] = (self.shape(node.output[0]) or self.shape(x), conv.dtype)
        self.folded_bn[node.name] = p
        return True

    def _weight(self, node, idx: int, layout: str, gkn: np.ndarray) -> dict[str, Any]:
        from ..prune import detect_sparsity

        t = node.input[idx]
        self.weights[node.name] = dict(tensor=t, index=idx, layout=layout,
                                       shape=tuple(self.consts[t].shape),
                                       origin=self.origins.get(t))
        spec, density = detect_sparsity(gkn)
        return dict(weight=gkn, sparsity=spec, density=density)

    def _conv(self, node, base) -> ConvOp:
        a = _attrs(node)
        if node.input[1] not in self.consts:
            raise UnsupportedOperatorError(
                f"ONNX operator {node.op_type!r} (node {node.name!r}) has a non-constant weight "
                f"{node.input[1]!r}; only constant (initializer/Constant/folded) weights map")
        w = np.asarray(self.consts[node.input[1]])
        x = self.need_shape(node.input[0], node)
        y = self.need_shape(node.output[0], node)
        if w.ndim not in (3, 4):
            raise UnsupportedOperatorError(
                f"ONNX operator {node.op_type!r} (node {node.name!r}) is {w.ndim - 2}-d; "
                "only 1-d and 2-d convolutions map")
        g = int(a.get("group", 1))
        spatial = w.shape[2:]
        kernel = (1, int(spatial[0])) if w.ndim == 3 else (int(spatial[0]), int(spatial[1]))
        pad2 = lambda v, d: tuple(v) if len(v) == 2 else (d, v[0])  # noqa: E731
        stride = pad2(a.get("strides", [1] * len(spatial)), 1)
        dil = pad2(a.get("dilations", [1] * len(spatial)), 1)
        in_hw = (1, x[2]) if len(x) == 3 else (x[2], x[3])
        out_hw = (1, y[2]) if len(y) == 3 else (y[2], y[3])
        pads = _pads(a, in_hw, out_hw, kernel, stride, dil, node.op_type == "ConvTranspose")
        batch = int(x[0])
        if node.op_type == "Conv":
            cout, cin_g = int(w.shape[0]), int(w.shape[1])
            cin, n = cin_g * g, cout // g
            k = cin_g * kernel[0] * kernel[1]
            gkn = w.reshape(g, n, k).transpose(0, 2, 1)
            m = batch * out_hw[0] * out_hw[1]
        else:
            cin, cout_g = int(w.shape[0]), int(w.shape[1])
            cout, k = cout_g * g, cin // g
            n = cout_g * kernel[0] * kernel[1]
            gkn = w.reshape(g, k, n)
            m = batch * in_hw[0] * in_hw[1]
        layout = "oihw" if node.op_type == "Conv" else "iohw"
        return ConvOp(**base, m=int(m), k=int(k), n=int(n), groups=g,
                      bias=len(node.input) > 2 and bool(node.input[2]),
                      **self._weight(node, 1, layout, np.ascontiguousarray(gkn)),
                      batch=batch, cin=int(cin), cout=int(cout), in_hw=in_hw, out_hw=out_hw,
                      kernel=kernel, stride=stride, dilation=dil, pads=pads,
                      transposed=node.op_type == "ConvTranspose")

    def _gemm(self, node, base):
        a = _attrs(node)
        sa = self.need_shape(node.input[0], node)
        sb = self.need_shape(node.input[1], node)
        y = self.need_shape(node.output[0], node)
        b_const = node.input[1] in self.consts
        if node.op_type == "Gemm":
            m, k = (sa[1], sa[0]) if a.get("transA", 0) else (sa[0], sa[1])
            n = sb[0] if a.get("transB", 0) else sb[1]
            bias = len(node.input) > 2 and bool(node.input[2])
            if not b_const:
                return MatMulOp(**base, m=int(m), k=int(k), n=int(n), batch=1)
            w = self.consts[node.input[1]]
            gkn = (w.T if a.get("transB", 0) else w)[None]
            return GemmOp(**base, m=int(m), k=int(k), n=int(n), groups=1, bias=bias,
                          **self._weight(node, 1, "nk" if a.get("transB", 0) else "kn",
                                         np.ascontiguousarray(gkn)))
        k = sa[-1]
        n = sb[-1] if len(sb) > 1 else 1
        if b_const:
            w = self.consts[node.input[1]]
            if w.ndim == 1:
                w = w[:, None]
            groups = int(np.prod(w.shape[:-2], dtype=np.int64))
            total_rows = int(np.prod(y[:-1], dtype=np.int64)) if len(sb) > 1 else \
                int(np.prod(y, dtype=np.int64))
            if total_rows % groups:
                raise ShapeError(f"node {node.name!r}: MatMul output {y} does not split into "
                                 f"{groups} weight batches")
            gkn = w.reshape(groups, k, n)
            return GemmOp(**base, m=total_rows // groups, k=int(k), n=int(n), groups=groups,
                          **self._weight(node, 1, "kn", np.ascontiguousarray(gkn)))
        m = sa[-2] if len(sa) > 1 else 1
        batch = int(np.prod(y[:-2], dtype=np.int64)) if len(y) > 2 else 1
        return MatMulOp(**base, m=int(m), k=int(k), n=int(n), batch=batch)


def _pads(a, in_hw, out_hw, kernel, stride, dil, transposed) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` from ``pads`` or ``auto_pad``."""
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER") and not transposed:
        res = []
        for i in range(2):
            total = max((out_hw[i] - 1) * stride[i] + (kernel[i] - 1) * dil[i] + 1 - in_hw[i], 0)
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            res.append((lo, total - lo))
        return (res[0][0], res[1][0], res[0][1], res[1][1])
    p = list(a.get("pads", []))
    if not p:
        return (0, 0, 0, 0)
    if len(p) == 2:  # 1-d: (begin, end) of W
        return (0, p[0], 0, p[1])
    return (p[0], p[1], p[2], p[3])
