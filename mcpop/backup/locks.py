"""Repository locks, as restic's: `locks/<id>` objects, shared for backups, exclusive for forget and prune.

A lock is taken by writing it and then listing the others: a writer that finds a conflicting live lock
removes its own and waits or fails, so a prune and a backup can never both proceed (whichever writes second
sees the first). A lock is refreshed (rewritten) every `REFRESH` seconds while held, and a lock not refreshed
for `STALE` seconds is stale (its holder died) and ignored.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from types import TracebackType

from mcpop.backup.errors import RepositoryLocked
from mcpop.backup.storage import Storage

STALE = 30 * 60.0
REFRESH = 5 * 60.0


@dataclass(frozen=True)
class LockInfo:
    key: str
    exclusive: bool
    time: float
    hostname: str
    pid: int

    def describe(self) -> str:
        kind = "exclusive" if self.exclusive else "shared"
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time))
        return f"{kind} lock by {self.hostname} pid {self.pid} since {when}"


class Lock:
    """Context manager holding a lock on the repository at `storage`."""

    def __init__(self, storage: Storage, *, exclusive: bool, wait: float = 0.0):
        self.storage = storage
        self.exclusive = exclusive
        self.wait = wait
        self.key = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        key = f"locks/{uuid.uuid4().hex}"
        doc = {"time": time.time(), "exclusive": self.exclusive, "hostname": socket.gethostname(), "pid": os.getpid()}
        self.storage.put(key, json.dumps(doc).encode())
        old, self.key = self.key, key
        if old:
            self.storage.delete([old])

    def _others(self) -> list[LockInfo]:
        out = []
        for obj in self.storage.list("locks"):
            if obj.key == self.key:
                continue
            raw = self.storage.get(obj.key)
            if raw is None:
                continue
            try:
                d = json.loads(raw)
                info = LockInfo(obj.key, bool(d["exclusive"]), float(d["time"]), str(d["hostname"]), int(d["pid"]))
            except (ValueError, KeyError, TypeError):
                continue
            out.append(info)
        return out

    def __enter__(self) -> Lock:
        deadline = time.monotonic() + self.wait
        while True:
            self._write()
            now = time.time()
            others = self._others()
            stale = [o for o in others if now - o.time > STALE]
            live = [o for o in others if now - o.time <= STALE]
            conflict = [o for o in live if self.exclusive or o.exclusive]
            if not conflict:
                if self.exclusive and stale:
                    self.storage.delete([o.key for o in stale])
                break
            self.storage.delete([self.key])
            self.key = ""
            if time.monotonic() >= deadline:
                raise RepositoryLocked(
                    f"{self.storage.safe_url}: repository is locked ({conflict[0].describe()}); "
                    "try again when it finishes (a lock not refreshed for 30 minutes is ignored)"
                )
            time.sleep(min(5.0, max(0.2, deadline - time.monotonic())))
        self._thread = threading.Thread(target=self._refresh, name="backup-lock-refresh", daemon=True)
        self._thread.start()
        return self

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH):
            try:
                self._write()
            except Exception:  # a failed refresh is retried next round; the lock goes stale only after STALE
                continue

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self.key:
            try:
                self.storage.delete([self.key])
            except Exception:
                if et is None:
                    raise
        self.key = ""
