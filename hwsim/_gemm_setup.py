"""GEMM run arguments: shape and batch, the ``RxC`` array override, engine and dataflow choice.

:mod:`hwsim.gemm` re-exports every name here.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

from . import sparsity as sp
from ._seed import check_seed
from .arch import GEMM_KINDS, Architecture, load_arch
from .errors import ConfigError, ShapeError

DATAFLOWS = ("ws", "os", "is")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ShapeError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ShapeError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def run_arguments(arch, m, k, n, batch, seed) -> tuple[Architecture, int, int, int, int, int]:
    """The architecture and validated shape, batch and seed every GEMM-based run shares.

    Raises
    ------
    ConfigError, InputFileError
        From :func:`hwsim.arch.load_arch`.
    ShapeError
        ``m``, ``k``, ``n`` or ``batch`` is not a positive integer.
    TypeError, ValueError
        ``seed`` is not a non-negative integer.
    """
    arch = load_arch(arch)
    m, k, n = (_positive_int(f, v) for f, v in (("m", m), ("k", k), ("n", n)))
    return arch, m, k, n, _positive_int("batch", batch), check_seed(seed)


def parse_array(array: Any) -> tuple[int, int]:
    """``"RxC"`` or ``(r, c)`` -> ``(rows, cols)``; ConfigError for anything else."""
    if isinstance(array, str):
        parts = array.lower().replace("×", "x").split("x")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            r, c = (int(p) for p in parts)
            if r >= 1 and c >= 1:
                return r, c
        raise ConfigError(
            f"array must look like RxC with positive integers (e.g. 32x32), got {array!r}"
        )
    if isinstance(array, (tuple, list)) and len(array) == 2:
        r, c = (_positive_int("array rows/cols", x) for x in array)
        return r, c
    raise ConfigError(f"array must be 'RxC' or (rows, cols), got {array!r}")


def pick_engine(arch: Architecture, engine: str | None) -> str:
    """The GEMM engine a run on ``arch`` uses.

    Parameters
    ----------
    arch : Architecture
        The architecture.
    engine : str or None
        An engine name, an engine kind with a single engine of that kind, or ``None`` for the
        first GEMM engine.

    Returns
    -------
    str
        The engine's name in ``arch.engines``.

    Raises
    ------
    ConfigError
        ``arch`` has no GEMM engine, or no engine matches ``engine``.
    """
    if engine is None:
        names = arch.gemm_engines()
        if not names:
            raise ConfigError(
                f"architecture {arch.name!r} has no GEMM engine (kinds {', '.join(GEMM_KINDS)})"
            )
        return names[0]
    if engine in arch.engines:
        return engine
    by_kind = [k for k, v in arch.engines.items() if v.kind == engine]
    if len(by_kind) == 1:
        return by_kind[0]
    arch.engine(engine)  # raises ConfigError listing the engines
    return engine


def _pick_dataflow(spec: Any, dataflow: str | None) -> str:
    allowed = tuple(getattr(spec, "dataflows", DATAFLOWS))
    if dataflow is None:
        return getattr(spec, "dataflow", None) or allowed[0]
    if dataflow not in DATAFLOWS or dataflow not in allowed:
        raise ConfigError(
            f"engine kind {spec.kind!r} supports dataflows {', '.join(allowed)}, got {dataflow!r}"
        )
    return dataflow


def _sparsity(sparsity: Any):
    if isinstance(sparsity, str):
        return sp.parse_sparsity(sparsity)
    if sparsity is None:
        return sp.Dense()
    return sparsity


def _engine_with_array(arch: Architecture, engine: str | None, array: Any):
    name = pick_engine(arch, engine)
    if array is not None:
        r, c = parse_array(array)
        kind = arch.engine(name).kind
        if not {"rows", "cols"} <= {f.name for f in dataclasses.fields(arch.engine(name))}:
            raise ConfigError(
                f"array (RxC) applies to engines with a rows x cols geometry (systolic, "
                f"nm_pe_array), not to {kind} engine {name!r}"
            )
        arch = arch.with_engine_overrides(name, rows=r, cols=c)
    spec = arch.engine(name)
    if not type(spec).gemm_capable:
        raise ConfigError(f"engine {name!r} has kind {spec.kind!r}, which cannot run a GEMM")
    return name, arch
