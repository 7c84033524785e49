"""Run arguments of a sweep spec: each kind's argument table, the value checks, the checker.

:mod:`hwsim.sweep_spec` re-exports every name here (its run-kind registry entries name the
tables there).
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Callable
from typing import Any

from ._spec import _Problems, _short
from .errors import HwsimError

_ARCH_PREFIX = "arch."
#: Default of an engine-field override: none (the engine's own value stands).
_NO_DEFAULT = object()


class _Bad(Exception):
    """A value that fails its run argument's check (message only; the caller adds the key)."""


def _int(lo: int = 1, optional: bool = False) -> Callable[[Any], Any]:
    def check(v):
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
            raise _Bad(f"expected an integer >= {lo}, got {_short(v)}")
        return int(v)

    return check


def _float(v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise _Bad(f"expected a number, got {_short(v)}")
    return float(v)


def _bool(v):
    if not isinstance(v, bool):
        raise _Bad(f"expected true or false, got {_short(v)}")
    return v


def _str(choices: tuple[str, ...] | None = None, optional: bool = False):
    def check(v):
        if v is None and optional:
            return None
        if not isinstance(v, str):
            raise _Bad(f"expected a string, got {_short(v)}")
        if choices is not None and v not in choices:
            raise _Bad(f"expected one of {', '.join(choices)}, got {_short(v)}")
        return v

    return check


def _sparsity(v):
    from .sparsity import parse_sparsity

    if not isinstance(v, str):
        raise _Bad(f"expected a pattern (dense, N:M, block:BxB:D, unstructured:D), got {_short(v)}")
    try:
        parse_sparsity(v)
    except (HwsimError, ValueError) as exc:
        raise _Bad(str(exc)) from None
    return v


def _array(v):
    from .gemm import parse_array

    if v is None:
        return None
    try:
        r, c = parse_array(v)
    except (HwsimError, ValueError) as exc:
        raise _Bad(getattr(exc, "detail", str(exc))) from None
    return f"{r}x{c}"


def _rmat(v):
    if v is None:
        return None
    parts = v.split(",") if isinstance(v, str) else v
    try:
        scale, ef = (int(x) if isinstance(x, str) else x for x in parts)
        if any(isinstance(x, bool) or not isinstance(x, numbers.Integral) for x in (scale, ef)):
            raise ValueError
    except (TypeError, ValueError):
        raise _Bad(f"expected [SCALE, EDGE_FACTOR] (two integers), got {_short(v)}") from None
    return [int(scale), int(ef)]


@functools.cache
def _gemm_args() -> dict[str, tuple[Callable, Any]]:
    from .gemm import DATAFLOWS

    return {
        "arch": (_str(), None),
        "m": (_int(), None),
        "k": (_int(), None),
        "n": (_int(), None),
        "sparsity": (_sparsity, "dense"),
        "engine": (_str(optional=True), None),
        "dataflow": (_str(DATAFLOWS, optional=True), None),
        "precision": (_str(("int8", "int16", "fp16", "bf16")), "int8"),
        "batch": (_int(), 1),
        "array": (_array, None),
        "training": (_bool, False),
        "check": (_bool, True),
        "seed": (_int(0), 0),
    }


@functools.cache
def _spgemm_args() -> dict[str, tuple[Callable, Any]]:
    import typing

    from .spgemm.engine import DATAFLOWS
    from .spgemm.spec import SpgemmSpec

    args: dict[str, tuple[Callable, Any]] = {
        "arch": (_str(), "smash-piuma"),
        "rmat": (_rmat, None),
        "matrix": (_str(optional=True), None),
        "matrix_b": (_str(optional=True), None),
        "dataflow": (_str(DATAFLOWS), "rowwise-hash"),
        "workers": (_int(optional=True), None),
        "engine": (_str(optional=True), None),
        "chunk_products": (_int(optional=True), None),
        "check": (_bool, True),
        "seed": (_int(0), 0),
    }
    hints = typing.get_type_hints(SpgemmSpec)
    by_type = {int: _int(0), float: _float, str: _str(), bool: _bool}
    for f in dataclasses.fields(SpgemmSpec):
        if f.name not in args and hints.get(f.name) in by_type:
            args[f.name] = (by_type[hints[f.name]], _NO_DEFAULT)  # engine field override
    return args


@functools.cache
def _training_args() -> dict[str, tuple[Callable, Any]]:
    args = dict(_gemm_args())
    args.pop("training")
    args["sparsity"] = (_sparsity, "2:8")
    return args


@functools.cache
def _network_args() -> dict[str, tuple[Callable, Any]]:
    from .gemm import DATAFLOWS

    return {
        "arch": (_str(), None),
        "model": (_str(), None),
        "sparsity": (_str(optional=True), None),
        "engine": (_str(optional=True), None),
        "dataflow": (_str(DATAFLOWS, optional=True), None),
        "precision": (_str(("int8", "int16", "fp16", "bf16")), "int8"),
        "array": (_array, None),
        "batch": (_int(), 1),
        "seq_len": (_int(), 128),
        "kv_len": (_int(optional=True), None),
        "phase": (_str(("prefill", "decode")), "prefill"),
        "training": (_bool, False),
        "check": (_bool, True),
        "seed": (_int(0), 0),
    }


def _engine_field(name: str, arch) -> bool:
    """``arch.engines.NAME.FIELD`` naming a field of an engine of ``arch``."""
    parts = name[len(_ARCH_PREFIX):].split(".")
    return len(parts) == 3 and parts[0] == "engines" and parts[1] in arch.engines


class _RegistryTables:
    """``kind -> argument-table factory`` and ``kind -> required names`` from the registry."""

    def __init__(self, what: str):
        self.what = what

    def __getitem__(self, kind: str):
        from .runs import resolve, run_kind

        rk = run_kind(kind)
        return resolve(rk.args) if self.what == "args" else rk.required


_ARG_TABLES = _RegistryTables("args")
_REQUIRED = _RegistryTables("required")


def _allowed_text(table: dict) -> str:
    return ", ".join(sorted(table)) + f", {_ARCH_PREFIX}<path> (architecture field override)"


class _RunArgChecker:
    """Checks the run arguments of a spec of ``kind`` (:meth:`SweepSpec.from_dict`): every
    problem goes to ``problems``, and a bad value reads back as ``None``."""

    def __init__(self, problems: _Problems, kind: str):
        self.problems = problems
        self.kind = kind
        self.table = _ARG_TABLES[kind]()

    def value(self, name, value, key):
        """``value`` of run argument ``name`` (at ``key``) as the table's check returns it."""
        problems, table = self.problems, self.table
        if not isinstance(name, str):
            return problems.add(f"run argument names are strings, got {_short(name)}", key)
        if name.startswith(_ARCH_PREFIX) and len(name) > len(_ARCH_PREFIX):
            if isinstance(value, (dict, list)):
                problems.add(f"an architecture override is a scalar, got {_short(value)}", key)
            return value
        if name not in table:
            return problems.add(f"unknown run argument {_short(name)} for kind "
                                f"{_short(self.kind)}", key.rsplit("[", 1)[0],
                                f"allowed: {_allowed_text(table)}")
        try:
            return table[name][0](value)
        except _Bad as exc:
            return problems.add(str(exc), key)

    def mapping(self, obj, key) -> dict[str, Any]:
        """A mapping of run arguments (``base`` or a point), each value checked."""
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            self.problems.add(f"expected a mapping of run arguments, got {_short(obj)}", key)
            return {}
        return {k: self.value(k, v, f"{key}.{k}") for k, v in obj.items()}

    def seed(self, seed):
        """The spec's ``seed``: an integer >= 0."""
        try:
            return _int(0)(seed)
        except _Bad as exc:
            self.problems.add(str(exc), "seed")
            return seed

    def axes(self, raw_axes) -> dict[str, list]:
        """``axes``: argument name -> non-empty list of values, each checked."""
        if not isinstance(raw_axes, dict):
            self.problems.add(f"expected a mapping of argument -> list of values, "
                              f"got {_short(raw_axes)}", "axes")
            raw_axes = {}
        axes = {}
        for name, values in raw_axes.items():
            if not isinstance(values, list) or not values:
                self.problems.add(f"expected a non-empty list of values, got {_short(values)}",
                                  f"axes.{name}")
                continue
            axes[name] = [self.value(name, v, f"axes.{name}[{i}]") for i, v in enumerate(values)]
        return axes

    def points(self, raw_points, axes: dict[str, list]) -> list[dict[str, Any]]:
        """``points``: a list of mappings of run arguments, none setting an axis."""
        if not isinstance(raw_points, list):
            self.problems.add(f"expected a list of mappings, got {_short(raw_points)}", "points")
            raw_points = []
        points = []
        for i, p in enumerate(raw_points):
            p = self.mapping(p, f"points[{i}]")
            both = sorted(set(p) & set(axes))
            if both:
                self.problems.add(f"{_short(both[0])} is also an axis; set it in one place",
                                  f"points[{i}]")
            points.append(p)
        return points

    def required(self, base: dict, axes: dict, points: list[dict]) -> None:
        """Every point has the kind's required arguments (an spgemm point exactly one input)."""
        for i, p in enumerate(points or [{}]):
            merged = {**base, **p, **dict.fromkeys(axes)}
            where = f"points[{i}]" if points else "base"
            missing = [r for r in _REQUIRED[self.kind] if r not in merged]
            if missing:
                self.problems.add(f"missing run argument {_short(missing[0])} (set it in base, "
                                  "an axis or points)", where)
            if self.kind == "spgemm":
                inputs = [x for x in ("rmat", "matrix") if x in merged]
                if len(inputs) != 1:
                    self.problems.add("an spgemm point needs exactly one input, rmat: [SCALE, EF] "
                                      f"or matrix: A.mtx; got {inputs or 'none'}", where)
