"""Restore: every chunk is fetched, authenticated and hashed before a byte of it is written, and everything is
written into a staging directory inside the target first; only when all of it checked out is it moved into
place. A corrupt or missing chunk therefore leaves the target as it was.

Nothing the snapshot says can write outside the target: tree entries are checked as they are read (see
`mcpop.backup.tree`), and every path is opened component by component relative to a directory descriptor
with O_NOFOLLOW, so a symlink, in the snapshot or already in the target, is never followed. In the target,
a file or symlink where the snapshot has a directory is replaced by a directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcpop.backup.errors import BackupError, RepositoryCorrupt
from mcpop.backup.model import MemoryFile, RestoreReport, Snapshot, clean_path
from mcpop.backup.objects import Objects
from mcpop.backup.tree import Entry, chunk_refs, in_subtree

_BLOCK = 64 * 1024
_ZERO_BLOCK = bytes(_BLOCK)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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


def _chunks_with_context(repo: Objects, snap: Snapshot, refs: list[tuple[str, int]]) -> Iterator[bytes]:
    try:
        yield from repo.fetch_ordered(refs)
    except RepositoryCorrupt as e:
        raise RepositoryCorrupt(f"snapshot {snap.short_id}: {e}; nothing was restored", e.problems) from None


def _open_dir(base: int, name: str, *, replace: bool) -> int:
    """The directory `name` under the descriptor `base`, created when absent, never through a symlink. With
    `replace`, a file or symlink of that name is removed first; without it, that is an error."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=base)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        if not replace:
            raise RepositoryCorrupt(f"cannot restore below {name!r}: not a directory") from None
        os.unlink(name, dir_fd=base)
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o777, dir_fd=base)
    return os.open(name, _DIR_FLAGS, dir_fd=base)


class _Dirs:
    """Opens `rel`'s parent directories below a root descriptor, component by component (see `_open_dir`)."""

    def __init__(self, root: int, *, replace: bool) -> None:
        self.root = root
        self.replace = replace

    @contextlib.contextmanager
    def parent(self, rel: str) -> Iterator[tuple[int, str]]:
        """(descriptor of the directory holding `rel`, its last component); the descriptor is closed after."""
        *dirs, name = rel.split("/")
        fd = os.dup(self.root)
        try:
            for part in dirs:
                nxt = _open_dir(fd, part, replace=self.replace)
                os.close(fd)
                fd = nxt
            yield fd, name
        finally:
            os.close(fd)


def _fd_meta(fd: int, e: Entry) -> None:
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.fchown(fd, int(e.get("uid", 0)), int(e.get("gid", 0)))
    os.fchmod(fd, int(e["mode"]))
    if e.get("mtime_ns"):
        os.utime(fd, ns=(e["mtime_ns"], e["mtime_ns"]))


def restore(repo: Objects, snap: Snapshot, target: str | os.PathLike[str], *, subtree: str = "") -> RestoreReport:
    chosen = _select(repo, snap, subtree)
    root = Path(target)
    root.mkdir(parents=True, exist_ok=True)
    stage_name = f".mcpop-restore-{uuid.uuid4().hex[:8]}"
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        os.mkdir(stage_name, 0o700, dir_fd=root_fd)
        stage_fd = os.open(stage_name, _DIR_FLAGS, dir_fd=root_fd)
        try:
            report = _stage(repo, snap, chosen, stage_fd)
            _place(stage_fd, root_fd, chosen)
        finally:
            os.close(stage_fd)
            shutil.rmtree(stage_name, dir_fd=root_fd, ignore_errors=True)
    finally:
        os.close(root_fd)
    return report


def _stage(repo: Objects, snap: Snapshot, chosen: list[tuple[str, Entry]], stage_fd: int) -> RestoreReport:
    """Write every file and symlink into the staging directory (modes and times of files set here)."""
    refs = [r for _, e in chosen if e["type"] == "file" for r in chunk_refs(e)]
    stream = _chunks_with_context(repo, snap, refs)
    dirs = _Dirs(stage_fd, replace=False)
    files = ndirs = links = written = 0
    for rel, e in chosen:
        if e["type"] == "dir":
            ndirs += 1
            if rel:
                with dirs.parent(rel) as (fd, name):
                    os.close(_open_dir(fd, name, replace=False))
        elif e["type"] == "symlink":
            with dirs.parent(rel) as (fd, name):
                os.symlink(e["target"], name, dir_fd=fd)
            links += 1
        else:
            with dirs.parent(rel) as (fd, name):
                out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                              dir_fd=fd)  # fmt: skip
            with os.fdopen(out, "wb") as f:
                for _ in chunk_refs(e):
                    _write_sparse(f, next(stream))
                f.truncate(int(e["size"]))
                f.flush()
                _fd_meta(f.fileno(), e)
            files += 1
            written += int(e["size"])
    return RestoreReport(files=files, dirs=ndirs, symlinks=links, bytes=written, skipped=[])


def _place(stage_fd: int, root_fd: int, chosen: list[tuple[str, Entry]]) -> None:
    """Move the checked files from the staging directory into place, then set directory modes and times."""
    staged = _Dirs(stage_fd, replace=False)
    placed = _Dirs(root_fd, replace=True)
    for rel, e in chosen:
        if not rel:
            continue
        with placed.parent(rel) as (dst, name):
            if e["type"] == "dir":
                os.close(_open_dir(dst, name, replace=True))
                continue
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISDIR(os.stat(name, dir_fd=dst, follow_symlinks=False).st_mode):
                    shutil.rmtree(name, dir_fd=dst)
            with staged.parent(rel) as (src, src_name):
                os.replace(src_name, name, src_dir_fd=src, dst_dir_fd=dst)
    for rel, e in sorted(chosen, key=lambda x: x[0].count("/"), reverse=True):
        if e["type"] == "file":
            continue
        if not rel:
            _fd_meta(root_fd, e)
            continue
        with placed.parent(rel) as (fd, name):
            if e["type"] == "symlink":
                _symlink_meta(fd, name, e)
            else:
                sub = _open_dir(fd, name, replace=True)
                try:
                    _fd_meta(sub, e)
                finally:
                    os.close(sub)


def _symlink_meta(dir_fd: int, name: str, e: Entry) -> None:
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.chown(name, int(e.get("uid", 0)), int(e.get("gid", 0)), dir_fd=dir_fd, follow_symlinks=False)
    with contextlib.suppress(OSError, NotImplementedError):
        os.utime(name, ns=(e["mtime_ns"], e["mtime_ns"]), dir_fd=dir_fd, follow_symlinks=False)


def read_files(repo: Objects, snap: Snapshot, subtree: str, limit: int) -> dict[str, MemoryFile]:
    chosen = [(rel, e) for rel, e in _select(repo, snap, subtree) if e["type"] == "file"]
    total = sum(int(e["size"]) for _, e in chosen)
    if total > limit:
        raise BackupError(f"snapshot {snap.short_id}: the files under {subtree or '/'} hold {total} bytes, more "
                          f"than the {limit} read into memory")  # fmt: skip
    refs = [r for _, e in chosen for r in chunk_refs(e)]
    stream = _chunks_with_context(repo, snap, refs)
    out = {}
    for rel, e in chosen:
        data = b"".join(next(stream) for _ in chunk_refs(e))
        out[rel] = MemoryFile(rel, data, int(e["mode"]))
    return out
