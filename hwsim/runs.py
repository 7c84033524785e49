"""The one registry of run kinds: what a run of each kind needs and how it is started.

The CLI (its run subcommands), sweep specs (``kind:``, the run arguments each kind accepts)
and the demo all read this table, so a new kind of run is one :func:`register_run_kind`.
Runners and argument tables are named as ``"module:attribute"`` strings and imported on first
use: ``hwsim`` itself never imports ``mapper`` (the ``network`` kind lives there).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = ["RunKind", "RUN_KINDS", "register_run_kind", "run_kind", "run", "resolve"]


@dataclass(frozen=True)
class RunKind:
    """One kind of run.

    Attributes
    ----------
    name : str
        ``gemm``, ``spgemm``, ``training``, ``network``...
    runner : str
        ``"module:function"``; ``function(arch, args: dict) -> RunResult``.
    args : str
        ``"module:function"`` returning the sweep argument table (name -> (validator,
        default)).
    required : tuple of str
        Run arguments a point must set.
    cli : str or None
        Module of its ``hwsim`` subcommand (``register(subparsers)``), if it has its own.
    description : str
    """

    name: str
    runner: str
    args: str
    required: tuple[str, ...] = ()
    cli: str | None = None
    description: str = ""


#: name -> RunKind, in registration order.
RUN_KINDS: dict[str, RunKind] = {}


def register_run_kind(kind: RunKind) -> RunKind:
    """Add ``kind`` to :data:`RUN_KINDS` (a new name only)."""
    if kind.name in RUN_KINDS:
        raise ValueError(f"run kind {kind.name!r} is already registered")
    RUN_KINDS[kind.name] = kind
    return kind


def resolve(ref: str) -> Any:
    """The attribute named by ``"module:attribute"``."""
    mod, _, attr = ref.partition(":")
    return getattr(importlib.import_module(mod), attr)


def run_kind(name: str) -> RunKind:
    """The registered kind ``name``; ConfigError listing the kinds otherwise."""
    try:
        return RUN_KINDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown run kind {name!r}; expected one of {', '.join(RUN_KINDS)}", key="kind"
        ) from None


def run(name: str, arch: Any, args: dict[str, Any]):
    """Run one point of kind ``name`` on ``arch`` with run arguments ``args``."""
    fn: Callable = resolve(run_kind(name).runner)
    return fn(arch, dict(args))


# -- runners ------------------------------------------------------------------------------------
def run_gemm(arch, args: dict[str, Any]):
    """Kind ``gemm``: :func:`hwsim.gemm.simulate_gemm`."""
    from .gemm import simulate_gemm

    return simulate_gemm(arch, **args)


def run_training(arch, args: dict[str, Any]):
    """Kind ``training``: :func:`hwsim.training.simulate_training` (one BDWP layer step)."""
    from .training import simulate_training

    args = dict(args)
    args.pop("training", None)
    return simulate_training(arch, **args)


def run_spgemm(arch, args: dict[str, Any]):
    """Kind ``spgemm``: :func:`hwsim.spgemm.simulate_spgemm` (``rmat`` or ``matrix`` input)."""
    from .spgemm import rmat, simulate_spgemm

    args = dict(args)
    shape, a, b = args.pop("rmat", None), args.pop("matrix", None), args.pop("matrix_b", None)
    if shape is not None:
        a = rmat(*shape, seed=args["seed"])
    return simulate_spgemm(a, b, arch=arch, **args)


def run_network(arch, args: dict[str, Any]):
    """Kind ``network``: ``mapper.api.run_model`` (load → prune → simulate in one run)."""
    api = importlib.import_module("mapper.api")
    args = dict(args)
    load_keys = ("batch", "seq_len", "kv_len", "phase")
    load = {k: args.pop(k) for k in load_keys if k in args}
    model = args.pop("model")
    return api.run_model(arch, model, load_options=load, **args)


register_run_kind(RunKind("gemm", "hwsim.runs:run_gemm", "hwsim.sweep_spec:_gemm_args",
                          ("arch", "m", "k", "n"), "hwsim.cli_gemm",
                          "one (sparse) GEMM on a GEMM engine"))
register_run_kind(RunKind("spgemm", "hwsim.runs:run_spgemm", "hwsim.sweep_spec:_spgemm_args",
                          (), "hwsim.cli_spgemm", "one SpGEMM on the SpGEMM engine"))
register_run_kind(RunKind("training", "hwsim.runs:run_training",
                          "hwsim.sweep_spec:_training_args", ("arch", "m", "k", "n"), None,
                          "one BDWP training step of a layer (hwsim gemm --training)"))
register_run_kind(RunKind("network", "hwsim.runs:run_network",
                          "hwsim.sweep_spec:_network_args", ("arch", "model"), "mapper.cli_run",
                          "a whole network in one run (hwsim run)"))
