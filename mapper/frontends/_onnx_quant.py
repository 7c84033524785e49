"""ONNX Runtime's quantized operators (domain ``com.microsoft``) for the ONNX front end.

What ``onnxruntime.quantization`` writes besides the standard ``QLinearConv`` /
``QLinearMatMul`` / ``MatMulInteger`` / ``QuantizeLinear`` / ``DequantizeLinear``:

* QOperator format: ``QLinearAdd``, ``QLinearMul``, ``QLinearSigmoid``, ``QLinearLeakyRelu``,
  ``QLinearSoftmax`` (vector work: the float operator's cost plus :data:`REQUANT` for the input
  rescale and the output requantisation), ``QLinearConcat`` (a copy),
  ``QLinearGlobalAveragePool`` / ``QLinearAveragePool`` (pooling), and ``QGemm`` (a weight GEMM,
  weight minus its zero point).
* dynamic quantization: ``MatMulIntegerToFloat``, ``DynamicQuantizeMatMul`` (weight GEMMs).
* weight-only block quantization: ``MatMulNBits`` (``bits``-bit weights packed along K in
  blocks of ``block_size``, a scale and a zero point per block; the GEMM weight is the
  dequantized ``(q - zero_point) · scale``, so a stored value equal to its block's zero point is
  an exact zero).
* ``QuantizeLinear`` / ``DequantizeLinear`` in ``com.microsoft`` (4-bit and 16-bit types).

For each: a shape-inference stand-in (:mod:`._onnx_proxy`), and a reference implementation
(:func:`reference_ops`) so the end-to-end check can run the node.
"""

from __future__ import annotations

import numpy as np

from ._onnx_proxy import register

__all__ = ["REQUANT", "QLINEAR_VECTOR", "CONTRIB_GEMM_INPUTS", "unpack_nbits", "NBitsOrigin",
           "reference_ops", "quant_range", "map_nbits"]

#: Extra lane operations per output element of a QOperator element-wise op: rescale of the
#: inputs (one multiply-add each, fused) and requantisation of the output (round + clip).
REQUANT = 3
#: QOperator element-wise ops → the float operator whose cost they add :data:`REQUANT` to.
QLINEAR_VECTOR = {"QLinearAdd": "Add", "QLinearMul": "Mul", "QLinearSigmoid": "Sigmoid",
                  "QLinearLeakyRelu": "LeakyRelu", "QLinearSoftmax": "Softmax"}
#: Contrib GEMMs: ``op_type -> (weight input, weight zero point input, bias input)``.
CONTRIB_GEMM_INPUTS = {"QGemm": (3, 5, 6), "MatMulIntegerToFloat": (1, 5, 6),
                       "DynamicQuantizeMatMul": (1, 3, 4)}
_FLOAT = 1


def quant_range(dtype) -> tuple[int, int]:
    """``(min, max)`` of an integer dtype, including ml_dtypes' 4-bit types."""
    name = np.dtype(dtype).name
    if name in ("int4", "uint4"):
        return (-8, 7) if name == "int4" else (0, 15)
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


# -- shape-inference stand-ins ------------------------------------------------------------
@register("QLinearAdd", "QLinearMul")
def _p_binary(node, p):
    a = p.cast(p.inp(0), _FLOAT)
    b = p.cast(p.inp(3), _FLOAT)
    s = p.add("Add", [a, b])
    p.cast(s, p.elem(p.inp(7)) or p.elem(p.inp(2)), node.output[0])


@register("QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax")
def _p_unary(node, p):
    p.cast(p.inp(0), p.elem(p.inp(4)) or p.elem(p.inp(2)), node.output[0])


@register("QLinearConcat")
def _p_concat(node, p):
    xs = [p.cast(node.input[i], _FLOAT) for i in range(2, len(node.input), 3)]
    cat = p.add("Concat", xs, axis=int(p.attr("axis", 0)))
    p.cast(cat, p.elem(p.inp(1)), node.output[0])


@register("QLinearGlobalAveragePool", "QLinearAveragePool")
def _p_pool(node, p):
    x = p.cast(p.inp(0), _FLOAT)
    last = bool(p.attr("channels_last", 0))
    if last:
        x = p.add("Transpose", [x], perm=[0, 3, 1, 2])
    if node.op_type == "QLinearGlobalAveragePool":
        y = p.add("GlobalAveragePool", [x])
    else:
        keys = ("kernel_shape", "strides", "pads", "auto_pad", "ceil_mode",
                "count_include_pad")
        y = p.add("AveragePool", [x], **{k: p.attr(k) for k in keys if p.attr(k) is not None})
    if last:
        y = p.add("Transpose", [y], perm=[0, 2, 3, 1])
    p.cast(y, p.elem(p.inp(4)) or p.elem(p.inp(2)), node.output[0])


