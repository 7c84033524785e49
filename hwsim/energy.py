"""Accelergy-style energy: a per-action table of every component, and static power over time.

An architecture's :class:`~hwsim.arch.EnergySpec` gives the figures; :class:`EnergyTable`
resolves them per component (the engines, ``vector``, every buffer, ``dram``), filling the
figures a description leaves out with defaults derived from its structure. A run counts its
actions ``{(component, action): count}`` and :func:`energy_breakdown` prices them and adds
static power over the run's cycles:

================  ===================  ===============================================
component         action               unit, price
================  ===================  ===============================================
engine            ``mac``              a multiply issued, ``mac_pj[precision]``
engine            ``select``           one M-to-N operand selection (a sparse multiply's
                                       ``m``-to-1 multiplexer + its index register)
engine            ``hash``             SpGEMM: a partial product's key hashed
engine            ``hash_probe``       SpGEMM: a hash-table slot visited (compare + step)
engine            ``atomic``           SpGEMM: an atomic read-modify-write's ALU work
buffer            ``read``, ``write``  a byte the engine reads / writes, the buffer's pJ/B
                                       (from its bank size)
buffer            ``fill``, ``drain``  a byte the DMA writes in from / reads out to DRAM
buffer            ``metadata_read``    a byte of sparse index metadata read
``dram``          ``read``, ``write``  a byte, ``dram_pj_per_byte``
every component   ``static``           ``static_mw`` x the run's time
================  ===================  ===============================================

GEMM operands are booked on the buffer of their name (``act``, ``weight``, ``out`` or an alias
such as ``ifmap``), or on the one ``energy.operand_buffers`` names.

Default figures (used when the description leaves a figure out; each preset cites them in
its ``provenance``):

* SRAM per buffer: ``sram_pj_per_byte`` is the figure of a ``sram_ref_bytes`` bank (32 KiB,
  Horowitz ISSCC 2014); a bank of ``b`` bytes costs ``sram_pj_per_byte * sqrt(b / ref)``.
  Horowitz's own points (8 KB: 10 pJ, 32 KB: 20 pJ, 1 MB: 100 pJ per 64-bit read) follow
  ``sqrt`` within 13 %. Writes cost what reads do (assumption).
* Selector: ``(m - 1) * act_bits`` 2:1 multiplexer bits at :data:`MUX_BIT_PJ` plus
  ``idx_bits`` register bits at :data:`REG_BIT_PJ` (Aladdin 40 nm tables, as shipped in
  Accelergy's aladdin plug-in / hwcomponents-library).
* Index metadata: the read price of the buffer holding the weights (the indices are stored
  there; decoding them is part of the selector).
* Hash: a 32-bit integer multiply (multiplicative hashing), 3.1 pJ; probe: a 32-bit compare
  and a slot-index increment, 2 x 0.1 pJ (Horowitz 45 nm); atomic: a 64-bit add, assumed
  2 x the 0.9 pJ fp32 add.
* Static power: engines ``multipliers * (mult leak + adder leak)`` from Aladdin 40 nm
  (32x32 multiplier 0.08 mW, scaled by the operand widths' product; 32-bit adder 0.0024 mW,
  scaled by the accumulator width); buffers :data:`SRAM_LEAK_MW_PER_KIB` per KiB
  (assumption); DRAM :data:`DRAM_STATIC_MW_PER_CHANNEL` per channel by kind (device
  background power, assumption of datasheet class; the FPGA's PHY/controller is not in it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

__all__ = [
    "EnergyTable",
    "energy_table",
    "energy_breakdown",
    "plan_counts",
    "add_breakdowns",
    "FIGURES",
    "relevant_figures",
    "components",
    "MUX_BIT_PJ",
    "REG_BIT_PJ",
    "HASH_PJ",
    "PROBE_PJ",
    "ATOMIC_PJ",
    "SRAM_LEAK_MW_PER_KIB",
    "DRAM_STATIC_MW_PER_CHANNEL",
]

#: pJ per bit of a 2:1 multiplexer: Aladdin 40 nm 32-bit bitwise op, 0.0181 pJ / 32.
MUX_BIT_PJ = 0.0181 / 32
#: pJ per register bit read: Aladdin 40 nm register, 0.009 pJ/bit.
REG_BIT_PJ = 0.009
#: pJ per hashed key: a 32-bit integer multiply (Horowitz ISSCC 2014, 45 nm: 3.1 pJ).
HASH_PJ = 3.1
#: pJ per hash slot visited: a 32-bit compare + a 32-bit increment (Horowitz: 0.1 pJ each).
PROBE_PJ = 0.2
#: pJ per atomic's ALU work: a 64-bit add, assumed 2 x Horowitz's 0.9 pJ fp32 add.
ATOMIC_PJ = 1.8
#: Leakage of a 32x32 multiplier / a 32-bit adder, mW (Aladdin 40 nm tables).
MULT32_LEAK_MW = 0.08
ADD32_LEAK_MW = 0.0024
#: SRAM leakage, mW per KiB (assumption: ~2.4 nW per bit cell, 45 nm low-leakage class).
SRAM_LEAK_MW_PER_KIB = 0.02
#: DRAM device background power per channel, mW (assumption of datasheet class: a DDR4 x64
#: rank of eight x8 devices at ~40 mA IDD2N/IDD3N x 1.2 V; HBM2 per pseudo-channel).
DRAM_STATIC_MW_PER_CHANNEL = {"ddr4": 400.0, "ddr5": 400.0, "hbm2": 60.0, "hbm2e": 60.0}

#: Figure names of the table; each preset's ``provenance`` cites ``energy_<figure>``
#: (``mac``, ``sram`` and ``dram`` under the ``energy`` entry).
FIGURES = ("mac", "sram", "dram", "select", "index", "hash", "hash_probe", "atomic", "static")

#: Operand -> buffer names that hold it, in order of preference.
_OPERAND_BUFFERS = {
    "act": ("act", "ifmap", "input", "in"),
    "weight": ("weight", "filter", "w"),
    "out": ("out", "ofmap", "output", "psum"),
}


def _widths(spec: Any, arch: Any) -> tuple[int, int, int]:
    w = arch.widths
    a = getattr(spec, "act_width", None) or w.act
    b = getattr(spec, "weight_width", None) or w.weight
    acc = getattr(spec, "acc_width", None) or w.acc
    return int(a), int(b), int(acc)


@dataclass
class EnergyTable:
    """Resolved per-action prices of one architecture (pJ) and static power (mW).

    Attributes
    ----------
    mac_pj : dict
        Precision -> pJ per multiply.
    buffers : dict
        Buffer -> ``(read_pj_per_byte, write_pj_per_byte)``.
    dram_pj_per_byte : float
    select_pj : float or None
        Fixed selector price, or ``None`` to derive it per run from ``m`` and the width.
    index_pj_per_byte : float or None
        Fixed metadata price, or ``None``: the holding buffer's read price.
    hash_pj, hash_probe_pj, atomic_pj : float
    static_mw : dict
        Component -> static power.
    clock_mhz : float
    """

    mac_pj: dict[str, float]
    buffers: dict[str, tuple[float, float]]
    dram_pj_per_byte: float
    select_pj: float | None
    index_pj_per_byte: float | None
    hash_pj: float
    hash_probe_pj: float
    atomic_pj: float
    static_mw: dict[str, float]
    clock_mhz: float
    engines: tuple[str, ...] = field(default_factory=tuple)
    operand_buffers: dict[str, str] = field(default_factory=dict)

    def mac(self, precision: str) -> float:
        """pJ per multiply at ``precision`` (ConfigError when the table has none)."""
        if precision not in self.mac_pj:
            raise ConfigError(
                f"no MAC energy for precision {precision!r}; table has {sorted(self.mac_pj)}",
                key="energy.mac_pj",
            )
        return self.mac_pj[precision]

    def select(self, m: int, act_bits: int) -> float:
        """pJ of one ``m``-to-1 selection of an ``act_bits`` operand (and its index read)."""
        if self.select_pj is not None:
            return self.select_pj
        m = max(int(m), 1)
        return (m - 1) * act_bits * MUX_BIT_PJ + (m - 1).bit_length() * REG_BIT_PJ

    def index(self, buffer: str) -> float:
        """pJ per byte of index metadata read from ``buffer``."""
        if self.index_pj_per_byte is not None:
            return self.index_pj_per_byte
        return self.buffers[buffer][0] if buffer in self.buffers else 0.0

    def static_pj(self, component: str, cycles: float) -> float:
        """Static energy of ``component`` over ``cycles``: mW x us = nJ -> pJ."""
        return self.static_mw.get(component, 0.0) * float(cycles) / self.clock_mhz * 1e3

    def buffer_for(self, operand: str) -> str | None:
        """The buffer holding ``operand``: ``operand_buffers``, a buffer of its name
        (``act``/``ifmap``..., ``weight``/``filter``..., ``out``/``ofmap``...), else the first."""
        if operand in self.operand_buffers:
            return self.operand_buffers[operand]
        for name in _OPERAND_BUFFERS.get(operand, (operand,)):
            if name in self.buffers:
                return name
        return next(iter(self.buffers), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain data of the resolved table (JSON-ready)."""
        return {
            "mac_pj": dict(self.mac_pj),
            "buffers_pj_per_byte": {k: {"read": r, "write": w} for k, (r, w) in self.buffers.items()},
            "dram_pj_per_byte": self.dram_pj_per_byte,
            "select_pj": self.select_pj if self.select_pj is not None else "derived (m, width)",
            "index_pj_per_byte": (
                self.index_pj_per_byte if self.index_pj_per_byte is not None
                else "weight buffer read"
            ),
            "hash_pj": self.hash_pj,
            "hash_probe_pj": self.hash_probe_pj,
            "atomic_pj": self.atomic_pj,
            "static_mw": dict(self.static_mw),
        }


