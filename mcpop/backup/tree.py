"""Snapshot trees: one JSON line per file, directory or symlink, stored chunked like file data.

An entry is `{"path", "type": "file"|"dir"|"symlink", "mode", "mtime_ns", "uid", "gid"}` plus, for files,
`size`, `chunks` ([[id, size], ...]), `ino` and `ctime_ns` (what an incremental backup compares), and for
symlinks `target`. Paths are relative POSIX paths; names that are not valid UTF-8 survive through Python's
surrogate escapes (JSON carries them as \\udcXX).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

Entry = dict[str, Any]


def encode_entry(entry: Entry) -> bytes:
    return json.dumps(entry, separators=(",", ":"), sort_keys=True).encode("utf-8", "surrogatepass") + b"\n"


def decode_lines(parts: Iterable[bytes]) -> Iterator[Entry]:
    """Entries from a stream of byte blocks (chunk boundaries fall anywhere)."""
    rest = b""
    for part in parts:
        rest += part
        *lines, rest = rest.split(b"\n")
        for line in lines:
            if line:
                yield json.loads(line.decode("utf-8", "surrogatepass"))
    if rest.strip():
        yield json.loads(rest.decode("utf-8", "surrogatepass"))


def chunk_refs(entry: Entry) -> list[tuple[str, int]]:
    return [(c[0], int(c[1])) for c in entry.get("chunks", ())]


def in_subtree(path: str, subtree: str) -> str | None:
    """`path` relative to `subtree` ("" for the subtree itself), or None when outside it."""
    if not subtree:
        return path
    if path == subtree:
        return ""
    if path.startswith(subtree + "/"):
        return path[len(subtree) + 1 :]
    return None
