"""Sweep specs: YAML loading, run-argument validation, design-point expansion and keys."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ._spec import _Problems, _short

# The run-argument tables and checks live in ._sweep_args; re-exported here, where the run-kind
# registry (hwsim.runs) names the tables.
from ._sweep_args import (  # noqa: F401  (re-exports)
    _ARCH_PREFIX,
    _ARG_TABLES,
    _NO_DEFAULT,
    _REQUIRED,
    _allowed_text,
    _array,
    _Bad,
    _bool,
    _engine_field,
    _float,
    _gemm_args,
    _int,
    _network_args,
    _RegistryTables,
    _rmat,
    _RunArgChecker,
    _sparsity,
    _spgemm_args,
    _str,
    _training_args,
)
from ._version import __version__
from ._yaml import SpecLoader as _Loader
from ._yaml import load_yaml, read_user_file
from .errors import ConfigError, HwsimError, InputFileError  # noqa: F401  (importable from here)
from .result import SCHEMA_VERSION

__all__ = [
    "SweepSpec",
    "DesignPoint",
    "load_spec",
    "point_key",
    "list_sweeps",
    "RUN_KINDS",
    "KEY_VERSION",
    "MAX_POINTS",
]

#: Version of the design-point key material; bumping it re-runs every stored point.
#: 2: the hwsim version joined the key.
KEY_VERSION = 2
from .runs import RUN_KINDS  # noqa: E402  (the one registry of run kinds)

_SPEC_KEYS = ("kind", "name", "description", "seed", "base", "axes", "points")
#: Largest sweep :meth:`SweepSpec.expand` builds unless told otherwise (``--max-points``).
MAX_POINTS = 10_000
#: Run arguments whose value cannot change the result (left out of the key).
_UNKEYED = frozenset({"chunk_products"})
#: Run arguments that name files: the key holds their content hash, not the path.
_PATH_ARGS = ("arch", "matrix", "matrix_b")


# -- spec ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DesignPoint:
    """One run of a sweep.

    Attributes
    ----------
    index : int
        Position in the sweep (points of ``points`` outermost, the last axis fastest).
    kind : str
        ``"gemm"`` or ``"spgemm"``.
    params : dict
        Every run argument (defaults filled in, the seed included).
    axes : dict
        The arguments that vary across the sweep (axes and ``points`` entries).
    key : str
        :func:`point_key` of the point.
    arch : Architecture
        The resolved architecture (``arch.*`` overrides applied).
    run_args : dict
        What the worker passes to the simulator: ``params`` without ``arch`` and the
        overrides, input paths made absolute.
    """

    index: int
    kind: str
    params: dict[str, Any]
    axes: dict[str, Any]
    key: str
    arch: Any = field(repr=False, compare=False)
    run_args: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)


@dataclass
class SweepSpec:
    """A sweep: run kind, base arguments, axes (cartesian product) and/or explicit points.

    Attributes
    ----------
    kind : str
        ``"gemm"`` (:func:`hwsim.gemm.simulate_gemm` arguments) or ``"spgemm"``
        (:func:`hwsim.spgemm.simulate_spgemm`; inputs ``rmat: [scale, edge_factor]`` generated
        with the point's seed, or ``matrix: A.mtx``).
    base : dict
        Arguments every point shares.
    axes : dict[str, list]
        Argument name -> values; the sweep is their cartesian product (last axis fastest).
    points : list[dict]
        Explicit points, each merged over ``base``; with ``axes`` too, every point is crossed
        with the axes' product.
    seed : int
        Seed of every point that does not set its own (in ``base``, a point or an axis).
    name, description : str
        Labels (not part of any key).
    source : str
        File the spec came from (``"<dict>"`` otherwise); named by errors.
    root : Path or None
        Folder relative ``arch``/``matrix`` paths are resolved against (the spec's folder).

    Notes
    -----
    Argument names ``arch.<dotted.path>`` override a field of the architecture description
    (``arch.clock_mhz``, ``arch.engines.pe_array.n``, ``arch.dram.channels``...).
    """

    kind: str
    base: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, list] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0
    name: str = "sweep"
    description: str = ""
    source: str = "<dict>"
    root: Path | None = None

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>", root: Path | None = None):
        """Validate plain data (parsed YAML) into a spec.

        Raises
        ------
        ConfigError
            Naming ``source`` and the key path of every bad entry (all of them, in one
            message): unknown top-level keys or run arguments (with the allowed ones), wrong
            types, empty axes, missing required arguments.
        """
        problems = _Problems(source)
        if not isinstance(data, dict):
            raise problems.error(f"a sweep spec is a mapping with keys {', '.join(_SPEC_KEYS)}, "
                                 f"got {_short(data)}")
        for k in data:
            if k not in _SPEC_KEYS:
                problems.add(f"unknown key {_short(k)}", str(k),
                             f"allowed keys: {', '.join(_SPEC_KEYS)}")
        kind = data.get("kind", "gemm")
        if kind not in RUN_KINDS:
            raise problems.fatal(f"expected one of {', '.join(RUN_KINDS)}, got {_short(kind)}",
                                 "kind")
        checker = _RunArgChecker(problems, kind)
        seed = checker.seed(data.get("seed", 0))
        base = checker.mapping(data.get("base"), "base")
        axes = checker.axes(data.get("axes") or {})
        points = checker.points(data.get("points") or [], axes)
        for name in ("name", "description"):
            if name in data and not isinstance(data[name], str):
                problems.add(f"expected a string, got {_short(data[name])}", name)
        checker.required(base, axes, points)
        problems.raise_if_any()
        default_name = Path(source).stem if not source.startswith("<") else "sweep"
        return cls(kind=kind, base=base, axes=axes, points=points, seed=seed,
                   name=data.get("name", default_name), description=data.get("description", ""),
                   source=source, root=root)

    def count_points(self) -> int:
        """Design points before duplicates are dropped: ``max(1, len(points))`` times the
        product of the axis lengths (counted, not expanded)."""
        total = max(1, len(self.points))
        for values in self.axes.values():
            total *= len(values)
        return total

    # -- expansion ----------------------------------------------------------------------------
    def expand(self, max_points: int | None = None) -> list[DesignPoint]:
        """Every design point, with its key and resolved architecture (duplicates dropped).

        Parameters
        ----------
        max_points : int, optional
            Largest sweep expanded (default :data:`MAX_POINTS`); the grid is counted first,
            so a too-large sweep is refused before anything is built.

        Raises
        ------
        ConfigError
            More than ``max_points`` points.
            An architecture that does not load, or an override it rejects (e.g. an array
            larger than the engine allows), naming the spec's file and the key of the value.
        InputFileError
            A ``matrix`` file that cannot be read.
        """
        limit = MAX_POINTS if max_points is None else max_points
        count = self.count_points()
        if count > limit:
            sizes = " x ".join(str(len(v)) for v in self.axes.values()) or "1"
            raise ConfigError(
                f"the sweep has {count:,} points ({max(1, len(self.points))} point entries x "
                f"axes {sizes}); the limit is {limit:,} (raise it with max_points / "
                "--max-points)", source=self.source)
        table = _ARG_TABLES[self.kind]()
        seen: set[str] = set()
        out: list[DesignPoint] = []
        arch_cache: dict[str, Any] = {}
        digests: dict[str, str] = {}
        explicit = self.points or [{}]
        product = itertools.product(*(enumerate(v) for v in self.axes.values()))
        combos = list(product)
        for pi, extra in enumerate(explicit):
            for combo in combos:
                params: dict[str, Any] = {"seed": self.seed}
                where = {"seed": "seed"}
                params.update(self.base)
                where.update({k: f"base.{k}" for k in self.base})
                params.update(extra)
                where.update({k: f"points[{pi}].{k}" for k in extra})
                for name, (i, v) in zip(self.axes, combo, strict=True):
                    params[name] = v
                    where[name] = f"axes.{name}[{i}]"
                for k, (_check, default) in table.items():
                    if k not in params and default is not _NO_DEFAULT:
                        params[k] = default
                axes = {k: params[k] for k in (*extra, *self.axes)}
                point = self._resolve(len(out), params, axes, where, arch_cache, digests)
                if point.key not in seen:
                    seen.add(point.key)
                    out.append(point)
        return out

    def _path(self, text: str) -> Path:
        p = Path(text).expanduser()
        return p if p.is_absolute() or self.root is None else self.root / p

    def _resolve(self, index, params, axes, where, arch_cache, digests) -> DesignPoint:
        from .arch import Architecture, load_arch

        def bad(msg, name):
            return ConfigError(msg, source=self.source, key=where.get(name, name))

        overrides = sorted((k, v) for k, v in params.items() if k.startswith(_ARCH_PREFIX))
        arch_arg = params["arch"]
        looks_path = arch_arg.endswith((".yaml", ".yml")) or "/" in arch_arg
        arch_ref = str(self._path(arch_arg)) if looks_path else arch_arg
        engine_fields = {}
        if self.kind == "spgemm":
            table = _ARG_TABLES["spgemm"]()
            engine_fields = {k: params[k] for k in params
                             if k in table and table[k][1] is _NO_DEFAULT}
        cache_key = json.dumps([arch_ref, overrides, params.get("engine"), params.get("array"),
                                sorted(engine_fields.items())])
        if cache_key not in arch_cache:
            try:
                arch = load_arch(arch_ref)
            except (ConfigError, InputFileError) as exc:
                raise bad(str(exc), "arch") from None
            # engine fields go through with_engine_overrides, which re-derives what follows
            # them (widths.index after pe_array.m; a stale RTL core's figures dropped)
            eng_over = [(n, v) for n, v in overrides if _engine_field(n, arch)]
            overrides = [(n, v) for n, v in overrides if not _engine_field(n, arch)]
            if overrides:
                d = arch.to_dict()
                for name, value in overrides:
                    node, parts = d, name[len(_ARCH_PREFIX):].split(".")
                    for j, part in enumerate(parts):
                        if not isinstance(node, dict) or part not in node:
                            have = ", ".join(node) if isinstance(node, dict) else "none"
                            raise bad(f"architecture {arch.name!r} has no field "
                                      f"{'.'.join(parts[:j + 1])!r} (fields there: {have})", name)
                        if j == len(parts) - 1:
                            node[part] = value
                        node = node[part]
                try:
                    arch = Architecture.from_dict(d, source=f"<{arch.name} with overrides>")
                except ConfigError as exc:
                    name = next((n for n, _ in overrides if n[len(_ARCH_PREFIX):] == exc.key),
                                overrides[0][0])
                    raise bad(str(exc), name) from None
            for name, value in eng_over:
                _, ename, field = name[len(_ARCH_PREFIX):].split(".")
                try:
                    arch = arch.with_engine_overrides(ename, **{field: value})
                except ConfigError as exc:
                    raise bad(str(exc), name) from None
            self._check_engine(arch, params, engine_fields, bad)
            arch_cache[cache_key] = arch
        arch = arch_cache[cache_key]
        inputs = {}
        run_args = {k: v for k, v in params.items() if not k.startswith(_ARCH_PREFIX)}
        run_args.pop("arch")
        for name in _PATH_ARGS[1:]:
            if params.get(name) is not None:
                path = self._path(params[name])
                run_args[name] = str(path)
                if str(path) not in digests:
                    try:
                        digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
                    except OSError as exc:
                        raise InputFileError(f"{self.source}: {where[name]}: cannot read "
                                             f"{path}: {exc.strerror or exc}") from None
                inputs[name] = digests[str(path)]
        key = point_key(self.kind, params, arch.hash(), inputs)
        return DesignPoint(index, self.kind, params, axes, key, arch, run_args)

    def _check_engine(self, arch, params, engine_fields, bad) -> None:
        """Engine choice and engine overrides, checked before anything runs."""
        if self.kind in ("gemm", "training", "network"):
            from .gemm import parse_array, pick_engine

            try:
                name = pick_engine(arch, params["engine"])
            except ConfigError as exc:
                raise bad(str(exc), "engine" if params["engine"] else "arch") from None
            if params["array"] is not None:
                r, c = parse_array(params["array"])
                try:
                    arch.with_engine_overrides(name, rows=r, cols=c)
                except ConfigError as exc:
                    raise bad(str(exc), "array") from None
        else:
            from .spgemm.engine import pick_engine

            try:
                name, _spec = pick_engine(arch, params["engine"])
            except ConfigError as exc:
                raise bad(str(exc), "engine" if params["engine"] else "arch") from None
            fields = dict(engine_fields)
            if params.get("workers") is not None:
                fields["cores"] = params["workers"]
            try:
                if fields:
                    arch.with_engine_overrides(name, **fields)
            except ConfigError as exc:
                field_name = (exc.key or "").rsplit(".", 1)[-1]
                field_name = "workers" if field_name == "cores" else field_name
                raise bad(str(exc), field_name) from None


def point_key(kind: str, params: dict[str, Any], arch_hash: str,
              inputs: dict[str, str] | None = None) -> str:
    """Stable hash of a design point: same point, same key, in any process or machine.

    sha256 of the canonical JSON (sorted keys, no whitespace) of the run kind, the run
    arguments (file paths replaced by the files' content hashes in ``inputs``, arguments that
    cannot change the result left out), the architecture's hash, the result schema version,
    :data:`KEY_VERSION` and ``hwsim.__version__``.

    The hwsim version is part of the key because a new version may change the model: after an
    upgrade every point runs again instead of silently reusing results of the old model. The
    store keeps the old rows (its ``hwsim_version`` column says which version wrote them), so
    results of both versions can be compared.

    Parameters
    ----------
    kind : str
        ``"gemm"`` or ``"spgemm"``.
    params : dict
        Run arguments (JSON-ready values).
    arch_hash : str
        :meth:`hwsim.arch.Architecture.hash` of the resolved architecture.
    inputs : dict, optional
        Argument name -> sha256 of the input file it names.

    Returns
    -------
    str
        20 hex digits.
    """
    material = {
        "key_version": KEY_VERSION,
        "schema_version": SCHEMA_VERSION,
        "hwsim_version": __version__,
        "kind": kind,
        "arch_hash": arch_hash,
        "params": {k: v for k, v in params.items() if k not in _UNKEYED and k not in _PATH_ARGS},
        "inputs": dict(inputs or {}),
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def _sweeps_dir():
    return resources.files("hwsim") / "sweeps"


def list_sweeps() -> list[str]:
    """Names of the bundled example specs (``hwsim/sweeps/*.yaml``)."""
    return sorted(p.name[:-5] for p in _sweeps_dir().iterdir() if p.name.endswith(".yaml"))


def load_spec(spec: SweepSpec | dict | str | os.PathLike) -> SweepSpec:
    """A spec from a YAML file, a bundled spec name (:func:`list_sweeps`), or a dict.

    Raises
    ------
    InputFileError
        The file cannot be read.
    ConfigError
        YAML syntax error or invalid spec (file and key path named).
    """
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, dict):
        return SweepSpec.from_dict(spec)
    path = Path(spec)
    bundled = _sweeps_dir() / f"{spec}.yaml"
    if not path.exists() and path.suffix == "" and "/" not in str(spec) and bundled.is_file():
        text, source, root = bundled.read_text(encoding="utf-8"), f"<sweep {spec}>", None
    else:
        text = read_user_file(path, "sweep spec")
        source, root = str(path), path.resolve().parent
    data = load_yaml(text, _Loader, source)
    return SweepSpec.from_dict(data, source=source, root=root)
