"""The official registry API source against a real local HTTP server (pages, faults, incremental sync)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from registry_server import OFFICIAL, FakeClock, Fault, RegistryServer, State, registry_item, seed_items

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.sources.http import UrllibClient
from mcpop.sources.official import fetch_official
from mcpop.sources.retry import RetryConfig, RetryPolicy, SourceError
from mcpop.sources.sync import SyncResult, sync

AIRTABLE = "io.github.domdomegg/airtable-mcp-server"
NUGET = "io.github.domdomegg/time-mcp-nuget"
PYPI = "io.github.domdomegg/time-mcp-pypi"
T0 = 1767225600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def srv() -> Iterator[RegistryServer]:
    with RegistryServer() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def policy(clock: FakeClock, **overrides: Any) -> RetryPolicy:
    config = RetryConfig(**{"max_retries": 3, "network_max_retries": 3, "rate_limit_max_retries": 2, **overrides})
    return RetryPolicy(config, sleep=clock.sleep, clock=clock.time)


def spec(url: str, **registry: Any) -> MCPRegistrySpec:
    extra = registry.pop("filters", None)
    body: dict[str, Any] = {"source": {"type": "mcp-registry", "mcpRegistry": {"url": url, **registry}}}
    if extra:
        body["filters"] = extra
    return MCPRegistrySpec.model_validate(body)


def run(srv: RegistryServer, clock: FakeClock, previous: SyncResult | None = None, **kw: Any) -> SyncResult:
    incremental = kw.pop("incremental", False)
    client = UrllibClient(timeout=kw.pop("timeout", 5.0))
    return sync(spec(srv.url, **kw), client, previous, policy=policy(clock), clock=clock.time, incremental=incremental)


def test_seed_gives_four_valid_entries_and_one_reported_invalid(srv: RegistryServer, clock: FakeClock) -> None:
    result = run(srv, clock, versionPolicy="all")
    assert result.ok, result.error
    assert sorted((e.name, e.version) for e in result.entries) == [
        (AIRTABLE, "1.7.2"),
        (AIRTABLE, "1.7.3"),
        (NUGET, "1.0.8"),
        (PYPI, "1.0.6"),
    ]
    assert [i.name for i in result.invalid] == ["kbag 1.0.0"]
    assert "transport" in result.invalid[0].reason
    # five entries in pages of two: three pages, each cursor passed back unchanged
    assert [r.query.get("cursor") for r in srv.state.requests] == [None, "c2", "c4"]
    assert result.synced_at == "2026-01-01T00:00:00Z"


def test_latest_policy_keeps_the_newest_version_per_name(srv: RegistryServer, clock: FakeClock) -> None:
    result = run(srv, clock)
    assert sorted((e.name, e.version) for e in result.entries) == [
        (AIRTABLE, "1.7.3"),
        (NUGET, "1.0.8"),
        (PYPI, "1.0.6"),
    ]
    assert result.catalog.resolve("airtable-mcp-server").version == "1.7.3"


def test_only_active_entries_are_kept_and_deleted_ones_reported(srv: RegistryServer, clock: FakeClock) -> None:
    srv.state.items[2]["_meta"][OFFICIAL]["status"] = "deleted"
    srv.state.items[3]["_meta"][OFFICIAL]["status"] = "deprecated"
    result = run(srv, clock, versionPolicy="all")
    assert {e.name for e in result.entries} == {AIRTABLE}
    assert [(d.name, d.version) for d in result.deleted] == [(NUGET, "1.0.8")]
    assert result.skipped == [f"{PYPI} 1.0.6 (deprecated)"]


def test_search_and_filters(srv: RegistryServer, clock: FakeClock) -> None:
    result = run(srv, clock, search="time-mcp")
    assert {e.name for e in result.entries} == {NUGET, PYPI}
    assert all(r.query.get("search") == "time-mcp" for r in srv.state.requests)
    filtered = run(srv, clock, filters={"include": ["io.github.domdomegg/*"], "exclude": ["*-nuget"]})
    assert {e.name for e in filtered.entries} == {AIRTABLE, PYPI}
    assert {e.name for e in filtered.unfiltered} == {AIRTABLE, NUGET, PYPI}


def test_incremental_sync_asks_for_changes_since_the_last_sync(srv: RegistryServer, clock: FakeClock) -> None:
    first = run(srv, clock)
    assert first.ok and len(first.entries) == 3
    # after the first sync: a new version of one server, another deleted
    newer = copy.deepcopy(srv.state.items[3]["server"])
    newer["version"] = "1.0.7"
    later = "2026-01-01T01:00:00Z"
    srv.state.items.append(registry_item(newer, updated_at=later))
    srv.state.items[2]["_meta"][OFFICIAL].update(status="deleted", updatedAt=later)
    clock.now += 7200
    srv.state.requests.clear()
    second = run(srv, clock, first, incremental=True)
    assert second.ok and second.incremental
    assert [r.query.get("updated_since") for r in srv.state.requests] == ["2026-01-01T00:00:00Z"]
    assert sorted((e.name, e.version) for e in second.entries) == [(AIRTABLE, "1.7.3"), (PYPI, "1.0.7")]
    assert second.synced_at == "2026-01-01T02:00:00Z"


def test_outage_keeps_the_last_catalogue(srv: RegistryServer, clock: FakeClock) -> None:
    first = run(srv, clock)
    assert first.ok
    srv.state.faults.append(Fault("status", status=503, times=-1))
    second = run(srv, clock, first)
    assert not second.ok and not second.reachable
    assert "503" in (second.error or "")
    assert second.entries == first.entries and second.synced_at == first.synced_at
    assert clock.sleeps == [1.0, 2.0, 4.0]  # exponential backoff, three retries
    srv.state.faults.clear()
    srv.state.faults.append(Fault("drop", times=-1))
    third = run(srv, clock, second)
    assert not third.ok and not third.reachable and third.entries == first.entries


def test_a_failing_later_page_never_publishes_half_a_catalogue(srv: RegistryServer, clock: FakeClock) -> None:
    srv.state.page_size = 1
    # pages 1-2 answer, then every request fails
    srv.state.faults.append(Fault("slow", seconds=0, times=2))
    srv.state.faults.append(Fault("status", status=500, times=-1))
    result = run(srv, clock)
    assert not result.ok and result.entries == [] and result.unfiltered == []
    with pytest.raises(SourceError):
        fetch_official(srv.url, UrllibClient(timeout=5), policy(clock))


def test_malformed_page_fails_the_sync(srv: RegistryServer, clock: FakeClock) -> None:
    srv.state.faults.append(Fault("status", status=200, body="<html>not json</html>", times=-1))
    result = run(srv, clock)
    assert not result.ok and "not JSON" in (result.error or "")


def test_dropped_connections_are_retried(srv: RegistryServer, clock: FakeClock) -> None:
    srv.state.faults.append(Fault("drop"))
    srv.state.faults.append(Fault("drop"))
    result = run(srv, clock, timeout=5.0)
    assert result.ok, result.error
    assert len(result.entries) == 3
    assert clock.sleeps == [2.0, 4.0]  # the network policy's own delays


def test_a_response_past_the_fetch_deadline_fails_without_a_retry(srv: RegistryServer, clock: FakeClock) -> None:
    srv.state.faults.append(Fault("slow", seconds=1.0))
    result = run(srv, clock, timeout=0.3)
    assert not result.ok and not result.reachable
    assert "no complete response within 0.3s (--fetch-timeout)" in (result.error or "")
    assert clock.sleeps == []


def test_items_are_validated_one_by_one() -> None:
    items = seed_items()
    items.append({"server": {"name": "no-description/x", "version": "1"}, "_meta": {}})
    items.append("not an object")  # type: ignore[arg-type]
    with RegistryServer(State(items=items, page_size=10)) as server:
        result = run(server, FakeClock(T0))
    assert result.ok
    assert [i.name for i in result.invalid] == ["kbag 1.0.0", "no-description/x 1", "entry 6"]
