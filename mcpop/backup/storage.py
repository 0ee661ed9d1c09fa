"""The repository's view of storage: put/get/list/delete of whole objects under one root, through fsspec.

Every call is retried with exponential backoff (tenacity) on transient errors (connection refused or reset,
timeouts, 5xx); rejected credentials and missing buckets are not retried. Errors leave as StorageError
subclasses whose messages name the URL and the operation, with every credential value scrubbed out.
Writes are atomic: object stores replace an object in one PUT; a local directory writes a temporary file
and renames it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity import wait_exponential as _wait_exponential

from mcpop.backup.errors import BucketNotFound, CredentialsError, StorageError

T = TypeVar("T")
log = logging.getLogger("mcpop.backup")

_AUTH_NAMES = re.compile(r"(Authentication|Authorization|Credential|AccessDenied|Forbidden|Signature)", re.I)
_BUGS = (TypeError, AttributeError, AssertionError, NameError, NotImplementedError, KeyError, IndexError)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on storage: attempts, first delay, delay cap, overall deadline."""

    attempts: int = 6
    initial_delay: float = 0.5
    max_delay: float = 15.0
    deadline: float = 120.0


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float | None


class _NotFound(Exception):
    """Internal: the object does not exist."""


def _status(e: BaseException) -> int | None:
    for attr in ("status_code", "status", "code"):
        v = getattr(e, attr, None)
        if isinstance(v, int):
            return v
    resp = getattr(e, "response", None)
    if isinstance(resp, dict):
        v = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return v if isinstance(v, int) else None
    v = getattr(resp, "status_code", None)
    return v if isinstance(v, int) else None


def classify(e: BaseException) -> str:
    """'auth', 'notfound', 'bug' or 'transient'."""
    chain: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for x in chain:
        if isinstance(x, PermissionError) or _status(x) in (401, 403):
            return "auth"
        if _AUTH_NAMES.search(type(x).__name__):
            return "auth"
    if isinstance(e, FileNotFoundError) or _status(e) == 404 or type(e).__name__ == "ResourceNotFoundError":
        return "notfound"
    if isinstance(e, _BUGS):
        return "bug"
    return "transient"


