"""Weight sparsity of a graph: detect it from values, prune to a spec, report, write back to ONNX.

All weights are in GEMM form ``(groups, k, n)`` (:class:`mapper.graph.GemmOp`): N:M groups run
along ``k``, the reduction axis (for a convolution ``W[co]`` flattened row-major over
``(Cin/g, kh, kw)``; for ``MatMul``/``Gemm`` ``K`` after ``transB``). Block tiles are
``b × b`` squares of each group's ``k × n`` matrix.

Metadata bytes (:func:`sparsity_report`): N:M stores ``ceil(log2 m)`` index bits per kept slot
(:func:`hwsim.sparsity.nm_metadata_bits`); block sparsity a one-bit-per-tile bitmap;
unstructured a CSC index: a ``ceil(log2 k)``-bit row index per nonzero plus a 32-bit pointer
per column and group; dense none.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hwsim.errors import ConfigError
from hwsim.sparsity import (
    BlockSparsity,
    Dense,
    NMPattern,
    Unstructured,
    bdwp_masks,
    nm_metadata_bits,
    parse_sparsity,
    prune_nm,
    unstructured_mask,
)

from .graph import GemmOp, OpGraph

__all__ = ["detect_sparsity", "prune_graph", "sparsity_report", "metadata_bytes", "bdwp_pair",
           "pruned_onnx_model", "write_pruned_onnx", "NM_CANDIDATES", "BLOCK_CANDIDATES",
           "SLOT_USE"]

#: Group sizes tried by :func:`detect_sparsity` (smallest first).
NM_CANDIDATES = (2, 4, 8, 16, 32)
#: Block sides tried by :func:`detect_sparsity` (largest first).
BLOCK_CANDIDATES = (32, 16, 8, 4, 2)
#: A structured pattern is reported only if the weight fills at least this fraction of the
#: slots it allows (``density >= SLOT_USE * n/m``): a few extra natural zeros are fine, a
#: random unstructured weight that happens to satisfy a loose ``45:64`` is not N:M.
SLOT_USE = 0.9


def _gkn(w) -> np.ndarray:
    w = np.asarray(w)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise ConfigError(f"weight must be (groups, k, n) or (k, n), got shape {w.shape}")
    return w


def detect_sparsity(weight_gkn) -> tuple[Any, float]:
    """Sparsity of a GEMM-form weight, detected from its values (never assumed).

    Tries, in order: N:M along ``k`` for ``m`` in :data:`NM_CANDIDATES` (the lowest ``n/m``
    that every group satisfies; ties → smaller ``m``), block sparsity for ``b`` in
    :data:`BLOCK_CANDIDATES` (all zeros in whole ``b × b`` tiles), then unstructured density.
    A structured pattern counts only when the weight uses ``>= SLOT_USE`` of its slots.

    Parameters
    ----------
    weight_gkn : array_like
        Shape ``(groups, k, n)`` (or ``(k, n)``).

    Returns
    -------
    (spec, density)
        ``Dense()``, ``NMPattern``, ``BlockSparsity`` or ``Unstructured``, and the nonzero
        fraction.
    """
    w = _gkn(weight_gkn)
    size = w.size
    nnz = int(np.count_nonzero(w))
    density = nnz / size if size else 1.0
    if nnz == size:
        return Dense(), 1.0
    if nnz == 0:
        return Unstructured(1.0 / size), 0.0
    g, k, n = w.shape
    best = None
    nz = w != 0
    for m in NM_CANDIDATES:
        if m > k:
            break
        worst = _worst_group(nz, m)
        if worst < m and density >= SLOT_USE * worst / m:
            if best is None or worst / m < best.n / best.m:
                best = NMPattern(max(worst, 1), m)
    if best is not None:
        return best, density
    for b in BLOCK_CANDIDATES:
        if b > min(k, n):
            continue
        tiles = _tiles(nz, b)
        tile_density = float(tiles.mean())
        covered = min(int(tiles.sum()) * b * b, size)
        if tile_density < 1 and covered and nnz >= SLOT_USE * covered:
            return BlockSparsity(b, tile_density), density
    return Unstructured(density), density


def _worst_group(nz: np.ndarray, m: int) -> int:
    """Most nonzeros in one group of ``m`` along axis 1 of ``nz`` (the tail group included)."""
    g, k, n = nz.shape
    full = k // m
    worst = int(nz[:, :full * m].reshape(g, full, m, n).sum(axis=2, dtype=np.int32).max()) \
        if full else 0
    if k % m:
        worst = max(worst, int(nz[:, full * m:].sum(axis=1).max()))
    return worst


def _tiles(nz: np.ndarray, b: int) -> np.ndarray:
    """``(g, ceil(k/b), ceil(n/b))``: which ``b × b`` tiles of each group hold a nonzero."""
    g, k, n = nz.shape
    rb, cb = -(-k // b), -(-n // b)
    if k % b:
        nz = np.concatenate([nz, np.zeros((g, rb * b - k, n), dtype=bool)], axis=1)
    rows = nz.reshape(g, rb, b, n).any(axis=2)
    if n % b:
        rows = np.concatenate([rows, np.zeros((g, rb, cb * b - n), dtype=bool)], axis=2)
    return rows.reshape(g, rb, cb, b).any(axis=3)


def _spec(sparsity) -> Any:
    if isinstance(sparsity, str):
        return parse_sparsity(sparsity)
    if not isinstance(sparsity, (Dense, NMPattern, BlockSparsity, Unstructured)):
        raise ConfigError(
            "sparsity must be 'dense', 'N:M', 'block:BxB:D', 'unstructured:D' or a spec object, "
            f"not {sparsity!r}")
    return sparsity


def _declared_density(spec, k: int) -> float:
    if isinstance(spec, NMPattern):
        return spec.effective_length(k) / k
    return float(spec.density)


def prune_graph(graph: OpGraph, sparsity, *, scope: str = "layer", seed: int = 0) -> OpGraph:
    """A new graph whose GEMM weights are pruned to ``sparsity`` (by magnitude).

    Parameters
    ----------
    graph : OpGraph
        Not modified.
    sparsity : str or spec
        ``dense`` (run the engines in dense mode: weights unchanged, ``sparsity = Dense()``,
        recorded in ``meta["sparsity_mode"]``), ``N:M`` (along ``k`` of every group),
        ``block:BxB:D`` (per group's ``k × n``), ``unstructured:D``.
    scope : {"layer", "global"}
        For unstructured: keep ``D`` of each layer's weights, or ``D`` of all weights with one
        magnitude threshold. N:M is local by definition; block pruning is per layer only.
    seed : int
        Tie-break seed of block pruning (recorded in ``meta``).

    Returns
    -------
    OpGraph
        Same nodes and edges; GEMM ops carry pruned weights, ``sparsity`` = the spec and
        ``density`` = the measured nonzero fraction (``n/m``-implied for weightless ops).
    """
    spec = _spec(sparsity)
    if scope not in ("layer", "global"):
        raise ConfigError(f"scope must be 'layer' or 'global', got {scope!r}")
    if scope == "global" and isinstance(spec, BlockSparsity):
        raise ConfigError("scope='global' applies to unstructured sparsity; block pruning "
                          "is per layer (use scope='layer')")
    out = _copy(graph)
    gemms = out.gemm_ops()
    thresh = None
    if scope == "global" and isinstance(spec, Unstructured):
        thresh = _global_threshold([o.weight for o in gemms if o.weight is not None], spec)
    for op in gemms:
        if isinstance(spec, Dense):
            out.replace(op.replace(sparsity=Dense()))
            continue
        if op.weight is None:
            out.replace(op.replace(sparsity=spec, density=_declared_density(spec, op.k)))
            continue
        w = op.weight
        if isinstance(spec, NMPattern):
            pw = prune_nm(w, spec, axis=1)
        elif isinstance(spec, BlockSparsity):
            pw = np.stack([np.where(_block_mask(wg, spec, seed), wg, 0).astype(w.dtype)
                           for wg in w])
        elif thresh is not None:
            pw = np.where(_abs(w) >= thresh, w, np.zeros((), w.dtype))
        else:
            pw = np.where(unstructured_mask(w, spec.density), w, np.zeros((), w.dtype))
        dens = float(np.count_nonzero(pw)) / pw.size
        out.replace(op.replace(weight=np.ascontiguousarray(pw), sparsity=spec, density=dens))
    out.meta["sparsity_mode"] = "dense" if isinstance(spec, Dense) else str(spec)
    out.meta["prune"] = dict(sparsity=str(spec), scope=scope, seed=seed)
    return out


def _block_mask(wg, spec, seed):
    from hwsim.sparsity import block_mask

    return block_mask(wg, spec.block, spec.density, seed=seed)


def _abs(w):
    return np.abs(w.astype(np.float64)) if w.dtype.kind in "iu" else np.abs(w)


def _global_threshold(weights, spec) -> float:
    if not weights:
        return 0.0
    mags = np.concatenate([_abs(w).ravel() for w in weights])
    keep = min(mags.size, max(1, round(spec.density * mags.size)))
    return float(np.partition(mags, mags.size - keep)[mags.size - keep])


def _copy(graph: OpGraph) -> OpGraph:
    out = OpGraph(graph.name)
    out.g = graph.g.copy()
    for name in out.g.nodes:  # node attribute dicts are shallow-copied by networkx
        out.g.nodes[name]["op"] = graph.g.nodes[name]["op"]
    out.inputs = dict(graph.inputs)
    out.outputs = dict(graph.outputs)
    out.meta = dict(graph.meta)
    return out


def metadata_bytes(op: GemmOp) -> int:
    """Index metadata of ``op``'s weight in bytes (see the module docstring)."""
    spec = op.sparsity
    shape = (op.groups, op.k, op.n)
    if isinstance(spec, NMPattern):
        return -(-nm_metadata_bits(shape, spec, axis=1) // 8)
    if isinstance(spec, BlockSparsity):
        tiles = op.groups * -(-op.k // spec.block) * -(-op.n // spec.block)
        return -(-tiles // 8)
    if isinstance(spec, Unstructured):
        nnz = (int(np.count_nonzero(op.weight)) if op.weight is not None
               else round(spec.density * op.params))
        bits = nnz * max(1, math.ceil(math.log2(max(op.k, 2)))) + op.groups * (op.n + 1) * 32
        return -(-bits // 8)
    return 0


def sparsity_report(graph: OpGraph) -> list[dict[str, Any]]:
    """Per GEMM layer: shape, params, nonzeros, density, sparsity spec, metadata bytes."""
    rows = []
    for op in graph.gemm_ops():
        nnz = (int(np.count_nonzero(op.weight)) if op.weight is not None
               else round(op.density * op.params))
        rows.append(dict(name=op.name, op=op.op_type, groups=op.groups, m=op.m, k=op.k, n=op.n,
                         params=op.params, nnz=nnz, density=nnz / op.params,
                         sparsity=str(op.sparsity if op.sparsity is not None else Dense()),
                         metadata_bytes=metadata_bytes(op)))
    return rows


def bdwp_pair(op: GemmOp, pattern) -> tuple[np.ndarray, np.ndarray]:
    """SAT's BDWP masks of ``op``'s GEMM-form weight (``(groups, k, n)``).

    The forward mask is N:M along ``k`` (axis 1), the backward-data mask along ``n``
    (axis 2), both from the dense weight (:func:`hwsim.sparsity.bdwp_masks`).

    Raises
    ------
    ConfigError
        ``op`` has no weight array.
    """
    if op.weight is None:
        raise ConfigError(f"op {op.name!r} has no weight array; BDWP masks need weights")
    return bdwp_masks(op.weight, pattern, forward_axis=1, backward_axis=2)




def _node_layout(op: GemmOp, layout: str, shape: tuple[int, ...]) -> np.ndarray:
    """``op``'s GEMM-form weight back in the ONNX node's weight layout ``shape``."""
    w = op.weight
    if layout == "oihw":  # (g, k, n) -> (g, n, k) -> (cout, cin/g, kh, kw)
        return np.ascontiguousarray(w.transpose(0, 2, 1)).reshape(shape)
    if layout == "nk":  # Gemm transB
        return np.ascontiguousarray(w[0].T).reshape(shape)
    return w.reshape(shape)  # "kn" (MatMul, Gemm) and "iohw" (ConvTranspose) are row-major


def pruned_onnx_model(graph: OpGraph):
    """The graph's source ONNX model with each weight replaced by the graph's (pruned) weight.

    Each weight is written where it came from, in its original layout (Conv ``OIHW``,
    ``Gemm`` ``B`` as stored, transposed when ``transB``): into the initializer or
    ``Constant`` node it was traced to (through ``Cast``/``Mul``/``DequantizeLinear``/
    ``Transpose``/``Reshape`` chains; a pruned entry of a quantized weight becomes its zero
    point), otherwise into a new initializer ``{tensor}__pruned_{node}`` the node reads.

    Raises
    ------
    ConfigError
        ``graph`` did not come from :func:`mapper.frontends.onnx.load_onnx`.
    """
    from hwsim.errors import require

    onnx = require("onnx", "onnx", "writing a pruned ONNX model")
    from onnx import numpy_helper

    from .frontends.onnx import node_names

    if graph.meta.get("front_end") != "onnx" or "onnx_source" not in graph.meta:
        raise ConfigError(f"graph {graph.name!r} was not read from ONNX (front_end="
                          f"{graph.meta.get('front_end')!r}); only ONNX graphs write back")
    model = onnx.ModelProto()
    model.CopyFrom(graph.meta["onnx_source"])
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    nodes = dict(zip(node_names(model), g.node, strict=True))
    for name, info in graph.meta.get("onnx_weights", {}).items():
        if name not in graph.g:
            continue
        op = graph.op(name)
        if op.weight is None:
            continue
        w_node = _node_layout(op, info["layout"], info["shape"])
        org = info.get("origin")
        target = (inits.get(org.name) if org is not None and org.kind == "initializer"
                  else _const_tensor(consts.get(org.name)) if org is not None else None)
        if target is not None and hasattr(org, "write"):  # packed (MatMulNBits) weights
            new = org.write(numpy_helper.to_array(target), w_node != 0)
            target.CopyFrom(numpy_helper.from_array(new, target.name))
            continue
        if target is not None:
            cur = numpy_helper.to_array(target)
            keep = org.to_origin_layout(w_node != 0)
            if keep.shape == cur.shape:
                zero = np.broadcast_to(np.asarray(org.zero, dtype=cur.dtype), cur.shape)
                new = np.where(keep, cur, zero).astype(cur.dtype)
                target.CopyFrom(numpy_helper.from_array(new, target.name))
                continue
        node = nodes[info.get("node", name)]
        tname = f"{info['tensor']}__pruned_{name.replace('/', '_')}"
        if info.get("zero_point") is not None:  # integer op: stored = effective + zero point
            zp, dtype = info["zero_point"]
            w_node = (w_node + zp).astype(dtype)
        g.initializer.append(numpy_helper.from_array(w_node, tname))
        node.input[info["index"]] = tname
    return model


def _const_tensor(node):
    if node is None:
        return None
    for a in node.attribute:
        if a.name == "value":
            return a.t
    return None


def write_pruned_onnx(graph: OpGraph, out_path):
    """Write the pruned model (:func:`pruned_onnx_model`) as a valid ONNX file, atomically.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ConfigError
        ``graph`` is not an ONNX graph, or the written model fails ``onnx.checker``.
    """
    import onnx

    from hwsim._io import atomic_write_bytes

    model = pruned_onnx_model(graph)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ConfigError(f"the pruned model fails onnx.checker: {' '.join(str(exc).split())}",
                          source=str(out_path)) from None
    return atomic_write_bytes(out_path, model.SerializeToString())
