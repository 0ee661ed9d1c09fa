"""The cached view of an applied object: what mcpop applied (its managedFields entry), metadata and status."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mcpop.apply.ssa.drift import is_subset, needs_apply, with_hash
from mcpop.apply.ssa.fields import applied_fields, applied_view, project


def fields_of(value: Any) -> dict[str, Any]:
    """The FieldsV1 an apply of `value` gives its manager (lists of named maps keyed by name, others atomic)."""
    if isinstance(value, dict):
        return {f"f:{k}": fields_of(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value):
        return {f"k:{json.dumps({'name': i['name']})}": {".": {}, **fields_of(i)} for i in value}
    return {}


def managed(manager: str, fields: dict[str, Any], operation: str = "Apply", **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "fieldsType": "FieldsV1", "fieldsV1": fields, **extra}


DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "team", "labels": {"app": "web"}},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": "ghcr.io/x/web:1",
                        "args": ["--port", "8000"],
                        "env": [{"name": "MODE", "value": "fast"}],
                    }
                ]
            },
        },
    },
}


def live_of(desired: dict[str, Any]) -> dict[str, Any]:
    """`desired` as the API server returns it: defaults, another manager's fields, status, managedFields."""
    live = copy.deepcopy(with_hash(desired))
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata")}
    live["metadata"].update(
        uid="u-1",
        resourceVersion="7",
        generation=2,
        managedFields=[
            managed("mcpop", {"f:metadata": {}, **fields_of(body)}),
            managed("kube-controller-manager", {"f:status": {}}, "Update", subresource="status"),
        ],
    )
    spec = live["spec"]
    spec.update(replicas=3, revisionHistoryLimit=10, progressDeadlineSeconds=600)
    container = spec["template"]["spec"]["containers"][0]
    container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    spec["template"]["spec"].update(dnsPolicy="ClusterFirst", restartPolicy="Always")
    live["status"] = {"replicas": 3, "readyReplicas": 3, "observedGeneration": 2}
    return live


def test_the_view_keeps_only_the_applied_fields_metadata_and_status() -> None:
    view = applied_view(live_of(DESIRED), "mcpop")
    assert view["spec"]["template"]["spec"] == DESIRED["spec"]["template"]["spec"]
    assert "revisionHistoryLimit" not in view["spec"] and "dnsPolicy" not in view["spec"]["template"]["spec"]
    assert view["status"]["readyReplicas"] == 3 and view["metadata"]["uid"] == "u-1"


def test_the_view_keeps_a_field_mcpop_reads_but_does_not_apply() -> None:
    assert applied_view(live_of(DESIRED), "mcpop")["spec"]["replicas"] == 3  # set by an autoscaler


def test_an_unchanged_object_needs_no_apply_against_its_view() -> None:
    desired = with_hash(DESIRED)
    assert needs_apply(desired, applied_view(live_of(DESIRED), "mcpop")) is None


def test_a_field_another_manager_took_over_is_drift_in_the_view() -> None:
    live = live_of(DESIRED)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil.example/web:1"
    fields = live["metadata"]["managedFields"][0]["fieldsV1"]
    del fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name": "server"}']["f:image"]
    assert needs_apply(with_hash(DESIRED), applied_view(live, "mcpop")) == "drifted"


def test_an_object_mcpop_never_applied_has_no_applied_fields_and_is_drift() -> None:
    live = live_of(DESIRED)
    live["metadata"]["managedFields"] = [managed("kubectl", {"f:spec": {}})]
    view = applied_view(live, "mcpop")
    assert applied_fields(live, "mcpop") is None and set(view["spec"]) == {"replicas"}
    assert needs_apply(with_hash(DESIRED), view) == "drifted"


def test_only_the_managers_apply_entry_counts_not_its_updates_or_subresources() -> None:
    obj = {
        "metadata": {
            "managedFields": [
                managed("mcpop", {"f:a": {}}, "Update"),
                managed("mcpop", {"f:b": {}}, subresource="status"),
                managed("mcpop", {"f:c": {}}),
            ]
        }
    }
    assert applied_fields(obj, "mcpop") == {"f:c": {}}


def test_keyed_list_items_are_kept_in_live_order_and_others_dropped() -> None:
    live = [{"name": "b", "value": "2", "extra": 1}, {"name": "x", "value": "9"}, {"name": "a", "value": "1"}]
    fields = {'k:{"name":"a"}': {".": {}, "f:value": {}}, 'k:{"name":"b"}': {".": {}, "f:value": {}}}
    assert project(live, fields) == [{"value": "2"}, {"value": "1"}]


def test_set_items_are_kept_by_value() -> None:
    assert project(["a", "b", "c"], {'v:"c"': {}, 'v:"a"': {}}) == ["a", "c"]


def test_a_leaf_is_kept_whole() -> None:
    assert project({"k": {"deep": [1, 2]}}, {"f:k": {}}) == {"k": {"deep": [1, 2]}}


_leaf = st.one_of(st.booleans(), st.integers(-5, 5), st.text("ab", max_size=3))
_name = st.text("abc", min_size=1, max_size=3)
_tree = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.dictionaries(_name, inner, max_size=4),
        st.lists(
            st.fixed_dictionaries({"name": _name}, optional={"v": inner}), max_size=3, unique_by=lambda i: i["name"]
        ),
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(_name, _tree, min_size=1, max_size=4),
    st.dictionaries(st.text("xyz", min_size=1, max_size=3), _tree),
)
def test_what_was_applied_is_always_within_its_view(desired: dict[str, Any], others: dict[str, Any]) -> None:
    """Whatever was applied, the view of the live object (with others' fields beside it) still holds it all,
    and nothing of the other managers' fields."""
    live = {**copy.deepcopy(desired), **others}
    view = project(live, fields_of(desired))
    assert is_subset(desired, view)
    assert not set(others) & set(view)
