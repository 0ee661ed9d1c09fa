"""An MCPRegistry's catalogue stored in the cluster: one ConfigMap per server entry (name and version).

Each ConfigMap is labelled `mcp.allbeone.io/registry=<registry name>`, owned (controller reference) by the
MCPRegistry, and holds the entry's server.json under the data key `server.json`; its name is
`dns_label(<registry>-<entry name>-<version>)` with a hash of the exact key, so names are DNS-safe,
at most 63 characters and never collide. One object per entry keeps every object far below the 1 MiB
limit whatever the catalogue's size (a server.json is a few KiB). Storing is done only after a complete,
successful sync: a failed or partial sync never touches the stored ConfigMaps.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from mcpop.api.serverjson import ServerJSON
from mcpop.apply.runtime.client import Kube, KubeError, Resource
from mcpop.render.catalog import Catalog
from mcpop.render.names import dns_label, label_value, short_hash

REGISTRY_LABEL = "mcp.allbeone.io/registry"
ENTRY_NAME_ANNOTATION = "mcp.allbeone.io/entry-name"
ENTRY_VERSION_ANNOTATION = "mcp.allbeone.io/entry-version"
DATA_KEY = "server.json"
CONFIGMAP = Resource("", "v1", "ConfigMap", "configmaps", True)
FIELD_MANAGER = "mcpop-registry"


def configmap_name(registry: str, name: str, version: str) -> str:
    """The ConfigMap holding one entry: DNS-safe, ≤ 63 characters, unique per (registry, name, version)."""
    return dns_label(f"{registry}-{name}-{version}", short_hash(f"{registry}\n{name}\n{version}"))


def entry_json(entry: ServerJSON) -> str:
    """The stored text of an entry: its server.json, keys sorted, so equal entries store equal bytes."""
    return json.dumps(entry.wire(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def desired_configmaps(registry: dict[str, Any], entries: Iterable[ServerJSON]) -> list[dict[str, Any]]:
    """The ConfigMaps storing `entries` for the MCPRegistry object `registry`."""
    meta = registry["metadata"]
    reg, ns = meta["name"], meta["namespace"]
    owner = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPRegistry", "name": reg, "uid": meta["uid"],
             "controller": True}  # fmt: skip
    out = []
    for e in sorted(entries, key=lambda e: (e.name, e.version)):
        out.append({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": configmap_name(reg, e.name, e.version),
                "namespace": ns,
                "labels": {REGISTRY_LABEL: label_value(reg), "app.kubernetes.io/managed-by": "mcpop"},
                "annotations": {ENTRY_NAME_ANNOTATION: e.name, ENTRY_VERSION_ANNOTATION: e.version},
                "ownerReferences": [owner],
            },
            "data": {DATA_KEY: entry_json(e)},
        })  # fmt: skip
    return out


def _same(live: dict[str, Any], want: dict[str, Any]) -> bool:
    lm, wm = live.get("metadata") or {}, want["metadata"]
    return (
        (live.get("data") or {}) == want["data"]
        and all((lm.get("labels") or {}).get(k) == v for k, v in wm["labels"].items())
        and all((lm.get("annotations") or {}).get(k) == v for k, v in wm["annotations"].items())
        and any(r.get("uid") == wm["ownerReferences"][0]["uid"] for r in lm.get("ownerReferences") or [])
    )


def stored(kube: Kube, namespace: str, registry: str) -> list[dict[str, Any]]:
    """The ConfigMaps currently storing `registry`'s catalogue (a fresh list, not a cache)."""
    items, _ = kube.list_objects(CONFIGMAP, namespace, f"{REGISTRY_LABEL}={label_value(registry)}")
    return items


def store(kube: Kube, registry: dict[str, Any], entries: Iterable[ServerJSON]) -> tuple[int, int, int]:
    """Make the stored ConfigMaps exactly `entries`: apply the changed ones, delete the stale ones.

    Returns (created or updated, unchanged, deleted). Raises KubeError (the caller retries).
    """
    meta = registry["metadata"]
    ns = meta["namespace"]
    want = desired_configmaps(registry, entries)
    live = {o["metadata"]["name"]: o for o in stored(kube, ns, meta["name"])}
    changed = unchanged = deleted = 0
    for cm in want:
        cur = live.pop(cm["metadata"]["name"], None)
        if cur is not None and _same(cur, cm):
            unchanged += 1
            continue
        kube.apply(CONFIGMAP, cm, force=True, field_manager=FIELD_MANAGER)
        changed += 1
    for name, cur in sorted(live.items()):
        refs = (cur.get("metadata") or {}).get("ownerReferences") or []
        if not any(r.get("uid") == meta["uid"] for r in refs):
            continue  # labelled like ours but not owned by this registry: leave it alone
        try:
            if kube.delete(CONFIGMAP, ns, name, uid=(cur.get("metadata") or {}).get("uid")):
                deleted += 1
        except KubeError as exc:
            if not exc.not_found:
                raise
    return changed, unchanged, deleted


class EntryCache:
    """Parsed entries of stored ConfigMaps, keyed by (namespace, name) and valid for one resourceVersion.

    An entry is re-parsed once it is older than `ttl` seconds (`--cache-server-ttl`); expired entries are
    dropped from memory every `cleanup_interval` seconds (`--cache-cleanup-interval`), checked on use.
    """

    def __init__(self, ttl: float = 300.0, cleanup_interval: float = 1800.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.ttl = ttl
        self.cleanup_interval = cleanup_interval
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[str, float, ServerJSON | None]] = {}
        self._lock = threading.Lock()
        self._cleaned = clock()

    def entry(self, cm: dict[str, Any]) -> ServerJSON | None:
        meta = cm.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        rv = str(meta.get("resourceVersion") or "")
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
            if now - self._cleaned >= self.cleanup_interval:
                self._cleanup(now)
        if hit is not None and hit[0] == rv and rv and now - hit[1] < self.ttl:
            return hit[2]
        parsed = parse_configmap(cm)
        with self._lock:
            self._cache[key] = (rv, now, parsed)
        return parsed

    def _cleanup(self, now: float) -> None:
        """Drop expired entries (the lock is held)."""
        for key in [k for k, (_, at, _e) in self._cache.items() if now - at >= self.ttl]:
            del self._cache[key]
        self._cleaned = now

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._cache.pop((namespace, name), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)


def parse_configmap(cm: dict[str, Any]) -> ServerJSON | None:
    """The entry a stored ConfigMap holds; None if it is not readable (never raises)."""
    text = (cm.get("data") or {}).get(DATA_KEY)
    if not text:
        return None
    try:
        return ServerJSON.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError):  # not written by us, or by an older mcpop: skipped
        return None


def catalog_of(configmaps: Iterable[dict[str, Any]], source: str, cache: EntryCache | None = None) -> Catalog:
    """A Catalog of the entries the stored ConfigMaps hold (unreadable ones skipped)."""
    entries = []
    for cm in configmaps:
        e = cache.entry(cm) if cache is not None else parse_configmap(cm)
        if e is not None:
            entries.append(e)
    return Catalog(entries, source)


__all__ = [
    "CONFIGMAP",
    "DATA_KEY",
    "ENTRY_NAME_ANNOTATION",
    "ENTRY_VERSION_ANNOTATION",
    "REGISTRY_LABEL",
    "EntryCache",
    "catalog_of",
    "configmap_name",
    "desired_configmaps",
    "entry_json",
    "parse_configmap",
    "store",
    "stored",
]
