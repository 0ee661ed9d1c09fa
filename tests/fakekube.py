"""An in-memory API server for the apply manager's `KubeAPI` and the controllers above it.

It keeps objects by (group-kind, namespace, name), gives them uids and resourceVersions, merges server-side
applies and merge patches, honours delete preconditions and label selectors, and counts writes. Field
ownership is modelled only as far as conflicts go: `own(kind, name, field, manager)` makes a non-forced
apply of that object fail with a 409 FieldManagerConflict naming the field and the manager, as the real
apiserver does. Semantics the real server has beyond that are the cluster tests' business.
"""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any

from mcpop.apply.resources import FIELD_MANAGER, ApiError, Resource

Obj = dict[str, Any]

SERVED = [
    Resource("", "v1", "Namespace", "namespaces", False),
    Resource("", "v1", "ConfigMap", "configmaps"),
    Resource("", "v1", "Secret", "secrets"),
    Resource("", "v1", "Service", "services"),
    Resource("", "v1", "ServiceAccount", "serviceaccounts"),
    Resource("apps", "v1", "Deployment", "deployments"),
    Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    Resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    Resource("batch", "v1", "Job", "jobs"),
    Resource("batch", "v1", "CronJob", "cronjobs"),
    Resource("mcp.allbeone.io", "v1", "MCPServer", "mcpservers"),
    Resource("mcp.allbeone.io", "v1", "MCPRegistry", "mcpregistries"),
    Resource("mcp.allbeone.io", "v1", "MCPServerBackup", "mcpserverbackups"),
]


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): maps merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


