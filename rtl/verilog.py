"""Verilog generation of the sparse MAC core (top module ``sparse_mac``)."""

from __future__ import annotations

__all__ = ["TOP", "generate_verilog", "port_widths"]

#: Name of the generated top-level module.
TOP = "sparse_mac"


def generate_verilog(*, n, m, lanes, act_width=8, weight_width=8, acc_width=32,
                     emit_src: bool = False) -> str:
    """Verilog text of one :class:`rtl.sparse_mac.SparseMAC` configuration.

    Ports: ``clk``, ``rst`` (synchronous, active high), ``i__valid``, ``i__ready``,
    ``i__payload``, ``o__valid``, ``o__ready``, ``o__payload``.

    Parameters
    ----------
    n, m, lanes, act_width, weight_width, acc_width : int
        Core parameters (see :class:`rtl.sparse_mac.SparseMAC`).
    emit_src : bool
        Keep Amaranth's ``src`` attributes (Python source locations) in the output.

    Returns
    -------
    str

    Raises
    ------
    TypeError, ValueError
        Bad parameters.
    """
    from amaranth.back import verilog

    from .sparse_mac import SparseMAC
    from .timing import validate_core_params

    # validate first: a constructor that raises would leave an unused-elaboratable warning
    validate_core_params(n=n, m=m, lanes=lanes, act_width=act_width, weight_width=weight_width,
                         acc_width=acc_width)
    dut = SparseMAC(n=n, m=m, lanes=lanes, act_width=act_width, weight_width=weight_width,
                    acc_width=acc_width)
    text = verilog.convert(dut, name=TOP, emit_src=emit_src)
    missing = [p for p in port_widths(n=n, m=m, lanes=lanes, act_width=act_width,
                                      weight_width=weight_width, acc_width=acc_width)
               if p not in text]
    if missing:  # pragma: no cover - guards the public port contract against Amaranth changes
        raise RuntimeError(f"generated Verilog lacks ports {missing}")
    return text


def port_widths(*, n, m, lanes, act_width=8, weight_width=8, acc_width=32) -> dict[str, int]:
    """``{port name: width}`` of the generated top module.

    Parameters
    ----------
    n, m, lanes, act_width, weight_width, acc_width : int
        Core parameters.

    Returns
    -------
    dict
        ``clk``, ``rst``, then the ``i`` and ``o`` stream ports.
    """
    from .sparse_mac import input_layout, output_layout
    from .timing import idx_width_for, validate_core_params

    validate_core_params(n=n, m=m, lanes=lanes, act_width=act_width,
                         weight_width=weight_width, acc_width=acc_width)
    in_layout = input_layout(n=n, m=m, lanes=lanes, act_width=act_width,
                             weight_width=weight_width, idx_width=idx_width_for(m))
    return {
        "clk": 1,
        "rst": 1,
        "i__valid": 1,
        "i__ready": 1,
        "i__payload": in_layout.size,
        "o__valid": 1,
        "o__ready": 1,
        "o__payload": output_layout(lanes=lanes, acc_width=acc_width).size,
    }
