"""spec.expose.gateway (issue 21 §4): an HTTPRoute (Gateway API, `gateway.networking.k8s.io/v1`) from a host name
and path on a Gateway to the server's Service. With spec.auth.jwt the route also carries the RFC 9728 metadata
path, so clients outside the cluster can discover how to authenticate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcpop.render.auth import METADATA_PREFIX
from mcpop.render.collisions import PORT_NAME
from mcpop.render.errors import RenderError
from mcpop.render.workload import meta

if TYPE_CHECKING:
    from mcpop.api.mcpserver import MCPServerSpec


def _rule(match: str, target: str, service: str, port: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"matches": [{"path": {"type": "PathPrefix", "value": match}}]}
    if match != target:
        rewrite = {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": target}}
        rule["filters"] = [{"type": "URLRewrite", "urlRewrite": rewrite}]
    rule["backendRefs"] = [{"name": service, "port": port}]
    return rule


def http_route(name: str, namespace: str, labels: dict[str, str], spec: MCPServerSpec, service: dict[str, Any],
               server_path: str, transport: str) -> dict[str, Any]:  # fmt: skip
    """The HTTPRoute of `spec.expose.gateway` to `service`'s MCP port, its path rewritten to `server_path`."""
    assert spec.expose is not None and spec.expose.gateway is not None
    gw = spec.expose.gateway
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == PORT_NAME)
    svc = service["metadata"]["name"]
    if transport == "sse":
        if gw.path is not None:
            raise RenderError("spec.expose.gateway.path", "an SSE server posts its messages to a second path it names "
                              "itself, which a rewritten prefix would break: leave path unset (the route takes the "
                              "whole host)")  # fmt: skip
        rules = [_rule("/", "/", svc, port)]
    else:
        path = gw.path or server_path
        rules = [_rule(path, server_path, svc, port)]
        if spec.auth is not None and spec.auth.required:
            rules.append(_rule(METADATA_PREFIX + path, METADATA_PREFIX + server_path, svc, port))
    parent: dict[str, Any] = {"name": gw.parent_ref.name}
    if gw.parent_ref.namespace:
        parent["namespace"] = gw.parent_ref.namespace
    if gw.parent_ref.section_name:
        parent["sectionName"] = gw.parent_ref.section_name
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": meta(name, namespace, labels),
        "spec": {"parentRefs": [parent], "hostnames": [gw.hostname], "rules": rules},
    }
