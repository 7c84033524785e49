"""torch.fx front end: a ``torch.nn.Module`` and example inputs → :class:`mapper.graph.OpGraph`.

The module is traced with ``torch.fx.symbolic_trace`` in ``eval()`` mode (its mode is restored
afterwards) and run once on the example inputs with ``ShapeProp``, which gives every node its
shape and dtype. Nodes that depend only on parameters, buffers and shapes (``self.w.t()``,
``self.w * self.mask``, a causal mask built from ``x.size(1)``) are folded to constants, as the
ONNX front end folds weight chains; Python values (sizes) are no ops. Each remaining node becomes
a typed op, mirroring :mod:`mapper.frontends.onnx`:

* ``nn.Linear``, ``F.linear`` and ``matmul``/``mm``/``addmm`` with a constant right operand →
  :class:`~mapper.graph.GemmOp` (weight ``W.T``, reduction axis ``K``); ``nn.Conv1d/2d``,
  ``F.conv1d/2d``, ``nn.ConvTranspose1d/2d`` → :class:`~mapper.graph.ConvOp` (groups kept;
  GEMM-form weight ``W[co]`` flattened row-major over ``(Cin/g, kh, kw)``; the col2im form
  for a transposed convolution). A BatchNorm that only reads a convolution, and an ``add`` of
  a per-output-channel constant that only reads a GEMM, are folded into it (``bias=True``,
  listed in ``meta["folded"]``).
* ``matmul``/``bmm``/``@`` of two activations → :class:`~mapper.graph.MatMulOp` (``batch`` =
  broadcast leading dims); a two-operand ``einsum`` likewise (its weight sparsity is not
  detected, as in the ONNX front end). ``F.scaled_dot_product_attention`` → ``NAME.qk``
  (QKᵀ), ``NAME.softmax`` (scale + softmax, +1 per element with a mask) and ``NAME.av``;
  ``nn.MultiheadAttention`` → ``NAME.in_proj`` (one packed GEMM for self-attention, else
  ``NAME.q_proj``/``k_proj``/``v_proj``), the same three and ``NAME.out_proj``; head
  split/merge reshapes are views (free), a causal mask is costed as dense.
* element-wise, activation, softmax, normalisation, reduction and pooling →
  :class:`~mapper.graph.VectorOp`; views → free :class:`~mapper.graph.DataOp`, copies
  (permute, cat, split, slicing, embedding lookup) → a DataOp of their output bytes
  (tables and costs: :mod:`._torch_ops`).

Weights come from the module's parameters and buffers (copied to NumPy; ``bfloat16`` as
``float32``), as the module computes them (``torch.nn.utils.prune`` masks, parametrizations;
a subclass of a known module maps as that module), so a pruned model's real zeros are counted, and their sparsity is detected from
the values (:func:`mapper.prune.detect_sparsity`). Op names: a leaf module's qualified name
(``encoder.0.fc1``; ``NAME_1`` for a second call), the fx node name otherwise (``add_1``,
``matmul``); tensor names are fx node names. Torch is imported only here, on use.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np

from hwsim.errors import ConfigError, ShapeError, UnsupportedOperatorError

from ..graph import DTYPE_BYTES, ConvOp, DataOp, GemmOp, OpGraph, VectorOp
from . import _torch_ops as T

__all__ = ["load_torch", "supported_operators", "eval_mode"]

supported_operators = T.supported_operators


@contextlib.contextmanager
def eval_mode(module):
    """Run a block with ``module`` in ``eval()`` mode, restoring each submodule's mode."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, was in modes:
            m.training = was


