"""The built-in demonstration: one run of each engine on the project's own default workloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["run_demo", "DEMO_WORKLOADS"]

#: (label, run kind, architecture, run arguments): every run goes through the registry of run
#: kinds (:mod:`hwsim.runs`), the one the CLI and sweeps read. Shapes of real layers and
#: networks, generated weights.
DEMO_WORKLOADS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("SAT PE array, GEMM 1024^3, dense", "gemm", "sat-vcu1525", dict(m=1024, k=1024, n=1024)),
    ("SAT PE array, GEMM 1024^3, 2:8", "gemm", "sat-vcu1525",
     dict(m=1024, k=1024, n=1024, sparsity="2:8")),
    ("SAT BDWP training 512^3, dense", "training", "sat-vcu1525",
     dict(m=512, k=512, n=512, sparsity="dense")),
    ("SAT BDWP training 512^3, 2:8", "training", "sat-vcu1525",
     dict(m=512, k=512, n=512, sparsity="2:8")),
    ("Systolic 32x32 OS, GEMM 1024^3, dense", "gemm", "dense-systolic",
     dict(m=1024, k=1024, n=1024, dataflow="os")),
    ("FlightLLM decode GEMV 4096x11008, 2:8", "gemm", "flightllm-u280",
     dict(m=1, k=4096, n=11008, sparsity="2:8")),
    ("SAT network: BERT-base seq 128, dense", "network", "sat-vcu1525",
     dict(model="bert-base", sparsity="dense")),
    ("SAT network: BERT-base seq 128, 2:8", "network", "sat-vcu1525",
     dict(model="bert-base", sparsity="2:8")),
    ("SAT network: ResNet-50, 2:8", "network", "sat-vcu1525",
     dict(model="resnet50", sparsity="2:8")),
] + [
    (f"SMASH SpGEMM R-MAT 2^11 ef8 A*A, {df}", "spgemm", "smash-piuma",
     dict(rmat=(11, 8), dataflow=df))
    for df in ("rowwise-hash", "outer", "inner")
]

_COLUMNS = [
    "workload",
    "engine",
    "cycles",
    "stall_cycles",
    "seconds",
    "performed_macs",
    "utilization",
    "dram_read_bytes",
    "energy_pj",
    "events",
    "dsp",
    "macs_per_cycle_per_dsp",
    "check",
    "wall_seconds",
]


def run_demo(*, seed: int = 0, out: str | Path | None = None, progress: bool = True):
    """Run every demo workload (GEMM engines, training, whole networks, SMASH SpGEMM).

    Parameters
    ----------
    seed : int
        Seed of every generated operand.
    out : path, optional
        Folder where the table is written as ``demo.csv`` and ``demo.json`` (atomically;
        the JSON is ``{"schema_version", "hwsim_version", "seed", "demo": [rows]}``).
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    pandas.DataFrame
        One row per workload with the result's main figures.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from .runs import run

    rows = []
    bar = tqdm(DEMO_WORKLOADS, desc="hwsim demo", disable=not progress, leave=False)
    for label, kind, arch, args in bar:
        res = run(kind, arch, {**args, "seed": seed})
        d = res.to_dict()
        rows.append({"workload": label, **{c: d.get(c) for c in _COLUMNS[1:]}})
    table = pd.DataFrame(rows, columns=_COLUMNS)
    if out is not None:
        from ._io import atomic_write_json, atomic_write_text
        from .result import envelope

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)  # the output folder itself; writes create none
        atomic_write_text(out / "demo.csv", table.to_csv(index=False))
        # The same document as ``hwsim demo --json``: versioned like every JSON hwsim writes.
        atomic_write_json(
            out / "demo.json",
            envelope({"seed": seed, "demo": table.to_dict(orient="records")}),
        )
    return table
