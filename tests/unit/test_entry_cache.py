"""The catalogue entry cache behind `--cache-server-ttl` and `--cache-cleanup-interval`."""

from __future__ import annotations

from mcpop.apply.catalog_store import EntryCache, desired_configmaps
from mcpop.sources.catalog import load_embedded

REG = {"metadata": {"name": "default", "namespace": "ns", "uid": "u1"}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def stored(rv: str = "1") -> dict:
    cm = desired_configmaps(REG, [load_embedded().resolve("filesystem")])[0]
    cm["metadata"]["resourceVersion"] = rv
    return cm


def test_an_entry_is_reused_within_its_ttl_and_parsed_again_after_it() -> None:
    clock = Clock()
    cache = EntryCache(ttl=300, cleanup_interval=1800, clock=clock)
    cm = stored()
    first = cache.entry(cm)
    assert first is not None and cache.entry(cm) is first
    clock.now = 299
    assert cache.entry(cm) is first
    clock.now = 301
    again = cache.entry(cm)
    assert again is not None and again is not first and again == first


def test_a_new_resource_version_is_parsed_at_once() -> None:
    cache = EntryCache(clock=Clock())
    first = cache.entry(stored("1"))
    assert cache.entry(stored("2")) is not first


def test_expired_entries_are_dropped_every_cleanup_interval() -> None:
    clock = Clock()
    cache = EntryCache(ttl=10, cleanup_interval=60, clock=clock)
    cache.entry(stored())
    other = stored()
    other["metadata"]["name"] = "other"
    clock.now = 30
    cache.entry(other)
    assert len(cache) == 2  # the first expired, but no cleanup ran yet
    clock.now = 61
    cache.entry(other)  # the use that triggers the cleanup
    assert len(cache) == 1
