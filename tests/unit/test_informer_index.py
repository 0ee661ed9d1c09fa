"""The informer's namespace index: `items(namespace)` reads only that namespace's keys."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mcpop.apply.runtime.client import Resource
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
        inf.upsert(cm(ns, name))
    assert names(inf.items("a")) == ["x", "z"] and names(inf.items("b")) == ["y"]
    assert inf._by_ns is not None and set(inf._by_ns) == {"a", "b"}
    inf.forget("b", "y")
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
            if put:
                inf.upsert(cm(ns, name, rv))
            else:
                inf.forget(ns, name)
    for ns in "abc":
        assert sorted(names(indexed.items(ns))) == sorted(names(plain.items(ns)))


def test_an_upsert_with_notify_tells_the_handlers_what_its_watch_event_no_longer_will() -> None:
    """The watch event of an object the operator wrote is skipped (the cache has it already), so a status
    that other controllers wait for (an MCPRegistry's lastSyncTime) is announced at the upsert."""
    inf = Informer(None, RES)  # type: ignore[arg-type]
    seen: list[tuple[str, str | None, str]] = []
    inf.handlers.append(lambda kind, old, new: seen.append(
        (kind, old and old["metadata"]["resourceVersion"], new["metadata"]["resourceVersion"])))  # fmt: skip
    inf.upsert(cm("a", "x", 1))  # a plain upsert: silent, as before
    inf.upsert(cm("a", "x", 2), notify=True)
    inf.upsert(cm("a", "x", 2), notify=True)  # not newer: nothing changed, nothing said
    inf.upsert(cm("a", "y", 5), notify=True)
    assert seen == [("MODIFIED", "1", "2"), ("ADDED", None, "5")]
