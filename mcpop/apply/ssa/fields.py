"""The fields a field manager applies (its `managedFields` entry, FieldsV1), and a live object cut down to them.

The watch caches of applied objects keep only what reconciles read (controller-runtime's cache transform):
the metadata, the status, the fields mcpop applies, and a few named fields it reads (`Deployment`
`spec.replicas`, set by an autoscaler). The API server's defaults and everything other managers set are
dropped; drift is still seen, because a field another manager takes over leaves our entry (server-side apply
moves its ownership) and so leaves the cut-down copy, which then no longer holds what we want.

FieldsV1 (https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management): a map whose
keys are `f:<name>` (a field), `k:<json>` (the item of a keyed list with those key fields), `v:<json>` (an
item of a set) or `.` (the node itself); a node with no children is a leaf, owned whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]
#: kind → field paths read besides the applied ones
READ_FIELDS: Mapping[str, tuple[tuple[str, ...], ...]] = {"Deployment": (("spec", "replicas"),)}
_TOP = ("apiVersion", "kind", "metadata", "status")


def applied_fields(obj: Obj, manager: str) -> dict[str, Any] | None:
    """The FieldsV1 set `manager` owns in `obj` through apply (not a subresource); None: it owns none."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or ():
        if (isinstance(entry, dict) and entry.get("manager") == manager and entry.get("operation") == "Apply"
                and not entry.get("subresource") and entry.get("fieldsType") == "FieldsV1"):  # fmt: skip
            fields = entry.get("fieldsV1")
            return fields if isinstance(fields, dict) else None
    return None


def project(value: Any, fields: Mapping[str, Any]) -> Any:
    """`value` cut down to the fields of the FieldsV1 node `fields` (a leaf: `value` whole)."""
    children = [(k, sub) for k, sub in fields.items() if k != "." and isinstance(sub, dict)]
    if not children:
        return value
    if isinstance(value, dict):
        return {k[2:]: project(value[k[2:]], sub) for k, sub in children
                if k.startswith("f:") and k[2:] in value}  # fmt: skip
    if isinstance(value, list):
        keyed = [(json.loads(k[2:]), sub) for k, sub in children if k.startswith("k:")]
        values = [json.loads(k[2:]) for k, _ in children if k.startswith("v:")]
        out: list[Any] = []
        for item in value:
            if isinstance(item, dict):
                sub = next((s for key, s in keyed if isinstance(key, dict)
                            and all(item.get(f) == v for f, v in key.items())), None)  # fmt: skip
                if sub is not None:
                    out.append(project(item, sub))
                    continue
            if item in values:
                out.append(item)
        return out
    return value


def _get(obj: Obj, path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _put(obj: Obj, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = obj[part] = {}
        obj = nxt
    obj[path[-1]] = value


def applied_view(obj: Obj, manager: str) -> Obj:
    """`obj` as the cache keeps it: its type, metadata and status, the fields `manager` applied and the
    `READ_FIELDS` of its kind (the metadata shared with `obj`, the rest cut down)."""
    fields = applied_fields(obj, manager)
    out: Obj = {k: obj[k] for k in _TOP if k in obj}
    if fields:
        out.update(project({k: v for k, v in obj.items() if k not in _TOP}, fields))
    for path in READ_FIELDS.get(str(obj.get("kind")), ()):
        found, value = _get(obj, path)
        if found:
            _put(out, path, value)
    return out