def load_torch(module, example_inputs, *, name: str | None = None,
               passthrough: tuple[str, ...] = ()) -> OpGraph:
    """Trace a PyTorch module with torch.fx into an :class:`~mapper.graph.OpGraph`.

    Parameters
    ----------
    module : torch.nn.Module
        Traced in ``eval()`` mode (inference; its mode is restored).
    example_inputs : torch.Tensor or tuple of torch.Tensor
        The forward's positional inputs; they fix every shape of the graph.
    name : str, optional
        Graph name (default: the module's class name).
    passthrough : tuple of str
        Operator keys (module class or function name, as :func:`supported_operators`
        spells them) the user declares free: mapped to a free DataOp whatever they are.

    Returns
    -------
    OpGraph
        ``meta`` holds ``front_end="torch"``, ``torch_module`` (the traced ``GraphModule``,
        sharing the module's parameters), ``torch_inputs`` (the example inputs),
        ``torch_gemms`` (fx node → GEMM op the network check runs on the engines),
        ``torch_weights`` (op → node, weight layout, shape, argument), ``torch_producers``
        (tensor → op), ``folded`` (BatchNorm or bias ``add`` → GEMM) and ``tensors``.

    Raises
    ------
    ConfigError
        ``module`` is not a ``torch.nn.Module`` or an input is not a tensor.
    UnsupportedOperatorError
        An operator the front end does not map (naming it, the node and the supported
        list), or a model torch.fx cannot trace.
    MissingExtraError
        torch is not installed (``pip install hwsim[torch]``).
    """
    from hwsim.errors import require

    torch = require("torch", "torch", "the torch.fx front end")
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    inputs = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) \
        else (example_inputs,)
    bad = [i for i, t in enumerate(inputs) if not isinstance(t, torch.Tensor)]
    if bad:
        raise ConfigError(f"example_inputs[{bad[0]}] must be a torch.Tensor, got "
                          f"{type(inputs[bad[0]]).__name__}", key="example_inputs")
    gm, consts, values = _trace(torch, module, inputs)
    b = _Builder(gm, consts, values, set(passthrough), name or type(module).__name__)
    for node in gm.graph.nodes:
        b.add_node(node)
    b.graph.meta.update(
        front_end="torch", torch_module=gm, torch_inputs=tuple(t.detach().clone() for t in inputs),
        torch_gemms=b.gemms, torch_weights=b.weights, torch_producers=dict(b.producer),
        folded=b.folded, tensors={t: s for t, s in b.shape.items() if s is not None})
    return b.graph


def _trace(torch, module, inputs):
    """``(GraphModule, constant tensors, Python values)`` by node name."""
    from torch.fx.passes.shape_prop import ShapeProp

    class _Prop(ShapeProp):
        def __init__(self, gm):
            super().__init__(gm)
            self.consts: dict[str, Any] = {}
            self.values: dict[str, Any] = {}

        def run_node(self, n):
            result = super().run_node(n)
            known = all(a.name in self.consts or a.name in self.values
                        for a in n.all_input_nodes)
            if isinstance(result, torch.Tensor):
                if n.op == "get_attr" or (n.op != "placeholder" and known):
                    self.consts[n.name] = result.detach()
            elif "tensor_meta" not in n.meta and n.op not in ("placeholder", "output"):
                self.values[n.name] = result
            return result

    with eval_mode(module):
        try:
            gm = torch.fx.symbolic_trace(module)
        except Exception as exc:  # TraceError, data-dependent control flow...
            raise UnsupportedOperatorError(
                f"torch.fx cannot trace {type(module).__name__}: {_first_line(exc)}") from exc
        prop = _Prop(gm)
        prop.extra_traceback = False  # the cause, on one line, is what the user needs
        with torch.no_grad():
            try:
                prop.propagate(*inputs)
            except Exception as exc:  # wrong input shapes or dtypes for this module
                cause = exc.__cause__ or exc
                raise ShapeError(
                    f"running {type(module).__name__} on example_inputs failed: "
                    f"{_first_line(cause)}") from exc
    return gm, prop.consts, prop.values


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _dtype(dt) -> str:
    name = str(dt).removeprefix("torch.")
    return name if name in DTYPE_BYTES else "float32"


def numpy_weight(t) -> np.ndarray:
    """A parameter as a NumPy copy (``bfloat16``, which NumPy lacks, as ``float32``)."""
    t = t.detach().cpu()
    if str(t.dtype) == "torch.bfloat16":
        t = t.float()
    return np.array(t.numpy(), copy=True)


def _tuple2(v, nsp: int, fill: int) -> tuple[int, int]:
    v = tuple(int(i) for i in v) if isinstance(v, (tuple, list)) else (int(v),) * nsp
    return v if nsp == 2 else (fill, v[0])


def _is_meta(m) -> bool:
    return hasattr(m, "shape") and hasattr(m, "dtype")


