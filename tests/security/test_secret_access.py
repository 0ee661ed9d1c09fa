"""The operator reads the Secrets MCPServers reference by name only (no informer caches Secrets it did not
create; the only Secret informer lists mcpop's own, by its part-of label): a referenced Secret is got when a
server that references it reconciles, polled while referenced (a change re-queues its servers), forgotten when
nothing references it, and only a hash of its data is kept. Against the real apiserver:
tests/cluster/test_operator_reconcile.py (a changed Secret rolls the pods)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcpop.apply.mcpserver.secrets import SecretHashes
from mcpop.apply.resources import ApiError, Resource

ROOT = Path(__file__).resolve().parents[2]


class Secrets:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], dict[str, str]] = {}
        self.gets: list[tuple[str, str]] = []
        self.forbidden: set[tuple[str, str]] = set()

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        assert res.kind == "Secret" and namespace is not None
        self.gets.append((namespace, name))
        if (namespace, name) in self.forbidden:
            raise ApiError(403, "Forbidden")
        data = self.data.get((namespace, name))
        return None if data is None else {"kind": "Secret", "data": data}


def test_a_secret_is_got_by_name_once_and_only_its_hash_kept() -> None:
    api = Secrets()
    api.data[("team", "db")] = {"url": "cG9zdGdyZXM6Ly9vbmU="}
    hashes = SecretHashes(api, lambda: {("team", "db")}, lambda key: None)  # type: ignore[arg-type]
    first = hashes.hash("team", "db")
    assert first and hashes.hash("team", "db") == first and api.gets == [("team", "db")]
    assert "cG9zdGdyZXM6Ly9vbmU=" not in repr(hashes._hashes)


def test_a_missing_or_unreadable_secret_hashes_as_absent() -> None:
    api = Secrets()
    api.forbidden.add(("team", "locked"))
    hashes = SecretHashes(api, set, lambda key: None)  # type: ignore[arg-type]
    assert hashes.hash("team", "absent") is None and hashes.hash("team", "locked") is None


def test_a_poll_requeues_the_servers_of_a_changed_secret_only() -> None:
    api = Secrets()
    api.data[("team", "db")] = {"url": "b25l"}
    api.data[("team", "other")] = {"k": "dg=="}
    changed: list[tuple[str, str]] = []
    hashes = SecretHashes(api, lambda: {("team", "db"), ("team", "other")}, changed.append)  # type: ignore[arg-type]
    hashes.hash("team", "db"), hashes.hash("team", "other")
    hashes.poll()
    assert changed == []
    api.data[("team", "db")] = {"url": "dHdv"}
    hashes.poll()
    assert changed == [("team", "db")]


def test_a_secret_nothing_references_any_more_is_forgotten_and_not_read_again() -> None:
    api = Secrets()
    api.data[("team", "db")] = {"url": "b25l"}
    tracked = {("team", "db")}
    hashes = SecretHashes(api, lambda: set(tracked), lambda key: None)  # type: ignore[arg-type]
    hashes.hash("team", "db")
    tracked.clear()
    api.gets.clear()
    hashes.poll()
    assert api.gets == [] and hashes._hashes == {}
