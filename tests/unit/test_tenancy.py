"""Multi-tenancy: tenant labels on pods, the NetworkPolicy really selecting them, isolation levels,
user rules replacing defaults, quota and limits, tenant RBAC, collision-free names, the feature switch,
and schema validity of every tenant object."""

from __future__ import annotations

from typing import Any

from featurekit import assert_valid, get, pod_template, server

from mcpop.render import ObjectSet, RenderOptions, render
from mcpop.render.names import TENANT_LABEL

IMAGE = {"image": "ghcr.io/example/mcp", "tag": "1.0.0"}


def tenant(name: str = "demo", **tenancy: Any) -> ObjectSet:
    return render(server({**IMAGE, "tenancy": {"tenantId": "acme", **tenancy}}, name=name))


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_pods_carry_the_tenant_label_and_tenancy_labels() -> None:
    labels = pod_template(tenant(labels={"cost-center": "42"}))["metadata"]["labels"]
    assert labels[TENANT_LABEL] == "acme"
    assert labels["cost-center"] == "42"


def test_network_policy_selects_the_deployments_pods() -> None:
    out = tenant()
    policy = get(out, "NetworkPolicy")
    assert matches(policy["spec"]["podSelector"], pod_template(out)["metadata"]["labels"])
    assert policy["spec"]["podSelector"]["matchLabels"][TENANT_LABEL] == "acme"


def test_network_policy_of_one_server_does_not_select_another_servers_pods() -> None:
    a, b = tenant("alpha"), tenant("beta")
    assert not matches(get(a, "NetworkPolicy")["spec"]["podSelector"], pod_template(b)["metadata"]["labels"])


def test_default_rules_allow_same_tenant_allowed_namespaces_and_pods() -> None:
    out = tenant(networkPolicy={"allowedNamespaces": ["monitoring"], "allowedPods": [{"matchLabels": {"app": "gw"}}]})
    peers = get(out, "NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {TENANT_LABEL: "acme"}}} in peers
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in peers
    assert {"podSelector": {"matchLabels": {"app": "gw"}}} in peers


def test_default_egress_is_same_tenant_and_dns() -> None:
    egress = get(tenant(), "NetworkPolicy")["spec"]["egress"]
    assert egress[0] == {"to": [{"podSelector": {"matchLabels": {TENANT_LABEL: "acme"}}}]}
    assert {"protocol": "UDP", "port": 53} in egress[1]["ports"]
    assert {"protocol": "TCP", "port": 53} in egress[1]["ports"]


def test_user_rules_replace_the_defaults() -> None:
    rule = {"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}
    policy = get(tenant(networkPolicy={"ingressRules": [rule]}), "NetworkPolicy")
    assert policy["spec"]["ingress"] == [rule]
    assert policy["spec"]["egress"][1]["ports"][0]["port"] == 53  # egress keeps its default


def test_isolation_none_renders_no_network_policy() -> None:
    assert "NetworkPolicy" not in tenant(isolationLevel="None").kinds()


def test_disabled_network_policy_is_left_out_below_strict() -> None:
    assert "NetworkPolicy" not in tenant(networkPolicy={"enabled": False}).kinds()


def test_namespace_isolation_adds_no_node_affinity() -> None:
    assert "affinity" not in pod_template(tenant(isolationLevel="Namespace"))["spec"]


def test_node_isolation_pins_pods_to_tenant_nodes() -> None:
    spec = pod_template(tenant(isolationLevel="Node"))["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": TENANT_LABEL, "operator": "In", "values": ["acme"]}]}]
    assert {"key": TENANT_LABEL, "operator": "Equal", "value": "acme", "effect": "NoSchedule"} in spec["tolerations"]


def test_node_isolation_merges_with_user_placement() -> None:
    arch = {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
    user = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [arch]}]}
        }
    }
    toleration = {"key": "dedicated", "operator": "Equal", "value": "mcp", "effect": "NoSchedule"}
    out = render(
        server(
            {
                **IMAGE,
                "affinity": user,
                "tolerations": [toleration],
                "tenancy": {"tenantId": "acme", "isolationLevel": "Node"},
            }
        )
    )
    spec = pod_template(out)["spec"]
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0] == arch
    assert term["matchExpressions"][1]["key"] == TENANT_LABEL
    assert spec["tolerations"][0] == toleration and len(spec["tolerations"]) == 2
    assert_valid(out)


