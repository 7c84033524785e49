"""Embedded SQLite store of sweep results: one row per design point, keyed by its hash."""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ._io import atomic_write_bytes, atomic_write_text
from ._version import __version__
from .errors import InputFileError, require
from .result import SCHEMA_VERSION

__all__ = ["SweepStore", "StoreError", "frame_from_rows", "STORE_SCHEMA", "STATUSES", "TIMING_COLUMNS"]

#: Layout version of the ``points`` table; a store written by another layout is refused.
STORE_SCHEMA = 1
#: Values of the ``status`` column.
STATUSES = ("ok", "error")
#: Result columns measured on the host, the only ones that differ between identical runs.
TIMING_COLUMNS = ("wall_seconds", "check_wall_seconds")

class StoreError(InputFileError):
    """The sweep store cannot be used: read-only, disk full, corrupt, or locked by a sweep."""


_DDL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    axes TEXT NOT NULL,
    params TEXT NOT NULL,
    result TEXT,
    error_type TEXT,
    error_message TEXT,
    traceback TEXT,
    wall_seconds REAL,
    hwsim_version TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    finished_at TEXT NOT NULL
);
"""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=False, separators=(",", ":"), allow_nan=False)


def _cell(v: Any) -> Any:
    """Frame cell: nested values (lists, dicts) as canonical JSON text, scalars as they are."""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return v


class SweepStore:
    """Sweep results in one SQLite file (WAL mode), written one committed row per point.

    Rows hold the point's parameters and its flat result as JSON, so GEMM and SpGEMM sweeps
    (whose result columns differ) share one table; nothing is pickled. Only the process that
    drives a sweep writes; readers (a notebook polling a running sweep) may open the file at
    any time.

    Parameters
    ----------
    path : str or os.PathLike
        Database file (created with its folder when missing), or ``":memory:"``.
    create : bool
        Create the file when missing; ``False`` raises :class:`~hwsim.errors.InputFileError`.

    Attributes
    ----------
    path : str
        The database path as given (``":memory:"`` for an in-memory store).

    Raises
    ------
    InputFileError
        The file is missing (``create=False``), is not a SQLite database, or was written with
        another store layout.
    """

    def __init__(self, path: str | os.PathLike = "sweep.sqlite", *, create: bool = True,
                 lock: bool = False):
        self.path = str(path)
        self._db = None
        self._lock_fd: int | None = None
        if self.path != ":memory:":
            self._check_file(create, writing=lock)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0)
            tables = {
                r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if not tables and create:
                self._db.executescript(_DDL)
                self._db.execute(
                    "INSERT INTO meta VALUES ('store_schema', ?)", (str(STORE_SCHEMA),)
                )
                self._db.commit()
            elif not {"meta", "points"} <= tables:
                # someone else's database (or an empty file): never write into it
                raise InputFileError(f"{self.path}: not a sweep store (no points table)")
            row = self._db.execute("SELECT value FROM meta WHERE name='store_schema'").fetchone()
            if row is None or row[0] != str(STORE_SCHEMA):
                raise InputFileError(
                    f"{self.path}: sweep store layout {row and row[0]}, this hwsim reads layout "
                    f"{STORE_SCHEMA}; use a new store file"
                )
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a committed point survives a crash of the sweep process.
            self._db.execute("PRAGMA synchronous=NORMAL")
            if lock and self.path != ":memory:":
                self._take_lock()
        except (sqlite3.Error, InputFileError) as exc:
            self.close()
            if isinstance(exc, InputFileError):
                raise
            raise StoreError(self._explain(exc, "cannot use as a sweep store")) from None

    def _check_file(self, create: bool, writing: bool) -> None:
        p = Path(self.path)
        if not p.exists():
            if not create:
                raise InputFileError(f"{self.path}: no such sweep store")
            p.parent.mkdir(parents=True, exist_ok=True)
            return
        if p.is_dir():
            raise InputFileError(f"{self.path}: is a directory, not a sweep store")
        if not p.is_file():
            raise InputFileError(f"{self.path}: not a regular file, not a sweep store")
        if p.stat().st_size == 0 and not Path(f"{self.path}-wal").exists():
            # SQLite would silently initialise any empty file (a typo'd path, a placeholder)
            raise InputFileError(
                f"{self.path}: empty file (0 bytes), not a sweep store; delete it or choose "
                "another store file")
        if writing and not (os.access(p, os.W_OK) and os.access(p.parent, os.W_OK)):
            # a read-only file system (EROFS holds for root too), or a file others may not write
            raise StoreError(f"{self.path}: the sweep store is read-only (cannot write the file "
                             "or its folder); nothing was run")
        if writing and not p.stat().st_mode & 0o222:
            # chmod a-w marks a store read-only; honoured even for root, who could write it
            raise StoreError(f"{self.path}: the sweep store is read-only (no write permission); "
                             "nothing was run")

    def _take_lock(self) -> None:
        """One writing sweep per store: an exclusive ``flock`` held until :meth:`close`.

        Released by the kernel when the process dies, so a killed sweep never leaves a stale
        lock. The writer also checks, before any work, that it can write (read-only file
        system, read-only file).
        """
        import fcntl

        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            row = self._db.execute("SELECT value FROM meta WHERE name='writer_pid'").fetchone()
            who = f" (pid {row[0]})" if row else ""
            raise StoreError(
                f"{self.path}: the sweep store is in use by another running sweep{who}; wait "
                "for it to finish or use another store file") from None
        self._lock_fd = fd
        # a real write, so that a read-only store fails here, before any point runs
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('writer_pid', ?)",
                         (str(os.getpid()),))
        self._db.commit()

    def _explain(self, exc: sqlite3.Error, what: str) -> str:
        msg = " ".join(str(exc).split())
        low = msg.lower()
        if "readonly" in low or "read-only" in low:
            hint = "the store is read-only"
        elif "disk is full" in low or "disk full" in low:
            hint = "the disk is full"
        elif "malformed" in low or "not a database" in low or "corrupt" in low:
            hint = "the file is corrupt; move it away and re-run to rebuild it"
        else:
            hint = ""
        return f"{self.path}: {what}: {msg}" + (f" ({hint})" if hint else "")

    @contextlib.contextmanager
    def _guard(self, what: str):
        """SQLite failures (corrupt pages, disk full, read-only) as one-line StoreErrors."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc, what)) from None

    # -- context manager ----------------------------------------------------------------------
    def close(self) -> None:
        """Close the database and release the writer lock (idempotent)."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # after the database: closing an fd drops POSIX locks
            self._lock_fd = None

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        with self._guard("cannot read"):
            return self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0]

    def __repr__(self) -> str:
        return f"SweepStore({self.path!r})"

    # -- writing ------------------------------------------------------------------------------
    def put(
        self,
        key: str,
        *,
        idx: int,
        kind: str,
        axes: dict[str, Any],
        params: dict[str, Any],
        result: dict[str, Any] | None = None,
        error: tuple[str, str, str] | None = None,
        wall_seconds: float | None = None,
    ) -> None:
        """Insert or replace the row of point ``key`` and commit it.

        Parameters
        ----------
        key : str
            Design-point hash (:func:`hwsim.sweep.point_key`).
        idx : int
            Position of the point in its sweep (rows are listed in this order).
        kind : str
            ``"gemm"`` or ``"spgemm"``.
        axes, params : dict
            The values that vary across the sweep, and every run argument of the point.
        result : dict, optional
            Flat JSON-ready result (:meth:`hwsim.result.RunResult.to_dict`); ``status="ok"``.
        error : (str, str, str), optional
            Exception type, message and traceback text; ``status="error"``.
        wall_seconds : float, optional
            Host time of the point, queueing excluded.
        """
        if (result is None) == (error is None):
            raise ValueError("give exactly one of result= or error=")
        etype, emsg, tb = error if error is not None else (None, None, None)
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        with self._guard(f"cannot store point {key}"):
            self._put_row(key, idx, kind, error, axes, params, result, etype, emsg, tb,
                          wall_seconds, now)

    def _put_row(self, key, idx, kind, error, axes, params, result, etype, emsg, tb,
                 wall_seconds, now) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO points VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                key,
                int(idx),
                kind,
                "ok" if error is None else "error",
                _dumps(axes),
                _dumps(params),
                None if result is None else _dumps(result),
                etype,
                emsg,
                tb,
                wall_seconds,
                __version__,
                SCHEMA_VERSION,
                now,
            ),
        )
        self._db.commit()

    # -- reading ------------------------------------------------------------------------------
    def keys(self, status: str | None = None) -> set[str]:
        """Keys of the stored points, optionally only those with ``status`` (``ok``/``error``)."""
        with self._guard("cannot read"):
            if status is None:
                rows = self._db.execute("SELECT key FROM points")
            else:
                rows = self._db.execute("SELECT key FROM points WHERE status=?", (status,))
            return {r[0] for r in rows}

    def rows(self, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Stored rows as dicts (JSON columns decoded), in sweep order or in the order of ``keys``.

        Keys absent from the store are left out.
        """
        with self._guard("cannot read"):
            cur = self._db.execute(
                "SELECT key, idx, kind, status, axes, params, result, error_type, error_message, "
                "traceback, wall_seconds, hwsim_version, schema_version, finished_at "
                "FROM points ORDER BY idx, key"
            )
            names = [d[0] for d in cur.description]
            fetched = cur.fetchall()
        out = {}
        for values in fetched:
            row = dict(zip(names, values, strict=True))
            for col in ("axes", "params", "result"):
                if row[col] is not None:
                    row[col] = json.loads(row[col])
            out[row["key"]] = row
        if keys is None:
            return list(out.values())
        return [out[k] for k in keys if k in out]

    def errors(self) -> list[dict[str, Any]]:
        """``key``, ``axes``, ``error_type``, ``error_message``, ``traceback`` of failed points."""
        return [
            {k: r[k] for k in ("key", "axes", "error_type", "error_message", "traceback")}
            for r in self.rows()
            if r["status"] == "error"
        ]

    def to_frame(self, keys: Sequence[str] | None = None):
        """One row per point: ``key``, ``status``, the axes, then the flat result columns.

        Parameters
        ----------
        keys : sequence of str, optional
            Only these points, in this order (default every point, in sweep order).

        Returns
        -------
        pandas.DataFrame
            Columns ``key``, ``status``, every axis (in first-seen order; list values as JSON
            text), the result columns in :meth:`~hwsim.result.RunResult.to_dict` order (nested
            values such as ``phase_cycles`` as JSON text; the result's own ``params`` are
            left out), ``error`` (``"Type: message"``) when some point failed, and
            ``hwsim_version`` when the rows were written by more than one hwsim version (a new
            version re-runs every point, see :func:`hwsim.sweep.point_key`). A result
            column named like an axis is dropped when it equals the axis in every row (e.g.
            ``dataflow``), otherwise kept as ``result_<name>``.
        """
        return frame_from_rows(self.rows(keys))

    def to_csv(self, path: str | os.PathLike, keys: Sequence[str] | None = None) -> Path:
        """Write :meth:`to_frame` as CSV, atomically; returns the path."""
        return atomic_write_text(path, self.to_frame(keys).to_csv(index=False))

    def to_parquet(self, path: str | os.PathLike, keys: Sequence[str] | None = None) -> Path:
        """Write :meth:`to_frame` as Parquet (needs pyarrow: the ``sweep`` extra), atomically."""
        require("pyarrow", "sweep", "Parquet export")
        frame = _parquet_safe(self.to_frame(keys))
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return atomic_write_bytes(path, buf.getvalue())


