"""Typed, immutable, validated accelerator descriptions (engines, buffers, DRAM, energy, presets)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import yaml

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
        if self.m & (self.m - 1):
            raise ConfigError(
                f"m must be a power of two (the selector takes log2(m)-bit indices), got {self.m}",
                key="m")
        if self.n > self.m:
            raise ConfigError(f"n must be <= m, got n={self.n}, m={self.m}", key="n")
        if len(set(self.dataflows)) != len(self.dataflows):
            raise ConfigError(f"duplicate dataflows {self.dataflows!r}", key="dataflows")

    @property
    def multipliers(self) -> int:
        """``rows * cols * n`` multipliers."""
        return self.rows * self.cols * self.n

    @property
    def precisions(self) -> tuple[str, ...]:
        """Precisions the integer datapath runs natively: ``int8`` needs 8-bit activation and
        weight widths, ``int16`` 16-bit; floating point is not supported (no FP multipliers)."""
        w = min(self.act_width, self.weight_width)
        return tuple(p for p, bits in (("int8", 8), ("int16", 16)) if bits <= w)

    def check_precision(self, precision: str, name: str) -> None:
        """ConfigError unless the datapath runs ``precision`` (see :attr:`precisions`)."""
        if precision not in self.precisions:
            have = ", ".join(self.precisions) or "none"
            raise ConfigError(
                f"engine {name!r}: its integer datapath is {self.act_width}-bit x "
                f"{self.weight_width}-bit (engines.{name}.act_width/weight_width), so it "
                f"supports precision {have}, not {precision!r}"
            )


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
        """One MAC per PE: ``rows * cols``."""
        return self.rows * self.cols


@register_engine_kind("dsp_chain")
@dataclass(frozen=True)
class DspChainSpec(EngineSpec):
    """FlightLLM configurable sparse DSP48 chain split into groups of ``chain_length``."""

    gemm_capable: ClassVar[bool] = True
    num_dsps: int = field(metadata=_r(1, 100_000, "DSP slices used by the engine"))
    chain_length: int = field(default=16, metadata=_r(1, 1024, "DSP group length g"))
    cascade_length: int = field(
        default=48, metadata=_r(1, 4096, "DSPs in one physical PCOUT->PCIN cascade (L)")
    )
    mult_a_width: int = field(default=27, metadata=_r(1, 64, "DSP A-port multiplier width"))
    mult_b_width: int = field(default=18, metadata=_r(1, 64, "DSP B-port multiplier width"))
    acc_width: int = field(default=48, metadata=_r(1, 128, "DSP accumulator width"))
    stage_latency: int = field(default=1, metadata=_r(0, 64, "cycles per cascade stage"))
    reduction_latency: int = field(default=4, metadata=_r(0, 256, "reduction-node cycles"))
    accumulate_latency: int = field(
        default=2, metadata=_r(0, 256, "cycles to add a partial sum into its output")
    )
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
        if self.cascade_length > self.num_dsps:
            raise ConfigError(
                f"cascade_length ({self.cascade_length}) exceeds num_dsps ({self.num_dsps})",
                key="cascade_length",
            )
        if self.cascade_length % self.chain_length:
            raise ConfigError(
                f"cascade_length ({self.cascade_length}) must be a multiple of chain_length "
                f"({self.chain_length}): a cascade is cut into whole groups",
                key="cascade_length",
            )

    @property
    def multipliers(self) -> int:
        """``num_dsps * macs_per_dsp``."""
        return self.num_dsps * self.macs_per_dsp


@register_engine_kind("vector")
@dataclass(frozen=True)
class VectorSpec(EngineSpec):
    """Vector unit for element-wise work (activations, normalisation, softmax)."""

    lanes: int = field(default=64, metadata=_r(1, 65536, "SIMD lanes"))
    ops_per_cycle: int = field(default=1, metadata=_r(1, 64, "ops per lane per cycle"))

    @property
    def multipliers(self) -> int:
        """One multiplier per lane."""
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
    burst_bytes: int = field(
        default=64, metadata=_r(1, 2**20, "access granularity: bytes of one burst")
    )

    def _check(self) -> None:
        if self.granule_bytes % self.burst_bytes:
            raise ConfigError(
                f"granule_bytes ({self.granule_bytes}) must be a multiple of burst_bytes "
                f"({self.burst_bytes}): a channel interleave granule holds whole bursts",
                key="granule_bytes",
            )

    def bursts(self, nbytes: int) -> int:
        """Bursts of a contiguous, burst-aligned transfer of ``nbytes``."""
        return -(-int(nbytes) // self.burst_bytes)

    def bytes_per_cycle_per_channel(self, clock_mhz: float) -> float:
        """Bytes one channel delivers per accelerator cycle."""
        return self.bandwidth_gbps * 1e9 / self.channels / (clock_mhz * 1e6)

    def latency_cycles(self, clock_mhz: float) -> int:
        """Access latency rounded up to whole accelerator cycles."""
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
class BufferEnergy(_Spec):
    """pJ per byte read / written of one buffer (each defaults from its bank size)."""

    read_pj_per_byte: float | None = field(default=None, metadata=_r(0.0, 1e6))
    write_pj_per_byte: float | None = field(default=None, metadata=_r(0.0, 1e6))


@dataclass(frozen=True)
class EnergySpec(_Spec):
    """Per-action energy table (pJ) and static power (mW); ``source`` cites the figures.

    Only ``mac_pj``, ``sram_pj_per_byte`` and ``dram_pj_per_byte`` are required; every other
    figure defaults from the structure (:mod:`hwsim.energy` documents and cites each default).
    ``sram_pj_per_byte`` is the price of a ``sram_ref_bytes`` bank; ``buffers`` overrides a
    buffer's read/write price; ``static_mw`` a component's static power (engine, ``vector``,
    buffer or ``dram``); ``operand_buffers`` names the buffer holding a GEMM operand (``act``,
    ``weight``, ``out``) when no buffer carries the operand's name.
    """

    mac_pj: MacEnergy
    sram_pj_per_byte: float = field(metadata=_r(0.0, 1e6))
    dram_pj_per_byte: float = field(metadata=_r(0.0, 1e6))
    atomic_pj: float | None = field(default=None, metadata=_r(0.0, 1e6))
    select_pj: float | None = field(default=None, metadata=_r(0.0, 1e6, "per M-to-N selection"))
    index_pj_per_byte: float | None = field(default=None, metadata=_r(0.0, 1e6))
    hash_pj: float | None = field(default=None, metadata=_r(0.0, 1e6, "per key hashed"))
    hash_probe_pj: float | None = field(default=None, metadata=_r(0.0, 1e6, "per slot visited"))
    sram_ref_bytes: int = field(default=32768, metadata=_r(1, 2**40, "bank of sram_pj_per_byte"))
    buffers: dict[str, BufferEnergy] = field(default_factory=dict)
    static_mw: dict[str, float] = field(default_factory=dict)
    operand_buffers: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def _check(self) -> None:
        for name, mw in self.static_mw.items():
            if not 0.0 <= float(mw) <= 1e9:
                raise ConfigError(f"expected mW in 0..1e9, got {mw!r}", key=f"static_mw.{name}")

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
class RtlCoreResources(_Spec):
    """Synthesis figures of one RTL sparse MAC core (``rtl/``) and the scaling rule to a design.

    The core (:class:`rtl.sparse_mac.SparseMAC`) with parameters ``n, m, lanes, act_width,
    weight_width, acc_width`` was synthesised for ``family`` with
    ``rtl.synth.synth_report(params, family)``; ``dsp``/``lut``/``ff``/``carry`` are its
    figures. One PE of engine ``engine`` (``n`` multipliers) is one lane of the core, so the
    design instantiates ``cores = ceil(multipliers / (n * lanes))`` cores unless ``cores`` is
    given -- derived, so an ``--array`` override rescales the resources with the array. With
    ``rows``/``cols`` the unit is a ``rows x cols`` slice of the PE array
    (:class:`rtl.pe_array.NMPeArray`, ``rtl.synth.synth_array_report``) and
    ``cores = ceil(multipliers / (n * rows * cols))`` slices.
    """

    engine: str = field(metadata={"doc": "engine whose PEs are built from this core"})
    n: int = field(metadata=_r(1, 16, "multipliers per lane (N of N:M)"))
    m: int = field(metadata=_r(2, 16, "group size (M of N:M)"))
    lanes: int = field(metadata=_r(1, 64, "lanes (PEs) per core"))
    act_width: int = field(metadata=_r(2, 16))
    weight_width: int = field(metadata=_r(2, 16))
    acc_width: int = field(metadata=_r(8, 48))
    family: str = field(metadata=_c(("xc7", "xcup"), "synth_xilinx -family"))
    dsp: int = field(metadata=_r(0, 10**6, "DSP slices of one core"))
    lut: int = field(metadata=_r(0, 10**8, "LUTs of one core"))
    ff: int = field(metadata=_r(0, 10**8, "flip-flops of one core"))
    carry: int = field(default=0, metadata=_r(0, 10**8, "carry chains of one core"))
    cores: int | None = field(default=None, metadata=_r(1, 10**7, "cores (default: derived)"))
    rows: int | None = field(default=None, metadata=_r(1, 64, "PE rows of an array slice"))
    cols: int | None = field(default=None, metadata=_r(1, 64, "PE columns of an array slice"))

    @property
    def params(self) -> dict[str, int]:
        """The unit's parameters: ``rtl.synth.synth_array_report``'s for an array slice
        (``rows``/``cols`` given; ``lanes`` is then 1), else ``rtl.synth.synth_report``'s."""
        if self.rows is not None or self.cols is not None:
            return {
                "rows": self.rows or 1,
                "cols": self.cols or 1,
                "n": self.n,
                "m": self.m,
                "act_width": self.act_width,
                "weight_width": self.weight_width,
                "acc_width": self.acc_width,
            }
        return {
            "n": self.n,
            "m": self.m,
            "lanes": self.lanes,
            "act_width": self.act_width,
            "weight_width": self.weight_width,
            "acc_width": self.acc_width,
        }

    def core_count(self, engine: EngineSpec) -> int:
        """Cores the design instantiates for ``engine`` (``cores`` when given)."""
        if self.cores is not None:
            return self.cores
        pes = self.lanes * (self.rows or 1) * (self.cols or 1)
        return max(1, math.ceil(engine.multipliers / (self.n * pes)))


