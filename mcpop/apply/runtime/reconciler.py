"""What a controller is to the manager, what a reconcile returns, and the one worker loop that runs every
controller (controller-runtime's shape).

A controller names itself, lists the informers it reads (started and synced before its first reconcile),
reconciles one key at a time and says which keys a periodic resync revisits. `reconcile` returns a
`Result`, raises `TerminalError` when the object cannot be reconciled as it is (not retried until it
changes), and raises anything else to be retried with per-key exponential backoff. A reconcile never
sleeps to wait for something (a rate limit, a rollout): it returns `Result(requeue_after=...)`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mcpop.apply.runtime import metrics
from mcpop.apply.runtime.logs import reconcile_context
from mcpop.apply.runtime.workqueue import ShutDown, WorkQueue
from mcpop.errors import McpopError

if TYPE_CHECKING:
    from mcpop.apply.runtime.informer import Informer

log = logging.getLogger("mcpop.worker")

#: a work item: (namespace, name)
Key = tuple[str, str]


class TerminalError(McpopError):
    """The object cannot be reconciled as it is; recorded in status and not retried until it changes."""


class ReconcileTimeout(McpopError):
    """The reconcile ran past RECONCILE_TIMEOUT; it is retried with backoff."""


@dataclass(frozen=True)
class Result:
    """What the worker does next with the key: nothing, or requeue after a delay (seconds)."""

    requeue_after: float | None = None


DONE = Result()


class Controller(Protocol):
    """A reconciler the manager runs (see `mcpop.apply.runtime.manager.Registration`)."""

    #: the controller's name: the `controller` label of its metrics and its work queue's name
    name: str

    def informers(self) -> Sequence[Informer]:
        """The caches it reads: started and synced before its workers take the first key."""
        ...

    def reconcile(self, key: Key) -> Result:
        """Bring the object `key` names to its desired state (see the module docstring for errors)."""
        ...

    def resync(self) -> Iterable[Key]:
        """The keys to reconcile again every `--sync-period` (may be empty)."""
        ...


def reconcile_once(controller: Controller, queue: WorkQueue[Key], key: Key, *, correlation: bool = True) -> str:
    """Reconcile `key` and requeue it as the outcome says; returns the metrics result label."""
    name = controller.name
    start = time.monotonic()
    result = "success"
    with reconcile_context(f"{key[0]}/{key[1]}", None, correlation):
        try:
            res = controller.reconcile(key)
            queue.forget(key)
            if res.requeue_after is not None:
                result = "requeue_after"
                queue.add_after(key, res.requeue_after)
        except TerminalError:
            result = "error"
            metrics.TERMINAL_ERRORS.labels(name).inc()
            metrics.RECONCILE_ERRORS.labels(name).inc()
            queue.forget(key)
        except Exception as exc:  # the worker loop's boundary: any other failure is retried with backoff
            result = "error"
            metrics.RECONCILE_ERRORS.labels(name).inc()
            attempt = queue.num_requeues(key) + 1
            if isinstance(exc, ReconcileTimeout):
                log.warning("reconcile timed out, retrying: %s", exc)
            else:
                log.warning("reconcile failed, retrying (attempt %d): %s", attempt, exc,
                            exc_info=log.isEnabledFor(logging.DEBUG), extra={"controller": name})  # fmt: skip
            queue.add_rate_limited(key)
        finally:
            elapsed = time.monotonic() - start
            metrics.RECONCILE_TIME.labels(name).observe(elapsed)
            metrics.RECONCILE_TOTAL.labels(name, result).inc()
            log.debug("reconciled in %.3fs (%s)", elapsed, result, extra={"controller": name})
    return result


def run_worker(controller: Controller, queue: WorkQueue[Key], *, gate: Callable[[], bool] = lambda: True,
               correlation: bool = True) -> None:  # fmt: skip
    """One worker: take keys from `queue` and reconcile them until the queue shuts down.

    `gate` is checked before each key (leadership): when it is False the key is dropped unreconciled
    (the manager is exiting after losing the lease).
    """
    active = metrics.ACTIVE_WORKERS.labels(controller.name)
    while True:
        try:
            key = queue.get()
        except ShutDown:
            return
        if key is None:
            continue
        try:
            if not gate():
                continue
            active.inc()
            try:
                reconcile_once(controller, queue, key, correlation=correlation)
            finally:
                active.dec()
        finally:
            queue.done(key)
