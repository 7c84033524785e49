"""A small local process pool for sweeps that survives worker deaths and interrupts cleanly.

``concurrent.futures.ProcessPoolExecutor`` turns one dead worker into ``BrokenProcessPool``
for every pending task, and on Ctrl-C its management thread and the ``multiprocessing`` exit
handler can print tracebacks or wait forever on a busy worker. This pool keeps one task per
worker over a pipe, so that:

* a worker that dies (the OOM killer, ``kill -9``) is replaced, and only the task it was
  running is affected: it is run once more, and recorded as failed if it kills its worker
  again;
* on an interrupt (``KeyboardInterrupt``, or SIGTERM turned into one by the caller) the
  workers are terminated at once (SIGTERM, then SIGKILL after a grace period), with further
  SIGINT/SIGTERM ignored while this bounded cleanup runs; results already received are
  yielded first, so every finished task is kept;
* workers ignore SIGINT (the terminal sends Ctrl-C to the whole process group; only the
  parent decides) and exit by themselves when the parent goes away (their pipe closes).
"""

from __future__ import annotations

import collections
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait
from typing import Any

__all__ = ["run_tasks", "WORKER_DIED", "ATTEMPTS"]

#: Error type recorded for a task whose worker died under it on every attempt.
WORKER_DIED = "WorkerDiedError"
#: Attempts per task when its worker dies (one retry).
ATTEMPTS = 2
#: Seconds workers get to exit after SIGTERM before SIGKILL.
_GRACE = 0.5


def _worker(conn, initializer: Callable | None) -> None:
    """Worker loop: receive ``(tid, fn, args)``, send ``(tid, fn(*args))``; ``None`` stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent went away
            break
        if msg is None:
            break
        tid, fn, args = msg
        out = fn(*args)
        try:
            conn.send((tid, out))
        except (BrokenPipeError, OSError):
            break
    conn.close()


@contextlib.contextmanager
def _signals_ignored():
    """Ignore SIGINT/SIGTERM while a bounded cleanup runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class _Slot:
    __slots__ = ("proc", "conn", "task")

    def __init__(self, proc, conn):
        self.proc, self.conn, self.task = proc, conn, None


def _death(proc) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def run_tasks(
    tasks: Sequence[tuple[Callable, tuple]],
    *,
    workers: int,
    ctx,
    initializer: Callable | None = None,
    salvage: Callable[[int, Any], None] | None = None,
) -> Iterator[tuple[int, bool, Any]]:
    """Run ``fn(*args)`` for each task in worker processes; yield results as they complete.

    Parameters
    ----------
    tasks : sequence of (callable, tuple)
        Picklable functions and arguments.
    workers : int
        Worker processes (at most one per task).
    ctx : multiprocessing context
        Start method context (forkserver or spawn).
    initializer : callable, optional
        Run once in each worker.
    salvage : callable, optional
        ``salvage(index, value)`` is called, during the cleanup of an interrupted run, for
        every result that had already arrived but was not yet yielded (so that it is kept).

    Yields
    ------
    (int, bool, Any)
        Task index, ``True`` with the function's return value, or ``False`` with
        ``(error_type, message)`` when the worker died under the task on every attempt.
    """
    pending = collections.deque(range(len(tasks)))
    attempts = [0] * len(tasks)
    slots: list[_Slot] = []

    def start() -> _Slot:
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_worker, args=(child, initializer), daemon=True)
        proc.start()
        child.close()
        slot = _Slot(proc, parent)
        slots.append(slot)
        return slot

    unsendable: list[tuple[int, tuple[str, str]]] = []

    def feed(slot: _Slot) -> None:
        while pending:
            tid = pending.popleft()
            attempts[tid] += 1
            fn, args = tasks[tid]
            try:
                slot.conn.send((tid, fn, args))  # pickled whole before any byte is written
            except OSError:  # the worker just died: the wait loop finds it and retries
                slot.task = tid
                return
            except Exception as exc:  # the task cannot be pickled: its own failure only
                unsendable.append((tid, (type(exc).__name__, " ".join(str(exc).split()))))
                continue
            slot.task = tid
            return

    try:
        for _ in range(max(1, min(workers, len(tasks)))):
            feed(start())
        while unsendable or any(s.task is not None for s in slots):
            while unsendable:
                tid, err = unsendable.pop()
                yield tid, False, err
            if not any(s.task is not None for s in slots):
                break
            busy = [s for s in slots if s.task is not None]
            ready = set(wait([s.conn for s in busy] + [s.proc.sentinel for s in busy]))
            for slot in busy:
                if slot.conn in ready:
                    try:
                        tid, out = slot.conn.recv()
                    except (EOFError, OSError):
                        tid = None
                    if tid is not None:
                        slot.task = None
                        feed(slot)
                        yield tid, True, out
                        continue
                if slot.proc.sentinel in ready or slot.conn in ready:
                    # the worker died under its task: replace it, retry the task once
                    tid, slot.task = slot.task, None
                    slot.proc.join(_GRACE)
                    why = _death(slot.proc)
                    slot.conn.close()
                    slots.remove(slot)
                    if attempts[tid] < ATTEMPTS:
                        pending.appendleft(tid)
                    else:
                        msg = (f"the worker process died while running this point ({why}), "
                               f"{attempts[tid]} times; e.g. out of memory")
                        yield tid, False, (WORKER_DIED, msg)
                    if pending:
                        feed(start())
        for s in slots:
            with contextlib.suppress(OSError):
                s.conn.send(None)
    finally:
        with _signals_ignored():
            if salvage is not None:
                _salvage(slots, salvage)
            _stop(slots)


def _salvage(slots: list[_Slot], salvage: Callable[[int, Any], None]) -> None:
    for s in slots:
        if s.task is None:
            continue
        try:
            if not s.conn.poll(0):
                continue
            tid, out = s.conn.recv()
        except (EOFError, OSError):
            continue
        s.task = None
        salvage(tid, out)


def _stop(slots: list[_Slot]) -> None:
    """Terminate and reap every worker: SIGTERM, a grace period, then SIGKILL."""
    for s in slots:
        if s.proc.is_alive():
            with contextlib.suppress(OSError):
                s.proc.terminate()
    deadline = time.monotonic() + _GRACE
    for s in slots:
        s.proc.join(max(0.0, deadline - time.monotonic()))
    for s in slots:
        if s.proc.is_alive():
            with contextlib.suppress(OSError):
                s.proc.kill()
            s.proc.join(1.0)
        with contextlib.suppress(OSError):
            s.conn.close()
        with contextlib.suppress(ValueError, OSError):
            s.proc.close()
    slots.clear()
