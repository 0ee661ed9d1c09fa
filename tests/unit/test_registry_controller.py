"""The MCPRegistry controller's pure parts: status from a sync, the stored form, and its sync step
(against the local registry server, on a shortened clock)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from registry_server import FakeClock, Fault, RegistryServer

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.apply.catalog_store import DATA_KEY, configmap_name, desired_configmaps, parse_configmap
from mcpop.apply.mcpregistry.reconciler import RegistryController, registry_status
from mcpop.apply.resources import REGISTRY_LABEL
from mcpop.apply.settings import OperatorSettings
from mcpop.sources.catalog import load_embedded
from mcpop.sources.retry import RATE_LIMIT_HITS

T0 = 1_800_000_000.0
NOW = "2027-01-15T08:00:00Z"


@pytest.fixture
def srv():
    with RegistryServer() as s:
        yield s


def controller(clock: FakeClock, **flags: str) -> RegistryController:
    settings = OperatorSettings.model_validate(flags)
    return RegistryController(None, settings, None, None, lambda key: None, clock=clock.time, sleep=clock.sleep)


def spec(url: str, **extra: object) -> MCPRegistrySpec:
    return MCPRegistrySpec.model_validate({"source": {"mcpRegistry": {"url": url, "versionPolicy": "all", **extra}}})


def conds(status: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_sync_step_reads_the_seed_four_valid_one_invalid(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    result = controller(clock).run_sync("ns", spec(srv.url), None, incremental=False)
    assert result.ok and len(result.entries) == 4
    assert [i.name for i in result.invalid] == ["kbag 1.0.0"]
    st = registry_status(result, None, 1, now=NOW, sync_time=NOW)
    assert st["phase"] == "Ready" and st["serversDiscovered"] == 4 and st["observedGeneration"] == 1
    assert conds(st) == {
        "Ready": ("True", "Ready"),
        "Synced": ("True", "Synced"),
        "Reachable": ("True", "Reachable"),
        "RateLimited": ("False", "NotRateLimited"),
        "AuthFailed": ("False", "Authenticated"),
    }
    synced = next(c for c in st["conditions"] if c["type"] == "Synced")
    assert "1 invalid skipped: kbag 1.0.0" in synced["message"]
    assert [s["name"] for s in st["servers"]][:2] == ["io.github.domdomegg/airtable-mcp-server"] * 2


def test_rate_limit_wait_respects_the_reset_header_on_a_shortened_clock(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    srv.state.faults.append(
        Fault("status", status=403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(T0 + 90))})
    )
    before = RATE_LIMIT_HITS.labels(operation="official.list")._value.get()
    result = controller(clock, github_rate_limit_max_delay="1h").run_sync("ns", spec(srv.url), None, False)
    assert result.ok and len(result.entries) == 4
    assert clock.sleeps == [90.0]  # waited exactly until the reset, not the 15m base delay
    assert result.rate_limit_hit and not result.rate_limited
    assert RATE_LIMIT_HITS.labels(operation="official.list")._value.get() >= before
    st = registry_status(result, None, 1, now=NOW, sync_time=NOW)
    assert conds(st)["RateLimited"] == ("True", "RateLimitWaited")


def test_rate_limit_wait_is_capped_by_the_operator_flag(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    reset = str(int(T0 + 7200))
    srv.state.faults.append(Fault("status", status=429, headers={"X-RateLimit-Reset": reset}, times=-1))
    ctl = controller(clock, github_rate_limit_max_delay="10m", github_rate_limit_max_retries="2")
    result = ctl.run_sync("ns", spec(srv.url), None, False)
    assert not result.ok and result.rate_limited
    assert clock.sleeps == [600.0, 600.0]
    old = {"lastSyncTime": "2027-01-15T07:00:00Z", "serversDiscovered": 4, "servers": [{"name": "a"}]}
    st = registry_status(result, old, 2, now=NOW)
    assert conds(st)["RateLimited"] == ("True", "RateLimited")
    assert conds(st)["Ready"] == ("True", "StaleCatalogue") and st["serversDiscovered"] == 4
    assert st["lastSyncTime"] == old["lastSyncTime"]


def test_outage_keeps_the_last_catalogue(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    ctl = controller(clock, github_network_max_retries="1", github_max_retries="1")
    good = ctl.run_sync("ns", spec(srv.url), None, False)
    srv.state.faults.append(Fault("drop", times=-1))
    bad = ctl.run_sync("ns", spec(srv.url), good, True)
    assert not bad.ok and not bad.reachable and len(bad.entries) == 4
    st = registry_status(bad, registry_status(good, None, 1, now=NOW, sync_time=NOW), 1, now=NOW)
    assert conds(st)["Reachable"] == ("False", "Unreachable")
    assert conds(st)["Synced"] == ("False", "Unreachable")
    assert conds(st)["Ready"] == ("True", "StaleCatalogue") and st["serversDiscovered"] == 4


def test_a_failed_page_never_publishes_half_a_catalogue(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    ctl = controller(clock, github_max_retries="0")
    srv.state.page_size = 2
    # the first page is fine, the second fails: nothing is published
    first = {"n": 0}
    original = srv.state.take_fault

    def second_page_fails(path: str) -> Fault | None:
        first["n"] += 1
        return Fault("status", status=500) if first["n"] == 2 else original(path)

    srv.state.take_fault = second_page_fails  # type: ignore[method-assign]
    result = ctl.run_sync("ns", spec(srv.url), None, False)
    assert not result.ok and result.entries == []
    st = registry_status(result, None, 1, now=NOW)
    assert st["phase"] == "Failed" and "serversDiscovered" not in st


def test_no_catalogue_yet_is_not_ready() -> None:
    from mcpop.sources.sync import SyncResult

    st = registry_status(SyncResult(ok=False, error="boom", reachable=False), None, 1, now=NOW)
    assert st["phase"] == "Failed" and conds(st)["Ready"] == ("False", "Unreachable")


def test_invalid_spec_status() -> None:
    st = registry_status(None, None, 3, now=NOW, invalid_spec="spec: bad")
    assert st["phase"] == "Failed" and conds(st) == {"Ready": ("False", "InvalidSpec"),
                                                     "Synced": ("False", "InvalidSpec")}  # fmt: skip


def test_stored_form_one_configmap_per_entry(srv: RegistryServer) -> None:
    result = controller(FakeClock(T0)).run_sync("ns", spec(srv.url), None, False)
    reg = {"metadata": {"name": "default", "namespace": "ns", "uid": "u-1"}}
    cms = desired_configmaps(reg, result.entries)
    names = [c["metadata"]["name"] for c in cms]
    assert len(set(names)) == 4 and all(len(n) <= 63 for n in names)
    for cm, e in zip(cms, sorted(result.entries, key=lambda e: (e.name, e.version)), strict=True):
        assert cm["metadata"]["labels"][REGISTRY_LABEL] == "default"
        assert cm["metadata"]["ownerReferences"][0]["uid"] == "u-1"
        assert parse_configmap(cm) == e
        assert json.loads(cm["data"][DATA_KEY])["name"] == e.name
    long = configmap_name("r" * 60, "io.github.x/" + "y" * 150, "1.0.0")
    assert len(long) <= 63 and long != configmap_name("r" * 60, "io.github.x/" + "y" * 150, "1.0.1")


class FakeKube:
    """`get` over a dict of (kind, name) → object: what the sync step reads (Secret, ConfigMap)."""

    def __init__(self, objects: dict[tuple[str, str], dict]) -> None:
        self.objects = objects

    def get(self, res, namespace, name):  # type: ignore[no-untyped-def]
        return self.objects.get((res.kind, name))


def test_github_source_with_a_token_from_the_secret(srv: RegistryServer) -> None:
    import base64

    seed = json.loads((Path(__file__).resolve().parents[1] / "fixtures/registry/official-seed.json").read_text())
    srv.state.files = {"servers/pypi.json": json.dumps(seed[3])}
    srv.state.token = "s3cret"
    secret = {"data": {"token": base64.b64encode(b"s3cret\n").decode()}}
    ctl = controller(FakeClock(T0))
    ctl.kube = FakeKube({("Secret", "gh"): secret})  # type: ignore[assignment]
    ctl.github_api = srv.url
    gh = MCPRegistrySpec.model_validate(
        {"source": {"github": {"repo": "o/r"}}, "auth": {"secretRef": {"name": "gh", "key": "token"}}}
    )
    result = ctl.run_sync("ns", gh, None, False)
    assert result.ok and [e.name for e in result.entries] == ["io.github.domdomegg/time-mcp-pypi"]
    # a wrong token: AuthFailed, nothing published
    srv.state.token = "other"
    bad = ctl.run_sync("ns", gh, None, False)
    assert not bad.ok and bad.auth_failed
    assert conds(registry_status(bad, None, 1, now=NOW))["AuthFailed"] == ("True", "AuthFailed")
    # a missing Secret is reported the same way
    ctl.kube = FakeKube({})  # type: ignore[assignment]
    missing = ctl.run_sync("ns", gh, None, False)
    assert not missing.ok and missing.auth_failed and "Secret gh" in (missing.error or "")


def test_configmap_source_read_from_the_cluster() -> None:
    cm = {"data": {"servers.json": json.dumps([load_embedded().resolve("time").wire()])}}
    ctl = controller(FakeClock(T0))
    ctl.kube = FakeKube({("ConfigMap", "cat"): cm})  # type: ignore[assignment]
    spec_ = MCPRegistrySpec.model_validate({"source": {"configMap": {"name": "cat"}}})
    result = ctl.run_sync("ns", spec_, None, False)
    assert result.ok and [e.name for e in result.entries] == ["io.github.modelcontextprotocol/server-time"]
    ctl.kube = FakeKube({})  # type: ignore[assignment]
    assert not ctl.run_sync("ns", spec_, None, False).ok


def test_a_long_rate_limit_wait_is_a_requeue_not_a_sleep_in_the_worker(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    srv.state.faults.append(Fault("status", status=429, headers={"Retry-After": "1800"}))
    ctl = controller(clock, github_rate_limit_max_delay="1h")
    result, retry_in = ctl.sync_step("ns", spec(srv.url), None, False, max_wait=5.0)
    assert clock.sleeps == []  # nothing slept: the worker is free at once
    assert retry_in == 1800.0
    assert not result.ok and result.rate_limited and "retrying in 30m" in (result.error or "")
    st = registry_status(result, None, 1, now=NOW)
    assert conds(st)["RateLimited"] == ("True", "RateLimited")
    # the requeued sync, once the wait is over, succeeds
    clock.now += retry_in
    again, retry_in = ctl.sync_step("ns", spec(srv.url), None, False, max_wait=5.0)
    assert again.ok and retry_in is None and len(again.entries) == 4


def test_a_short_wait_is_still_slept_inside_the_sync(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    srv.state.faults.append(Fault("status", status=429, headers={"Retry-After": "2"}))
    result, retry_in = controller(clock).sync_step("ns", spec(srv.url), None, False, max_wait=5.0)
    assert result.ok and retry_in is None and clock.sleeps == [2.0]
