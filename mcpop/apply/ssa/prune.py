"""Which live objects to delete: members of our ApplySet that are no longer rendered. Pure.

Only objects carrying our `applyset.kubernetes.io/part-of` label AND applied by field manager `mcpop`
are candidates; whatever another manager created is never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcpop.apply.runtime.client import FIELD_MANAGER
from mcpop.apply.ssa.applyset import is_member

ObjKey = tuple[str, str, str]  # (group-kind, namespace, name)


def managed_by(obj: dict[str, Any], manager: str = FIELD_MANAGER) -> bool:
    """Whether `manager` server-side applied (part of) `obj`."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            return True
    return False


def obj_key(group_kind: str, obj: dict[str, Any]) -> ObjKey:
    meta = obj.get("metadata") or {}
    return group_kind, meta.get("namespace") or "", meta.get("name") or ""


def prune_candidates(
    live: Iterable[tuple[str, dict[str, Any]]], desired: set[ObjKey], set_id: str, owner_uid: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The (group-kind, object) pairs of `live` to delete: members of set `set_id`, applied by us, not
    desired. With `owner_uid`, an object whose controller is some other object is kept too."""
    out = []
    for gk, obj in live:
        if obj_key(gk, obj) in desired or not is_member(obj, set_id) or not managed_by(obj):
            continue
        if owner_uid is not None:
            refs = (obj.get("metadata") or {}).get("ownerReferences") or []
            controllers = [r for r in refs if r.get("controller")]
            if controllers and all(r.get("uid") != owner_uid for r in controllers):
                continue
        out.append((gk, obj))
    return out
