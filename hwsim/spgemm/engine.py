"""``simulate_spgemm``: SMASH row-wise hashing and the inner/outer baselines, timed in SimPy."""

from __future__ import annotations

import time
from typing import Any

import scipy.sparse as sp

from .._seed import check_seed
from ..errors import CheckFailedError, ConfigError
from ..result import RunResult
from .inputs import operands
from .spec import SpgemmSpec
from .work import row_work

__all__ = ["simulate_spgemm", "plan_spgemm", "spgemm_energy", "pick_engine", "DATAFLOWS", "check_output"]

#: Dataflows of :func:`simulate_spgemm`.
DATAFLOWS = ("rowwise-hash", "inner", "outer")

#: Counters every dataflow reports (0 when it has no such event), in JSON order.
_COUNTER_KEYS = (
    "partial_products",
    "nnz_out",
    "hash_probes",
    "hash_collisions",
    "bank_conflicts",
    "atomic_ops",
    "fetched_elements",
    "redundant_fetches",
    "partial_product_bytes",
    "windows",
    "window_splits",
    "overflow_passes",
)


def pick_engine(arch, engine: str | None) -> tuple[str, SpgemmSpec]:
    """The SpGEMM engine a run on ``arch`` uses, and its spec.

    Parameters
    ----------
    arch : Architecture
        The architecture.
    engine : str or None
        An engine name, or ``None`` for the first engine of kind ``spgemm``.

    Returns
    -------
    tuple of (str, SpgemmSpec)
        The engine's name in ``arch.engines`` and its description.

    Raises
    ------
    ConfigError
        ``engine`` is not of kind ``spgemm``, or ``arch`` has no such engine.
    """
    if engine is not None:
        spec = arch.engine(engine)
        if not isinstance(spec, SpgemmSpec):
            raise ConfigError(
                f"engine {engine!r} of {arch.name!r} is kind {spec.kind!r}, expected 'spgemm'",
                key=f"engines.{engine}",
            )
        return engine, spec
    for name, spec in arch.engines.items():
        if isinstance(spec, SpgemmSpec):
            return name, spec
    raise ConfigError(
        f"architecture {arch.name!r} has no engine of kind 'spgemm'; engines: "
        f"{', '.join(f'{k} ({v.kind})' for k, v in arch.engines.items())}",
        key="engines",
    )


def check_output(out: sp.csr_array, a: sp.csr_array, b: sp.csr_array, *, rtol: float = 1e-9) -> str | None:
    """Compare the engine's output with SciPy's ``A @ B``; ``None`` when equal, else why not.

    Both sides go through ``eliminate_zeros()`` (exact cancellations differ with summation
    order) and the values must agree to ``rtol`` relative to ``max_i sum_k |A_ik| max_j |B_kj|``
    (a bound on every ``|A||B|`` entry that needs no second product). The comparison runs in
    row blocks of about :data:`~hwsim.spgemm.work.SYMBOLIC_BLOCK` products, so the reference
    never exists whole.
    """
    import numpy as np

    from .work import SYMBOLIC_BLOCK, make_windows, segment_sums

    got_all = sp.csr_array(out)
    ref_shape = (a.shape[0], b.shape[1])
    if got_all.shape != ref_shape:
        return f"output shape {got_all.shape} != reference {ref_shape}"
    scale = 0.0
    if a.nnz and b.nnz:
        nonempty = np.diff(b.indptr) > 0
        rowmax = np.zeros(b.shape[0])
        rowmax[nonempty] = np.maximum.reduceat(np.abs(b.data), b.indptr[:-1][nonempty])
        scale = float((abs(a) @ rowmax).max())
    tol = rtol * max(scale, 1e-300)
    prods = segment_sums(np.diff(b.indptr).astype(np.int64)[a.indices], a.indptr)
    blocks = make_windows(prods, SYMBOLIC_BLOCK, max(a.shape[0], 1))
    worst, n_got, n_ref = 0.0, 0, 0
    for lo, hi in zip(blocks[:-1], blocks[1:], strict=True):
        ref = sp.csr_array(a[lo:hi] @ b)
        got = sp.csr_array(got_all[lo:hi])
        ref.eliminate_zeros()
        got.eliminate_zeros()
        n_got += got.nnz
        n_ref += ref.nnz
        if got.nnz or ref.nnz:
            worst = max(worst, float(abs(got - ref).max()))
    if worst > tol:
        return f"max |C - A@B| = {worst:.3g} exceeds {tol:.3g} (nnz {n_got} vs {n_ref})"
    return None


