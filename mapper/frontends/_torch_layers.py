"""GEMM-like layers of the torch.fx front end: linear, convolution, matmul and attention.

Each function adds the op(s) of one traced node to a :class:`mapper.frontends.torchfx._Builder`
(see :mod:`mapper.frontends.torchfx` for the mapping rules and names).
"""

from __future__ import annotations

import math

import numpy as np

from hwsim.errors import ShapeError

from ..graph import ConvOp, GemmOp, MatMulOp, VectorOp
from .torchfx import _is_part, _tuple2, numpy_weight

__all__ = ["add_linear", "add_conv", "add_mha", "add_gemm_function", "ATTENTION_EXTRA"]

#: Lane operations per score added to the softmax of an attention: the ``1/√d`` scale (and
#: one more for an additive or boolean mask).
ATTENTION_EXTRA = 1


def _is_const(v) -> bool:
    return hasattr(v, "dim") and not hasattr(v, "op")


def _arg_ref(node, i: int, key: str) -> int | str:
    """Where the weight argument sits: its position, or its keyword."""
    return i if len(node.args) > i else key


def add_linear(b, node, op_type: str, x: str, w, has_bias: bool, *, arg) -> None:
    """``x @ W.T (+ bias)`` with a constant ``W`` of shape ``(n, k)``: a weight GEMM."""
    wn = numpy_weight(w)
    if wn.ndim != 2:
        raise b.unsupported(node, op_type, f" with a {wn.ndim}-d weight")
    xs = b.need(x, node)
    n, k = wn.shape
    name = b.op_name(node)
    base = {**b.base(node, op_type, name), "inputs": (x,)}
    b.add(GemmOp(**base, m=math.prod(xs[:-1]), k=int(k), n=int(n), groups=1, bias=has_bias,
                 **b.weight(node, name, wn, wn.T[None], "nk", arg)))
    b.gemms[node.name] = name


