"""`spec.network`: the server's NetworkPolicy, `<server>-network`.

Rendered when `spec.network` or `spec.auth` is set (the front door on). It selects the server's pods:

- ingress: only the ports its Service targets (the MCP port: the bridge's for a stdio server or with auth), from
  `network.ingressFrom`; by default from the pods of the server's own namespace, of the namespaces whose
  ServiceAccounts `spec.auth.serviceAccounts` lets call, and of the operator's (its MCP handshake, the `Verified`
  condition), or from anyone for a NodePort/LoadBalancer server (its token decides);
- egress, with `network.egress.restricted`: cluster DNS (kube-dns in kube-system, UDP and TCP 53) and
  `network.egress.to`, nothing else; otherwise egress is not restricted.

NetworkPolicies add up: another policy selecting the same pods (the tenancy policy) admits what it admits too.
Only a CNI that enforces NetworkPolicy enforces any of it.
"""

from __future__ import annotations

from typing import Any

from mcpop.api.features import kube
from mcpop.api.mcpserver import MCPServerSpec
from mcpop.render.names import dns_label
from mcpop.render.workload import meta

#: the label every namespace carries with its own name (Kubernetes sets it)
NS_NAME_LABEL = "kubernetes.io/metadata.name"
#: cluster DNS: kube-dns pods in kube-system, UDP and TCP 53
DNS_RULE: dict[str, Any] = {
    "to": [{"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}  # fmt: skip


def namespace_peer(namespace: str) -> dict[str, Any]:
    """Every pod of `namespace`."""
    return {"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: namespace}}}


def network_policy(
    name: str,
    namespace: str,
    labels: dict[str, str],
    spec: MCPServerSpec,
    service: dict[str, Any],
    operator_namespace: str | None,
) -> dict[str, Any]:
    """The NetworkPolicy of server `name` (see the module's docstring): it selects the pods its rendered `service`
    selects."""
    net = spec.network
    ports = [{"protocol": p.get("protocol", "TCP"), "port": p["targetPort"]} for p in service["spec"]["ports"]]
    rule: dict[str, Any] = {"ports": ports}
    if net is not None and net.ingress_from:
        rule["from"] = [kube(peer) for peer in net.ingress_from]
    elif spec.service_type == "ClusterIP":
        sa = spec.auth.service_accounts if spec.auth else None
        callers = sa.namespaces or [] if sa is not None else []  # whose ServiceAccounts may call must reach it
        namespaces = sorted({namespace, *callers, *([operator_namespace] if operator_namespace else [])})
        rule["from"] = [namespace_peer(ns) for ns in namespaces]
    policy_spec: dict[str, Any] = {
        "podSelector": {"matchLabels": dict(service["spec"]["selector"])},
        "policyTypes": ["Ingress"],
        "ingress": [rule],
    }
    egress = net.egress if net is not None else None
    if egress is not None and egress.restricted:
        policy_spec["policyTypes"].append("Egress")
        policy_spec["egress"] = [DNS_RULE, *(kube(r) for r in egress.to or [])]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(dns_label(name, "network"), namespace, labels),
        "spec": policy_spec,
    }
