"""ONNX loading helpers: bind symbolic input dims, infer shapes, constant-fold shape subgraphs.

Real exports leave shapes unknown after ``onnx.shape_inference`` (dims named ``?`` or ``-1``,
``Shape → Gather → Concat → Reshape`` chains). :func:`bind_and_fold` substitutes the bound input
dims, then repeats (infer shapes → evaluate every node whose inputs are all constant, and every
``Shape``/``Size`` of a tensor whose shape is now static, with ``onnx.reference``) until nothing
changes. Folding also evaluates the chains quantized models put in front of a weight
(``Cast`` → ``Mul`` by a scale, ``DequantizeLinear``), so the weight a GEMM sees carries its real
zeros; for each folded tensor the *origin* (initializer or ``Constant`` node of the original
model, and the layout transforms applied since) is recorded so pruned weights can be written back
in their original place and layout.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwsim.errors import InputFileError, ShapeError

__all__ = ["Origin", "bind_and_fold", "load_model", "static_shape", "reference_overrides",
           "inline_if", "run_node", "dq_broadcast"]

#: Nodes never folded (nondeterministic or stateful).
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
            "Bernoulli"}
#: Contrib (``com.microsoft``) nodes folded when their inputs are constant.
_FOLD_CONTRIB = {"DequantizeLinear", "QuantizeLinear"}
#: Nodes through which a weight's origin is traced (element-wise, layout preserving).
_ELEMENTWISE_CHAIN = {"Identity", "Cast", "Mul", "Div", "DequantizeLinear"}
#: Largest tensor (elements) produced by folding; bigger ones stay as graph operations.
_MAX_FOLD_ELEMENTS = 1 << 28


@dataclass
class Origin:
    """Where a folded constant comes from in the original model.

    Attributes
    ----------
    kind : str
        ``"initializer"`` or ``"constant"`` (the output of a ``Constant`` node).
    name : str
        Initializer name, or the ``Constant`` node's output name.
    ops : list
        Layout transforms applied since, in order: ``("transpose", perm)`` or
        ``("reshape", input_shape)``.
    zero : Any
        Value of the origin that maps to an exact zero of the folded tensor (a scalar 0, or
        the broadcast zero point of a ``DequantizeLinear``).
    """

    kind: str
    name: str
    ops: list = field(default_factory=list)
    zero: Any = 0

    def to_origin_layout(self, mask: np.ndarray) -> np.ndarray:
        """Map a mask in the folded tensor's layout back to the origin's layout."""
        for op, arg in reversed(self.ops):
            if op == "transpose":
                mask = np.transpose(mask, np.argsort(arg))
            else:
                mask = mask.reshape(arg)
        return mask


def load_model(path_or_model):
    """An ``onnx.ModelProto`` from a path or a model (copied, so the caller's is untouched)."""
    import onnx

    if isinstance(path_or_model, onnx.ModelProto):
        model = onnx.ModelProto()
        model.CopyFrom(path_or_model)
        return model
    try:
        return onnx.load(str(path_or_model))
    except FileNotFoundError:
        raise InputFileError(f"ONNX model {str(path_or_model)!r} does not exist") from None
    except Exception as exc:  # protobuf DecodeError and friends
        raise InputFileError(
            f"{str(path_or_model)!r} is not a readable ONNX model: {' '.join(str(exc).split())}"
        ) from None


def static_shape(vi) -> tuple[int, ...] | None:
    """Static shape of a ``ValueInfoProto``, or ``None`` when a dim is unknown."""
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    out = []
    for d in t.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:
            out.append(int(d.dim_value))
        else:
            return None
    return tuple(out)


def _bind_inputs(model, dims, input_shapes) -> dict[str, tuple[tuple[int, ...], int]]:
    """Write bound dims into the graph inputs; return ``name -> (shape, elem_type)``."""
    inits = {i.name for i in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in inits]
    names = [i.name for i in real]
    dims = dict(dims or {})
    if input_shapes is not None and not isinstance(input_shapes, dict):
        if len(real) != 1:
            raise ShapeError(
                f"input_shapes is a bare shape but the model has {len(real)} inputs "
                f"({', '.join(names)}); give a dict name -> shape"
            )
        input_shapes = {names[0]: input_shapes}
    input_shapes = dict(input_shapes or {})
    for key in input_shapes:
        if key not in names:
            raise ShapeError(f"input_shapes names {key!r}, not an input of the model "
                             f"(inputs: {', '.join(names)})")
    out = {}
    for vi in real:
        t = vi.type.tensor_type
        given = input_shapes.get(vi.name)
        cur = list(t.shape.dim)
        if given is not None:
            given = tuple(int(d) for d in given)
            if cur and len(given) != len(cur):
                raise ShapeError(f"input_shapes[{vi.name!r}] has rank {len(given)}, the model's "
                                 f"input has rank {len(cur)}")
            if any(d < 1 for d in given):
                raise ShapeError(f"input_shapes[{vi.name!r}] = {given}: dims must be >= 1")
            del t.shape.dim[:]
            for d in given:
                t.shape.dim.add().dim_value = d
        elif not t.HasField("shape"):
            err = ShapeError(f"input {vi.name!r} declares no shape; set input_shapes "
                             f"(e.g. input_shapes={{{vi.name!r}: (...)}})")
            err.unbound_dim, err.input_name, err.input_dims = None, vi.name, ["?"]
            raise err
        else:
            for i, d in enumerate(cur):
                if d.HasField("dim_value") and d.dim_value > 0:
                    continue
                p = d.dim_param if d.HasField("dim_param") else ""
                if p and p in dims:
                    v = int(dims[p])
                    if v < 1:
                        raise ShapeError(f"dims[{p!r}] = {v}: must be >= 1")
                    d.dim_value = v
                    continue
                what = f"symbolic dim {p!r}" if p and p != "?" else "an unknown dim"
                fix = f"set dims={{{p!r}: V}} or input_shapes" if p and p != "?" \
                    else "set input_shapes"
                err = ShapeError(
                    f"input {vi.name!r} dim {i} is {what} ({p or d.dim_value or '?'}) with no "
                    f"value bound; {fix} (e.g. input_shapes={{{vi.name!r}: (...)}})"
                )
                err.unbound_dim = p if p and p != "?" else None
                err.input_name = vi.name
                err.input_dims = [dd.dim_value if dd.HasField("dim_value") and dd.dim_value > 0
                                  else (dd.dim_param or "?") for dd in cur]
                raise err
        out[vi.name] = (tuple(int(d.dim_value) for d in t.shape.dim), int(t.elem_type))
    return out


def _shapes(model) -> dict[str, tuple[int, ...]]:
    g = model.graph
    out = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        s = static_shape(vi)
        if s is not None:
            out[vi.name] = s
    return out


@functools.lru_cache(maxsize=1)
def reference_overrides() -> list:
    """Operator classes that replace ``onnx.reference``'s own (pass as ``new_ops``).

    * ``BatchNormalization``: opset 9-13 in ``onnx.reference`` (1.23) normalises with the
      batch's own statistics whenever the training-only ``momentum`` attribute is present
      (Paddle2ONNX always writes it); the ONNX spec's inference mode uses the stored mean and
      variance, for every opset.
    * ``MaxPool``: ``onnx.reference`` pads an integer input with NaN (fails on the uint8
      pools of QOperator models); integers are pooled as float64 and cast back (exact).
    * ``DequantizeLinear`` / ``QuantizeLinear``: ``onnx.reference`` implements
      ``DequantizeLinear`` from opset 19 only; these implement the per-tensor, per-axis and
      blocked (``block_size``) int4/uint4/int8/uint8/int16/uint16 semantics of opsets 10-21
      (``(x - zero_point) * scale`` and ``saturate(round(x / scale) + zero_point)``, round half
      to even). Float8 types are not covered.
    * the ONNX Runtime contrib operators the front end maps (``com.microsoft`` quantized ops,
      :mod:`._onnx_quant`; fused transformer ops, :mod:`._onnx_contrib_ref`).
    """
    from onnx.reference.op_run import OpRun

    class BatchNormalization(OpRun):
        op_domain = ""

        def _run(self, x, scale, bias, mean, var, epsilon=None, momentum=None,
                 training_mode=None, spatial=None):
            eps = 1e-5 if epsilon is None else epsilon
            shp = (1, -1) + (1,) * (x.ndim - 2)
            y = ((x - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + eps) * scale.reshape(shp)
                 + bias.reshape(shp))
            return (y.astype(x.dtype),)

    from onnx.reference.ops.op_max_pool import MaxPool as _MaxPool

    class MaxPool(_MaxPool):
        def _run(self, x, **kw):
            if np.asarray(x).dtype.kind in "iu":  # onnx.reference pads integers with NaN
                res = _MaxPool._run(self, np.asarray(x).astype(np.float64), **kw)
                return (res[0].astype(x.dtype),) + tuple(res[1:])
            return _MaxPool._run(self, x, **kw)

    class DequantizeLinear(OpRun):
        op_domain = ""

        def _run(self, x, scale, zero_point=None, axis=1, block_size=None, output_dtype=None):
            s = dq_broadcast(scale, np.shape(x), axis, block_size)
            zp = 0 if zero_point is None else \
                dq_broadcast(zero_point, np.shape(x), axis, block_size).astype(np.int32)
            y = (np.asarray(x).astype(np.int32) - zp) * s
            return (y.astype(np.asarray(scale).dtype),)

    class QuantizeLinear(OpRun):
        op_domain = ""

        def _run(self, x, scale, zero_point=None, axis=1, saturate=None, block_size=None,
                 output_dtype=None, precision=None):
            from ._onnx_quant import quant_range

            dt = np.uint8 if zero_point is None else np.asarray(zero_point).dtype
            zp = 0 if zero_point is None else \
                dq_broadcast(zero_point, np.shape(x), axis, block_size).astype(np.int64)
            q = np.rint(x / dq_broadcast(scale, np.shape(x), axis, block_size))
            lo, hi = quant_range(dt)
            return (np.clip(q.astype(np.int64) + zp, lo, hi).astype(dt),)

    from ._onnx_contrib_ref import reference_ops as contrib_ops
    from ._onnx_quant import reference_ops as quant_ops

    return [BatchNormalization, MaxPool, DequantizeLinear, QuantizeLinear, *quant_ops(),
            *contrib_ops()]


def dq_broadcast(v, shape, axis, block_size=None) -> np.ndarray:
    """A ``QuantizeLinear``/``DequantizeLinear`` scale or zero point broadcast against an input
    of ``shape``: a scalar as is, a 1-D one along ``axis`` (default 1), a blocked one (opset 21
    ``block_size``) repeated ``block_size`` times along ``axis``."""
    v = np.asarray(v)
    if v.size <= 1 and not block_size:
        return v.reshape(())
    axis = (1 if axis is None else int(axis)) % max(len(shape), 1)
    if block_size:
        return np.repeat(v, int(block_size), axis=axis).take(range(shape[axis]), axis=axis)
    shp = [1] * len(shape)
    shp[axis] = v.size
    return v.reshape(shp)


def run_node(node, feeds: dict, opset: dict[str, int], new_ops=None) -> list:
    """Outputs of one node run by ``onnx.reference`` at the model's opsets (a bare
    ``NodeProto`` would run at the newest opset, e.g. reading ``Unsqueeze`` axes as an input)."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    ins = [helper.make_empty_tensor_value_info(n) for n in dict.fromkeys(t for t in node.input
                                                                         if t)]
    outs = [helper.make_empty_tensor_value_info(n) for n in node.output if n]
    graph = helper.make_graph([node], "node", ins, outs)
    ops = dict(opset)
    if node.domain and node.domain not in ops:
        ops[node.domain] = 1
    ev = ReferenceEvaluator(graph, opsets=ops,
                           new_ops=reference_overrides() if new_ops is None else new_ops)
    res = ev.run(None, {n: feeds[n] for n in node.input if n})
    it = iter(res)
    return [next(it) if n else None for n in node.output]


def _eval_node(node, values, opset):
    return run_node(node, values, opset)


def _trace_origin(node, origins, consts) -> Origin | None:
    """Origin of ``node``'s output when it is a layout transform of one traced input."""
    if node.op_type == "Transpose":
        src = origins.get(node.input[0])
        if src is None:
            return None
        perm = None
        for a in node.attribute:
            if a.name == "perm":
                perm = list(a.ints)
        if perm is None:
            perm = list(range(consts[node.input[0]].ndim))[::-1]
        return Origin(src.kind, src.name, src.ops + [("transpose", perm)], src.zero)
    if node.op_type in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
        src = origins.get(node.input[0])
        if src is None or not np.isscalar(src.zero):
            return None
        return Origin(src.kind, src.name, src.ops + [("reshape", consts[node.input[0]].shape)], 0)
    if node.op_type not in _ELEMENTWISE_CHAIN:
        return None
    out_shape = consts[node.output[0]].shape
    big = [n for n in node.input if n and n in origins and consts[n].shape == out_shape]
    if len(big) != 1 or node.input[0] != big[0] and node.op_type != "Mul":
        return None
    src = origins[big[0]]
    shape = consts[big[0]].shape
    others = [consts[n] for n in node.input if n and n != big[0]]
    if any(np.size(o) > 1 and o.shape == shape for o in others):
        return None  # two full-size operands: not a scale
    if node.op_type == "DequantizeLinear":
        if src.ops or not np.isscalar(src.zero):
            return None
        zp = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(())
        attrs = {a.name: a.i for a in node.attribute if a.name in ("axis", "block_size")}
        zero = dq_broadcast(zp, shape, attrs.get("axis", 1), attrs.get("block_size"))
        zero = np.broadcast_to(zero, shape) if zero.ndim else zero[()]
        return Origin(src.kind, src.name, [], zero)
    if node.op_type in ("Mul", "Div") and any(np.any(o == 0) for o in others):
        return None
    return Origin(src.kind, src.name, list(src.ops), src.zero)


def bind_and_fold(model, dims=None, input_shapes=None, max_iter: int = 64):
    """Bind input dims, infer shapes and constant-fold until a fixpoint.

    Parameters
    ----------
    model : onnx.ModelProto
        Modified in place (inputs bound) and replaced by the folded model.
    dims, input_shapes
        See :func:`mapper.frontends.onnx.load_onnx`.

    Returns
    -------
    folded : onnx.ModelProto
        Nodes that remain compute on activations; constants are initializers.
    consts : dict
        Every constant tensor (initializers, ``Constant`` nodes, folded values) by name.
    origins : dict
        :class:`Origin` of constants traced to an initializer/``Constant`` of ``model``.
    inputs : dict
        Graph input name -> (static shape, ONNX elem_type).
    shapes : dict
        Static shape of every tensor shape inference (after folding) knows.
    """
    import onnx
    from onnx import numpy_helper

    inputs = _bind_inputs(model, dims, input_shapes)
    opset = {o.domain or "": o.version for o in model.opset_import}
    consts: dict[str, np.ndarray] = {}
    origins: dict[str, Origin] = {}
    for init in model.graph.initializer:
        consts[init.name] = numpy_helper.to_array(init)
        origins[init.name] = Origin("initializer", init.name)
    protos = {init.name: init for init in model.graph.initializer}
    nodes = list(model.graph.node)
    shapes: dict[str, tuple[int, ...]] = {}
    vinfo = []
    last_deferred = None
    for _ in range(max_iter):
        skel, deferred = _skeleton(model, nodes, consts, protos, shapes)
        try:
            skel = onnx.shape_inference.infer_shapes(skel, data_prop=True)
        except Exception as exc:
            raise ShapeError(f"ONNX shape inference failed: {' '.join(str(exc).split())}") \
                from None
        shapes = _shapes(skel)
        vinfo = [v for v in list(skel.graph.value_info) + list(skel.graph.output)
                 if v.name not in consts]
        kept, folded = [], 0
        for node in nodes:
            branch = _static_if(node, consts)
            if branch is not None:  # an If on a constant condition: inline the taken branch
                kept.extend(branch)
                folded += 1
                continue
            val = _fold_one(node, consts, shapes, opset)
            if val is None:
                kept.append(node)
                continue
            folded += 1
            for name, v in zip(node.output, val, strict=False):
                consts[name] = np.asarray(v)
            if node.op_type == "Constant":
                origins[node.output[0]] = Origin("constant", node.output[0])
            elif len(node.output) == 1:
                o = _trace_origin(node, origins, consts)
                if o is not None:
                    origins[node.output[0]] = o
        nodes = kept
        if not folded and (not deferred or deferred == last_deferred):
            break
        last_deferred = deferred
    folded_model = _final_model(model, nodes, consts, protos, vinfo)
    return folded_model, consts, origins, inputs, shapes


#: Initializers at most this large go to shape inference with their values (shape tensors);
#: larger ones only as typed inputs, so inference never copies the weights.
_SMALL_CONST = 4096


def _needed(nodes, consts, graph) -> list[str]:
    names = {n for node in nodes for n in node.input if n in consts}
    names |= {o.name for o in graph.output if o.name in consts}
    return sorted(names)


def _empty_like(model):
    """A ``ModelProto`` with every field of ``model`` but its graph."""
    import onnx

    out = onnx.ModelProto()
    for name in ("ir_version", "producer_name", "producer_version", "domain", "model_version",
                 "doc_string"):
        setattr(out, name, getattr(model, name))
    out.opset_import.extend(model.opset_import)
    out.metadata_props.extend(model.metadata_props)
    out.functions.extend(model.functions)
    return out


def _skeleton(model, nodes, consts, protos, shapes):
    """``model`` with ``nodes``, small constants as initializers and large ones as inputs."""
    from onnx import helper, numpy_helper

    from ._onnx_proxy import proxy_nodes

    skel = _empty_like(model)
    skel.ir_version = max(skel.ir_version, 4)  # initializers need not be listed as inputs
    g = skel.graph
    g.name = model.graph.name
    opset = {o.domain or "": o.version for o in model.opset_import}
    stand_ins, extra_inputs, extra_inits, deferred = proxy_nodes(nodes, consts, opset, shapes)
    g.node.extend(stand_ins)
    g.initializer.extend(extra_inits)
    have = {i.name for i in model.graph.input}
    g.input.extend(model.graph.input)
    for out in model.graph.output:  # declared output shapes (often -1/?) are re-inferred
        vi = g.output.add()
        vi.CopyFrom(out)
        vi.type.tensor_type.ClearField("shape")
    for name in _needed(nodes, consts, model.graph):
        v = consts[name]
        if v.size <= _SMALL_CONST:
            g.initializer.append(protos[name] if name in protos
                                 else numpy_helper.from_array(v, name))
        elif name not in have:
            et = helper.np_dtype_to_tensor_dtype(v.dtype)
            g.input.append(helper.make_tensor_value_info(name, et, list(v.shape)))
    g.input.extend(extra_inputs)
    return skel, deferred


def _final_model(model, nodes, consts, protos, vinfo):
    """``model`` turned, in place, into the folded model: remaining nodes, the constants they
    read as initializers (the original ``TensorProto`` kept where unchanged, so weights are
    never copied), inferred ``value_info`` and output shapes."""
    import onnx
    from onnx import numpy_helper

    g = model.graph
    kept = []
    for node in nodes:  # detach copies before the repeated field is cleared
        c = onnx.NodeProto()
        c.CopyFrom(node)
        kept.append(c)
    del g.node[:]
    g.node.extend(kept)
    needed = set(_needed(kept, consts, g))
    for i in range(len(g.initializer) - 1, -1, -1):
        if g.initializer[i].name not in needed:
            del g.initializer[i]
    have = {i.name for i in g.initializer}
    for name in sorted(needed - have):
        g.initializer.append(numpy_helper.from_array(np.asarray(consts[name]), name))
    vi_by = {v.name: v for v in vinfo}
    outs = []
    for o in g.output:
        c = onnx.ValueInfoProto()
        c.CopyFrom(vi_by.get(o.name, o))
        outs.append(c)
    del g.output[:]
    g.output.extend(outs)
    out_names = {o.name for o in outs}
    del g.value_info[:]
    g.value_info.extend(v for v in vinfo if v.name not in out_names)
    del protos
    return model


def inline_if(node, cond) -> tuple[list, dict[str, np.ndarray]]:
    """The nodes of the branch an ``If`` takes for condition value ``cond`` (unnamed ones named
    ``{if}/{op_type}_{i}``; the branch outputs copied to the ``If``'s by ``Identity`` nodes
    ``{if}/out{i}``) and the branch's initializers."""
    import onnx
    from onnx import helper, numpy_helper

    take = "then_branch" if bool(np.asarray(cond).reshape(-1)[0]) else "else_branch"
    sub = next(a.g for a in node.attribute if a.name == take)
    inits = {i.name: numpy_helper.to_array(i) for i in sub.initializer}
    out = []
    for i, n in enumerate(sub.node):
        c = onnx.NodeProto()
        c.CopyFrom(n)
        c.name = c.name or f"{node.name}/{c.op_type}_{i}"
        out.append(c)
    for i, (src, dst) in enumerate(zip(sub.output, node.output, strict=True)):
        out.append(helper.make_node("Identity", [src.name], [dst], name=f"{node.name}/out{i}"))
    return out, inits


def _static_if(node, consts):
    """:func:`inline_if` when ``node`` is an ``If`` on a known constant, else ``None``."""
    if node.op_type != "If" or node.input[0] not in consts:
        return None
    nodes, inits = inline_if(node, consts[node.input[0]])
    consts.update(inits)
    return nodes


def _fold_one(node, consts, shapes, opset):
    """Folded output values of ``node``, or ``None`` when it stays in the graph."""
    if node.op_type == "Constant":
        from onnx.reference import ReferenceEvaluator

        return ReferenceEvaluator(node, opsets=opset).run(None, {})  # Constant: its value
    if node.op_type in ("Shape", "Size") and node.input[0] not in consts:
        s = shapes.get(node.input[0])
        if s is None:
            return None
        if node.op_type == "Size":
            return [np.array(int(np.prod(s)), dtype=np.int64)]
        start, end = 0, len(s)
        for a in node.attribute:
            if a.name == "start":
                start = a.i
            elif a.name == "end":
                end = a.i
        return [np.array(s[start:end], dtype=np.int64)]
    if node.op_type in _NO_FOLD or (node.domain not in ("", "ai.onnx") and not (
            node.domain == "com.microsoft" and node.op_type in _FOLD_CONTRIB)):
        return None
    if any(a.type in (5, 10) for a in node.attribute):  # subgraph attributes (If/Loop/Scan)
        return None
    ins = [n for n in node.input if n]
    if not all(n in consts for n in ins):
        return None
    if not ins and node.op_type not in ("ConstantOfShape", "Range", "EyeLike"):
        return None
    for out in node.output:
        s = shapes.get(out)
        if s is not None and int(np.prod(s)) > _MAX_FOLD_ELEMENTS:
            return None
    try:
        return _eval_node(node, consts, opset)
    except Exception:  # noqa: BLE001 - an op onnx.reference cannot run stays in the graph
        return None
