"""Fused transformer operators for the ONNX front end: ONNX Runtime's ``com.microsoft`` contrib
operators (what ``onnxruntime.transformers.optimizer`` writes) and the opset-23 ``Attention``.

Attention-class nodes are decomposed into the operations they perform, named
``{node}/{part}`` (their ``op`` stays the node's op type):

* ``Attention`` / ``QAttention``: ``{node}/qkv`` — the packed Q, K, V projection, a weight
  GEMM ``(B·S) × Hin × (Dq+Dk+Dv)`` whose weight sparsity is detected from its values
  (``QAttention``: stored value minus zero point) — then the attention core;
* ``MultiHeadAttention`` (already projected Q, K, V; ``{node}/bias`` adds the bias when given),
  ``GroupQueryAttention`` (``{node}/rotary`` when ``do_rotary``) and the standard ``Attention``:
  the attention core only.

The attention core is ``{node}/qk`` (act×act ``batch = B·heads``, ``S × h × T``),
``{node}/softmax`` (``B·heads·S·T`` elements at the softmax cost + 2 for the scale and the
mask) and ``{node}/av`` (``batch = B·heads``, ``S × T × hv``), with ``T`` = past + new keys;
``{node}/kv_cache`` copies the new keys and values into the ``present`` outputs when the node
has them. Grouped-query attention costs each query head its own product with the shared keys.

Normalisations and activations are vector work (:data:`CONTRIB_VECTOR`).
"""

from __future__ import annotations

import numpy as np

from hwsim.errors import ShapeError, UnsupportedOperatorError

from ..graph import DataOp, GemmOp, MatMulOp, VectorOp
from ._onnx_proxy import register

__all__ = ["CONTRIB_VECTOR", "ATTENTION_OPS", "map_attention"]

_SPECIAL = 4
#: ``op_type -> (category, lane ops per output element)``; a bias input adds 1.
CONTRIB_VECTOR: dict[str, tuple[str, float]] = {
    "FastGelu": ("activation", _SPECIAL + 7),  # tanh form: cube, 2 fma, tanh, add, 2 mul
    "BiasGelu": ("activation", _SPECIAL + 4),
    "QuickGelu": ("activation", 2 * _SPECIAL + 3),  # x · sigmoid(alpha·x)
    "Swish": ("activation", 2 * _SPECIAL + 3),
    "BiasAdd": ("elementwise", 2),
    "SkipLayerNormalization": ("norm", 8),  # skip add + LayerNormalization (7)
    "SkipSimplifiedLayerNormalization": ("norm", 5),  # skip add + RMS norm (4)
    "SimplifiedLayerNormalization": ("norm", 4),  # square, sum, scale by 1/rms, gamma
    "RMSNormalization": ("norm", 4),
    "RotaryEmbedding": ("elementwise", 3),  # x·cos + rotate(x)·sin
    "EmbedLayerNormalization": ("norm", 9),  # word + position (+ segment) adds, LayerNorm
}
#: Bias inputs of the ops above (each adds one lane op per element when present).
_BIAS_INPUT = {"FastGelu": 1, "SkipLayerNormalization": 4, "SkipSimplifiedLayerNormalization": 3}
ATTENTION_OPS = {"Attention", "QAttention", "MultiHeadAttention", "GroupQueryAttention"}
_FLOAT = 1


def vector_cost(node) -> tuple[str, float]:
    """Category and per-element cost of a contrib vector op (its bias input adds 1)."""
    cat, cost = CONTRIB_VECTOR[node.op_type]
    bi = _BIAS_INPUT.get(node.op_type)
    if node.op_type == "EmbedLayerNormalization" and len(node.input) > 4 and node.input[4]:
        cost += 1  # segment embedding
    if bi is not None and len(node.input) > bi and node.input[bi]:
        cost += 1
    return cat, float(cost)


# -- shape-inference stand-ins ------------------------------------------------------------
@register("FastGelu", "BiasGelu", "Gelu", "QuickGelu", "BiasAdd", "RotaryEmbedding")
def _p_same(node, p):
    p.add("Identity", [p.inp(0)], node.output[0])


@register("SkipLayerNormalization", "SkipSimplifiedLayerNormalization",
          "SimplifiedLayerNormalization")
