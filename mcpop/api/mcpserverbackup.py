"""The MCPServerBackup resource: scheduled, retained, compressed, encrypted backups and restore."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from mcpop.api.base import DNSSubdomain, Model, cel, with_cel
from mcpop.api.conditions import Condition, ObjectMeta, ObjectReference
from mcpop.api.core import (
    EmptyDirVolumeSource,
    HostPathVolumeSource,
    PersistentVolumeClaimVolumeSource,
    SecretKeySelector,
    list_map,
)
from mcpop.api.cron import MAX_LENGTH as MAX_SCHEDULE_LENGTH
from mcpop.api.cron import SCHEDULE_MESSAGE, SCHEDULE_RULE, check_schedule
from mcpop.api.validation import AbsolutePath, Int32, check_host, check_url


def _check_endpoint(value: str) -> str:
    # the seed example gives a bare host (`s3.amazonaws.com`); a URL needs a host too
    if "://" in value:
        return check_url(value)
    host, _, port = value.partition(":")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
    try:
        check_host(host.lower(), wildcard=False)  # DNS is case-insensitive; Istio hosts are not
    except ValueError:
        raise ValueError(f"{value!r} is not an endpoint: use a host[:port] or an http(s) URL with a host") from None
    return value


Endpoint = Annotated[str, AfterValidator(_check_endpoint)]


def _check_s3_bucket(value: str) -> str:
    # the S3 naming rules: lower-case letters, digits, '.' and '-', alphanumeric ends, not an IP address
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value) or ".." in value:
        raise ValueError(
            f"{value!r} is not an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", value):
        raise ValueError(f"{value!r} is not an S3 bucket name: it must not look like an IP address")
    return value


def _check_gcs_bucket(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]", value) or ".." in value:
        raise ValueError(
            f"{value!r} is not a GCS bucket name: lower-case letters, digits, '-', '_' and '.', starting "
            "and ending with a letter or digit"
        )
    return value


def _check_azure_container(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9](-?[a-z0-9])*", value):
        raise ValueError(
            f"{value!r} is not an Azure container name: 3-63 lower-case letters, digits and single '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _check_timestamp(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC 3339 time such as '2025-01-31T12:00:00Z'") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; add 'Z' or an offset such as '+02:00'")
    return value


#: What a CronJob accepts, checked alike by the model and (the same language, as a CEL rule) by the CRD.
Schedule = Annotated[
    str,
    AfterValidator(check_schedule),
    WithJsonSchema({
        "type": "string", "maxLength": MAX_SCHEDULE_LENGTH,
        "x-kubernetes-validations": [cel(SCHEDULE_RULE, SCHEDULE_MESSAGE)],
    }),
]  # fmt: skip


class SecretValue(Model):
    secret_key_ref: SecretKeySelector


class S3Credentials(Model):
    access_key_id: SecretValue
    secret_access_key: SecretValue


class S3Storage(Model):
    bucket: Annotated[str, AfterValidator(_check_s3_bucket)] = Field(min_length=3, max_length=63)
    region: str | None = Field(default=None, pattern=r"^[a-z0-9-]+$")
    endpoint: Endpoint | None = None
    prefix: str | None = None
    credentials: S3Credentials | None = None


class GCSStorage(Model):
    bucket: Annotated[str, AfterValidator(_check_gcs_bucket)] = Field(min_length=3, max_length=222)
    prefix: str | None = None
    project: str | None = None
    endpoint: Endpoint | None = None
    credentials: SecretValue | None = None


class AzureStorage(Model):
    container: Annotated[str, AfterValidator(_check_azure_container)] = Field(min_length=3, max_length=63)
    account_name: str | None = Field(default=None, pattern=r"^[a-z0-9]{3,24}$")
    prefix: str | None = None
    endpoint: Endpoint | None = None
    credentials: SecretValue | None = None


class LocalStorage(Model):
    path: AbsolutePath = "/backups"
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None


class BackupStorage(Model):
    model_config = with_cel(
        cel(
            "self.type == 'Local' || (self.type == 'S3' && has(self.s3)) || "
            "(self.type == 'GCS' && has(self.gcs)) || (self.type == 'Azure' && has(self.azure))",
            "storage.type names a backend whose settings are missing (s3, gcs or azure)",
            reason="FieldValueRequired",
        )
    )

    type: Literal["S3", "GCS", "Azure", "Local"]
    s3: S3Storage | None = None
    gcs: GCSStorage | None = None
    azure: AzureStorage | None = None
    local: LocalStorage | None = None

    @model_validator(mode="after")
    def _type_has_settings(self) -> BackupStorage:
        field = self.type.lower()
        if field != "local" and getattr(self, field) is None:
            raise ValueError(f"storage.type is {self.type} but storage.{field} is not set")
        others = [n for n in ("s3", "gcs", "azure", "local") if n != field and getattr(self, n) is not None]
        if others:
            raise ValueError(f"storage.type is {self.type}; remove storage.{', storage.'.join(others)}")
        return self


class Retention(Model):
    keep_last: Int32 | None = Field(default=None, ge=0)
    keep_daily: Int32 | None = Field(default=None, ge=0)
    keep_weekly: Int32 | None = Field(default=None, ge=0)
    keep_monthly: Int32 | None = Field(default=None, ge=0)
    keep_yearly: Int32 | None = Field(default=None, ge=0)
    max_age: str | None = Field(default=None, pattern=r"^[0-9]+(h|d|w)$")


class Encryption(Model):
    enabled: bool = True
    key_secret_ref: SecretKeySelector | None = None


class RestoreTarget(Model):
    """Where a restore writes: an MCPServer (default: the backed-up one) in a namespace (default: its own)."""

    name: DNSSubdomain | None = None
    namespace: str | None = None


class Restore(Model):
    """A restore the controller runs once per distinct value of this field."""

    model_config = with_cel(
        cel(
            "[has(self.snapshot), has(self.backupName), has(self.pointInTime)].filter(x, x).size() <= 1",
            "restore: set at most one of snapshot, backupName and pointInTime",
        )
    )

    #: a snapshot id (or a unique prefix of one); none and no pointInTime = the newest snapshot
    snapshot: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")
    #: the original API's name for `snapshot`
    backup_name: DNSSubdomain | None = None
    #: RFC 3339: the newest snapshot taken at or before this time
    point_in_time: Annotated[str, AfterValidator(_check_timestamp)] | None = None
    target: RestoreTarget | None = None
    configuration: bool = True
    data: bool = True

    @model_validator(mode="after")
    def _one_selector(self) -> Restore:
        given = [n for n in ("snapshot", "backup_name", "point_in_time") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError("restore: set at most one of snapshot, backupName and pointInTime")
        if not (self.configuration or self.data):
            raise ValueError("restore: configuration and data are both false: nothing to restore")
        return self


class MCPServerBackupSpec(Model):
    server_ref: ObjectReference
    backup_type: Literal["Full", "Incremental", "Configuration"] = "Full"
    storage: BackupStorage
    retention: Retention | None = None
    schedule: Schedule | None = None
    compression: Literal["none", "gzip", "zstd"] = "gzip"
    #: on unless set to false: an unencrypted repository's chunk ids are plain SHA-256, so anyone who can write
    #: the bucket can forge snapshots (and read them); off is reported by the condition Encrypted=False
    encryption: bool = True
    encryption_key: SecretKeySelector | None = None
    verify: bool = True
    suspend: bool = False
    restore: Restore | None = None


class SnapshotSummary(Model):
    """One snapshot in the repository, as status lists the recent ones."""

    id: str
    time: str
    type: str | None = None
    #: bytes the snapshot restores
    size: int | None = None
    files: int | None = None
    #: bytes this snapshot added to the repository (after deduplication and compression)
    uploaded: int | None = None


class BackupRun(Model):
    """The outcome of one `mcp backup run` (written by the run itself)."""

    id: str
    result: Literal["Running", "Succeeded", "Failed"]
    start_time: str
    completion_time: str | None = None
    duration_seconds: float | None = None
    snapshot: str | None = None
    size: int | None = None
    files: int | None = None
    bytes_uploaded: int | None = None
    bytes_deduplicated: int | None = None
    verified: bool | None = None
    verify_message: str | None = None
    secrets_skipped: list[str] | None = None
    removed_snapshots: list[str] | None = None
    error: str | None = None


class RestoreRun(Model):
    """The outcome of the last restore."""

    id: str
    result: Literal["Running", "Succeeded", "Failed"]
    snapshot: str | None = None
    target: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
    error: str | None = None


class MCPServerBackupStatus(Model):
    phase: Literal["Pending", "Scheduled", "Running", "Completed", "Failed", "Restoring", "Suspended"] | None = None
    observed_generation: int | None = None
    conditions: list[Condition] | None = Field(default=None, json_schema_extra=list_map("type"))
    last_backup_time: str | None = None
    last_successful_backup: str | None = None
    last_snapshot: str | None = None
    next_scheduled_time: str | None = None
    #: the `mcp.allbeone.io/backup-requested` value last acted on
    last_request: str | None = None
    #: the spec.restore (hash) last acted on
    last_restore_request: str | None = None
    encryption_key_secret: str | None = None
    last_run: BackupRun | None = None
    last_restore: RestoreRun | None = None
    snapshots: list[SnapshotSummary] | None = Field(default=None, json_schema_extra=list_map("id"))
    repository_size: int | None = None


class MCPServerBackup(Model):
    """Backups of one MCP server's data and configuration."""

    api_version: Literal["mcp.allbeone.io/v1"] = "mcp.allbeone.io/v1"
    kind: Literal["MCPServerBackup"] = "MCPServerBackup"
    metadata: ObjectMeta
    spec: MCPServerBackupSpec
    status: MCPServerBackupStatus | None = None


__all__ = ["DNSSubdomain", "MCPServerBackup"]
