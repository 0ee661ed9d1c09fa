"""A thin JSON client over the official Kubernetes client: config loading, discovery with caching,
and the few verbs the operator needs. Every request goes through `Kube.request`, which counts it.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.watch.watch import iter_resp_lines

from mcpop.apply.resources import FIELD_MANAGER, ApiError, Resource, preferred_version
from mcpop.errors import McpopError

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: what a request raises when the API server cannot be reached or the connection breaks (never a bug)
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException)


class KubeError(ApiError):
    """A failed API request of the operator's client: also the method and path it was."""

    def __init__(self, status: int, reason: str, body: dict[str, Any] | None = None, method: str = "",
                 path: str = "") -> None:  # fmt: skip
        self.method = method
        self.path = path
        body = body or {}
        super().__init__(status, reason, body, f"{method} {path}: {status} {body.get('message') or reason}")


#: a failed request: an error answer, or no answer at all
API_ERRORS: tuple[type[BaseException], ...] = (KubeError, *TRANSPORT_ERRORS)


class KubeconfigError(McpopError):
    """The cluster configuration could not be loaded; the message is one line naming the file."""


#: "there is no cluster to talk to": no configuration loads, or the API server does not answer
NO_CLUSTER_ERRORS: tuple[type[BaseException], ...] = (KubeconfigError, *TRANSPORT_ERRORS)


