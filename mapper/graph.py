"""The mapper's typed operation graph: the one contract between front ends and the scheduler.

Every front end (ONNX, the built-in zoo, SCALE-Sim topology CSV, GNN graphs, torch.fx) builds an
:class:`OpGraph`; pruning rewrites the weights of its GEMM-like nodes; lowering and scheduling
read it. Nodes are frozen operation records keyed by their (unique, stable) name; edges carry the
tensor name and its size in bytes.

Operation kinds (``Op.kind``):

``gemm``
    A weight GEMM (``GemmOp``): ``out[g][m, n] = act[g][m, k] @ W[g][k, n]`` for ``g`` in
    ``groups``. ONNX ``MatMul``/``Gemm`` with a constant operand, and every convolution after
    lowering (``ConvOp`` is a ``GemmOp`` that also keeps its convolution parameters).
``matmul``
    An activation × activation product (``MatMulOp``: QKᵀ, AV), ``batch`` independent
    ``m × k × n`` products, both operands dense.
``vector``
    Element-wise, softmax, normalisation, reduction and pooling work for the vector unit
    (``VectorOp``), costed by ``elements`` and a documented per-element op count.
``data``
    Data movement and shape bookkeeping (``DataOp``: Reshape, Transpose, Concat, ...): free
    when ``free`` is true, else ``bytes`` of on-chip copy traffic.
``spgemm``
    A sparse × sparse (or sparse × dense) product for the SpGEMM engine (``SpGemmOp``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from hwsim.errors import ShapeError

__all__ = [
    "Op",
    "GemmOp",
    "ConvOp",
    "MatMulOp",
    "VectorOp",
    "DataOp",
    "SpGemmOp",
    "OpGraph",
    "DTYPE_BYTES",
]

#: Bytes per element of the dtypes graph tensors carry.
DTYPE_BYTES = {
    "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8,
    "int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8, "bool": 1,
}


@dataclass(frozen=True, eq=False)
class Op:
    """Base record of one operation.

    Attributes
    ----------
    name : str
        Unique, stable node name (as given in the source; ``Conv_12`` style when unnamed).
    op_type : str
        The operator as the source spells it: the ONNX op type (``Conv``, ``MatMul``), or the
        zoo/CSV kind (``conv``, ``gemm``, ``matmul``, ``softmax``...).
    inputs, outputs : tuple of str
        Activation tensor names read and written (weights are not listed here).
    dtype : str
        Model dtype of the activations (key of :data:`DTYPE_BYTES`).
    source : Any
        Front-end handle used by the functional check (e.g. the ``onnx.NodeProto``); not part
        of the op's identity.
    """

    name: str
    op_type: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    dtype: str = "float32"
    source: Any = field(default=None, repr=False, compare=False)

    kind = "op"

    @property
    def elem_bytes(self) -> int:
        """Bytes per activation element."""
        return DTYPE_BYTES.get(self.dtype, 4)

    def replace(self, **changes: Any) -> Op:
        """A copy with ``changes`` applied (ops are frozen)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class GemmOp(Op):
    """A weight GEMM, ``groups`` independent products ``act[m, k] @ W[k, n]``.

    Attributes
    ----------
    m, k, n : int
        Rows (tokens, or output pixels × batch), reduction length, output columns.
    groups : int
        Independent GEMMs of this shape (convolution groups; 1 otherwise).
    weight : numpy.ndarray or None
        GEMM-form weight, shape ``(groups, k, n)`` with the reduction axis first (N:M groups
        run along ``k``); ``None`` when the front end has no weights (zoo, CSV): the engines
        then use ``sparsity`` as a synthetic pattern.
    sparsity : object
        Sparsity spec of the weight (``hwsim.sparsity`` ``Dense``, ``NMPattern``,
        ``BlockSparsity``, ``Unstructured``): detected from ``weight`` when it is given,
        declared otherwise.
    density : float
        Fraction of nonzero weights (detected, or implied by ``sparsity``).
    bias : bool
        The op adds a bias vector (costed on the vector unit by the scheduler).
    """

    m: int = 1
    k: int = 1
    n: int = 1
    groups: int = 1
    weight: np.ndarray | None = field(default=None, repr=False)
    sparsity: Any = None
    density: float = 1.0
    bias: bool = False

    kind = "gemm"

    def __post_init__(self) -> None:
        for f in ("m", "k", "n", "groups"):
            v = getattr(self, f)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ShapeError(f"op {self.name!r}: {f} must be an integer >= 1, got {v!r}")
        if self.weight is not None and tuple(self.weight.shape) != (self.groups, self.k, self.n):
            raise ShapeError(
                f"op {self.name!r}: weight must have shape (groups, k, n) = "
                f"({self.groups}, {self.k}, {self.n}), got {tuple(self.weight.shape)}"
            )

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates, ``groups * m * k * n``."""
        return int(self.groups) * int(self.m) * int(self.k) * int(self.n)

    @property
    def params(self) -> int:
        """Weight elements, ``groups * k * n``."""
        return int(self.groups) * int(self.k) * int(self.n)


@dataclass(frozen=True, eq=False)
class ConvOp(GemmOp):
    """A convolution, kept with its parameters and lowered to GEMM form (im2col).

    ``m = batch * out_h * out_w``, ``k = (cin / groups) * kh * kw``, ``n = cout / groups``; the
    GEMM-form weight is ``W[co]`` of each group flattened row-major over ``(cin/g, kh, kw)``.

    Attributes
    ----------
    batch, cin, cout : int
    in_hw, out_hw : tuple of int
        ``(H, W)`` of the input and output feature maps.
    kernel, stride, dilation : tuple of int
        ``(kh, kw)``, ``(sh, sw)``, ``(dh, dw)`` (ONNX's [H, W] order).
    pads : tuple of int
        ``(top, left, bottom, right)``.
    transposed : bool
        ConvTranspose lowered to its equivalent GEMM.
    """

    batch: int = 1
    cin: int = 1
    cout: int = 1
    in_hw: tuple[int, int] = (1, 1)
    out_hw: tuple[int, int] = (1, 1)
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    transposed: bool = False

    kind = "gemm"


@dataclass(frozen=True, eq=False)
class MatMulOp(Op):
    """``batch`` activation × activation products ``A[m, k] @ B[k, n]`` (attention QKᵀ, AV)."""

    m: int = 1
    k: int = 1
    n: int = 1
    batch: int = 1

    kind = "matmul"

    @property
    def macs(self) -> int:
        """``batch * m * k * n``."""
        return int(self.batch) * int(self.m) * int(self.k) * int(self.n)


@dataclass(frozen=True, eq=False)
class VectorOp(Op):
    """Work for the vector unit.

    Attributes
    ----------
    category : str
        ``elementwise``, ``activation``, ``softmax``, ``norm``, ``reduce`` or ``pool``.
    elements : int
        Output elements (the unit of cost).
    ops_per_element : float
        Vector-lane operations per output element (documented per operator by the front end:
        1 for Add/Relu, the window size for pooling, a stated cost for Exp/Erf/Softmax...).
    in_elements : int
        Input elements read (for traffic).
    """

    category: str = "elementwise"
    elements: int = 0
    ops_per_element: float = 1.0
    in_elements: int = 0

    kind = "vector"


@dataclass(frozen=True, eq=False)
class DataOp(Op):
    """Data movement or shape bookkeeping: ``free`` (a view) or ``bytes`` copied on chip."""

    bytes: int = 0
    free: bool = True

    kind = "data"


@dataclass(frozen=True, eq=False)
class SpGemmOp(Op):
    """``A @ B`` with sparse ``A`` (scipy.sparse) on the SpGEMM engine; ``B`` sparse or dense.

    Attributes
    ----------
    a : scipy.sparse matrix
    b : scipy.sparse matrix or None
        ``None`` means a dense ``a.shape[1] × n`` operand (features).
    n : int
        Columns of a dense ``B``.
    """

    a: Any = field(default=None, repr=False)
    b: Any = field(default=None, repr=False)
    n: int = 1

    kind = "spgemm"


class OpGraph:
    """A networkx ``DiGraph`` of :class:`Op` nodes (attribute ``op``), edges with tensors.

    Node keys are op names. An edge ``u -> v`` carries ``tensor`` (name) and ``bytes``.

    Parameters
    ----------
    name : str
        Model name (file stem, zoo name).
    """

    def __init__(self, name: str = "model"):
        self.name = name
        self.g = nx.DiGraph()
        #: Graph inputs and outputs: tensor name -> (shape, dtype).
        self.inputs: dict[str, tuple[tuple[int, ...], str]] = {}
        self.outputs: dict[str, tuple[tuple[int, ...], str]] = {}
        #: Free-form metadata (front end, phase, seq_len, ...).
        self.meta: dict[str, Any] = {}

    def add(self, op: Op) -> Op:
        """Add ``op``; its name must be new."""
        if op.name in self.g:
            raise ShapeError(f"graph {self.name!r}: duplicate op name {op.name!r}")
        self.g.add_node(op.name, op=op)
        return op

    def connect(self, src: str, dst: str, tensor: str, nbytes: int) -> None:
        """Edge ``src -> dst`` carrying ``tensor`` of ``nbytes`` bytes."""
        self.g.add_edge(src, dst, tensor=tensor, bytes=int(nbytes))

    def replace(self, op: Op) -> None:
        """Swap the op record of an existing node (same name), keeping its edges."""
        if op.name not in self.g:
            raise KeyError(op.name)
        self.g.nodes[op.name]["op"] = op

    def op(self, name: str) -> Op:
        """The op named ``name``."""
        return self.g.nodes[name]["op"]

    def ops(self) -> Iterator[Op]:
        """Ops in a deterministic topological order (ties broken by insertion order)."""
        order = {n: i for i, n in enumerate(self.g.nodes)}
        for name in nx.lexicographical_topological_sort(self.g, key=lambda n: order[n]):
            yield self.g.nodes[name]["op"]

    def gemm_ops(self) -> list[GemmOp]:
        """Weight GEMMs (convolutions included), in topological order."""
        return [o for o in self.ops() if isinstance(o, GemmOp)]

    def predecessors(self, name: str) -> list[str]:
        """Names of the ops ``name`` reads from."""
        return list(self.g.predecessors(name))

    def __len__(self) -> int:
        return self.g.number_of_nodes()

    def total_macs(self) -> int:
        """Dense MACs of GEMMs and act×act products."""
        return sum(int(getattr(o, "macs", 0)) for o in self.ops() if o.kind in ("gemm", "matmul"))

    def total_params(self) -> int:
        """Weight elements of the GEMMs."""
        return sum(o.params for o in self.gemm_ops())
