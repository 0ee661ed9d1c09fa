"""The change set: what an apply did, as data."""

from __future__ import annotations

from mcpop.apply.ssa.changeset import Change, ChangeSet, changed_fields


def test_changed_fields_names_each_field_we_set_that_differs_live() -> None:
    desired = {"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "b"}]}}}}
    live = {
        "spec": {"replicas": 1, "paused": False, "template": {"spec": {"containers": [{"name": "c", "image": "a"}]}}}
    }
    assert changed_fields(desired, live) == ("spec.replicas", "spec.template.spec.containers[0].image")


def test_fields_only_live_has_are_not_changes() -> None:
    desired = {"metadata": {"name": "x"}, "spec": {"a": 1}}
    live = {"metadata": {"name": "x", "uid": "u", "managedFields": []}, "spec": {"a": 1, "defaulted": True}}
    assert changed_fields(desired, live) == ()


def test_a_field_live_lacks_is_a_change_and_the_hash_annotation_is_not() -> None:
    desired = {"metadata": {"annotations": {"mcp.allbeone.io/applied-hash": "new"}}, "spec": {"b": False}}
    live = {"metadata": {"annotations": {"mcp.allbeone.io/applied-hash": "old"}}, "spec": {}}
    assert changed_fields(desired, live) == ("spec.b",)


def test_summary_lists_only_the_requested_actions_in_order() -> None:
    cs = ChangeSet()
    cs.add(Change("created", "ServiceAccount", "s"))
    cs.add(Change("unchanged", "Service", "s"))
    cs.add(Change("configured", "Deployment", "s", fields=("spec.replicas",)))
    cs.add(Change("deleted", "HorizontalPodAutoscaler", "s"))
    assert cs.changed
    assert cs.summary("created", "configured") == "ServiceAccount/s created; Deployment/s configured (spec.replicas)"
    assert [c["action"] for c in cs.to_list()] == ["created", "unchanged", "configured", "deleted"]


def test_a_change_set_of_unchanged_objects_changed_nothing() -> None:
    assert not ChangeSet([Change("unchanged", "Service", "s"), Change("skipped", "VerticalPodAutoscaler", "s")]).changed
