"""A repository's objects as its workers (archiver, checker, restorer) reach them: the storage key of a chunk,
and `Objects`, the part of `Repository` they use, so that none of them imports the repository.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from mcpop.backup.codec import Codec
from mcpop.backup.model import Snapshot
from mcpop.backup.storage import Storage
from mcpop.backup.tree import Entry


def chunk_key(chunk_id: str) -> str:
    """Where chunk `chunk_id` is stored: `data/<first two hex digits>/<id>`."""
    return f"data/{chunk_id[:2]}/{chunk_id}"


class Objects(Protocol):
    """What the archiver, checker and restorer use of a `Repository`."""

    storage: Storage
    codec: Codec
    workers: int

    def chunker(self) -> Any: ...

    def stored_chunks(self) -> dict[str, int]: ...

    def read_chunk(self, chunk_id: str, size: int) -> bytes: ...

    def fetch_ordered(self, refs: Iterable[tuple[str, int]]) -> Iterator[bytes]: ...

    def snapshot_keys(self) -> list[str]: ...

    def load_snapshot(self, key: str) -> Snapshot: ...

    def clear_cache(self) -> None: ...

    def snapshots(self) -> list[Snapshot]: ...

    def write_snapshot(self, doc: dict[str, Any]) -> tuple[str, int]: ...

    def tree(self, snap: Snapshot) -> Iterator[Entry]: ...
