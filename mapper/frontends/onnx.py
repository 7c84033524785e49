"""ONNX front end: a model file (or ``ModelProto``) → :class:`mapper.graph.OpGraph`.

Steps: bind symbolic input dims (``dims`` by name, as ONNX Runtime's free-dimension overrides,
or ``input_shapes`` per input), run ``onnx.shape_inference``, constant-fold shape subgraphs and
weight chains with ``onnx.reference`` until every GEMM-like node has a static shape
(:mod:`._onnx_fold`), then turn each remaining node into a typed op:

* ``Conv`` / ``ConvTranspose`` → :class:`~mapper.graph.ConvOp` (groups kept as a loop dimension;
  GEMM-form weight ``(groups, k, n)`` with ``k = Cin/g·kh·kw`` flattened row-major from
  ``W[co]``; for ``ConvTranspose`` ``k = Cin/g`` and ``n = Cout/g·kh·kw``, col2im form);
  a following ``BatchNormalization`` that only reads the convolution is folded into it
  (``bias=True``; listed in ``graph.meta["folded"]``), and so is an ``Add`` of a
  per-output-channel constant right after any GEMM (its bias).
* ``Gemm`` / ``MatMul`` with a constant right operand → :class:`~mapper.graph.GemmOp`
  (``k`` after ``transB``); with two activations → :class:`~mapper.graph.MatMulOp`
  (``batch`` = broadcast leading dims, e.g. batch × heads for QKᵀ and AV); a two-operand
  ``Einsum`` → :class:`~mapper.graph.MatMulOp` from its index sets.
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
from ._onnx_ops import einsum
from ._onnx_ops import pads as _pads

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
        "QuantizeLinear", "DequantizeLinear", "PRelu", "CumSum")},
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
    "Celu": ("activation", SPECIAL + 3),
    "ThresholdedRelu": ("activation", 1),
    "DynamicQuantizeLinear": ("elementwise", 5),  # min, max (reductions), scale, round, clip
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
    # LRN: square + windowed sum over ``size`` channels (counted as ``size``, set per node),
    # pow(·, beta) = 2·SPECIAL + 1, scale and divide = 2.
    "LRN": ("norm", 2 * SPECIAL + 3),
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
             "SpaceToDepth", "TopK", "NonZero", "Compress", "OneHot", "Trilu", "EyeLike",
             "NonMaxSuppression"}
#: GEMM-like ops: ``op_type -> (weight input, weight zero-point input or None, bias input)``.
GEMM_INPUTS: dict[str, tuple[int, int | None, int | None]] = {
    "Conv": (1, None, 2), "ConvTranspose": (1, None, 2), "ConvInteger": (1, 3, None),
    "QLinearConv": (3, 5, 8), "Gemm": (1, None, 2), "MatMul": (1, None, None),
    "MatMulInteger": (1, 3, None), "QLinearMatMul": (3, 5, None),
}
_GEMM = set(GEMM_INPUTS)
_CONV = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv"}


def supported_operators() -> list[str]:
    """Every ONNX op type the front end maps (standard and ONNX Runtime ``com.microsoft``
    contrib operators), sorted."""
    from ._onnx_contrib import ATTENTION_OPS, CONTRIB_VECTOR
    from ._onnx_quant import CONTRIB_GEMM_INPUTS, QLINEAR_VECTOR

    return sorted(set(VECTOR_COST) | _REDUCE | _POOL | FREE_DATA | COPY_DATA | _GEMM
                  | {"Resize", "Upsample", "Einsum", "MatMulNBits", "QLinearConcat",
                     "QLinearGlobalAveragePool", "QLinearAveragePool"}
                  | set(CONTRIB_VECTOR) | ATTENTION_OPS | set(CONTRIB_GEMM_INPUTS)
                  | set(QLINEAR_VECTOR))


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
        Values of symbolic input dims by name (e.g. ``{"batch": 1, "sequence": 128}``);
        names the model does not use are ignored, as ONNX Runtime's overrides are.
    input_shapes : dict or tuple, optional
        Full static shape per input name; a bare shape when the model has one input.
    passthrough : tuple of str
        Op types the user declares free: mapped to a free :class:`~mapper.graph.DataOp`
        whatever they are (an unsupported operator otherwise raises).

    Returns
    -------
    OpGraph
        ``meta`` holds ``front_end="onnx"``, ``onnx_model`` (the bound, inferred, folded
        ``ModelProto``), ``onnx_source`` (the model as given), ``onnx_weights`` (per weight
        op: node-layout weight tensor, layout and traced origin), ``folded`` (BatchNormalization
        or bias ``Add`` → the GEMM it folded into), ``unknown_shapes`` (ops whose output shape
        stays data-dependent, e.g. ``NonZero``; their element counts are 0).

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
    from hwsim.errors import require

    onnx = require("onnx", "onnx", "the ONNX front end")
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
                        unknown_shapes=b.unknown,
                        dims=dict(dims or {}), input_shapes={k: v[0] for k, v in inputs.items()})
    return b.graph


def _gemm_inputs(op_type: str) -> tuple[int, int | None, int | None]:
    """``(weight, weight zero point, bias)`` input indices of a standard or contrib GEMM."""
    from ._onnx_quant import CONTRIB_GEMM_INPUTS

    return GEMM_INPUTS.get(op_type) or CONTRIB_GEMM_INPUTS[op_type]


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
        self.unknown: list[str] = []
        self._zero = None
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
        if any(o and self.shape(o) is None for o in node.output):
            self.unknown.append(op.name)  # data-dependent (NonZero, NMS...): costed as 0
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
        if op_type in self.passthrough:  # the user's explicit choice wins
            return self.add(DataOp(**base, bytes=0, free=True), node)
        if self._contrib(node, base):
            return None
        if op_type in _CONV:
            return self.add(self._conv(node, base), node)
        if op_type in _GEMM:
            return self.add(self._gemm(node, base), node)
        if op_type == "BatchNormalization" and self._fold_bn(node):
            return None
        if op_type == "Add" and self._fold_bias(node):
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
        if op_type == "Einsum":
            return self.add(einsum(self, node, base), node)
        if op_type in FREE_DATA:
            return self.add(DataOp(**base, bytes=0, free=True), node)
        if op_type in COPY_DATA:
            nb = sum(self.nbytes(o) for o in node.output if o)
            return self.add(DataOp(**base, bytes=nb, free=False), node)
        why = "is not supported"
        if op_type in ("If", "Loop", "Scan", "SequenceMap"):
            why = ("is control flow whose condition or trip count is not constant after the "
                   "dims are bound (only an If on a constant condition is inlined)")
        elif node.domain not in ("", "ai.onnx"):
            why = f"(domain {node.domain!r}) is not supported"
        raise UnsupportedOperatorError(
            f"ONNX operator {op_type!r} (node {node.name!r}) {why}; declare it free "
            f"with passthrough=({op_type!r},) or use a model with only: "
            + ", ".join(supported_operators())
        )

    def _contrib(self, node, base) -> bool:
        """Map ONNX Runtime's contrib operators and the opset-23 fused ones; False if not one."""
        from ._onnx_contrib import ATTENTION_OPS, CONTRIB_VECTOR, map_attention, vector_cost
        from ._onnx_quant import CONTRIB_GEMM_INPUTS, QLINEAR_VECTOR, REQUANT, map_nbits

        op_type = node.op_type
        if op_type in ATTENTION_OPS:
            map_attention(self, node, base)
        elif op_type in CONTRIB_GEMM_INPUTS:
            self.add(self._gemm(node, base), node)
        elif op_type == "MatMulNBits":
            self.add(map_nbits(self, node, base), node)
        elif op_type in CONTRIB_VECTOR:
            cat, cost = vector_cost(node)
            self.add(VectorOp(**base, category=cat, elements=self.elems(node.output[0]),
                              ops_per_element=cost,
                              in_elements=sum(self.elems(t) for t in base["inputs"])), node)
        elif op_type in QLINEAR_VECTOR:
            cat, cost = VECTOR_COST[QLINEAR_VECTOR[op_type]]
            self.add(VectorOp(**base, category=cat, elements=self.elems(node.output[0]),
                              ops_per_element=float(cost + REQUANT),
                              in_elements=sum(self.elems(t) for t in base["inputs"])), node)
        elif op_type == "QLinearConcat":
            self.add(DataOp(**base, bytes=self.nbytes(node.output[0]), free=False), node)
        elif op_type in ("QLinearGlobalAveragePool", "QLinearAveragePool"):
            self.add(self._vector(node, base), node)
        else:
            return False
        return True

    def _vector(self, node, base) -> VectorOp:
        op_type = node.op_type
        out = self.elems(node.output[0])
        ins = sum(self.elems(t) for t in base["inputs"])
        if op_type in _POOL or op_type.startswith("QLinear"):
            a = _attrs(node)
            if "Global" in op_type:
                s = self.need_shape(node.input[0], node)
                win = int(np.prod(s[1:-1] if a.get("channels_last") else s[2:]))
            else:
                win = int(np.prod(a.get("kernel_shape", [1])))
            return VectorOp(**base, category="pool", elements=out, ops_per_element=float(win),
                            in_elements=ins)
        if op_type in _REDUCE:
            x = self.elems(node.input[0])
            return VectorOp(**base, category="reduce", elements=out,
                            ops_per_element=float(x) / max(out, 1), in_elements=ins)
        cat, cost = VECTOR_COST[op_type]
        if op_type == "LRN":
            cost += int(_attrs(node).get("size", 1))
        return VectorOp(**base, category=cat, elements=out, ops_per_element=float(cost),
                        in_elements=ins)

    def _sole_producer(self, x: str, cls) -> Any:
        """The op of type ``cls`` that writes ``x`` when ``x`` feeds only one node."""
        p = self.producer.get(x)
        if p is None or self.consumers.get(x, 0) != 1 or x in self.graph_outputs:
            return None
        op = self.graph.op(p)
        return op if isinstance(op, cls) and op.outputs == (x,) else None

    def _fold_into(self, node, op, x) -> None:
        self.graph.replace(op.replace(outputs=(node.output[0],), bias=True))
        self.producer[node.output[0]] = op.name
        self.info[node.output[0]] = (self.shape(node.output[0]) or self.shape(x), op.dtype)
        self.folded_bn[node.name] = op.name

    def _fold_bn(self, node) -> bool:
        """Inference BatchNormalization right after a Conv: a per-channel scale and shift."""
        conv = self._sole_producer(node.input[0], ConvOp)
        if conv is None:
            return False
        self._fold_into(node, conv, node.input[0])
        return True

    def _fold_bias(self, node) -> bool:
        """``Add`` of a per-output-channel constant right after a GEMM: the GEMM's bias."""
        ins = [t for t in node.input if t]
        if len(ins) != 2:
            return False
        dyn = [t for t in ins if t not in self.consts]
        if len(dyn) != 1:
            return False
        x = dyn[0]
        c = self.consts[ins[1] if ins[0] == x else ins[0]]
        op = self._sole_producer(x, GemmOp)
        y = self.shape(x)
        if op is None or y is None or c.ndim > len(y):
            return False
        shape = (1,) * (len(y) - c.ndim) + tuple(c.shape)
        axis = 1 if isinstance(op, ConvOp) else len(y) - 1
        chans = op.cout if isinstance(op, ConvOp) else y[-1]
        if shape[axis] != chans or int(np.prod(shape)) != chans:
            return False
        self._fold_into(node, op, x)
        return True

    def contrib_weight(self, node, widx: int, zidx: int | None) -> tuple[np.ndarray, Any]:
        """Weight input ``widx`` minus zero point input ``zidx`` (see :meth:`_raw_weight`)."""
        return self._raw_weight(node, (widx, zidx))

    def contrib_weight_fields(self, node, widx, layout, gkn, origin, op_name=""):
        """``weight``/``sparsity``/``density`` of op ``{node}{op_name}`` (see :meth:`_weight`)."""
        return self._weight(node, layout, gkn, origin, widx, node.name + op_name)

    def _raw_weight(self, node, idx=None) -> tuple[np.ndarray, Any]:
        """The node's constant weight (minus its zero point for integer ops) and origin."""
        widx, zidx = idx or _gemm_inputs(node.op_type)[:2]
        t = node.input[widx]
        if t not in self.consts:
            raise UnsupportedOperatorError(
                f"ONNX operator {node.op_type!r} (node {node.name!r}) has a non-constant weight "
                f"{t!r}; only constant (initializer/Constant/folded) weights map")
        w = np.asarray(self.consts[t])
        origin = self.origins.get(t)
        self._zero = None
        if zidx is None or len(node.input) <= zidx or not node.input[zidx]:
            return w, origin
        zp = np.asarray(self.consts.get(node.input[zidx], np.zeros(())))
        rows = node.op_type in _CONV or _attrs(node).get("transB", 0)  # zero point per row
        zb = zp.reshape((-1,) + (1,) * (w.ndim - 1)) if rows and zp.size > 1 else zp
        eff = w.astype(np.int32) - zb.astype(np.int32)
        self._zero = (zb, w.dtype)
        if origin is not None:
            if origin.ops or not np.isscalar(origin.zero) or origin.zero != 0:
                origin = None
            else:
                from ._onnx_fold import Origin

                origin = Origin(origin.kind, origin.name, [], np.broadcast_to(zb, w.shape))
        return eff, origin

    def _weight(self, node, layout: str, gkn: np.ndarray, origin, idx=None,
                name=None) -> dict[str, Any]:
        from ..prune import detect_sparsity

        idx = _gemm_inputs(node.op_type)[0] if idx is None else idx
        t = node.input[idx]
        self.weights[name or node.name] = dict(
            tensor=t, index=idx, layout=layout, shape=tuple(np.shape(self.consts[t])),
            origin=origin, zero_point=self._zero, node=node.name)
        spec, density = detect_sparsity(gkn)
        return dict(weight=gkn, sparsity=spec, density=density)

    def _conv(self, node, base) -> ConvOp:
        a = _attrs(node)
        w, origin = self._raw_weight(node)
        transposed = node.op_type == "ConvTranspose"
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
        pads = _pads(a, in_hw, out_hw, kernel, stride, dil, transposed)
        batch = int(x[0])
        if not transposed:
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
        bidx = _gemm_inputs(node.op_type)[2]
        return ConvOp(**base, m=int(m), k=int(k), n=int(n), groups=g,
                      bias=bidx is not None and len(node.input) > bidx and bool(node.input[bidx]),
                      **self._weight(node, "iohw" if transposed else "oihw",
                                     gkn, origin),
                      batch=batch, cin=int(cin), cout=int(cout), in_hw=in_hw, out_hw=out_hw,
                      kernel=kernel, stride=stride, dilation=dil, pads=pads,
                      transposed=transposed)

    def _gemm(self, node, base):
        a = _attrs(node)
        widx = _gemm_inputs(node.op_type)[0]
        sa = self.need_shape(node.input[0], node)
        sb = self.need_shape(node.input[widx], node)
        y = self.need_shape(node.output[0], node)
        b_const = node.input[widx] in self.consts
        if node.op_type in ("Gemm", "QGemm"):
            m, k = (sa[1], sa[0]) if a.get("transA", 0) else (sa[0], sa[1])
            n = sb[0] if a.get("transB", 0) else sb[1]
            bidx = _gemm_inputs(node.op_type)[2]
            bias = len(node.input) > bidx and bool(node.input[bidx])
            if not b_const:
                return MatMulOp(**base, m=int(m), k=int(k), n=int(n), batch=1)
            w, origin = self._raw_weight(node)
            gkn = (w.T if a.get("transB", 0) else w)[None]
            return GemmOp(**base, m=int(m), k=int(k), n=int(n), groups=1, bias=bias,
                          **self._weight(node, "nk" if a.get("transB", 0) else "kn",
                                         gkn, origin))
        k = sa[-1]
        n = sb[-1] if len(sb) > 1 else 1
        if b_const:
            w, origin = self._raw_weight(node)
            if w.ndim == 1:
                w = w[:, None]
            groups = int(np.prod(w.shape[:-2], dtype=np.int64))
            total_rows = int(np.prod(y[:-1], dtype=np.int64)) if len(sb) > 1 else \
                int(np.prod(y, dtype=np.int64))
            if total_rows % groups:
                raise ShapeError(f"node {node.name!r}: MatMul output {y} does not split into "
                                 f"{groups} weight batches")
            gkn = w.reshape(groups, k, n)
            bidx = _gemm_inputs(node.op_type)[2]
            return GemmOp(**base, m=total_rows // groups, k=int(k), n=int(n), groups=groups,
                          bias=bidx is not None and len(node.input) > bidx
                          and bool(node.input[bidx]),
                          **self._weight(node, "kn", gkn, origin))
        m = sa[-2] if len(sa) > 1 else 1
        batch = int(np.prod(y[:-2], dtype=np.int64)) if len(y) > 2 else 1
        return MatMulOp(**base, m=int(m), k=int(k), n=int(n), batch=batch)
