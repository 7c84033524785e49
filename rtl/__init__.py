"""Amaranth HDL of the N:M sparse MAC core, its NumPy golden reference and Verilog/synthesis flows."""

__all__: list[str] = []
