"""Design-space sweeps: serial/process/Dask runs of a spec's design points into a store.

The spec side (YAML, validation, expansion, keys) lives in :mod:`hwsim.sweep_spec`; its public
names are re-exported here.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, HwsimError, require
from .runs import run as run_kind_point
from .store import TIMING_COLUMNS, SweepStore
from .sweep_spec import (
    KEY_VERSION,
    MAX_POINTS,
    RUN_KINDS,
    DesignPoint,
    SweepSpec,
    list_sweeps,
    load_spec,
    point_key,
)

__all__ = [
    "SweepSpec",
    "DesignPoint",
    "SweepReport",
    "PointFailedError",
    "load_spec",
    "run_sweep",
    "load_results",
    "point_key",
    "list_sweeps",
    "RUN_KINDS",
    "EXECUTORS",
    "KEY_VERSION",
    "MAX_POINTS",
    "TIMING_COLUMNS",
    "SweepInterrupted",
]

EXECUTORS = ("serial", "processes", "dask")


# -- running ------------------------------------------------------------------------------------
def _json_default(v: Any) -> Any:
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def _execute(kind: str, arch, args: dict[str, Any]) -> dict[str, Any]:
    """Run one point (in a worker); the outcome as plain data, failures included."""
    t0 = time.perf_counter()
    try:
        res = run_kind_point(kind, arch, args).to_dict()
        res = json.loads(json.dumps(res, default=_json_default))
    except Exception as exc:  # a failing point is recorded, never fatal to the sweep
        return {
            "error": (type(exc).__name__, " ".join(str(exc).split()), traceback.format_exc()),
            "wall_seconds": time.perf_counter() - t0,
        }
    return {"result": res, "wall_seconds": time.perf_counter() - t0}


def _failed_future(exc: BaseException) -> dict[str, Any]:
    msg = " ".join(str(exc).split()) or repr(exc)
    return {"error": (type(exc).__name__, msg, ""), "wall_seconds": None}


def _mp_context():
    import multiprocessing as mp

    # forkserver: workers fork from a clean server that imported hwsim once, so a parent with
    # threads (a notebook kernel, a progress bar, a Dask client) is never forked.
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["hwsim.sweep", "hwsim.gemm", "hwsim.spgemm"])
        return ctx
    return mp.get_context("spawn")


def _limit_blas_threads() -> None:
    """Process-pool initializer: one BLAS thread per worker, so N workers use N cores.

    numpy is already imported in the worker (the forkserver preloads it), so the
    ``OMP_NUM_THREADS``-style variables are read too late; ``threadpoolctl`` changes the limit
    of a loaded BLAS and is used when installed (otherwise each worker keeps numpy's default;
    the float checks of fp16/bf16 GEMM points are the only BLAS calls). Dask workers get the
    same limit from ``distributed``'s ``nanny.pre-spawn-environ`` setting.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


def _outcomes_serial(todo) -> Iterator[tuple[DesignPoint, dict]]:
    for p in todo:
        yield p, _execute(p.kind, p.arch, p.run_args)


def _outcomes_futures(pool: cf.Executor, todo, own: bool):
    futs = {pool.submit(_execute, p.kind, p.arch, p.run_args): p for p in todo}
    try:
        for fut in cf.as_completed(futs):
            try:
                out = fut.result()
            except Exception as exc:  # the worker died, or the task could not be pickled
                out = _failed_future(exc)
            yield futs[fut], out
    finally:
        for fut in futs:
            fut.cancel()
        if own:
            pool.shutdown(wait=True, cancel_futures=True)


def _outcomes_pool(todo, workers: int, salvage):
    from ._pool import run_tasks

    tasks = [(_execute, (p.kind, p.arch, p.run_args)) for p in todo]
    keep = None if salvage is None else (lambda tid, out: salvage(todo[tid], out))
    for tid, ok, out in run_tasks(tasks, workers=workers, ctx=_mp_context(),
                                  initializer=_limit_blas_threads, salvage=keep):
        yield todo[tid], (out if ok else {"error": (*out, ""), "wall_seconds": None})


