"""mcpop-bridge as a reverse proxy in front of a streamable-HTTP server (issue 21): with spec.auth, spec.tools or
spec.audit the pod gets a `mcpop-bridge` container running the bridge image with `--upstream` to the server's own
port; the Service's `http` port leads to the bridge, the server's port is renamed `mcp-upstream` (its probes
follow); the bridge's port is the first free one from 8000; an SSE server gets it for its transport; without a
front-door feature nothing changes; a stdio server without its bridge (gateway.enabled false) is refused."""

from __future__ import annotations

from typing import Any

import pytest

from mcpop.api.mcpserver import MCPServer
from mcpop.render import ObjectSet, RenderError, render
from mcpop.render.collisions import PROXY_CONTAINER
from mcpop.render.pod import UPSTREAM_PORT_NAME

#: a stdio server run without its bridge (gateway.enabled false): nothing fronts it
NO_BRIDGE: dict[str, Any] = {"image": "ghcr.io/example/stdio", "tag": "1", "transport": {"type": "stdio"},
                             "gateway": {"enabled": False}}  # fmt: skip


def http_server(**spec: Any) -> MCPServer:
    full = {"image": "ghcr.io/example/web", "tag": "1", "port": 8080, **spec}
    return MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                     "metadata": {"name": "web", "namespace": "tools"}, "spec": full})  # fmt: skip


def containers(out: ObjectSet) -> dict[str, dict[str, Any]]:
    dep = out.get("Deployment")
    assert dep is not None
    return {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}


def test_without_a_front_door_feature_the_http_server_runs_alone() -> None:
    assert list(containers(render(http_server()))) == ["mcp-server"]


@pytest.mark.parametrize(
    "feature",
    [{"auth": {"jwt": {"issuer": "https://idp.example.com"}}}, {"tools": {"deny": ["delete_*"]}}, {"audit": {}},
     {"auth": {"serviceAccounts": {}}}],
)  # fmt: skip
def test_a_front_door_feature_puts_the_bridge_in_front_of_the_servers_own_port(feature: dict[str, Any]) -> None:
    out = render(http_server(**feature))
    got = containers(out)
    bridge, server = got[PROXY_CONTAINER], got["mcp-server"]
    assert bridge["image"].startswith("ghcr.io/allbeone/mcpop-bridge:") and bridge["command"] == ["/mcpop-bridge"]
    args = bridge["args"]
    assert args[args.index("--upstream") + 1] == "http://127.0.0.1:8080/mcp"
    assert args[args.index("--port") + 1] == "8000" and bridge["ports"][0] == {"name": "http", "containerPort": 8000,
                                                                               "protocol": "TCP"}  # fmt: skip
    assert server["ports"][0] == {"name": UPSTREAM_PORT_NAME, "containerPort": 8080, "protocol": "TCP"}
    assert server["readinessProbe"]["tcpSocket"] == {"port": UPSTREAM_PORT_NAME}
    assert bridge["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert bridge["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert server["startupProbe"]["tcpSocket"] == {"port": UPSTREAM_PORT_NAME}
    svc = out.get("Service")
    assert (
        svc is not None and svc["spec"]["ports"][0]["targetPort"] == "http" and svc["spec"]["ports"][0]["port"] == 8080
    )
    assert svc["metadata"]["annotations"]["mcp.allbeone.io/transport"] == "streamable-http"


def test_the_bridges_port_skips_the_ports_the_server_uses() -> None:
    out = render(http_server(port=8000, ports=[{"name": "admin", "port": 8001}], audit={}))
    assert containers(out)[PROXY_CONTAINER]["ports"][0]["containerPort"] == 8002


def test_the_front_doors_flags_go_to_the_bridge_container_and_the_server_is_untouched() -> None:
    out = render(http_server(auth={"jwt": {"issuer": "https://idp.example.com"}}, tools={"deny": ["delete_*"]},
                             audit={}, monitoring={"enabled": True}, args=["--listen", ":8080"]))  # fmt: skip
    got = containers(out)
    args = got[PROXY_CONTAINER]["args"]
    for flag in ("--jwt-issuer", "--resource-url", "--deny-tools", "--audit-log", "--metrics-port"):
        assert flag in args
    assert got["mcp-server"]["args"] == ["--listen", ":8080"]
    assert {"name": "bridge-metrics", "containerPort": 9090, "protocol": "TCP"} in got[PROXY_CONTAINER]["ports"]
    assert all(p["name"] != "bridge-metrics" for p in got["mcp-server"]["ports"])


def test_the_bridge_container_meets_the_restricted_profile() -> None:
    sc = containers(render(http_server(audit={})))[PROXY_CONTAINER]["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["readOnlyRootFilesystem"] is True


def test_the_network_policy_admits_the_bridges_port_not_the_servers() -> None:
    policy = render(http_server(audit={})).get("NetworkPolicy")
    assert policy is None  # the audit alone does not turn the NetworkPolicy on
    policy = render(http_server(auth={"jwt": {"issuer": "https://idp.example.com"}})).get("NetworkPolicy")
    assert policy is not None and policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": "http"}]


def test_an_sse_server_gets_the_bridge_for_its_transport() -> None:
    args = containers(render(http_server(transport={"type": "sse"}, tools={"deny": ["x"]})))[PROXY_CONTAINER]["args"]
    assert args[args.index("--upstream") + 1] == "http://127.0.0.1:8080/sse"
    assert args[args.index("--upstream-transport") + 1] == "sse" and args[args.index("--path") + 1] == "/sse"


def test_a_stdio_server_without_its_bridge_is_refused_naming_the_field() -> None:
    srv = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                    "metadata": {"name": "web", "namespace": "tools"},
                                    "spec": {**NO_BRIDGE, "tools": {"deny": ["x"]}}})  # fmt: skip
    with pytest.raises(RenderError) as err:
        render(srv)
    assert err.value.field == "spec.tools" and "gateway.enabled: false" in err.value.message


def test_the_key_files_are_mounted_in_the_bridges_container_not_the_servers() -> None:
    jwks = {"configMapKeyRef": {"name": "idp-jwks", "key": "jwks.json"}}
    got = containers(render(http_server(auth={"jwt": {"issuer": "https://idp.example.com", "jwks": jwks},
                                              "serviceAccounts": {}})))  # fmt: skip
    mounted = {m["mountPath"] for m in got[PROXY_CONTAINER]["volumeMounts"]}
    assert mounted == {"/etc/mcpop/jwks", "/etc/mcpop/cluster-jwks"}
    assert not {m["mountPath"] for m in got["mcp-server"]["volumeMounts"]} & mounted