def test_strict_isolation_ignores_user_rules_with_a_warning() -> None:
    rule = {"from": [{"namespaceSelector": {}}]}
    out = tenant(isolationLevel="Strict", networkPolicy={"ingressRules": [rule], "allowedNamespaces": ["monitoring"]})
    ingress = get(out, "NetworkPolicy")["spec"]["ingress"]
    assert rule not in ingress
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in ingress[0]["from"]
    assert any("Strict" in w for w in out.warnings)
    assert "affinity" in pod_template(out)["spec"]


def test_strict_isolation_keeps_the_policy_even_when_disabled() -> None:
    out = tenant(isolationLevel="Strict", networkPolicy={"enabled": False})
    assert "NetworkPolicy" in out.kinds()


def test_resource_quotas_render_quota_and_limit_range() -> None:
    out = tenant(
        resourceQuotas={
            "cpu": "4",
            "memory": "8Gi",
            "storage": "20Gi",
            "pods": 10,
            "services": 3,
            "persistentVolumeClaims": 2,
            "configMaps": 5,
            "secrets": 6,
        }
    )
    hard = get(out, "ResourceQuota")["spec"]["hard"]
    assert hard == {
        "configmaps": "5",
        "limits.cpu": "4",
        "limits.memory": "8Gi",
        "persistentvolumeclaims": "2",
        "pods": "10",
        "requests.cpu": "4",
        "requests.memory": "8Gi",
        "requests.storage": "20Gi",
        "secrets": "6",
        "services": "3",
    }
    limits = get(out, "LimitRange")["spec"]["limits"][0]
    assert limits["default"] == {"cpu": "500m", "memory": "512Mi"}
    assert limits["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert_valid(out)


def test_limit_range_never_defaults_requests_above_limits() -> None:
    out = render(
        server(
            {
                **IMAGE,
                "resources": {"requests": {"cpu": "2"}},
                "tenancy": {"tenantId": "acme", "resourceQuotas": {"cpu": "8"}},
            }
        )
    )
    limits = get(out, "LimitRange")["spec"]["limits"][0]
    assert limits["default"]["cpu"] == "2" and limits["defaultRequest"]["cpu"] == "2"


def test_no_quota_without_resource_quotas() -> None:
    assert not {"ResourceQuota", "LimitRange"} & set(tenant().kinds())


def test_tenant_role_reads_the_servers_objects_by_name() -> None:
    out = tenant("files")
    role = get(out, "Role")
    by_resource = {tuple(r["resources"]): r for r in role["rules"]}
    assert by_resource[("mcpservers", "mcpservers/status")]["resourceNames"] == ["files"]
    assert by_resource[("deployments",)]["resourceNames"] == ["files"]
    assert by_resource[("services",)]["resourceNames"] == ["files"]
    assert by_resource[("pods", "pods/log")]["verbs"] == ["get", "list", "watch"]
    assert all(r["verbs"] == ["get", "list", "watch"] for r in role["rules"])


def test_role_binding_binds_the_tenant_group() -> None:
    binding = get(tenant(), "RoleBinding")
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "mcp:tenant:acme"}
    ]
    assert binding["roleRef"]["name"] == get(tenant(), "Role")["metadata"]["name"]


def test_two_servers_of_one_tenant_have_no_common_object_names() -> None:
    spec = {"resourceQuotas": {"cpu": "1"}}
    a, b = tenant("alpha", **spec), tenant("beta", **spec)
    names_a = {(o["kind"], o["metadata"]["name"]) for o in a.objects}
    names_b = {(o["kind"], o["metadata"]["name"]) for o in b.objects}
    assert not names_a & names_b


def test_every_tenant_object_validates() -> None:
    assert_valid(
        tenant(
            isolationLevel="Strict",
            resourceQuotas={"cpu": "1", "pods": 4},
            networkPolicy={"allowedPods": [{"matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]}]},
        )
    )


def test_multi_tenancy_switched_off_renders_nothing_tenant_and_warns() -> None:
    out = render(server({**IMAGE, "tenancy": {"tenantId": "acme"}}), options=RenderOptions(enable_multi_tenancy=False))
    assert not {"NetworkPolicy", "Role", "RoleBinding"} & set(out.kinds())
    assert TENANT_LABEL not in pod_template(out)["metadata"]["labels"]
    assert any("ENABLE_MULTI_TENANCY" in w for w in out.warnings)