@dataclass(frozen=True)
class ResourcesSpec(_Spec):
    """FPGA resources of the design (for ranking per DSP); ``source`` says where they come from.

    With ``rtl_core`` the design's DSP/LUT/FF are ``cores x`` the core's synthesis figures plus
    ``dsp``/``lut``/``ff`` for the logic outside the cores (control, address generation);
    without it ``dsp``/``lut``/``ff`` are documented estimates of the whole design, plus
    ``dsp_per_multiplier`` DSP slices per multiplier of the GEMM engines (so the estimate
    follows an ``--array`` override as the RTL-core figures do).
    ``bram_kb``/``uram_kb`` are the on-chip memory budget; ``device``/``device_dsp`` the part
    it targets. :meth:`Architecture.resources_summary` gives the totals.
    """

    dsp: int = field(default=0, metadata=_r(0, 10**7))
    lut: int = field(default=0, metadata=_r(0, 10**9))
    ff: int = field(default=0, metadata=_r(0, 10**9))
    bram_kb: float = field(default=0.0, metadata=_r(0.0, 1e9))
    uram_kb: float = field(default=0.0, metadata=_r(0.0, 1e9))
    device: str = ""
    device_dsp: int = field(default=0, metadata=_r(0, 10**7, "DSP slices of the whole device"))
    dsp_per_multiplier: float = field(
        default=0.0, metadata=_r(0.0, 64.0, "estimate: DSP slices per GEMM multiplier")
    )
    rtl_core: RtlCoreResources | None = None
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
