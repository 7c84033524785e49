"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_write_json"]

#: When this process started writing; temporary files older than it are not ours.
_STARTED = time.time()
#: Age after which a leftover temporary file of our pattern is stale.
_STALE_SECONDS = 10.0


def _create_temp(path: Path) -> tuple[int, Path]:
    # Not tempfile.mkstemp: it creates the file 0600, so every output would end up private.
    # os.open with mode 0666 lets the umask decide, as for any file the user writes.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - a 32-bit name collision
            continue


def _remove_stale_temps(path: Path) -> None:
    """Remove ``.NAME.xxxxxxxx.tmp`` files of ``path`` left by a killed writer.

    Only files of our exact name pattern, older than this process and than
    :data:`_STALE_SECONDS` (a concurrent writer's file is seconds old at most), are removed.
    """
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.tmp$")
    cutoff = min(_STARTED, time.time() - _STALE_SECONDS)
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        if not pattern.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                os.unlink(entry.path)


def _std_fd(path: str) -> int | None:
    """The descriptor ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N`` or ``/proc/self/fd/N``
    names (reopening it would truncate a redirected file or lose its offset)."""
    named = {"/dev/stdout": 1, "/dev/stderr": 2, "/dev/stdin": 0}
    if path in named:
        return named[path]
    m = re.fullmatch(r"/(?:dev/fd|proc/self/fd)/(\d+)", path)
    return int(m.group(1)) if m else None


def _write_fd(fd: int, data: bytes) -> None:
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None and stream.fileno() == fd:
                stream.flush()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers never see a half-written file.

    The data goes to a temporary file in the same folder (created with the user's umask, like
    any new file), which then replaces ``path`` in one rename; on any error the temporary
    file is removed and ``path`` is left as it was. Stale temporary files of ``path`` left by
    a killed earlier run are removed.

    A ``path`` that is a symbolic link is followed: its target is replaced, the link stays. A
    ``path`` that exists and is not a regular file (``/dev/stdout``, a FIFO, a device) is
    written through, never replaced.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its folder must exist (it is not created).
    data : bytes
        Full content.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileNotFoundError
        The folder does not exist.
    ValueError
        ``path`` is empty.
    OSError
        The folder or the file cannot be written (e.g. ``/dev/full``).
    """
    if not str(path).strip():
        raise ValueError("expected a file path, got an empty string")
    given = Path(path)
    fd = _std_fd(str(given))
    if fd is not None:  # /dev/stdout and friends: the process's own descriptor, as it is
        _write_fd(fd, data)
        return given
    try:
        st = os.stat(given)  # follows links
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(given))
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(given, "wb") as fh:  # a device, a pipe, a terminal: write through
            fh.write(data)
        return given
    if str(given.absolute()).startswith(("/dev/", "/proc/")):
        with open(given, "wb") as fh:  # never replace anything in /dev or /proc
            fh.write(data)
        return given
    target = Path(os.path.realpath(given)) if os.path.islink(given) else given
    if not target.parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, f"cannot write {given}: folder {target.parent} does not exist",
        )
    _remove_stale_temps(target)
    fd, tmp = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return given


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Text flavour of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
