"""Compute-engine models, looked up by the kind of an architecture's engine spec."""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import PRECISION_BYTES, GemmEngine, GemmWork, TilePlan

__all__ = [
    "ENGINE_MODELS",
    "register_engine_model",
    "engine_model",
    "GemmEngine",
    "GemmWork",
    "TilePlan",
    "PRECISION_BYTES",
]

#: kind -> engine model class (implements :class:`~hwsim.engines.base.GemmEngine`).
ENGINE_MODELS: dict[str, type] = {}

#: Modules whose import registers the built-in models; absent ones are skipped.
_MODEL_MODULES = (
    "hwsim.engines.systolic",
    "hwsim.engines.pe_array",
    "hwsim.engines.dsp_chain",
)
_loaded = False


def register_engine_model(kind: str):
    """Class decorator registering a GEMM engine model for engine-spec ``kind``.

    The class is instantiated without arguments and must provide ``plan`` and ``compute``
    (:class:`~hwsim.engines.base.GemmEngine`); its ``kind`` attribute is set to ``kind``.
    """

    def deco(cls):
        if not (callable(getattr(cls, "plan", None)) and callable(getattr(cls, "compute", None))):
            raise TypeError(f"{cls.__name__} must define plan() and compute() to be an engine")
        cls.kind = kind
        ENGINE_MODELS[kind] = cls
        return cls

    return deco


def _load_models() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _MODEL_MODULES:
        importlib.import_module(mod)


def engine_model(kind: str) -> GemmEngine:
    """A fresh model instance for engine-spec ``kind``.

    Raises
    ------
    ConfigError
        When no model is registered for ``kind`` (listing the registered kinds).
    """
    _load_models()
    try:
        cls = ENGINE_MODELS[kind]
    except KeyError:
        have = ", ".join(sorted(ENGINE_MODELS)) or "none"
        raise ConfigError(
            f"no GEMM engine model for kind {kind!r}; registered models: {have}"
        ) from None
    return cls()
