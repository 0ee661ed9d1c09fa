"""Invariants of rendering over generated valid specs: determinism, validity, labels, names, security."""

from __future__ import annotations

import re
from typing import Any

from featurekit import assert_valid
from hypothesis import HealthCheck, given, settings
from kvalidate import errors
from restricted import violations
from strategies import mcpserver, mcpserver_with_features, registry_entry_with_secret

from mcpop.api.mcpserver import MCPServer
from mcpop.api.serverjson import ServerJSON
from mcpop.render import ObjectSet, Owner, RenderError, RenderOptions, render

RECOMMENDED = ["name", "instance", "version", "component", "part-of", "managed-by"]
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _render(doc: dict[str, Any], owner: bool = False) -> ObjectSet:
    server = MCPServer.model_validate(doc)
    opts = RenderOptions(owner=Owner(name=server.metadata.name, uid="0000-1111") if owner else None)
    return render(server, options=opts)


def _pod_specs(out: ObjectSet) -> list[dict[str, Any]]:
    return [o["spec"]["template"]["spec"] for o in out.objects if o["kind"] == "Deployment"]


@PROFILE
@given(mcpserver())
def test_rendering_is_deterministic(doc: dict[str, Any]) -> None:
    assert _render(doc).to_yaml() == _render(doc).to_yaml()


@PROFILE
@given(mcpserver())
def test_every_object_validates_strictly_against_its_kubernetes_schema(doc: dict[str, Any]) -> None:
    for obj in _render(doc, owner=True).objects:
        assert errors(obj) == [], (obj["kind"], errors(obj))


@PROFILE
@given(mcpserver())
def test_every_object_is_labelled_named_within_limits_and_in_one_namespace(doc: dict[str, Any]) -> None:
    out = _render(doc)
    namespaces = {o["metadata"]["namespace"] for o in out.objects}
    assert len(namespaces) == 1
    for obj in out.objects:
        meta = obj["metadata"]
        assert obj["apiVersion"] and obj["kind"]
        assert DNS_LABEL.match(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
        for key in RECOMMENDED:
            assert f"app.kubernetes.io/{key}" in meta["labels"], (obj["kind"], key)
        for value in meta["labels"].values():
            assert len(value) <= 63 and LABEL_VALUE.match(value), value


@PROFILE
@given(mcpserver())
def test_every_object_is_owned_when_an_owner_is_given(doc: dict[str, Any]) -> None:
    for obj in _render(doc, owner=True).objects:
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref["controller"] is True and ref["kind"] == "MCPServer"


@PROFILE
@given(mcpserver())
def test_every_pod_template_meets_the_restricted_profile(doc: dict[str, Any]) -> None:
    for pod in _pod_specs(_render(doc)):
        assert violations(pod) == []


@PROFILE
@given(mcpserver())
def test_service_ports_target_container_ports(doc: dict[str, Any]) -> None:
    out = _render(doc)
    svc = out.get("Service")
    assert svc is not None
    (pod,) = _pod_specs(out)
    container_ports = {p["name"]: p["containerPort"] for c in pod["containers"] for p in c["ports"]}
    for port in svc["spec"]["ports"]:
        target = port["targetPort"]
        assert target in container_ports or target in container_ports.values(), (target, container_ports)


@PROFILE
@given(mcpserver())
def test_selectors_match_the_pod_labels(doc: dict[str, Any]) -> None:
    out = _render(doc)
    dep, svc = out.get("Deployment"), out.get("Service")
    assert dep is not None and svc is not None
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    for selector in (dep["spec"]["selector"]["matchLabels"], svc["spec"]["selector"]):
        assert selector.items() <= pod_labels.items()


@PROFILE
@given(mcpserver())
def test_secret_backed_env_is_a_reference_never_a_value(doc: dict[str, Any]) -> None:
    (pod,) = _pod_specs(_render(doc))
    env = {e["name"]: e for c in pod["containers"] for e in c.get("env", [])}
    secret_names = {e["name"] for e in doc["spec"].get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    secret_names |= {r["envName"] for r in doc["spec"].get("secretRefs", [])}
    for name in secret_names:
        assert "value" not in env[name] and "secretKeyRef" in env[name]["valueFrom"]


@PROFILE
@given(mcpserver())
def test_the_object_set_is_complete_and_in_apply_order(doc: dict[str, Any]) -> None:
    out = _render(doc)
    kinds = out.kinds()
    assert {"ServiceAccount", "Deployment", "Service"} <= set(kinds)
    assert ("ConfigMap" in kinds) == bool(doc["spec"].get("config"))
    assert kinds.index("ServiceAccount") < kinds.index("Deployment")
    dep = out.get("Deployment")
    assert dep is not None
    pod = dep["spec"]["template"]["spec"]
    claimed = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for c in pod["containers"] for m in c.get("volumeMounts", [])} <= claimed
    if "ConfigMap" in kinds:
        cm = out.get("ConfigMap")
        assert cm is not None
        assert any(v.get("configMap", {}).get("name") == cm["metadata"]["name"] for v in pod["volumes"])


@PROFILE
@given(mcpserver_with_features())
def test_every_feature_object_validates_against_its_schema(doc: dict[str, Any]) -> None:
    assert_valid(_render(doc, owner=True))


@PROFILE
@given(mcpserver_with_features())
def test_every_feature_object_is_labelled_and_owned(doc: dict[str, Any]) -> None:
    out = _render(doc, owner=True)
    for obj in out.objects:
        assert obj["metadata"]["ownerReferences"][0]["kind"] == "MCPServer"
        assert "app.kubernetes.io/managed-by" in obj["metadata"]["labels"], obj["kind"]
        assert DNS_LABEL.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63


@PROFILE
@given(mcpserver_with_features())
def test_network_policy_selects_the_pods(doc: dict[str, Any]) -> None:
    out = _render(doc)
    dep = out.get("Deployment")
    assert dep is not None
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    for policy in (o for o in out.objects if o["kind"] == "NetworkPolicy"):
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()


@PROFILE
@given(mcpserver_with_features())
def test_hpa_targets_the_deployment_which_leaves_replicas_to_it(doc: dict[str, Any]) -> None:
    out = _render(doc)
    dep = out.get("Deployment")
    hpa = out.get("HorizontalPodAutoscaler")
    assert dep is not None
    if hpa is None:
        return
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("apps/v1", "Deployment", dep["metadata"]["name"])
    assert "replicas" not in dep["spec"]


@PROFILE
@given(registry_entry_with_secret())
def test_no_secret_value_from_a_registry_entry_is_ever_rendered(case: tuple[dict[str, Any], str]) -> None:
    entry, secret = case
    doc = {
        "apiVersion": "mcp.allbeone.io/v1",
        "kind": "MCPServer",
        "metadata": {"name": "example"},
        "spec": {"registry": {"name": "io.example/mcp"}, "secretRefs": [{"name": "creds", "key": "api-key",
                                                                          "envName": "API_KEY"}]},
    }  # fmt: skip
    server = MCPServer.model_validate(doc)
    try:
        out = render(server, ServerJSON.model_validate(entry))
    except RenderError as err:  # a choice the mapping refuses is reported, never with the secret in it
        assert secret not in str(err)
        return
    assert secret not in out.to_yaml()
    assert all(secret not in w for w in out.warnings)