@register("QGemm")
def _p_qgemm(node, p):
    y = p.add("Gemm", [p.cast(p.inp(0), _FLOAT), p.cast(p.inp(3), _FLOAT)],
              transA=int(p.attr("transA", 0)), transB=int(p.attr("transB", 0)))
    p.cast(y, p.elem(p.inp(8)) if p.inp(8) else p.elem(p.inp(1)), node.output[0])


@register("MatMulIntegerToFloat", "DynamicQuantizeMatMul")
def _p_int_to_float(node, p):
    scale = p.inp(2)
    y = p.add("MatMul", [p.cast(p.inp(0), _FLOAT), p.cast(p.inp(1), _FLOAT)])
    p.cast(y, p.elem(scale), node.output[0])


@register("MatMulNBits")
def _p_nbits(node, p):
    p.with_last(p.inp(0), int(p.attr("N")), node.output[0])


@register("QuantizeLinear")
def _p_quantize(node, p):
    p.cast(p.inp(0), p.elem(p.inp(2)) if p.inp(2) else 2, node.output[0])


@register("DequantizeLinear")
def _p_dequantize(node, p):
    p.cast(p.inp(0), p.elem(p.inp(1)), node.output[0])


# -- MatMulNBits weights ------------------------------------------------------------------
def _unpack_bits(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Little-endian ``bits``-bit fields of each row of ``packed`` (uint8), ``count`` per row."""
    per = 8 // bits
    b = packed.reshape(packed.shape[0], -1).astype(np.uint8)
    fields = [(b >> (bits * i)) & ((1 << bits) - 1) for i in range(per)]
    return np.stack(fields, axis=-1).reshape(b.shape[0], -1)[:, :count]


def unpack_nbits(node, consts, attrs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``MatMulNBits`` weight as ``(q, zero, scale, block)``, each ``(N, K)``.

    ``q`` are the stored integers, ``zero`` the zero point and ``scale`` the scale of each
    entry's block, ``block`` its block index (``g_idx`` when given, else ``k // block_size``).
    The dequantized weight is ``((q - zero) * scale).T`` (``K × N``).
    """
    k, n, bits, bs = (int(attrs["K"]), int(attrs["N"]), int(attrs.get("bits", 4)),
                      int(attrs["block_size"]))
    nblk = -(-k // bs)
    q = _unpack_bits(np.asarray(consts[node.input[1]]), bits, nblk * bs)[:, :k]
    scale = np.asarray(consts[node.input[2]]).reshape(n, nblk)
    zt = node.input[3] if len(node.input) > 3 else ""
    if not zt:
        zero = np.full((n, nblk), 1 << (bits - 1), np.int32)
    else:
        z = np.asarray(consts[zt])
        zero = (_unpack_bits(z.reshape(n, -1), bits, nblk).astype(np.int32)
                if z.dtype == np.uint8 else z.reshape(n, nblk))
    gi = node.input[4] if len(node.input) > 4 else ""
    block = (np.asarray(consts[gi]).astype(np.int64) if gi
             else np.arange(k, dtype=np.int64) // bs)
    return q.astype(np.int32), zero[:, block], scale[:, block], block


class NBitsOrigin:
    """Where a ``MatMulNBits`` weight lives: its packed initializer. :meth:`write` stores a
    pruned entry as its block's zero point (an exact zero of the dequantized weight)."""

    kind = "initializer"
    ops: list = []

    def __init__(self, name: str, bits: int, zero: np.ndarray):
        self.name, self.bits, self.zero_nk = name, bits, zero

    zero = 0

    def write(self, cur: np.ndarray, keep_kn: np.ndarray) -> np.ndarray:
        """The packed bytes ``cur`` with every entry not in ``keep_kn`` (``K × N``) zeroed."""
        from hwsim.errors import ConfigError

        if self.zero_nk.dtype.kind == "f" and np.any(self.zero_nk != np.round(self.zero_nk)):
            raise ConfigError(f"MatMulNBits weight {self.name!r} has fractional zero points; "
                              "a pruned entry cannot be stored exactly")
        n, k = self.zero_nk.shape
        per = 8 // self.bits
        mask = (1 << self.bits) - 1
        flat = cur.reshape(n, -1).astype(np.uint8)
        q = _unpack_bits(flat, self.bits, flat.shape[1] * per)
        q[:, :k] = np.where(keep_kn.T, q[:, :k], self.zero_nk.astype(np.uint8) & mask)
        shifted = q.reshape(n, -1, per).astype(np.uint16) << (self.bits * np.arange(per))
        return shifted.sum(axis=-1).astype(np.uint8).reshape(cur.shape)

    def to_origin_layout(self, mask: np.ndarray) -> np.ndarray:
        return mask


# -- reference implementations (for the end-to-end check) ---------------------------------
def _deq(x, s, z):
    z = 0 if z is None else np.asarray(z).astype(np.int32)
    return ((np.asarray(x).astype(np.int32) - z) * np.asarray(s)).astype(np.float32)


def _q(y, s, z):
    dt = np.asarray(z).dtype if z is not None else np.dtype(np.uint8)
    lo, hi = quant_range(dt)
    zz = 0 if z is None else np.asarray(z).astype(np.int64)
    return np.clip(np.rint(y / np.asarray(s)).astype(np.int64) + zz, lo, hi).astype(dt)


def reference_ops() -> list:
    """``onnx.reference`` operator classes for the ops of this module (``com.microsoft``)."""
    from onnx.reference.op_run import OpRun

    class _MS(OpRun):
        op_domain = "com.microsoft"

        def run(self, *args, **kwargs):  # values for the named outputs only
            res = super().run(*args, **kwargs)
            return tuple(r if n else None for n, r in zip(self.onnx_node.output, res,
                                                          strict=False))

    def unary(name, fn):
        def _run(self, x, xs, xz=None, ys=None, yz=None, **attrs):
            return (_q(fn(_deq(x, xs, xz), attrs), ys, yz),)
        return type(name, (_MS,), {"_run": _run})

    def softmax(v, attrs):
        e = np.exp(v - v.max(axis=attrs.get("axis") or -1, keepdims=True))
        return e / e.sum(axis=attrs.get("axis") or -1, keepdims=True)

    def binary(name, fn):
        def _run(self, a, a_s, a_z, b, b_s, b_z, c_s, c_z=None):
            return (_q(fn(_deq(a, a_s, a_z), _deq(b, b_s, b_z)), c_s, c_z),)
        return type(name, (_MS,), {"_run": _run})

    class QLinearConcat(_MS):
        def _run(self, ys, yz, *xs, axis=None):
            parts = [_deq(xs[i], xs[i + 1], xs[i + 2]) for i in range(0, len(xs), 3)]
            return (_q(np.concatenate(parts, axis=axis), ys, yz),)

    class QLinearGlobalAveragePool(_MS):
        def _run(self, x, xs, xz, ys, yz, channels_last=None):
            ax = (1, 2) if channels_last else tuple(range(2, np.ndim(x)))
            return (_q(_deq(x, xs, xz).mean(axis=ax, keepdims=True), ys, yz),)

    class QLinearAveragePool(_MS):
        def _run(self, x, xs, xz, ys, yz, channels_last=None, **attrs):
            from onnx import helper

            from ._onnx_fold import run_node

            v = _deq(x, xs, xz)
            v = v.transpose(0, 3, 1, 2) if channels_last else v
            node = helper.make_node("AveragePool", ["v"], ["y"],
                                    **{k: a for k, a in attrs.items() if a is not None})
            y = run_node(node, {"v": v}, {"": 19})[0]
            return (_q(y.transpose(0, 2, 3, 1) if channels_last else y, ys, yz),)

    ops = [unary("QLinearSigmoid", lambda v, a: 1 / (1 + np.exp(-v))),
           unary("QLinearLeakyRelu",
                 lambda v, a: np.where(v >= 0, v, v * (0.01 if a.get("alpha") is None
                                                       else a["alpha"]))),
           unary("QLinearSoftmax", softmax),
           binary("QLinearAdd", np.add), binary("QLinearMul", np.multiply),
           QLinearConcat, QLinearGlobalAveragePool, QLinearAveragePool]
    return ops + _gemm_reference_ops(_MS)


def _gemm_reference_ops(base) -> list:
    from ._onnx_fold import run_node

    class QGemm(base):
        def _run(self, a, a_s, a_z, b, b_s, b_z, c=None, y_s=None, y_z=None, alpha=None,
                 transA=None, transB=None):
            av = np.asarray(a).astype(np.int64) - np.asarray(a_z).astype(np.int64)
            bz = np.asarray(b_z).astype(np.int64)
            bv = np.asarray(b).astype(np.int64) - (bz.reshape(-1, 1) if transB and bz.size > 1
                                                   else bz)
            acc = (av.T if transA else av) @ (bv.T if transB else bv)
            y = (acc * (1.0 if alpha is None else alpha) + (0 if c is None else c)) \
                * (np.asarray(a_s) * np.asarray(b_s))
            y = y.astype(np.float32)
            return (y,) if y_s is None else (_q(y, y_s, y_z),)

    class MatMulIntegerToFloat(base):
        def _run(self, a, b, a_s, b_s, a_z=None, b_z=None, bias=None):
            y = (np.asarray(a).astype(np.int64) - (0 if a_z is None else np.int64(a_z))) @ \
                (np.asarray(b).astype(np.int64) - (0 if b_z is None else
                                                   np.asarray(b_z).astype(np.int64)))
            y = (y * (np.asarray(a_s) * np.asarray(b_s))).astype(np.asarray(a_s).dtype)
            return (y if bias is None else y + bias,)

    class DynamicQuantizeMatMul(base):
        def _run(self, a, b, b_s, b_z=None, bias=None):
            from onnx import helper

            node = helper.make_node("DynamicQuantizeLinear", ["a"], ["q", "s", "z"])
            q, s, z = run_node(node, {"a": a}, {"": 11})
            return MatMulIntegerToFloat._run(self, q, b, s, b_s, z, b_z, bias)

    class MatMulNBits(base):
        def _run(self, a, b, scales, zp=None, g_idx=None, bias=None, **attrs):
            consts = {"b": b, "s": scales, "z": zp, "g": g_idx}
            from onnx import helper

            node = helper.make_node("MatMulNBits", ["a", "b", "s"] + (["z"] if zp is not None
                                                                     else [""])
                                    + (["g"] if g_idx is not None else []), ["y"])
            q, zero, scale, _ = unpack_nbits(node, consts, attrs)
            w = ((q - zero) * scale).T.astype(np.asarray(a).dtype)
            y = np.asarray(a) @ w
            return (y if bias is None else y + bias,)

    class QuantizeLinear(base):
        def _run(self, x, scale, zero_point=None, axis=None, block_size=None, **_):
            from ._onnx_fold import dq_broadcast

            s = dq_broadcast(scale, np.shape(x), axis, block_size)
            z = None if zero_point is None else dq_broadcast(zero_point, np.shape(x), axis,
                                                             block_size)
            return (_q(np.asarray(x), s, z),)

    class DequantizeLinear(base):
        def _run(self, x, scale, zero_point=None, axis=None, block_size=None, **_):
            from ._onnx_fold import dq_broadcast

            s = dq_broadcast(scale, np.shape(x), axis, block_size)
            z = None if zero_point is None else dq_broadcast(zero_point, np.shape(x), axis,
                                                             block_size)
            return (_deq(x, s, z).astype(np.asarray(scale).dtype),)

    return [QGemm, MatMulIntegerToFloat, DynamicQuantizeMatMul, MatMulNBits, QuantizeLinear,
            DequantizeLinear]


def map_nbits(b, node, base):
    """``MatMulNBits`` → a weight GEMM ``rows × K × N`` whose weight is the dequantized
    ``(q - zero_point) · scale`` (``K × N``); written back into the packed initializer."""
    from hwsim.errors import UnsupportedOperatorError

    from ..graph import GemmOp
    from ._onnx_ops import attrs as node_attrs

    a = node_attrs(node)
    missing = [t for t in node.input[1:5] if t and t not in b.consts]
    if missing:
        raise UnsupportedOperatorError(
            f"ONNX operator 'MatMulNBits' (node {node.name!r}) has non-constant weight inputs "
            f"{missing}; only constant packed weights map")
    q, zero, scale, _ = unpack_nbits(node, b.consts, a)
    w = ((q - zero) * scale).T.astype(np.float32)
    x = b.need_shape(node.input[0], node)
    org = b.origins.get(node.input[1])
    origin = (NBitsOrigin(org.name, int(a.get("bits", 4)), zero)
              if org is not None and org.kind == "initializer" and not org.ops else None)
    b._zero = None
    fields = b.contrib_weight_fields(node, 1, "kn", w[None], origin)
    b.weights[node.name]["shape"] = tuple(w.shape)
    bias = len(node.input) > 5 and bool(node.input[5])
    return GemmOp(**base, m=int(np.prod(x[:-1], dtype=np.int64)), k=int(a["K"]), n=int(a["N"]),
                  groups=1, bias=bias, **fields)
