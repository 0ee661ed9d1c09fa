"""The per-host circuit breaker (mcpop.sources.breaker): its states on a fake clock, the fetch client against a
real loopback server that fails (tests/hostile_servers.py) and a closed port, the gauge
`mcpop_circuit_breaker_state{host}`, and an MCPRegistry sync refused by an open circuit (its conditions)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hostile_servers import hostile_server
from registry_server import FakeClock

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.apply.mcpregistry.reconciler import RegistryController, registry_status
from mcpop.apply.settings import OperatorSettings, circuit_breaker
from mcpop.sources.breaker import CircuitBreaker, CircuitOpen, host_of
from mcpop.sources.errors import NetworkError
from mcpop.sources.http import UrllibClient


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gauge(host: str) -> float | None:
    return REGISTRY.get_sample_value("mcpop_circuit_breaker_state", {"host": host})


def test_consecutive_failures_open_the_circuit_and_one_probe_goes_through_after_the_cool_down() -> None:
    clock = Clock()
    b = CircuitBreaker(3, 30.0, clock=clock)
    b.before("h")
    b.failure("h")
    b.failure("h")
    b.success("h")  # a success in between starts the count again
    for _ in range(2):
        b.failure("h")
    assert b.state("h") == "closed"
    b.failure("h")
    assert b.state("h") == "open" and gauge("h") == 1
    with pytest.raises(CircuitOpen, match=r"h: circuit breaker open after 3 consecutive failures.*30s"):
        b.before("h")
    clock.now += 30
    b.before("h")  # the probe
    assert b.state("h") == "half-open" and gauge("h") == 2
    with pytest.raises(CircuitOpen):
        b.before("h")  # only one probe at a time
    b.failure("h")  # the probe failed: open for another cool-down
    assert b.state("h") == "open"
    with pytest.raises(CircuitOpen):
        b.before("h")
    clock.now += 30
    b.before("h")
    b.success("h")
    assert b.state("h") == "closed" and gauge("h") == 0
    b.before("h")


def test_hosts_are_separate_and_a_threshold_of_zero_is_off() -> None:
    b = CircuitBreaker(1, 30.0, clock=Clock())
    b.failure("a")
    assert (b.state("a"), b.state("b")) == ("open", "closed")
    b.before("b")
    off = CircuitBreaker(0, 30.0)
    for _ in range(10):
        off.failure("a")
    off.before("a")
    assert host_of("https://user:pw@Registry.Example.com:8443/v2/") == "registry.example.com:8443"
    assert host_of("https://ghcr.io/v2/") == "ghcr.io"


def test_the_client_stops_asking_a_failing_server_and_probes_it_after_the_cool_down() -> None:
    clock = Clock()
    breaker = CircuitBreaker(3, 60.0, clock=clock)
    client = UrllibClient(timeout=5, breaker=breaker)
    with hostile_server() as srv:
        for _ in range(2):
            assert client.get(srv.url + "/status/404").status == 404  # an answer: the host is up
        for _ in range(3):
            assert client.get(srv.url + "/status/503").status == 503
        assert breaker.state(srv.host) == "open" and gauge(srv.host) == 1
        asked = sum(srv.requests.values())
        with pytest.raises(CircuitOpen, match=srv.host):
            client.get(srv.url + "/status/200")
        assert sum(srv.requests.values()) == asked  # refused without a connection
        clock.now += 60
        assert client.get(srv.url + "/status/200").status == 200  # the probe, answered: closed again
        assert breaker.state(srv.host) == "closed" and gauge(srv.host) == 0


def test_connection_errors_open_the_circuit_of_a_closed_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it is closed
    breaker = CircuitBreaker(2, 60.0)
    client = UrllibClient(timeout=5, breaker=breaker)
    for _ in range(2):
        with pytest.raises(NetworkError):
            client.get(f"http://127.0.0.1:{port}/")
    with pytest.raises(CircuitOpen):
        client.get(f"http://127.0.0.1:{port}/")


def test_a_registry_sync_refused_by_an_open_circuit_says_so_in_its_conditions() -> None:
    settings = OperatorSettings.model_validate({"circuit_breaker_failures": "2", "circuit_breaker_cool_down": "5m",
                                                "github_max_retries": "0"})  # fmt: skip
    assert circuit_breaker(settings) is circuit_breaker(settings)  # one per process: registries and images share it
    clock = FakeClock(1_800_000_000.0)
    ctl = RegistryController(None, settings, None, None, lambda key: None, clock=clock.time, sleep=clock.sleep)
    with hostile_server() as srv:
        spec = MCPRegistrySpec.model_validate({"source": {"mcpRegistry": {"url": srv.url + "/status/503"}}})
        for _ in range(2):
            failed = ctl.run_sync("ns", spec, None, False)
            assert not failed.ok and not failed.circuit_open
        asked = sum(srv.requests.values())
        refused = ctl.run_sync("ns", spec, None, False)
        assert sum(srv.requests.values()) == asked
    assert refused.circuit_open and not refused.reachable
    status = registry_status(refused, None, 1, now="2027-01-15T08:00:00Z")
    synced = next(c for c in status["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "CircuitOpen")
    assert f"{srv.host}: circuit breaker open after 2 consecutive failures" in synced["message"]
