"""What a reconcile returns to the worker loop, and the errors that steer it (controller-runtime's shape)."""

from __future__ import annotations

from dataclasses import dataclass

#: a work item: (namespace, name)
Key = tuple[str, str]


class TerminalError(Exception):
    """The spec cannot be reconciled as it is; recorded in status and not retried until it changes."""


class ReconcileTimeout(Exception):
    """The reconcile ran past RECONCILE_TIMEOUT; it is retried with backoff."""


@dataclass(frozen=True)
class Result:
    """What the worker does next with the key: nothing, or requeue after a delay."""

    requeue_after: float | None = None


DONE = Result()