class FakeKube:
    """An in-memory API server (thread-safe)."""

    def __init__(self, served: list[Resource] | None = None) -> None:
        self.served = {(r.api_version, r.kind): r for r in (served if served is not None else SERVED)}
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.writes: list[tuple[str, str, str]] = []  # (verb, kind, name)
        self.requests = 0
        self.fail: dict[tuple[str, str], ApiError] = {}  # (kind, name) → the error its next write raises
        self._owned: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._rv = itertools.count(1)
        self._uid = itertools.count(1)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ test set-up

    def put(self, obj: Obj) -> Obj:
        """Store `obj` as another client created it; returns the stored copy."""
        res = self.served[(obj["apiVersion"], obj["kind"])]
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._uid)}")
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[(res.group_kind, meta.get("namespace") or "", meta["name"])] = copy.deepcopy(obj)
        return copy.deepcopy(obj)

    def own(self, kind: str, name: str, field: str, manager: str) -> None:
        """Another field manager owns `field` of `kind/name`: a non-forced apply conflicts on it."""
        self._owned.setdefault((kind, name), []).append((field, manager))

    def stored(self, kind: str, namespace: str, name: str) -> Obj | None:
        for (gk, ns, n), o in self.objects.items():
            if gk.split(".")[0] == kind and ns == namespace and n == name:
                return o
        return None

    # ------------------------------------------------------------------ KubeAPI

    def resource(self, api_version: str, kind: str) -> Resource | None:
        return self.served.get((api_version, kind))

    def preferred_version(self, group: str) -> str | None:
        versions = [r.version for r in self.served.values() if r.group == group]
        return versions[0] if versions else None

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        self.requests += 1
        o = self.objects.get((res.group_kind, namespace or "", name))
        return copy.deepcopy(o) if o is not None else None

    def list_objects(self, res: Resource, namespace: str | None = None,
                     label_selector: str | None = None) -> tuple[list[Obj], str]:  # fmt: skip
        self.requests += 1
        want = dict(p.split("=", 1) for p in (label_selector or "").split(",") if p)
        out = []
        for (gk, ns, _), o in sorted(self.objects.items()):
            labels = (o.get("metadata") or {}).get("labels") or {}
            if (
                gk == res.group_kind
                and (namespace is None or ns == namespace)
                and all(labels.get(k) == v for k, v in want.items())
            ):
                out.append(copy.deepcopy(o))
        return out, str(next(self._rv))

    def _write(self, verb: str, kind: str, name: str) -> None:
        self.requests += 1
        err = self.fail.pop((kind, name), None)
        if err is not None:
            raise err
        self.writes.append((verb, kind, name))

    def apply(self, res: Resource, obj: Obj, *, force: bool, field_manager: str = FIELD_MANAGER,
              dry_run: bool = False, subresource: str | None = None) -> Obj:  # fmt: skip
        meta = obj["metadata"]
        key = (res.group_kind, meta.get("namespace") or "", meta["name"])
        with self._lock:
            owned = self._owned.get((res.kind, meta["name"]))
            if owned and not force:
                self.requests += 1
                causes = [{"reason": "FieldManagerConflict", "field": f, "message": f'conflict with "{m}"'}
                          for f, m in owned]  # fmt: skip
                body = {"message": "Apply failed with conflicts", "details": {"causes": causes}}
                raise ApiError(409, "Conflict", body)
            if dry_run:
                self.requests += 1
                live = self.objects.get(key)
                return _merge(copy.deepcopy(live or {}), obj)
            self._write("apply", res.kind, meta["name"])
            if force and owned:
                del self._owned[(res.kind, meta["name"])]
            live = self.objects.get(key)
            merged = _merge(copy.deepcopy(live or {}), obj)
            merged["metadata"].setdefault("uid", f"uid-{next(self._uid)}")
            merged["metadata"]["resourceVersion"] = str(next(self._rv))
            self.objects[key] = merged
            return copy.deepcopy(merged)

    def merge_patch(self, res: Resource, namespace: str | None, name: str, patch: Obj,
                    subresource: str | None = None) -> Obj:  # fmt: skip
        key = (res.group_kind, namespace or "", name)
        with self._lock:
            self._write("patch" if subresource is None else f"patch/{subresource}", res.kind, name)
            live = self.objects.get(key)
            if live is None:
                raise ApiError(404, "NotFound", {"message": f"{res.kind} {name} not found"})
            want_rv = (patch.get("metadata") or {}).get("resourceVersion")
            if want_rv is not None and want_rv != live["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", {"message": "the object has been modified"})
            patch = copy.deepcopy(patch)
            patch.get("metadata", {}).pop("resourceVersion", None)
            merged = _merge(live, patch)
            merged["metadata"]["resourceVersion"] = str(next(self._rv))
            self.objects[key] = merged
            return copy.deepcopy(merged)

    def delete(self, res: Resource, namespace: str | None, name: str, uid: str | None = None) -> bool:
        key = (res.group_kind, namespace or "", name)
        with self._lock:
            live = self.objects.get(key)
            if live is None or (uid and live["metadata"].get("uid") != uid):
                self.requests += 1
                return False
            self._write("delete", res.kind, name)
            del self.objects[key]
            return True


class FakeCache:
    """A watch cache of one kind over a `FakeKube` (what an `Informer` would hold: the set's members)."""

    def __init__(self, kube: FakeKube, group_kind: str, label: str | None = None) -> None:
        self.kube = kube
        self.group_kind = group_kind
        self.label = label
        self.synced = threading.Event()
        self.synced.set()

    def items(self, namespace: str | None = None) -> list[Obj]:
        out = []
        for (gk, ns, _), o in sorted(self.kube.objects.items()):
            labels = (o.get("metadata") or {}).get("labels") or {}
            if (
                gk == self.group_kind
                and (namespace is None or ns == namespace)
                and (self.label is None or self.label in labels)
            ):
                out.append(copy.deepcopy(o))
        return out

    def get(self, namespace: str, name: str) -> Obj | None:
        return next((o for o in self.items(namespace) if o["metadata"]["name"] == name), None)

    def labelled(self, namespace: str, label: str, value: str) -> list[Obj]:
        return [o for o in self.items(namespace) if ((o.get("metadata") or {}).get("labels") or {}).get(label) == value]
