"""Values built on first use: per-tile and per-layer tables without importing pandas up front.

A network run's totals and JSON need no DataFrame, and importing pandas costs about half a
second of a run that should take one. :class:`Deferred` holds how to build a value;
:class:`deferred_field` is a dataclass field that builds it the first time it is read and keeps
the result, so ``plan.tiles`` and ``result.table`` are real DataFrames to every reader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Deferred", "deferred_field", "raw", "frame_of_columns", "frame_of_records"]


class Deferred:
    """A value computed on first access (see :class:`deferred_field`).

    Parameters
    ----------
    build : callable
        Called once, with ``args``; a module-level function, so that an unbuilt value pickles
        (results cross process pools).
    *args
        Its arguments.
    records : list of dict, optional
        The rows the value is a table of, when it is one: readers that only need plain rows
        (JSON output) take them without building the table.
    columns : list of str, optional
        Column order of ``records``.
    """

    __slots__ = ("build", "args", "records", "columns")

    def __init__(self, build: Callable[..., Any], *args: Any, records: list | None = None,
                 columns: list | None = None):
        self.build = build
        self.args = args
        self.records = records
        self.columns = columns

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)

    def value(self) -> Any:
        """Build the value."""
        return self.build(*self.args)


class deferred_field:  # noqa: N801 - used like ``field``
    """Dataclass field descriptor that resolves a :class:`Deferred` value when it is read.

    The default is ``None``. ``copy.copy`` keeps the value unresolved; reading the attribute
    (``dataclasses.replace`` and ``asdict`` do) resolves it.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return None  # the dataclass default
        value = obj.__dict__.get(self.name)
        if isinstance(value, Deferred):
            value = value.value()
            obj.__dict__[self.name] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        # ``field(default=deferred_field())`` passes the descriptor itself as the default
        obj.__dict__[self.name] = None if isinstance(value, deferred_field) else value


def raw(obj: Any, name: str) -> Any:
    """The stored value of a :class:`deferred_field`, without resolving it."""
    return obj.__dict__.get(name)


def _frame(data: Any, columns: list | None = None):
    import pandas as pd

    return pd.DataFrame(data, columns=columns)


def frame_of_columns(columns: dict) -> Deferred:
    """A DataFrame of equal-length columns (name -> array), built on first use."""
    return Deferred(_frame, columns)


def frame_of_records(rows: list[dict], columns: list[str]) -> Deferred:
    """A DataFrame of ``rows`` with ``columns`` in that order, built on first use."""
    return Deferred(_frame, rows, columns, records=rows, columns=columns)
