"""Shape helpers of the ONNX front end: convolution padding and ``Einsum`` index sets."""

from __future__ import annotations

import numpy as np

from hwsim.errors import UnsupportedOperatorError

from ..graph import DTYPE_BYTES, DataOp, MatMulOp, VectorOp

__all__ = ["pads", "einsum"]


def attrs(node) -> dict:
    """The node's attributes by name (``onnx.helper.get_attribute_value``)."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def einsum(b, node, base):
    """Two-operand Einsum → an act×act product (``batch`` = indices in both inputs and the
    output, ``m``/``n`` = free indices of each side, ``k`` = contracted); one operand → a
    copy (transpose/diagonal) or a reduction. Weight sparsity is not detected here."""
    eq = attrs(node).get("equation", b"")
    eq = (eq.decode() if isinstance(eq, bytes) else str(eq)).replace(" ", "")
    lhs, _, out = eq.partition("->")
    terms = lhs.split(",")
    shapes = [b.need_shape(t, node) for t in node.input if t]
    if "..." in eq or not out or len(terms) != len(shapes) or len(terms) > 2:
        raise UnsupportedOperatorError(
            f"ONNX operator 'Einsum' (node {node.name!r}) with equation {eq!r}: only one or "
            "two operands with an explicit '->' output and no ellipsis map")
    size = {}
    for term, shp in zip(terms, shapes, strict=True):
        size.update(zip(term, shp, strict=False))
    prod = lambda idx: int(np.prod([size[i] for i in idx], dtype=np.int64))  # noqa: E731
    if len(terms) == 1:
        n_out, n_in = prod(out), prod(terms[0])
        if n_out < n_in:
            return VectorOp(**base, category="reduce", elements=n_out,
                            ops_per_element=n_in / max(n_out, 1), in_elements=n_in)
        return DataOp(**base, bytes=n_out * DTYPE_BYTES.get(base["dtype"], 4), free=False)
    a, b = terms
    batch = [i for i in out if i in a and i in b]
    m = [i for i in out if i in a and i not in b]
    n = [i for i in out if i in b and i not in a]
    k = [i for i in a if i in b and i not in out]
    return MatMulOp(**base, m=prod(m), k=prod(k), n=prod(n), batch=prod(batch))


def pads(a, in_hw, out_hw, kernel, stride, dil, transposed) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` from ``pads``, ``auto_pad`` or (ConvTranspose)
    ``output_shape``, as the ONNX operator definitions compute them."""
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    n_sp = 2 if len(a.get("kernel_shape", [0, 0])) == 2 else 1
    hw = range(2) if n_sp == 2 else range(1, 2)
    if transposed and (auto in ("SAME_UPPER", "SAME_LOWER") or "output_shape" in a):
        opad = list(a.get("output_padding", [0] * n_sp))
        opad = opad if len(opad) == 2 else [0] + opad
        res = [(0, 0), (0, 0)]
        for i in hw:
            total = (stride[i] * (in_hw[i] - 1) + opad[i] + (kernel[i] - 1) * dil[i] + 1
                     - out_hw[i])
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            res[i] = (lo, total - lo)
        return (res[0][0], res[1][0], res[0][1], res[1][1])
    if auto in ("SAME_UPPER", "SAME_LOWER") and not transposed:
        res = [(0, 0), (0, 0)]
        for i in hw:
            total = max((out_hw[i] - 1) * stride[i] + (kernel[i] - 1) * dil[i] + 1 - in_hw[i], 0)
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            res[i] = (lo, total - lo)
        return (res[0][0], res[1][0], res[0][1], res[1][1])
    p = list(a.get("pads", []))
    if not p:
        return (0, 0, 0, 0)
    if len(p) == 2:  # 1-d: (begin, end) of W
        return (0, p[0], 0, p[1])
    return (p[0], p[1], p[2], p[3])
