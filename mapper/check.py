"""End-to-end functional check of an ONNX network (issue 7 §4).

The pruned model (:func:`mapper.prune.pruned_onnx_model`) is run node by node: GEMM-like nodes
(``Conv`` via im2col per group, ``ConvTranspose`` via col2im, ``MatMul``/``Gemm`` with a constant
weight, and the integer ``MatMulInteger``/``ConvInteger``/``QLinearMatMul``/``QLinearConv`` with
``int32`` operands — activation and weight minus their zero points — requantized afterwards as
``onnx.reference`` does) through a callback ``gemm_fn`` — the engines' functional path, computing from the
compressed operands each op was given — and every other node with its ``onnx.reference``
implementation (no second implementation of non-GEMM operators). Each node's outputs, computed
from the previous nodes' *checked* outputs (so errors propagate as they would on the hardware),
are compared with ``onnx.reference.ReferenceEvaluator`` run on the whole pruned model: exactly for
integer and boolean tensors, and for floats within ``atol + rtol * max|reference|`` of the
tensor (default ``rtol=1e-4``, ``atol=1e-6``: float32 accumulation-order differences over a few
thousand-long reductions stay well inside). The first node whose output differs is named.
A ``QuantizeLinear``/``DynamicQuantizeLinear`` of a float input (QDQ models) may round an element
one step away from the reference when its input sits at a rounding boundary within the float
tolerance: such outputs (every element within one step) are accepted, counted in
``rounding_steps``, and the reference value is carried on. ONNX Runtime's contrib operators run
with the front end's reference implementations (:func:`~mapper.frontends._onnx_fold.
reference_overrides`); each node runs at the model's own opsets.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from hwsim.errors import CheckFailedError, ConfigError, ShapeError, UnsupportedOperatorError

from .graph import ConvOp, GemmOp, OpGraph

__all__ = ["check_network", "random_inputs", "numpy_gemm"]

GemmFn = Callable[[GemmOp, np.ndarray, np.ndarray, int], np.ndarray]


def numpy_gemm(op: GemmOp, act: np.ndarray, weight: np.ndarray, group: int) -> np.ndarray:
    """The plain dense product ``act @ weight`` (a reference ``gemm_fn``)."""
    return act @ weight


def random_inputs(graph: OpGraph, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs matching ``graph.inputs``: normal floats, integers in ``[0, 2)``, bools."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, (shape, dtype) in graph.inputs.items():
        dt = np.dtype(dtype)
        if dt.kind == "f":
            feeds[name] = rng.standard_normal(shape).astype(dt)
        elif dt.kind == "b":
            feeds[name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            feeds[name] = rng.integers(0, 2, size=shape).astype(dt)
    return feeds


def check_network(graph: OpGraph, gemm_fn: GemmFn = numpy_gemm, *,
                  inputs: dict[str, np.ndarray] | None = None, seed: int = 0,
                  rtol: float = 1e-4, atol: float = 1e-6) -> dict[str, Any]:
    """Run an ONNX graph with GEMMs through ``gemm_fn`` and compare with ``onnx.reference``.

    Parameters
    ----------
    graph : OpGraph
        From :func:`mapper.frontends.onnx.load_onnx`, pruned or not.
    gemm_fn : callable
        ``gemm_fn(op, act, weight, group) -> out``: ``act`` is ``(m, k)``, ``weight`` is
        ``op.weight[group]`` ``(k, n)``, the result ``(m, n)``.
    inputs : dict, optional
        Graph inputs by name; seeded random ones (:func:`random_inputs`) when omitted.
    seed : int
    rtol, atol : float
        Float tolerance per tensor: ``|out - ref| <= atol + rtol * max|ref|``.

    Returns
    -------
    dict
        ``layers_checked`` (GEMM-like nodes computed through ``gemm_fn``), ``nodes``,
        ``max_abs_error``, ``max_rel_error`` (relative to each tensor's ``max|ref|``),
        ``rounding_steps`` (quantized elements one step off the reference, accepted),
        ``outputs`` (graph output name -> array), ``rtol``, ``atol``.

    Raises
    ------
    CheckFailedError
        Naming the first node (layer) whose output differs, the tensor and the error.
    ConfigError
        ``graph`` is not an ONNX graph.
    """
    from hwsim.errors import require

    require("onnx", "onnx", "the ONNX network check")
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    from .frontends._onnx_fold import inline_if, reference_overrides, run_node
    from .frontends.onnx import GEMM_INPUTS, node_names
    from .prune import pruned_onnx_model

    model = pruned_onnx_model(graph)
    feeds = dict(inputs) if inputs is not None else random_inputs(graph, seed)
    missing = [n for n in graph.inputs if n not in feeds]
    if missing:
        raise ConfigError(f"inputs lacks graph input(s) {missing}; expected {list(graph.inputs)}")
    opset = {o.domain or "": o.version for o in model.opset_import}
    ref_ops = reference_overrides()
    names = [t for node in model.graph.node for t in node.output if t]
    try:
        ref_vals = ReferenceEvaluator(model, new_ops=ref_ops).run(names, feeds)
    except NotImplementedError as exc:  # an operator onnx.reference cannot run
        raise UnsupportedOperatorError(
            f"the network check cannot run model {graph.name!r}: "
            f"{' '.join(str(exc).split())[:300]}; simulate it with check=False") from None
    ref = dict(zip(names, ref_vals, strict=True))

    env: dict[str, Any] = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    env.update(feeds)
    checked, max_abs, max_rel, flips = 0, 0.0, 0.0, 0
    work = deque(zip(node_names(model), model.graph.node, strict=True))
    while work:
        name, node = work.popleft()
        if node.op_type == "If" and node.input[0] in env:  # as the front end inlined it
            branch, inits = inline_if(node, env[node.input[0]])
            env.update(inits)
            work.extendleft(reversed([(n.name, n) for n in branch]))
            continue
        op = graph.op(name) if name in graph.g else None
        if isinstance(op, GemmOp) and op.weight is not None and node.op_type in GEMM_INPUTS:
            wshape = graph.meta.get("onnx_weights", {}).get(name, {}).get("shape")
            outs = [_run_gemm_node(op, node, env, gemm_fn, wshape)]
            checked += 1
        else:
            outs = run_node(node, env, opset, ref_ops)
        for t, val in zip(node.output, outs, strict=False):
            if not t:
                continue
            val = np.asarray(val)
            if node.op_type in _ROUNDING and t in ref:
                val, n = _rounding_steps(val, np.asarray(ref[t]))
                flips += n
            env[t] = val
            if t not in ref:  # inside an inlined branch: the reference has no value
                continue
            a, r = _compare(name, node.op_type, t, val, np.asarray(ref[t]), rtol, atol)
            max_abs, max_rel = max(max_abs, a), max(max_rel, r)
    return dict(layers_checked=checked, nodes=len(model.graph.node), max_abs_error=max_abs,
                max_rel_error=max_rel, outputs={o.name: env[o.name] for o in model.graph.output},
                rtol=rtol, atol=atol, rounding_steps=flips)


#: Nodes that round a float input to integers: a float input within tolerance of the
#: reference can land one quantization step away at a rounding boundary.
_ROUNDING = {"QuantizeLinear", "DynamicQuantizeLinear"}


def _rounding_steps(val: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, int]:
    """``(ref, count)`` when integer ``val`` differs from ``ref`` by at most one step in
    ``count`` elements (the reference value is carried on, so a boundary rounding does not
    cascade); ``(val, 0)`` otherwise (compared as usual)."""
    if val.dtype.kind not in "iu" or val.shape != ref.shape or val.dtype != ref.dtype:
        return val, 0
    diff = np.abs(val.astype(np.int64) - ref.astype(np.int64))
    if diff.size == 0 or diff.max() > 1:
        return val, 0
    return ref, int(np.count_nonzero(diff))


def _compare(name, op_type, tensor, out, ref, rtol, atol,
             against: str = "onnx.reference on the pruned model") -> tuple[float, float]:
    """Max abs and relative error of ``out`` against ``ref``; raises naming the layer."""
    if out.shape != ref.shape:
        raise CheckFailedError(
            f"network check failed at layer {name!r} ({op_type}): output {tensor!r} has shape "
            f"{out.shape}, {against} gives {ref.shape}")
    if out.dtype.kind not in "fc" or ref.dtype.kind not in "fc":
        if not np.array_equal(out, ref):
            bad = int(np.count_nonzero(out != ref))
            raise CheckFailedError(
                f"network check failed at layer {name!r} ({op_type}): output {tensor!r} differs "
                f"from {against} in {bad} of {out.size} elements "
                "(integer tensors must match exactly)")
        return 0.0, 0.0
    if out.size == 0:
        return 0.0, 0.0
    err = float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64))))
    scale = float(np.max(np.abs(ref)))
    if not np.isfinite(err) and np.array_equal(out, ref, equal_nan=True):
        return 0.0, 0.0
    if not err <= atol + rtol * scale:
        raise CheckFailedError(
            f"network check failed at layer {name!r} ({op_type}): output {tensor!r} differs "
            f"from {against}: max |error| {err:.3g} > tolerance "
            f"{atol:g} + {rtol:g} * max|ref| ({scale:.3g})")
    return err, err / scale if scale else err


def _group_gemm(op: GemmOp, gemm_fn):
    """``call(act, g)``: group ``g`` of ``op``'s GEMM of ``act`` through ``gemm_fn``, its output
    shape checked (a ``ShapeError`` naming the op and group otherwise)."""

    def call(act, g):
        out = np.asarray(gemm_fn(op, np.ascontiguousarray(act), op.weight[g], g))
        if out.shape != (act.shape[0], op.weight.shape[2]):
            raise ShapeError(f"gemm_fn returned shape {out.shape} for op {op.name!r}, group "
                             f"{g}; expected {(act.shape[0], op.weight.shape[2])}")
        return out

    return call


def _run_gemm_node(op: GemmOp, node, env, gemm_fn, wshape) -> np.ndarray:
    x = np.asarray(env[node.input[0]])
    ins = [env[t] if t else None for t in node.input] + [None] * 9
    quant = node.op_type in ("MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv")
    if quant:  # integer operands: activation minus its zero point, int32 accumulation
        xzp = ins[2]  # x_zero_point is input 2 of all four ops
        x = x.astype(np.int32) - (0 if xzp is None else np.asarray(xzp).astype(np.int32))

    call = _group_gemm(op, gemm_fn)
    bidx = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2, "QLinearConv": 8}.get(node.op_type)
    bias = ins[bidx] if bidx is not None else None
    if isinstance(op, ConvOp):
        y = _conv_transpose(op, x, call) if op.transposed else _conv(op, x, call)
        if bias is not None:
            y = y + bias.reshape((1, -1) + (1,) * (y.ndim - 2))
    elif node.op_type == "Gemm":
        attrs = {a.name: a for a in node.attribute}
        alpha = attrs["alpha"].f if "alpha" in attrs else 1.0
        beta = attrs["beta"].f if "beta" in attrs else 1.0
        a = x.T if "transA" in attrs and attrs["transA"].i else x
        y = call(a, 0) * np.asarray(alpha, dtype=x.dtype)
        if bias is not None:
            y = y + np.asarray(beta, dtype=x.dtype) * bias
    else:
        y = _matmul(op, x, call, wshape)
    if node.op_type.startswith("QLinear"):
        return _requantize(node.op_type, y, ins)
    return y.astype(x.dtype, copy=False)


def _requantize(op_type, acc, ins) -> np.ndarray:
    """``saturate(round(acc · x_scale · w_scale / y_scale) + y_zero_point)`` as
    ``onnx.reference`` computes QLinearMatMul / QLinearConv."""
    xs, ws, ys, yzp = ins[1], ins[4], ins[6], ins[7]
    if op_type == "QLinearConv" and np.size(ws) > 1:
        ws = np.asarray(ws).reshape(1, -1, *([1] * (acc.ndim - 2)))
    d = acc * (xs * ws / ys)
    dtype = np.asarray(yzp).dtype if yzp is not None else np.dtype(np.uint8)
    if yzp is not None:
        d = d + yzp
    info = np.iinfo(dtype)
    if op_type == "QLinearConv":
        return np.round(np.clip(d, info.min, info.max)).astype(dtype)
    return np.clip(np.rint(d), info.min, info.max).astype(dtype)


def _matmul(op: GemmOp, x, call, wshape) -> np.ndarray:
    """``x @ W`` with ``W`` of ONNX shape ``(*bb, K, N)`` held as ``op.weight (groups, k, n)``."""
    k, n = op.weight.shape[1:]
    if op.groups == 1:
        one_d = x.ndim == 1
        a = x.reshape(-1, k)
        y = call(a, 0).reshape(x.shape[:-1] + (n,))
        if wshape is not None and len(wshape) == 1:  # a 1-D weight: its dim is dropped
            y = y[..., 0]
        return y[0] if one_d else y
    wshape = tuple(wshape[:-2]) if wshape is not None else (op.groups,)
    nb = len(wshape)
    x2 = x if x.ndim >= 2 else x[None]
    out_batch = np.broadcast_shapes(x2.shape[:-2], wshape)
    xb = np.broadcast_to(x2, out_batch + x2.shape[-2:])
    lead = len(out_batch) - nb
    perm = list(range(lead, lead + nb)) + list(range(lead)) + [len(out_batch), len(out_batch) + 1]
    xt = np.transpose(xb, perm)
    rows = xt.reshape(op.groups, -1, k)
    ys = np.stack([call(rows[g], g) for g in range(op.groups)])
    ys = ys.reshape(tuple(xt.shape[:-1]) + (n,))
    return np.transpose(ys, np.argsort(perm))


def _im2col(x, kernel, stride, dil, pads, out_hw) -> np.ndarray:
    """``x (N, C, H, W)`` → ``(N·oh·ow, C·kh·kw)``, columns row-major over ``(C, kh, kw)``."""
    nb, c = x.shape[:2]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dil, out_hw
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    cols = np.empty((nb, oh, ow, c, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                       j * dw: j * dw + sw * (ow - 1) + 1: sw]
            cols[:, :, :, :, i, j] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(nb * oh * ow, c * kh * kw)


def _conv(op: ConvOp, x, call) -> np.ndarray:
    one_d = x.ndim == 3
    x4 = x[:, :, None, :] if one_d else x
    cin_g = op.cin // op.groups
    outs = []
    for g in range(op.groups):
        act = _im2col(x4[:, g * cin_g:(g + 1) * cin_g], op.kernel, op.stride, op.dilation,
                      op.pads, op.out_hw)
        y = call(act, g).reshape(x4.shape[0], op.out_hw[0], op.out_hw[1], op.n)
        outs.append(y.transpose(0, 3, 1, 2))
    y = np.concatenate(outs, axis=1)
    return y[:, :, 0, :] if one_d else y


def _conv_transpose(op: ConvOp, x, call) -> np.ndarray:
    one_d = x.ndim == 3
    x4 = x[:, :, None, :] if one_d else x
    nb, _, ih, iw = x4.shape
    (kh, kw), (sh, sw), (dh, dw) = op.kernel, op.stride, op.dilation
    pt, pl, pb, pr = op.pads
    oh, ow = op.out_hw
    hf, wf = oh + pt + pb, ow + pl + pr
    need_h, need_w = (ih - 1) * sh + (kh - 1) * dh + 1, (iw - 1) * sw + (kw - 1) * dw + 1
    cin_g, cout_g = op.cin // op.groups, op.cout // op.groups
    full = np.zeros((nb, op.cout, max(hf, need_h), max(wf, need_w)), dtype=np.float64)
    for g in range(op.groups):
        act = x4[:, g * cin_g:(g + 1) * cin_g].transpose(0, 2, 3, 1).reshape(-1, cin_g)
        cols = call(act, g).reshape(nb, ih, iw, cout_g, kh, kw)
        for i in range(kh):
            for j in range(kw):
                full[:, g * cout_g:(g + 1) * cout_g,
                     i * dh: i * dh + sh * (ih - 1) + 1: sh,
                     j * dw: j * dw + sw * (iw - 1) + 1: sw] += cols[..., i, j].transpose(0, 3, 1, 2)
    y = full[:, :, pt:pt + oh, pl:pl + ow].astype(x.dtype)
    return y[:, :, 0, :] if one_d else y
