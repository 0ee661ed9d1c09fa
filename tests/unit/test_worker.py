"""The one worker loop every controller runs under (mcpop.apply.runtime.reconciler)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from mcpop.apply.runtime.reconciler import DONE, Key, Result, TerminalError, reconcile_once, run_worker
from mcpop.apply.runtime.workqueue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Ctl:
    name = "test"

    def __init__(self, outcome: Callable[[Key], Result]) -> None:
        self.outcome = outcome
        self.seen: list[Key] = []

    def informers(self) -> list[object]:
        return []

    def reconcile(self, key: Key) -> Result:
        self.seen.append(key)
        return self.outcome(key)

    def resync(self) -> list[Key]:
        return []


def queue() -> tuple[WorkQueue[Key], Clock]:
    clock = Clock()
    return WorkQueue(clock=clock), clock


def take(q: WorkQueue[Key]) -> Key:
    key = q.get(timeout=0)
    assert key is not None
    return key


def test_a_requeue_after_is_a_delayed_add_not_a_sleep() -> None:
    q, clock = queue()
    ctl = Ctl(lambda key: Result(requeue_after=3600.0))
    q.add(("ns", "a"))
    key = take(q)
    assert reconcile_once(ctl, q, key) == "requeue_after"
    q.done(key)
    assert q.get(timeout=0) is None  # not due yet: the worker is free
    clock.now = 3600.0
    assert q.get(timeout=0) == ("ns", "a")


def test_a_failure_is_retried_with_backoff_and_a_success_resets_it() -> None:
    q, clock = queue()
    fail = [True]

    def outcome(key: Key) -> Result:
        if fail[0]:
            raise RuntimeError("boom")
        return DONE

    ctl = Ctl(outcome)
    q.add(("ns", "a"))
    key = take(q)
    assert reconcile_once(ctl, q, key) == "error"
    q.done(key)
    assert q.num_requeues(key) == 1 and q.get(timeout=0) is None
    clock.now = 10.0
    fail[0] = False
    key = take(q)
    assert reconcile_once(ctl, q, key) == "success"
    assert q.num_requeues(key) == 0


def test_a_terminal_error_is_not_retried() -> None:
    q, clock = queue()

    def outcome(key: Key) -> Result:
        raise TerminalError("bad spec")

    ctl = Ctl(outcome)
    q.add(("ns", "a"))
    key = take(q)
    assert reconcile_once(ctl, q, key) == "error"
    q.done(key)
    clock.now = 1e6
    assert q.get(timeout=0) is None and q.num_requeues(key) == 0


def wait_for(cond: Callable[[], bool]) -> None:
    for _ in range(500):
        if cond():
            return
        threading.Event().wait(0.01)
    raise AssertionError("timed out")


def test_workers_stop_when_the_queue_shuts_down_and_skip_keys_when_not_leading() -> None:
    q: WorkQueue[Key] = WorkQueue()
    ctl = Ctl(lambda key: DONE)
    leading = threading.Event()
    t = threading.Thread(target=run_worker, args=(ctl, q), kwargs={"gate": leading.is_set}, daemon=True)
    t.start()
    q.add(("ns", "dropped"))
    wait_for(lambda: len(q) == 0 and not q.processing())
    leading.set()
    q.add(("ns", "done"))
    wait_for(lambda: bool(ctl.seen))
    q.shutdown()
    t.join(2.0)
    assert not t.is_alive()
    assert ctl.seen == [("ns", "done")]
