"""A circuit breaker per host for the operator's fetches (registry APIs, GitHub, image registries).

`failure_threshold` consecutive failures of one host (a connection or timeout error, or an HTTP 5xx answer:
the host is not serving; a 4xx or a rate limit is an answer and closes nothing) open its circuit: every
fetch to it is then refused at once with `CircuitOpen`, without a connection, for `cool_down` seconds.
After that one fetch is let through as a probe (half-open) while the others are still refused; its success
closes the circuit, its failure opens it for another cool-down. A threshold of 0 turns the breaker off.

The state of each host is the gauge `mcpop_circuit_breaker_state{host}` (0 closed, 1 open, 2 half-open).

A small class rather than a library: pybreaker (the well-kept one) holds the breaker's lock for the whole
of a call, so every fetch to one host would wait for the one before it (a slow registry for the whole
`--fetch-timeout`), and it has no notion of a host; here the lock guards only the counters, fetches run in
parallel, and a breaker keys its state by host. The retries of mcpop.sources.retry stay as they are: a
refused fetch is not retried (a sync that meets an open circuit fails at once and says so).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from prometheus_client import REGISTRY, Gauge

from mcpop.sources.errors import SourceError

State = Literal["closed", "open", "half-open"]
STATE_VALUES: dict[State, int] = {"closed": 0, "open": 1, "half-open": 2}


def _gauge() -> Gauge:
    names: dict[str, Any] = getattr(REGISTRY, "_names_to_collectors", {})
    existing = names.get("mcpop_circuit_breaker_state")
    if isinstance(existing, Gauge):
        return existing
    return Gauge("mcpop_circuit_breaker_state", "Circuit breaker state per host: 0 closed, 1 open, 2 half-open",
                 ["host"])  # fmt: skip


STATE = _gauge()


def host_of(url: str) -> str:
    """The host (and port, when one is given) a URL's fetch goes to, lower case and without userinfo."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


class CircuitOpen(SourceError):
    """A fetch refused without a connection: the host's circuit is open after consecutive failures."""

    def __init__(self, host: str, failures: int, retry_in: float) -> None:
        super().__init__(f"{host}: circuit breaker open after {failures} consecutive failures (connection errors, "
                         f"timeouts or HTTP 5xx); not asked again for {retry_in:.0f}s")  # fmt: skip
        self.host = host
        self.retry_in = retry_in


@dataclass
class _Host:
    state: State = "closed"
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False


class CircuitBreaker:
    """Per-host circuits; thread-safe (the lock guards the counters only, never a fetch)."""

    def __init__(self, failure_threshold: int = 5, cool_down: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self.clock = clock
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.failure_threshold > 0

    def state(self, host: str) -> State:
        with self._lock:
            h = self._hosts.get(host)
            return h.state if h is not None else "closed"

    def _set(self, host: str, h: _Host, state: State) -> None:
        h.state = state
        STATE.labels(host).set(STATE_VALUES[state])

    def before(self, host: str) -> None:
        """Let a fetch to `host` through, or raise CircuitOpen. The caller then reports `success` or `failure`."""
        if not self.enabled:
            return
        with self._lock:
            h = self._hosts.get(host)
            if h is None or h.state == "closed":
                return
            left = h.opened_at + self.cool_down - self.clock()
            if h.state == "open" and left <= 0:
                self._set(host, h, "half-open")
                h.probing = True
                return  # this fetch is the probe
            if h.state == "half-open" and not h.probing:
                h.probing = True
                return
            raise CircuitOpen(host, h.failures, max(left, 0.0))

    def success(self, host: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            h = self._hosts.get(host)
            if h is None:
                return
            h.failures, h.probing = 0, False
            if h.state != "closed":
                self._set(host, h, "closed")

    def failure(self, host: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            h = self._hosts.setdefault(host, _Host())
            h.failures += 1
            h.probing = False
            if h.state == "half-open" or (h.state == "closed" and h.failures >= self.failure_threshold):
                h.opened_at = self.clock()
                self._set(host, h, "open")
            elif h.state == "closed":
                STATE.labels(host).set(0)


__all__ = ["STATE", "CircuitBreaker", "CircuitOpen", "host_of"]
