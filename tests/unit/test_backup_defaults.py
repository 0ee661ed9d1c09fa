"""The operator's backup defaults (`--backup-retention-*`, `--backup-s3-*`, `--backup-gcs-project`,
`--backup-azure-account-name`): what they fill into an MCPServerBackup's spec, what they leave alone, how they
reach a backup Job (MCPOP_BACKUP_DEFAULTS) and the run that reads the backup back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcpop.api.mcpserverbackup import MCPServerBackup
from mcpop.apply.mcpbackup.run import load_backup
from mcpop.apply.resources import MCPSERVERBACKUP
from mcpop.apply.settings import OperatorSettings, backup_defaults
from mcpop.backup.retention import RetentionPolicy
from mcpop.render.backup import ENV_DEFAULTS, BackupDefaults, BackupRenderOptions, render_backup, with_defaults

CHART = BackupDefaults(keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=5)


def _backup(storage: dict[str, Any], **spec: Any) -> MCPServerBackup:
    return MCPServerBackup.model_validate({
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServerBackup",
        "metadata": {"name": "b", "namespace": "team"},
        "spec": {"serverRef": {"name": "srv"}, "storage": storage, "schedule": "0 2 * * *", **spec},
    })  # fmt: skip


S3 = {"type": "S3", "s3": {"bucket": "backups"}}


def test_a_backup_without_retention_gets_the_default_policy() -> None:
    spec = with_defaults(_backup(S3).spec, CHART)
    assert spec.retention is not None
    policy = RetentionPolicy.from_spec(spec.retention)
    assert (policy.keep_daily, policy.keep_weekly, policy.keep_monthly, policy.keep_yearly) == (7, 4, 12, 5)
    assert not policy.empty


def test_a_backup_with_its_own_retention_keeps_it_and_an_empty_one_keeps_everything() -> None:
    own = with_defaults(_backup(S3, retention={"keepLast": 3}).spec, CHART)
    assert own.retention is not None and own.retention.keep_last == 3 and own.retention.keep_daily is None
    empty = with_defaults(_backup(S3, retention={}).spec, CHART)
    assert RetentionPolicy.from_spec(empty.retention).empty


def test_all_retention_defaults_zero_leave_a_backup_without_retention() -> None:
    assert with_defaults(_backup(S3).spec, BackupDefaults()).retention is None


def test_storage_defaults_fill_only_what_the_backends_settings_leave_unset() -> None:
    d = BackupDefaults(s3_region="eu-central-1", s3_endpoint="minio.storage.svc:9000", gcs_project="prod",
                       azure_account_name="platformbackups")  # fmt: skip
    s3 = with_defaults(_backup(S3).spec, d).storage.s3
    assert s3 is not None and (s3.region, s3.endpoint) == ("eu-central-1", "minio.storage.svc:9000")
    own = with_defaults(_backup({"type": "S3", "s3": {"bucket": "backups", "region": "us-east-1"}}).spec, d).storage
    assert own.s3 is not None and (own.s3.region, own.s3.endpoint) == ("us-east-1", "minio.storage.svc:9000")
    gcs = with_defaults(_backup({"type": "GCS", "gcs": {"bucket": "backups"}}).spec, d).storage
    assert gcs.gcs is not None and gcs.gcs.project == "prod" and gcs.s3 is None and gcs.azure is None
    azure = with_defaults(_backup({"type": "Azure", "azure": {"container": "backups"}}).spec, d).storage
    assert azure.azure is not None and azure.azure.account_name == "platformbackups"
    local = _backup({"type": "Local"}).spec
    assert with_defaults(local, BackupDefaults(s3_region="eu-central-1")).storage == local.storage


def test_the_defaults_go_to_every_run_in_the_jobs_environment_and_none_when_unset() -> None:
    backup = _backup(S3)
    objs = render_backup(
        backup, None, BackupRenderOptions(namespace="team", defaults=CHART, generated_key_secret="k")
    ).objects
    (cron,) = [o for o in objs if o["kind"] == "CronJob"]
    env = {
        e["name"]: e.get("value")
        for e in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert json.loads(env[ENV_DEFAULTS]) == {"retention": {"keepDaily": 7, "keepWeekly": 4, "keepMonthly": 12,
                                                           "keepYearly": 5}}  # fmt: skip
    assert BackupDefaults.from_wire(env[ENV_DEFAULTS]) == CHART
    bare = render_backup(
        backup, None, BackupRenderOptions(namespace="team", defaults=BackupDefaults(), generated_key_secret="k")
    ).objects
    assert ENV_DEFAULTS not in json.dumps(bare)


class _Kube:
    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj

    def get(self, res: Any, namespace: str | None, name: str) -> dict[str, Any] | None:
        assert res is MCPSERVERBACKUP
        return self.obj


def test_the_run_reads_the_backup_with_the_defaults_of_its_environment() -> None:
    wire = _backup(S3).wire()
    env = {ENV_DEFAULTS: json.dumps(BackupDefaults(keep_daily=2, s3_region="eu-west-1").wire())}
    raw, backup = load_backup(_Kube(wire), "team", "b", env)  # type: ignore[arg-type]
    assert backup.spec.retention.keep_daily == 2 and backup.spec.storage.s3.region == "eu-west-1"
    assert "retention" not in raw["spec"]
    _, plain = load_backup(_Kube(wire), "team", "b", {})  # type: ignore[arg-type]
    assert plain.spec.retention is None


def test_the_settings_give_the_charts_retention_by_default_and_check_storage_values() -> None:
    assert backup_defaults(OperatorSettings()) == CHART
    with pytest.raises(ValueError, match="region"):
        OperatorSettings(backup_s3_region="EU West")
    with pytest.raises(ValueError, match="endpoint"):
        OperatorSettings(backup_s3_endpoint="not a host")
    with pytest.raises(ValueError, match="account_name"):
        OperatorSettings(backup_azure_account_name="x")
