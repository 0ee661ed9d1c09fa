"""Waiting with progress, like `kubectl rollout status`: on a terminal one line redrawn in place, otherwise a
plain line whenever the state changes. Timeouts and stalls end with the blocking condition's message."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from mcpop.apply.resources import MCPSERVER
from mcpop.cli import output as out
from mcpop.cli.kube import Client, ClusterError

POLL = 0.5


class WaitFailed(ClusterError):
    """The wait timed out or can never succeed: one line, exit 1."""


class Progress:
    """Shows the latest state: redrawn in place on a TTY, one line per change otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        if text == self.last:
            return
        self.last = text
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.last:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def blocking(obj: dict[str, Any]) -> str:
    """What keeps an MCPServer from being Ready: the Ready condition's reason and message, or why no
    status yet."""
    st = obj.get("status") or {}
    gen = (obj.get("metadata") or {}).get("generation")
    if not st:
        return "the operator has not reported a status yet (is it running?)"
    if gen is not None and st.get("observedGeneration") is not None and st["observedGeneration"] < gen:
        return f"the operator has not observed generation {gen} yet"
    ready = out.condition(obj, "Ready")
    if ready is None:
        return "no Ready condition yet"
    return f"{ready.get('reason')}: {ready.get('message')}" if ready.get("message") else str(ready.get("reason"))


def is_ready(obj: dict[str, Any]) -> bool:
    st = obj.get("status") or {}
    gen = (obj.get("metadata") or {}).get("generation")
    ready = out.condition(obj, "Ready")
    observed = gen is None or (st.get("observedGeneration") or 0) >= gen
    return observed and ready is not None and ready.get("status") == "True"


def stalled(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The Stalled=True condition of the current generation (the operator will not retry), if any."""
    st = obj.get("status") or {}
    gen = (obj.get("metadata") or {}).get("generation")
    c = out.condition(obj, "Stalled")
    if c is None or c.get("status") != "True":
        return None
    if gen is not None and (st.get("observedGeneration") or 0) < gen:
        return None
    return c


def wait_ready(client: Client, namespace: str, name: str, timeout: float, progress: Progress | None = None,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
               ) -> dict[str, Any]:  # fmt: skip
    """Poll until the MCPServer is Ready for its current generation; WaitFailed on timeout or stall."""
    progress = progress or Progress()
    deadline = clock() + timeout
    obj: dict[str, Any] = {}
    try:
        while True:
            got = client.get(MCPSERVER, namespace, name)
            if got is None:
                raise WaitFailed(f'MCPServer "{name}" was deleted while waiting for it to become Ready', 404)
            obj = got
            if is_ready(obj):
                progress.done()
                return obj
            stuck = stalled(obj)
            if stuck is not None:
                raise WaitFailed(f"mcpserver/{name} cannot become Ready: {stuck.get('reason')}: {stuck.get('message')}")
            progress.show(f"Waiting for mcpserver/{name}: {out.replicas(obj)} replicas ready; {blocking(obj)}")
            if clock() >= deadline:
                raise WaitFailed(f"timed out after {out.human_duration(timeout)} waiting for mcpserver/{name} "
                                 f"to become Ready: {blocking(obj)}")  # fmt: skip
            sleep(POLL)
    finally:
        progress.done()
