"""One backup run: walk the sources, cut files into content-defined chunks, upload the new ones, then the tree,
then the snapshot object. Memory stays bounded whatever the file sizes: files are read as streams, and at
most `max_inflight` bytes of chunks wait for upload at once.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import socket
import stat
import tempfile
import threading
import time as _time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from mcpop.backup.errors import InvalidSource
from mcpop.backup.model import BackupKind, FileTree, MemoryFile, Snapshot, Source, clean_path
from mcpop.backup.objects import Objects, chunk_key
from mcpop.backup.tree import Entry, chunk_refs, encode_entry

log = logging.getLogger("mcpop.backup")

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: O_NONBLOCK: a FIFO swapped in for a file must not block the open (it is then skipped)
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Uploader:
    """Deduplicates chunks against the repository and uploads the new ones from a thread pool."""

    def __init__(self, repo: Objects, known: dict[str, int], workers: int, max_inflight: int = 16 << 20):
        self.repo = repo
        self.known = set(known)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="backup-upload")
        self.cond = threading.Condition()
        self.inflight = 0
        self.max_inflight = max_inflight
        self.futures: list[Future[tuple[str, int]]] = []
        self.error: BaseException | None = None
        self.bytes_uploaded = 0  # stored (encoded) bytes written
        self.bytes_new = 0  # plaintext bytes of new chunks
        self.bytes_dedup = 0  # plaintext bytes found already stored

    def add(self, data: bytes | memoryview) -> Future[tuple[str, int]]:
        """Queue a chunk: a worker hashes it, and uploads it unless the repository has it. → (id, size)."""
        if self.error is not None:
            raise self.error
        size = len(data)
        copy = bytes(data)  # the chunker reuses its buffer
        with self.cond:
            while self.inflight and self.inflight + size > self.max_inflight and self.error is None:
                self.cond.wait()
            if self.error is not None:
                raise self.error
            self.inflight += size
        fut = self.pool.submit(self._work, copy)
        self.futures.append(fut)
        if len(self.futures) > 1024:
            self.futures = [f for f in self.futures if not f.done() or f.exception()]
        return fut

    def _work(self, data: bytes) -> tuple[str, int]:
        try:
            cid = self.repo.codec.chunk_id(data)
            with self.cond:
                new = cid not in self.known
                if new:
                    self.known.add(cid)
                    self.bytes_new += len(data)
                else:
                    self.bytes_dedup += len(data)
            if new and self.error is None:  # after a failure, do not keep a dead server busy
                stored = self.repo.codec.encode_chunk(cid, data)
                self.repo.storage.put(chunk_key(cid), stored)
                with self.cond:
                    self.bytes_uploaded += len(stored)
            return cid, len(data)
        except BaseException as e:
            with self.cond:
                if self.error is None:
                    self.error = e
            raise
        finally:
            with self.cond:
                self.inflight -= len(data)
                self.cond.notify_all()

    def finish(self) -> None:
        """Wait for every upload; the first failure is raised."""
        try:
            for f in self.futures:
                f.exception()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _resolved(entry: Entry) -> bool:
    return all(not isinstance(c, Future) or c.done() for c in entry.get("chunks", ()))


def _resolve(entry: Entry) -> Entry:
    if "chunks" in entry:
        entry["chunks"] = [list(c.result()) if isinstance(c, Future) else c for c in entry["chunks"]]
    return entry


class Archiver:
    def __init__(self, repo: Objects, progress: Callable[[int], None] | None = None) -> None:
        self.repo = repo
        self.progress = progress
        self.files = 0
        self.dirs = 0
        self.size = 0
        self.reused = 0
        self.skipped: list[str] = []
        self._last_lengths: list[int] = []

    def run(
        self, sources: Sequence[Source], *, kind: BackupKind, meta: dict[str, str], time: datetime | None
    ) -> Snapshot:
        if kind not in ("Configuration", "Full", "Incremental"):
            raise InvalidSource(f"backup kind {kind!r}: expected Configuration, Full or Incremental")
        started = _time.monotonic()
        when = (time or datetime.now(UTC)).astimezone(UTC)
        self._check_paths(sources)
        known = self.repo.stored_chunks()
        parent_snap, parent = self._parent(kind, known)
        up = Uploader(self.repo, known, self.repo.workers)
        try:
            with tempfile.SpooledTemporaryFile(max_size=8 << 20) as tree:
                # entries wait here until their chunks are hashed, so reading runs ahead of hashing/uploading
                waiting: deque[Entry] = deque()
                for source in sources:
                    for entry in self._entries(source, up, parent):
                        waiting.append(entry)
                        while len(waiting) > 1024 or (waiting and _resolved(waiting[0])):
                            tree.write(encode_entry(_resolve(waiting.popleft())))
                while waiting:
                    tree.write(encode_entry(_resolve(waiting.popleft())))
                data_dedup = up.bytes_dedup  # every data chunk is hashed by now
                tree.seek(0)
                tree_futures = [up.add(c.data) for c in self.repo.chunker().cut_stream(tree)]
                tree_refs = [f.result() for f in tree_futures]
            up.finish()
        except BaseException:
            up.abort()
            raise
        doc: dict[str, Any] = {
            "version": 1,
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "kind": kind,
            "meta": meta,
            "hostname": socket.gethostname(),
            "tree": [list(r) for r in tree_refs],
            "files": self.files,
            "dirs": self.dirs,
            "size": self.size,
            "bytes_uploaded": up.bytes_uploaded,
            "bytes_deduplicated": data_dedup + self.reused,
            "parent": parent_snap.id if parent_snap else None,
            "skipped": self.skipped,
            "duration_seconds": round(_time.monotonic() - started, 3),
        }
        sid, _stored = self.repo.write_snapshot(doc)
        snap = self.repo.load_snapshot(f"snapshots/{sid}")
        log.info(
            "snapshot %s: %d files, %d bytes, %d uploaded, %.0f%% deduplicated, %.1fs",
            snap.short_id, snap.files, snap.size, snap.bytes_uploaded, 100 * snap.dedup_ratio, snap.duration_seconds,
        )  # fmt: skip
        return snap

    # -- parts -------------------------------------------------------------------------------------------

    @staticmethod
    def _check_paths(sources: Sequence[Source]) -> None:
        seen: set[str] = set()
        for s in sources:
            path = clean_path(s.path if isinstance(s, MemoryFile) else s.prefix, "source path")
            if isinstance(s, FileTree) and not os.path.isdir(s.root):
                raise InvalidSource(f"source {path}: {os.fspath(s.root)} is not a directory")
            for other in seen:
                if path == other or path.startswith(other + "/") or other.startswith(path + "/"):
                    raise InvalidSource(f"source path {path!r} overlaps {other!r}")
            seen.add(path)

    def _parent(self, kind: BackupKind, known: dict[str, int]) -> tuple[Snapshot | None, dict[str, Entry]]:
        if kind != "Incremental":
            return None, {}
        snaps = self.repo.snapshots()
        if not snaps:
            return None, {}
        parent = snaps[-1]
        files = {e["path"]: e for e in self.repo.tree(parent) if e["type"] == "file"}
        return parent, files

    def _chunks(self, stream: Any, up: Uploader) -> list[Any]:
        refs = []
        self._last_lengths = []
        for c in self.repo.chunker().cut_stream(stream):
            refs.append(up.add(c.data))
            self._last_lengths.append(c.length)
            if self.progress:
                self.progress(c.length)
        return refs

    def _entries(self, source: Source, up: Uploader, parent: dict[str, Entry]) -> Iterator[Entry]:
        if isinstance(source, MemoryFile):
            path = clean_path(source.path)
            self.files += 1
            self.size += len(source.data)
            chunks = self._chunks(io.BytesIO(source.data), up) if source.data else []
            yield {
                "path": path, "type": "file", "mode": source.mode & 0o7777, "size": len(source.data),
                "mtime_ns": 0, "uid": 0, "gid": 0, "chunks": chunks,
            }  # fmt: skip
            return
        prefix = clean_path(source.prefix)
        root = os.fspath(source.root)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield from self._walk(fd, root, prefix, up, parent)
        finally:
            os.close(fd)

    def _changed(self, path: str, what: str) -> None:
        self.skipped.append(path)
        log.warning("skipping %s: %s while being backed up", path, what)

    def _walk(self, fd: int, where: str, prefix: str, up: Uploader, parent: dict[str, Entry]) -> Iterator[Entry]:
        """Entries below the directory `fd`; every name is opened relative to it and never through a symlink,
        so a tree changed under the walk cannot lead it outside (the server may be writing it)."""
        self.dirs += 1
        yield self._meta(prefix, "dir", os.fstat(fd))
        try:
            names = sorted(os.listdir(fd))
        except OSError as e:
            raise InvalidSource(f"{where}: cannot list: {e.strerror}") from None
        for name in names:
            path = f"{prefix}/{name}"
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                continue  # removed while we walked
            if stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(name, _OPEN_DIR, dir_fd=fd)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise InvalidSource(f"{where}/{name}: cannot open: {e.strerror}") from None
                    self._changed(path, "stopped being a directory")
                    continue
                try:
                    yield from self._walk(sub, f"{where}/{name}", path, up, parent)
                finally:
                    os.close(sub)
            elif stat.S_ISLNK(st.st_mode):
                entry = self._meta(path, "symlink", st)
                entry["target"] = os.readlink(name, dir_fd=fd)
                self.files += 1
                yield entry
            elif stat.S_ISREG(st.st_mode):
                file_entry = self._file(fd, name, path, st, up, parent.get(path))
                if file_entry is not None:
                    yield file_entry
            else:
                self.skipped.append(path)
                log.warning("skipping %s: not a regular file, directory or symlink", path)

    @staticmethod
    def _meta(path: str, kind: str, st: os.stat_result) -> Entry:
        return {
            "path": path, "type": kind, "mode": stat.S_IMODE(st.st_mode), "mtime_ns": st.st_mtime_ns,
            "uid": st.st_uid, "gid": st.st_gid,
        }  # fmt: skip

    def _file(self, dir_fd: int, name: str, path: str, st: os.stat_result, up: Uploader,
              old: Entry | None) -> Entry | None:  # fmt: skip
        """The entry of the regular file `name` in `dir_fd`; None (and listed as skipped) when it stopped being
        one between `lstat` and `open`: a symlink swapped in is never followed."""
        entry = self._meta(path, "file", st)
        entry.update(size=st.st_size, ino=st.st_ino, ctime_ns=st.st_ctime_ns)
        if (
            old is not None
            and old.get("size") == st.st_size
            and old.get("mtime_ns") == st.st_mtime_ns
            and old.get("ctime_ns") == st.st_ctime_ns
            and old.get("ino") == st.st_ino
            and all(c in up.known for c, _ in chunk_refs(old))
        ):
            entry["chunks"] = old["chunks"]
            self.files += 1
            self.size += st.st_size
            self.reused += st.st_size
            if self.progress:
                self.progress(st.st_size)
            return entry
        try:
            fd = os.open(name, _OPEN_FILE, dir_fd=dir_fd)
        except FileNotFoundError:
            raise InvalidSource(f"{path}: removed while being backed up") from None
        except PermissionError:
            raise InvalidSource(f"{path}: cannot read (permission denied)") from None
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise InvalidSource(f"{path}: cannot open: {e.strerror}") from None
            self._changed(path, "replaced by a symlink")
            return None
        with open(fd, "rb", buffering=0) as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                self._changed(path, "stopped being a regular file")
                return None
            entry["chunks"] = self._chunks(f, up)
        entry["size"] = sum(self._last_lengths)  # the file changed while we read it: record what was read
        self.files += 1
        self.size += entry["size"]
        return entry
