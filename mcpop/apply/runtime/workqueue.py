"""A work queue like client-go's: per-key de-duplication, delayed adds and per-item exponential backoff.

A key is queued at most once; a key being processed is never handed to a second worker, and a key
added while it is processed is queued again when `done` is called (so no change is lost).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)


class QueueMetrics(Protocol):
    def added(self) -> None: ...
    def retried(self) -> None: ...
    def depth(self, n: int) -> None: ...


class _NoMetrics:
    def added(self) -> None:
        pass

    def retried(self) -> None:
        pass

    def depth(self, n: int) -> None:
        pass


class ExponentialBackoff(Generic[K]):
    """Per-item delay base·2^failures, capped (client-go: 5 ms → 1000 s)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}
        self._lock = threading.Lock()

    def when(self, key: K) -> float:
        """The delay before the next retry of `key`, counting this failure."""
        with self._lock:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
        if n >= 64:
            return self.cap
        return min(self.base * float(2**n), self.cap)

    def forget(self, key: K) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        with self._lock:
            return self._failures.get(key, 0)


class ShutDown(Exception):
    """The queue is shutting down: stop taking work."""


class WorkQueue(Generic[K]):
    """Rate-limited, delaying, de-duplicating work queue."""

    def __init__(
        self,
        backoff: ExponentialBackoff[K] | None = None,
        metrics: QueueMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff: ExponentialBackoff[K] = backoff or ExponentialBackoff()
        self._metrics = metrics or _NoMetrics()
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: list[tuple[float, int, K]] = []  # heap of (ready-at, seq, key)
        self._waiting_at: dict[K, float] = {}
        self._seq = 0
        self._shutting_down = False

    # ---------------------------------------------------------------- adding

    def add(self, key: K) -> None:
        """Queue `key` now (no-op if already queued)."""
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._metrics.added()
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._metrics.depth(len(self._queue))
        self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` after `delay` seconds; an earlier pending time for the same key wins."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down:
                return
            at = self._clock() + delay
            current = self._waiting_at.get(key)
            if current is not None and current <= at:
                return
            self._waiting_at[key] = at
            self._seq += 1
            heapq.heappush(self._waiting, (at, self._seq, key))
            self._cond.notify()

    def add_rate_limited(self, key: K) -> None:
        """Queue `key` after its backoff delay (a failed attempt)."""
        self._metrics.retried()
        self.add_after(key, self.backoff.when(key))

    def forget(self, key: K) -> None:
        """Reset `key`'s backoff (it succeeded, or will not be retried)."""
        self.backoff.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.backoff.failures(key)

    # ---------------------------------------------------------------- taking

    def _promote_locked(self) -> float | None:
        """Move due delayed keys to the queue; return seconds until the next one is due."""
        now = self._clock()
        while self._waiting:
            at, _, key = self._waiting[0]
            if self._waiting_at.get(key) != at:
                heapq.heappop(self._waiting)  # superseded by an earlier time
                continue
            if at > now:
                return at - now
            heapq.heappop(self._waiting)
            del self._waiting_at[key]
            self._add_locked(key)
        return None

    def get(self, timeout: float | None = None) -> K | None:
        """The next key (marked processing), None on timeout. Raises ShutDown once shut down and drained."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                wait = self._promote_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    self._metrics.depth(len(self._queue))
                    return key
                if self._shutting_down:
                    raise ShutDown
                if deadline is not None:
                    left = deadline - self._clock()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def done(self, key: K) -> None:
        """Finish processing `key`; requeue it if it was added meanwhile."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._metrics.depth(len(self._queue))
                self._cond.notify()
            elif self._shutting_down and not self._processing:
                self._cond.notify_all()

    # ---------------------------------------------------------------- lifecycle

    def shutdown(self) -> None:
        """Stop handing out work: queued and delayed keys are dropped, `get` raises ShutDown."""
        with self._cond:
            self._shutting_down = True
            self._queue.clear()
            self._dirty.clear()
            self._waiting.clear()
            self._waiting_at.clear()
            self._metrics.depth(0)
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """After shutdown: wait until no key is being processed; False on timeout."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._processing:
                left = deadline - self._clock()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def processing(self) -> set[K]:
        with self._cond:
            return set(self._processing)
