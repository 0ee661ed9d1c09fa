"""The rendered object set: plain dicts in a stable apply order, plus what the renderer warned about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcpop.codec.emitter import dump_json, dump_yaml

#: The order kinds are applied in (Helm's install order, for the kinds mcpop renders): namespace config and the
#: NetworkPolicy first (no pod runs before its policy exists), then identity and RBAC, workloads, and what routes
#: to or watches them; unknown kinds last. Deletion runs in reverse. The ResourceManager applies sets in it too.
KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget", "ServiceAccount",
    "Secret", "ConfigMap", "Role", "RoleBinding", "Service", "Deployment", "HorizontalPodAutoscaler",
    "VerticalPodAutoscaler", "Job", "CronJob", "PeerAuthentication", "DestinationRule", "VirtualService",
    "HTTPRoute", "ServiceMonitor",
)  # fmt: skip


def apply_order_key(obj: dict[str, Any]) -> tuple[int, str, str, str]:
    """Sort key: kind rank (unknown kinds last), then kind, namespace, name."""
    kind = obj.get("kind", "")
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    meta = obj.get("metadata", {})
    return rank, kind, meta.get("namespace", ""), meta.get("name", "")


@dataclass
class ObjectSet:
    """Everything one MCPServer renders to."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the audience a token of the operator's ServiceAccount must name for the server's MCP handshake (the
    #: server asks for a token and accepts the operator's); None: the handshake sends no token
    token_audience: str | None = None

    def add(self, obj: dict[str, Any]) -> None:
        """Add an object; `in_apply_order` sorts the set once all are added."""
        self.objects.append(obj)

    def in_apply_order(self) -> ObjectSet:
        """Sort the objects into apply order (stable for equal keys) and return the set."""
        self.objects.sort(key=apply_order_key)
        return self

    def kinds(self) -> list[str]:
        """The kinds in apply order."""
        return [o["kind"] for o in self.objects]

    def get(self, kind: str, name: str | None = None) -> dict[str, Any] | None:
        """The first object of `kind` (and `name`, when given)."""
        for obj in self.objects:
            if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name):
                return obj
        return None

    def to_yaml(self) -> str:
        """The set as a YAML stream."""
        return dump_yaml(self.objects)

    def to_json(self) -> str:
        """The set as JSON (a v1 List when it holds several objects)."""
        return dump_json(self.objects)
