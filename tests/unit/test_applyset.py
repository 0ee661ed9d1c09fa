"""ApplySet bookkeeping (KEP-3659 ids, parent label/annotations, group-kinds), the zero-write comparison
(hash annotation + desired ⊆ live), SSA conflict parsing, and the ConfigMap/Secret references of a spec with
their content hash."""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any

import pytest

from mcpop.apply.mcpserver.refs import combined_hash, content_hash, referenced
from mcpop.apply.runtime.client import KubeError
from mcpop.apply.ssa.apply import parse_conflicts
from mcpop.apply.ssa.applyset import (
    GROUP_KINDS_ANNOTATION,
    PART_OF_LABEL,
    applyset_id,
    format_group_kinds,
    group_kind,
    live_group_kinds,
    mark_member,
    parent_metadata,
    parent_needs_update,
    parse_group_kinds,
    split_group_kind,
)
from mcpop.apply.ssa.drift import HASH_ANNOTATION, is_subset, needs_apply, with_hash


def test_applyset_id_follows_kep_3659() -> None:
    digest = hashlib.sha256(b"srv.ns.MCPServer.mcp.allbeone.io").digest()
    expected = "applyset-" + base64.urlsafe_b64encode(digest).decode().rstrip("=") + "-v1"
    assert applyset_id("srv", "ns") == expected
    assert applyset_id("srv", "ns") == "applyset-JbZx90qFK3NFhPJQJi3DslPbiTgGQ9-XZ_tm809MyVw-v1"
    assert len(applyset_id("a" * 253, "b" * 63)) <= 63  # a valid label value whatever the name
    assert applyset_id("srv", "other") != applyset_id("srv", "ns")


def test_group_kinds() -> None:
    assert group_kind({"apiVersion": "apps/v1", "kind": "Deployment"}) == "Deployment.apps"
    assert group_kind({"apiVersion": "v1", "kind": "Service"}) == "Service"
    assert split_group_kind("HorizontalPodAutoscaler.autoscaling") == ("autoscaling", "HorizontalPodAutoscaler")
    assert split_group_kind("DestinationRule.networking.istio.io") == ("networking.istio.io", "DestinationRule")
    assert format_group_kinds({"Service", "Deployment.apps", "ConfigMap"}) == "ConfigMap,Deployment.apps,Service"
    assert parse_group_kinds(" a, b ,,") == {"a", "b"}


def test_parent_metadata() -> None:
    want = parent_metadata("srv", "ns", {"Deployment.apps", "Service"})
    parent = {"metadata": {"labels": want["labels"], "annotations": {**want["annotations"], "x": "y"}}}
    assert not parent_needs_update(parent, want)
    assert live_group_kinds(parent) == {"Deployment.apps", "Service"}
    assert parent["metadata"]["annotations"]["applyset.kubernetes.io/tooling"] == "mcpop/v1"
    assert parent_needs_update({"metadata": {}}, want)
    assert parent_needs_update(parent, parent_metadata("srv", "ns", {"Service"}))
    assert parent["metadata"]["annotations"][GROUP_KINDS_ANNOTATION] == "Deployment.apps,Service"


def test_mark_member_does_not_mutate() -> None:
    o = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "labels": {"a": "b"}}}
    m = mark_member(o, "S")
    assert m["metadata"]["labels"] == {"a": "b", PART_OF_LABEL: "S"} and o["metadata"]["labels"] == {"a": "b"}


def desired() -> dict[str, Any]:
    return with_hash(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "x", "labels": {"a": "b"}},
            "spec": {
                "replicas": 1,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "c",
                                "image": "i",
                                "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}},
                                "env": [{"name": "A", "value": "1"}],
                            }
                        ]
                    }
                },
            },
        }
    )


def live_of(d: dict[str, Any]) -> dict[str, Any]:
    import copy

    live = copy.deepcopy(d)
    live["metadata"].update(resourceVersion="5", uid="u", annotations={**live["metadata"]["annotations"], "z": "1"})
    c = live["spec"]["template"]["spec"]["containers"][0]
    c["resources"]["limits"]["cpu"] = "500m"  # normalised by the apiserver
    c["terminationMessagePath"] = "/dev/termination-log"  # defaulted
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    live["status"] = {"readyReplicas": 1}
    return live


