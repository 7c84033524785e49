"""Generic machinery of the validated spec dataclasses: field metadata, checks, building from data.

Specs are frozen dataclasses mixing in :class:`_Spec`; numeric fields carry
``metadata={"range": (lo, hi)}`` and optionally ``"choices"``/``"doc"`` (build it with
:func:`_r`/:func:`_c`). :func:`build_spec` walks plain data (parsed YAML) into specs, naming the
dotted key of the first bad field; engine specs are discriminated by ``kind`` through
:func:`register_engine_kind`. :mod:`hwsim.arch` re-exports everything public here.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import reprlib
import types
import typing
from typing import Any, ClassVar

from .errors import ConfigError

__all__ = [
    "EngineSpec",
    "ENGINE_KINDS",
    "register_engine_kind",
    "build_spec",
    "spec_to_dict",
]

#: kind -> spec class; filled by :func:`register_engine_kind`.
ENGINE_KINDS: dict[str, type] = {}
#: Kind modules imported on first use so that their ``register_engine_kind`` calls run.
_KIND_MODULES = ("hwsim.spgemm.spec",)
_kinds_loaded = False


def _r(lo, hi, doc: str = "", choices: tuple | None = None) -> dict:
    """Field metadata: inclusive ``range``, optional ``choices`` and ``doc``."""
    meta: dict[str, Any] = {"doc": doc}
    if lo is not None:
        meta["range"] = (lo, hi)
    if choices is not None:
        meta["choices"] = choices
    return meta


def _c(choices: tuple, doc: str = "") -> dict:
    return {"choices": choices, "doc": doc}


#: Longest repr of a bad value quoted in an error (a whole file read as one YAML string
#: must not become the message).
_SHORT = 60


def _short(value: Any) -> str:
    """``repr(value)`` cut to :data:`_SHORT` characters, in bounded work.

    ``reprlib`` limits each level of a nested value (a YAML alias bomb expands to a huge
    nested list: its full ``repr`` would take minutes and gigabytes before being cut).
    """
    text = repr(value[: _SHORT + 1]) if isinstance(value, str) else _REPR.repr(value)
    return text if len(text) <= _SHORT else f"{text[: _SHORT - 3]}..."


def _bounded_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxstring = r.maxother = r.maxlong = _SHORT
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 8
    return r


_REPR = _bounded_repr()


class _Problems:
    """Every problem of a spec, collected and reported together in one :class:`ConfigError`
    (``problems`` attribute: the ``(key, message)`` pairs)."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[tuple[str | None, str, str]] = []  # (key, message, hint)

    def error(self, msg: str, key: str | None = None) -> ConfigError:
        return ConfigError(msg, source=self.source, key=key)

    def add(self, msg: str, key: str | None = None, hint: str = "") -> None:
        self.items.append((key, msg, hint))

    def fatal(self, msg: str, key: str | None = None) -> ConfigError:
        """The error to raise now: earlier problems plus this one (validation cannot go on)."""
        self.add(msg, key)
        return self._error()

    def raise_if_any(self) -> None:
        if self.items:
            raise self._error()

    def _error(self) -> ConfigError:
        if len(self.items) == 1:
            key, msg, hint = self.items[0]
            return ConfigError(f"{msg}; {hint}" if hint else msg, source=self.source, key=key)
        parts = [f"{key}: {msg}" if key else msg for key, msg, _ in self.items]
        hints = list(dict.fromkeys(h for _, _, h in self.items if h))
        text = f"{len(self.items)} problems: " + "; ".join(parts)
        if hints:
            text += " (" + "; ".join(hints) + ")"
        err = ConfigError(text, source=self.source)
        err.problems = [(k, m) for k, m, _ in self.items]
        return err


# -- generic validation ---------------------------------------------------------------------------
@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _split_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _describe(tp: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _check_scalar(tp: Any, value: Any, meta: dict, key: str) -> Any:
    """Check one scalar against its type, range and choices; returns the (coerced) value."""
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
    }.get(tp, True)
    rng = meta.get("range")
    what = _describe(tp)
    if not ok:
        span = f" in {rng[0]}..{rng[1]}" if rng else ""
        raise ConfigError(f"expected {what}{span}, got {_short(value)}", key=key)
    if tp is float:
        value = float(value)
    if rng is not None and not (rng[0] <= value <= rng[1]):
        raise ConfigError(f"expected {what} in {rng[0]}..{rng[1]}, got {_short(value)}", key=key)
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"expected one of {opts}, got {_short(value)}", key=key)
    return value