def plan_spgemm(
    a: Any,
    b: Any = None,
    *,
    arch: Any = "smash-piuma",
    dataflow: str = "rowwise-hash",
    workers: int | None = None,
    engine: str | None = None,
    chunk_products: int | None = None,
    **overrides: Any,
):
    """Operands, symbolic work and the dataflow's phase plan of ``C = A·B`` (no simulation).

    The planning step of :func:`simulate_spgemm`, public so that a network run (a GCN layer's
    ``Â·X``) plans its SpGEMM exactly as a standalone run does and then runs the phases in its
    own environment (:func:`hwsim.spgemm.sim.phases_process`).

    Returns
    -------
    tuple
        ``(machine, engine_name, spec, A, B, work, plan)``.

    Raises
    ------
    ConfigError, ShapeError, InputFileError
        As :func:`simulate_spgemm`.
    """
    from ..arch import load_arch

    if dataflow not in DATAFLOWS:
        raise ConfigError(f"unknown dataflow {dataflow!r}; expected one of {', '.join(DATAFLOWS)}",
                          key="dataflow")
    machine = load_arch(arch)
    name, spec = pick_engine(machine, engine)
    if workers is not None:
        overrides = {**overrides, "cores": workers}
    if overrides:
        machine = machine.with_engine_overrides(name, **overrides)
        spec = machine.engine(name)
    A, B = operands(a, b)
    work = row_work(A, B)
    if dataflow == "rowwise-hash":
        from .rowwise import plan_rowwise

        kw = {} if chunk_products is None else {"chunk_products": int(chunk_products)}
        plan = plan_rowwise(A, B, work, spec, burst_bytes=machine.dram.burst_bytes, **kw)
    elif dataflow == "inner":
        from .baselines import plan_inner

        plan = plan_inner(A, B, work, spec, burst_bytes=machine.dram.burst_bytes)
    else:
        from .baselines import plan_outer

        plan = plan_outer(A, B, work, spec)
    return machine, name, spec, A, B, work, plan