class _Builder:
    """Turns traced fx nodes into ops and edges."""

    def __init__(self, gm, consts, values, passthrough, name):
        self.gm, self.consts, self.values, self.passthrough = gm, consts, values, passthrough
        self.graph = OpGraph(name)
        self.shape: dict[str, tuple[int, ...] | None] = {}
        self.dtype: dict[str, str] = {}
        self.nbytes: dict[str, int] = {}
        self.first: dict[str, int] = {}
        self.producer: dict[str, str] = {}
        self.gemms: dict[str, str] = {}
        self.weights: dict[str, dict] = {}
        self.folded: dict[str, str] = {}
        self.taken: set[str] = set()
        out = next(n for n in gm.graph.nodes if n.op == "output")
        self.graph_outputs = {n.name for n in out.all_input_nodes}

    # -- tensors -------------------------------------------------------------------------
    def tensor(self, name: str, shape, dtype: str) -> str:
        self.shape[name] = None if shape is None else tuple(int(s) for s in shape)
        self.dtype[name] = dtype
        self.nbytes[name] = (0 if shape is None else math.prod(self.shape[name])) \
            * DTYPE_BYTES[dtype]
        return name

    def register(self, node) -> None:
        tm = node.meta.get("tensor_meta")
        if _is_meta(tm):
            self.tensor(node.name, tm.shape, _dtype(tm.dtype))
            return
        metas = [m for m in _flat(tm) if _is_meta(m)]
        self.tensor(node.name, None, _dtype(metas[0].dtype) if metas else "float32")
        self.nbytes[node.name] = sum(math.prod(m.shape) * DTYPE_BYTES[_dtype(m.dtype)]
                                     for m in metas)
        self.first[node.name] = math.prod(metas[0].shape) if metas else 0

    def elems(self, t: str) -> int:
        s = self.shape.get(t)
        if s is None:  # a tuple: its first tensor (values of max/min, a split's first part)
            return self.first.get(t, 0)
        return math.prod(s)

    def first_shape(self, node) -> tuple[int, ...]:
        tm = node.meta["tensor_meta"]
        m = tm if _is_meta(tm) else next(m for m in _flat(tm) if _is_meta(m))
        return tuple(int(s) for s in m.shape)

    def dyn(self, node) -> tuple[str, ...]:
        """Activation tensors ``node`` reads (constants and Python values excluded)."""
        out: list[str] = []
        for a in node.all_input_nodes:
            if a.name in self.shape and a.name not in out:
                out.append(a.name)
        return tuple(out)

    def arg(self, node, i: int, key: str, default: Any = None) -> Any:
        """Argument ``i`` (or keyword ``key``) with constants and Python values resolved."""
        v = node.args[i] if len(node.args) > i else node.kwargs.get(key, default)
        name = getattr(v, "name", None)
        if name is not None and hasattr(v, "op"):
            if name in self.consts:
                return self.consts[name]
            if name in self.values:
                return self.values[name]
        return v

    # -- ops -----------------------------------------------------------------------------
    def op_name(self, node) -> str:
        """A new unique name (reserved: decomposed layers add ``NAME.part`` ops under it)."""
        base = node.target if node.op == "call_module" else node.name
        name, i = base, 1
        while name in self.graph.g or name in self.taken:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name

    def outputs(self, node) -> tuple[str, ...]:
        """``node``'s tensor and, for a tuple result, the tensors of its ``getitem`` users."""
        parts = [u.name for u in node.users if _is_part(u)]
        return (node.name, *parts)

    def base(self, node, key: str, name: str | None = None) -> dict[str, Any]:
        return dict(name=name or self.op_name(node), op_type=key, inputs=self.dyn(node),
                    outputs=self.outputs(node), dtype=self.dtype[node.name], source=node)

    def add(self, op):
        self.graph.add(op)
        for t in op.inputs:
            p = self.producer.get(t)
            if p is None or p == op.name:
                continue
            if self.graph.g.has_edge(p, op.name):  # a second tensor between the same ops
                d = self.graph.g.edges[p, op.name]
                self.graph.connect(p, op.name, f"{d['tensor']},{t}", d["bytes"] + self.nbytes[t])
            else:
                self.graph.connect(p, op.name, t, self.nbytes[t])
        for t in op.outputs:
            self.producer[t] = op.name
        return op

    def key(self, node) -> str:
        if node.op == "call_module":  # the nearest known class: subclasses, parametrized
            mro = [c.__name__ for c in type(self.gm.get_submodule(node.target)).__mro__]
            return next((c for c in mro if c in T.MODULE_KEYS or c in T.GEMM_MODULES), mro[0])
        t = node.target
        return T.normalize_key(t if isinstance(t, str) else getattr(t, "__name__", str(t)))

    # -- dispatch ------------------------------------------------------------------------
    def add_node(self, node) -> None:
        if node.op == "placeholder":
            self.register(node)
            self.graph.inputs[node.name] = (self.shape[node.name], self.dtype[node.name])
            return
        if node.op == "output":
            for n in node.all_input_nodes:
                if n.name in self.shape:
                    self.graph.outputs[n.name] = (self.shape[n.name], self.dtype[n.name])
            return
        if node.op == "get_attr" or node.name in self.consts or "tensor_meta" not in node.meta:
            return  # weights, folded constant chains and Python values are not ops
        self.register(node)
        key = self.key(node)
        if key in self.passthrough:  # the user's explicit choice wins
            self.add(DataOp(**self.base(node, key), bytes=0, free=True))
            return
        if _is_part(node) and node.name in self.producer:
            return  # an element of a tuple result: written by the tuple's op
        if node.op == "call_module":
            self.add_module(node, key, self.gm.get_submodule(node.target))
        else:
            self.add_function(node, key, key, None)

    def unsupported(self, node, key: str, why: str = "") -> UnsupportedOperatorError:
        return UnsupportedOperatorError(
            f"torch operator {key!r} (node {node.name!r}) is not supported{why}; declare it "
            f"free with passthrough=({key!r},) or use a model with only: "
            + ", ".join(supported_operators()))

    def add_module(self, node, cls: str, mod) -> None:
        from ._torch_layers import add_conv, add_linear, add_mha

        if cls == "Linear":
            add_linear(self, node, cls, self.dyn(node)[0], mod.weight, mod.bias is not None,
                       arg=None)
        elif cls in ("Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"):
            add_conv(self, node, cls, mod.weight, stride=mod.stride, padding=mod.padding,
                     dilation=mod.dilation, groups=mod.groups, bias=mod.bias is not None,
                     transposed=cls.startswith("ConvTranspose"), arg=None)
        elif cls == "MultiheadAttention":
            add_mha(self, node, mod)
        elif cls in T.MODULE_KEYS:
            self.add_function(node, cls, T.MODULE_KEYS[cls], mod)
        else:
            raise self.unsupported(node, cls)

    def add_function(self, node, op_type: str, key: str, mod) -> None:
        from ._torch_layers import add_gemm_function

        if key in T.GEMM_FUNCTIONS:
            return add_gemm_function(self, node, key)
        if (key == "batch_norm" and self.fold_bn(node)) or (key == "add" and self.fold_bias(node)):
            return None
        base = self.base(node, op_type)
        out = self.elems(node.name)
        ins = sum(self.elems(t) for t in base["inputs"])
        if key in ("max", "min") and len(base["inputs"]) + _const_args(self, node) >= 2:
            self.add(VectorOp(**base, category="elementwise", elements=out,
                              ops_per_element=1.0, in_elements=ins))
        elif key in T.TORCH_COST:
            cat, cost = T.TORCH_COST[key]
            self.add(VectorOp(**base, category=cat, elements=out, ops_per_element=float(cost),
                              in_elements=ins))
        elif key in T.REDUCE:
            x = self.elems(base["inputs"][0]) if base["inputs"] else out
            self.add(VectorOp(**base, category="reduce", elements=out,
                              ops_per_element=x / max(out, 1), in_elements=ins))
        elif key in T.POOL:
            self.add(VectorOp(**base, category="pool", elements=out,
                              ops_per_element=self.pool_window(node, key, mod), in_elements=ins))
        elif key in T.CAST:
            src = base["inputs"][0] if base["inputs"] else node.name
            if self.dtype[src] == self.dtype[node.name]:
                self.add(DataOp(**base, bytes=0, free=True))
            else:
                self.add(VectorOp(**{**base, "inputs": (src,) if base["inputs"] else ()},
                                  category="elementwise", elements=out, ops_per_element=1.0,
                                  in_elements=self.elems(src)))
        elif key == "interpolate":
            mode = mod.mode if mod is not None else self.arg(node, 3, "mode", "nearest")
            if mode == "nearest":
                self.add(DataOp(**base, bytes=self.nbytes[node.name], free=False))
            else:
                self.add(VectorOp(**base, category="elementwise", elements=out,
                                  ops_per_element=32.0 if mode == "bicubic" else 6.0,
                                  in_elements=ins))
        elif key in T.FREE_DATA:
            self.add(DataOp(**base, bytes=0, free=True))
        elif key in T.COPY_DATA or (key == "getattr" and node.args[1] in ("T", "mT")):
            self.add(DataOp(**base, bytes=self.nbytes[node.name], free=False))
        else:
            raise self.unsupported(node, op_type)

    def pool_window(self, node, key: str, mod) -> float:
        nsp = 2 if key.endswith("2d") else 1
        if key.startswith("adaptive"):
            xs, ys = self.shape[self.dyn(node)[0]], self.first_shape(node)
            return math.prod(xs[-nsp:]) / max(1, math.prod(ys[-nsp:]))
        k = mod.kernel_size if mod is not None else self.arg(node, 1, "kernel_size")
        k = tuple(k) if isinstance(k, (tuple, list)) else (k,) * nsp
        return float(math.prod(int(i) for i in k))

    # -- folding -------------------------------------------------------------------------
    def sole_producer(self, x, cls) -> Any:
        """The op of type ``cls`` writing fx node ``x`` when ``x`` feeds only one node."""
        p = self.producer.get(x.name)
        if p is None or len(x.users) != 1 or x.name in self.graph_outputs:
            return None
        op = self.graph.op(p)
        return op if isinstance(op, cls) and op.outputs == (x.name,) else None

    def fold_into(self, node, op) -> None:
        self.graph.replace(op.replace(outputs=(node.name,), bias=True))
        self.producer[node.name] = op.name
        self.folded[node.name] = op.name

    def fold_bn(self, node) -> bool:
        """Inference BatchNorm right after a convolution: a per-channel scale and shift."""
        x = node.args[0]
        conv = self.sole_producer(x, ConvOp) if hasattr(x, "op") else None
        if conv is None:
            return False
        self.fold_into(node, conv)
        return True

    def fold_bias(self, node) -> bool:
        """``add`` of a per-output-channel constant right after a GEMM: the GEMM's bias."""
        if len(node.args) != 2 or node.kwargs:
            return False
        acts = [a for a in node.args if hasattr(a, "op") and a.name in self.shape]
        consts = [a for a in node.args if hasattr(a, "op") and a.name in self.consts]
        if len(acts) != 1 or len(consts) != 1:
            return False
        x, c = acts[0], self.consts[consts[0].name]
        op = self.sole_producer(x, GemmOp)
        y = self.shape[x.name]
        if op is None or y is None or c.dim() > len(y):
            return False
        shape = (1,) * (len(y) - c.dim()) + tuple(c.shape)
        axis = 1 if isinstance(op, ConvOp) else len(y) - 1
        chans = op.cout if isinstance(op, ConvOp) else y[-1]
        if shape[axis] != chans or math.prod(shape) != chans:
            return False
        self.fold_into(node, op)
        return True

    # -- weights ---------------------------------------------------------------------------
    def weight(self, node, op_name: str, w, gkn: np.ndarray, layout: str, arg) -> dict:
        """Record a GEMM's weight (for the network check) and detect its sparsity."""
        from ..prune import detect_sparsity

        self.weights[op_name] = dict(node=node.name, layout=layout, shape=tuple(w.shape),
                                     arg=arg)
        gkn = np.ascontiguousarray(gkn)
        spec, density = detect_sparsity(gkn)
        return dict(weight=gkn, sparsity=spec, density=density)

    def need(self, t: str, node) -> tuple[int, ...]:
        s = self.shape.get(t)
        if s is None:
            raise ShapeError(f"node {node.name!r}: operand {t!r} is not a single tensor")
        return s


def _is_part(node) -> bool:
    """``node`` reads one element of a tuple result (``out[0]``, ``max(...).values``)."""
    import operator

    if node.op != "call_function" or node.target not in (operator.getitem, getattr):
        return False
    src = node.args[0]
    tm = getattr(src, "meta", {}).get("tensor_meta")
    return tm is not None and not _is_meta(tm)


def _const_args(b: _Builder, node) -> int:
    return sum(1 for a in node.args[:2] if hasattr(a, "op") and a.name in b.consts)


def _flat(tm) -> list:
    if tm is None or _is_meta(tm):
        return [tm]
    if isinstance(tm, dict):
        tm = list(tm.values())
    if isinstance(tm, (tuple, list)):
        return [m for x in tm for m in _flat(x)]
    return [tm]
