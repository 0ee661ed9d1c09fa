"""ApplySet (KEP-3659) bookkeeping for one MCPServer: pure functions.

The MCPServer is the parent. It carries the label `applyset.kubernetes.io/id` and the annotations
`applyset.kubernetes.io/tooling` and `applyset.kubernetes.io/contains-group-kinds`; every object applied
for it carries the label `applyset.kubernetes.io/part-of: <id>`. `kubectl apply --prune --applyset`
understands the same bookkeeping.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

ID_LABEL = "applyset.kubernetes.io/id"
PART_OF_LABEL = "applyset.kubernetes.io/part-of"
TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling"
GROUP_KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds"
TOOLING = "mcpop/v1"
PARENT_KIND = "MCPServer"
PARENT_GROUP = "mcp.allbeone.io"


def applyset_id(name: str, namespace: str, kind: str = PARENT_KIND, group: str = PARENT_GROUP) -> str:
    """`applyset-<base64url(sha256(<name>.<namespace>.<kind>.<group>))>-v1` (KEP-3659), without padding."""
    digest = hashlib.sha256(f"{name}.{namespace}.{kind}.{group}".encode()).digest()
    return f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"


def group_of(api_version: str) -> str:
    """`apps/v1` → `apps`; `v1` → `` (core)."""
    return api_version.rpartition("/")[0]


def group_kind(obj: dict[str, Any]) -> str:
    """`Deployment.apps`, or `ConfigMap` for the core group (the annotation's format)."""
    group = group_of(obj["apiVersion"])
    return f"{obj['kind']}.{group}" if group else obj["kind"]


def split_group_kind(gk: str) -> tuple[str, str]:
    """`Deployment.apps` → (`apps`, `Deployment`); `ConfigMap` → (``, `ConfigMap`)."""
    kind, _, group = gk.partition(".")
    return group, kind


def format_group_kinds(gks: set[str]) -> str:
    return ",".join(sorted(gks))


def parse_group_kinds(value: str | None) -> set[str]:
    return {p.strip() for p in (value or "").split(",") if p.strip()}


def parent_metadata(name: str, namespace: str, group_kinds: set[str], kind: str = PARENT_KIND,
                    group: str = PARENT_GROUP) -> dict[str, Any]:  # fmt: skip
    """The parent's label and annotations for a set holding `group_kinds`."""
    return {
        "labels": {ID_LABEL: applyset_id(name, namespace, kind, group)},
        "annotations": {TOOLING_ANNOTATION: TOOLING, GROUP_KINDS_ANNOTATION: format_group_kinds(group_kinds)},
    }


def parent_needs_update(parent: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether the live parent lacks any of the `wanted` labels/annotations."""
    meta = parent.get("metadata") or {}
    for part in ("labels", "annotations"):
        live = meta.get(part) or {}
        if any(live.get(k) != v for k, v in wanted[part].items()):
            return True
    return False


def live_group_kinds(parent: dict[str, Any]) -> set[str]:
    """The group-kinds the live parent says its set contains."""
    return parse_group_kinds(((parent.get("metadata") or {}).get("annotations") or {}).get(GROUP_KINDS_ANNOTATION))


def mark_member(obj: dict[str, Any], set_id: str) -> dict[str, Any]:
    """`obj` with the part-of label (a copy of its metadata; the rest is shared)."""
    meta = dict(obj["metadata"])
    meta["labels"] = {**(meta.get("labels") or {}), PART_OF_LABEL: set_id}
    return {**obj, "metadata": meta}


def is_member(obj: dict[str, Any], set_id: str) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(PART_OF_LABEL) == set_id
