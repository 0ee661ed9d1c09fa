"""core/v1 Events about MCPServers, sent from a background thread so reconciles never wait on them."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import uuid
from typing import Any

from mcpop.apply.resources import Resource
from mcpop.apply.runtime.client import Kube, KubeError
from mcpop.apply.runtime.conditions import now_rfc3339

log = logging.getLogger("mcpop.events")
COMPONENT = "mcpop"
EVENT = Resource("", "v1", "Event", "events", True)


class EventRecorder:
    def __init__(self, kube: Kube, max_pending: int = 1000) -> None:
        self.kube = kube
        self.instance = socket.gethostname()
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue(max_pending)
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def record(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Queue an Event (`type_` Normal or Warning) about `involved`; dropped when the queue is full."""
        meta = involved.get("metadata") or {}
        now = now_rfc3339()
        ev = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}", "namespace": meta.get("namespace")},
            "involvedObject": {"apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
                               "name": meta.get("name"), "namespace": meta.get("namespace"),
                               "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")},
            "type": type_, "reason": reason, "message": message[:1024],
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "reportingInstance": self.instance, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }  # fmt: skip
        try:
            self._q.put_nowait(ev)
        except queue.Full:
            log.warning("event queue full, dropping event", extra={"reason": reason})

    def _run(self) -> None:
        while True:
            ev = self._q.get()
            if ev is None:
                return
            try:
                self.kube.create(EVENT, ev["metadata"]["namespace"], ev)
            except (KubeError, OSError) as exc:
                log.debug("could not record event: %s", exc)
            except Exception:
                log.exception("could not record event")

    def flush(self, timeout: float = 5.0) -> None:
        """Stop after sending what is queued (waits up to `timeout`)."""
        try:
            self._q.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
