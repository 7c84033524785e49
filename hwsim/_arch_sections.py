"""Memory, energy and resource sections of an Architecture (buffers, DRAM, widths, pJ, FPGA).

:mod:`hwsim.arch` re-exports every name here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ._spec import EngineSpec, _c, _r, _Spec
from .errors import ConfigError


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
