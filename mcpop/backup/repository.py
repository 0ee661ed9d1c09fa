"""A restic-like backup repository on any fsspec storage (S3, GCS, Azure Blob, a local directory).

Layout under the repository URL:

    config               JSON: format version, repository id, encryption, chunker parameters
    keys/<id>            key files (encrypted repositories only): the master keys under a scrypt-derived key
    data/<aa>/<id>       chunks (file data and snapshot trees), content-addressed, each compressed and sealed
    snapshots/<sha256>   one per snapshot, written last; named by the SHA-256 of its stored bytes
    locks/<id>           shared (backup) and exclusive (forget, prune) locks

Snapshots are independent: each names every chunk of every file it holds, so any one restores on its own;
chunks are shared between snapshots, so each backup stores only what is new.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from mcpop.backup import checker, restorer
from mcpop.backup import keys as keyfiles
from mcpop.backup.archiver import Archiver
from mcpop.backup.codec import COMPRESSIONS, Codec, Compression, DecodeError
from mcpop.backup.errors import (
    BackupError,
    EncryptionMismatch,
    KeyRequired,
    Problem,
    RepositoryCorrupt,
    SnapshotNotFound,
    WrongKey,
)
from mcpop.backup.location import Location
from mcpop.backup.locks import Lock
from mcpop.backup.model import (
    BackupKind,
    MemoryFile,
    PruneReport,
    RestoreReport,
    Snapshot,
    Source,
    VerifyReport,
)
from mcpop.backup.objects import chunk_key
from mcpop.backup.retention import RetentionPolicy, Selection, select
from mcpop.backup.storage import RetryPolicy, Storage
from mcpop.backup.tree import CHUNK_LIMIT, Entry, check_chunk_ref, chunk_refs, decode_lines

log = logging.getLogger("mcpop.backup")

FORMAT_VERSION = 1
CHUNK_MIN = 256 * 1024
CHUNK_AVG = 512 * 1024
CHUNK_MAX = 4 * 1024 * 1024
_SNAPSHOT_AAD = b"mcpop-snapshot-v1"
#: what sealing and the compression tag add to a stored object (1 + nonce + GCM tag), with room to spare
_OVERHEAD = 64
#: the largest snapshot object (its plaintext is read up to 64 MiB) and config or key file read
_SNAPSHOT_LIMIT = (64 << 20) + _OVERHEAD
_SMALL_LIMIT = 1 << 20


class RepositoryNotFound(BackupError):
    """No repository at the URL (and `create=False`)."""


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


class Repository:
    """One repository. Open with `Repository.open`; use as a context manager or call `close()`."""

    def __init__(self, storage: Storage, codec: Codec, config: dict[str, Any], chunker_seed: int, workers: int) -> None:
        self.storage = storage
        self.codec = codec
        self.config = config
        self.chunker_seed = chunker_seed
        self.workers = workers
        self.lock_wait = 60.0  # how long backup, forget and prune wait for a conflicting lock to go
        self._snapshots: dict[str, Snapshot] = {}

    # -- opening -----------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        key: bytes | str | None = None,
        compression: Compression = "zstd",
        create: bool = True,
        retry: RetryPolicy | None = None,
        workers: int = 4,
        lock_wait: float = 60.0,
    ) -> Repository:
        """Open the repository at `url`, creating it when absent (encrypted when a `key` is given)."""
        if compression not in COMPRESSIONS:
            raise BackupError(f"compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}")
        storage = Storage(url, storage_options, retry)
        user_key = keyfiles.normalise_user_key(key) if key is not None else None
        raw = storage.get("config", _SMALL_LIMIT)
        if raw is None:
            storage.check_bucket()
            raw = storage.get("config", _SMALL_LIMIT)
        if raw is None:
            if not create:
                raise RepositoryNotFound(f"{storage.safe_url}: no backup repository here")
            cls._create(storage, user_key)
            raw = storage.get("config", _SMALL_LIMIT)
            if raw is None:
                raise RepositoryCorrupt(f"{storage.safe_url}: config vanished right after it was written")
        if len(raw) > _SMALL_LIMIT:
            raise RepositoryCorrupt(f"{storage.safe_url}: config is larger than {_SMALL_LIMIT} bytes")
        try:
            config = json.loads(raw)
            version = int(config["version"])
            encryption = str(config["encryption"])
            chunker = [int(config["chunker"][k]) for k in ("min", "avg", "max")]
        except (ValueError, KeyError, TypeError):
            raise RepositoryCorrupt(f"{storage.safe_url}: config is not a repository config") from None
        if not 64 <= chunker[0] <= chunker[1] <= chunker[2] <= CHUNK_LIMIT:
            raise RepositoryCorrupt(f"{storage.safe_url}: config: chunker sizes {chunker} are out of bounds")
        if version != FORMAT_VERSION:
            raise RepositoryCorrupt(f"{storage.safe_url}: repository format {version}, this mcpop reads 1")
        if encryption == "none":
            if user_key is not None:
                raise EncryptionMismatch(
                    f"{storage.safe_url}: the repository was created unencrypted but an encryption key was "
                    "given; use a new location (prefix) for encrypted backups, or drop the key"
                )
            codec = Codec(None, compression)
            seed = int(config["chunker"]["seed"])
        else:
            if user_key is None:
                raise KeyRequired(f"{storage.safe_url}: the repository is encrypted; give its encryption key")
            material = cls._unlock(storage, user_key, str(config["id"]))
            codec = Codec(keyfiles.keys_of(material), compression)
            seed = int(material["chunker_seed"])
        repo = cls(storage, codec, config, seed, workers)
        repo.lock_wait = lock_wait
        return repo

    @classmethod
    def open_location(cls, location: Location, **kwargs: Any) -> Repository:
        """`open` for a `Location` from `location_for`."""
        return cls.open(location.url, storage_options=location.storage_options, **kwargs)

    @staticmethod
    def _create(storage: Storage, user_key: bytes | None) -> None:
        repo_id = uuid.uuid4().hex
        seed = secrets.randbits(62) + 1
        chunker: dict[str, Any] = {"algorithm": "fastcdc-2020", "min": CHUNK_MIN, "avg": CHUNK_AVG, "max": CHUNK_MAX}
        config: dict[str, Any] = {"version": FORMAT_VERSION, "id": repo_id, "chunker": chunker}
        if user_key is None:
            config["encryption"] = "none"
            chunker["seed"] = seed
        else:
            config["encryption"] = "aes-256-gcm"
            _, material = keyfiles.new_master(repo_id, seed)
            blob = keyfiles.seal_key_file(user_key, material)
            storage.put(f"keys/{hashlib.sha256(blob).hexdigest()}", blob)
        storage.put("config", json.dumps(config, indent=1).encode())
        log.info("created backup repository %s (%s)", storage.safe_url, config["encryption"])

    @staticmethod
    def _unlock(storage: Storage, user_key: bytes, repo_id: str) -> dict[str, Any]:
        refused: list[str] = []
        for obj in storage.list("keys"):
            raw = storage.get(obj.key, _SMALL_LIMIT)
            if raw is not None and len(raw) > _SMALL_LIMIT:
                refused.append(f"{obj.key}: larger than {_SMALL_LIMIT} bytes")
                continue
            try:
                material = keyfiles.open_key_file(user_key, raw) if raw else None
            except keyfiles.UnsafeKeyFile as e:
                log.warning("%s: key file %s refused: %s", storage.safe_url, obj.key, e)
                refused.append(f"{obj.key}: {e}")
                continue
            if material is not None and material.get("repository") == repo_id:
                return material
        raise WrongKey(
            f"{storage.safe_url}: the encryption key does not open this repository (no key file accepts it"
            + "".join(f"; refused {r}" for r in refused)
            + "); use the key the repository was created with"
        )

    @property
    def url(self) -> str:
        return self.storage.safe_url

    @property
    def encrypted(self) -> bool:
        return self.codec.encrypted

    def close(self) -> None:
        self.clear_cache()

    def clear_cache(self) -> None:
        """Forget the snapshots read so far, so the next reads see storage as it is now."""
        self._snapshots.clear()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def lock(self, *, exclusive: bool, wait: float = 0.0) -> Lock:
        return Lock(self.storage, exclusive=exclusive, wait=wait)

    # -- chunks ------------------------------------------------------------------------------------------

    def chunker(self) -> Any:
        from pyfastcdc import FastCDC

        c = self.config["chunker"]
        return FastCDC(int(c["avg"]), min_size=int(c["min"]), max_size=int(c["max"]), seed=self.chunker_seed)

    def stored_chunks(self) -> dict[str, int]:
        """Every chunk in the repository: id → stored size."""
        out = {}
        for obj in self.storage.list("data"):
            name = obj.key.rsplit("/", 1)[-1]
            if len(name) == 64:
                out[name] = obj.size
        return out

    def read_chunk(self, chunk_id: str, size: int) -> bytes:
        """A chunk's plaintext, every check passed; RepositoryCorrupt otherwise."""
        stored = self.storage.get(chunk_key(chunk_id), size + _OVERHEAD)
        if stored is None:
            raise RepositoryCorrupt(
                f"{self.url}: chunk {chunk_key(chunk_id)} is missing",
                [Problem("missing_chunk", chunk_key(chunk_id), [], "missing")],
            )
        try:
            if len(stored) > size + _OVERHEAD:
                raise DecodeError(f"stored object is larger than a chunk of {size} bytes can be")
            return self.codec.decode_chunk(chunk_id, stored, size)
        except DecodeError as e:
            raise RepositoryCorrupt(
                f"{self.url}: chunk {chunk_key(chunk_id)} is corrupt: {e}",
                [Problem("corrupt_chunk", chunk_key(chunk_id), [], str(e))],
            ) from None

    def fetch_ordered(
        self, refs: Iterable[tuple[str, int]], *, window: int = 16, pool: ThreadPoolExecutor | None = None
    ) -> Iterator[bytes]:
        """Chunks in order, fetched `window` ahead in parallel."""
        own = pool is None
        ex = pool or ThreadPoolExecutor(self.workers, thread_name_prefix="backup-read")
        pending: list[Future[bytes]] = []
        try:
            it = iter(refs)
            for ref in it:
                pending.append(ex.submit(self.read_chunk, *ref))
                if len(pending) >= window:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            for f in pending:
                f.cancel()
            if own:
                ex.shutdown(wait=True, cancel_futures=True)

    # -- snapshots ---------------------------------------------------------------------------------------

    def load_snapshot(self, key: str) -> Snapshot:
        """The snapshot stored under `key`, read once and then cached."""
        sid = key.rsplit("/", 1)[-1]
        cached = self._snapshots.get(sid)
        if cached:
            return cached
        raw = self.storage.get(key, _SNAPSHOT_LIMIT)
        if raw is None:
            raise SnapshotNotFound(f"{self.url}: snapshot {sid[:8]} no longer exists")
        if len(raw) > _SNAPSHOT_LIMIT:
            raise RepositoryCorrupt(
                f"{self.url}: snapshot object {key} is larger than {_SNAPSHOT_LIMIT} bytes",
                [Problem("corrupt_snapshot", key, [sid], "too large")],
            )
        if hashlib.sha256(raw).hexdigest() != sid:
            raise RepositoryCorrupt(
                f"{self.url}: snapshot object {key} does not match its name",
                [Problem("corrupt_snapshot", key, [sid], "content does not hash to its name")],
            )
        try:
            d = json.loads(self.codec.decode_meta(raw, _SNAPSHOT_AAD, 64 << 20))
            snap = Snapshot(
                id=sid,
                time=_parse_time(d["time"]),
                kind=d["kind"],
                meta=dict(d.get("meta") or {}),
                files=int(d["files"]),
                dirs=int(d["dirs"]),
                size=int(d["size"]),
                bytes_uploaded=int(d["bytes_uploaded"]),
                bytes_deduplicated=int(d["bytes_deduplicated"]),
                duration_seconds=float(d["duration_seconds"]),
                parent=d.get("parent"),
                skipped=tuple(str(p) for p in d.get("skipped") or ()),
                tree=tuple(check_chunk_ref(c) for c in d["tree"]),
            )
        except (DecodeError, ValueError, KeyError, TypeError) as e:
            raise RepositoryCorrupt(
                f"{self.url}: snapshot {sid[:8]} cannot be read: {e}",
                [Problem("corrupt_snapshot", key, [sid], str(e))],
            ) from None
        self._snapshots[sid] = snap
        return snap

    def write_snapshot(self, doc: dict[str, Any]) -> tuple[str, int]:
        stored = self.codec.encode_meta(json.dumps(doc, sort_keys=True).encode(), _SNAPSHOT_AAD)
        sid = hashlib.sha256(stored).hexdigest()
        self.storage.put(f"snapshots/{sid}", stored)
        return sid, len(stored)

    def snapshot_keys(self) -> list[str]:
        return [o.key for o in self.storage.list("snapshots") if len(o.key.rsplit("/", 1)[-1]) == 64]

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot, oldest first (RepositoryCorrupt when one cannot be read: see `verify`)."""
        snaps = [self.load_snapshot(k) for k in self.snapshot_keys()]
        return sorted(snaps, key=lambda s: (s.time, s.id))

    def snapshot(self, id_or_prefix: str) -> Snapshot:
        """The snapshot with this id, or the only one whose id starts with it; `latest` for the newest."""
        if id_or_prefix == "latest":
            snaps = self.snapshots()
            if not snaps:
                raise SnapshotNotFound(f"{self.url}: the repository has no snapshots")
            return snaps[-1]
        keys = [k for k in self.snapshot_keys() if k.rsplit("/", 1)[-1].startswith(id_or_prefix.lower())]
        if not id_or_prefix or not keys:
            raise SnapshotNotFound(f"{self.url}: no snapshot {id_or_prefix!r}")
        if len(keys) > 1:
            raise SnapshotNotFound(f"{self.url}: snapshot prefix {id_or_prefix!r} is ambiguous; give more of it")
        return self.load_snapshot(keys[0])

    def snapshot_at(self, at: datetime) -> Snapshot:
        """The newest snapshot taken at or before `at` (point-in-time restore)."""
        at_utc = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        before = [s for s in self.snapshots() if s.time <= at_utc]
        if not before:
            raise SnapshotNotFound(f"{self.url}: no snapshot at or before {_rfc3339(at_utc)}")
        return before[-1]

    def tree(self, snap: Snapshot) -> Iterator[Entry]:
        """The entries of a snapshot, in stored order."""
        try:
            yield from decode_lines(self.fetch_ordered(snap.tree))
        except RepositoryCorrupt as e:
            problems = [Problem("corrupt_tree", p.object, [snap.id], p.message) for p in e.problems]
            raise RepositoryCorrupt(f"{self.url}: snapshot {snap.short_id}: tree unreadable: {e}", problems) from None
        except ValueError as e:
            raise RepositoryCorrupt(
                f"{self.url}: snapshot {snap.short_id}: tree is not valid: {e}",
                [Problem("corrupt_tree", f"snapshots/{snap.id}", [snap.id], str(e))],
            ) from None

    # -- the work ----------------------------------------------------------------------------------------

    def backup(
        self,
        sources: Sequence[Source],
        *,
        kind: BackupKind,
        meta: Mapping[str, str] | None = None,
        time: datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Snapshot:
        """Store `sources` as a new snapshot (data first, the snapshot object last)."""
        with self.lock(exclusive=False, wait=self.lock_wait):
            return Archiver(self, progress=progress).run(sources, kind=kind, meta=dict(meta or {}), time=time)

    def restore(self, snapshot_id: str, target: str | Any, *, subtree: str = "") -> RestoreReport:
        """Restore the snapshot's files under `subtree` into `target`; nothing lands unless every hash checks."""
        return restorer.restore(self, self.snapshot(snapshot_id), target, subtree=subtree)

    def read_files(self, snapshot_id: str, subtree: str = "config", *, limit: int = 64 << 20) -> dict[str, MemoryFile]:
        """The snapshot's files under `subtree`, in memory, keyed by path relative to it (every hash checked);
        BackupError, before anything is fetched, when they hold more than `limit` bytes."""
        return restorer.read_files(self, self.snapshot(snapshot_id), subtree, limit)

    def verify(self, *, read_data: bool = False) -> VerifyReport:
        """Check snapshots, trees and chunk presence; with `read_data`, read every chunk and check its hash."""
        return checker.verify(self, read_data=read_data)

    def forget(
        self, policy: RetentionPolicy, *, now: datetime | None = None, dry_run: bool = False
    ) -> Selection[Snapshot]:
        """Remove the snapshots `policy` does not keep (restic `forget`); their data goes at the next prune."""
        with self.lock(exclusive=True, wait=self.lock_wait):
            chosen = select(self.snapshots(), policy, now)
            if not dry_run and chosen.remove:
                self.storage.delete([f"snapshots/{s.id}" for s in chosen.remove])
                for s in chosen.remove:
                    self._snapshots.pop(s.id, None)
            return chosen

    def prune(self) -> PruneReport:
        """Delete chunks no snapshot references (exclusive lock: never while a backup runs)."""
        with self.lock(exclusive=True, wait=self.lock_wait):
            self.clear_cache()
            referenced: set[str] = set()
            for snap in self.snapshots():
                referenced.update(c for c, _ in snap.tree)
                for entry in self.tree(snap):
                    referenced.update(c for c, _ in chunk_refs(entry))
            stored = self.stored_chunks()
            unused = {cid: size for cid, size in stored.items() if cid not in referenced}
            self.storage.delete([chunk_key(c) for c in unused])
            log.info("pruned %d chunks (%d bytes) from %s", len(unused), sum(unused.values()), self.url)
            return PruneReport(
                chunks_deleted=len(unused), bytes_freed=sum(unused.values()), chunks_kept=len(stored) - len(unused)
            )
