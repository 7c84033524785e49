"""Bounded reading and parsing of user YAML files (architecture descriptions, sweep specs).

Every user YAML goes through :func:`read_user_file` and :func:`load_yaml`, which bound the
work before anything is built:

* only regular files are read, and at most :data:`MAX_FILE_BYTES` of them (``/dev/zero``, a
  FIFO or a 20 GB file is refused up front, naming the size);
* the document is *composed* first (PyYAML composes an alias as a reference to its anchor's
  node, so this is cheap even for a "billion laughs" document), then its expanded size is
  counted with a memo per node, and a document that would expand to more than
  :data:`MAX_NODES` nodes is refused before a single Python object is constructed;
* duplicate keys in a mapping are an error naming the key and both lines (YAML's
  last-one-wins would silently drop the first value).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, InputFileError

__all__ = ["MAX_FILE_BYTES", "MAX_NODES", "read_user_file", "load_yaml", "SpecLoader"]

#: Largest user YAML file read (bytes). Presets are a few kB; sweep specs rarely exceed 10 kB.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Largest document accepted, in YAML nodes after alias expansion.
MAX_NODES = 1_000_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class SpecLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader without YAML 1.1 base-60 numbers, so ``2:8`` stays the string ``"2:8"``.

    On LibYAML's parser when PyYAML was built with it (the resolvers stay in Python).
    """


SpecLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in rs if not tag.endswith((":int", ":float"))]
    for ch, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def read_user_file(path: str | os.PathLike, what: str, *,
                   limit: int | None = None) -> str:
    """Text of a small user file: a regular file of at most ``limit`` bytes, UTF-8.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str
        What the file is, for messages (``"architecture file"``, ``"sweep spec"``).
    limit : int, optional
        Largest size accepted, in bytes (default :data:`MAX_FILE_BYTES`).

    Returns
    -------
    str

    Raises
    ------
    InputFileError
        Missing, unreadable, not a regular file (a device, a FIFO, a folder), larger than
        ``limit``, or not UTF-8 text; the message names the file.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise InputFileError(f"{p}: cannot read {what}: {kind} (expected a YAML file)")
    if st.st_size > limit:
        raise InputFileError(
            f"{p}: {what} is {st.st_size:,} bytes; the limit is {limit:,} bytes"
        )
    try:
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:  # grew since stat
        raise InputFileError(f"{p}: {what} is over the limit of {limit:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{p}: not a UTF-8 text (YAML) file: byte {exc.start} is {data[exc.start]:#04x}"
        ) from None


def _check_nodes(root: yaml.Node, source: str, max_nodes: int) -> None:
    """Count ``root``'s nodes with aliases expanded; find duplicate keys and cycles.

    Iterative (no recursion limit), one visit per distinct node: the expanded size of a node
    is memoised, so a document of N distinct nodes costs O(N) whatever its aliases expand to.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            on_path.discard(nid)
            if isinstance(node, yaml.SequenceNode):
                kids = node.value
            elif isinstance(node, yaml.MappingNode):
                kids = [n for kv in node.value for n in kv]
            else:
                kids = []
            total = 1 + sum(size[id(k)] for k in kids)
            size[nid] = total
            if total > max_nodes:
                raise ConfigError(
                    f"the YAML document expands to more than {max_nodes:,} nodes (aliases "
                    "included); refusing to build it", source=source)
            continue
        if nid in size:
            continue
        if nid in on_path:
            line = node.start_mark.line + 1 if node.start_mark else "?"
            raise ConfigError(f"line {line}: recursive YAML alias", source=source)
        on_path.add(nid)
        stack.append((node, True))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((k, False) for k in node.value if id(k) not in size)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE_TAG:
                    ident = (k.tag, k.value)
                    line = k.start_mark.line + 1
                    if ident in seen:
                        raise ConfigError(
                            f"duplicate key {_short_text(k.value)!r} on lines {seen[ident]} and "
                            f"{line} (YAML would silently keep only the last)", source=source)
                    seen[ident] = line
                stack.extend((n, False) for n in (k, v) if id(n) not in size)


def _short_text(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_yaml(text: str, loader: type, source: str, *, max_nodes: int | None = None) -> Any:
    """Parse one YAML document with ``loader`` (a safe loader class), bounded.

    Parameters
    ----------
    text : str
        The document.
    loader : type
        A ``yaml.SafeLoader``/``yaml.CSafeLoader`` (sub)class.
    source : str
        Named by errors (file or ``"<preset NAME>"``).
    max_nodes : int, optional
        Largest document accepted, in nodes after alias expansion (default
        :data:`MAX_NODES`).

    Returns
    -------
    Any
        The constructed data (``None`` for an empty document).

    Raises
    ------
    ConfigError
        YAML syntax error, a document over the node budget, a recursive alias, a duplicate
        key (both lines named), or nesting too deep to parse.
    """
    ld = loader(text)
    try:
        try:
            node = ld.get_single_node()
        except RecursionError:
            raise ConfigError("YAML nesting too deep", source=source) from None
        if node is None:
            return None
        _check_nodes(node, source, MAX_NODES if max_nodes is None else max_nodes)
        try:
            return ld.construct_document(node)
        except RecursionError:
            raise ConfigError("YAML nesting too deep", source=source) from None
    except yaml.YAMLError as exc:
        msg = " ".join(str(exc).split())
        raise ConfigError(f"YAML syntax error: {_short_text(msg, 300)}", source=source) from None
    finally:
        ld.dispose()