class _Spec:
    """Mixin: validate own scalar/tuple fields after construction (ranges, choices, types)."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            tp, optional = _split_optional(hints[f.name])
            value = getattr(self, f.name)
            if value is None and optional:
                continue
            meta = dict(f.metadata)
            if tp in (int, float, str, bool):
                new = _check_scalar(tp, value, meta, f.name)
            elif typing.get_origin(tp) is tuple:
                if not isinstance(value, (list, tuple)):
                    raise ConfigError(f"expected a list, got {_short(value)}", key=f.name)
                (elem,) = typing.get_args(tp)[:1]
                new = tuple(
                    _check_scalar(elem, v, meta, f"{f.name}[{i}]") for i, v in enumerate(value)
                )
                if meta.get("nonempty") and not new:
                    raise ConfigError("expected a non-empty list", key=f.name)
            elif typing.get_origin(tp) is dict:
                if not isinstance(value, dict):
                    raise ConfigError(f"expected a mapping, got {_short(value)}", key=f.name)
                continue
            elif dataclasses.is_dataclass(tp):
                if not isinstance(value, tp):
                    raise ConfigError(f"expected {tp.__name__}, got {_short(value)}", key=f.name)
                continue
            else:  # pragma: no cover - spec authoring error
                raise TypeError(f"unsupported field type {tp!r} on {type(self).__name__}")
            if new is not value:
                object.__setattr__(self, f.name, new)
        self._check()

    def _check(self) -> None:
        """Cross-field constraints; raise ConfigError with a field key."""


def _join(path: str, key: str | None) -> str:
    if not key:
        return path
    return f"{path}.{key}" if path else key


def build_spec(cls: type, data: Any, *, source: str = "<dict>", path: str = "") -> Any:
    """Build any registered spec dataclass from plain data, validating it.

    Walks nested dataclasses, tuples and ``dict[str, Spec]`` mappings (engine specs are
    discriminated by their ``kind`` key).

    Raises
    ------
    ConfigError
        Naming ``source`` and the dotted key of the first bad field: unknown keys (with the
        allowed ones), missing keys, wrong types, values out of range or not among the choices.
    """
    if cls is EngineSpec:
        return _build_engine(data, source=source, path=path)
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping, got {_short(data)}", source=source, key=path or None)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    allowed = set(fields)
    if isinstance(cls, type) and issubclass(cls, EngineSpec):
        allowed = allowed | {"kind"}
        if "kind" in data and data["kind"] != cls.kind:
            raise ConfigError(
                f"expected kind {cls.kind!r}, got {_short(data['kind'])}",
                source=source,
                key=_join(path, "kind"),
            )
    for k in data:
        if k not in allowed:
            raise ConfigError(
                f"unknown key {_short(k)}; allowed keys: {', '.join(sorted(allowed))}",
                source=source,
                key=_join(path, str(k)),
            )
    kwargs: dict[str, Any] = {}
    hints = _hints(cls)
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError("missing required key", source=source, key=_join(path, name))
            continue
        tp, optional = _split_optional(hints[name])
        value = data[name]
        sub = _join(path, name)
        if value is None and optional:
            kwargs[name] = None
        elif dataclasses.is_dataclass(tp) or tp is EngineSpec:
            kwargs[name] = build_spec(tp, value, source=source, path=sub)
        elif typing.get_origin(tp) is dict:
            vt = typing.get_args(tp)[1]
            if not isinstance(value, dict):
                raise ConfigError(f"expected a mapping, got {_short(value)}", source=source, key=sub)
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise ConfigError(f"expected string keys, got {_short(k)}", source=source, key=sub)
                if dataclasses.is_dataclass(vt) or vt is EngineSpec:
                    out[k] = build_spec(vt, v, source=source, path=_join(sub, k))
                else:
                    try:
                        out[k] = _check_scalar(vt, v, {}, _join(sub, k))
                    except ConfigError as exc:
                        raise ConfigError(exc.detail, source=source, key=exc.key) from None
            kwargs[name] = out
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(exc.detail, source=source, key=_join(path, exc.key)) from None


def _load_kind_modules() -> None:
    global _kinds_loaded
    if _kinds_loaded:
        return
    _kinds_loaded = True
    for mod in _KIND_MODULES:
        importlib.import_module(mod)


def _build_engine(data: Any, *, source: str, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping, got {_short(data)}", source=source, key=path or None)
    kind = data.get("kind")
    if kind not in ENGINE_KINDS:
        # Kind modules (e.g. hwsim.spgemm, which pulls in SciPy) load only when a description
        # uses a kind not registered yet, so that plain presets load fast.
        _load_kind_modules()
    if kind not in ENGINE_KINDS:
        known = ", ".join(sorted(ENGINE_KINDS))
        what = "missing engine kind" if kind is None else f"unknown engine kind {_short(kind)}"
        raise ConfigError(
            f"{what}; expected one of {known}", source=source, key=_join(path, "kind")
        )
    body = {k: v for k, v in data.items() if k != "kind"}
    return build_spec(ENGINE_KINDS[kind], body, source=source, path=path)


def spec_to_dict(obj: Any) -> Any:
    """Plain (YAML/JSON-ready) data of a spec; engine specs carry their ``kind`` first."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        if isinstance(obj, EngineSpec):
            out["kind"] = obj.kind
        for f in dataclasses.fields(obj):
            out[f.name] = spec_to_dict(getattr(obj, f.name))
        return out
    if isinstance(obj, (list, tuple)):
        return [spec_to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): spec_to_dict(v) for k, v in obj.items()}
    return obj


# -- engine kinds ---------------------------------------------------------------------------------
class EngineSpec(_Spec):
    """Base of every engine spec; subclasses are frozen dataclasses registered by kind.

    Attributes
    ----------
    kind : str
        Registry key (class attribute, set by :func:`register_engine_kind`).
    gemm_capable : bool
        Whether ``simulate_gemm`` may pick this engine by default.
    """

    kind: ClassVar[str] = ""
    gemm_capable: ClassVar[bool] = False

    @property
    def multipliers(self) -> int:
        """Multipliers (MAC units) of the engine; the denominator of utilization."""
        return 0


def register_engine_kind(kind: str):
    """Class decorator registering an engine spec dataclass under ``kind``.

    The class must be a frozen dataclass deriving from :class:`EngineSpec`; numeric fields carry
    ``metadata={"range": (lo, hi)}`` and optionally ``"choices"`` and ``"doc"``.
    """

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, EngineSpec)):
            raise TypeError(f"{cls!r} must subclass hwsim.arch.EngineSpec")
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass")
        if kind in ENGINE_KINDS and ENGINE_KINDS[kind] is not cls:
            old = ENGINE_KINDS[kind]
            if (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
                raise ValueError(f"engine kind {kind!r} is already registered by {old.__name__}")
        cls.kind = kind
        ENGINE_KINDS[kind] = cls
        return cls

    return deco
