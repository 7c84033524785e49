"""Typed errors shared by every part of hwsim (model, mapper, RTL front ends, CLI)."""

from __future__ import annotations

__all__ = [
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


class HwsimError(Exception):
    """Base class of every error hwsim raises on purpose.

    The CLI prints ``str(err)`` on one line and exits non-zero for any subclass.
    """


class ConfigError(HwsimError, ValueError):
    """A bad architecture description or option.

    Parameters
    ----------
    message : str
        What was wrong and what was expected.
    source : str, optional
        File (or ``"<preset NAME>"``/``"<dict>"``) the value came from.
    key : str, optional
        Dotted key path of the offending field, e.g. ``engines.pe_array.rows``.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        self.detail = message
        where = ""
        if source:
            where += f"{source}: "
        if key:
            where += f"{key}: "
        super().__init__(f"{where}{message}")


class PatternError(HwsimError, ValueError):
    """A tensor does not satisfy the sparsity pattern it is declared to have."""


class ShapeError(HwsimError, ValueError):
    """Operand shapes are impossible or incompatible."""


class UnsupportedOperatorError(HwsimError, NotImplementedError):
    """A model front end met an operator it cannot map."""


class InputFileError(HwsimError, OSError):
    """A user input file is missing, unreadable or malformed."""


class CheckFailedError(HwsimError):
    """The functional check of a run did not match the dense NumPy reference."""


class ToolError(HwsimError, RuntimeError):
    """An external tool (Yosys, an HDL simulator) failed or timed out; the message says how."""


class MissingExtraError(HwsimError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, what: str):
        self.package = package
        self.extra = extra
        super().__init__(
            f"{what} needs the Python package '{package}', which is not installed; "
            f"install it with: pip install 'hwsim[{extra}]'"
        )


def require(module: str, extra: str, what: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module.split(".")[0], extra, what) from exc
