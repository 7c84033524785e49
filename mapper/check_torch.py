"""End-to-end functional check of a torch.fx graph (the torch counterpart of :mod:`mapper.check`).

The traced ``GraphModule`` of :func:`mapper.frontends.torchfx.load_torch` runs twice, node by node
with ``torch.fx.Interpreter`` in ``eval()`` mode:

* the reference: every node with torch, each weight GEMM with the graph's (pruned) weight put
  in place of the module's (through the module's functional form, or as the weight argument of
  ``F.linear``/``F.conv*``/``matmul``) — with the weights as loaded this *is* the module's own
  forward;
* the checked run: each weight GEMM (``Linear``, ``Conv1d/2d``, ``ConvTranspose1d/2d``,
  ``F.linear``, ``F.conv*``, ``matmul``/``mm``/``addmm`` with a constant weight) through
  ``gemm_fn`` — the engines' functional path, from the compressed operands — via the same
  im2col/col2im lowering as the ONNX check, from the previous nodes' *checked* outputs; every
  other node with torch. ``nn.MultiheadAttention`` runs with torch in both (its projections are
  checked per plan by :func:`mapper.simulate.simulate_network`).

Every tensor a node produces is compared as :func:`mapper.check.check_network` does (exact for
integers; floats within ``atol + rtol * max|ref|``, with ``rtol`` at least :data:`HALF_ULPS`
epsilons of a float16/bfloat16 tensor), and the first layer that differs is named.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwsim.errors import ConfigError

from .check import GemmFn, _compare, _conv, _conv_transpose, _group_gemm, _matmul, numpy_gemm
from .graph import ConvOp, OpGraph

__all__ = ["check_torch_network", "HALF_ULPS"]

_AGAINST = "the torch module with the graph's weights"
#: Float tolerance floor, in units of the tensor dtype's epsilon: float16/bfloat16 outputs are
#: rounded once from float32 sums whose order differs between torch and the engines.
HALF_ULPS = 4


def check_torch_network(graph: OpGraph, gemm_fn: GemmFn = numpy_gemm, *,
                        inputs: Any = None, rtol: float = 1e-4,
                        atol: float = 1e-6) -> dict[str, Any]:
    """Run a torch graph with its weight GEMMs through ``gemm_fn`` and compare with torch.

    Parameters
    ----------
    graph : OpGraph
        From :func:`mapper.frontends.torchfx.load_torch`, pruned or not.
    gemm_fn : callable
        ``gemm_fn(op, act, weight, group) -> out`` as in :func:`mapper.check.check_network`.
    inputs : tensor or tuple of tensors, optional
        Forward inputs (default: the example inputs the graph was traced with).
    rtol, atol : float
        Float tolerance per tensor: ``|out - ref| <= atol + rtol * max|ref|``.

    Returns
    -------
    dict
        ``layers_checked`` (GEMM nodes computed through ``gemm_fn``), ``nodes``,
        ``max_abs_error``, ``max_rel_error``, ``outputs`` (output node → array), ``rtol``,
        ``atol``.

    Raises
    ------
    CheckFailedError
        Naming the first layer whose output differs, the tensor and the error.
    ConfigError
        ``graph`` was not read with the torch.fx front end.
    """
    from hwsim.errors import require

    torch = require("torch", "torch", "the torch network check")
    from .frontends.torchfx import eval_mode

    gm = graph.meta.get("torch_module")
    if graph.meta.get("front_end") != "torch" or gm is None:
        raise ConfigError(f"graph {graph.name!r} was not read with the torch.fx front end "
                          f"(front_end={graph.meta.get('front_end')!r})")
    feeds = graph.meta["torch_inputs"] if inputs is None else inputs
    feeds = tuple(feeds) if isinstance(feeds, (tuple, list)) else (feeds,)
    runner = _runner_class(torch)
    with eval_mode(gm), torch.no_grad():
        ref = runner(gm, graph, None)
        ref.run(*feeds)
        run = runner(gm, graph, gemm_fn, ref=ref.env, tol=(rtol, atol))
        result = run.run(*feeds)
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    outputs = {n.name: _np(run.env[n]) for n in out_node.all_input_nodes
               if isinstance(run.env.get(n), torch.Tensor)}
    del result
    return dict(layers_checked=run.checked, nodes=len(gm.graph.nodes),
                max_abs_error=run.max_abs, max_rel_error=run.max_rel, outputs=outputs,
                rtol=rtol, atol=atol)


def _runner_class(torch):
    from torch.fx import Interpreter

    from .prune import _node_layout

    class _Runner(Interpreter):
        """Runs the traced module; weight GEMMs with the graph's weights (or ``gemm_fn``)."""

        def __init__(self, gm, graph, gemm_fn, ref=None, tol=(1e-4, 1e-6)):
            super().__init__(gm, garbage_collect_values=False)
            self.extra_traceback = False  # our errors name the layer; keep them one line
            self.opg, self.gemm_fn, self.ref, self.tol = graph, gemm_fn, ref, tol
            self.gemms = graph.meta["torch_gemms"]
            self.weights = graph.meta["torch_weights"]
            self.producers = graph.meta["torch_producers"]
            self.by_name = {n.name: n for n in gm.graph.nodes}
            self.checked, self.max_abs, self.max_rel = 0, 0.0, 0.0

        def run_node(self, n):
            op_name = self.gemms.get(n.name)
            op = self.opg.op(op_name) if op_name in self.opg.g else None
            if op is None or op.weight is None:
                out = super().run_node(n)
            else:
                args, kwargs = self.fetch_args_kwargs_from_env(n)
                if self.gemm_fn is None:
                    out = self._reference(n, op, list(args), dict(kwargs))
                else:
                    out = self._engine(n, op, args, kwargs)
                    self.checked += 1
            if self.ref is not None and n.op not in ("placeholder", "get_attr", "output"):
                self._compare(n, out)
            return out

        def _original(self, n, info, args, kwargs):
            if n.op == "call_module":
                return self.module.get_submodule(n.target).weight
            ref = info["arg"]
            return args[ref] if isinstance(ref, int) else kwargs[ref]

        def _reference(self, n, op, args, kwargs):
            info = self.weights[op.name]
            orig = self._original(n, info, args, kwargs)
            w = torch.from_numpy(np.ascontiguousarray(
                _node_layout(op, info["layout"], info["shape"]))).to(orig.dtype)
            if n.op == "call_module":
                return _module_forward(torch, self.module.get_submodule(n.target), op, w,
                                       args, kwargs)
            if isinstance(info["arg"], int):
                args[info["arg"]] = w
            else:
                kwargs[info["arg"]] = w
            return getattr(self, n.op)(n.target, tuple(args), kwargs)

        def _engine(self, n, op, args, kwargs):
            info = self.weights[op.name]
            x_t = self.env[self.by_name[op.inputs[0]]]
            y = _engine_gemm(torch, self, n, op, info, x_t, self.gemm_fn)
            y = torch.from_numpy(np.ascontiguousarray(y)).to(x_t.dtype)
            y = y.reshape(n.meta["tensor_meta"].shape)
            bias = self._bias(n, args, kwargs)
            if bias is None:
                return y
            if isinstance(op, ConvOp):
                return y + bias.reshape((-1,) + (1,) * (len(info["shape"]) - 2))
            if n.target is torch.addmm:  # beta·input + alpha·(mat1 @ mat2)
                return kwargs.get("beta", 1) * bias + kwargs.get("alpha", 1) * y
            return y + bias

        def _bias(self, n, args, kwargs):
            if n.op == "call_module":
                return self.module.get_submodule(n.target).bias
            if n.target is torch.addmm:
                return args[0] if args else kwargs.get("input")
            return args[2] if len(args) > 2 else kwargs.get("bias")

        def _compare(self, n, out):
            vals = out if isinstance(out, (tuple, list)) else (out,)
            refs = self.ref[n] if isinstance(self.ref[n], (tuple, list)) else (self.ref[n],)
            layer = self.producers.get(n.name, n.name)
            op_type = self.opg.op(layer).op_type if layer in self.opg.g else str(n.target)
            for v, r in zip(vals, refs, strict=False):
                if isinstance(v, torch.Tensor) and isinstance(r, torch.Tensor):
                    rtol, atol = self.tol
                    if r.is_floating_point():  # half types: a few units of their last place
                        rtol = max(rtol, HALF_ULPS * torch.finfo(r.dtype).eps)
                    a, rel = _compare(layer, op_type, n.name, _np(v), _np(r), rtol, atol,
                                      against=_AGAINST)
                    self.max_abs, self.max_rel = max(self.max_abs, a), max(self.max_rel, rel)

    return _Runner