def _p_skip_ln(node, p):
    x = p.inp(0)
    outs = list(node.output)
    p.add("Identity", [x], outs[0])
    stats = outs[1:3] if node.op_type != "SimplifiedLayerNormalization" else outs[1:2]
    for o in stats:
        if o:
            p.cast(p.unsqueeze_last(x), _FLOAT, o)
    if node.op_type != "SimplifiedLayerNormalization" and len(outs) > 3 and outs[3]:
        p.add("Identity", [x], outs[3])


@register("EmbedLayerNormalization")
def _p_embed(node, p):
    emb = p.add("Gather", [p.inp(2), p.inp(0)], node.output[0], axis=0)
    if len(node.output) > 1 and node.output[1]:
        first = p.add("Gather", [p.inp(0), p.const(np.array(0, np.int64))], axis=1)
        p.cast(first, 6, node.output[1])
    if len(node.output) > 2 and node.output[2]:
        p.add("Identity", [emb], node.output[2])


def _qkv_sizes(node, p) -> tuple[int, int, int] | None:
    w = p.consts.get(p.inp(1))
    sizes = p.attr("qkv_hidden_sizes")
    if sizes is not None:
        return tuple(int(v) for v in sizes)
    if w is None:
        return None
    d = int(np.shape(w)[1]) // 3
    return d, d, d


@register("Attention", "QAttention")
def _p_attention(node, p):
    sizes = _qkv_sizes(node, p)
    if sizes is None:
        return False
    y = p.with_last(p.inp(0), sizes[2])
    p.cast(y, _FLOAT if node.op_type == "QAttention" else None, node.output[0])
    return None


def _bnsh(p, x, heads):
    """``[B, L, heads·h]`` → ``[B, heads, L, h]``."""
    return p.add("Transpose", [p.reshape(x, [0, 0, heads, -1])], perm=[0, 2, 1, 3])


def _present(node, p, k_bnsh, v_bnsh, past_k, past_v, first=1):
    for o, new, past in ((first, k_bnsh, past_k), (first + 1, v_bnsh, past_v)):
        if len(node.output) > o and node.output[o]:
            if past:
                p.add("Concat", [past, new], node.output[o], axis=2)
            else:
                p.add("Identity", [new], node.output[o])


@register("MultiHeadAttention")
def _p_mha(node, p):
    n = int(p.attr("num_heads"))
    q, k, v = p.inp(0), p.inp(1), p.inp(2)
    if not k:  # packed [B, S, N, 3, h]
        parts = [p.add("Gather", [q, p.const(np.array(i, np.int64))], axis=3) for i in range(3)]
        kb, vb = (p.add("Transpose", [x], perm=[0, 2, 1, 3]) for x in parts[1:])
        p.reshape(parts[0], [0, 0, -1], node.output[0])
        kb, vb = (p.add("Transpose", [x], perm=[0, 2, 1, 3]) for x in parts[1:])
    else:
        p.add("Identity", [q], node.output[0])  # Dv = Dq
        wants = any(o for o in node.output[1:3])
        rank = p.rank(k)
        if wants and rank is None:
            return False  # present shapes need the key's rank: next pass
        kb, vb = (k, v) if rank == 4 else (_bnsh(p, k, n), _bnsh(p, v, n))
    _present(node, p, kb, vb, p.inp(6), p.inp(7))
    return None


@register("GroupQueryAttention")
def _p_gqa(node, p):
    n, kvn = int(p.attr("num_heads")), int(p.attr("kv_num_heads"))
    q, k, v = p.inp(0), p.inp(1), p.inp(2)
    if k:
        p.add("Identity", [q], node.output[0])
        kb, vb = _bnsh(p, k, kvn), _bnsh(p, v, kvn)
    else:
        heads = p.reshape(q, [0, 0, n + 2 * kvn, -1])
        p.reshape(p.slice(heads, 0, n, 2), [0, 0, -1], node.output[0])
        kb, vb = (p.add("Transpose", [p.slice(heads, a, a + kvn, 2)], perm=[0, 2, 1, 3])
                  for a in (n, n + kvn))
    _present(node, p, kb, vb, p.inp(3), p.inp(4))


