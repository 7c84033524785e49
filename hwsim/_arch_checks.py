"""Cross-section checks of an Architecture: derived fields agree, the design fits its device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .arch import Architecture

__all__ = ["check_derived", "device_excess", "derive_overrides"]


def device_excess(arch: Architecture, dsp: int) -> tuple[list[str], bool]:
    """Lines naming what exceeds the device, and whether the device's capacity is known."""
    r = arch.resources
    onchip_kb = r.bram_kb + r.uram_kb
    known = bool(r.device_dsp) or onchip_kb > 0
    where = f"device {r.device!r}" if r.device else "the device"
    out = []
    if r.device_dsp and dsp > r.device_dsp:
        out.append(
            f"design {arch.name!r} needs {dsp} DSP slices but {where} has {r.device_dsp} "
            f"(resources.device_dsp)"
        )
    need_kb = arch.onchip_bytes / 1024
    if onchip_kb > 0 and need_kb > onchip_kb:
        out.append(
            f"design {arch.name!r} needs {need_kb:.0f} KiB of buffers but {where} has "
            f"{onchip_kb:.0f} KiB of BRAM + URAM (resources.bram_kb + uram_kb)"
        )
    return out, known


def check_derived(arch: Architecture) -> None:
    """Fields that follow from others must agree with them (ConfigError with the key path).

    ``widths.index`` is the N:M index width ``ceil(log2 m)`` of every ``nm_pe_array`` engine;
    an RTL core's ``n``, ``m``, ``act_width``, ``weight_width``, ``acc_width`` are the
    parameters its synthesis figures were measured for, so they must be its engine's.
    """
    from .arch import NMPeArraySpec

    for name, spec in arch.engines.items():
        if not isinstance(spec, NMPeArraySpec):
            continue
        bits = (spec.m - 1).bit_length()
        if arch.widths.index != bits:
            raise ConfigError(
                f"widths.index is {arch.widths.index} but engines.{name}.m = {spec.m} needs "
                f"{bits}-bit indices: set widths.index to {bits}",
                key="widths.index",
            )
    core = arch.resources.rtl_core
    spec = arch.engines.get(core.engine) if core is not None else None
    if isinstance(spec, NMPeArraySpec):
        for f in ("n", "m", "act_width", "weight_width", "acc_width"):
            have, want = getattr(core, f), getattr(spec, f)
            if have != want:
                raise ConfigError(
                    f"the RTL core was synthesised for {f}={have} but engines.{core.engine}.{f} "
                    f"is {want}: re-synthesise it (rtl.synth.synth_report) and update "
                    f"resources.rtl_core, or restore {f}",
                    key=f"resources.rtl_core.{f}",
                )


def derive_overrides(arch: Architecture) -> Architecture:
    """``arch`` with the fields that follow an overridden N:M engine re-derived.

    For programmatic overrides (:meth:`Architecture.with_engine_overrides`, a sweep's
    ``arch.engines.pe_array.n`` axis): ``widths.index`` follows ``m``, and synthesis figures of
    an RTL core measured for other parameters no longer describe the design, so
    ``resources.rtl_core`` is dropped and the resources fall back to the estimate
    (``resources_basis`` says so). A YAML file is checked instead (:func:`check_derived`): a
    hand-edited file should say what it means.
    """
    import dataclasses

    from .arch import NMPeArraySpec

    widths, resources = arch.widths, arch.resources
    for spec in arch.engines.values():
        if isinstance(spec, NMPeArraySpec):
            bits = (spec.m - 1).bit_length()
            if widths.index != bits:
                widths = dataclasses.replace(widths, index=bits)
    core = resources.rtl_core
    spec = arch.engines.get(core.engine) if core is not None else None
    if isinstance(spec, NMPeArraySpec) and any(
        getattr(core, f) != getattr(spec, f)
        for f in ("n", "m", "act_width", "weight_width", "acc_width")
    ):
        resources = dataclasses.replace(resources, rtl_core=None)
    if widths is arch.widths and resources is arch.resources:
        return arch
    return dataclasses.replace(arch, widths=widths, resources=resources)
