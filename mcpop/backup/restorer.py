"""Restore: every chunk is fetched, authenticated and hashed before a byte of it is written, and everything is
written into a staging directory inside the target first; only when all of it checked out is it moved into
place. A corrupt or missing chunk therefore leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from mcpop.backup.errors import RepositoryCorrupt
from mcpop.backup.model import MemoryFile, RestoreReport, Snapshot, clean_path
from mcpop.backup.objects import Objects
from mcpop.backup.tree import Entry, chunk_refs, in_subtree

_BLOCK = 64 * 1024
_ZERO_BLOCK = bytes(_BLOCK)


def _write_sparse(f: Any, data: bytes) -> None:
    """Write `data`, leaving 64 KiB runs of zeros as holes (the file is truncated to its size at the end)."""
    view = memoryview(data)
    for off in range(0, len(data), _BLOCK):
        block = view[off : off + _BLOCK]
        if block == _ZERO_BLOCK[: len(block)]:
            f.seek(len(block), os.SEEK_CUR)
        else:
            f.write(block)


def _select(repo: Objects, snap: Snapshot, subtree: str) -> list[tuple[str, Entry]]:
    sub = clean_path(subtree, "subtree") if subtree else ""
    chosen = []
    for entry in repo.tree(snap):
        rel = in_subtree(entry["path"], sub)
        if rel is not None:
            chosen.append((rel, entry))
    return chosen


def _chunks_with_context(repo: Objects, snap: Snapshot, refs: list[tuple[str, int]], paths: list[str]) -> Any:
    try:
        yield from repo.fetch_ordered(refs)
    except RepositoryCorrupt as e:
        raise RepositoryCorrupt(f"snapshot {snap.short_id}: {e}; nothing was restored", e.problems) from None


def restore(repo: Objects, snap: Snapshot, target: str | os.PathLike[str], *, subtree: str = "") -> RestoreReport:
    chosen = _select(repo, snap, subtree)
    root = Path(target)
    root.mkdir(parents=True, exist_ok=True)
    stage = root / f".mcpop-restore-{uuid.uuid4().hex[:8]}"
    stage.mkdir(mode=0o700)
    refs = [r for _, e in chosen if e["type"] == "file" for r in chunk_refs(e)]
    stream = iter(_chunks_with_context(repo, snap, refs, []))
    files = dirs = links = written = 0
    try:
        for rel, e in chosen:
            dest = stage / rel if rel else stage
            if e["type"] == "dir":
                dest.mkdir(parents=True, exist_ok=True)
                dirs += 1
            elif e["type"] == "symlink":
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(e["target"], dest)
                links += 1
            elif e["type"] == "file":
                dest.parent.mkdir(parents=True, exist_ok=True)
                with open(dest, "wb") as f:
                    for _ in chunk_refs(e):
                        _write_sparse(f, next(stream))
                    f.truncate(int(e["size"]))
                files += 1
                written += int(e["size"])
        _place(stage, root, chosen)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return RestoreReport(files=files, dirs=dirs, symlinks=links, bytes=written, skipped=[])


def _apply_meta(path: Path, e: Entry) -> None:
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.lchown(path, int(e.get("uid", 0)), int(e.get("gid", 0)))
    if e["type"] == "symlink":
        with contextlib.suppress(OSError, NotImplementedError):
            os.utime(path, ns=(e["mtime_ns"], e["mtime_ns"]), follow_symlinks=False)
        return
    os.chmod(path, int(e["mode"]))
    if e.get("mtime_ns"):
        os.utime(path, ns=(e["mtime_ns"], e["mtime_ns"]))


def _place(stage: Path, root: Path, chosen: list[tuple[str, Entry]]) -> None:
    """Move the checked files from the staging directory into place, then set modes and times."""
    for rel, e in chosen:
        if not rel:
            continue
        src, dest = stage / rel, root / rel
        if e["type"] == "dir":
            if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
                dest.unlink()
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(src, dest)
    for rel, e in sorted(chosen, key=lambda x: x[0].count("/"), reverse=True):
        _apply_meta(root / rel if rel else root, e)


def read_files(repo: Objects, snap: Snapshot, subtree: str) -> dict[str, MemoryFile]:
    chosen = [(rel, e) for rel, e in _select(repo, snap, subtree) if e["type"] == "file"]
    refs = [r for _, e in chosen for r in chunk_refs(e)]
    stream = iter(_chunks_with_context(repo, snap, refs, []))
    out = {}
    for rel, e in chosen:
        data = b"".join(next(stream) for _ in chunk_refs(e))
        out[rel] = MemoryFile(rel, data, int(e["mode"]))
    return out
