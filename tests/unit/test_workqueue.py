"""The work queue: per-key de-duplication, no key processed twice at once, re-queue of keys added while
processing, delayed adds, exponential per-item backoff (5 ms doubling to a 1000 s cap), shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from mcpop.apply.runtime.workqueue import ExponentialBackoff, ShutDown, WorkQueue


def test_dedup() -> None:
    q: WorkQueue[str] = WorkQueue()
    for k in ("a", "b", "a", "a"):
        q.add(k)
    assert len(q) == 2
    assert [q.get(0), q.get(0), q.get(0.01)] == ["a", "b", None]


def test_added_while_processing_is_requeued_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert q.get(0) == "a"
    q.add("a")
    assert q.get(0.01) is None  # not handed out while processing
    q.done("a")
    assert q.get(0) == "a"
    q.done("a")
    assert q.get(0.01) is None


def test_backoff_doubles_to_cap_and_forget_resets() -> None:
    b: ExponentialBackoff[str] = ExponentialBackoff()
    delays = [b.when("k") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1000.0 and max(delays) == 1000.0
    assert b.when("other") == 0.005
    b.forget("k")
    assert b.when("k") == 0.005
    assert ExponentialBackoff[str]().failures("x") == 0


def test_rate_limited_add_waits() -> None:
    q: WorkQueue[str] = WorkQueue(ExponentialBackoff(base=0.05))
    q.add_rate_limited("a")
    assert q.get(0.0) is None
    start = time.monotonic()
    assert q.get(1.0) == "a"
    assert time.monotonic() - start >= 0.04
    assert q.num_requeues("a") == 1


def test_add_after_keeps_earliest() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 5)
    q.add_after("a", 0.02)
    q.add_after("a", 10)
    assert q.get(1.0) == "a"


class _Counting:
    def __init__(self) -> None:
        self.adds = self.retries = 0
        self.last_depth = -1

    def added(self) -> None:
        self.adds += 1

    def retried(self) -> None:
        self.retries += 1

    def depth(self, n: int) -> None:
        self.last_depth = n


def test_metrics_hooks() -> None:
    m = _Counting()
    q: WorkQueue[str] = WorkQueue(metrics=m)
    q.add("a")
    q.add("a")
    q.add("b")
    assert (m.adds, m.last_depth) == (2, 2)
    q.add_rate_limited("c")
    assert m.retries == 1


def test_concurrent_workers_never_share_a_key() -> None:
    q: WorkQueue[int] = WorkQueue()
    active: set[int] = set()
    clash = []
    lock = threading.Lock()
    done = []

    def worker() -> None:
        while True:
            try:
                k = q.get()
            except ShutDown:
                return
            assert k is not None
            with lock:
                if k in active:
                    clash.append(k)
                active.add(k)
            time.sleep(0.001)
            with lock:
                active.discard(k)
                done.append(k)
            q.done(k)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for i in range(200):
        q.add(i % 7)
    time.sleep(0.3)
    q.shutdown()
    for t in threads:
        t.join(2)
    assert not clash
    assert set(done) == set(range(7))


def test_shutdown_drains_and_waits_for_in_flight() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    assert q.get(0) == "a"
    q.shutdown()
    with pytest.raises(ShutDown):
        q.get(0)
    q.add("c")  # ignored after shutdown
    assert not q.wait_idle(0.05)  # "a" still in flight
    threading.Timer(0.05, q.done, args=("a",)).start()
    assert q.wait_idle(2)