def _pads(padding, kernel, dil, nsp: int) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` of torch's ``padding`` (ints, ``'valid'``, ``'same'``)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":  # torch: total d·(k-1), the extra one at the end
        tot = [d * (k - 1) for d, k in zip(dil, kernel, strict=True)]
        return (tot[0] // 2, tot[1] // 2, tot[0] - tot[0] // 2, tot[1] - tot[1] // 2)
    ph, pw = _tuple2(padding, nsp, 0)
    return (ph, pw, ph, pw)


def add_conv(b, node, op_type: str, w, *, stride, padding, dilation, groups, bias: bool,
             transposed: bool, arg) -> None:
    """A 1-d or 2-d (transposed) convolution with a constant weight, in GEMM form."""
    wn = numpy_weight(w)
    nsp = wn.ndim - 2
    if nsp not in (1, 2):
        raise b.unsupported(node, op_type, f" as a {nsp}-d convolution (1-d and 2-d map)")
    x = b.dyn(node)[0]
    xs, ys = b.need(x, node), b.first_shape(node)
    batch = int(xs[0]) if len(xs) == nsp + 2 else 1
    kernel, dil = _tuple2(wn.shape[2:], nsp, 1), _tuple2(dilation, nsp, 1)
    in_hw, out_hw = _tuple2(xs[-nsp:], nsp, 1), _tuple2(ys[-nsp:], nsp, 1)
    g = int(groups)
    if not transposed:
        cout, cin_g = int(wn.shape[0]), int(wn.shape[1])
        cin, n, k = cin_g * g, cout // g, cin_g * kernel[0] * kernel[1]
        gkn, m, layout = wn.reshape(g, n, k).transpose(0, 2, 1), batch * math.prod(out_hw), "oihw"
    else:
        cin, cout_g = int(wn.shape[0]), int(wn.shape[1])
        cout, k, n = cout_g * g, cin // g, cout_g * kernel[0] * kernel[1]
        gkn, m, layout = wn.reshape(g, k, n), batch * math.prod(in_hw), "iohw"
    name = b.op_name(node)
    base = {**b.base(node, op_type, name), "inputs": (x,)}
    b.add(ConvOp(**base, m=int(m), k=int(k), n=int(n), groups=g, bias=bias,
                 **b.weight(node, name, wn, gkn, layout, arg),
                 batch=batch, cin=cin, cout=cout, in_hw=in_hw, out_hw=out_hw, kernel=kernel,
                 stride=_tuple2(stride, nsp, 1), dilation=dil,
                 pads=_pads(padding, kernel, dil, nsp), transposed=transposed))
    b.gemms[node.name] = name


def _matmul_weight(b, node, op_type: str, a: str, w, bias: bool, arg) -> None:
    """``a @ W`` with a constant ``W`` of shape ``(k,)``, ``(k, n)`` or ``(*batch, k, n)``."""
    sa, y = b.need(a, node), b.first_shape(node)
    wn = numpy_weight(w)
    k = int(sa[-1])
    if wn.ndim == 1:
        gkn, groups, m = wn[None, :, None], 1, math.prod(y)
    else:
        groups = math.prod(wn.shape[:-2])
        rows = math.prod(y[:-1])
        if rows % groups:
            raise ShapeError(f"node {node.name!r}: matmul output {y} does not split into "
                             f"{groups} weight batches")
        gkn, m = wn.reshape(groups, k, wn.shape[-1]), rows // groups
    name = b.op_name(node)
    base = {**b.base(node, op_type, name), "inputs": (a,)}
    b.add(GemmOp(**base, m=int(m), k=k, n=int(gkn.shape[2]), groups=int(groups), bias=bias,
                 **b.weight(node, name, wn, gkn, "kn", arg)))
    b.gemms[node.name] = name


def _act_matmul(b, node, op_type: str, sa, sb, inputs) -> None:
    """``batch`` products of two activations (``batch`` = broadcast leading dims)."""
    lead_a = tuple(sa[:-2]) if len(sa) >= 2 else ()
    lead_b = tuple(sb[:-2]) if len(sb) >= 2 else ()
    batch = math.prod(np.broadcast_shapes(lead_a, lead_b))
    m = int(sa[-2]) if len(sa) > 1 else 1
    n = int(sb[-1]) if len(sb) > 1 else 1
    base = {**b.base(node, op_type), "inputs": tuple(dict.fromkeys(inputs))}
    b.add(MatMulOp(**base, m=m, k=int(sa[-1]), n=n, batch=int(batch)))


def _einsum(b, node, op_type: str) -> None:
    """Two operands → an act×act product from the index sets (batch: in both inputs and the
    output; m, n: free indices of each side; k: contracted); one operand → copy or reduce."""
    from ..graph import DataOp

    eq = str(node.args[0]).replace(" ", "")
    ops = list(node.args[1]) if len(node.args) == 2 and isinstance(node.args[1], (list, tuple)) \
        else list(node.args[1:])
    lhs, _, out = eq.partition("->")
    terms = lhs.split(",")
    shapes = [tuple(b.consts[o.name].shape) if o.name in b.consts else b.need(o.name, node)
              for o in ops]
    if "..." in eq or not out or len(terms) != len(shapes) or len(terms) > 2:
        raise b.unsupported(node, op_type, f" with equation {eq!r} (one or two operands, "
                            "an explicit '->' output, no ellipsis)")
    size: dict[str, int] = {}
    for term, shp in zip(terms, shapes, strict=True):
        size.update(zip(term, shp, strict=False))
    prod = lambda idx: math.prod(size[i] for i in idx)  # noqa: E731
    base = b.base(node, op_type)
    if len(terms) == 1:
        n_out, n_in = prod(out), prod(terms[0])
        if n_out < n_in:
            b.add(VectorOp(**base, category="reduce", elements=n_out,
                           ops_per_element=n_in / max(n_out, 1), in_elements=n_in))
        else:
            b.add(DataOp(**base, bytes=b.nbytes[node.name], free=False))
        return
    ta, tb = terms
    batch = [i for i in out if i in ta and i in tb]
    m = [i for i in out if i in ta and i not in tb]
    n = [i for i in out if i in tb and i not in ta]
    k = [i for i in ta if i in tb and i not in out]
    b.add(MatMulOp(**base, m=prod(m), k=prod(k), n=prod(n), batch=prod(batch)))


def _attention(b, node, name: str, q: str, k: str, v: str, *, batch: int, L: int, S: int,
               e: int, ev: int, masks: tuple[str, ...], masked: bool, outputs) -> str:
    """``NAME.qk``, ``NAME.softmax`` (scale, mask), ``NAME.av``; returns the av tensor."""
    dt = b.dtype[node.name]
    qk = b.tensor(f"{name}.qk", (batch, L, S), dt)
    b.add(MatMulOp(name=qk, op_type="matmul", inputs=tuple(dict.fromkeys((q, k))),
                   outputs=(qk,), dtype=dt, source=node, m=L, k=e, n=S, batch=batch))
    sm_name = f"{name}.softmax"
    from ._torch_ops import TORCH_COST

    cost = TORCH_COST["softmax"][1] + ATTENTION_EXTRA + (1 if masked else 0)
    b.tensor(sm_name, (batch, L, S), dt)
    b.add(VectorOp(name=sm_name, op_type="softmax", inputs=(qk, *masks),
                   outputs=(sm_name, *outputs[1]), dtype=dt, source=node, category="softmax",
                   elements=batch * L * S, ops_per_element=float(cost),
                   in_elements=batch * L * S + sum(b.elems(t) for t in masks)))
    av = outputs[0][0] if outputs[0] else f"{name}.av"
    if not outputs[0]:
        b.tensor(av, (batch, L, ev), dt)
    b.add(MatMulOp(name=f"{name}.av", op_type="matmul", inputs=tuple(dict.fromkeys((sm_name, v))),
                   outputs=tuple(outputs[0]) or (av,), dtype=dt, source=node, m=L, k=S, n=ev,
                   batch=batch))
    return av


def _sdpa(b, node) -> None:
    q, k, v = (b.arg(node, i, kw) for i, kw in enumerate(("query", "key", "value")))
    if any(not hasattr(t, "op") or t.name not in b.shape for t in (q, k, v)):
        raise b.unsupported(node, "scaled_dot_product_attention", " with constant operands")
    qs, ks, vs = (b.need(t.name, node) for t in (q, k, v))
    mask = b.arg(node, 3, "attn_mask")
    masks = (mask.name,) if hasattr(mask, "op") and mask.name in b.shape else ()
    masked = mask is not None or bool(b.arg(node, 5, "is_causal", False))
    _attention(b, node, b.op_name(node), q.name, k.name, v.name, batch=math.prod(qs[:-2]),
               L=int(qs[-2]), S=int(ks[-2]), e=int(qs[-1]), ev=int(vs[-1]), masks=masks,
               masked=masked, outputs=(b.outputs(node), ()))


def add_mha(b, node, mod) -> None:
    """``nn.MultiheadAttention``: projections, QKᵀ, softmax, AV and the output projection."""
    q, k, v = (b.arg(node, i, kw) for i, kw in enumerate(("query", "key", "value")))
    e, h = int(mod.embed_dim), int(mod.num_heads)

    def split(s):  # (batch, length) of a (L, B, E), (B, L, E) or unbatched (L, E) input
        if len(s) == 2:
            return 1, int(s[0])
        return (int(s[0]), int(s[1])) if mod.batch_first else (int(s[1]), int(s[0]))

    nb, L = split(b.need(q.name, node))
    _, S = split(b.need(k.name, node))
    S += int(mod.bias_k is not None) + int(bool(mod.add_zero_attn))
    name, dt = b.op_name(node), b.dtype[node.name]
    has_bias = mod.in_proj_bias is not None
    if mod._qkv_same_embed_dim:
        wq, wk, wv = mod.in_proj_weight.chunk(3)
    else:
        wq, wk, wv = mod.q_proj_weight, mod.k_proj_weight, mod.v_proj_weight

    def proj(suffix, x, w, tokens):
        t = b.tensor(f"{name}.{suffix}", (tokens, int(w.shape[0])), dt)
        wn = numpy_weight(w)
        b.add(GemmOp(name=t, op_type="Linear", inputs=(x,), outputs=(t,), dtype=dt,
                     source=node, m=tokens, k=int(wn.shape[1]), n=int(wn.shape[0]),
                     bias=has_bias, **b.weight(node, t, wn, wn.T[None], "nk", suffix)))
        return t

    if q is k is v and mod._qkv_same_embed_dim:
        qt = kt = vt = proj("in_proj", q.name, mod.in_proj_weight, nb * L)
    else:
        qt, kt, vt = (proj(f"{s}_proj", x.name, w, nb * n) for s, x, w, n in
                      (("q", q, wq, L), ("k", k, wk, S), ("v", v, wv, S)))
    masks = tuple(t.name for t in (b.arg(node, 4, "key_padding_mask"),
                                   b.arg(node, 6, "attn_mask"))
                  if hasattr(t, "op") and t.name in b.shape)
    masked = bool(masks) or bool(b.arg(node, 8, "is_causal", False))
    parts = {0: [], 1: []}
    for u in node.users:
        if _is_part(u) and u.args[1] in parts:
            parts[u.args[1]].append(u.name)
    av = _attention(b, node, name, qt, kt, vt, batch=nb * h, L=L, S=S, e=e // h, ev=e // h,
                    masks=masks, masked=masked, outputs=((), parts[1]))
    wo = numpy_weight(mod.out_proj.weight)
    oname = f"{name}.out_proj"
    b.add(GemmOp(name=oname, op_type="Linear", inputs=(av,), outputs=(node.name, *parts[0]),
                 dtype=dt, source=node, m=nb * L, k=e, n=e, bias=mod.out_proj.bias is not None,
                 **b.weight(node, oname, wo, wo.T[None], "nk", "out_proj")))


def add_gemm_function(b, node, key: str) -> None:
    """``F.linear``, ``F.conv*``, ``matmul``/``mm``/``bmm``/``addmm``, ``einsum``, SDPA."""
    if key == "scaled_dot_product_attention":
        return _sdpa(b, node)
    if key == "einsum":
        return _einsum(b, node, key)
    if key == "linear":
        w = b.arg(node, 1, "weight")
        bias = b.arg(node, 2, "bias") is not None
        x = node.args[0].name
        if _is_const(w):
            return add_linear(b, node, key, x, w, bias, arg=_arg_ref(node, 1, "weight"))
        sw = b.need(w.name, node)
        return _act_matmul(b, node, key, b.need(x, node), (sw[-1], sw[0]), (x, w.name))
    if key.startswith("conv"):
        w = b.arg(node, 1, "weight")
        if not _is_const(w):
            raise b.unsupported(node, key, " with a non-constant weight")
        tr = key.startswith("conv_transpose")
        return add_conv(
            b, node, key, w, stride=b.arg(node, 3, "stride", 1),
            padding=b.arg(node, 4, "padding", 0),
            dilation=b.arg(node, 7 if tr else 5, "dilation", 1),
            groups=b.arg(node, 6, "groups", 1), bias=b.arg(node, 2, "bias") is not None,
            transposed=tr, arg=_arg_ref(node, 1, "weight"))
    ia, ib = (1, 2) if key == "addmm" else (0, 1)
    names = ("mat1", "mat2") if key == "addmm" else ("input", "other")
    a, w = b.arg(node, ia, names[0]), b.arg(node, ib, names[1])
    if _is_const(a):
        raise b.unsupported(node, key, " with a constant left operand (write W @ x as "
                            "(x.T @ W.T).T or use nn.Linear)")
    if _is_const(w):
        return _matmul_weight(b, node, key, a.name, w, key == "addmm",
                              _arg_ref(node, ib, names[1]))
    return _act_matmul(b, node, key, b.need(a.name, node), b.need(w.name, node),
                       (a.name, w.name))

