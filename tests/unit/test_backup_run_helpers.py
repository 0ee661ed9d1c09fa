"""The parts of a backup run that need no cluster: what of an object a Configuration snapshot keeps, the run's
clock, and opening a repository from the Job's environment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mcpop.api.mcpserverbackup import MCPServerBackup
from mcpop.apply.mcpbackup.run import NOW_ENV, RunError, now_utc, open_repository, portable
from mcpop.backup import Repository
from mcpop.render.backup import ENV_ENCRYPTION_KEY


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


def test_a_backup_that_now_defaults_to_encryption_over_an_unencrypted_repository_says_what_to_set(
    tmp_path: Path,
) -> None:
    backup = MCPServerBackup.model_validate({
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServerBackup", "metadata": {"name": "b", "namespace": "ns"},
        "spec": {"serverRef": {"name": "fs"}, "storage": {"type": "Local"}},
    })  # fmt: skip
    Repository.open(f"file://{tmp_path}/ns/b")  # written before encryption was the default
    says = r"created unencrypted and spec\.encryption is on .* set spec\.encryption: false"
    with pytest.raises(RunError, match=says):
        open_repository(None, backup, "ns", local_root=str(tmp_path), env={ENV_ENCRYPTION_KEY: "generated"})