class Storage:
    """Objects under `url` (e.g. `s3://bucket/prefix`), with `storage_options` for the fsspec backend."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None, retry: RetryPolicy | None = None):
        if url.startswith(("gs://", "gcs://")):
            # gcsfs >= 2025.x probes every bucket over gRPC for zonal/hierarchical features (60 s timeout against
            # anything but Google itself); the plain JSON API filesystem is what a backup needs
            os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        import fsspec

        self.url = url.rstrip("/")
        self._secrets = [str(v) for v in _secret_values(storage_options or {}) if len(str(v)) >= 4]
        self.retry = retry or RetryPolicy()
        try:
            fs, root = fsspec.core.url_to_fs(self.url, skip_instance_cache=True, **dict(storage_options or {}))
        except (ImportError, ValueError) as e:
            raise StorageError(f"{self.safe_url}: cannot use this storage: {self._scrub(str(e))}") from None
        self.fs = fs
        _bound_sdk_retries(fs)
        self.root = root.rstrip("/")
        self.local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
        self.bucket = self.root.split("/", 1)[0]

    @property
    def safe_url(self) -> str:
        return re.sub(r"//[^/@]*@", "//", self.url)

    def _scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text.splitlines()[0][:300] if text else text

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def _call(self, op: str, key: str, fn: Callable[[], T]) -> T:
        r = self.retry

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "storage %s %s/%s failed (%s), retry %d in %.1fs",
                op, self.safe_url, key, self._scrub(f"{type(exc).__name__}: {exc}"), state.attempt_number,
                state.next_action.sleep if state.next_action else 0.0,
            )  # fmt: skip

        retrying = Retrying(
            stop=stop_after_attempt(r.attempts) | stop_after_delay(r.deadline),
            wait=_wait_exponential(multiplier=r.initial_delay, max=r.max_delay),
            retry=retry_if_exception(lambda e: classify(e) == "transient"),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except Exception as e:
            kind = classify(e)
            detail = self._scrub(f"{type(e).__name__}: {e}")
            if kind == "notfound":
                raise _NotFound(key) from None
            if kind == "auth":
                raise CredentialsError(
                    f"{self.safe_url}: {op} {key or '/'} was refused: {detail}; check the storage credentials"
                ) from None
            if kind == "bug":
                raise
            raise StorageError(
                f"{self.safe_url}: {op} {key or '/'} failed after {r.attempts} attempts: {detail}"
            ) from None

    # -- operations --------------------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)

        def go() -> None:
            if self.local:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.tmp-{uuid.uuid4().hex[:12]}"
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            else:
                self.fs.pipe_file(path, data)

        try:
            self._call("write", key, go)
        except _NotFound:
            raise BucketNotFound(
                f"{self.safe_url}: bucket or container {self.bucket!r} does not exist; create it first"
            ) from None

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        """The object's bytes, or None when it does not exist; with `limit`, at most `limit + 1` of them are
        read (a ranged read), so a caller sees an object too large without holding all of it."""
        end = None if limit is None else limit + 1

        def go() -> Any:
            if self.local and end is not None:  # read(n) allocates n bytes up front, whatever the file holds
                with open(self._path(key), "rb") as f:
                    return f.read(min(end, os.fstat(f.fileno()).st_size))
            return self.fs.cat_file(self._path(key), start=0, end=end)

        try:
            data = self._call("read", key, go)
        except _NotFound:
            return None
        return bytes(data)

    def delete(self, keys: Iterable[str]) -> None:
        paths = [self._path(k) for k in keys]
        for i in range(0, len(paths), 500):
            batch = paths[i : i + 500]
            with contextlib.suppress(_NotFound):
                self._call("delete", batch[0][len(self.root) + 1 :], lambda b=batch: self._rm(b))  # type: ignore[misc]

    def _rm(self, paths: list[str]) -> None:
        if self.local:
            for p in paths:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
        else:
            self.fs.rm(paths)

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with `prefix/` (recursively)."""
        base = self._path(prefix)

        def go() -> dict[str, Any]:
            if self.local and not os.path.isdir(base):
                return {}
            self.fs.invalidate_cache()
            found: dict[str, Any] = self.fs.find(base, detail=True)
            return found

        try:
            found = self._call("list", prefix, go)
        except _NotFound:
            return []
        out = []
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            key = path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path
            if self.local and ".tmp-" in key.rsplit("/", 1)[-1]:
                continue
            out.append(ObjectInfo(key=key, size=int(info.get("size") or 0), mtime=_mtime(info)))
        return out

    def check_bucket(self) -> None:
        """Fail early with BucketNotFound or CredentialsError rather than on the first write."""
        if self.local:
            os.makedirs(self.root, exist_ok=True)
            return
        try:
            ok = self._call("list", "", lambda: self.fs.exists(self.bucket))
        except _NotFound:
            ok = False
        if not ok:
            raise BucketNotFound(
                f"{self.safe_url}: bucket or container {self.bucket!r} does not exist (or these credentials "
                "cannot see it); create it first"
            )


def _bound_sdk_retries(fs: Any) -> None:
    """The Azure SDK retries each request itself with 15 s+ backoffs (minutes per request against a dead
    server) and adlfs offers no setting for it; keep its retries short and leave the backoff to `RetryPolicy`."""
    pipeline = getattr(getattr(fs, "service_client", None), "_pipeline", None)
    for policy in getattr(pipeline, "_impl_policies", ()) or ():
        if hasattr(policy, "total_retries") and hasattr(policy, "initial_backoff"):
            policy.total_retries = 1
            policy.connect_retries = 1
            policy.read_retries = 1
            policy.initial_backoff = 0.2
            policy.increment_base = 1


def _mtime(info: Mapping[str, Any]) -> float | None:
    for k in ("mtime", "LastModified", "last_modified", "updated", "created"):
        v = info.get(k)
        if v is None:
            continue
        if isinstance(v, (int, float)):
            return float(v)
        ts = getattr(v, "timestamp", None)
        if callable(ts):
            return float(ts())
        if isinstance(v, str):
            from datetime import datetime

            try:
                return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _secret_values(options: Mapping[str, Any]) -> Iterable[Any]:
    for k, v in options.items():
        if isinstance(v, Mapping):
            yield from _secret_values(v)
        elif isinstance(v, str) and re.search(r"(secret|key|token|password|connection|credential|sas)", k, re.I):
            yield v
            # connection strings carry the key inside: scrub its parts too
            for part in v.split(";"):
                if "=" in part:
                    yield part.split("=", 1)[1]
