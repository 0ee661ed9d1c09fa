"""The API resources mcpop reads and writes, the API error type and the names every client shares.

Defined once for the operator and the CLI. Importing this module loads no Kubernetes client, so the CLI's
light commands can use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mcpop.errors import McpopError

#: the operator's field manager (server-side apply and every other write)
FIELD_MANAGER = "mcpop"
#: the field manager of `mcp deploy`/`mcp apply` (the MCPServer object the user asked for)
CLI_FIELD_MANAGER = "mcp-cli"
#: the label a stored catalogue ConfigMap carries: the MCPRegistry it belongs to
REGISTRY_LABEL = "mcp.allbeone.io/registry"
#: the annotation `mcp registry refresh` sets on an MCPRegistry to ask for a sync now
REFRESH_ANNOTATION = "mcp.allbeone.io/refresh-requested"
#: the key of a stored catalogue ConfigMap that holds the entry's server.json
CATALOG_DATA_KEY = "server.json"

#: the labels the chart (chart/mcp-operator/templates/deployment.yaml) gives the operator's Deployment, and
#: what `mcp version` selects it by: not `app.kubernetes.io/name`, which is the chart's name (`mcp-operator`)
#: and a release can override (nameOverride)
OPERATOR_LABELS = {"app.kubernetes.io/part-of": "mcpop", "app.kubernetes.io/component": "operator"}
OPERATOR_SELECTOR = ",".join(f"{k}={v}" for k, v in OPERATOR_LABELS.items())


class ApiError(McpopError):
    """A failed API request: the HTTP status, its reason and the Status body (`message`, `details.causes`)."""

    def __init__(self, status: int, reason: str, body: dict[str, Any] | None = None, message: str = "") -> None:
        self.status = status
        self.reason = reason
        self.body = body or {}
        super().__init__(message or self.message)

    @property
    def message(self) -> str:
        return str(self.body.get("message") or self.reason)

    @property
    def causes(self) -> list[dict[str, Any]]:
        return list((self.body.get("details") or {}).get("causes") or [])

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


@dataclass(frozen=True)
class Resource:
    """One API resource, as discovery describes it: enough to build its paths."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> str:
        """`Deployment.apps`, or `ConfigMap` for the core group (the ApplySet annotation's format)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def resource_name(self) -> str:
        """`mcpservers.mcp.allbeone.io`, as kubectl prints it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if sub:
            base += f"/{sub}"
        return base


MCPSERVER = Resource("mcp.allbeone.io", "v1", "MCPServer", "mcpservers")
MCPREGISTRY = Resource("mcp.allbeone.io", "v1", "MCPRegistry", "mcpregistries")
MCPSERVERBACKUP = Resource("mcp.allbeone.io", "v1", "MCPServerBackup", "mcpserverbackups")
SECRET = Resource("", "v1", "Secret", "secrets")
CONFIGMAP = Resource("", "v1", "ConfigMap", "configmaps")
POD = Resource("", "v1", "Pod", "pods")
SERVICEACCOUNT = Resource("", "v1", "ServiceAccount", "serviceaccounts")
SUBJECTACCESSREVIEW = Resource("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False)
TOKENREVIEW = Resource("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False)
EVENT = Resource("", "v1", "Event", "events")
DEPLOYMENT = Resource("apps", "v1", "Deployment", "deployments")
JOB = Resource("batch", "v1", "Job", "jobs")
CRONJOB = Resource("batch", "v1", "CronJob", "cronjobs")
NAMESPACE = Resource("", "v1", "Namespace", "namespaces", False)
CRD = Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False)


def preferred_version(get: Callable[[str], dict[str, Any]], group: str) -> str | None:
    """The version discovery prefers for API `group` (`v1` for the core group), None when it is not served;
    `get` GETs an API path. A 403 (RBAC) or an outage is raised, not taken for "not served"."""
    if not group:
        return "v1"
    try:
        body = get(f"/apis/{group}")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    version = (body.get("preferredVersion") or {}).get("version")
    return str(version) if version else None
