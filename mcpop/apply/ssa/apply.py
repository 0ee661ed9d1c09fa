"""Server-side apply of one object, skipped when the live object already matches; the outcome as a `Change`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mcpop.apply.resources import FIELD_MANAGER, ApiError, Resource
from mcpop.apply.ssa.changeset import Change, changed_fields
from mcpop.apply.ssa.drift import needs_apply

Action = Literal["created", "configured", "unchanged", "conflict"]
#: what to do when another field manager owns a field we set with a different value: take it (`force`, what
#: the server-side apply docs tell controllers to do) or leave it and report the conflict (`report`)
ConflictPolicy = Literal["force", "report"]


class Applier(Protocol):
    """What applying one object needs of a client."""

    def apply(self, res: Resource, obj: dict[str, Any], *, force: bool, field_manager: str = FIELD_MANAGER,
              dry_run: bool = False) -> dict[str, Any]: ...  # fmt: skip


_CONFLICT = re.compile(r'conflict with "(?P<manager>[^"]+)"(?: using (?P<gv>\S+))?\s*:?\s*(?P<field>\S+)?')


@dataclass
class ApplyResult:
    """What applying one object did."""

    action: Action
    kind: str
    name: str
    live: dict[str, Any] | None = None
    #: for action == conflict: (field, manager) pairs
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    why: str | None = None
    #: the fields we set whose live value differed
    fields: tuple[str, ...] = ()
    namespace: str = ""
    api_version: str = ""
    #: for a forced apply: the (field, manager) pairs taken from other managers
    taken: list[tuple[str, str]] = field(default_factory=list)

    @property
    def change(self) -> Change:
        """This result as a change-set entry."""
        return Change(self.action, self.kind, self.name, self.namespace, self.api_version, self.fields,
                      tuple(self.conflicts or self.taken), self.why or "")  # fmt: skip


def parse_conflicts(exc: ApiError) -> list[tuple[str, str]]:
    """(field, manager) pairs from a 409 apply conflict's Status causes."""
    out: list[tuple[str, str]] = []
    for cause in exc.causes:
        msg = str(cause.get("message") or "")
        m = _CONFLICT.search(msg)
        manager = m.group("manager") if m else "unknown"
        fld = str(cause.get("field") or (m.group("field") if m and m.group("field") else "?"))
        out.append((fld, manager))
    if not out:
        m = _CONFLICT.search(exc.message)
        out.append((m.group("field") or "?" if m else "?", m.group("manager") if m else "unknown"))
    return out


def _is_apply_conflict(exc: ApiError) -> bool:
    """A 409 from server-side apply because another manager owns fields (not a resourceVersion clash)."""
    if not exc.conflict:
        return False
    return any(c.get("reason") == "FieldManagerConflict" for c in exc.causes) or "conflict with" in exc.message


def apply_if_needed(kube: Applier, res: Resource, desired: dict[str, Any], live: dict[str, Any] | None, *,
                    policy: ConflictPolicy = "force", field_manager: str = FIELD_MANAGER) -> ApplyResult:  # fmt: skip
    """Apply `desired` unless `live` already matches it.

    The apply is sent without force first. A 409 conflict means another field manager owns a field we set
    with a different value: under `policy="force"` the apply is sent again with force and the fields taken
    are returned in `taken` (the apiserver's own conflict report: exactly the fields whose ownership moves,
    without keeping every object's managedFields in memory); under `"report"` nothing is written and the
    result is a `conflict` naming fields and managers. Only the rare conflicting apply costs a second request.
    """
    kind, name = desired["kind"], desired["metadata"]["name"]
    ns, av = desired["metadata"].get("namespace") or "", desired["apiVersion"]
    why = needs_apply(desired, live)
    if why is None:
        return ApplyResult("unchanged", kind, name, live, namespace=ns, api_version=av)
    fields = changed_fields(desired, live)
    taken: list[tuple[str, str]] = []
    try:
        out = kube.apply(res, desired, force=False, field_manager=field_manager)
    except ApiError as exc:
        if not _is_apply_conflict(exc):
            raise
        pairs = parse_conflicts(exc)
        if policy == "report":
            return ApplyResult("conflict", kind, name, live, pairs, why, fields, ns, av)
        out = kube.apply(res, desired, force=True, field_manager=field_manager)
        taken = pairs
    out.setdefault("apiVersion", desired["apiVersion"])
    out.setdefault("kind", kind)
    action: Action = "created" if live is None else "configured"
    return ApplyResult(action, kind, name, out, why=why, fields=fields, namespace=ns, api_version=av, taken=taken)
