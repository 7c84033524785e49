"""Engine assignment: which engine of an architecture runs each operation of an OpGraph.

Default policy (documented, overridable):

* weight GEMMs and convolutions (``gemm``) and activation × activation products (``matmul``)
  → the architecture's first GEMM engine (``nm_pe_array``, ``systolic`` or ``dsp_chain``);
* sparse × sparse/dense products (``spgemm``) → the first ``spgemm`` engine;
* element-wise, activation, softmax, normalisation, reduction and pooling (``vector``) → the
  vector unit (``vector``), costed by :mod:`hwsim.vector`;
* data movement (``data``) → free when the op is a view (Reshape, Flatten, Squeeze...), else an
  on-chip copy on the vector unit.

A mapping file overrides it per layer: YAML with a list of rules under ``rules``, each with
``engine`` and at least one of ``name`` (a glob on the op name), ``op_type`` (exact operator as
given) or ``kind`` (``gemm``, ``matmul``, ``vector``, ``data``, ``spgemm``); the first rule that
matches an op wins::

    rules:
      - {name: "encoder.11.*", engine: systolic}
      - {op_type: Softmax, engine: vector}
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError

from .graph import Op, OpGraph

__all__ = ["MappingRule", "load_mapping", "assign_engines", "VECTOR_ENGINE"]

VECTOR_ENGINE = "vector"
_RULE_KEYS = ("name", "op_type", "kind", "engine")
_KINDS = ("gemm", "matmul", "vector", "data", "spgemm")


@dataclass(frozen=True)
class MappingRule:
    """One override: ops matching every given field run on ``engine``."""

    engine: str
    name: str | None = None
    op_type: str | None = None
    kind: str | None = None

    def matches(self, op: Op) -> bool:
        """Whether ``op`` matches this rule."""
        if self.name is not None and not fnmatch.fnmatchcase(op.name, self.name):
            return False
        if self.op_type is not None and op.op_type != self.op_type:
            return False
        return self.kind is None or op.kind == self.kind


def load_mapping(source: Any) -> list[MappingRule]:
    """Rules from a mapping YAML file (path), a dict ``{"rules": [...]}`` or a list of dicts.

    Raises
    ------
    ConfigError
        Unknown keys, a rule without ``engine`` or without a selector, a bad ``kind``; the
        message names the file and the rule index.
    InputFileError
        The file cannot be read or is not YAML.
    """
    where = "<mapping>"
    if isinstance(source, (str, Path)):
        where = str(source)
        source = _read_yaml(Path(source))
    if isinstance(source, dict):
        extra = set(source) - {"rules"}
        if extra:
            raise ConfigError(f"unknown keys {sorted(extra)}; expected 'rules'", source=where)
        source = source.get("rules")
    if not isinstance(source, list):
        raise ConfigError("expected a list of rules under 'rules'", source=where, key="rules")
    rules = []
    for i, r in enumerate(source):
        key = f"rules[{i}]"
        if not isinstance(r, dict):
            raise ConfigError(f"expected a mapping, got {type(r).__name__}", source=where, key=key)
        bad = set(r) - set(_RULE_KEYS)
        if bad:
            raise ConfigError(f"unknown keys {sorted(bad)}; expected {', '.join(_RULE_KEYS)}",
                              source=where, key=key)
        if not isinstance(r.get("engine"), str):
            raise ConfigError("every rule needs an 'engine' (a name)", source=where, key=key)
        if not any(r.get(k) is not None for k in ("name", "op_type", "kind")):
            raise ConfigError("a rule needs at least one of name, op_type, kind",
                              source=where, key=key)
        for k in ("name", "op_type", "kind"):
            if r.get(k) is not None and not isinstance(r[k], str):
                raise ConfigError(f"{k} must be a string", source=where, key=f"{key}.{k}")
        if r.get("kind") is not None and r["kind"] not in _KINDS:
            raise ConfigError(f"kind must be one of {', '.join(_KINDS)}, got {r['kind']!r}",
                              source=where, key=f"{key}.kind")
        rules.append(MappingRule(**{k: r.get(k) for k in _RULE_KEYS}))
    return rules


#: Largest mapping file read (bytes).
MAPPING_FILE_LIMIT = 1 << 20


def _read_yaml(path: Path) -> Any:
    """The mapping file through hwsim's bounded YAML reader: a regular UTF-8 file of at most
    :data:`MAPPING_FILE_LIMIT` bytes, a node budget, duplicate keys refused."""
    from hwsim._yaml import SpecLoader, load_yaml, read_user_file

    text = read_user_file(path, "mapping file", limit=MAPPING_FILE_LIMIT)
    return load_yaml(text, SpecLoader, str(path))


def _default_engine(op: Op, arch: Any, gemm_engine: str | None) -> str | None:
    if op.kind in ("gemm", "matmul"):
        if gemm_engine is None:
            raise ConfigError(
                f"op {op.name!r} ({op.op_type}) needs a GEMM engine; architecture "
                f"{arch.name!r} has none"
            )
        return gemm_engine
    if op.kind == "spgemm":
        names = [k for k, v in arch.engines.items() if v.kind == "spgemm"]
        if not names:
            raise ConfigError(
                f"op {op.name!r} needs an spgemm engine; architecture {arch.name!r} has none"
            )
        return names[0]
    if op.kind == "data" and getattr(op, "free", True):
        return None
    return VECTOR_ENGINE


def assign_engines(
    graph: OpGraph, arch: Any, rules: list[MappingRule] | None = None,
    gemm_engine: str | None = None,
) -> dict[str, str | None]:
    """Engine name of every op (``None`` for free data movement).

    Parameters
    ----------
    graph : OpGraph
    arch : Architecture
    rules : list of MappingRule, optional
        Overrides, first match wins.
    gemm_engine : str, optional
        GEMM engine of the default policy (default: the architecture's first).

    Raises
    ------
    ConfigError
        A rule names an engine the architecture does not have, or maps an op to an engine
        that cannot run it.
    """
    from hwsim.arch import GEMM_KINDS

    if gemm_engine is None:
        gemm = arch.gemm_engines()
        gemm_engine = gemm[0] if gemm else None
    valid = set(arch.engines) | {VECTOR_ENGINE}
    for r in rules or ():
        if r.engine not in valid:
            raise ConfigError(
                f"mapping rule names engine {r.engine!r}; architecture {arch.name!r} has "
                f"{', '.join(sorted(valid))}"
            )
    out: dict[str, str | None] = {}
    for op in graph.ops():
        eng = next((r.engine for r in rules or () if r.matches(op)), None)
        if eng is None:
            out[op.name] = _default_engine(op, arch, gemm_engine)
            continue
        kind = "vector" if eng == VECTOR_ENGINE else arch.engines[eng].kind
        ok = {
            "gemm": kind in GEMM_KINDS, "matmul": kind in GEMM_KINDS,
            "spgemm": kind == "spgemm", "vector": kind == "vector", "data": kind == "vector",
        }.get(op.kind, False)
        if not ok:
            raise ConfigError(
                f"mapping puts op {op.name!r} ({op.kind}) on engine {eng!r} of kind {kind!r}, "
                "which cannot run it"
            )
        out[op.name] = eng
    return out
