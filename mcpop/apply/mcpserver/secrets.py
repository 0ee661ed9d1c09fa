"""The content hashes of the Secrets MCPServers reference, read by name (GET), never listed or watched.

The operator must not hold list/watch on every Secret in the cluster (a token that leaks would read them all
at once): it gets each referenced Secret by name when a server that references it reconciles, and polls the
referenced ones every `--secret-poll-interval` so a changed Secret still rolls its servers' pods. Only a hash
of the data is kept."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mcpop.apply.mcpserver.refs import content_hash
from mcpop.apply.resources import SECRET, ApiError
from mcpop.apply.ssa.manager import KubeAPI

log = logging.getLogger("mcpop.secrets")
Name = tuple[str, str]  # (namespace, name)
ABSENT = ""  # the hash of a Secret that does not exist (or may not be read)


class SecretHashes:
    """(namespace, name) → content hash of referenced Secrets; `changed` is called for each one whose hash a
    poll found different."""

    def __init__(self, kube: KubeAPI, tracked: Callable[[], set[Name]], changed: Callable[[Name], None]) -> None:
        self.kube, self.tracked, self.changed = kube, tracked, changed
        self._hashes: dict[Name, str] = {}
        self._lock = threading.Lock()

    def hash(self, namespace: str, name: str) -> str | None:
        """The Secret's content hash (read now when not known yet); None when it does not exist."""
        with self._lock:
            known = self._hashes.get((namespace, name))
        if known is None:
            known = self._read((namespace, name))
            with self._lock:
                self._hashes[(namespace, name)] = known
        return known or None

    def _read(self, key: Name) -> str:
        try:
            obj = self.kube.get(SECRET, key[0], key[1])
        except ApiError as exc:  # a 403 reads as absent: the pod would not start either
            log.warning("cannot read Secret %s/%s: %s %s", key[0], key[1], exc.status, exc.reason)
            return ABSENT
        return content_hash(obj) if obj is not None else ABSENT

    def poll(self) -> None:
        """Read every tracked Secret again; forget the ones no server references any more."""
        wanted = self.tracked()
        with self._lock:
            for key in set(self._hashes) - wanted:
                del self._hashes[key]
            known = dict(self._hashes)
        for key in sorted(wanted):
            new = self._read(key)
            with self._lock:
                self._hashes[key] = new
            if key in known and known[key] != new:
                self.changed(key)

    def run(self, stop: threading.Event, interval: float) -> None:
        """Poll every `interval` seconds until `stop` is set."""
        while not stop.wait(interval):
            start = time.monotonic()
            try:
                self.poll()
            except Exception:  # a poll that fails is retried at the next interval
                log.exception("polling referenced Secrets failed")
            log.debug("polled referenced Secrets in %.3fs", time.monotonic() - start)
