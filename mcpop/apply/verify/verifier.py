"""Verification off the reconcile path: a small bounded pool of probe threads, one probe per server at a
time, re-run when the server rolls out (a new `Target`) and every `interval` seconds. A failed probe is
retried sooner, with backoff (RETRY_BASE doubling up to the interval, or RETRY_MAX): right after a rollout
a Service's endpoints may not be programmed yet, and one early failure must not stand for a whole interval.

The controller calls `check` from its reconcile (never blocks: it returns the latest verdict, or PENDING
while the first probe of a rollout runs); a finished probe whose verdict differs from the last one
enqueues the server again, so the next reconcile writes it to status. `run` is the periodic ticker (a
manager runnable).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from mcpop.apply.verify.probe import AUTH_REQUIRED, FAILURE_REASONS, Verdict, probe, redact

log = logging.getLogger("mcpop.verify")

VERIFY_FAILURES = Counter(
    "mcpop_mcpserver_verify_failures_total", "MCP handshakes with an MCPServer that failed, by reason", ["reason"]
)
VERIFY_DURATION = Histogram(
    "mcpop_mcpserver_verify_duration_seconds", "Time of one MCP handshake with an MCPServer (success or not)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)  # fmt: skip
for _reason in FAILURE_REASONS:
    VERIFY_FAILURES.labels(_reason)

#: seconds before the first retry of a failed probe; doubled per further failure, up to the interval. The first
#: probe of a rollout runs as soon as the Deployment is available, while kube-proxy may still route some
#: connections to the old pod that has just been stopped (measured on the real node: refused, then fine a second
#: later): one second, not five, before it is tried again
RETRY_BASE = 1.0
#: the longest wait between retries of a failing server when periodic re-verification is off (interval 0)
RETRY_MAX = 300.0

#: what `check` returns while the first probe of a rollout runs
PENDING = Verdict("Unknown", "Verifying", "the MCP handshake is under way")

Key = tuple[str, str]
#: (url, transport, timeout, Bearer token or None) -> verdict
ProbeFn = Callable[[str, str, float, str | None], Verdict]


@dataclass(frozen=True)
class Target:
    """What to verify: the in-cluster URL and transport, and what identifies the rollout (a different
    `rollout` discards the last verdict and probes again)."""

    url: str
    transport: str
    rollout: Hashable = None
    #: the audience of the token the handshake sends (the server asks for one: spec.auth); None: no token
    audience: str | None = None


@dataclass
class _Entry:
    target: Target
    verdict: Verdict | None = None
    checked: float = 0.0
    inflight: bool = False
    failures: int = 0  # consecutive failed probes of this target


class Verifier:
    """Probes MCPServers in at most `concurrency` threads, each probe bounded by `timeout` seconds."""

    def __init__(self, concurrency: int, timeout: float, interval: float, *,
                 resolve: Callable[[str], str] | None = None, probe_fn: ProbeFn = probe,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.concurrency = concurrency
        self.timeout = timeout
        self.interval = interval
        #: the in-cluster URL → the URL dialled (identity: the Service's DNS name; tests point it at loopback)
        self.resolve = resolve or (lambda url: url)
        self.enqueue: Callable[[Key], None] | None = None
        self._probe = probe_fn
        #: a token of the operator's ServiceAccount for an audience (the MCPServer controller sets it; None: the
        #: probe sends none)
        self.token: Callable[[str], str | None] | None = None
        self._clock = clock
        self._entries: dict[Key, _Entry] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="mcp-verify")
        self._idle = threading.Condition(self._lock)

    @property
    def enabled(self) -> bool:
        return self.concurrency > 0

    def check(self, key: Key, target: Target) -> Verdict:
        """The latest verdict for `target` (a probe is started when there is none or it is older than the
        interval); PENDING until the first probe of this target finishes. Never blocks."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.target != target:
                entry = self._entries[key] = _Entry(target)
            if not entry.inflight and not self._fresh(entry):
                self._submit(key, entry)
            return entry.verdict or PENDING

    def forget(self, key: Key) -> None:
        """The server is gone: drop its verdict (a probe in flight is discarded when it ends)."""
        with self._lock:
            self._entries.pop(key, None)

    def tick(self) -> int:
        """Start a probe for every server whose verdict is older than the interval; how many started."""
        started = 0
        with self._lock:
            for key, entry in self._entries.items():
                if not entry.inflight and not self._fresh(entry):
                    self._submit(key, entry)
                    started += 1
        return started

    def run(self, stop: threading.Event) -> None:
        """The periodic re-verification and the retries of failed probes (until `stop` is set); with
        interval 0 a verified server is probed again only after a rollout."""
        step = min(RETRY_BASE, max(0.2, self.interval / 10)) if self.interval > 0 else 1.0
        try:
            while not stop.wait(step):
                self.tick()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no probe is in flight (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while any(e.inflight for e in self._entries.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # ------------------------------------------------------------------ internals (under self._lock)

    def retry_after(self, failures: int) -> float:
        """Seconds before a server whose last `failures` probes failed is probed again."""
        cap = self.interval if self.interval > 0 else RETRY_MAX
        return float(min(cap, RETRY_BASE * 2 ** min(failures - 1, 16)))

    def _fresh(self, entry: _Entry) -> bool:
        if entry.verdict is None:
            return False
        age = self._clock() - entry.checked
        if entry.failures:
            return age < self.retry_after(entry.failures)
        return self.interval <= 0 or age < self.interval

    def _submit(self, key: Key, entry: _Entry) -> None:
        entry.inflight = True
        try:
            self._pool.submit(self._run, key, entry.target)
        except RuntimeError:  # shut down: the process is stopping
            entry.inflight = False

    def _run(self, key: Key, target: Target) -> None:
        verdict: Verdict | None = None
        try:
            token = self.token(target.audience) if self.token is not None and target.audience else None
            verdict = self._probe(self.resolve(target.url), target.transport, self.timeout, token)
        except Exception as exc:  # a bug in a probe must not kill the pool's thread or stop re-verifying
            log.exception("MCP probe failed unexpectedly", extra={"url": redact(target.url)})
            verdict = Verdict("False", "ProtocolError", f"{redact(target.url)}: {type(exc).__name__}: {exc}")
        finally:
            changed = False
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry.target == target:
                    entry.inflight = False
                    if verdict is not None:
                        changed = entry.verdict != verdict
                        entry.verdict, entry.checked = verdict, self._clock()
                        entry.failures = 0 if verdict.status == "True" else entry.failures + 1
                self._idle.notify_all()
        if verdict is None:
            return
        VERIFY_DURATION.observe(verdict.duration)
        if verdict.status != "True" and verdict.reason != AUTH_REQUIRED:  # a server behind auth has not failed
            VERIFY_FAILURES.labels(verdict.reason).inc()
        if changed:
            level = logging.INFO if verdict.status == "True" else logging.WARNING
            log.log(level, "MCP verification: %s", verdict.message,
                    extra={"object": f"{key[0]}/{key[1]}", "reason": verdict.reason})  # fmt: skip
            if self.enqueue is not None:
                self.enqueue(key)