def test_needs_apply() -> None:
    d = desired()
    assert needs_apply(d, None) == "missing"
    assert needs_apply(d, live_of(d)) is None  # defaults and normalised quantities are equal
    changed = with_hash({**d, "spec": {**d["spec"], "replicas": 2}})
    assert needs_apply(changed, live_of(d)) == "changed"
    drifted = live_of(d)
    drifted["spec"]["replicas"] = 3  # someone else changed a field we set
    assert needs_apply(d, drifted) == "drifted"
    other_env = live_of(d)
    other_env["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "B", "value": "2"})
    assert needs_apply(d, other_env) is None  # another manager's list item is not drift
    args = {"a": ["x", "y"]}
    assert not is_subset(args, {"a": ["x", "y", "z"]})  # atomic lists must match exactly
    assert is_subset({"a": [], "b": {}, "c": None}, {})  # empty lists/maps the apiserver may omit
    assert HASH_ANNOTATION in d["metadata"]["annotations"]


@pytest.mark.parametrize("value", [False, 0, ""])
def test_a_removed_false_zero_or_empty_string_is_drift(value: object) -> None:
    assert not is_subset({"allowPrivilegeEscalation": value}, {})
    assert not is_subset({"sc": {"allowPrivilegeEscalation": value}}, {"sc": {}})
    assert is_subset({"allowPrivilegeEscalation": value}, {"allowPrivilegeEscalation": value})


def test_removing_a_security_default_from_a_live_deployment_is_drift() -> None:
    d = with_hash({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                   "spec": {"template": {"spec": {"automountServiceAccountToken": False, "containers": [
                       {"name": "c", "securityContext": {"allowPrivilegeEscalation": False}}]}}}})  # fmt: skip
    live = copy.deepcopy(d)
    assert needs_apply(d, live) is None
    del live["spec"]["template"]["spec"]["automountServiceAccountToken"]
    assert needs_apply(d, live) == "drifted"
    live = copy.deepcopy(d)
    del live["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    assert needs_apply(d, live) == "drifted"
    assert HASH_ANNOTATION in d["metadata"]["annotations"]


def test_parse_conflicts() -> None:
    exc = KubeError(
        409,
        "Conflict",
        {
            "message": 'Apply failed with 1 conflict: conflict with "intruder" using apps/v1: .spec.replicas',
            "details": {
                "causes": [
                    {
                        "reason": "FieldManagerConflict",
                        "field": ".spec.replicas",
                        "message": 'conflict with "intruder" using apps/v1',
                    }
                ]
            },
        },
    )
    assert parse_conflicts(exc) == [(".spec.replicas", "intruder")]
    bare = KubeError(
        409, "Conflict", {"message": 'Apply failed with 1 conflict: conflict with "kubectl-edit": .spec.x'}
    )
    assert parse_conflicts(bare) == [(".spec.x", "kubectl-edit")]


def test_references_and_hash() -> None:
    spec = {
        "env": [
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "c2"}}, {"secretRef": {"name": "s2"}}],
        "secretRefs": [{"name": "s3", "key": "x"}],
        "volumes": [
            {"name": "v", "secret": {"secretName": "s4"}},
            {"name": "w", "configMap": {"name": "c3"}},
            {"name": "p", "projected": {"sources": [{"secret": {"name": "s5"}}, {"configMap": {"name": "c4"}}]}},
        ],
        "configSources": [{"name": "cs", "configMap": {"name": "c5"}}],
        "imagePullSecrets": [{"name": "not-content"}],
    }
    assert referenced(spec) == {("Secret", f"s{i}") for i in range(1, 6)} | {
        ("ConfigMap", f"c{i}") for i in range(1, 6)
    }
    assert content_hash({"data": {"a": "1"}}) != content_hash({"data": {"a": "2"}})
    assert content_hash({"data": {"a": "1"}, "metadata": {"x": 1}}) == content_hash({"data": {"a": "1"}})
    assert combined_hash({}) is None
    h1 = combined_hash({("Secret", "a"): "h1"})
    assert h1 != combined_hash({("Secret", "a"): "h2"}) and h1 != combined_hash({("Secret", "a"): None})
