"""Amaranth HDL of the N:M sparse MAC core and PE array, NumPy golden references, Verilog/synthesis flows."""

from __future__ import annotations

import importlib

__all__ = [
    "CoreTiming",
    "core_timing",
    "validate_core_params",
    "MacParams",
    "GroupStream",
    "golden_mac",
    "random_stream",
    "pack_input",
    "unpack_output",
    "SparseMAC",
    "generate_verilog",
    "synth_report",
    "ArrayTiming",
    "array_timing",
    "ArrayParams",
    "NMPeArray",
    "NMPeArrayOS",
    "ArrayOSTiming",
    "array_os_timing",
    "generate_array_verilog",
]

# Imported on first use, so that ``import rtl.timing`` (the SimPy model's view of the core) stays
# free of Amaranth and NumPy.
_WHERE = {
    "CoreTiming": "timing",
    "core_timing": "timing",
    "validate_core_params": "timing",
    "MacParams": "golden",
    "GroupStream": "golden",
    "golden_mac": "golden",
    "random_stream": "golden",
    "pack_input": "golden",
    "unpack_output": "golden",
    "SparseMAC": "sparse_mac",
    "generate_verilog": "verilog",
    "synth_report": "synth",
    "ArrayTiming": "timing",
    "array_timing": "timing",
    "ArrayParams": "array_golden",
    "NMPeArray": "pe_array",
    "NMPeArrayOS": "pe_array_os",
    "ArrayOSTiming": "timing",
    "array_os_timing": "timing",
    "generate_array_verilog": "verilog",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
