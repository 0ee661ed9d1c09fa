"""Istio: VirtualService and DestinationRule (`networking.istio.io/v1`), PeerAuthentication
(`security.istio.io/v1`) and the sidecar-injection marker on the pod template.

Rendered when `istio.enabled` and Istio integration is switched on; with the switch off nothing Istio
is rendered (not even the sidecar marker) and a warning says so.
"""

from __future__ import annotations

from typing import Any

from mcpop.api.features import Istio, IstioTLS
from mcpop.render.names import selector_labels
from mcpop.render.workload import meta, name_of

INJECT = "sidecar.istio.io/inject"


def service_host(service: str, namespace: str) -> str:
    """The in-cluster FQDN of a Service."""
    return f"{service}.{namespace}.svc.cluster.local"


def sidecar_marker(istio: Istio) -> dict[str, str]:
    """`sidecar.istio.io/inject: "true"|"false"`, set as both pod label and pod annotation."""
    return {INJECT: "true" if istio.sidecar_inject else "false"}


def virtual_service(
    name: str, namespace: str, labels: dict[str, str], istio: Istio, service: dict[str, Any]
) -> dict[str, Any]:
    """Routes to the Service's http port, with path match, timeout, retries and header rules."""
    vs = istio.virtual_service
    host = service_host(service["metadata"]["name"], namespace)
    route: dict[str, Any] = {"name": "mcp"}
    if vs is not None and vs.path:
        route["match"] = [{"uri": {"prefix": vs.path}}]
    route["route"] = [{"destination": {"host": host, "port": {"number": service["spec"]["ports"][0]["port"]}}}]
    if vs is not None:
        if vs.timeout:
            route["timeout"] = vs.timeout
        if vs.retries is not None:
            route["retries"] = vs.retries.model_dump(by_alias=True, exclude_none=True)
        if vs.headers:
            route["headers"] = vs.headers
    spec: dict[str, Any] = {"hosts": [vs.host if vs is not None and vs.host else host]}
    if istio.gateway:
        spec["gateways"] = [istio.gateway, "mesh"]
    spec["http"] = [route]
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": meta(name, namespace, labels), "spec": spec}  # fmt: skip


def destination_rule(
    name: str, namespace: str, labels: dict[str, str], istio: Istio, service: dict[str, Any]
) -> dict[str, Any]:
    """Traffic policy for the Service: TLS (ISTIO_MUTUAL unless set), pools, balancing, outlier detection."""
    dr = istio.destination_rule
    tp = dr.traffic_policy if dr is not None else None
    policy: dict[str, Any] = {"tls": (tp.tls if tp is not None and tp.tls is not None else IstioTLS()).wire()}
    if tp is not None:
        policy.update({k: v for k, v in tp.wire().items() if k != "tls"})
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": meta(name, namespace, labels),
        "spec": {"host": service_host(service["metadata"]["name"], namespace), "trafficPolicy": policy},
    }


def peer_authentication(name: str, namespace: str, labels: dict[str, str], istio: Istio) -> dict[str, Any]:
    """mTLS (STRICT or PERMISSIVE) for the server's pods."""
    mode = istio.mtls.mode if istio.mtls is not None else "STRICT"
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": meta(name, namespace, labels),
        "spec": {"selector": {"matchLabels": selector_labels(name_of(labels))}, "mtls": {"mode": mode}},
    }


def istio_objects(
    name: str, namespace: str, labels: dict[str, str], istio: Istio, service: dict[str, Any]
) -> list[dict[str, Any]]:
    """VirtualService, DestinationRule and (when istio.mtls.enabled) PeerAuthentication."""
    out = [
        virtual_service(name, namespace, labels, istio, service),
        destination_rule(name, namespace, labels, istio, service),
    ]
    if istio.mtls is not None and istio.mtls.enabled:
        out.append(peer_authentication(name, namespace, labels, istio))
    return out