def _module_forward(torch, mod, op, w, args, kwargs):
    """The forward of a Linear/Conv/ConvTranspose module with weight ``w`` in place of its own
    (by its functional form: a parametrized or pruned module's weight is a computed property)."""
    F = torch.nn.functional
    x = args[0] if args else kwargs["input"]
    if op.op_type == "Linear":
        return F.linear(x, w, mod.bias)
    if op.op_type.startswith("ConvTranspose"):
        nsp = w.dim() - 2
        size = args[1] if len(args) > 1 else kwargs.get("output_size")
        opad = mod._output_padding(x, size, mod.stride, mod.padding, mod.kernel_size, nsp,
                                   mod.dilation)
        fn = F.conv_transpose1d if nsp == 1 else F.conv_transpose2d
        return fn(x, w, mod.bias, mod.stride, mod.padding, opad, mod.groups, mod.dilation)
    return mod._conv_forward(x, w, mod.bias)  # padding modes included


def _np(t) -> np.ndarray:
    t = t.detach().cpu()
    return (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy()


def _engine_gemm(torch, runner, n, op, info, x_t, gemm_fn) -> np.ndarray:
    """``op``'s GEMM of activation ``x_t`` through ``gemm_fn``, in the node's layout."""
    call = _group_gemm(op, gemm_fn)
    if not isinstance(op, ConvOp):
        return _matmul(op, _np(x_t), call, info["shape"] if op.groups > 1 else None)
    nsp = len(info["shape"]) - 2
    unbatched = x_t.dim() == nsp + 1
    x = x_t[None] if unbatched else x_t
    mode = getattr(runner.module.get_submodule(n.target), "padding_mode", "zeros") \
        if n.op == "call_module" else "zeros"
    if mode != "zeros" and not op.transposed:  # reflect/replicate/circular: pad, then no pads
        pt, pl, pb, pr = op.pads
        x = torch.nn.functional.pad(x, (pl, pr) if nsp == 1 else (pl, pr, pt, pb), mode=mode)
        op_pad = op.replace(pads=(0, 0, 0, 0))
    else:
        op_pad = op
    fn = _conv_transpose if op.transposed else _conv
    y = fn(op_pad, _np(x), call)
    return y[0] if unbatched else y