def _outcomes_dask(client, todo):
    distributed = require("distributed", "sweep", "the dask executor")
    futs = {}
    for p in todo:
        fut = client.submit(_execute, p.kind, p.arch, p.run_args, pure=False,
                            key=f"hwsim-point-{p.key}-{os.urandom(4).hex()}")
        futs[fut.key] = (fut, p)
    try:
        for fut in distributed.as_completed([f for f, _ in futs.values()]):
            try:
                out = fut.result()
            except Exception as exc:  # e.g. KilledWorker
                out = _failed_future(exc)
            yield futs[fut.key][1], out
    finally:
        pending = [f for f, _ in futs.values() if not f.done()]
        if pending:
            client.cancel(pending)


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "distributed" and hasattr(obj, "submit")


@contextlib.contextmanager
def _outcomes(executor, todo, max_workers, salvage=None):
    """Outcomes of ``todo`` as they complete, whatever the executor (one loop for all)."""
    known = (isinstance(executor, str) and executor in EXECUTORS) or _is_dask_client(executor)
    if not known and not isinstance(executor, cf.Executor):
        raise ConfigError(
            f"executor must be one of {', '.join(EXECUTORS)}, a dask.distributed.Client or a "
            f"concurrent.futures.Executor, not {executor!r}"
        )
    if executor == "dask":
        require("distributed", "sweep", "the dask executor")
    if executor == "serial" or not todo:  # nothing to run: start no pool or cluster
        gen = _outcomes_serial(todo)
    elif executor == "processes":
        workers = max(1, min(max_workers or os.cpu_count() or 1, len(todo) or 1))
        gen = _outcomes_pool(todo, workers, salvage)
    elif executor == "dask":
        distributed = require("distributed", "sweep", "the dask executor")
        n = max(1, min(max_workers or os.cpu_count() or 1, len(todo)))
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            gen = _outcomes_dask(client, todo)
            with contextlib.closing(gen):
                yield gen
        return
    elif _is_dask_client(executor):
        gen = _outcomes_dask(executor, todo)
    else:
        gen = _outcomes_futures(executor, todo, own=False)
    with contextlib.closing(gen):
        yield gen


class PointFailedError(HwsimError):
    """A point failed in a sweep run with ``fail_fast=True`` (the sweep stopped)."""


