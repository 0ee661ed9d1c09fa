"""The MCPServer resource and the kinds its object set can hold."""

from __future__ import annotations

from typing import Any

#: kinds the renderer can emit → the API version it uses (watched when installed, used for pruning)
OWNED_KINDS: dict[str, str] = {
    "ServiceAccount": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1", "ResourceQuota": "v1",
    "LimitRange": "v1", "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1", "Deployment": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2", "VerticalPodAutoscaler": "autoscaling.k8s.io/v1",
    "PodDisruptionBudget": "policy/v1", "PeerAuthentication": "security.istio.io/v1",
    "DestinationRule": "networking.istio.io/v1", "VirtualService": "networking.istio.io/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1", "HTTPRoute": "gateway.networking.k8s.io/v1",
}  # fmt: skip


def owner_gk(obj: dict[str, Any]) -> str | None:
    """The MCPServer name controlling `obj`, from its controller owner reference."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if (
            ref.get("controller")
            and ref.get("kind") == "MCPServer"
            and str(ref.get("apiVersion", "")).startswith("mcp.allbeone.io/")
        ):
            return str(ref.get("name"))
    return None
