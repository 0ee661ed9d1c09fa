"""The apply manager (`mcpop.apply.ssa.manager`) against an in-memory API server: one set applied in kind
order, zero writes when nothing changed, prune of members no longer desired (only this parent's), skipped
kinds, objects that are not ours left alone, conflict policies, the deadline, a failed apply, dry runs,
deleting a set, and the events a change set is reported with."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fakekube import SERVED, FakeCache, FakeKube

from mcpop.apply.resources import MCPSERVER, ApiError
from mcpop.apply.ssa.applyset import GROUP_KINDS_ANNOTATION, ID_LABEL, PART_OF_LABEL
from mcpop.apply.ssa.manager import ResourceManager, SetTimeout, events_from, observe

NS = "team"


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def parent(kube: FakeKube) -> dict[str, Any]:
    return kube.put({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                     "metadata": {"name": "srv", "namespace": NS}, "spec": {}})  # fmt: skip


def owned(parent: dict[str, Any], kind: str, name: str, api_version: str = "v1", **body: Any) -> dict[str, Any]:
    meta = parent["metadata"]
    ref = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "name": meta["name"], "uid": meta["uid"],
           "controller": True}  # fmt: skip
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": NS, "ownerReferences": [ref]}, **body}  # fmt: skip


def the_set(parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        owned(parent, "Deployment", "srv", "apps/v1", spec={"replicas": 1}),
        owned(parent, "Service", "srv", spec={"ports": [{"port": 80}]}),
        owned(parent, "ServiceAccount", "srv"),
    ]


def live_parent(kube: FakeKube) -> dict[str, Any]:
    out = kube.stored("MCPServer", NS, "srv")
    assert out is not None
    return out


def test_a_set_is_applied_in_kind_order_after_the_parent_records_it(kube: FakeKube, parent: dict[str, Any]) -> None:
    changes = ResourceManager(kube).apply_set(MCPSERVER, parent, the_set(parent), finalizer="f")
    assert [(c.action, c.kind) for c in changes] == [
        ("created", "ServiceAccount"), ("created", "Service"), ("created", "Deployment")]  # fmt: skip
    assert kube.writes[0] == ("patch", "MCPServer", "srv")  # bookkeeping before anything is applied
    meta = live_parent(kube)["metadata"]
    assert meta["finalizers"] == ["f"] and ID_LABEL in meta["labels"]
    assert meta["annotations"][GROUP_KINDS_ANNOTATION] == "Deployment.apps,Service,ServiceAccount"
    svc = kube.stored("Service", NS, "srv")
    assert svc is not None and svc["metadata"]["labels"][PART_OF_LABEL] == meta["labels"][ID_LABEL]
    assert changes.object("Deployment") == kube.stored("Deployment", NS, "srv")


def test_an_unchanged_set_writes_nothing(kube: FakeKube, parent: dict[str, Any]) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    kube.writes.clear()
    changes = manager.apply_set(MCPSERVER, live_parent(kube), the_set(parent))
    assert kube.writes == [] and {c.action for c in changes} == {"unchanged"}


def test_a_changed_object_is_configured_with_the_fields_that_differ(kube: FakeKube, parent: dict[str, Any]) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    objs = the_set(parent)
    objs[0]["spec"]["replicas"] = 3
    changes = manager.apply_set(MCPSERVER, live_parent(kube), objs)
    dep = next(c for c in changes if c.kind == "Deployment")
    assert dep.action == "configured" and "spec.replicas" in dep.fields


def test_members_no_longer_desired_are_pruned(kube: FakeKube, parent: dict[str, Any]) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    changes = manager.apply_set(MCPSERVER, live_parent(kube), the_set(parent)[:1])
    assert sorted(c.subject for c in changes.of("deleted")) == ["Service/srv", "ServiceAccount/srv"]
    assert kube.stored("Service", NS, "srv") is None
    assert live_parent(kube)["metadata"]["annotations"][GROUP_KINDS_ANNOTATION] == "Deployment.apps"


def test_prune_keeps_members_another_parent_controls(kube: FakeKube, parent: dict[str, Any]) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    svc = kube.stored("Service", NS, "srv")
    assert svc is not None
    svc["metadata"]["ownerReferences"] = [{"uid": "someone-else", "controller": True}]
    changes = manager.apply_set(MCPSERVER, live_parent(kube), the_set(parent)[:1])
    assert [c.subject for c in changes.of("deleted")] == ["ServiceAccount/srv"]
    assert kube.stored("Service", NS, "srv") is not None


def test_an_object_that_is_not_ours_is_never_adopted_and_nothing_is_applied(
    kube: FakeKube, parent: dict[str, Any]
) -> None:
    theirs = kube.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "srv", "namespace": NS},
                       "spec": {"selector": {"app": "theirs"}}})  # fmt: skip
    changes = ResourceManager(kube).apply_set(MCPSERVER, parent, the_set(parent))
    svc = next(c for c in changes if c.kind == "Service")
    assert svc.action == "conflict" and svc.reason.startswith("ObjectExists")
    assert kube.stored("Service", NS, "srv") == theirs  # unchanged: no label, no owner, no selector merged
    assert kube.writes == [] and kube.stored("Deployment", NS, "srv") is None  # the set is refused whole
    assert ("Warning", "ObjectExists") in [e[:2] for e in events_from(changes)]


def test_an_object_that_is_not_ours_is_found_even_when_the_cache_holds_only_members(
    kube: FakeKube, parent: dict[str, Any]
) -> None:
    kube.put({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "srv", "namespace": NS}})
    caches = {"ServiceAccount": FakeCache(kube, "ServiceAccount", label=PART_OF_LABEL)}
    changes = ResourceManager(kube, caches=caches.get).apply_set(MCPSERVER, parent, the_set(parent))
    assert next(c for c in changes if c.kind == "ServiceAccount").action == "conflict"


def test_kinds_whose_api_is_not_served_are_skipped(parent: dict[str, Any]) -> None:
    kube = FakeKube([r for r in SERVED if r.kind != "ServiceAccount"])
    kube.put(parent)
    changes = ResourceManager(kube).apply_set(MCPSERVER, parent, the_set(parent))
    assert [c.line() for c in changes.of("skipped")] == ["ServiceAccount/srv skipped (v1 is not served)"]
    assert len(changes.of("created")) == 2


def test_report_policy_leaves_a_conflicting_object_and_names_the_manager(
    kube: FakeKube, parent: dict[str, Any]
) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    kube.own("Deployment", "srv", "spec.replicas", "hpa-controller")
    objs = the_set(parent)
    objs[0]["spec"]["replicas"] = 2
    changes = manager.apply_set(MCPSERVER, live_parent(kube), objs, policy="report")
    dep = next(c for c in changes if c.kind == "Deployment")
    assert dep.action == "conflict" and dep.conflicts == (("spec.replicas", "hpa-controller"),)
    stored = kube.stored("Deployment", NS, "srv")
    assert stored is not None and stored["spec"]["replicas"] == 1


def test_the_same_conflict_is_not_asked_again_until_forgotten(kube: FakeKube, parent: dict[str, Any]) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    kube.own("Deployment", "srv", "spec.replicas", "hpa-controller")
    objs = the_set(parent)
    objs[0]["spec"]["replicas"] = 2
    manager.apply_set(MCPSERVER, live_parent(kube), objs, policy="report")
    before = kube.requests
    again = manager.apply_set(MCPSERVER, live_parent(kube), objs, policy="report")
    assert next(c for c in again if c.kind == "Deployment").action == "conflict"
    assert not any(e[1] == "Conflict" for e in events_from(again))  # told once
    reads = kube.requests - before
    manager.forget(MCPSERVER, NS, "srv")
    before = kube.requests
    manager.apply_set(MCPSERVER, live_parent(kube), objs, policy="report")
    assert kube.requests - before == reads + 1  # asked again: the apply that conflicts


def test_force_policy_takes_the_fields_back_and_says_from_whom(kube: FakeKube, parent: dict[str, Any]) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    kube.own("Deployment", "srv", "spec.replicas", "kubectl-edit")
    objs = the_set(parent)
    objs[0]["spec"]["replicas"] = 2
    changes = manager.apply_set(MCPSERVER, live_parent(kube), objs)
    dep = next(c for c in changes if c.kind == "Deployment")
    assert dep.action == "configured" and dep.conflicts == (("spec.replicas", "kubectl-edit"),)
    assert ("Warning", "FieldsTakenOver") in [e[:2] for e in events_from(changes)]


def test_a_set_past_its_deadline_stops(kube: FakeKube, parent: dict[str, Any]) -> None:
    with pytest.raises(SetTimeout):
        ResourceManager(kube).apply_set(MCPSERVER, parent, the_set(parent), deadline=time.monotonic() - 1)


def test_a_failed_apply_stops_the_set_and_prunes_nothing(kube: FakeKube, parent: dict[str, Any]) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    kube.fail[("Deployment", "srv")] = ApiError(422, "Invalid", {"message": "spec.replicas: Invalid value"})
    objs = the_set(parent)[:1]
    objs[0]["spec"]["replicas"] = 5
    changes = manager.apply_set(MCPSERVER, live_parent(kube), objs)
    assert changes.error is not None and [c.line() for c in changes.of("failed")] == [
        "Deployment/srv failed (spec.replicas: Invalid value)"]  # fmt: skip
    assert not changes.of("deleted") and kube.stored("Service", NS, "srv") is not None


def test_a_dry_run_writes_nothing_and_reports_what_would_change(kube: FakeKube, parent: dict[str, Any]) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    kube.writes.clear()
    objs = the_set(parent)[:1]
    objs[0]["spec"]["replicas"] = 4
    changes = manager.apply_set(MCPSERVER, live_parent(kube), objs, dry_run=True)
    assert kube.writes == []
    assert sorted((c.action, c.kind) for c in changes) == [
        ("configured", "Deployment"), ("deleted", "Service"), ("deleted", "ServiceAccount")]  # fmt: skip
    merged = changes.object("Deployment")
    assert merged is not None and merged["spec"]["replicas"] == 4


def test_deleting_a_set_removes_only_this_parents_members(kube: FakeKube, parent: dict[str, Any]) -> None:
    manager = ResourceManager(kube)
    manager.apply_set(MCPSERVER, parent, the_set(parent))
    svc = kube.stored("Service", NS, "srv")
    assert svc is not None
    svc["metadata"]["ownerReferences"] = [{"uid": "someone-else", "controller": True}]
    deleted, remaining = manager.delete_set(MCPSERVER, live_parent(kube))
    assert sorted(c.subject for c in deleted) == ["Deployment/srv", "ServiceAccount/srv"] and remaining == 0
    assert kube.stored("Service", NS, "srv") is not None


def test_events_and_metrics_come_from_the_change_set(kube: FakeKube, parent: dict[str, Any]) -> None:
    from mcpop.apply.runtime.metrics import OBJECTS

    before = OBJECTS.labels("created", "Service")._value.get()
    changes = ResourceManager(kube).apply_set(MCPSERVER, parent, the_set(parent))
    observe(changes)
    assert OBJECTS.labels("created", "Service")._value.get() == before + 1
    assert events_from(changes) == [
        ("Normal", "Applied", "ServiceAccount/srv created; Service/srv created; Deployment/srv created")]  # fmt: skip


def test_a_conflict_reported_last_time_is_not_reported_again(kube: FakeKube, parent: dict[str, Any]) -> None:
    kube.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "srv", "namespace": NS}})
    manager = ResourceManager(kube)
    first = manager.apply_set(MCPSERVER, parent, the_set(parent))
    again = manager.apply_set(MCPSERVER, parent, the_set(parent))
    assert [e[1] for e in events_from(first)] == ["ObjectExists"]
    assert again.of("conflict") == first.of("conflict") and events_from(again) == []
