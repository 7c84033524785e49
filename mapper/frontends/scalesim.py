"""SCALE-Sim v3 topology CSV front end, read with SCALE-Sim's own conventions.

A topology is SCALE-Sim's list of layers, in one of two forms told apart by the header:

* **conv form** (``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width,
  Channels, Num Filter, Strides, [Sparsity,]``): each row a convolution, kept as a
  :class:`~mapper.graph.ConvOp`;
* **GEMM form** (``Layer, M, N, K, [Sparsity,]``, SCALE-Sim's ``-i gemm``): each row an
  ``M × K`` by ``K × N`` product, kept as a :class:`~mapper.graph.GemmOp`.

SCALE-Sim's conventions (``scalesim/topology_utils.py``), reproduced so that layer ``i`` here
is its ``LayerID`` ``i``: the first line is a header, blank lines are skipped, the **last
field of every row is dropped** (rows must end with a comma, or their last column is lost);
the output size is ``ceil((ifmap - filter + stride) / stride)`` per axis with one stride for
both axes (no padding: the overhang is a bottom/right pad on the op); ``K = filter_h ·
filter_w · channels``; a conv layer whose name contains ``DP`` is depthwise and becomes
``channels`` SCALE-Sim layers ``<name>Channel_<c>`` of one channel and ``num_filt`` filters
each — here one ConvOp with ``groups = channels``, whose per-group GEMM is exactly one of those
layers. The ``Sparsity`` column (``n:m``) is the declared layer-wise N:M pattern of the
filters (``1:1``: dense); SCALE-Sim applies it only with ``SparsitySupport = true``, as an
engine does only when it supports N:M.

SCALE-Sim has no dataflow graph: it runs the layers one after the other. :func:`load_topology`
chains them in file order (``chain=True``: layer ``i`` reads layer ``i-1``'s output) or keeps
them independent, each reading its own ifmap as a graph input. Elements are one byte
(SCALE-Sim counts words).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

from hwsim.errors import InputFileError, ShapeError

from ..graph import ConvOp, GemmOp, MatMulOp, Op, OpGraph

__all__ = [
    "ScaleSimLayer",
    "scalesim_conv_dims",
    "scalesim_topology_layers",
    "scalesim_gemm_shape",
    "load_topology",
    "write_topology",
    "CONV_FIELDS",
    "GEMM_FIELDS",
]

#: Column names of the two forms (without the optional ``Sparsity``).
CONV_FIELDS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
               "Channels", "Num Filter", "Strides")
GEMM_FIELDS = ("Layer", "M", "N", "K")


class ScaleSimLayer(NamedTuple):
    """One layer as SCALE-Sim v3 simulates it (one row of its ``COMPUTE_REPORT.csv``)."""

    name: str
    p: int
    k: int
    n: int
    sparsity: str  # the topology's "n:m" column, "1:1" when absent


class _Row(NamedTuple):
    line: int
    name: str
    values: tuple[int, ...]  # conv: ih, iw, fh, fw, ch, nf, stride; gemm: M, N, K
    sparsity: str


def scalesim_conv_dims(
    ifmap_h: int, ifmap_w: int, filt_h: int, filt_w: int, channels: int, num_filt: int,
    stride_h: int = 1, stride_w: int | None = None,
) -> tuple[int, int, int]:
    """``(P, K, N)`` of a conv layer as SCALE-Sim's topology utilities compute them.

    ``ofmap = ceil((ifmap - filter + stride) / stride)`` per axis (no padding), ``P`` the
    ofmap pixels, ``K = filt_h · filt_w · channels``, ``N = num_filt``. A GEMM row
    ``M, N, K`` maps to ``ifmap = M × K``, ``filter = 1 × K``, one channel: ``P = M``.
    """
    oh, ow = _ofmap(ifmap_h, ifmap_w, filt_h, filt_w, stride_h, stride_w)
    return oh * ow, filt_h * filt_w * channels, num_filt


def _ofmap(ih: int, iw: int, fh: int, fw: int, sh: int, sw: int | None = None):
    sw = sh if sw is None else sw
    return math.ceil((ih - fh + sh) / sh), math.ceil((iw - fw + sw) / sw)


def _form(header: str, source: str) -> bool:
    """True for the GEMM form, False for the conv form (from the header line)."""
    cols = [c.strip().lower() for c in header.split(",")]
    if cols[1:4] == ["m", "n", "k"]:
        return True
    if any("ifmap" in c for c in cols):
        return False
    raise InputFileError(
        f"{source}: line 1: header {header.strip()!r} is neither SCALE-Sim's conv form "
        f"({', '.join(CONV_FIELDS)}, [Sparsity,]) nor its GEMM form "
        f"({', '.join(GEMM_FIELDS)}, [Sparsity,])"
    )


def _int_field(text: str, field: str, line: int, source: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise InputFileError(
            f"{source}: line {line}: field {field!r} must be an integer >= 1, got {text!r}"
        )
    return value


def _rows(text: str, gemm: bool | None, source: str) -> tuple[bool, list[_Row]]:
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InputFileError(f"{source}: line 1: empty topology (expected a header line)")
    if gemm is None:
        gemm = _form(lines[0], source)
    fields = GEMM_FIELDS if gemm else CONV_FIELDS
    rows: list[_Row] = []
    for line_no, raw in enumerate(lines[1:], start=2):
        row = raw.strip()
        if row == "":
            continue
        elems = [e.strip() for e in row.split(",")[:-1]]  # SCALE-Sim drops the last field
        if len(elems) < len(fields):
            raise InputFileError(
                f"{source}: line {line_no}: needs the fields {', '.join(fields)} and a "
                f"trailing comma (SCALE-Sim drops each row's last field); got {raw.strip()!r}"
            )
        vals = tuple(_int_field(elems[i], fields[i], line_no, source)
                     for i in range(1, len(fields)))
        sp = "1:1"
        if len(elems) > len(fields):  # SCALE-Sim: conv takes the last field, GEMM the fifth
            sp = elems[len(fields)] if gemm else elems[-1]
        if not gemm:
            ih, iw, fh, fw = vals[:4]
            if fh > ih or fw > iw:
                raise InputFileError(
                    f"{source}: line {line_no}: field 'Filter Height'/'Filter Width' "
                    f"({fh}x{fw}) is larger than the ifmap ({ih}x{iw})"
                )
        rows.append(_Row(line_no, elems[0], vals, sp))
    return gemm, rows


def scalesim_topology_layers(
    text: str, gemm: bool | None = None, *, source: str = "<topology>"
) -> list[ScaleSimLayer]:
    """The layers SCALE-Sim v3 reads from a topology CSV, one per SCALE-Sim ``LayerID``.

    Parameters
    ----------
    text : str
        The CSV text.
    gemm : bool, optional
        Force the GEMM (``True``) or conv (``False``) form; by default told from the header.
    source : str
        File name for error messages.

    Returns
    -------
    list of ScaleSimLayer
        ``DP`` rows expand to one layer per channel, as SCALE-Sim runs them.

    Raises
    ------
    InputFileError
        Unknown header, a row with too few fields, a non-integer field or a filter larger
        than its ifmap (naming the source, line and field).
    """
    gemm, rows = _rows(text, gemm, source)
    layers: list[ScaleSimLayer] = []
    for r in rows:
        if gemm:
            m, n, k = r.values
            layers.append(ScaleSimLayer(r.name, m, k, n, r.sparsity))
            continue
        ih, iw, fh, fw, ch, nf, st = r.values
        if "DP" in r.name:
            p, k, n = scalesim_conv_dims(ih, iw, fh, fw, 1, nf, st)
            layers.extend(ScaleSimLayer(f"{r.name}Channel_{c}", p, k, n, r.sparsity)
                          for c in range(ch))
        else:
            layers.append(ScaleSimLayer(r.name, *scalesim_conv_dims(ih, iw, fh, fw, ch, nf, st),
                                        r.sparsity))
    return layers


def _sparsity(text: str, line: int, source: str):
    from hwsim.sparsity import NMPattern
    from hwsim.sparsity.spec import SparsityParseError

    try:
        pattern = NMPattern.parse(text)
    except (SparsityParseError, TypeError) as exc:
        raise InputFileError(f"{source}: line {line}: field 'Sparsity': {exc}") from None
    return None if pattern.n == pattern.m else pattern


def _read(path_or_text: Any) -> tuple[str, str, str]:
    """(text, source, graph name) of a path or of CSV text."""
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return path_or_text, "<topology>", "topology"
    path = Path(path_or_text)
    try:
        return path.read_text(encoding="utf-8-sig"), str(path), path.stem
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read the SCALE-Sim topology: {exc}") from None


def load_topology(path_or_text: Any, *, chain: bool = True, name: str | None = None) -> OpGraph:
    """An :class:`OpGraph` of a SCALE-Sim topology CSV (conv or GEMM form).

    Parameters
    ----------
    path_or_text : str or path-like
        A file, or the CSV text itself (a string containing a newline).
    chain : bool
        Layer ``i`` reads layer ``i-1``'s output (SCALE-Sim's sequential order); otherwise
        every layer reads its own ifmap from a graph input ``<layer>.ifmap``.
    name : str, optional
        Graph name (default: the file stem).

    Returns
    -------
    OpGraph
        One :class:`ConvOp` (conv form) or :class:`GemmOp` (GEMM form) per row, named as
        given, ``sparsity`` the declared ``n:m`` (``None`` for ``1:1`` or no column).
        ``meta["scalesim"]`` maps each op to ``{"line", "row", "layers"}``: the source line,
        the parsed values and the SCALE-Sim layer names it stands for (``DP`` rows: one per
        channel, each one group of the op).

    Raises
    ------
    InputFileError
        Unreadable file, bad header, malformed row or field, duplicate layer name.
    """
    text, source, stem = _read(path_or_text)
    gemm, rows = _rows(text, None, source)
    if not rows:
        raise InputFileError(f"{source}: no layers after the header")
    g = OpGraph(name or stem)
    g.meta.update(front_end="scalesim", form="gemm" if gemm else "conv", source=source,
                  chain=chain, scalesim={}, tensors={})
    prev = None
    for r in rows:
        if r.name in g.g:
            raise InputFileError(f"{source}: line {r.line}: duplicate layer name {r.name!r}")
        op, in_shape, out_shape = _op(r, gemm, source)
        inp = prev if (chain and prev is not None) else f"{r.name}.ifmap"
        if inp != prev:
            g.inputs[inp] = (in_shape, "int8")
            g.meta["tensors"][inp] = in_shape
        op = op.replace(inputs=(inp,), outputs=(r.name,))
        g.add(op)
        g.meta["tensors"][r.name] = out_shape
        if inp == prev:
            g.connect(prev, r.name, prev, math.prod(g.meta["tensors"][prev]))
        layers = ([f"{r.name}Channel_{c}" for c in range(op.groups)]
                  if isinstance(op, ConvOp) and op.groups > 1 else [r.name])
        g.meta["scalesim"][r.name] = {"line": r.line, "row": r.values, "layers": layers,
                                      "sparsity": r.sparsity}
        prev = r.name
    g.outputs[prev] = (g.meta["tensors"][prev], "int8")
    return g


def _op(r: _Row, gemm: bool, source: str):
    sp = _sparsity(r.sparsity, r.line, source)
    density = 1.0 if sp is None else sp.density
    common = dict(name=r.name, dtype="int8", sparsity=sp, density=density)
    if gemm:
        m, n, k = r.values
        op = GemmOp(op_type="gemm", m=m, k=k, n=n, **common)
        return op, (m, k), (m, n)
    ih, iw, fh, fw, ch, nf, st = r.values
    oh, ow = _ofmap(ih, iw, fh, fw, st)
    groups = ch if "DP" in r.name else 1
    cout = nf * groups
    pad_b, pad_r = (oh - 1) * st + fh - ih, (ow - 1) * st + fw - iw  # SCALE-Sim's overhang
    op = ConvOp(
        op_type="conv", m=oh * ow, k=(ch // groups) * fh * fw, n=nf, groups=groups,
        batch=1, cin=ch, cout=cout, in_hw=(ih, iw), out_hw=(oh, ow), kernel=(fh, fw),
        stride=(st, st), pads=(0, 0, max(pad_b, 0), max(pad_r, 0)), **common,
    )
    return op, (1, ch, ih, iw), (1, cout, oh, ow)


def scalesim_gemm_shape(op: Op) -> tuple[int, int, int]:
    """SCALE-Sim's ``(M, K, N)`` of one group of ``op`` (``P, K, N`` of its compute report).

    For a :class:`ConvOp` ``M`` is the output pixels (× batch), ``K = (cin/groups)·kh·kw``
    (filter rows: SCALE-Sim's reduction, the N:M axis), ``N`` the filters of one group; a
    depthwise op is ``groups`` such layers. For a :class:`GemmOp` and a :class:`MatMulOp`
    (per batch element) it is ``(m, k, n)``. Feed it to
    :func:`hwsim.engines.systolic.scalesim_compute_cycles` or to a GEMM plan with the op's
    ``sparsity`` and repeat it ``op.groups`` (``op.batch`` for a MatMulOp) times.

    Raises
    ------
    ShapeError
        ``op`` is not a GEMM-like op.
    """
    if isinstance(op, (GemmOp, MatMulOp)):
        return int(op.m), int(op.k), int(op.n)
    raise ShapeError(f"op {op.name!r} of kind {op.kind!r} has no SCALE-Sim GEMM shape")


def write_topology(graph: OpGraph, path: Any = None) -> str:
    """A SCALE-Sim topology CSV (conv form) of ``graph``'s GEMM-like ops, for SCALE-Sim itself.

    Each :class:`ConvOp` becomes a conv row with its padding added to the ifmap (SCALE-Sim
    has no padding column), a depthwise one a ``DP_<name>`` row (SCALE-Sim's marker), every
    other :class:`GemmOp` the row SCALE-Sim uses for a GEMM (``M × K`` ifmap, ``1 × K``
    filter, one channel, ``N`` filters) and a :class:`MatMulOp` ``batch`` such rows
    ``<name>.<b>``. SCALE-Sim has no batch: a convolution over ``B`` images is ``B`` rows
    ``<name>.<b>``. Rows end with a comma and carry the op's ``n:m`` (``1:1`` when dense).
    Loading the text back with :func:`load_topology` gives the same MACs.

    Parameters
    ----------
    graph : OpGraph
    path : path-like, optional
        Also write the text there.

    Raises
    ------
    ShapeError
        A grouped convolution that is neither plain nor depthwise, or non-square strides.
    """
    lines = [", ".join(CONV_FIELDS) + ", Sparsity,"]
    for op in graph.ops():
        sp = getattr(op, "sparsity", None)
        nm = f"{sp.n}:{sp.m}" if hasattr(sp, "n") and hasattr(sp, "m") else "1:1"
        if isinstance(op, ConvOp):
            row = _conv_row(op, nm)  # SCALE-Sim has no batch: one row per image
            lines.extend([row] if op.batch == 1 else
                         [row.replace(",", f".{b},", 1) for b in range(op.batch)])
        elif isinstance(op, GemmOp):
            lines.extend(f"{op.name}{'' if op.groups == 1 else f'.{g}'}, {op.m}, {op.k}, 1, "
                         f"{op.k}, 1, {op.n}, 1, {nm}," for g in range(op.groups))
        elif isinstance(op, MatMulOp):
            lines.extend(f"{op.name}.{b}, {op.m}, {op.k}, 1, {op.k}, 1, {op.n}, 1, 1:1,"
                         for b in range(op.batch))
    text = "\n".join(lines) + "\n"
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _conv_row(op: ConvOp, nm: str) -> str:
    (kh, kw), (sh, sw) = op.kernel, op.stride
    if sh != sw or op.dilation != (1, 1) or op.transposed:
        raise ShapeError(f"op {op.name!r}: SCALE-Sim takes one stride, no dilation")
    t, left, b, r = op.pads
    ih, iw = op.in_hw[0] + t + b, op.in_hw[1] + left + r
    # SCALE-Sim's ceil rounds an overhang up; trim the ifmap so the output size is the op's.
    ih -= (ih - kh) % sh
    iw -= (iw - kw) % sw
    if op.groups == 1:
        return f"{op.name}, {ih}, {iw}, {kh}, {kw}, {op.cin}, {op.cout}, {sh}, {nm},"
    if op.groups == op.cin:
        return f"DP_{op.name}, {ih}, {iw}, {kh}, {kw}, {op.cin}, {op.n}, {sh}, {nm},"
    raise ShapeError(f"op {op.name!r}: SCALE-Sim has no grouped convolution "
                     f"({op.groups} groups of {op.cin // op.groups} channels)")
