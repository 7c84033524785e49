"""Engine kinds of an Architecture: the SAT PE array, systolic array, DSP chain, vector unit.

Registered with :func:`hwsim.arch.register_engine_kind` on import; :mod:`hwsim.arch` re-exports
every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ._spec import EngineSpec, _c, _r, register_engine_kind
from .errors import ConfigError

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
