"""Typed, immutable, validated accelerator descriptions (engines, buffers, DRAM, energy, presets)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import json
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .errors import ConfigError, InputFileError

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "Architecture",
    "EngineSpec",
    "NMPeArraySpec",
    "SystolicSpec",
    "DspChainSpec",
    "VectorSpec",
    "BufferSpec",
    "DramSpec",
    "DataWidths",
    "MacEnergy",
    "EnergySpec",
    "ResourcesSpec",
    "ENGINE_KINDS",
    "GEMM_KINDS",
    "register_engine_kind",
    "build_spec",
    "spec_to_dict",
    "load_arch",
    "list_presets",
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
        raise ConfigError(f"expected {what}{span}, got {value!r}", key=key)
    if tp is float:
        value = float(value)
    if rng is not None and not (rng[0] <= value <= rng[1]):
        raise ConfigError(f"expected {what} in {rng[0]}..{rng[1]}, got {value!r}", key=key)
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"expected one of {opts}, got {value!r}", key=key)
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
                    raise ConfigError(f"expected a list, got {value!r}", key=f.name)
                (elem,) = typing.get_args(tp)[:1]
                new = tuple(
                    _check_scalar(elem, v, meta, f"{f.name}[{i}]") for i, v in enumerate(value)
                )
                if meta.get("nonempty") and not new:
                    raise ConfigError("expected a non-empty list", key=f.name)
            elif typing.get_origin(tp) is dict:
                if not isinstance(value, dict):
                    raise ConfigError(f"expected a mapping, got {value!r}", key=f.name)
                continue
            elif dataclasses.is_dataclass(tp):
                if not isinstance(value, tp):
                    raise ConfigError(f"expected {tp.__name__}, got {value!r}", key=f.name)
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
        raise ConfigError(f"expected a mapping, got {data!r}", source=source, key=path or None)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    allowed = set(fields)
    if isinstance(cls, type) and issubclass(cls, EngineSpec):
        allowed = allowed | {"kind"}
        if "kind" in data and data["kind"] != cls.kind:
            raise ConfigError(
                f"expected kind {cls.kind!r}, got {data['kind']!r}",
                source=source,
                key=_join(path, "kind"),
            )
    for k in data:
        if k not in allowed:
            raise ConfigError(
                f"unknown key {k!r}; allowed keys: {', '.join(sorted(allowed))}",
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
                raise ConfigError(f"expected a mapping, got {value!r}", source=source, key=sub)
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise ConfigError(f"expected string keys, got {k!r}", source=source, key=sub)
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
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            # Only the kind module itself (or its not-yet-written package) may be absent.
            if not exc.name or not (mod == exc.name or mod.startswith(exc.name + ".")):
                raise


def _build_engine(data: Any, *, source: str, path: str) -> Any:
    _load_kind_modules()
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping, got {data!r}", source=source, key=path or None)
    kind = data.get("kind")
    if kind not in ENGINE_KINDS:
        known = ", ".join(sorted(ENGINE_KINDS))
        what = "missing engine kind" if kind is None else f"unknown engine kind {kind!r}"
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


_DF = ("ws", "os", "is")


@register_engine_kind("nm_pe_array")
@dataclass(frozen=True)
class NMPeArraySpec(EngineSpec):
    """SAT-style PE array: each PE has ``n`` multipliers behind an ``m``-to-``n`` selector.

    Dense mode feeds ``n`` consecutive values a cycle; N:M sparse mode picks the ``n`` nonzeros
    of a window of ``m`` activations with ``log2(m)``-bit indices.
    """

    gemm_capable: ClassVar[bool] = True
    rows: int = field(metadata=_r(1, 4096, "PE rows"))
    cols: int = field(metadata=_r(1, 4096, "PE columns"))
    n: int = field(default=2, metadata=_r(1, 64, "multipliers per PE (N of N:M)"))
    m: int = field(default=8, metadata=_r(1, 256, "selector window (M of N:M)"))
    dataflows: tuple[str, ...] = field(
        default=("ws", "os"), metadata={"choices": ("ws", "os"), "nonempty": True}
    )
    act_width: int = field(default=8, metadata=_r(1, 64, "activation bits"))
    weight_width: int = field(default=8, metadata=_r(1, 64, "weight bits"))
    acc_width: int = field(default=32, metadata=_r(1, 128, "accumulator bits"))

    def _check(self) -> None:
        if self.n > self.m:
            raise ConfigError(f"n must be <= m, got n={self.n}, m={self.m}", key="n")
        if len(set(self.dataflows)) != len(self.dataflows):
            raise ConfigError(f"duplicate dataflows {self.dataflows!r}", key="dataflows")

    @property
    def multipliers(self) -> int:
        return self.rows * self.cols * self.n


@register_engine_kind("systolic")
@dataclass(frozen=True)
class SystolicSpec(EngineSpec):
    """Plain dense systolic array (SCALE-Sim v3 semantics), one MAC per PE."""

    gemm_capable: ClassVar[bool] = True
    rows: int = field(metadata=_r(1, 4096, "PE rows"))
    cols: int = field(metadata=_r(1, 4096, "PE columns"))
    dataflow: str = field(default="os", metadata=_c(_DF, "default dataflow"))

    @property
    def multipliers(self) -> int:
        return self.rows * self.cols


@register_engine_kind("dsp_chain")
@dataclass(frozen=True)
class DspChainSpec(EngineSpec):
    """FlightLLM configurable sparse DSP48 chain split into groups of ``chain_length``."""

    gemm_capable: ClassVar[bool] = True
    num_dsps: int = field(metadata=_r(1, 100_000, "DSP slices used by the engine"))
    chain_length: int = field(default=16, metadata=_r(1, 1024, "DSP group (cascade) length"))
    mult_a_width: int = field(default=27, metadata=_r(1, 64, "DSP A-port multiplier width"))
    mult_b_width: int = field(default=18, metadata=_r(1, 64, "DSP B-port multiplier width"))
    acc_width: int = field(default=48, metadata=_r(1, 128, "DSP accumulator width"))
    stage_latency: int = field(default=1, metadata=_r(0, 64, "cycles per cascade stage"))
    reduction_latency: int = field(default=4, metadata=_r(0, 256, "reduction-node cycles"))
    macs_per_dsp: int = field(default=1, metadata=_r(1, 4, "MACs a DSP issues per cycle"))
    supports: tuple[str, ...] = field(
        default=("dense", "nm", "block"), metadata={"choices": ("dense", "nm", "block")}
    )

    def _check(self) -> None:
        if self.chain_length > self.num_dsps:
            raise ConfigError(
                f"chain_length ({self.chain_length}) exceeds num_dsps ({self.num_dsps})",
                key="chain_length",
            )

    @property
    def multipliers(self) -> int:
        return self.num_dsps * self.macs_per_dsp


@register_engine_kind("vector")
@dataclass(frozen=True)
class VectorSpec(EngineSpec):
    """Vector unit for element-wise work (activations, normalisation, softmax)."""

    lanes: int = field(default=64, metadata=_r(1, 65536, "SIMD lanes"))
    ops_per_cycle: int = field(default=1, metadata=_r(1, 64, "ops per lane per cycle"))

    @property
    def multipliers(self) -> int:
        return self.lanes


#: Engine kinds the GEMM driver can run.
GEMM_KINDS = ("nm_pe_array", "systolic", "dsp_chain")


# -- memory, energy, resources --------------------------------------------------------------------
@dataclass(frozen=True)
class BufferSpec(_Spec):
    """On-chip SRAM buffer."""

    capacity_bytes: int = field(metadata=_r(1, 2**40, "capacity in bytes"))
    banks: int = field(default=1, metadata=_r(1, 4096, "independent banks"))
    bytes_per_cycle: int = field(default=64, metadata=_r(1, 2**20, "port width, bytes/cycle"))


@dataclass(frozen=True)
class DramSpec(_Spec):
    """Off-chip memory: ``bandwidth_gbps`` is the total over ``channels`` (GB/s, 1e9 bytes)."""

    kind: str = field(metadata=_c(("ddr4", "ddr5", "hbm2", "hbm2e"), "memory technology"))
    channels: int = field(metadata=_r(1, 1024, "independent channels"))
    bandwidth_gbps: float = field(metadata=_r(0.001, 100_000.0, "total GB/s"))
    latency_ns: float = field(default=100.0, metadata=_r(0.0, 100_000.0, "access latency"))
    granule_bytes: int = field(default=4096, metadata=_r(1, 2**30, "interleave granule"))

    def bytes_per_cycle_per_channel(self, clock_mhz: float) -> float:
        """Bytes one channel delivers per accelerator cycle."""
        return self.bandwidth_gbps * 1e9 / self.channels / (clock_mhz * 1e6)

    def latency_cycles(self, clock_mhz: float) -> int:
        """Access latency rounded up to whole accelerator cycles."""
        import math

        return int(math.ceil(self.latency_ns * clock_mhz / 1000.0 - 1e-9))


@dataclass(frozen=True)
class DataWidths(_Spec):
    """Default operand widths in bits."""

    act: int = field(default=8, metadata=_r(1, 64))
    weight: int = field(default=8, metadata=_r(1, 64))
    acc: int = field(default=32, metadata=_r(1, 128))
    out: int = field(default=8, metadata=_r(1, 64))
    index: int = field(default=3, metadata=_r(0, 32, "N:M index bits per nonzero"))


@dataclass(frozen=True)
class MacEnergy(_Spec):
    """pJ per multiply-accumulate by precision."""

    int8: float = field(metadata=_r(0.0, 1e6))
    int16: float = field(metadata=_r(0.0, 1e6))
    fp16: float = field(metadata=_r(0.0, 1e6))
    bf16: float = field(metadata=_r(0.0, 1e6))
    fp32: float | None = field(default=None, metadata=_r(0.0, 1e6))


@dataclass(frozen=True)
class EnergySpec(_Spec):
    """Per-action energy table (pJ); ``source`` cites where the figures come from."""

    mac_pj: MacEnergy
    sram_pj_per_byte: float = field(metadata=_r(0.0, 1e6))
    dram_pj_per_byte: float = field(metadata=_r(0.0, 1e6))
    atomic_pj: float | None = field(default=None, metadata=_r(0.0, 1e6))
    source: str = ""

    def mac(self, precision: str) -> float:
        """pJ per MAC at ``precision``; ConfigError when the table has no entry."""
        value = getattr(self.mac_pj, precision, None)
        if value is None:
            have = [
                f.name
                for f in dataclasses.fields(self.mac_pj)
                if getattr(self.mac_pj, f.name) is not None
            ]
            raise ConfigError(
                f"no MAC energy for precision {precision!r}; table has {have}", key="energy.mac_pj"
            )
        return float(value)


@dataclass(frozen=True)
class ResourcesSpec(_Spec):
    """FPGA resources of the design (for ranking per DSP); ``source`` says where they come from.

    ``dsp``/``lut``/``ff`` are what the design uses (synthesis of the RTL where it exists,
    documented estimates elsewhere); ``bram_kb``/``uram_kb`` the on-chip memory budget;
    ``device``/``device_dsp`` the part it targets.
    """

    dsp: int = field(default=0, metadata=_r(0, 10**7))
    lut: int = field(default=0, metadata=_r(0, 10**9))
    ff: int = field(default=0, metadata=_r(0, 10**9))
    bram_kb: float = field(default=0.0, metadata=_r(0.0, 1e9))
    uram_kb: float = field(default=0.0, metadata=_r(0.0, 1e9))
    device: str = ""
    device_dsp: int = field(default=0, metadata=_r(0, 10**7, "DSP slices of the whole device"))
    source: str = ""


# -- the architecture -----------------------------------------------------------------------------
#: Documentation-only fields left out of :meth:`Architecture.hash`.
_UNHASHED = ("name", "description", "provenance")


@dataclass(frozen=True)
class Architecture(_Spec):
    """A whole accelerator: clock, engines, on-chip buffers, DRAM, widths, energy, resources.

    Attributes
    ----------
    name : str
        Preset or user name (not part of :meth:`hash`).
    clock_mhz : float
        Accelerator clock; every cycle count is in these cycles.
    engines : dict[str, EngineSpec]
        Engine name -> spec (discriminated by ``kind`` in YAML).
    buffers : dict[str, BufferSpec]
        On-chip buffers by name.
    dram : DramSpec
        Off-chip memory.
    vector : VectorSpec
        Element-wise unit.
    energy : EnergySpec
        Per-action energy table.
    widths : DataWidths
        Default operand widths.
    resources : ResourcesSpec
        FPGA resource figures.
    provenance : dict[str, str]
        Which figures are from the paper and which are assumptions.
    """

    name: str
    clock_mhz: float = field(metadata=_r(1.0, 100_000.0, "clock frequency"))
    engines: dict[str, EngineSpec]
    buffers: dict[str, BufferSpec]
    dram: DramSpec
    vector: VectorSpec
    energy: EnergySpec
    widths: DataWidths = field(default_factory=DataWidths)
    resources: ResourcesSpec = field(default_factory=ResourcesSpec)
    provenance: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def _check(self) -> None:
        if not self.engines:
            raise ConfigError("an architecture needs at least one engine", key="engines")
        for name, spec in self.engines.items():
            if not isinstance(spec, EngineSpec):
                raise ConfigError(f"expected an engine spec, got {spec!r}", key=f"engines.{name}")
        for name, spec in self.buffers.items():
            if not isinstance(spec, BufferSpec):
                raise ConfigError(f"expected a buffer spec, got {spec!r}", key=f"buffers.{name}")

    def __hash__(self) -> int:
        return hash(self.hash())

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any, source: str = "<dict>") -> Architecture:
        """Validate plain data (e.g. parsed YAML) into an Architecture.

        Raises
        ------
        ConfigError
            Naming ``source`` and the dotted key of the offending field.
        """
        if isinstance(d, dict) and "name" not in d:
            d = {"name": Path(source).stem if not source.startswith("<") else "custom", **d}
        return build_spec(cls, d, source=source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Architecture:
        """Load a YAML file; a missing/unreadable file raises InputFileError, bad YAML ConfigError."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputFileError(
                f"{path}: cannot read architecture file: {exc.strerror or exc}"
            ) from None
        return cls.from_yaml_text(text, source=str(path))

    @classmethod
    def from_yaml_text(cls, text: str, source: str = "<yaml>") -> Architecture:
        """Parse YAML text into an Architecture."""
        try:
            data = yaml.load(text, Loader=_YamlLoader)  # safe loader (C version when built)
        except yaml.YAMLError as exc:
            msg = " ".join(str(exc).split())
            raise ConfigError(f"YAML syntax error: {msg}", source=source) from None
        return cls.from_dict(data, source=source)

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` loads back to an equal Architecture."""
        return spec_to_dict(self)

    def to_yaml(self) -> str:
        """YAML text a user can edit and load back."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False, width=100)

    def hash(self) -> str:
        """Short sha256 of the canonical JSON of the design (documentation fields excluded)."""
        d = {k: v for k, v in self.to_dict().items() if k not in _UNHASHED}
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    # -- queries ------------------------------------------------------------------------------
    def engine(self, name: str) -> EngineSpec:
        """The engine spec called ``name``; ConfigError listing the engines when absent."""
        try:
            return self.engines[name]
        except KeyError:
            have = ", ".join(self.engines)
            raise ConfigError(
                f"no engine {name!r} in architecture {self.name!r}; engines: {have}"
            ) from None

    def gemm_engines(self) -> list[str]:
        """Names of the engines the GEMM driver can use, in declaration order."""
        return [k for k, v in self.engines.items() if type(v).gemm_capable]

    def with_engine_overrides(self, name: str, **fields: Any) -> Architecture:
        """Copy with some fields of engine ``name`` replaced (validated, e.g. ``rows=64``)."""
        spec = self.engine(name)
        d = spec_to_dict(spec)
        d.update(fields)
        new = _build_engine(d, source=f"<override of {self.name}>", path=f"engines.{name}")
        engines = dict(self.engines)
        engines[name] = new
        return dataclasses.replace(self, engines=engines)

    def cycles_to_seconds(self, cycles: float) -> float:
        """Simulated seconds of ``cycles`` accelerator cycles."""
        return float(cycles) / (self.clock_mhz * 1e6)

    @property
    def onchip_bytes(self) -> int:
        """Total capacity of the on-chip buffers."""
        return sum(b.capacity_bytes for b in self.buffers.values())


# -- presets --------------------------------------------------------------------------------------
def _preset_dir():
    return resources.files("hwsim") / "presets"


def list_presets() -> list[str]:
    """Names of the bundled presets (``hwsim/presets/*.yaml``), sorted."""
    return sorted(
        p.name[: -len(".yaml")] for p in _preset_dir().iterdir() if p.name.endswith(".yaml")
    )


def load_arch(name_or_path: str | Path | Architecture) -> Architecture:
    """A preset by name, or a YAML file by path (anything ending ``.yaml``/``.yml`` or existing).

    Raises
    ------
    ConfigError
        Unknown preset (listing the presets) or invalid description.
    InputFileError
        File given but unreadable.
    """
    if isinstance(name_or_path, Architecture):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    if text.endswith((".yaml", ".yml")) or path.is_file() or "/" in text:
        return Architecture.from_yaml(path)
    return _load_preset(text)


@functools.lru_cache(maxsize=64)
def _load_preset(text: str) -> Architecture:
    # Architectures are immutable, so one parsed copy per preset is shared by every caller.
    res = _preset_dir() / f"{text}.yaml"
    if not res.is_file():
        raise ConfigError(
            f"unknown architecture preset {text!r}; presets: {', '.join(list_presets())} "
            "(or pass a .yaml file)",
            source=f"<preset {text}>",
        )
    return Architecture.from_yaml_text(res.read_text(encoding="utf-8"), source=f"<preset {text}>")
