"""The restore Job's identity (issue 19 §5): its Role names every object it may read or write (the create a
server-side apply makes included), grants nothing in another namespace, is rendered only while its Job runs
(the ApplySet prune deletes it after), and a restore Job never targets another namespace. Against the real
apiserver: tests/cluster/test_backup_run.py (the Job's token is refused everything the Role does not name)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mcpop.api.mcpserver import MCPServer
from mcpop.api.mcpserverbackup import MCPServerBackup
from mcpop.cli.load import load_text
from mcpop.render.backup import BackupRenderOptions, ServerData, render_backup, restore_account_name
from mcpop.render.errors import RenderError
from mcpop.render.options import Owner

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/fixtures/backup/local-pvc-restore.yaml"
SERVER_REFS = {"env": [
    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "notes-token", "key": "token"}}},
    {"name": "SETTINGS", "valueFrom": {"configMapKeyRef": {"name": "notes-settings", "key": "s"}}},
]}  # fmt: skip


def _load(restore: dict[str, Any] | None = None) -> tuple[MCPServerBackup, MCPServer]:
    loaded = load_text(FIXTURE.read_text(), str(FIXTURE), ("MCPServer", "MCPServerBackup"))
    assert not loaded.problems, loaded.problems
    backup = next(r for _, _, r in loaded.resources if isinstance(r, MCPServerBackup))
    server = next(r for _, _, r in loaded.resources if isinstance(r, MCPServer))
    server = MCPServer.model_validate({**server.wire(), "spec": {**server.spec.wire(), **SERVER_REFS}})
    if restore is not None:
        backup = MCPServerBackup.model_validate({**backup.wire(), "spec": {**backup.spec.wire(), "restore": restore}})
    return backup, server


def _options(**kw: Any) -> BackupRenderOptions:
    base = BackupRenderOptions(namespace="default", owner=Owner("notes", "uid-1", kind="MCPServerBackup"),
                               restore_request="0123456789abcdef", generated_key_secret="notes-backup-key")  # fmt: skip
    return dataclasses.replace(base, **kw)


def _restore_role(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == restore_account_name("notes"))


def test_every_write_the_restore_role_grants_names_its_objects() -> None:
    backup, server = _load({"pointInTime": "2026-11-30T12:00:00Z"})
    role = _restore_role(render_backup(backup, server, _options()).objects)
    assert role["metadata"]["namespace"] == "default"
    unnamed = [r for r in role["rules"] if not r.get("resourceNames")]
    assert unnamed == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]  # read only, data restore
    names: dict[tuple[str, str], set[str]] = {}
    for r in role["rules"]:
        for res in r["resources"]:
            for verb in r["verbs"]:
                names.setdefault((res, verb), set()).update(r.get("resourceNames") or ())
    assert names[("mcpservers", "create")] == names[("mcpservers", "patch")] == {"notes"}
    assert names[("configmaps", "create")] == {"notes-settings"}
    assert names[("secrets", "patch")] == {"notes-token"}
    assert names[("secrets", "get")] == {"notes-token", "notes-backup-key"}  # + the repository key, read only
    assert ("secrets", "list") not in names and ("configmaps", "list") not in names


def test_a_configuration_restore_gets_no_pod_listing() -> None:
    backup, server = _load({"data": False})
    role = _restore_role(render_backup(backup, server, _options()).objects)
    assert all(r.get("resourceNames") for r in role["rules"])


def test_a_restore_to_another_server_names_both_servers_references_and_only_the_target() -> None:
    backup, server = _load({"data": False, "target": {"name": "notes-copy"}})
    target = ServerData(config_maps=("copy-settings",))
    role = _restore_role(render_backup(backup, server, _options(restore_target=target)).objects)
    by = {r["resources"][0]: r["resourceNames"] for r in role["rules"] if "create" in r["verbs"]}
    assert by == {"mcpservers": ["notes-copy"], "configmaps": ["copy-settings", "notes-settings"],
                  "secrets": ["notes-token"]}  # fmt: skip


def test_the_restore_identity_is_not_rendered_once_its_job_finished() -> None:
    backup, server = _load({"data": False})
    objects = render_backup(backup, server, _options(restore_finished=True)).objects
    account = restore_account_name("notes")
    assert not [o for o in objects if o["metadata"]["name"] == account]
    job = next(o for o in objects if o["kind"] == "Job")  # the Job stays (its logs), under the same account
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == account


@pytest.mark.parametrize("data", [True, False])
def test_a_restore_job_into_another_namespace_is_refused(data: bool) -> None:
    backup, server = _load({"data": data, "target": {"namespace": "kube-system"}})
    with pytest.raises(RenderError) as err:
        render_backup(backup, server, _options())
    assert err.value.field == "spec.restore.target.namespace"