def frame_from_rows(rows: Iterable[dict[str, Any]]):
    """The DataFrame of :meth:`SweepStore.to_frame` from decoded store rows."""
    import pandas as pd

    rows = list(rows)
    axes: dict[str, None] = {}
    res_cols: dict[str, None] = {}
    for r in rows:
        axes.update(dict.fromkeys(r["axes"]))
        if r["result"] is not None:
            res_cols.update(dict.fromkeys(k for k in r["result"] if k != "params"))
    drop, rename = set(), {}
    for name in set(axes) & set(res_cols):
        same = all(
            r["result"] is None or _cell(r["result"].get(name)) == _cell(r["axes"].get(name))
            for r in rows
        )
        if same:
            drop.add(name)
        else:
            rename[name] = f"result_{name}"
    any_error = any(r["status"] == "error" for r in rows)
    # rows of an older hwsim stay in the store; name the version only when it tells rows apart
    mixed = len({r.get("hwsim_version") for r in rows}) > 1
    records = []
    for r in rows:
        rec: dict[str, Any] = {"key": r["key"], "status": r["status"]}
        for a in axes:
            rec[a] = _cell(r["axes"].get(a))
        res = r["result"] or {}
        for c in res_cols:
            if c not in drop:
                rec[rename.get(c, c)] = _cell(res.get(c))
        if any_error:
            rec["error"] = (
                f"{r['error_type']}: {r['error_message']}" if r["status"] == "error" else None
            )
        if mixed:
            rec["hwsim_version"] = r.get("hwsim_version")
        records.append(rec)
    columns = ["key", "status", *axes]
    columns += [rename.get(c, c) for c in res_cols if c not in drop]
    if any_error:
        columns.append("error")
    if mixed:
        columns.append("hwsim_version")
    return pd.DataFrame.from_records(records, columns=columns)


def _parquet_safe(frame):
    """Object columns mixing types (e.g. an axis of ``None`` and integers) as text."""
    frame = frame.copy()
    for col in frame.columns:
        if frame[col].dtype == object:
            kinds = {type(v) for v in frame[col] if v is not None}
            if len(kinds) > 1:
                frame[col] = [None if v is None else str(v) for v in frame[col]]
    return frame
