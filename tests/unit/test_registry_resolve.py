"""MCPServer → registry resolution in the controller (no cluster: informers are stand-ins)."""

from __future__ import annotations

import threading
from typing import Any

from mcpop.api.serverjson import ServerJSON
from mcpop.apply.catalog_store import desired_configmaps
from mcpop.apply.mcpserver.reconciler import MCPServerController
from mcpop.apply.settings import OperatorSettings
from mcpop.sources.catalog import load_embedded


class Store:
    """Enough of an Informer: get and items."""

    handlers: list[Any]

    def __init__(self, objs: list[dict[str, Any]]) -> None:
        self.objs = objs
        self.synced = threading.Event()
        self.synced.set()

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.objs if o["metadata"]["name"] == name), None)

    def items(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return list(self.objs)


def entry(name: str, version: str = "1.0.0") -> ServerJSON:
    base = load_embedded().resolve("filesystem").wire()
    return ServerJSON.model_validate({**base, "name": name, "version": version})


def controller(registries: list[dict[str, Any]], cms: list[dict[str, Any]], enqueued: list[Any]) -> Any:
    return MCPServerController(None, OperatorSettings(), Store([]), {}, {}, None, enqueued.append,  # type: ignore[arg-type]
                               registries=Store(registries), catalog_configmaps=Store(cms))  # type: ignore[arg-type]  # fmt: skip


REG = {
    "metadata": {"name": "default", "namespace": "ns", "uid": "u1"},
    "status": {"lastSyncTime": "2027-01-01T00:00:00Z"},
}


def test_resolves_from_the_default_registry_and_indexes_the_server() -> None:
    cms = desired_configmaps(REG, [entry("io.example/alpha", "1.0.0"), entry("io.example/alpha", "1.1.0")])
    enq: list[Any] = []
    ctl = controller([REG], cms, enq)
    resolved = ctl._resolve(("ns", "srv"), "alpha", None, None)
    got, cond, status = resolved.entry, resolved.condition, resolved.status
    assert (
        got is not None
        and got.version == "1.1.0"
        and cond == ("True", "Fetched", "io.example/alpha 1.1.0 from MCPRegistry default")
    )
    assert status is not None and (status["name"], status["version"]) == ("io.example/alpha", "1.1.0")
    # a change of a stored entry re-reconciles the server
    ctl.on_catalog("MODIFIED", cms[0], {**cms[0], "data": {"server.json": "{}"}})
    assert enq == [("ns", "srv")]
    # the registry's readiness flipping does too; a status-only change that keeps it does not
    ctl.on_registry("MODIFIED", REG, {**REG, "status": {"lastSyncTime": "2027-01-02T00:00:00Z"}})
    assert enq == [("ns", "srv")]
    ctl.on_registry("DELETED", REG, None)
    assert enq == [("ns", "srv")] * 2


def test_not_found_ambiguous_and_not_ready() -> None:
    cms = desired_configmaps(REG, [entry("io.a/tool"), entry("io.b/tool")])
    ctl = controller([REG], cms, [])
    assert ctl._resolve(("ns", "s"), "tool", None, None).condition[1] == "Ambiguous"
    assert ctl._resolve(("ns", "s"), "nothing", None, None).condition[1] == "NotFound"
    pending = {"metadata": {"name": "new", "namespace": "ns", "uid": "u2"}, "status": {}}
    ctl = controller([pending], [], [])
    resolved = ctl._resolve(("ns", "s"), "tool", None, "new")
    got, cond = resolved.entry, resolved.condition
    assert got is None and cond[:2] == ("False", "RegistryNotReady")


def test_without_the_registry_the_embedded_catalogue_is_used() -> None:
    ctl = controller([], [], [])
    resolved = ctl._resolve(("ns", "s"), "filesystem-server", None, None)
    got, cond = resolved.entry, resolved.condition
    assert got is not None and cond[0] == "True" and "embedded catalogue" in cond[2]


def test_lookup_failures_are_typed_not_read_from_the_message() -> None:
    import pytest

    from mcpop.render.catalog import AmbiguousEntry, Catalog, EntryNotFound
    from mcpop.render.errors import RenderError

    catalog = Catalog([entry("io.a/tool"), entry("io.b/tool")], "test catalogue")
    with pytest.raises(AmbiguousEntry) as amb:
        catalog.resolve("tool")
    with pytest.raises(EntryNotFound):
        catalog.resolve("nothing")
    with pytest.raises(EntryNotFound):
        catalog.resolve("io.a/tool", "9.9.9")
    assert isinstance(amb.value, RenderError) and amb.value.field == "spec.registry.name"
    # a NotFound whose message happens to contain the word is still NotFound
    ctl = controller([REG], desired_configmaps(REG, [entry("io.a/tool")]), [])
    assert ctl._resolve(("ns", "s"), "ambiguous", None, None).condition[1] == "NotFound"
