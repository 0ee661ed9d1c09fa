"""The informer's namespace index: `items(namespace)` reads only that namespace's keys."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mcpop.apply.resources import Resource
from mcpop.apply.runtime.informer import Informer

RES = Resource("", "v1", "ConfigMap", "configmaps", True)


def cm(ns: str, name: str, rv: int = 1) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"namespace": ns, "name": name, "resourceVersion": str(rv)}}  # fmt: skip


def names(objs: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def test_items_of_a_namespace_come_from_the_index() -> None:
    inf = Informer(None, RES)  # type: ignore[arg-type]
    for ns, name in [("a", "x"), ("b", "y"), ("a", "z")]:
        inf.on_event("ADDED", cm(ns, name))
    assert names(inf.items("a")) == ["x", "z"] and names(inf.items("b")) == ["y"]
    assert inf._by_ns is not None and set(inf._by_ns) == {"a", "b"}
    inf.on_event("DELETED", cm("b", "y"))
    assert inf.items("b") == [] and "b" not in inf._by_ns
    inf._replace({("c", "w"): cm("c", "w")})
    assert names(inf.items("c")) == ["w"] and inf.items("a") == []


ops = st.lists(st.tuples(st.booleans(), st.sampled_from("abc"), st.sampled_from("xyz")), max_size=40)


@given(ops)
def test_the_index_agrees_with_a_scan_of_the_store(steps: list[tuple[bool, str, str]]) -> None:
    indexed = Informer(None, RES)  # type: ignore[arg-type]
    plain = Informer(None, RES, indexed=False)  # type: ignore[arg-type]
    for rv, (put, ns, name) in enumerate(steps):
        for inf in (indexed, plain):
            inf.on_event("MODIFIED" if put else "DELETED", cm(ns, name, rv))
    for ns in "abc":
        assert sorted(names(indexed.items(ns))) == sorted(names(plain.items(ns)))


def test_the_cache_holds_what_the_watch_said_last_and_tells_the_handlers() -> None:
    """Watches are the cache's only writer: every event replaces the cached object (resourceVersions are
    opaque: never compared as numbers) and the handlers see the old and the new version."""
    inf = Informer(None, RES)  # type: ignore[arg-type]
    seen: list[tuple[str, str | None, str | None]] = []
    inf.handlers.append(lambda kind, old, new: seen.append(
        (kind, old and old["metadata"]["resourceVersion"], new and new["metadata"]["resourceVersion"])))  # fmt: skip
    inf.on_event("ADDED", cm("a", "x", 10))
    inf.on_event("MODIFIED", cm("a", "x", 9))  # an etcd restore may go "back": the watch is still right
    inf.on_event("DELETED", cm("a", "x", 11))
    assert seen == [("ADDED", None, "10"), ("MODIFIED", "10", "9"), ("DELETED", "9", None)]
    assert inf.get("a", "x") is None


def test_cached_objects_drop_managed_fields() -> None:
    inf = Informer(None, RES)  # type: ignore[arg-type]
    obj = cm("a", "x")
    obj["metadata"]["managedFields"] = [{"manager": "mcpop", "operation": "Apply", "fieldsV1": {"f:data": {}}}]
    inf.on_event("ADDED", obj)
    cached = inf.get("a", "x")
    assert cached is not None and "managedFields" not in cached["metadata"]


LABEL = "applyset.kubernetes.io/part-of"
label_ops = st.lists(st.tuples(st.booleans(), st.sampled_from("ab"), st.sampled_from("xyz"),
                               st.sampled_from([None, "s1", "s2"])), max_size=40)  # fmt: skip


@given(label_ops)
def test_the_label_index_agrees_with_a_scan_as_labels_change(steps: list[tuple[bool, str, str, str | None]]) -> None:
    """An ApplySet's members are found through the index (no scan of a namespace of thousands), and an object
    whose label changed or went away is found under its new value only."""
    indexed = Informer(None, RES, index_label=LABEL)  # type: ignore[arg-type]
    for rv, (put, ns, name, value) in enumerate(steps):
        obj = cm(ns, name, rv)
        if value is not None:
            obj["metadata"]["labels"] = {LABEL: value}
        indexed.on_event("MODIFIED" if put else "DELETED", obj)
    for ns in "ab":
        for value in ("s1", "s2"):
            scan = [o for o in indexed.items(ns) if (o["metadata"].get("labels") or {}).get(LABEL) == value]
            assert sorted(names(indexed.labelled(ns, LABEL, value))) == sorted(names(scan))


def test_a_relist_rebuilds_the_label_index() -> None:
    inf = Informer(None, RES, index_label=LABEL)  # type: ignore[arg-type]
    inf.on_event("ADDED", {**cm("a", "x"), "metadata": {**cm("a", "x")["metadata"], "labels": {LABEL: "s1"}}})
    inf._replace({("a", "y"): {**cm("a", "y"), "metadata": {**cm("a", "y")["metadata"], "labels": {LABEL: "s1"}}}})
    assert names(inf.labelled("a", LABEL, "s1")) == ["y"]


def test_every_read_gets_a_copy_of_its_own_so_no_reader_changes_the_cache() -> None:
    """The watch is the cache's only writer: what a reconcile does with an object it read stays its own."""
    inf = Informer(None, RES, index_label=LABEL)  # type: ignore[arg-type]
    inf.on_event("ADDED", {**cm("a", "x"), "metadata": {**cm("a", "x")["metadata"], "labels": {LABEL: "s1"}}})
    for read in (lambda: inf.get("a", "x"), lambda: inf.items("a")[0], lambda: inf.labelled("a", LABEL, "s1")[0]):
        obj = read()
        assert obj is not None
        obj["metadata"]["labels"][LABEL] = "changed"
        obj["data"] = {"k": "v"}
    assert inf.get("a", "x") == {**cm("a", "x"), "metadata": {**cm("a", "x")["metadata"], "labels": {LABEL: "s1"}}}


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=30))  # fmt: skip
def test_a_cached_object_reads_back_as_the_watch_gave_it(data: Any) -> None:
    """The store keeps objects as compact JSON: any JSON value inside one reads back equal."""
    inf = Informer(None, RES)  # type: ignore[arg-type]
    obj = {**cm("a", "x"), "data": data}
    inf.on_event("ADDED", dict(obj))
    assert inf.get("a", "x") == obj and inf.items() == [obj]
