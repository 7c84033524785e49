"""Timing contract and parameter validation of the N:M sparse MAC core (pure Python, no Amaranth)."""

from __future__ import annotations

import operator
from dataclasses import dataclass

__all__ = ["CoreTiming", "core_timing", "validate_core_params", "idx_width_for"]

#: Pipeline registers between an accepted group and the updated accumulator: index mux into the
#: multiplier input registers, product register, accumulator register.
_PIPELINE_STAGES = 3


@dataclass(frozen=True)
class CoreTiming:
    """Cycle-level timing of one :class:`rtl.sparse_mac.SparseMAC` configuration.

    Attributes
    ----------
    latency : int
        ``L``: if the ``last`` group of a dot product transfers on the input in cycle ``t``,
        ``o__valid`` is first high in cycle ``t + L`` (when the output buffer is not holding
        older results).
    ii : int
        Initiation interval: cycles between accepted groups with the output never back-pressured.
    output_buffer_depth : int
        Results the core can hold between the input and the output port: ``i__ready`` is low
        exactly when this many results (accepted ``last`` groups not yet delivered) are in flight.
    """

    latency: int
    ii: int
    output_buffer_depth: int


def _check_int(name: str, value, lo: int, hi: int, extra: str = "") -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer in {lo}..{hi}{extra}, not {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer in {lo}..{hi}{extra}, not {value!r}"
        ) from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}{extra}, not {value}")
    return value


def validate_core_params(
    *, n, m, lanes, act_width, weight_width, acc_width
) -> dict[str, int]:
    """Check the parameters of the sparse MAC core; return them as plain ``int``.

    Parameters
    ----------
    n : int
        Non-zeros per group, ``1..m``.
    m : int
        Group size, a power of two in ``2..16``.
    lanes : int
        Output lanes (weight rows) sharing the activations, ``1..64``.
    act_width, weight_width : int
        Signed operand widths in bits, ``2..16``.
    acc_width : int
        Accumulator width in bits, ``8..48``; sums wrap modulo ``2**acc_width``.

    Returns
    -------
    dict
        ``{"n", "m", "lanes", "act_width", "weight_width", "acc_width"}`` as Python ints.

    Raises
    ------
    TypeError
        A parameter is not an integer (``bool`` is rejected too).
    ValueError
        A parameter is out of range, ``m`` is not a power of two, or ``n > m``.
    """
    m = _check_int("m", m, 2, 16, extra=" and a power of two")
    if m & (m - 1):
        raise ValueError(f"m must be an integer in 2..16 and a power of two, not {m}")
    n = _check_int("n", n, 1, m)
    lanes = _check_int("lanes", lanes, 1, 64)
    act_width = _check_int("act_width", act_width, 2, 16)
    weight_width = _check_int("weight_width", weight_width, 2, 16)
    acc_width = _check_int("acc_width", acc_width, 8, 48)
    return dict(
        n=n, m=m, lanes=lanes, act_width=act_width, weight_width=weight_width,
        acc_width=acc_width,
    )


def idx_width_for(m: int) -> int:
    """Bits of one activation index: ``max(1, log2(m))``."""
    return max(1, (int(m) - 1).bit_length())


def core_timing(*, n, m, lanes, act_width, weight_width, acc_width) -> CoreTiming:
    """Latency, initiation interval and output buffering of one core configuration.

    This is the single source of timing: :class:`rtl.sparse_mac.SparseMAC` returns it from its
    ``latency``/``ii`` properties and sizes its output buffer with it, and the SimPy model
    reads it. The co-simulation tests measure the generated Verilog against it.

    Parameters
    ----------
    n, m, lanes, act_width, weight_width, acc_width : int
        As in :func:`validate_core_params`.

    Returns
    -------
    CoreTiming

    Raises
    ------
    TypeError, ValueError
        As in :func:`validate_core_params`.
    """
    validate_core_params(
        n=n, m=m, lanes=lanes, act_width=act_width, weight_width=weight_width,
        acc_width=acc_width,
    )
    latency = _PIPELINE_STAGES
    # Results in flight with the output never stalled: one per pipeline stage (the ``last``
    # group in each stage) plus the one being delivered; one more slot keeps II = 1.
    return CoreTiming(latency=latency, ii=1, output_buffer_depth=latency + 1)
