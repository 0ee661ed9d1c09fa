"""Snapshot trees: one JSON line per file, directory or symlink, stored chunked like file data.

An entry is `{"path", "type": "file"|"dir"|"symlink", "mode", "mtime_ns", "uid", "gid"}` plus, for files,
`size`, `chunks` ([[id, size], ...]), `ino` and `ctime_ns` (what an incremental backup compares), and for
symlinks `target`. Paths are relative POSIX paths; names that are not valid UTF-8 survive through Python's
surrogate escapes (JSON carries them as \\udcXX).

A tree comes from the bucket, so every entry is checked as it is read (`TreeChecker`): a well-formed entry, a
path that stays inside the snapshot, and nothing below a symlink or a file (restic: "invalid child node name").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

Entry = dict[str, Any]

#: the largest chunk any tree or snapshot may reference (the chunker cuts at most 4 MiB)
CHUNK_LIMIT = 8 << 20
_TYPES = ("file", "dir", "symlink")
_CHUNK_ID = re.compile(r"[0-9a-f]{64}")


class InvalidEntry(ValueError):
    """A tree entry that is malformed, leaves the snapshot, or lies below a symlink or a file."""


def _int(entry: Entry, key: str, low: int, high: int) -> int:
    value = entry.get(key, 0)
    if type(value) is not int or not low <= value <= high:
        raise InvalidEntry(f"entry {entry.get('path')!r}: {key} {value!r} is not an integer in [{low}, {high}]")
    return value


def check_chunk_ref(ref: object) -> tuple[str, int]:
    """A `[id, size]` pair: a 64-digit hex id and a size in (0, CHUNK_LIMIT]."""
    if (
        not isinstance(ref, list | tuple)
        or len(ref) != 2
        or not isinstance(ref[0], str)
        or not _CHUNK_ID.fullmatch(ref[0])
        or type(ref[1]) is not int
        or not 0 < ref[1] <= CHUNK_LIMIT
    ):
        raise InvalidEntry(f"chunk reference {str(ref)[:100]!r} is not [64 hex digits, size ≤ {CHUNK_LIMIT}]")
    return ref[0], ref[1]


def check_path(path: object) -> str:
    """A snapshot path: relative, no empty, `.` or `..` component, no NUL."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\x00" in path:
        raise InvalidEntry(f"invalid entry name {str(path)[:200]!r}: not a relative path")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise InvalidEntry(f"invalid entry name {path[:200]!r}: empty, '.' or '..' component")
    return path


def check_entry(entry: object) -> Entry:
    """`entry` when it is a well-formed tree entry; InvalidEntry naming what is wrong otherwise."""
    if not isinstance(entry, dict):
        raise InvalidEntry(f"tree entry {str(entry)[:100]!r} is not an object")
    path = check_path(entry.get("path"))
    if entry.get("type") not in _TYPES:
        raise InvalidEntry(f"entry {path!r}: type {str(entry.get('type'))[:50]!r} is not file, dir or symlink")
    _int(entry, "mode", 0, 0o7777)
    _int(entry, "mtime_ns", -(2**63), 2**63 - 1)
    _int(entry, "uid", 0, 2**32 - 1)
    _int(entry, "gid", 0, 2**32 - 1)
    if entry["type"] == "symlink":
        target = entry.get("target")
        if not isinstance(target, str) or not target or "\x00" in target:
            raise InvalidEntry(f"entry {path!r}: symlink target {str(target)[:100]!r} is not a path")
    if entry["type"] == "file":
        chunks = entry.get("chunks")
        if not isinstance(chunks, list):
            raise InvalidEntry(f"entry {path!r}: chunks is not a list")
        total = sum(check_chunk_ref(c)[1] for c in chunks)
        if _int(entry, "size", 0, 2**63 - 1) != total:
            raise InvalidEntry(f"entry {path!r}: size {entry['size']} is not the sum of its chunks ({total})")
    elif "chunks" in entry:
        raise InvalidEntry(f"entry {path!r}: a {entry['type']} has no chunks")
    return entry


class TreeChecker:
    """Checks entries one by one, in any order, against those seen before: no path twice, nothing below a
    symlink or a file."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.leaves: set[str] = set()  # symlinks and files: nothing may lie below them
        self.parents: set[str] = set()  # every proper ancestor of a path seen

    def __call__(self, raw: object) -> Entry:
        entry = check_entry(raw)
        path: str = entry["path"]
        if path in self.seen:
            raise InvalidEntry(f"entry {path!r} appears twice")
        ancestors = [path[:i] for i, ch in enumerate(path) if ch == "/"]
        below = next((a for a in ancestors if a in self.leaves), None)
        if below is not None:
            raise InvalidEntry(f"invalid entry name {path!r}: below the non-directory {below!r}")
        if entry["type"] != "dir":
            if path in self.parents:
                raise InvalidEntry(f"invalid entry {path!r}: a {entry['type']} with entries below it")
            self.leaves.add(path)
        self.seen.add(path)
        self.parents.update(ancestors)
        return entry


def encode_entry(entry: Entry) -> bytes:
    return json.dumps(entry, separators=(",", ":"), sort_keys=True).encode("utf-8", "surrogatepass") + b"\n"


def decode_lines(parts: Iterable[bytes]) -> Iterator[Entry]:
    """Checked entries from a stream of byte blocks (chunk boundaries fall anywhere); InvalidEntry (a
    ValueError) at the first one that is not valid."""
    check = TreeChecker()
    rest = b""
    for part in parts:
        rest += part
        *lines, rest = rest.split(b"\n")
        for line in lines:
            if line:
                yield check(json.loads(line.decode("utf-8", "surrogatepass")))
    if rest.strip():
        yield check(json.loads(rest.decode("utf-8", "surrogatepass")))


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
