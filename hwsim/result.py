"""The typed result every engine returns (GEMM, SpGEMM, network runs), and its serialisation."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._io import atomic_write_bytes, atomic_write_text
from ._lazy import Deferred, deferred_field, raw
from ._version import __version__

__all__ = ["SCHEMA_VERSION", "RunResult", "CHECK_STATES", "envelope"]

#: Version of the JSON layout printed by the CLI and written by :meth:`RunResult.to_json`.
SCHEMA_VERSION = 1

CHECK_STATES = ("passed", "failed", "skipped")


def envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """Prefix a JSON payload with ``schema_version`` and the tool version."""
    return {"schema_version": SCHEMA_VERSION, "hwsim_version": __version__, **payload}


def json_text(payload: dict[str, Any]) -> str:
    """JSON text of a payload, indented, with each per-layer record on one line.

    A network's ``layers`` (hundreds of records) stay readable a layer per line, and are
    encoded by the C encoder (an indented dump of all of them takes most of a LLaMA run's
    output time).
    """
    layers = payload.get("layers")
    if not isinstance(layers, list) or not layers:
        return json.dumps(payload, indent=2) + "\n"
    rest = {k: v for k, v in payload.items() if k != "layers"}
    head = json.dumps(rest, indent=2)[:-2] + ",\n" if rest else "{\n"  # "{...\n}" opened up
    rows = ",\n    ".join(json.dumps(row) for row in layers)
    return f"{head}  \"layers\": [\n    {rows}\n  ]\n}}\n"


@dataclass
class RunResult:
    """Outcome of one simulated run on one engine.

    Every engine (N:M PE array, systolic baseline, DSP chain, SpGEMM) fills the same fields so
    that per-layer tables and sweeps treat them alike; engine-specific counts go in ``counters``
    and are flattened to top-level keys by :meth:`to_dict`.

    Attributes
    ----------
    kind : str
        ``"gemm"``, ``"spgemm"``, ``"network"``...
    engine : str
        Engine name inside the architecture (``pe_array``, ``systolic``, ``dsp_chain``...).
    arch, arch_hash : str
        Architecture name and the hash of its full description.
    cycles : int
        ``compute_cycles + stall_cycles`` (enforced).
    compute_cycles, stall_cycles : int
        Cycles the compute engine is busy / waiting on memory (fill, drain and load stalls).
    seconds : float
        Simulated time, ``cycles / clock``.
    wall_seconds : float
        Host time the simulation took.
    dense_macs, performed_macs : int
        Multiply-accumulates of the dense-equivalent work, and multiplications the hardware
        actually issues (padding included).
    utilization : float
        ``performed_macs / (multipliers * cycles)``.
    dram_read_bytes, dram_write_bytes, sram_read_bytes, sram_write_bytes : int
        Off-chip and on-chip traffic (metadata included).
    energy_pj : float
        Energy from the architecture's per-action table plus every component's static power
        over ``cycles`` (:mod:`hwsim.energy`); ``counters["energy_breakdown"]`` splits it as
        ``{component: {action: pJ}}``.
    events : int
        SimPy events processed.
    check : str
        ``"passed"``, ``"failed"`` or ``"skipped"`` (functional check against NumPy/SciPy).
    check_reason : str or None
        Why the check was skipped or failed.
    seed : int or None
        Seed of every random choice of the run.
    counters : dict
        Engine-specific counts (``hash_probes``, ``partial_products``...).
    params : dict
        The inputs that define the run (shape, sparsity, dataflow...).
    table : pandas.DataFrame or None
        Per-operation (or per-tile) table.
    """

    kind: str
    engine: str
    arch: str
    arch_hash: str
    cycles: int
    compute_cycles: int
    stall_cycles: int
    seconds: float
    wall_seconds: float
    dense_macs: int
    performed_macs: int
    utilization: float
    dram_read_bytes: int
    dram_write_bytes: int
    sram_read_bytes: int = 0
    sram_write_bytes: int = 0
    energy_pj: float = 0.0
    events: int = 0
    check: str = "skipped"
    check_reason: str | None = None
    seed: int | None = None
    counters: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    table: Any = field(default=deferred_field(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.check not in CHECK_STATES:
            raise ValueError(f"check must be one of {CHECK_STATES}, not {self.check!r}")
        if int(self.cycles) != int(self.compute_cycles) + int(self.stall_cycles):
            raise ValueError(
                f"cycles ({self.cycles}) must equal compute_cycles ({self.compute_cycles}) "
                f"+ stall_cycles ({self.stall_cycles})"
            )
        clash = set(self.counters) & {f.name for f in dataclasses.fields(self)}
        if clash:
            raise ValueError(f"counters may not shadow result fields: {sorted(clash)}")

    @classmethod
    def from_stats(cls, *, arch: Any, stats: Any, started: float, **fields: Any) -> RunResult:
        """A result whose timing, DRAM and event fields come from a SimPy run's statistics.

        Parameters
        ----------
        arch : hwsim.arch.Architecture
            Gives ``arch``, ``arch_hash`` and the clock for ``seconds``.
        stats : object
            ``cycles``, ``compute_cycles``, ``stall_cycles``, ``dram_read_bytes``,
            ``dram_write_bytes`` and ``events`` of the run (``hwsim.pipeline.PipelineStats``,
            the SpGEMM phase statistics); with ``dram_read_bursts``, ``dram_write_bursts`` and
            ``burst_bytes`` also the counters ``dram_bursts``, ``dram_burst_read_bytes`` and
            ``dram_burst_write_bytes`` (what the bus carried, beside the payload bytes).
        started : float
            :func:`time.perf_counter` when the run started; ``wall_seconds`` is measured from it.
        **fields
            Every other field (``kind``, ``engine``, MACs, on-chip traffic, energy, check...).

        Returns
        -------
        RunResult
        """
        bursts = _burst_counters(stats)
        if bursts:
            fields["counters"] = {**bursts, **(fields.get("counters") or {})}
        return cls(
            arch=arch.name,
            arch_hash=arch.hash(),
            cycles=stats.cycles,
            compute_cycles=stats.compute_cycles,
            stall_cycles=stats.stall_cycles,
            seconds=arch.cycles_to_seconds(stats.cycles),
            wall_seconds=time.perf_counter() - started,
            dram_read_bytes=stats.dram_read_bytes,
            dram_write_bytes=stats.dram_write_bytes,
            events=stats.events,
            **fields,
        )

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Flat, JSON-ready dict: the fields, then ``counters`` at top level, then ``params``;
        network and training runs add ``layers``, one object per operation in graph order."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("counters", "table", "params"):
                continue
            out[f.name] = _plain(getattr(self, f.name))
        for k, v in self.counters.items():
            out[k] = _plain(v)
        out["params"] = {k: _plain(v) for k, v in self.params.items()}
        if self.kind in ("network", "training"):
            stored = raw(self, "table")
            if isinstance(stored, Deferred) and stored.records is not None:  # no DataFrame yet
                cols = stored.columns
                rows = [{c: row.get(c) for c in cols} for row in stored.records]
            elif self.table is not None:
                rows = self.table.to_dict(orient="records")
            else:
                rows = None
            if rows is not None:
                out["layers"] = [{str(k): _plain(v) for k, v in row.items()} for row in rows]
        return out

    def to_json(self, path: str | Path | None = None) -> str:
        """JSON text with ``schema_version``; written atomically to ``path`` when given."""
        text = json_text(envelope(self.to_dict()))
        if path is not None:
            atomic_write_text(path, text)
        return text

    def to_csv(self, path: str | Path) -> None:
        """Write the per-operation table (or the totals when there is none) as CSV."""
        atomic_write_text(path, self._frame().to_csv(index=False))

    def to_parquet(self, path: str | Path) -> None:
        """Write the per-operation table (or the totals) as Parquet.

        Raises
        ------
        hwsim.errors.MissingExtraError
            pyarrow is not installed (``pip install 'hwsim[sweep]'``).
        """
        import io

        from .errors import require

        require("pyarrow", "sweep", "Parquet output")
        buf = io.BytesIO()
        self._frame().to_parquet(buf, index=False)
        atomic_write_bytes(path, buf.getvalue())

    def _frame(self):
        import pandas as pd

        if self.table is not None:
            return self.table
        flat = self.to_dict()
        flat.pop("params")
        return pd.DataFrame([flat])


def _plain(v: Any) -> Any:
    """numpy scalars → Python scalars; NaN/inf kept out of JSON as None."""
    if hasattr(v, "item") and callable(v.item) and getattr(v, "shape", None) == ():
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def _burst_counters(stats) -> dict[str, int]:
    """DRAM burst counters of a run whose statistics carry them (else nothing)."""
    rb = getattr(stats, "dram_read_bursts", None)
    wb = getattr(stats, "dram_write_bursts", None)
    size = getattr(stats, "burst_bytes", None)
    if rb is None or wb is None or size is None:
        return {}
    return {
        "dram_bursts": int(rb) + int(wb),
        "dram_burst_read_bytes": int(rb) * int(size),
        "dram_burst_write_bytes": int(wb) * int(size),
    }
