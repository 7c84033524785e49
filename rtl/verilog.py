"""Verilog generation of the sparse MAC core (``sparse_mac``) and the PE arrays (``nm_pe_array``, ``_os``)."""

from __future__ import annotations

__all__ = ["TOP", "ARRAY_TOP", "ARRAY_OS_TOP", "array_top", "generate_verilog", "port_widths",
           "generate_array_verilog", "array_port_widths"]

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


#: Name of the generated top-level module of the PE array (weight-stationary).
ARRAY_TOP = "nm_pe_array"
#: Name of the generated top-level module of the output-stationary PE array.
ARRAY_OS_TOP = "nm_pe_array_os"


def array_top(dataflow: str = "ws") -> str:
    """Top module name of the array of ``dataflow`` (``"ws"`` or ``"os"``).

    Raises
    ------
    ValueError
        Another dataflow.
    """
    from .timing import validate_array_dataflow

    return ARRAY_OS_TOP if validate_array_dataflow(dataflow) == "os" else ARRAY_TOP


def generate_array_verilog(*, rows, cols, n, m, act_width=8, weight_width=8, acc_width=32,
                           dataflow: str = "ws", emit_src: bool = False) -> str:
    """Verilog text of one PE array configuration: :class:`rtl.pe_array.NMPeArray` (top
    ``nm_pe_array``) or, ``dataflow="os"``, :class:`rtl.pe_array_os.NMPeArrayOS` (top
    ``nm_pe_array_os``).

    Ports: ``clk``, ``rst`` (synchronous, active high), then the ``w``, ``a`` and ``o`` streams
    (``w__valid``, ``w__ready``, ``w__payload``, ...); see :func:`array_port_widths` (the same
    for both dataflows).

    Parameters
    ----------
    rows, cols, n, m, act_width, weight_width, acc_width : int
        Array parameters (see :class:`rtl.pe_array.NMPeArray`).
    dataflow : {"ws", "os"}
    emit_src : bool
        Keep Amaranth's ``src`` attributes.

    Returns
    -------
    str

    Raises
    ------
    TypeError, ValueError
        Bad parameters or dataflow.
    """
    from amaranth.back import verilog

    from .pe_array import NMPeArray
    from .pe_array_os import NMPeArrayOS

    top = array_top(dataflow)
    params = dict(rows=rows, cols=cols, n=n, m=m, act_width=act_width,
                  weight_width=weight_width, acc_width=acc_width)
    widths = array_port_widths(**params)  # validates before elaboration
    cls = NMPeArrayOS if dataflow == "os" else NMPeArray
    text = verilog.convert(cls(**params), name=top, emit_src=emit_src)
    missing = [p for p in widths if p not in text]
    if missing:  # pragma: no cover - guards the public port contract against Amaranth changes
        raise RuntimeError(f"generated Verilog lacks ports {missing}")
    return text


def array_port_widths(*, rows, cols, n, m, act_width=8, weight_width=8,
                      acc_width=32) -> dict[str, int]:
    """``{port name: width}`` of the generated ``nm_pe_array`` (or ``nm_pe_array_os``) module.

    Parameters
    ----------
    rows, cols, n, m, act_width, weight_width, acc_width : int

    Returns
    -------
    dict
        ``clk``, ``rst``, then the ``w``, ``a`` and ``o`` stream ports.
    """
    from .pe_array import act_layout, result_layout, weight_layout
    from .timing import idx_width_for, validate_array_params

    p = validate_array_params(rows=rows, cols=cols, n=n, m=m, act_width=act_width,
                              weight_width=weight_width, acc_width=acc_width)
    out = {"clk": 1, "rst": 1}
    sizes = {
        "w": weight_layout(n=p["n"], cols=p["cols"], weight_width=p["weight_width"],
                           idx_width=idx_width_for(p["m"])).size,
        "a": act_layout(m=p["m"], rows=p["rows"], act_width=p["act_width"]).size,
        "o": result_layout(cols=p["cols"], acc_width=p["acc_width"]).size,
    }
    for name, size in sizes.items():
        out.update({f"{name}__valid": 1, f"{name}__ready": 1, f"{name}__payload": size})
    return out
