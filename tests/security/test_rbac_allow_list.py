"""Every permission the chart grants is listed, with its reason, in docs/security.md, and every listed one is
granted: the chart's renders (golden/install, kept equal to `helm template` by tests/unit/test_chart.py)
compared both ways with the allow-list table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
Grant = tuple[str, str, str, str, str]  # scope, API group, resource, verb, resource name ("" for any)


def _scope(obj: dict[str, Any], release_ns: str) -> str:
    """cluster (a ClusterRole), namespace (a Role in the release namespace), watched namespace (a Role in the
    namespace of `operator.watchNamespace`)."""
    if obj["kind"] == "ClusterRole":
        return "cluster"
    return "namespace" if obj["metadata"]["namespace"] == release_ns else "watched namespace"


def granted() -> set[Grant]:
    out: set[Grant] = set()
    for path in sorted((ROOT / "golden" / "install").glob("*.yaml")):
        objs = [o for o in yaml.safe_load_all(path.read_text()) if o]
        release_ns = next(o["metadata"]["namespace"] for o in objs if o["kind"] == "Deployment")
        for obj in objs:
            if obj["kind"] not in ("Role", "ClusterRole"):
                continue
            scope = _scope(obj, release_ns)
            for rule in obj.get("rules") or []:
                for group in rule.get("apiGroups") or [""]:
                    for res in rule.get("resources") or rule.get("nonResourceURLs") or []:
                        for verb in rule["verbs"]:
                            for name in rule.get("resourceNames") or [""]:
                                out.add((scope, group, res, verb, name))
    return out


def documented() -> set[Grant]:
    text = (ROOT / "docs" / "security.md").read_text()
    table = re.search(r"<!-- rbac-allow-list:start -->\n(.*?)<!-- rbac-allow-list:end -->", text, re.S)
    assert table, "docs/security.md has no rbac-allow-list table"
    out: set[Grant] = set()
    for line in table.group(1).splitlines()[2:]:
        scopes, group, res, verbs, names, _why = (c.strip() for c in line.strip().strip("|").split("|"))
        for scope in scopes.split(", "):
            for verb in verbs.split(", "):
                for name in names.split(", ") if names else [""]:
                    out.add((scope, group, res, verb, name))
    return out


def test_every_rule_the_chart_grants_is_on_the_documented_allow_list() -> None:
    assert sorted(granted() - documented()) == []


def test_every_documented_permission_is_still_granted() -> None:
    assert sorted(documented() - granted()) == []


def test_watching_one_namespace_leaves_no_namespaced_resource_in_a_cluster_role() -> None:
    """With operator.watchNamespace (the feature-rich render), the ClusterRoles hold only cluster-scoped
    resources and non-resource URLs (/metrics, the issuer's discovery); everything else is in Roles."""
    cluster_scoped = {"namespaces", "subjectaccessreviews", "tokenreviews", "mutatingwebhookconfigurations",
                      "validatingwebhookconfigurations", "/metrics", "/.well-known/openid-configuration",
                      "/openid/v1/jwks"}  # fmt: skip
    objs = [o for o in yaml.safe_load_all((ROOT / "golden/install/feature-rich.yaml").read_text()) if o]
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env") or []}
    assert env.get("WATCH_NAMESPACE") == "mcp-servers"
    for role in (o for o in objs if o["kind"] == "ClusterRole"):
        for rule in role["rules"]:
            assert set(rule.get("resources") or rule.get("nonResourceURLs")) <= cluster_scoped, rule


def test_nothing_grants_leases_or_escalation_verbs_cluster_wide() -> None:
    cluster = {g for g in granted() if g[0] == "cluster"}
    assert not [g for g in cluster if g[2] == "leases"]
    assert not [g for g in granted() if g[3] in ("escalate", "bind", "impersonate", "*") or "*" in (g[1], g[2])]
