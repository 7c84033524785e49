"""hwsim: cycle-approximate co-design simulator for sparse neural-network accelerators."""

from ._version import __version__
from .errors import (
    CheckFailedError,
    ConfigError,
    HwsimError,
    InputFileError,
    MissingExtraError,
    PatternError,
    ShapeError,
    UnsupportedOperatorError,
)
from .result import SCHEMA_VERSION, RunResult

__all__ = [
    "__version__",
    "SCHEMA_VERSION",
    "RunResult",
    "HwsimError",
    "ConfigError",
    "PatternError",
    "ShapeError",
    "UnsupportedOperatorError",
    "InputFileError",
    "CheckFailedError",
    "MissingExtraError",
]
