"""`spec.network` rendered (issue 21 §4): the server's NetworkPolicy `<server>-network` admits ingress only to the
ports its Service targets, from `ingressFrom` (default: its own namespace and the operator's; anyone for an exposed
server), restricts egress to DNS and `egress.to` when `restricted`, is rendered when the front door (`auth.jwt`) is
on, and its inputs are bounded and checked, naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mcpop.api.features import MAX_NETWORK_RULES
from mcpop.api.mcpserver import MCPServer
from mcpop.render import RenderOptions, render
from mcpop.render.network import DNS_RULE

ISSUER = "https://idp.example.com"
AGENTS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "agents"}}}


def server(**spec: Any) -> MCPServer:
    return MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                     "metadata": {"name": "files", "namespace": "tools"},
                                     "spec": {"image": "ghcr.io/example/files", "tag": "1", **spec}})  # fmt: skip


def policy(srv: MCPServer, operator_namespace: str | None = "mcpop-system") -> dict[str, Any] | None:
    out = render(srv, options=RenderOptions(namespace="tools", operator_namespace=operator_namespace))
    return next((o for o in out.objects if o["kind"] == "NetworkPolicy"), None)


def test_a_server_without_network_or_auth_gets_no_network_policy() -> None:
    assert policy(server()) is None


def test_the_default_admits_the_servers_namespace_and_the_operators_to_the_mcp_port_only() -> None:
    got = policy(server(network={}))
    assert got is not None and got["metadata"]["name"] == "files-network"
    assert got["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "mcpserver",
                                                          "app.kubernetes.io/instance": "files"}}  # fmt: skip
    assert got["spec"]["policyTypes"] == ["Ingress"]
    assert got["spec"]["ingress"] == [{
        "ports": [{"protocol": "TCP", "port": "http"}],
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                 for ns in ("mcpop-system", "tools")],
    }]  # fmt: skip


def test_without_a_known_operator_namespace_the_default_admits_only_the_servers_own() -> None:
    got = policy(server(network={}), operator_namespace=None)
    assert got is not None
    assert got["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "tools"}}}]  # fmt: skip


def test_every_port_the_service_targets_is_admitted_and_no_other() -> None:
    got = policy(server(network={}, ports=[{"name": "metrics", "port": 9100, "targetPort": 9090}]))
    assert got is not None
    assert got["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": "http"},
                                                  {"protocol": "TCP", "port": 9090}]  # fmt: skip


def test_ingress_from_replaces_the_default_peers() -> None:
    got = policy(server(network={"ingressFrom": [AGENTS]}))
    assert got is not None and got["spec"]["ingress"][0]["from"] == [AGENTS]


def test_an_exposed_server_admits_anyone_to_its_mcp_port_by_default_its_token_decides() -> None:
    got = policy(server(serviceType="LoadBalancer", auth={"jwt": {"issuer": ISSUER}},
                        command=["npx", "srv"], transport={"type": "stdio"}, image=None))  # fmt: skip
    assert got is not None
    assert got["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": "http"}]}]


def test_the_front_door_on_renders_the_policy_without_spec_network() -> None:
    got = policy(server(auth={"jwt": {"issuer": ISSUER}}, command=["npx", "srv"], transport={"type": "stdio"},
                        image=None))  # fmt: skip
    assert got is not None and got["spec"]["policyTypes"] == ["Ingress"]


def test_restricted_egress_allows_dns_and_the_listed_destinations_only() -> None:
    github = {"to": [{"ipBlock": {"cidr": "140.82.112.0/20"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    got = policy(server(network={"egress": {"restricted": True, "to": [github]}}))
    assert got is not None
    assert got["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert got["spec"]["egress"] == [DNS_RULE, github]


def test_restricted_egress_with_no_destinations_allows_dns_alone() -> None:
    got = policy(server(network={"egress": {"restricted": True}}))
    assert got is not None and got["spec"]["egress"] == [DNS_RULE]


def test_unrestricted_egress_is_left_open() -> None:
    got = policy(server(network={"egress": {"restricted": False}}))
    assert got is not None and "egress" not in got["spec"] and got["spec"]["policyTypes"] == ["Ingress"]


def test_egress_destinations_without_restricted_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        server(network={"egress": {"to": [{"ports": [{"port": 443}]}]}})
    assert "to: takes effect only with restricted: true" in str(exc.value)


def test_more_ingress_peers_than_the_bound_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        server(network={"ingressFrom": [AGENTS] * (MAX_NETWORK_RULES + 1)})
    assert "ingressFrom" in str(exc.value) and str(MAX_NETWORK_RULES) in str(exc.value)


def test_more_egress_rules_than_the_bound_are_refused() -> None:
    rule = {"to": [AGENTS], "ports": [{"port": 443}]}
    with pytest.raises(ValidationError) as exc:
        server(network={"egress": {"restricted": True, "to": [rule] * (MAX_NETWORK_RULES + 1)}})
    assert "to" in str(exc.value) and str(MAX_NETWORK_RULES) in str(exc.value)


def test_an_ip_block_peer_mixed_with_a_selector_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        server(network={"ingressFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}, **AGENTS}]})
    assert "ipBlock" in str(exc.value) and "may not be combined" in str(exc.value)


def test_the_crd_schema_carries_the_egress_rule_for_the_apiserver() -> None:
    import yaml

    crd = yaml.safe_load((Path(__file__).resolve().parents[2] / "schemas/mcpservers.mcp.allbeone.io.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    egress = spec["network"]["properties"]["egress"]
    assert egress["properties"]["to"]["maxItems"] == MAX_NETWORK_RULES
    assert any("restricted" in r["rule"] for r in egress["x-kubernetes-validations"])
