"""The result of applying an object set, as data (Flux's `ssa.ChangeSet`): one entry per object.

Events, logs, status, the CLI's `--dry-run` and `mcp diff` all read a change set; nothing re-derives what
an apply did from logs or counters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from deepdiff import DeepDiff

Action = Literal["created", "configured", "unchanged", "deleted", "skipped", "conflict", "failed"]
#: actions that changed (or, in a dry run, would change) the cluster
CHANGING: frozenset[str] = frozenset({"created", "configured", "deleted"})
#: fields that always differ between what we send and what is live; never reported as a change
_IGNORED = re.compile(r"^metadata\.(annotations\.mcp\.allbeone\.io/applied-hash|managedFields|resourceVersion)")


@dataclass(frozen=True)
class Change:
    """What applying (or pruning, or skipping) one object did."""

    action: Action
    kind: str
    name: str
    namespace: str = ""
    api_version: str = ""
    #: paths of the fields we set whose live value differed (`spec.template.spec.containers[0].image`)
    fields: tuple[str, ...] = ()
    #: for action == conflict, and for fields taken from another manager: (field, manager) pairs
    conflicts: tuple[tuple[str, str], ...] = ()
    #: why: `missing` / `changed` / `drifted` for applies, the missing API for skips, `ObjectExists: ...` for an
    #: object that is not ours, the API's message for a failed apply
    reason: str = ""

    @property
    def subject(self) -> str:
        """`Kind/name`, as kubectl names objects."""
        return f"{self.kind}/{self.name}"

    def line(self) -> str:
        """One human-readable line: `Deployment/x configured (spec.replicas)`."""
        detail = f" ({', '.join(self.fields)})" if self.fields and self.action == "configured" else ""
        if self.action in ("skipped", "failed") and self.reason:
            detail = f" ({self.reason})"
        return f"{self.subject} {self.action}{detail}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for `-o json` and logs)."""
        out: dict[str, Any] = {"action": self.action, "kind": self.kind, "name": self.name}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.api_version:
            out["apiVersion"] = self.api_version
        if self.fields:
            out["fields"] = list(self.fields)
        if self.conflicts:
            out["conflicts"] = [{"field": f, "manager": m} for f, m in self.conflicts]
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class ChangeSet:
    """The entries of one apply, in the order the objects were applied."""

    entries: list[Change] = field(default_factory=list)

    def add(self, change: Change) -> None:
        self.entries.append(change)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def of(self, *actions: Action) -> list[Change]:
        """The entries whose action is one of `actions`."""
        return [c for c in self.entries if c.action in actions]

    @property
    def changed(self) -> bool:
        """Whether any object was created, configured or deleted."""
        return any(c.action in CHANGING for c in self.entries)

    def summary(self, *actions: Action) -> str:
        """`; `-joined lines of the entries with `actions` (all entries when none are given)."""
        chosen = self.of(*actions) if actions else self.entries
        return "; ".join(c.line() for c in chosen)

    def to_list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.entries]


def _path(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def changed_fields(desired: dict[str, Any], live: dict[str, Any] | None) -> tuple[str, ...]:
    """Paths of the fields `desired` sets whose value `live` does not have (sorted, de-duplicated).

    Fields only `live` has (defaults, other managers' fields, status) are not changes of ours.
    """
    if live is None:
        return ()
    diff = DeepDiff(live, desired, view="tree", ignore_order=False, verbose_level=0)
    paths: set[str] = set()
    for kind in ("values_changed", "type_changes", "dictionary_item_added", "iterable_item_added"):
        for item in diff.get(kind, []):
            path = _path(item.path(output_format="list"))
            if path and not _IGNORED.match(path):
                paths.add(path)
    return tuple(sorted(paths))
