"""hwsim: cycle-approximate co-design simulator for sparse neural-network accelerators."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    CheckFailedError,
    ConfigError,
    HwsimError,
    InputFileError,
    MissingExtraError,
    PatternError,
    ShapeError,
    ToolError,
    UnsupportedOperatorError,
)
from .result import SCHEMA_VERSION, RunResult

if TYPE_CHECKING:  # pragma: no cover
    from .arch import Architecture, list_presets, load_arch
    from .gemm import simulate_gemm
    from .sweep import load_results, run_sweep
    from .training import simulate_training

__all__ = [
    "__version__",
    "SCHEMA_VERSION",
    "RunResult",
    "Architecture",
    "load_arch",
    "list_presets",
    "simulate_gemm",
    "simulate_training",
    "run_sweep",
    "load_results",
    "HwsimError",
    "ConfigError",
    "PatternError",
    "ShapeError",
    "UnsupportedOperatorError",
    "InputFileError",
    "CheckFailedError",
    "MissingExtraError",
    "ToolError",
]

#: Public names imported on first access, so that ``import hwsim`` stays light (no SimPy,
#: pandas or YAML until a model is used).
_LAZY = {
    "Architecture": "hwsim.arch",
    "load_arch": "hwsim.arch",
    "list_presets": "hwsim.arch",
    "simulate_gemm": "hwsim.gemm",
    "simulate_training": "hwsim.training",
    "run_sweep": "hwsim.sweep",
    "load_results": "hwsim.sweep",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hwsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
