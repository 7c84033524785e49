"""Typed, immutable, validated accelerator descriptions (engines, buffers, DRAM, energy, presets)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# Engine kinds and the memory/energy/resource sections live in private modules; this is
# their public home.
from ._arch_engines import (  # noqa: F401  (re-exports)
    _DF,
    GEMM_KINDS,
    DspChainSpec,
    NMPeArraySpec,
    SystolicSpec,
    VectorSpec,
)
from ._arch_sections import (  # noqa: F401  (re-exports)
    BufferEnergy,
    BufferSpec,
    DataWidths,
    DramSpec,
    EnergySpec,
    MacEnergy,
    ResourcesSpec,
    RtlCoreResources,
)

# The generic spec machinery lives in ._spec; it is re-exported here because engine-kind
# modules (hwsim.spgemm.spec, user plug-ins) import it from hwsim.arch.
from ._spec import (  # noqa: F401  (re-exports)
    _KIND_MODULES,
    ENGINE_KINDS,
    EngineSpec,
    _build_engine,
    _c,
    _check_scalar,
    _hints,
    _join,
    _load_kind_modules,
    _r,
    _Spec,
    _split_optional,
    build_spec,
    register_engine_kind,
    spec_to_dict,
)
from .errors import ConfigError

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
    "BufferEnergy",
    "EnergySpec",
    "ResourcesSpec",
    "RtlCoreResources",
    "ENGINE_KINDS",
    "GEMM_KINDS",
    "register_engine_kind",
    "build_spec",
    "spec_to_dict",
    "load_arch",
    "list_presets",
]


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
        from .energy import check_names

        check_names(self)  # energy.static_mw / energy.buffers name real components
        core = self.resources.rtl_core
        if core is not None and core.engine not in self.engines:
            raise ConfigError(
                f"no engine {core.engine!r}; engines: {', '.join(self.engines)}",
                key="resources.rtl_core.engine",
            )
        from ._arch_checks import check_derived

        check_derived(self)

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
        """Load a YAML file; a missing, unreadable or binary file raises InputFileError, bad YAML ConfigError."""
        from ._yaml import read_user_file

        path = Path(path)
        text = read_user_file(path, "architecture file")
        return cls.from_yaml_text(text, source=str(path))

    @classmethod
    def from_yaml_text(cls, text: str, source: str = "<yaml>") -> Architecture:
        """Parse YAML text into an Architecture."""
        from ._yaml import load_yaml

        # safe loader (C version when built); alias expansion bounded, duplicate keys refused
        data = load_yaml(text, _YamlLoader, source)
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
        from ._arch_checks import derive_overrides

        # derived fields follow the override (widths.index; a stale RTL core's figures go)
        return derive_overrides(_replace_unchecked(self, engines=engines))

    def cycles_to_seconds(self, cycles: float) -> float:
        """Simulated seconds of ``cycles`` accelerator cycles."""
        return float(cycles) / (self.clock_mhz * 1e6)

    @property
    def onchip_bytes(self) -> int:
        """Total capacity of the on-chip buffers."""
        return sum(b.capacity_bytes for b in self.buffers.values())

    @property
    def gemm_multipliers(self) -> int:
        """Multipliers of all GEMM-capable engines (peak MACs per cycle)."""
        return sum(self.engines[k].multipliers for k in self.gemm_engines())

    def resources_summary(self) -> dict[str, Any]:
        """DSP, LUT, FF and on-chip memory totals of the design, and per-DSP figures.

        Returns
        -------
        dict
            ``dsp``, ``lut``, ``ff``: totals (RTL cores x their synthesis figures + the rest,
            or the documented estimate); ``bram_kb``, ``uram_kb``: on-chip memory budget;
            ``buffer_kb``: what the buffers use; ``device``, ``device_dsp``, ``dsp_fraction``
            (of the device); ``multipliers`` and ``peak_macs_per_cycle_per_dsp``
            (multipliers / DSP, the ranking figure of a sweep); ``basis`` (``"rtl_core"`` or
            ``"estimate"``) and, with an RTL core, ``cores`` and ``core`` (its figures);
            ``fits_device`` (False when the design needs more DSP slices than ``device_dsp``
            or more buffer memory than ``bram_kb + uram_kb``; None when the device is not
            given) and ``device_warnings`` (one line per excess).
        """
        r = self.resources
        dsp, lut, ff = r.dsp, r.lut, r.ff
        mult = self.gemm_multipliers
        out: dict[str, Any] = {"basis": "estimate"}
        if r.rtl_core is None and r.dsp_per_multiplier:
            dsp += math.ceil(mult * r.dsp_per_multiplier - 1e-9)
        if r.rtl_core is not None:
            core = r.rtl_core
            cores = core.core_count(self.engines[core.engine])
            dsp += cores * core.dsp
            lut += cores * core.lut
            ff += cores * core.ff
            out = {
                "basis": "rtl_core",
                "cores": cores,
                "core": {
                    **core.params,
                    "family": core.family,
                    "dsp": core.dsp,
                    "lut": core.lut,
                    "ff": core.ff,
                    "carry": core.carry,
                },
            }
        from ._arch_checks import device_excess

        warnings, known = device_excess(self, dsp)
        return {
            "fits_device": (not warnings) if known else None,
            "device_warnings": warnings,
            "dsp": dsp,
            "lut": lut,
            "ff": ff,
            "bram_kb": r.bram_kb,
            "uram_kb": r.uram_kb,
            "buffer_kb": self.onchip_bytes / 1024,
            "device": r.device,
            "device_dsp": r.device_dsp,
            "dsp_fraction": dsp / r.device_dsp if r.device_dsp else None,
            "multipliers": mult,
            "peak_macs_per_cycle_per_dsp": mult / dsp if dsp else None,
            **out,
        }


# -- presets --------------------------------------------------------------------------------------
def _preset_dir():
    return resources.files("hwsim") / "presets"


def list_presets() -> list[str]:
    """Names of the bundled presets (``hwsim/presets/*.yaml``), sorted."""
    return sorted(
        p.name[: -len(".yaml")] for p in _preset_dir().iterdir() if p.name.endswith(".yaml")
    )


def _replace_unchecked(arch: Architecture, **changes: Any) -> Architecture:
    """A copy of ``arch`` with ``changes``, without the cross-section checks of
    ``__post_init__`` (for :meth:`Architecture.with_engine_overrides`, which re-derives the
    dependent fields and then validates the result)."""
    import copy

    new = copy.copy(arch)
    for key, value in changes.items():
        object.__setattr__(new, key, value)
    return new


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