def _kubeconfig_problem(path: str, exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) or (not os.path.exists(path)):
        return "no such file"
    if isinstance(exc, IsADirectoryError) or os.path.isdir(path):
        return "is a directory, not a kubeconfig file"
    if isinstance(exc, yaml.YAMLError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"not valid YAML ({first})"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return " ".join(str(exc).split()) or type(exc).__name__


def load_api_client(kubeconfig: str | None = None, context: str | None = None, pool_size: int = 32) -> k8s.ApiClient:
    """An ApiClient from `kubeconfig`, else the in-cluster service account, else the default kubeconfig.
    `pool_size` connections are kept (watches hold one each; workers share the rest).

    Raises KubeconfigError (one line: the file and what is wrong with it) when no configuration loads.
    """
    cfg = k8s.Configuration()
    cfg.connection_pool_maxsize = pool_size
    path = kubeconfig or os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
    try:
        if kubeconfig:
            k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            except k8s_config.ConfigException:
                k8s_config.load_kube_config(context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError, yaml.YAMLError) as exc:
        where = f"--kubeconfig {kubeconfig}" if kubeconfig else f"not in a cluster, and kubeconfig {path}"
        raise KubeconfigError(f"{where}: {_kubeconfig_problem(path, exc)}") from None
    return k8s.ApiClient(configuration=cfg)


RequestHook = Callable[[str, str], None]


def _resource_of(path: str) -> str:
    """The plural resource a request path is about (for metrics): `/api/v1/namespaces/x/pods/y` → pods."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if parts[:1] == ["api"]:
        parts = parts[2:]
    elif parts[:1] == ["apis"]:
        parts = parts[3:]
    if len(parts) >= 2 and parts[0] == "namespaces" and len(parts) > 2:
        parts = parts[2:]
    return parts[0] if parts else "discovery"


class Kube:
    """The operator's view of the API server."""

    def __init__(self, api_client: k8s.ApiClient, *, request_timeout: float = 30.0,
                 on_request: RequestHook | None = None, discovery_ttl: float = 30.0) -> None:  # fmt: skip
        self.api_client = api_client
        self.request_timeout = request_timeout
        self.on_request = on_request
        self.discovery_ttl = discovery_ttl
        self._gv: dict[str, tuple[float, dict[str, Resource] | None]] = {}
        self._gv_lock = threading.Lock()

    # ------------------------------------------------------------------ transport

    def _send(self, method: str, path: str, query: Iterable[tuple[str, Any]] = (), body: Any = None,
              content_type: str | None = None, timeout: float | None = None,
              accept: str = "application/json") -> Any:  # fmt: skip
        headers = {"Accept": accept}
        payload = None
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            if headers["Content-Type"].endswith("json"):
                # the REST client serialises JSON bodies itself (and needs a list for JSON Patch)
                payload = json.loads(body) if isinstance(body, str) else body
            else:
                payload = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        q = [(k, v) for k, v in query if v is not None]
        m, url, hdrs, _, _ = self.api_client.param_serialize(
            method, path, query_params=q or None, header_params=headers, auth_settings=["BearerToken"]
        )
        verb = "WATCH" if method == "GET" and any(k == "watch" for k, _ in q) else method
        if self.on_request is not None:
            self.on_request(verb, _resource_of(path))
        return self.api_client.call_api(
            m, url, header_params=hdrs, body=payload, _request_timeout=timeout or self.request_timeout
        )

    def request(self, method: str, path: str, query: Iterable[tuple[str, Any]] = (), body: Any = None,
                content_type: str | None = None, timeout: float | None = None,
                accept: str = "application/json") -> dict[str, Any]:  # fmt: skip
        """One request; the decoded JSON response (`accept`: a JSON media type, such as the JWKS's). Raises
        KubeError for a non-2xx status."""
        resp = self._send(method, path, query, body, content_type, timeout, accept)
        data = resp.read()
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = {"message": data[:500].decode(errors="replace")}
        if not 200 <= resp.status < 300:
            raise KubeError(resp.status, str(resp.reason), decoded if isinstance(decoded, dict) else {},
                            method, path)  # fmt: skip
        return decoded if isinstance(decoded, dict) else {"items": decoded}

    def stream(self, path: str, query: Iterable[tuple[str, Any]], timeout: float | None = None) -> Any:
        """A streaming GET (watch): the raw urllib3 response. Raises KubeError for a non-2xx status."""
        resp = self._send("GET", path, query, timeout=timeout)
        if not 200 <= resp.status < 300:
            data = resp.read()
            try:
                body = json.loads(data)
            except ValueError:
                body = {}
            raise KubeError(resp.status, str(resp.reason), body, "GET", path)
        return resp.response

    # ------------------------------------------------------------------ discovery

    def _group_version(self, gv: str, refresh: bool = False) -> dict[str, Resource] | None:
        now = time.monotonic()
        with self._gv_lock:
            cached = self._gv.get(gv)
        if cached is not None and not refresh:
            at, found = cached
            if found is not None or now - at < self.discovery_ttl:
                return found
        path = f"/api/{gv}" if "/" not in gv else f"/apis/{gv}"
        group, _, version = gv.rpartition("/")
        try:
            body = self.request("GET", path)
        except KubeError as exc:
            if exc.status in (404, 503):
                with self._gv_lock:
                    self._gv[gv] = (now, None)
                return None
            raise
        kinds: dict[str, Resource] = {}
        for r in body.get("resources") or []:
            if "/" in r.get("name", ""):
                continue  # subresource
            kinds[r["kind"]] = Resource(group, version, r["kind"], r["name"], bool(r.get("namespaced")))
        with self._gv_lock:
            self._gv[gv] = (now, kinds)
        return kinds

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """The resource serving `kind` in `api_version`, or None when that API is not installed."""
        kinds = self._group_version(api_version)
        if kinds is not None and kind in kinds:
            return kinds[kind]
        with self._gv_lock:
            at = self._gv.get(api_version, (0.0, None))[0]
        if kinds is not None and time.monotonic() - at >= self.discovery_ttl:
            kinds = self._group_version(api_version, refresh=True)
            if kinds is not None and kind in kinds:
                return kinds[kind]
        return None

    def discover(self, api_version: str, kind: str) -> Resource | None:
        """Like `resource`, but asks discovery again now (for polling an API that is not there yet)."""
        kinds = self._group_version(api_version, refresh=True)
        return kinds.get(kind) if kinds is not None else None

    def preferred_version(self, group: str) -> str | None:
        """The version discovery prefers for API `group` (`v1` for the core group); None when not served."""
        return preferred_version(lambda path: self.request("GET", path), group)

    def require(self, api_version: str, kind: str) -> Resource:
        res = self.resource(api_version, kind)
        if res is None:
            raise KubeError(404, "NotFound", {"message": f"{kind} ({api_version}) is not served"}, "GET", api_version)
        return res

    # ------------------------------------------------------------------ verbs

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", res.path(namespace, name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def list_objects(self, res: Resource, namespace: str | None = None, label_selector: str | None = None,
             page: int = 500) -> tuple[list[dict[str, Any]], str]:  # fmt: skip
        """All items (paginated) and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        cont: str | None = None
        while True:
            body = self.request("GET", res.path(namespace), [("labelSelector", label_selector), ("limit", page),
                                                             ("continue", cont)])  # fmt: skip
            kind = res.kind
            for item in body.get("items") or []:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", kind)
                items.append(item)
            meta = body.get("metadata") or {}
            cont = meta.get("continue")
            if not cont:
                return items, str(meta.get("resourceVersion", ""))

    def watch_lines(self, res: Resource, namespace: str | None, resource_version: str,
                    label_selector: str | None = None, timeout_seconds: int = 300) -> Any:  # fmt: skip
        query = [("watch", "true"), ("resourceVersion", resource_version), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", timeout_seconds), ("labelSelector", label_selector)]  # fmt: skip
        return self.stream(res.path(namespace), query, timeout=timeout_seconds + 30)

    def apply(self, res: Resource, obj: dict[str, Any], *, force: bool, field_manager: str = FIELD_MANAGER,
              subresource: str | None = None, dry_run: bool = False) -> dict[str, Any]:  # fmt: skip
        """Server-side apply `obj` (which must carry apiVersion and kind) as `field_manager`; `dry_run`: the
        server runs admission and returns the result without storing it."""
        if not field_manager:
            raise ValueError("server-side apply needs a field manager")
        if not obj.get("apiVersion") or not obj.get("kind"):
            raise ValueError("server-side apply needs apiVersion and kind in the object")
        meta = obj["metadata"]
        query = [("fieldManager", field_manager), ("force", "true" if force else None),
                 ("dryRun", "All" if dry_run else None)]  # fmt: skip
        return self.request("PATCH", res.path(meta.get("namespace"), meta["name"], subresource), query, obj,
                            "application/apply-patch+yaml")  # fmt: skip

    def merge_patch(self, res: Resource, namespace: str | None, name: str, patch: dict[str, Any],
                    subresource: str | None = None) -> dict[str, Any]:  # fmt: skip
        return self.request("PATCH", res.path(namespace, name, subresource), [("fieldManager", FIELD_MANAGER)],
                            patch, "application/merge-patch+json")  # fmt: skip

    def json_patch(self, res: Resource, namespace: str | None, name: str, ops: list[dict[str, Any]]
                   ) -> dict[str, Any]:  # fmt: skip
        return self.request("PATCH", res.path(namespace, name), [("fieldManager", FIELD_MANAGER)],
                            json.dumps(ops), "application/json-patch+json")  # fmt: skip

    def create(self, res: Resource, namespace: str | None, obj: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", res.path(namespace), [("fieldManager", FIELD_MANAGER)], obj)

    def delete(self, res: Resource, namespace: str | None, name: str, uid: str | None = None,
               propagation: str = "Background") -> bool:  # fmt: skip
        """Delete (only the object with `uid`, when given); False when it was already gone."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", res.path(namespace, name), body=body)
        except KubeError as exc:
            if exc.not_found:
                return False
            if exc.conflict and uid:
                return False  # a different object now has the name
            raise
        return True


def iter_lines(resp: Any) -> Iterator[str]:
    """Lines of a streaming response (uses the official client's watch line splitter)."""
    for line in iter_resp_lines(resp):  # type: ignore[no-untyped-call]
        if line:
            yield line