def simulate_spgemm(
    a: Any,
    b: Any = None,
    *,
    arch: Any = "smash-piuma",
    dataflow: str = "rowwise-hash",
    workers: int | None = None,
    seed: int = 0,
    check: bool | str = True,
    engine: str | None = None,
    chunk_products: int | None = None,
    **overrides: Any,
) -> RunResult:
    """Simulate ``C = A·B`` (``A·A`` when ``b`` is None) on a many-core SpGEMM machine.

    Parameters
    ----------
    a, b : scipy.sparse matrix, Matrix Market path, networkx graph or 2-D array
        Operands (see :func:`hwsim.spgemm.inputs.as_csr`).
    arch : Architecture, preset name or YAML path
        Machine with an engine of kind ``spgemm`` (default preset ``smash-piuma``).
    dataflow : str
        ``"rowwise-hash"`` (SMASH), ``"inner"`` or ``"outer"``.
    workers : int, optional
        Worker cores (overrides the spec's ``cores``).
    seed : int
        Recorded in the result (the dataflows are deterministic; R-MAT inputs take their own).
    check : bool or str
        ``"sampled"`` (``True``): walk the first, last, split and a seeded sample of the
        row-wise plan's table instances slot by slot (:mod:`hwsim.spgemm.walk`), comparing
        the walked counts and cycles with the plan's and the written-back values with SciPy's
        ``A @ B``; ``"full"``: every instance; ``False``: no check. The baselines compare
        their whole output with SciPy's product.
    engine : str, optional
        Engine name when the architecture has several ``spgemm`` engines.
    chunk_products : int, optional
        Row-wise only: partial products the host expands at once (windows are planned in
        chunks of about this many; default :data:`~hwsim.spgemm.rowwise.CHUNK_PRODUCTS`). Bounds
        the simulator's memory; the result does not depend on it.
    **overrides
        Fields of the spgemm spec (``table_entries=1024``, ``atomic_latency=64``...), validated.

    Returns
    -------
    RunResult
        ``kind="spgemm"``; counts (``partial_products``, ``nnz_out``, ``hash_probes``...) in
        ``counters``. ``utilization = partial_products / (cores * issue_width * cycles)``.
        ``table`` is a DataFrame with one row per task of every phase (a window or pass of
        the row-wise kernel, a row block of the inner product, a ``k`` block or row window of
        the outer product): ``phase``, ``task``, its closed-form ``read_bytes``,
        ``compute_cycles``, ``tail_cycles``, ``write_bytes``, and the SimPy timeline
        ``worker``, ``start``, ``ready``, ``done``, ``written`` (cycles); row-wise tasks add
        ``window``, ``rows``, ``products``, ``keys``, ``scanned_slots``, ``hash_cycles``,
        ``writeback_cycles``.

    Raises
    ------
    ConfigError
        Unknown dataflow, bad overrides, no spgemm engine.
    ShapeError, InputFileError
        Bad operands.
    CheckFailedError
        The output differs from ``A @ B`` or the structural count from the symbolic product.
    """
    from ..check import check_mode

    t0 = time.perf_counter()
    seed = check_seed(seed)
    mode = check_mode(check)
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"unknown dataflow {dataflow!r}; expected one of {', '.join(DATAFLOWS)}",
                          key="dataflow")
    job = plan_spgemm(a, b, arch=arch, dataflow=dataflow, workers=workers, engine=engine,
                      chunk_products=chunk_products, **overrides)
    machine, name, spec, A, B, work, plan = job
    if workers is not None:
        overrides = {**overrides, "cores": workers}
    from .sim import run_phases

    st = run_phases(plan.phases, workers=spec.cores, dram_spec=machine.dram,
                    clock_mhz=machine.clock_mhz)
    counters = {k: 0 for k in _COUNTER_KEYS}
    counters.update(plan.counters)
    counters["fetched_elements"] = counters.get("fetched_elements") or int(A.nnz + counters["partial_products"])
    counters["phase_cycles"] = st.phase_cycles
    reason = None
    state = "skipped"
    if plan.nnz_out != work.nnz_out or counters["partial_products"] != work.partial_products:
        raise CheckFailedError(
            f"{dataflow}: engine counted {counters['partial_products']} products / "
            f"{plan.nnz_out} outputs, symbolic product gives {work.partial_products} / {work.nnz_out}"
        )
    scope = None
    if mode is not None and dataflow == "rowwise-hash":
        from .walk import check_rowwise

        scope = check_rowwise(A, B, work, spec, plan, full=mode == "full", seed=seed)
        state = "passed"
    elif mode is not None:
        reason = check_output(plan.output, A, B)
        if reason is not None:
            raise CheckFailedError(f"{dataflow}: {reason}")
        state, scope = "passed", "full"
    else:
        reason = "check disabled"
    counters["check_scope"] = scope
    pp = int(counters["partial_products"])
    cycles = max(st.cycles, 1)
    util = pp / (spec.multipliers * cycles)
    # DRAM energy on what the bus carried: whole bursts (a gather pays for its bursts)
    bb = int(getattr(st, "burst_bytes", 0) or 0)
    dram = ((st.dram_read_bursts * bb, st.dram_write_bursts * bb) if bb > 1
            else (st.dram_read_bytes, st.dram_write_bytes))
    energy, counters["energy_breakdown"] = spgemm_energy(
        machine, name, plan, cycles=max(st.cycles, 1), dram=dram
    )
    params = {
        "dataflow": dataflow,
        "shape_a": list(A.shape),
        "shape_b": list(B.shape),
        "nnz_a": int(A.nnz),
        "nnz_b": int(B.nnz),
        "workers": spec.cores,
        "kernel": spec.kernel if dataflow == "rowwise-hash" else None,
        "table_entries": spec.table_entries,
        "overrides": {k: v for k, v in overrides.items()},
    }
    table = _task_table(plan, st)
    return RunResult.from_stats(
        arch=machine,
        stats=st,
        started=t0,
        kind="spgemm",
        engine=name,
        dense_macs=work.dense_macs,
        performed_macs=pp,
        utilization=float(util),
        sram_read_bytes=int(plan.sram_read_bytes),
        sram_write_bytes=int(plan.sram_write_bytes),
        energy_pj=float(energy),
        check=state,
        check_reason=reason,
        seed=seed,
        counters=counters,
        params=params,
        table=table,
    )


