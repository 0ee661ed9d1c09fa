"""The data the repository takes and returns: sources to back up, snapshots, and reports."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Literal

from mcpop.backup.errors import InvalidSource, Problem

BackupKind = Literal["Configuration", "Full", "Incremental"]


def clean_path(path: str, what: str = "path") -> str:
    """A snapshot path: relative, POSIX, no `.`/`..` parts, not empty. Raises InvalidSource otherwise."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        raise InvalidSource(f"{what} {path!r}: must be a non-empty relative POSIX path")
    parts = PurePosixPath(path).parts
    if any(p in (".", "..") for p in path.split("/")) or not parts:
        raise InvalidSource(f"{what} {path!r}: must not contain '.' or '..' components")
    return "/".join(parts)


@dataclass(frozen=True)
class MemoryFile:
    """A file given in memory: the MCPServer YAML, a referenced ConfigMap or Secret, a rendered object."""

    path: str
    data: bytes
    mode: int = 0o600

    def __repr__(self) -> str:  # data may be a Secret: never shown
        return f"MemoryFile(path={self.path!r}, size={len(self.data)}, mode={self.mode:o})"


@dataclass(frozen=True)
class FileTree:
    """A directory on disk (a mounted PVC) stored under `prefix` in the snapshot."""

    root: str | os.PathLike[str]
    prefix: str


Source = MemoryFile | FileTree


@dataclass(frozen=True)
class Snapshot:
    """One backup: what it holds and what it cost."""

    id: str
    time: datetime
    kind: str
    meta: dict[str, str]
    files: int
    dirs: int
    size: int
    bytes_uploaded: int
    bytes_deduplicated: int
    duration_seconds: float
    parent: str | None
    skipped: tuple[str, ...] = ()  # paths neither file, directory nor symlink (sockets, FIFOs, devices)
    tree: tuple[tuple[str, int], ...] = field(repr=False, default=())

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def dedup_ratio(self) -> float:
        """The fraction of this snapshot's bytes that were already in the repository when it was taken."""
        return self.bytes_deduplicated / self.size if self.size else 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (time as RFC 3339 with Z), for `mcp backup list -o json` and status."""
        d = asdict(self)
        d.pop("tree")
        d["skipped"] = list(self.skipped)
        d["time"] = self.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        d["short_id"] = self.short_id
        d["dedup_ratio"] = round(self.dedup_ratio, 4)
        return d


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    problems: list[Problem]
    snapshots: int
    chunks: int
    bytes_read: int


@dataclass(frozen=True)
class RestoreReport:
    files: int
    dirs: int
    symlinks: int
    bytes: int
    skipped: list[str]


@dataclass(frozen=True)
class PruneReport:
    chunks_deleted: int
    bytes_freed: int
    chunks_kept: int
