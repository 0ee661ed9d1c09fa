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
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from mcpop.api.serverjson import ServerJSON
from mcpop.apply.resources import CATALOG_DATA_KEY, CONFIGMAP, MCPREGISTRY, REGISTRY_LABEL
from mcpop.apply.runtime import metrics
from mcpop.apply.ssa.manager import KubeAPI, ListedCache, ResourceManager, SetResult
from mcpop.render.catalog import AmbiguousEntry, Catalog, EntryNotFound
from mcpop.render.errors import RenderError
from mcpop.render.names import dns_label, label_value, short_hash

ENTRY_NAME_ANNOTATION = "mcp.allbeone.io/entry-name"
ENTRY_VERSION_ANNOTATION = "mcp.allbeone.io/entry-version"
DATA_KEY = CATALOG_DATA_KEY
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


def stored(kube: KubeAPI, namespace: str, registry: str) -> list[dict[str, Any]]:
    """The ConfigMaps currently storing `registry`'s catalogue (a fresh list, not a cache)."""
    items, _ = kube.list_objects(CONFIGMAP, namespace, f"{REGISTRY_LABEL}={label_value(registry)}")
    return items


def store(kube: KubeAPI, registry: dict[str, Any], entries: Iterable[ServerJSON]) -> SetResult:
    """Make the stored ConfigMaps exactly `entries` (the registry's ApplySet): apply the changed ones, prune
    the stale ones. Raises the API error that stopped it (the caller retries; nothing was pruned)."""
    meta = registry["metadata"]
    listed = ListedCache(stored(kube, meta["namespace"], meta["name"]))
    manager = ResourceManager(kube, field_manager=FIELD_MANAGER, kinds={"ConfigMap": "v1"},
                              caches=lambda gk: listed if gk == "ConfigMap" else None)  # fmt: skip
    changes = manager.apply_set(MCPREGISTRY, registry, desired_configmaps(registry, entries), policy="force")
    if changes.error is not None:
        raise changes.error
    return changes


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
        #: mcpop_cache_*{cache="server"}
        self.metrics = metrics.CacheMetrics("server")

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
            self.metrics.hit()
            return hit[2]
        self.metrics.miss()
        parsed = parse_configmap(cm)
        with self._lock:
            self._cache[key] = (rv, now, parsed)
            self.metrics.size(len(self._cache))
        return parsed

    def _cleanup(self, now: float) -> None:
        """Drop expired entries (the lock is held)."""
        expired = [k for k, (_, at, _e) in self._cache.items() if now - at >= self.ttl]
        for key in expired:
            del self._cache[key]
        self._cleaned = now
        self.metrics.evicted(len(expired))
        self.metrics.size(len(self._cache))

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            if self._cache.pop((namespace, name), None) is not None:
                self.metrics.evicted()
            self.metrics.size(len(self._cache))

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


@dataclass(frozen=True)
class Resolved:
    """Where `spec.registry` led: the entry (None when it did not resolve) and the RegistryFetched condition."""

    entry: ServerJSON | None
    #: (status, reason, message): True/Fetched, False/NotFound, Ambiguous or RegistryNotReady
    condition: tuple[str, str, str]
    #: why the name did not resolve (NotFound, Ambiguous), naming the field
    error: RenderError | None = None

    @property
    def status(self) -> dict[str, Any] | None:
        """`status.registry`: what was used."""
        e = self.entry
        if e is None:
            return None
        repo = e.repository.url if e.repository else None
        out = {"name": e.name, "version": e.version, "description": e.description, "repository": repo}
        return {k: v for k, v in out.items() if v}


_embedded: Catalog | None = None
_embedded_lock = threading.Lock()


def embedded() -> Catalog:
    """The catalogue shipped with mcpop, loaded once (a failure is a packaging bug, not a bad spec)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            # lazily: the CLI loads this module and needs the embedded catalogue only without a cluster (~45 ms)
            from mcpop.sources.catalog import load_embedded

            _embedded = load_embedded()
        return _embedded


def resolve_entry(name: str, version: str | None, ref: str | None, registry: dict[str, Any] | None,
                  configmaps: Iterable[dict[str, Any]], cache: EntryCache | None = None) -> Resolved:  # fmt: skip
    """The entry `spec.registry` names, as the operator resolves it: from the MCPRegistry `ref` (default
    `default`) of the server's namespace when it exists (`registry`, with the stored ConfigMaps of its
    namespace), else from the embedded catalogue. The operator and `mcp deploy` both resolve with this."""
    ref = ref or "default"
    if registry is None:
        catalog, where = embedded(), "the embedded catalogue"
    else:
        status = registry.get("status") or {}
        if not status.get("lastSyncTime"):
            synced = next((c for c in status.get("conditions") or [] if c.get("type") == "Synced"), None)
            why = f": {synced.get('message')}" if synced and synced.get("message") else ""
            return Resolved(None, ("False", "RegistryNotReady", f"MCPRegistry {ref} has no catalogue yet{why}"))
        want = label_value(ref)
        mine = [cm for cm in configmaps if ((cm.get("metadata") or {}).get("labels") or {}).get(REGISTRY_LABEL) == want]
        catalog, where = catalog_of(mine, f"MCPRegistry {ref}", cache), f"MCPRegistry {ref}"
    try:
        entry = catalog.resolve(name, version)
    except (AmbiguousEntry, EntryNotFound) as exc:
        reason = "Ambiguous" if isinstance(exc, AmbiguousEntry) else "NotFound"
        return Resolved(None, ("False", reason, exc.message), exc)
    return Resolved(entry, ("True", "Fetched", f"{entry.name} {entry.version} from {where}"))


__all__ = [
    "CONFIGMAP",
    "DATA_KEY",
    "ENTRY_NAME_ANNOTATION",
    "ENTRY_VERSION_ANNOTATION",
    "REGISTRY_LABEL",
    "EntryCache",
    "Resolved",
    "catalog_of",
    "configmap_name",
    "desired_configmaps",
    "entry_json",
    "parse_configmap",
    "resolve_entry",
    "store",
    "stored",
]
