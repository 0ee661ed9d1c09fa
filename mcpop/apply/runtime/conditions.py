"""metav1.Condition helpers shared by every controller: merge with the live conditions, patch status.

Conditions are metav1.Condition-shaped dicts. `lastTransitionTime` changes only when a condition's
status flips; a status equal to the live one yields no patch, so it is never written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE = 32768


def now_rfc3339() -> str:
    """The current time as metav1.Time (RFC 3339, seconds, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Cond:
    """A condition before it is merged with the live one."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str = ""


def merge_conditions(
    old: list[dict[str, Any]] | None,
    new: list[Cond],
    generation: int | None,
    now: str,
    order: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """`new` as metav1.Conditions, sorted by `order` (others after, as given), each keeping the live
    condition's lastTransitionTime unless its status flipped."""
    by_type = {c.get("type"): c for c in old or []}
    out = []
    for c in sorted(new, key=lambda c: order.index(c.type) if c.type in order else len(order)):
        prev = by_type.get(c.type)
        ltt = prev["lastTransitionTime"] if prev and prev.get("status") == c.status else now
        cond: dict[str, Any] = {
            "type": c.type,
            "status": c.status,
            "lastTransitionTime": ltt,
            "reason": c.reason,
            "message": c.message[:MAX_MESSAGE],
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        out.append(cond)
    return out


def get_condition(status: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The condition of type `type_` in `status`, or None."""
    for c in (status or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def status_patch(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any] | None:
    """A JSON merge patch turning status `old` into `new`, or None when they are equal."""
    old = old or {}
    if old == new:
        return None
    patch: dict[str, Any] = dict(new)
    for key in old:
        if key not in new:
            patch[key] = None
    return {"status": patch}
