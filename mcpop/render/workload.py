"""Deployment, Service, ServiceAccount, ConfigMap and PodDisruptionBudget of one server."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from mcpop.api.mcpserver import MCPServerSpec
from mcpop.codec.emitter import json_text
from mcpop.render.collisions import BRIDGE_METRICS_PORT_NAME, PORT_NAME
from mcpop.render.names import selector_labels
from mcpop.render.normalize import Workload
from mcpop.render.pod import (
    bridge_init_container,
    bridge_volume,
    container,
    pod_security_context,
    proxy_container,
    volumes,
)

CONFIG_HASH = "mcp.allbeone.io/config-hash"
REFERENCED_HASH = "mcp.allbeone.io/referenced-config-hash"
REMOTE_URL = "mcp.allbeone.io/remote-url"
#: on the Service: the MCP transport it speaks (streamable-http or sse) and the endpoint's path
TRANSPORT_ANNOTATION = "mcp.allbeone.io/transport"
PATH_ANNOTATION = "mcp.allbeone.io/path"


def served_transport(work: Workload) -> str:
    """The transport clients use: the bridge serves a stdio server as streamable HTTP."""
    return "streamable-http" if work.bridged else work.transport


def meta(
    name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """ObjectMeta with empty parts left out."""
    out: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        out["annotations"] = dict(sorted(annotations.items()))
    return out


def config_map(name: str, namespace: str, labels: dict[str, str], config: dict[str, Any]) -> dict[str, Any]:
    """The server's `config` as canonical JSON in a ConfigMap."""
    data = {"config.json": json_text(config, sort_keys=True)}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, namespace, labels), "data": data}


def service_account(name: str, namespace: str, labels: dict[str, str], spec: MCPServerSpec) -> dict[str, Any]:
    """A ServiceAccount that does not mount its token unless asked."""
    sa = spec.service_account
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(name, namespace, labels, sa.annotations if sa else None),
        "automountServiceAccountToken": bool(sa and sa.automount_token),
    }


def deployment(
    name: str,
    namespace: str,
    labels: dict[str, str],
    spec: MCPServerSpec,
    work: Workload,
    *,
    service_account_name: str,
    config_map_name: str | None,
    config_object: dict[str, Any] | None,
    replicas: int | None,
    pod_extra_labels: dict[str, str],
    pod_extra_annotations: dict[str, str],
    referenced_hash: str | None,
    placement: dict[str, Any],
) -> dict[str, Any]:
    """The Deployment; `replicas` is None when an HPA owns the count."""
    vols, mounts = volumes(spec, config_map_name)
    annotations = dict(spec.pod_annotations or {})
    annotations.update(pod_extra_annotations)
    if config_object is not None:
        canonical = json.dumps(config_object["data"], sort_keys=True)
        annotations[CONFIG_HASH] = hashlib.sha256(canonical.encode()).hexdigest()
    if referenced_hash:
        annotations[REFERENCED_HASH] = referenced_hash
    pod_labels = {**(spec.pod_labels or {}), **labels, **pod_extra_labels}
    sa = spec.service_account
    pod_spec: dict[str, Any] = {
        "serviceAccountName": service_account_name,
        "automountServiceAccountToken": bool(sa and sa.automount_token),
        "securityContext": pod_security_context(spec.security_context),
        "imagePullSecrets": [s.wire() for s in spec.image_pull_secrets or []],
        "initContainers": [bridge_init_container(spec, work)] if work.bridge_image else None,
        "containers": [
            container(spec, work, mounts),
            *([proxy_container(work, bridge_metrics_port(spec))] if work.proxy_args is not None else []),
        ],
        "volumes": [*vols, bridge_volume()] if work.bridge_image else vols,
        "terminationGracePeriodSeconds": spec.termination_grace_period_seconds,
        **placement,
    }
    strategy = spec.deployment_strategy
    dep_spec: dict[str, Any] = {
        "replicas": replicas,
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector_labels(name_of(labels))},
        "strategy": strategy.wire() if strategy else None,
        "template": {
            "metadata": {
                "labels": dict(sorted(pod_labels.items())),
                "annotations": dict(sorted(annotations.items())),
            },
            "spec": {k: v for k, v in pod_spec.items() if v not in (None, [], {})},
        },
    }
    dep_spec["template"]["metadata"] = {k: v for k, v in dep_spec["template"]["metadata"].items() if v}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, namespace, labels),
        "spec": {k: v for k, v in dep_spec.items() if v is not None},
    }


def bridge_metrics_port(spec: MCPServerSpec) -> int | None:
    """The port mcpop-bridge serves its metrics on (spec.ports' `bridge-metrics`, which with_bridge_metrics adds)."""
    return next((p.port for p in spec.ports or [] if p.name == BRIDGE_METRICS_PORT_NAME), None)


def name_of(labels: dict[str, str]) -> str:
    """The server (instance) a label set belongs to."""
    return labels["app.kubernetes.io/instance"]


def service(
    name: str,
    namespace: str,
    labels: dict[str, str],
    spec: MCPServerSpec,
    work: Workload,
    session_affinity: bool = False,
) -> dict[str, Any]:
    """The Service: HTTP on the serving port (named `http`), plus any extra ports; annotated with the MCP
    transport and path clients connect to. With `session_affinity` (a bridged server on more than one pod,
    whose sessions live in one pod's process each) `sessionAffinity: ClientIP`: best effort, since clients
    behind one NAT or proxy share a pod and a pod's restart loses its sessions."""
    ports: list[dict[str, Any]] = [
        {
            "name": PORT_NAME,
            "port": work.port,
            "targetPort": PORT_NAME,
            "protocol": "TCP",
            "appProtocol": "http",
        }
    ]
    for p in spec.ports or []:
        if p.name == PORT_NAME:
            ports[0]["port"] = p.port
            continue
        entry = {
            "name": p.name,
            "port": p.port,
            "targetPort": p.target_port if p.target_port is not None else p.port,
            "protocol": p.protocol or "TCP",
            "appProtocol": p.app_protocol,
        }
        ports.append({k: v for k, v in entry.items() if v is not None})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(
            name, namespace, labels, {TRANSPORT_ANNOTATION: served_transport(work), PATH_ANNOTATION: work.path}
        ),
        "spec": {
            "type": spec.service_type,
            "selector": selector_labels(name_of(labels)),
            "ports": ports,
            **({"sessionAffinity": "ClientIP"} if session_affinity else {}),
        },
    }


def pod_disruption_budget(
    name: str,
    namespace: str,
    labels: dict[str, str],
    spec: MCPServerSpec,
) -> dict[str, Any]:
    """A PDB that keeps all but one pod up during voluntary disruptions (unless told otherwise)."""
    pdb = spec.pod_disruption_budget
    body: dict[str, Any] = {"selector": {"matchLabels": selector_labels(name_of(labels))}}
    if pdb and pdb.min_available is not None:
        body["minAvailable"] = pdb.min_available
    else:
        body["maxUnavailable"] = pdb.max_unavailable if pdb and pdb.max_unavailable is not None else 1
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name, namespace, labels),
        "spec": body,
    }


def external_service(name: str, namespace: str, labels: dict[str, str], url: str,
                     annotations: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """A Service of type ExternalName for a remote-only server: in-cluster name → the remote host."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, namespace, labels, {**annotations, REMOTE_URL: url}),
        "spec": {"type": "ExternalName", "externalName": parts.hostname or "",
                 "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP",
                            "appProtocol": "https" if parts.scheme == "https" else "http"}]},
    }  # fmt: skip
