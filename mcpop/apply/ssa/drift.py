"""Is an object already as we want it? Decides when an apply can be skipped (zero-write steady state).

Two checks, both against the live object (from the watch cache), no request needed:
* the hash annotation: the hash of what we last applied equals the hash of what we would apply now
  (catches fields we stopped setting, which a subset check cannot see);
* every field we set has the same value live (catches changes made by others, and objects deleted and
  recreated). The apiserver adds defaults, so "same" means "desired is a subset of live", with
  quantities compared by value (`0.5` equals `500m`). Only unset fields (null, empty lists and maps)
  may be absent live; `false`, `0` and `""` are values and must be there.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mcpop.api.base import quantity_value

HASH_ANNOTATION = "mcp.allbeone.io/applied-hash"


def object_hash(obj: dict[str, Any]) -> str:
    """A stable hash of an object's content, ignoring the hash annotation itself."""
    meta = dict(obj.get("metadata") or {})
    ann = {k: v for k, v in (meta.get("annotations") or {}).items() if k != HASH_ANNOTATION}
    meta["annotations"] = ann
    body = {**obj, "metadata": meta}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def with_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` carrying its own hash in an annotation (metadata copied, the rest shared)."""
    meta = dict(obj["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), HASH_ANNOTATION: object_hash(obj)}
    return {**obj, "metadata": meta}


def _empty(value: Any) -> bool:
    """Unset: null, or an empty list or map (which the apiserver omits for `omitempty` fields).

    `false`, `0` and `""` are values: a live object without them has lost them (someone removed
    `allowPrivilegeEscalation: false`), which is drift to repair, not a field that is not ours to check.
    """
    return value is None or value == {} or value == []


def _scalar_equal(want: Any, have: Any) -> bool:
    if want == have:
        return True
    if isinstance(want, bool) or isinstance(have, bool):
        return False
    if isinstance(want, str | int | float) and isinstance(have, str | int | float):
        try:
            return quantity_value(str(want)) == quantity_value(str(have))
        except ValueError:
            return False
    return False


def is_subset(want: Any, have: Any) -> bool:
    """Every field of `want` is present in `have` with an equal value (lists: same length, in order)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return _empty(want) and _empty(have)
        for key, value in want.items():
            if key not in have:
                if _empty(value):
                    continue
                return False
            if not is_subset(value, have[key]):
                return False
        return True
    if isinstance(want, list):
        if not isinstance(have, list):
            return _empty(want) and _empty(have)
        if len(want) == len(have) and all(is_subset(w, h) for w, h in zip(want, have, strict=True)):
            return True
        merge_key = _merge_key(want)
        if merge_key is None:
            return False
        # a keyed list (env, ports, ownerReferences...): others may own more items; ours must be there
        live = {_item_key(h, merge_key): h for h in have if isinstance(h, dict)}
        return all(is_subset(w, live.get(_item_key(w, merge_key))) for w in want)
    return _scalar_equal(want, have)


_MERGE_KEYS = (("uid",), ("name",), ("containerPort", "protocol"), ("port", "protocol"), ("mountPath",),
               ("type",), ("key",))  # fmt: skip


def _merge_key(items: list[Any]) -> tuple[str, ...] | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in _MERGE_KEYS:
        if all(key[0] in i for i in items):
            return key
    return None


def _item_key(item: dict[str, Any], key: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(item.get(k, "TCP" if k == "protocol" else None) for k in key)


def needs_apply(desired: dict[str, Any], live: dict[str, Any] | None) -> str | None:
    """Why `desired` (carrying its hash annotation) must be applied over `live`; None when it need not."""
    if live is None:
        return "missing"
    want_hash = ((desired.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    have_hash = ((live.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if want_hash != have_hash:
        return "changed"
    for key, value in desired.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if not is_subset(value, live.get(key)):
            return "drifted"
    return None