# -- mapping ------------------------------------------------------------------------------
def map_attention(b, node, base) -> None:
    """Add the operations of an attention-class node to builder ``b``."""
    from onnx import helper

    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    if node.op_type in ("Attention", "QAttention") and node.domain == "com.microsoft":
        return _ms_attention(b, node, base, a)
    if node.op_type == "MultiHeadAttention":
        return _mha(b, node, base, a)
    if node.op_type == "GroupQueryAttention":
        return _gqa(b, node, base, a)
    return _std_attention(b, node, base, a)


def _ms_attention(b, node, base, a) -> None:
    x = b.need_shape(node.input[0], node)
    if node.input[1] not in b.consts:
        raise UnsupportedOperatorError(
            f"ONNX operator {node.op_type!r} (node {node.name!r}) has a non-constant weight "
            f"{node.input[1]!r}; only constant weights map")
    w, origin = b.contrib_weight(node, 1, 7 if node.op_type == "QAttention" else None)
    n = int(a["num_heads"])
    sizes = a.get("qkv_hidden_sizes") or [w.shape[1] // 3] * 3
    dq, _dk, dv = (int(v) for v in sizes)
    bsz, s = int(np.prod(x[:-1])) // x[-2], int(x[-2])
    quant = node.op_type == "QAttention"
    pi, extra = (8, [5]) if quant else (4, [3, 5])  # past; mask / attention bias inputs
    past = node.input[pi] if len(node.input) > pi and node.input[pi] else ""
    p = b.need_shape(past, node)[3] if past else 0
    qkv = f"{node.name}/qkv_out"
    b.shapes[qkv] = (bsz, s, int(w.shape[1]))
    ins = [node.input[0]]
    op = GemmOp(**{**base, "name": f"{node.name}/qkv", "inputs": tuple(ins),
                   "outputs": (qkv,), "dtype": "float32"},
                m=bsz * s, k=int(w.shape[0]), n=int(w.shape[1]), groups=1,
                bias=len(node.input) > 2 and bool(node.input[2]),
                **b.contrib_weight_fields(node, 1, "kn", w[None], origin, op_name="/qkv"))
    b.add(op, node, outputs=[qkv])
    mask = [node.input[i] for i in extra if len(node.input) > i and node.input[i]
            and node.input[i] not in b.consts]
    _core(b, node, base, [qkv] + mask, [qkv] + ([past] if past else []), bsz, n, s, s + p,
          dq // n, dv // n)


def _mha(b, node, base, a) -> None:
    n = int(a["num_heads"])
    q = b.need_shape(node.input[0], node)
    key = node.input[1] if len(node.input) > 1 else ""
    bsz, s = int(q[0]), int(q[1])
    if not key:  # packed [B, S, N, 3, h]
        h = hv = int(q[-1])
        kv_len = s
        kv_in = []
    else:
        k, v = b.need_shape(key, node), b.need_shape(node.input[2], node)
        kv_len = int(k[1] if len(k) == 3 else k[2])
        h = int(q[-1]) // n
        hv = int(v[-1]) // n if len(v) == 3 else int(v[-1])
        kv_in = [key, node.input[2]]
    past = node.input[6] if len(node.input) > 6 and node.input[6] else ""
    p = b.need_shape(past, node)[2] if past else 0
    first = [node.input[0]] + kv_in
    if len(node.input) > 3 and node.input[3] and kv_in:
        out = f"{node.name}/biased"
        b.shapes[out] = q
        elems = bsz * s * n * h + bsz * kv_len * n * (h + hv)
        b.add(VectorOp(**{**base, "name": f"{node.name}/bias", "inputs": tuple(first),
                          "outputs": (out,)}, category="elementwise", elements=elems,
                       ops_per_element=1.0, in_elements=elems), node, outputs=[out])
        first = [out]
    rest = [t for t in node.input[4:6] if t and t not in b.consts]
    _core(b, node, base, first + rest, first + ([past] if past else []), bsz, n, s,
          kv_len + p, h, hv, new_kv=kv_len)


def _gqa(b, node, base, a) -> None:
    n, kvn = int(a["num_heads"]), int(a["kv_num_heads"])
    q = b.need_shape(node.input[0], node)
    bsz, s = int(q[0]), int(q[1])
    packed = not (len(node.input) > 1 and node.input[1])
    h = int(q[2]) // (n + 2 * kvn) if packed else int(q[2]) // n
    past = node.input[3] if len(node.input) > 3 and node.input[3] else ""
    p = b.need_shape(past, node)[2] if past else 0
    first = [t for t in node.input[:3] if t]
    if a.get("do_rotary", 0):
        out = f"{node.name}/rotated"
        b.shapes[out] = q
        elems = bsz * s * (n + kvn) * h
        b.add(VectorOp(**{**base, "name": f"{node.name}/rotary", "inputs": tuple(first),
                          "outputs": (out,)}, category="elementwise", elements=elems,
                       ops_per_element=float(CONTRIB_VECTOR["RotaryEmbedding"][1]),
                       in_elements=elems), node, outputs=[out])
        first = [out]
    _core(b, node, base, first, first + ([past] if past else []), bsz, n, s, s + p, h, h,
          kv_heads=kvn)


def _std_attention(b, node, base, a) -> None:
    q, k, v = (b.need_shape(t, node) for t in node.input[:3])
    if len(q) == 4:
        bsz, n, s, h = (int(x) for x in q)
        kv_len, hv, kvn = int(k[2]), int(v[3]), int(k[1])
    else:
        n, kvn = int(a.get("q_num_heads", 1)), int(a.get("kv_num_heads", 1))
        bsz, s, h = int(q[0]), int(q[1]), int(q[2]) // n
        kv_len, hv = int(k[1]), int(v[2]) // kvn
    past = node.input[4] if len(node.input) > 4 and node.input[4] else ""
    p = b.need_shape(past, node)[2] if past else 0
    first = [t for t in node.input[:4] if t and t not in b.consts]
    _core(b, node, base, first, list(node.input[:3]) + ([past] if past else []), bsz, n, s,
          kv_len + p, h, hv, kv_heads=kvn, new_kv=kv_len)


def _core(b, node, base, qk_in, av_in, bsz, n, s, t, h, hv, kv_heads=None,
          new_kv=None) -> None:
    """``{node}/qk`` → ``{node}/softmax`` → ``{node}/av`` (→ ``{node}/kv_cache``)."""
    from .onnx import VECTOR_COST

    new_kv = s if new_kv is None else new_kv
    if min(bsz, n, s, t, h, hv) < 1:
        raise ShapeError(f"node {node.name!r} ({node.op_type}): attention dims batch {bsz}, "
                         f"heads {n}, S {s}, T {t}, head sizes {h}/{hv} must be >= 1")
    scores, probs = f"{node.name}/scores", f"{node.name}/probs"
    b.shapes[scores] = b.shapes[probs] = (bsz, n, s, t)
    common = {**base, "dtype": "float32"}
    b.add(MatMulOp(**{**common, "name": f"{node.name}/qk", "inputs": tuple(qk_in),
                      "outputs": (scores,)}, m=s, k=h, n=t, batch=bsz * n), node,
          outputs=[scores])
    b.add(VectorOp(**{**common, "name": f"{node.name}/softmax", "inputs": (scores,),
                      "outputs": (probs,)}, category="softmax", elements=bsz * n * s * t,
                   ops_per_element=float(VECTOR_COST["Softmax"][1] + 2),
                   in_elements=bsz * n * s * t), node, outputs=[probs])
    out = node.output[0]
    b.add(MatMulOp(**{**common, "name": f"{node.name}/av",
                      "inputs": tuple(dict.fromkeys([probs] + [x for x in av_in[1:] if x])),
                      "outputs": (out,)}, m=s, k=t, n=hv, batch=bsz * n), node,
          outputs=[out])
    present = [o for o in node.output[1:3] if o]
    if present:  # the new keys and values appended to the cache
        nbytes = bsz * (kv_heads or n) * new_kv * (h + hv) * 4
        b.add(DataOp(**{**common, "name": f"{node.name}/kv_cache", "inputs": (out,),
                        "outputs": tuple(present)}, bytes=int(nbytes), free=False), node,
              outputs=present)