def _default_static(arch: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, spec in [*arch.engines.items(), ("vector", arch.vector)]:
        a, b, acc = _widths(spec, arch)
        per = MULT32_LEAK_MW * a * b / 1024 + ADD32_LEAK_MW * acc / 32
        out[name] = int(spec.multipliers) * per
    for name, buf in arch.buffers.items():
        out[name] = buf.capacity_bytes / 1024 * SRAM_LEAK_MW_PER_KIB
    out["dram"] = arch.dram.channels * DRAM_STATIC_MW_PER_CHANNEL.get(arch.dram.kind, 400.0)
    return out


def relevant_figures(arch: Any) -> list[str]:
    """Figures of :data:`FIGURES` the engines of ``arch`` use (each needs a provenance entry)."""
    kinds = {spec.kind for spec in arch.engines.values()}
    out = ["mac", "sram", "dram", "static"]
    if kinds & {"nm_pe_array", "systolic", "dsp_chain"}:
        out += ["select", "index"]
    if "spgemm" in kinds:
        out += ["hash", "hash_probe", "atomic"]
    return out


def components(arch: Any) -> list[str]:
    """Component names of ``arch``: engines, ``vector``, buffers, ``dram``."""
    return [*arch.engines, "vector", *arch.buffers, "dram"]


def check_names(arch: Any) -> None:
    """ConfigError when ``energy.static_mw``, ``energy.buffers`` or ``energy.operand_buffers``
    names an unknown component."""
    e = arch.energy
    known = components(arch)
    for operand, buf in e.operand_buffers.items():
        if operand not in _OPERAND_BUFFERS:
            raise ConfigError(f"no operand {operand!r}; expected one of act, weight, out",
                              key=f"energy.operand_buffers.{operand}")
        if buf not in arch.buffers:
            raise ConfigError(f"no buffer {buf!r}; buffers: {', '.join(arch.buffers)}",
                              key=f"energy.operand_buffers.{operand}")
    for key, names, allowed in (
        ("energy.static_mw", e.static_mw, known),
        ("energy.buffers", e.buffers, list(arch.buffers)),
    ):
        for name in names:
            if name not in allowed:
                raise ConfigError(
                    f"no component {name!r}; expected one of {', '.join(allowed)}",
                    key=f"{key}.{name}",
                )


def energy_table(arch: Any) -> EnergyTable:
    """The resolved :class:`EnergyTable` of ``arch`` (defaults filled from its structure)."""
    e = arch.energy
    mac = {
        p: float(getattr(e.mac_pj, p))
        for p in ("int8", "int16", "fp16", "bf16", "fp32")
        if getattr(e.mac_pj, p, None) is not None
    }
    ref = float(e.sram_ref_bytes)
    bufs = {}
    for name, b in arch.buffers.items():
        base = float(e.sram_pj_per_byte) * math.sqrt(b.capacity_bytes / b.banks / ref)
        over = e.buffers.get(name)
        r = over.read_pj_per_byte if over and over.read_pj_per_byte is not None else base
        w = over.write_pj_per_byte if over and over.write_pj_per_byte is not None else r
        bufs[name] = (float(r), float(w))
    static = _default_static(arch)
    static.update({k: float(v) for k, v in e.static_mw.items()})
    return EnergyTable(
        mac_pj=mac,
        buffers=bufs,
        dram_pj_per_byte=float(e.dram_pj_per_byte),
        select_pj=e.select_pj,
        index_pj_per_byte=e.index_pj_per_byte,
        hash_pj=HASH_PJ if e.hash_pj is None else float(e.hash_pj),
        hash_probe_pj=PROBE_PJ if e.hash_probe_pj is None else float(e.hash_probe_pj),
        atomic_pj=ATOMIC_PJ if e.atomic_pj is None else float(e.atomic_pj),
        static_mw=static,
        clock_mhz=float(arch.clock_mhz),
        engines=tuple(arch.engines),
        operand_buffers=dict(e.operand_buffers),
    )


def energy_breakdown(
    arch: Any,
    counts: dict[tuple[str, str], float],
    cycles: float,
    *,
    precision: str = "int8",
    m: int = 1,
    static: bool = True,
) -> tuple[float, dict[str, dict[str, float]]]:
    """Price a run's action counts and add static power over its cycles.

    Parameters
    ----------
    arch : Architecture
    counts : dict
        ``{(component, action): count}``; actions as in the module table. ``mac`` is priced
        at ``precision``; ``select`` as an ``m``-to-1 selection of a ``precision``-wide operand.
    cycles : float
        The run's cycles (static power of every component of ``arch`` is charged over them).
    precision : str
        Precision of the multiplies.
    m : int
        Selector window (the M of N:M) of ``select`` actions.
    static : bool
        Add the ``static`` action of every component.

    Returns
    -------
    (total_pj, breakdown) : tuple
        ``breakdown[component][action]`` in pJ; ``total_pj`` is its sum.

    Raises
    ------
    ConfigError
        An action the table cannot price (naming it), or no MAC figure for ``precision``.
    """
    from .engines.base import PRECISION_BYTES

    t = energy_table(arch)
    bits = 8 * PRECISION_BYTES.get(precision, 4)
    out: dict[str, dict[str, float]] = {}
    for (comp, action), n in counts.items():
        if not n:
            continue
        if action == "mac":
            price = t.mac(precision)
        elif action == "select":
            price = t.select(m, bits)
        elif action in ("hash", "hash_probe", "atomic"):
            price = getattr(t, f"{action}_pj")
        elif comp == "dram" and action in ("read", "write"):
            price = t.dram_pj_per_byte
        elif comp in t.buffers and action in ("read", "write", "fill", "drain"):
            price = t.buffers[comp][action in ("write", "fill")]
        elif comp in t.buffers and action == "metadata_read":
            price = t.index(comp)
        else:
            raise ConfigError(f"no energy figure for action {action!r} of component {comp!r}")
        out.setdefault(comp, {})
        out[comp][action] = out[comp].get(action, 0.0) + float(n) * price
    if static:
        for comp in components(arch):
            pj = t.static_pj(comp, cycles)
            if pj:
                out.setdefault(comp, {})["static"] = pj
    total = sum(sum(a.values()) for a in out.values())
    return float(total), out


def plan_counts(arch: Any, plan: Any) -> dict[tuple[str, str], float]:
    """On-chip action counts of a :class:`~hwsim.engines.base.TilePlan` (DRAM excluded).

    MACs and selections go to the plan's engine; SRAM bytes to the buffers by operand when
    the plan's notes split them (``sram_operands``: operand -> ``[read, write]`` bytes,
    ``sram_meta_read_bytes``: the weight reads that are index metadata), the rest of the
    plan's totals to the activation buffer (:meth:`EnergyTable.buffer_for`). The plan's DRAM loads fill the act buffer (its
    ``act_load_bytes``) and the weight buffer (the rest); its stores drain the out buffer.
    """
    t_bufs = list(arch.buffers)
    table = energy_table(arch)
    counts: dict[tuple[str, str], float] = {
        (plan.engine, "mac"): int(plan.performed_macs.sum()),
        (plan.engine, "select"): int(plan.notes.get("select_ops", 0)),
    }
    left_r, left_w = int(plan.sram_read_bytes.sum()), int(plan.sram_write_bytes.sum())
    if not t_bufs:
        return counts
    meta = int(plan.notes.get("sram_meta_read_bytes", 0))
    for operand, (r, w) in (plan.notes.get("sram_operands") or {}).items():
        buf = table.buffer_for(operand)
        r, w = int(r), int(w)
        if operand == "weight" and meta:
            counts[(buf, "metadata_read")] = counts.get((buf, "metadata_read"), 0) + meta
            r -= meta
        counts[(buf, "read")] = counts.get((buf, "read"), 0) + r
        counts[(buf, "write")] = counts.get((buf, "write"), 0) + w
        left_r, left_w = left_r - r - (meta if operand == "weight" else 0), left_w - w
    first = table.buffer_for("act")  # unattributed bytes (vector ops...): activations
    counts[(first, "read")] = counts.get((first, "read"), 0) + max(left_r, 0)
    counts[(first, "write")] = counts.get((first, "write"), 0) + max(left_w, 0)
    # DMA side: every byte loaded from DRAM is written into its buffer (fill), every byte
    # stored is read out of the output buffer (drain); the plan's SRAM totals are the
    # compute side only.
    load = int(plan.load_bytes.sum())
    act_load = int(plan.act_load_bytes.sum())
    for operand, action, n in (("act", "fill", act_load), ("weight", "fill", load - act_load),
                               ("out", "drain", int(plan.store_bytes.sum()))):
        buf = table.buffer_for(operand)
        counts[(buf, action)] = counts.get((buf, action), 0) + n
    return counts


def add_breakdowns(*parts: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Sum breakdowns ``{component: {action: pJ}}`` action by action."""
    out: dict[str, dict[str, float]] = {}
    for part in parts:
        for comp, actions in part.items():
            dst = out.setdefault(comp, {})
            for action, pj in actions.items():
                dst[action] = dst.get(action, 0.0) + float(pj)
    return out