@dataclass
class SweepReport:
    """Outcome of :func:`run_sweep`.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per point of the sweep, in sweep order (:meth:`SweepStore.to_frame`).
    ran : int
        Points simulated by this call.
    skipped : int
        Points already in the store, not run again.
    failed : int
        Points of the sweep whose stored status is ``"error"``.
    store_path : str
        The store file.
    points : int
        Points in the sweep.
    wall_seconds : float
        Host time of the call.
    executor : str
        ``serial``, ``processes``, ``dask`` or the executor's type name.
    """

    frame: Any = field(repr=False)
    ran: int
    skipped: int
    failed: int
    store_path: str
    points: int = 0
    wall_seconds: float = 0.0
    executor: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts: points, ran, skipped, failed, store, executor, wall_seconds."""
        return {
            "points": self.points,
            "ran": self.ran,
            "skipped": self.skipped,
            "failed": self.failed,
            "store": self.store_path,
            "executor": self.executor,
            "wall_seconds": round(self.wall_seconds, 3),
        }


def _progress(total: int, enabled: bool, desc: str):
    from tqdm import tqdm

    show = enabled and total > 0 and sys.stderr.isatty()
    # delay: short sweeps finish before a bar would appear
    return tqdm(total=total, disable=not show, desc=desc, unit="pt", delay=2.0, file=sys.stderr)


def run_sweep(
    spec_or_path: SweepSpec | dict | str | os.PathLike,
    *,
    store: str | os.PathLike | SweepStore = "sweep.sqlite",
    executor: Any = "processes",
    max_workers: int | None = None,
    progress: bool = True,
    fail_fast: bool = False,
    retry_errors: bool = True,
    max_points: int | None = None,
) -> SweepReport:
    """Run every design point not yet in ``store``; each result is committed as it completes.

    Parameters
    ----------
    spec_or_path : SweepSpec, dict, YAML path or bundled spec name
        The sweep (:func:`load_spec`).
    store : path or SweepStore
        SQLite file the results are appended to (created when missing). Points already stored
        with status ``ok`` are skipped, so an interrupted sweep resumes where it stopped.
    executor : str, dask.distributed.Client or concurrent.futures.Executor
        ``"serial"`` (in this process), ``"processes"`` (a local process pool, default; one
        BLAS thread per worker when ``threadpoolctl`` is installed; a worker that dies is
        replaced and only its point is retried, once; SIGINT/SIGTERM stop every worker at
        once, see :mod:`hwsim._pool`),
        ``"dask"`` (a temporary ``LocalCluster``), a connected ``Client``, or any
        ``concurrent.futures`` executor. Only this process writes to the store.
    max_workers : int, optional
        Pool size for ``"processes"``/``"dask"`` (default ``os.cpu_count()``).
    progress : bool
        Show a tqdm bar on stderr when it is a terminal and the sweep lasts over 2 s.
    fail_fast : bool
        Stop at the first failing point (recorded) and raise :class:`PointFailedError`.
    retry_errors : bool
        Run points stored with status ``error`` again (default); ``False`` skips them too.
    max_points : int, optional
        Largest sweep run (default :data:`MAX_POINTS`); a larger grid is refused before
        anything is built.

    Returns
    -------
    SweepReport

    Raises
    ------
    ConfigError, InputFileError
        Invalid spec, unreadable file, unknown executor.
    MissingExtraError
        ``executor="dask"`` without the ``sweep`` extra.
    PointFailedError
        With ``fail_fast``, the first failing point.
    SweepInterrupted
        SIGINT or SIGTERM (a ``KeyboardInterrupt``): the workers were stopped, every point
        finished before was stored; re-running resumes.
    StoreError
        The store cannot be written (read-only, disk full, corrupt) or is used by another
        sweep; points stored before stay stored.
    """
    if isinstance(max_workers, bool) or (max_workers is not None and (
            not isinstance(max_workers, int) or max_workers < 1)):
        raise ConfigError(f"max_workers must be a positive integer, not {max_workers!r}")
    t0 = time.perf_counter()
    spec = load_spec(spec_or_path)
    points = spec.expand(max_points)
    own = not isinstance(store, SweepStore)
    db = SweepStore(store, lock=True) if own else store
    ran = 0

    def record(point: DesignPoint, out: dict) -> None:
        nonlocal ran
        db.put(point.key, idx=point.index, kind=point.kind, axes=point.axes,
               params=point.params, result=out.get("result"), error=out.get("error"),
               wall_seconds=out["wall_seconds"])
        ran += 1

    try:
        done = db.keys("ok") if retry_errors else db.keys()
        todo = [p for p in points if p.key not in done]
        with _terminate_as_interrupt(), _progress(len(todo), progress, spec.name) as bar, \
                _outcomes(executor, todo, max_workers, salvage=record) as outcomes:
            for point, out in outcomes:
                record(point, out)
                bar.update(1)
                if "error" in out and fail_fast:
                    etype, emsg, _tb = out["error"]
                    axes = ", ".join(f"{k}={v}" for k, v in point.axes.items())
                    raise PointFailedError(
                        f"point {point.key} ({axes or 'no axes'}) failed: {etype}: {emsg}; "
                        f"{ran} point(s) stored this run, re-run to resume"
                    )
        keys = [p.key for p in points]
        frame = db.to_frame(keys)
        failed = int((frame["status"] == "error").sum()) if len(frame) else 0
        name = executor if isinstance(executor, str) else type(executor).__name__
        return SweepReport(frame=frame, ran=ran, skipped=len(points) - len(todo), failed=failed,
                           store_path=db.path, points=len(points),
                           wall_seconds=time.perf_counter() - t0, executor=name)
    except SweepInterrupted as exc:
        exc.stored = ran
        raise
    finally:
        if own:
            db.close()


class SweepInterrupted(KeyboardInterrupt):
    """A sweep was stopped by SIGINT (Ctrl-C) or SIGTERM; the points finished are stored.

    Attributes
    ----------
    signum : int
        The signal.
    stored : int
        Points stored by the interrupted run.
    """

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.stored = 0


@contextlib.contextmanager
def _terminate_as_interrupt():
    """While a sweep runs, SIGTERM (and SIGINT) raise :class:`SweepInterrupted` in the main
    thread, so that workers are stopped and finished points kept (as for Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise SweepInterrupted(signum)

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s, h in old.items():
        # a SIGINT someone chose to ignore stays ignored
        if h is not signal.SIG_IGN:
            signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def load_results(store: str | os.PathLike) -> Any:
    """Every stored point of a sweep store as a DataFrame (:meth:`SweepStore.to_frame`).

    Raises
    ------
    InputFileError
        The store is missing or not a sweep store.
    """
    with SweepStore(store, create=False) as db:
        return db.to_frame()
