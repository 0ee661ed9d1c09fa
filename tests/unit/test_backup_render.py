"""The backup renderer: CronJob, on-demand and restore Jobs, their RBAC; golden files under golden/backup/.

Regenerate after an intended change with
`python -m pytest --update-golden` (every golden file) and review `git diff golden/backup`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpop.api.mcpserver import MCPServer
from mcpop.api.mcpserverbackup import MCPServerBackup
from mcpop.cli.load import load_text
from mcpop.codec.emitter import dump_yaml
from mcpop.render.backup import (
    MAX_CRONJOB_NAME,
    REQUEST_ANNOTATION,
    BackupRenderOptions,
    generated_key_secret_name,
    render_backup,
)
from mcpop.render.errors import RenderError
from mcpop.render.options import Owner

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "tests/fixtures/backup").glob("*.yaml"))
OWNER_UID = "00000000-0000-4000-8000-000000000001"


def _load(path: Path) -> tuple[MCPServerBackup, MCPServer | None]:
    loaded = load_text(path.read_text(), str(path), ("MCPServer", "MCPServerBackup"))
    assert not loaded.problems, loaded.problems
    backups = [r for _, _, r in loaded.resources if isinstance(r, MCPServerBackup)]
    servers = [r for _, _, r in loaded.resources if isinstance(r, MCPServer)]
    return backups[0], (servers[0] if servers else None)


def _options(backup: MCPServerBackup) -> BackupRenderOptions:
    """The options the controller would pass: request annotation, restore, generated key."""
    name = backup.metadata.name
    spec = backup.spec
    return BackupRenderOptions(
        namespace=backup.metadata.namespace or "default",
        owner=Owner(name, OWNER_UID, kind="MCPServerBackup"),
        request=(backup.metadata.annotations or {}).get(REQUEST_ANNOTATION),
        restore_request="0123456789abcdef" if spec.restore is not None else None,
        generated_key_secret=generated_key_secret_name(name) if spec.encryption and not spec.encryption_key else None,
    )


def _render(path: Path) -> tuple[str, list[str]]:
    backup, server = _load(path)
    out = render_backup(backup, server, _options(backup))
    return dump_yaml(out.objects), out.warnings


def _objects(path: Path) -> list[dict[str, Any]]:
    backup, server = _load(path)
    return render_backup(backup, server, _options(backup)).objects


def _fixture(name: str) -> Path:
    return ROOT / "tests/fixtures/backup" / f"{name}.yaml"


def _pods(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for o in objects:
        if o["kind"] == "Job":
            out.append(o["spec"]["template"]["spec"])
        elif o["kind"] == "CronJob":
            out.append(o["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return out


@pytest.mark.parametrize("source", FIXTURES, ids=lambda p: p.stem)
def test_renders_to_its_golden_file(source: Path, golden: Callable[[str, str], None]) -> None:
    text, _ = _render(source)
    golden(f"backup/{source.name}", text)


@pytest.mark.parametrize("source", FIXTURES, ids=lambda p: p.stem)
def test_rendering_twice_gives_identical_bytes(source: Path) -> None:
    assert _render(source)[0].encode() == _render(source)[0].encode()


def test_every_backup_golden_file_has_a_fixture() -> None:
    assert {p.name for p in (ROOT / "golden/backup").glob("*.yaml")} == {p.name for p in FIXTURES}


def test_the_seed_example_is_accepted_verbatim() -> None:
    loaded = load_text((ROOT / "examples/01-mcpserverbackup-s3.yaml").read_text(), "seed", ("MCPServerBackup",))
    assert not loaded.problems
    backup = loaded.resources[0][2]
    assert isinstance(backup, MCPServerBackup)
    out = render_backup(backup, None, _options(backup))
    assert "CronJob" in out.kinds()


@pytest.mark.parametrize("source", FIXTURES, ids=lambda p: p.stem)
def test_backup_pods_carry_the_backup_controller_component_label(source: Path) -> None:
    templates = []
    for o in _objects(source):
        if o["kind"] == "Job":
            templates.append(o["spec"]["template"])
        elif o["kind"] == "CronJob":
            templates.append(o["spec"]["jobTemplate"]["spec"]["template"])
    assert templates
    for t in templates:
        assert t["metadata"]["labels"]["app.kubernetes.io/component"] == "backup-controller"


def test_the_cronjob_forbids_concurrent_runs_and_runs_in_utc() -> None:
    cron = next(o for o in _objects(_fixture("seed-s3")) if o["kind"] == "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert cron["spec"]["timeZone"] == "Etc/UTC"
    assert cron["spec"]["suspend"] is False


def test_suspend_is_honoured() -> None:
    cron = next(o for o in _objects(_fixture("gcs-incremental-suspended")) if o["kind"] == "CronJob")
    assert cron["spec"]["suspend"] is True


def test_no_schedule_renders_no_cronjob_and_a_request_renders_a_job() -> None:
    kinds = [o["kind"] for o in _objects(_fixture("configuration-on-demand"))]
    assert "CronJob" not in kinds
    assert kinds.count("Job") == 1


def test_the_job_runs_the_operator_image_with_mcp_backup_run() -> None:
    objects = _objects(_fixture("seed-s3"))
    pod = _pods(objects)[0]
    c = pod["containers"][0]
    assert c["command"] == ["mcp"]
    assert c["args"] == ["backup", "run", "filesystem-server-backup", "-n", "default", "--data-dir", "/data"]
    assert c["image"].startswith("ghcr.io/allbeone/mcpop:")


def test_the_servers_pvcs_are_mounted_read_only() -> None:
    pod = _pods(_objects(_fixture("seed-s3")))[0]
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [
        {"name": "data-data", "persistentVolumeClaim": {"claimName": "filesystem-data", "readOnly": True}}
    ]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "data-data")
    assert mount == {"name": "data-data", "mountPath": "/data/data", "readOnly": True}


def test_a_configuration_backup_mounts_no_data() -> None:
    pod = _pods(_objects(_fixture("configuration-on-demand")))[0]
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert "--data-dir" not in pod["containers"][0]["args"]


def test_credentials_come_by_secret_key_ref_and_are_never_inlined() -> None:
    for fixture in FIXTURES:
        for pod in _pods(_objects(fixture)):
            for env in pod["containers"][0]["env"]:
                if env["name"].startswith("MCPOP_") and env["name"] != "MCPOP_BACKUP_RUN_ID":
                    assert set(env) == {"name", "valueFrom"}, (fixture.name, env)
                    assert set(env["valueFrom"]) == {"secretKeyRef"}


def test_the_generated_key_is_referenced_when_encryption_names_no_key() -> None:
    pod = _pods(_objects(_fixture("seed-s3")))[0]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    ref = env["MCPOP_BACKUP_ENCRYPTION_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "filesystem-server-backup-key", "key": "key"}


def test_encryption_without_a_key_or_a_generated_one_is_an_error() -> None:
    backup, server = _load(_fixture("seed-s3"))
    with pytest.raises(RenderError) as err:
        render_backup(backup, server, BackupRenderOptions())
    assert err.value.field == "spec.encryptionKey"


@pytest.mark.parametrize("source", FIXTURES, ids=lambda p: p.stem)
def test_every_pod_meets_the_restricted_profile(source: Path) -> None:
    from restricted import violations  # tests/restricted.py

    for pod in _pods(_objects(source)):
        if any("hostPath" in v for v in pod["volumes"]):
            continue
        assert violations(pod) == [], source.name


def test_the_backup_role_names_exactly_the_referenced_objects() -> None:
    role = next(o for o in _objects(_fixture("configuration-on-demand")) if o["kind"] == "Role")
    by_resource = {r["resources"][0]: r for r in role["rules"]}
    assert by_resource["configmaps"]["resourceNames"] == ["pg-settings"]
    # unencrypted: the server's Secret is not readable, only the storage credentials
    assert by_resource["secrets"]["resourceNames"] == ["minio"]
    assert by_resource["mcpservers"]["resourceNames"] == ["postgres"]
    assert all(r.get("resourceNames") for r in role["rules"])


def test_an_unencrypted_backup_warns_that_secrets_are_skipped() -> None:
    _, warnings = _render(_fixture("configuration-on-demand"))
    assert any("pg-credentials" in w and "not backed up" in w for w in warnings)


def test_every_object_is_owned_by_the_backup() -> None:
    for o in _objects(_fixture("seed-s3")):
        ref = o["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["uid"], ref["controller"]) == ("MCPServerBackup", OWNER_UID, True)


def test_long_names_stay_within_the_limits() -> None:
    for o in _objects(_fixture("long-name")):
        limit = MAX_CRONJOB_NAME if o["kind"] == "CronJob" else 63
        assert len(o["metadata"]["name"]) <= limit, o["metadata"]["name"]


def test_a_restore_job_mounts_the_volumes_writable_under_its_own_account() -> None:
    objects = _objects(_fixture("local-pvc-restore"))
    job = next(o for o in objects if o["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "notes-restore"
    assert pod["containers"][0]["args"][:3] == ["backup", "restore", "notes"]
    claim = next(v for v in pod["volumes"] if v["name"] == "data-notes")
    assert claim["persistentVolumeClaim"] == {"claimName": "notes-data", "readOnly": False}
    assert job["spec"]["backoffLimit"] == 0


def test_a_server_in_another_namespace_is_rejected_naming_the_field() -> None:
    backup, server = _load(_fixture("seed-s3"))
    moved = backup.model_copy(update={"metadata": backup.metadata.model_copy(update={"namespace": "other"})})
    with pytest.raises(RenderError) as err:
        render_backup(moved, server, _options(moved))
    assert err.value.field == "spec.serverRef.namespace"


# ---------------------------------------------------------------------------------------------- schedules


def test_an_invalid_schedule_is_a_render_error_on_spec_schedule() -> None:
    backup, server = _load(_fixture("azure-full-weekly"))
    backup.spec.schedule = "99 * * * *"
    with pytest.raises(RenderError) as err:
        render_backup(backup, server, _options(backup))
    assert err.value.field == "spec.schedule"


def test_pods_with_data_prefer_the_servers_node() -> None:
    pod = _pods(_objects(_fixture("seed-s3")))[0]
    term = pod["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "filesystem-server"
    assert "affinity" not in _pods(_objects(_fixture("configuration-on-demand")))[0]


_NAME = st.from_regex(r"[a-z]([a-z0-9-]{0,80}[a-z0-9])?", fullmatch=True)


@given(backup=_NAME, server=_NAME, request=st.text(min_size=1, max_size=40))
def test_every_rendered_name_is_a_valid_dns_label_within_its_limit(backup: str, server: str, request: str) -> None:
    import re

    doc = {
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServerBackup",
        "metadata": {"name": backup, "namespace": "default"},
        "spec": {"serverRef": {"name": server}, "schedule": "@daily", "storage": {"type": "Local"},
                 "restore": {"snapshot": "abc"}},
    }  # fmt: skip
    model = MCPServerBackup.model_validate(doc)
    opts = BackupRenderOptions(request=request, restore_request="0123456789abcdef",
                               generated_key_secret=generated_key_secret_name(backup))  # fmt: skip
    for o in render_backup(model, None, opts).objects:
        name = o["metadata"]["name"]
        assert len(name) <= (MAX_CRONJOB_NAME if o["kind"] == "CronJob" else 63), name
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name), name


@pytest.mark.parametrize("source", FIXTURES, ids=lambda p: p.stem)
def test_no_staging_volume_is_made_a_run_streams_from_the_servers_claims(source: Path) -> None:
    """The README's "No staging volume": no PersistentVolumeClaim is rendered; a pod mounts the server's claims,
    the Local repository when there is one, and a bounded /tmp for the spooled file list, nothing else."""
    objects = _objects(source)
    assert "PersistentVolumeClaim" not in {o["kind"] for o in objects}
    for pod in _pods(objects):
        names = {v["name"] for v in pod["volumes"]}
        assert names - {"repository", "tmp"} == {n for n in names if n.startswith("data-")}
        tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
        assert tmp == {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}
