"""spec.expose.gateway rendered (issue 21 §4): an HTTPRoute from the host name and path on a Gateway to the
server's Service, valid against the Gateway API's own CRD schema; the host is one the bridge accepts, with
spec.auth.jwt the RFC 9728 resource and default audience are the external URL and the metadata path is routed
too; exposing without authentication is refused as serviceType LoadBalancer is."""

from __future__ import annotations

from typing import Any

import pytest
from chartkit import schema_errors
from pydantic import ValidationError

from mcpop.api.mcpserver import MCPServer
from mcpop.apply.mcpserver.status import Outcome, compute_status, route_accepted
from mcpop.render import RenderError, render

GATEWAY = {"parentRef": {"name": "public", "namespace": "gateways", "sectionName": "https"},
           "hostname": "mcp.example.com"}  # fmt: skip
JWT = {"jwt": {"issuer": "https://idp.example.com"}}


def server(gateway: dict[str, Any] | None = None, **spec: Any) -> MCPServer:
    base = {"command": ["npx", "srv"], "transport": {"type": "stdio"}, "auth": JWT,
            "expose": {"gateway": gateway or GATEWAY}, **spec}  # fmt: skip
    return MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                     "metadata": {"name": "files", "namespace": "tools"}, "spec": base})  # fmt: skip


def bridge_flags(out: Any) -> list[str]:
    args: list[str] = out.get("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    return args[: args.index("--")]


def test_the_route_sends_the_host_and_mcp_path_on_the_gateway_to_the_service() -> None:
    route = render(server()).get("HTTPRoute")
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateways", "sectionName": "https"}]
    assert route["spec"]["hostnames"] == ["mcp.example.com"]
    mcp_rule = route["spec"]["rules"][0]
    assert mcp_rule == {"matches": [{"path": {"type": "PathPrefix", "value": "/mcp"}}],
                        "backendRefs": [{"name": "files", "port": 8000}]}  # fmt: skip
    assert route["metadata"]["labels"]["app.kubernetes.io/instance"] == "files"


def test_the_route_is_valid_against_the_gateway_apis_crd() -> None:
    for gw in (GATEWAY, {**GATEWAY, "path": "/tools/files"}):
        route = render(server(gw)).get("HTTPRoute")
        assert schema_errors(route) == []


def test_another_path_on_the_gateway_is_rewritten_to_the_servers() -> None:
    route = render(server({**GATEWAY, "path": "/tools/files"})).get("HTTPRoute")
    rule = route["spec"]["rules"][0]
    assert rule["matches"][0]["path"]["value"] == "/tools/files"
    assert rule["filters"] == [{"type": "URLRewrite", "urlRewrite": {
        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/mcp"}}}]  # fmt: skip


def test_with_auth_the_resource_and_audience_are_the_external_url_and_its_metadata_is_routed() -> None:
    out = render(server({**GATEWAY, "path": "/tools/files"}))
    flags = bridge_flags(out)
    assert flags[flags.index("--resource-url") + 1] == "https://mcp.example.com/tools/files"
    assert "--jwt-audience" not in flags  # the bridge's default audience is the resource URL
    meta = out.get("HTTPRoute")["spec"]["rules"][1]
    assert meta["matches"][0]["path"]["value"] == "/.well-known/oauth-protected-resource/tools/files"
    assert meta["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"] == "/.well-known/oauth-protected-resource/mcp"


def test_the_bridge_accepts_the_gateways_host_name() -> None:
    flags = bridge_flags(render(server()))
    assert "mcp.example.com" in flags[flags.index("--allowed-hosts") + 1].split(",")


def test_exposing_through_a_gateway_without_authentication_is_refused() -> None:
    with pytest.raises(RenderError) as exc:
        render(server(auth=None))
    assert exc.value.field == "spec.auth" and exc.value.message.startswith("spec.expose.gateway exposes")
    out = render(server(auth={"allowUnauthenticated": True}))
    assert out.get("HTTPRoute") is not None
    assert any(
        w.startswith("spec.expose.gateway exposes the MCP server outside the cluster with no") for w in out.warnings
    )


def test_an_sse_server_is_routed_whole_and_refuses_a_path() -> None:
    spec = {
        "image": "ghcr.io/example/sse",
        "tag": "1",
        "transport": {"type": "sse"},
        "auth": {"allowUnauthenticated": True},
    }
    srv = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                    "metadata": {"name": "web", "namespace": "tools"},
                                    "spec": {**spec, "expose": {"gateway": GATEWAY}}})  # fmt: skip
    assert render(srv).get("HTTPRoute")["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/"
    srv = MCPServer.model_validate({**srv.model_dump(mode="json", by_alias=True, exclude_none=True),
                                    "spec": {**spec, "expose": {"gateway": {**GATEWAY, "path": "/x"}}}})  # fmt: skip
    with pytest.raises(RenderError) as exc:
        render(srv)
    assert exc.value.field == "spec.expose.gateway.path"


@pytest.mark.parametrize(("gateway", "where"), [
    ({**GATEWAY, "hostname": "*.example.com"}, "hostname"), ({**GATEWAY, "hostname": "MCP.example.com"}, "hostname"),
    ({**GATEWAY, "path": "mcp"}, "path"), ({**GATEWAY, "path": "/a b"}, "path"),
    ({**GATEWAY, "path": "/" + "a" * 1024}, "path"),
    ({"hostname": "mcp.example.com"}, "parentRef"), ({**GATEWAY, "parentRef": {"name": "Public"}}, "parentRef.name"),
])  # fmt: skip
def test_a_bad_gateway_exposure_names_the_field(gateway: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as exc:
        server(gateway)
    assert f"expose.gateway.{where}" in str(exc.value)


def test_status_url_is_the_external_url_once_the_route_is_accepted() -> None:
    accepted = {"status": {"parents": [{"conditions": [{"type": "Accepted", "status": "True"}]}]}}
    pending = {"status": {"parents": [{"conditions": [{"type": "Accepted", "status": "False"}]}]}}
    assert (
        route_accepted(accepted) and not route_accepted(pending) and not route_accepted({}) and not route_accepted(None)
    )
    internal = "http://files.tools.svc.cluster.local:8000/mcp"
    st = compute_status(Outcome(generation=1, url=internal, external_url="https://mcp.example.com/mcp"), None, now="T")
    assert st["url"] == "https://mcp.example.com/mcp"
    assert compute_status(Outcome(generation=1, url=internal), None, now="T")["url"] == internal
