"""Status and errors never tell whether an object exists in another namespace (issue 19 §6): a backup whose
serverRef (or restore target) names another namespace is refused with the same words whether or not a server
exists there, and nothing is looked up there. The controller's side against the real apiserver:
tests/cluster/test_backup_controller.py (both probes read the same; no MCPServer read)."""

from __future__ import annotations

from typing import Any

import pytest
from fakekube import FakeKube

from mcpop.api.mcpserverbackup import MCPServerBackup
from mcpop.apply.mcpbackup.run import RunError, _server

SERVER = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
          "metadata": {"name": "secret-project", "namespace": "other"}, "spec": {"image": "x"}}  # fmt: skip


def _backup(server: str) -> Any:
    return MCPServerBackup.model_validate({
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServerBackup",
        "metadata": {"name": "probe", "namespace": "team"},
        "spec": {"serverRef": {"name": server, "namespace": "other"},
                 "storage": {"type": "Local", "local": {"path": "/r", "persistentVolumeClaim": {"claimName": "c"}}}},
    })  # fmt: skip


def test_a_backup_run_never_looks_up_a_server_in_another_namespace() -> None:
    kube = FakeKube()
    kube.put(SERVER)
    messages = []
    for server in ("secret-project", "no-such-project"):
        before = kube.requests
        with pytest.raises(RunError) as err:
            _server(kube, _backup(server), "team")  # type: ignore[arg-type]
        assert kube.requests == before  # nothing read
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "its own namespace" in messages[0]
