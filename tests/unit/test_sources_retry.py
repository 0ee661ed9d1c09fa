"""Retry policies: rate-limit waits from the reset headers (on a shortened clock), budgets, metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY, generate_latest
from registry_server import FakeClock, Fault, RegistryServer

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.apply.settings import OperatorSettings, github_retry
from mcpop.sources import retry
from mcpop.sources.http import HttpResponse, NetworkError, UrllibClient
from mcpop.sources.retry import (
    AuthError,
    RateLimitError,
    RetryConfig,
    RetryPolicy,
    ServerError,
    check_response,
    rate_limit_wait,
)
from mcpop.sources.sync import sync

T0 = 1767225600.0


@pytest.fixture
def srv() -> Iterator[RegistryServer]:
    with RegistryServer() as server:
        yield server


def make(clock: FakeClock, **overrides: float) -> RetryPolicy:
    return RetryPolicy(RetryConfig(**overrides), sleep=clock.sleep, clock=clock.time)  # type: ignore[arg-type]


def list_page(policy: RetryPolicy, url: str, operation: str = "test_list") -> HttpResponse:
    return policy.get(UrllibClient(timeout=2), operation, url + "/v0.1/servers?limit=10")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_403_waits_until_x_ratelimit_reset(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    reset = str(int(T0 + 42))
    srv.state.faults.append(
        Fault("status", status=403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    )
    response = list_page(make(clock), srv.url)
    assert response.status == 200
    assert clock.sleeps == [42.0]
    assert srv.state.statuses() == [403, 200]


def test_429_waits_retry_after_seconds(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    srv.state.faults.append(Fault("status", status=429, headers={"Retry-After": "7"}))
    assert list_page(make(clock), srv.url).status == 200
    assert clock.sleeps == [7.0]


def test_rate_limit_wait_is_capped_and_budgeted(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    far = str(int(T0 + 7200))
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": far}
    srv.state.faults.append(Fault("status", status=403, headers=headers, times=-1))
    policy = make(clock, rate_limit_max_delay=3600, rate_limit_max_retries=2)
    with pytest.raises(RateLimitError):
        list_page(policy, srv.url)
    # the reset moves away as the fake clock advances; every wait is capped at the max delay
    assert clock.sleeps == [3600.0, 3600.0]
    assert policy.rate_limited and len(srv.state.requests) == 3


def test_rate_limit_without_headers_backs_off_from_the_base_delay(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    srv.state.faults.append(Fault("status", status=429, times=2))
    assert list_page(make(clock, rate_limit_base_delay=900, rate_limit_max_delay=1000), srv.url).status == 200
    assert clock.sleeps == [900.0, 1000.0]


def test_budgets_are_separate(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    for fault in (Fault("status", status=502), Fault("drop"), Fault("status", status=500), Fault("drop")):
        srv.state.faults.append(fault)
    policy = make(clock, max_retries=2, initial_delay=1, network_max_retries=2, network_base_delay=5)
    assert list_page(policy, srv.url).status == 200
    assert clock.sleeps == [1.0, 5.0, 2.0, 10.0]


def test_general_errors_give_up_after_max_retries_with_capped_backoff(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    srv.state.faults.append(Fault("status", status=500, times=-1))
    with pytest.raises(ServerError):
        list_page(make(clock, max_retries=4, initial_delay=1, max_delay=3), srv.url)
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0]


def test_auth_failures_are_not_retried_and_flagged(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    srv.state.faults.append(Fault("status", status=401, body='{"message": "Bad credentials"}', times=-1))
    with pytest.raises(AuthError):
        list_page(make(clock), srv.url)
    assert clock.sleeps == []
    spec = MCPRegistrySpec.model_validate({"source": {"mcpRegistry": {"url": srv.url}}})
    result = sync(spec, UrllibClient(timeout=2), policy=make(clock), clock=clock.time)
    assert not result.ok and result.auth_failed and result.reachable and not result.rate_limited


def test_sync_reports_rate_limited(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    srv.state.faults.append(Fault("status", status=429, headers={"Retry-After": "60"}, times=-1))
    spec = MCPRegistrySpec.model_validate({"source": {"mcpRegistry": {"url": srv.url}}})
    result = sync(spec, UrllibClient(timeout=2), policy=make(clock, rate_limit_max_retries=1), clock=clock.time)
    assert not result.ok and result.rate_limited and result.rate_limit_hit
    assert clock.sleeps == [60.0]


def test_retry_metrics_are_exposed(srv: RegistryServer) -> None:
    clock = FakeClock(T0)
    op = "metrics_test"
    before_retry = sample("mcpop_registry_retries_total", operation=op, error_type="rate_limit", result="retry")
    before_hits = sample("mcpop_registry_rate_limit_hits_total", operation=op)
    srv.state.faults.append(Fault("status", status=429, headers={"Retry-After": "1"}))
    srv.state.faults.append(Fault("drop"))
    list_page(make(clock), srv.url, op)
    text = generate_latest(REGISTRY).decode()
    assert "# TYPE mcpop_registry_retries_total counter" in text
    assert 'mcpop_registry_rate_limit_hits_total{operation="metrics_test"}' in text
    labels = {"operation": op, "result": "retry"}
    assert sample("mcpop_registry_retries_total", error_type="rate_limit", **labels) == before_retry + 1
    assert sample("mcpop_registry_retries_total", error_type="connection", **labels) == 1
    assert sample("mcpop_registry_retries_total", operation=op, error_type="rate_limit", result="success") >= 1
    assert sample("mcpop_registry_rate_limit_hits_total", operation=op) == before_hits + 1


def test_counters_are_registered_once() -> None:
    again = retry._counter("mcpop_registry_retries", "doc", ("operation", "error_type", "result"))
    assert again is retry.RETRIES


def test_config_from_operator_flags() -> None:
    settings = OperatorSettings(
        github_max_retries=7,
        github_initial_delay="2s",
        github_rate_limit_max_delay="30m",
        github_network_base_delay="500ms",
    )
    config = github_retry(settings)
    assert (config.max_retries, config.initial_delay, config.rate_limit_max_delay) == (7, 2.0, 1800.0)
    assert config.network_base_delay == 0.5 and config.max_delay == 300.0


def test_classification_of_responses() -> None:
    def resp(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> HttpResponse:
        return HttpResponse(status, "http://x", body, headers or {})

    assert check_response(resp(304)).status == 304
    with pytest.raises(AuthError):
        check_response(resp(403, {"x-ratelimit-remaining": "10", "x-ratelimit-reset": "1"}))
    with pytest.raises(RateLimitError):
        check_response(resp(403, body=b'{"message": "You have exceeded a secondary rate limit"}'))
    assert rate_limit_wait({"Retry-After": "5", "X-RateLimit-Reset": "100"}, 0) == 5
    assert rate_limit_wait({"X-RateLimit-Reset": "100"}, 150) == 0
    assert rate_limit_wait({}, 0) is None


def test_connection_refused_is_a_network_error() -> None:
    with RegistryServer() as server:
        url = server.url
    with pytest.raises(NetworkError) as info:
        UrllibClient(timeout=1).get(url + "/v0.1/servers")
    assert info.value.kind == "connection"