def spgemm_energy(machine, name: str, plan, *, cycles: float = 0, dram: tuple[int, int] = (0, 0),
                  static: bool = True):
    """Energy of a planned SpGEMM from the machine's action table (:mod:`hwsim.energy`).

    Products are priced at fp32 (fp16 when the table has no fp32); a hashing dataflow (one
    that probes) hashes each product's key once; every slot visited is a probe; atomics pay
    their ALU work; the plan's scratchpad bytes go to the ``spad`` buffer (else the first).

    Parameters
    ----------
    machine : Architecture
    name : str
        The SpGEMM engine's name.
    plan : RowwisePlan
        The dataflow's plan (its ``counters`` and scratchpad bytes).
    cycles : float
        Run cycles for static power (with ``static``).
    dram : (int, int)
        DRAM bytes read and written.
    static : bool
        Add every component's static power over ``cycles``.

    Returns
    -------
    (total_pj, breakdown) : tuple
        As :func:`hwsim.energy.energy_breakdown`.
    """
    from ..energy import energy_breakdown

    c = plan.counters
    pp, probes = int(c.get("partial_products", 0)), int(c.get("hash_probes", 0))
    counts = {
        (name, "mac"): pp,
        (name, "hash"): pp if probes else 0,
        (name, "hash_probe"): probes,
        (name, "atomic"): int(c.get("atomic_ops", 0)),
        ("dram", "read"): dram[0],
        ("dram", "write"): dram[1],
    }
    spad = "spad" if "spad" in machine.buffers else next(iter(machine.buffers), None)
    if spad is not None:
        counts[(spad, "read")] = int(plan.sram_read_bytes)
        counts[(spad, "write")] = int(plan.sram_write_bytes)
    precision = "fp32" if machine.energy.mac_pj.fp32 is not None else "fp16"
    return energy_breakdown(machine, counts, cycles, precision=precision, static=static)


def _task_table(plan, st):
    """One row per task of every phase: closed forms, row-wise extras and the SimPy timeline."""
    import numpy as np
    import pandas as pd

    frames = []
    for i, ph in enumerate(plan.phases):
        cols = {
            "phase": ph.name,
            "task": np.arange(ph.tasks),
            "read_bytes": ph.read_bytes,
            "compute_cycles": ph.compute_cycles,
            "tail_cycles": ph.tail_cycles,
            "write_bytes": ph.write_bytes,
        }
        if i == 0:
            cols.update(plan.table)
        tl = st.timeline[ph.name]
        cols["worker"] = tl["worker"].astype(np.int64)
        for k in ("start", "ready", "done", "written"):
            cols[k] = tl[k]
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)
