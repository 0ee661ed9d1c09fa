"""The pure parts of a backup run: what of an object a Configuration snapshot keeps, and the run's clock."""

from __future__ import annotations

import datetime as dt

import pytest

from mcpop.apply.mcpbackup.run import NOW_ENV, now_utc, portable


def test_a_portable_object_has_no_status_and_no_server_set_metadata() -> None:
    live = {
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
        "metadata": {"name": "fs", "namespace": "a", "uid": "u", "resourceVersion": "7", "generation": 3,
                     "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}], "finalizers": ["x"],
                     "labels": {"team": "a"},
                     "annotations": {"note": "keep", "kubectl.kubernetes.io/last-applied-configuration": "{}",
                                     "mcp.allbeone.io/applied-hash": "h"}},
        "spec": {"image": "i"}, "status": {"phase": "Running"},
    }  # fmt: skip
    assert portable(live) == {
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "spec": {"image": "i"},
        "metadata": {"name": "fs", "namespace": "a", "labels": {"team": "a"}, "annotations": {"note": "keep"}},
    }  # fmt: skip


def test_an_object_without_annotations_gets_none() -> None:
    assert "annotations" not in portable({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}})["metadata"]


def test_the_run_clock_can_be_set_for_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NOW_ENV, "2026-11-03T02:00:00Z")
    assert now_utc() == dt.datetime(2026, 11, 3, 2, tzinfo=dt.UTC)
    monkeypatch.delenv(NOW_ENV)
    assert abs((now_utc() - dt.datetime.now(dt.UTC)).total_seconds()) < 5
