"""`Model.wire()`: what the user wrote survives into the rendered objects, empty `{}` and `[]` included
(`labelSelector: {}` selects every pod; an absent one selects none); only unset fields are omitted."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import dns_label

from mcpop.api.core import Affinity, Volume
from mcpop.api.mcpserver import MCPServer
from mcpop.render import render

BASE = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "s"}}

label_key = st.sampled_from(["app", "tier", "example.com/role", "kubernetes.io/os"])
label_value = st.sampled_from(["web", "db", "a-b", "x.y", "1"])
match_labels = st.dictionaries(label_key, label_value, max_size=2)
values = st.lists(label_value, min_size=1, max_size=2)
requirement = st.one_of(
    st.fixed_dictionaries({"key": label_key, "operator": st.sampled_from(["In", "NotIn"]), "values": values}),
    st.fixed_dictionaries({"key": label_key, "operator": st.sampled_from(["Exists", "DoesNotExist"])}),
)
label_selector = st.fixed_dictionaries(
    {}, optional={"matchLabels": match_labels, "matchExpressions": st.lists(requirement, max_size=2)}
)
pod_affinity_term = st.fixed_dictionaries(
    {"topologyKey": st.sampled_from(["kubernetes.io/hostname", "topology.kubernetes.io/zone"])},
    optional={
        "labelSelector": label_selector,
        "namespaceSelector": label_selector,
        "namespaces": st.lists(dns_label(20), max_size=2, unique=True),
    },
)
pod_affinity = st.fixed_dictionaries(
    {},
    optional={
        "requiredDuringSchedulingIgnoredDuringExecution": st.lists(pod_affinity_term, max_size=2),
        "preferredDuringSchedulingIgnoredDuringExecution": st.lists(
            st.fixed_dictionaries({"weight": st.integers(1, 100), "podAffinityTerm": pod_affinity_term}), max_size=2
        ),
    },
)
node_term = st.fixed_dictionaries({}, optional={"matchExpressions": st.lists(requirement, max_size=2)})
node_affinity = st.fixed_dictionaries(
    {},
    optional={
        "requiredDuringSchedulingIgnoredDuringExecution": st.fixed_dictionaries(
            {"nodeSelectorTerms": st.lists(node_term, min_size=1, max_size=2)}
        ),
        "preferredDuringSchedulingIgnoredDuringExecution": st.lists(
            st.fixed_dictionaries({"weight": st.integers(1, 100), "preference": node_term}), max_size=2
        ),
    },
)
affinity = st.fixed_dictionaries(
    {}, optional={"nodeAffinity": node_affinity, "podAffinity": pod_affinity, "podAntiAffinity": pod_affinity}
).filter(bool)
key_to_path = st.fixed_dictionaries({"key": st.sampled_from(["a", "b.json"]), "path": st.sampled_from(["a", "d/b"])})


empty_dir = st.fixed_dictionaries({}, optional={"medium": st.just("Memory"), "sizeLimit": st.just("1Gi")})
source_body = st.fixed_dictionaries(
    {},
    optional={"items": st.lists(key_to_path, max_size=2, unique_by=lambda i: i["path"]), "optional": st.booleans()},
)


@st.composite
def user_volume(draw: st.DrawFn, index: int) -> dict[str, Any]:
    source = draw(st.sampled_from(["emptyDir", "configMap", "secret"]))
    name = f"user-{index}"
    if source == "emptyDir":
        return {"name": name, "emptyDir": draw(empty_dir)}
    return {"name": name, source: {("secretName" if source == "secret" else "name"): "src", **draw(source_body)}}


@st.composite
def user_volumes(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [draw(user_volume(i)) for i in range(draw(st.integers(1, 3)))]


def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    out = render(MCPServer.model_validate({**BASE, "spec": {"image": "ghcr.io/a/b", **spec}}))
    deployment = out.get("Deployment")
    assert deployment is not None
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROFILE
@given(affinity)
def test_every_affinity_field_the_user_sets_survives_into_the_deployment(value: dict[str, Any]) -> None:
    assert _pod({"affinity": value})["affinity"] == value


@PROFILE
@given(user_volumes())
def test_every_volume_field_the_user_sets_survives_into_the_deployment(value: list[dict[str, Any]]) -> None:
    assert _pod({"volumes": value})["volumes"][: len(value)] == value


@PROFILE
@given(st.one_of(affinity.map(lambda v: (Affinity, v)), user_volume(0).map(lambda v: (Volume, v))))
def test_wire_returns_exactly_what_was_validated(case: tuple[type[Any], dict[str, Any]]) -> None:
    model, data = case
    assert model.model_validate(data).wire() == data


def test_an_empty_label_selector_is_kept_because_it_selects_every_pod() -> None:
    term = {"topologyKey": "kubernetes.io/hostname", "labelSelector": {}, "namespaceSelector": {}}
    value = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    assert _pod({"affinity": value})["affinity"] == value


def test_an_empty_empty_dir_is_kept() -> None:
    (volume, *_) = _pod({"volumes": [{"name": "scratch", "emptyDir": {}}]})["volumes"]
    assert volume == {"name": "scratch", "emptyDir": {}}


def test_fields_left_unset_are_still_omitted() -> None:
    assert Affinity.model_validate({"podAffinity": {}}).wire() == {"podAffinity": {}}
    assert Volume.model_validate({"name": "v", "emptyDir": {"medium": None}}).wire() == {"name": "v", "emptyDir": {}}
