"""The cache metrics `mcpop_cache_{hits_total,misses_total,size,evictions_total}{cache}`: the `server` cache
(catalogue entries parsed from stored ConfigMaps) and the `registry` cache (MCPRegistries' GitHub listings,
against the local registry server), and that the operator's /metrics serves them."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from registry_server import FakeClock, RegistryServer

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.apply.catalog_store import EntryCache, desired_configmaps
from mcpop.apply.mcpregistry.reconciler import RegistryController
from mcpop.apply.runtime.metrics import start_metrics_server
from mcpop.apply.settings import OperatorSettings
from mcpop.sources.catalog import load_embedded

REG = {"metadata": {"name": "default", "namespace": "ns", "uid": "u1"}}
SEED = Path(__file__).resolve().parents[1] / "fixtures/registry/official-seed.json"


def value(name: str, cache: str) -> float:
    return REGISTRY.get_sample_value(name, {"cache": cache}) or 0.0


def counts(cache: str) -> tuple[float, float, float, float]:
    return tuple(value(f"mcpop_cache_{n}", cache) for n in ("hits_total", "misses_total", "size", "evictions_total"))  # type: ignore[return-value]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def stored(name: str, rv: str = "1") -> dict:
    cm = desired_configmaps(REG, [load_embedded().resolve("filesystem")])[0]
    cm["metadata"].update(name=name, resourceVersion=rv)
    return cm


def test_the_server_cache_counts_hits_misses_size_and_evictions() -> None:
    clock = Clock()
    cache = EntryCache(ttl=10, cleanup_interval=60, clock=clock)
    h0, m0, _, e0 = counts("server")
    cache.entry(stored("a"))
    cache.entry(stored("a"))
    cache.entry(stored("b"))
    h, m, size, e = counts("server")
    assert (h - h0, m - m0, size, e - e0) == (1, 2, 2, 0)
    clock.now = 61
    cache.entry(stored("c"))  # a and b expired: the cleanup this use triggers drops them
    h, m, size, e = counts("server")
    assert (h - h0, m - m0, size, e - e0) == (1, 3, 1, 2)
    cache.forget("ns", "c")
    assert counts("server")[2:] == (0, e + 1)


@pytest.fixture
def srv():
    with RegistryServer() as s:
        yield s


def test_the_registry_cache_counts_conditional_requests_and_reused_files(srv: RegistryServer) -> None:
    seed = json.loads(SEED.read_text())
    srv.state.files = {"servers/a.json": json.dumps(seed[3])}
    clock = FakeClock(1_800_000_000.0)
    ctl = RegistryController(None, OperatorSettings(), None, None, lambda key: None, clock=clock.time,
                             sleep=clock.sleep, github_api=srv.url)  # fmt: skip
    gh = MCPRegistrySpec.model_validate({"source": {"github": {"repo": "o/r"}}})
    key = ("ns", "gh")
    h0, m0, _, e0 = counts("registry")
    first, _ = ctl.cached_sync(key, gh, None, False)
    assert first.ok
    h1, m1, size, _ = counts("registry")
    assert h1 == h0 and m1 > m0 and size > 0  # everything fetched and kept
    second, _ = ctl.cached_sync(key, gh, None, False)
    assert second.ok
    h2, m2, size2, _ = counts("registry")
    assert h2 > h1 and m2 == m1 and size2 == size  # the listing answered 304, the file reused by its sha
    ctl.drop_cache(key)
    assert counts("registry")[2:] == (0, e0 + size)


def test_the_metrics_endpoint_serves_the_cache_series() -> None:
    EntryCache().entry(stored("x"))
    server = start_metrics_server("127.0.0.1", 0)
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        server.shutdown()
    for name in (
        "mcpop_cache_hits_total",
        "mcpop_cache_misses_total",
        "mcpop_cache_size",
        "mcpop_cache_evictions_total",
    ):
        assert f'{name}{{cache="server"}}' in text
