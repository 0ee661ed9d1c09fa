"""Where an MCPServerBackup's repository lives: its storage spec plus resolved credentials → (url, options).

Each MCPServerBackup has its own repository: `<bucket>/<prefix>` when the spec names a prefix, else
`<bucket>/mcpop/<namespace>/<name>`. Credential values come from the caller's `secret` function (the
controller reads the referenced Secrets), are used only here and never appear in `repr`, `str` or errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcpop.backup.errors import CredentialsError

if TYPE_CHECKING:
    from mcpop.api.core import SecretKeySelector
    from mcpop.api.mcpserverbackup import BackupStorage

SecretResolver = Callable[["SecretKeySelector"], str]


@dataclass(frozen=True)
class Location:
    """A repository URL and the fsspec options that reach it (credentials included, never shown)."""

    url: str
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        return self.url


def _prefix(spec_prefix: str | None, namespace: str, name: str) -> str:
    if spec_prefix:
        return spec_prefix.strip("/")
    return f"mcpop/{namespace}/{name}"


def _endpoint(endpoint: str) -> str:
    return endpoint if "://" in endpoint else f"https://{endpoint}"


def _is_aws(endpoint: str) -> bool:
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.endswith("amazonaws.com")


def location_for(
    storage: BackupStorage,
    *,
    namespace: str,
    name: str,
    secret: SecretResolver,
    local_root: str | None = None,
) -> Location:
    """The repository location of a backup's `spec.storage`; `secret(ref)` returns a secretKeyRef's value."""
    if storage.type == "S3":
        s3 = storage.s3
        assert s3 is not None  # the model validates it
        opts: dict[str, Any] = {}
        config: dict[str, Any] = {"connect_timeout": 10, "read_timeout": 120, "retries": {"max_attempts": 3}}
        client: dict[str, Any] = {}
        if s3.region:
            client["region_name"] = s3.region
        if s3.endpoint:
            opts["endpoint_url"] = _endpoint(s3.endpoint)
            path_style = getattr(s3, "force_path_style", None)
            if path_style is None:
                path_style = getattr(s3, "path_style", None)
            if path_style is None:
                path_style = not _is_aws(s3.endpoint)
            if path_style:
                config["s3"] = {"addressing_style": "path"}
        if s3.credentials:
            opts["key"] = secret(s3.credentials.access_key_id.secret_key_ref)
            opts["secret"] = secret(s3.credentials.secret_access_key.secret_key_ref)
        opts["client_kwargs"] = client
        opts["config_kwargs"] = config
        return Location(f"s3://{s3.bucket}/{_prefix(s3.prefix, namespace, name)}", opts)
    if storage.type == "GCS":
        gcs = storage.gcs
        assert gcs is not None
        opts = {}
        if gcs.project:
            opts["project"] = gcs.project
        if gcs.endpoint:
            opts["endpoint_url"] = _endpoint(gcs.endpoint)
        if gcs.credentials:
            raw = secret(gcs.credentials.secret_key_ref)
            try:
                opts["token"] = json.loads(raw)
            except ValueError:
                raise CredentialsError(
                    f"storage.gcs.credentials (Secret {gcs.credentials.secret_key_ref.name}, key "
                    f"{gcs.credentials.secret_key_ref.key}): not a service-account JSON document"
                ) from None
        elif gcs.endpoint:
            opts["token"] = "anon"
        return Location(f"gs://{gcs.bucket}/{_prefix(gcs.prefix, namespace, name)}", opts)
    if storage.type == "Azure":
        az = storage.azure
        assert az is not None
        opts = {}
        value = secret(az.credentials.secret_key_ref) if az.credentials else None
        if value and ("AccountKey=" in value or "SharedAccessSignature=" in value):
            conn = value.strip().rstrip(";")
            if az.endpoint and "BlobEndpoint=" not in conn:
                conn += f";BlobEndpoint={_endpoint(az.endpoint)}"
            opts["connection_string"] = conn + ";"
        elif az.account_name:
            if az.endpoint and value:
                opts["connection_string"] = (
                    f"DefaultEndpointsProtocol={_endpoint(az.endpoint).split('://', 1)[0]};"
                    f"AccountName={az.account_name};AccountKey={value};BlobEndpoint={_endpoint(az.endpoint)};"
                )
            else:
                opts["account_name"] = az.account_name
                if value and value.lstrip("?").startswith("sv="):
                    opts["sas_token"] = value
                elif value:
                    opts["account_key"] = value
                if az.endpoint:
                    opts["account_host"] = _endpoint(az.endpoint).split("://", 1)[-1].split("/", 1)[0]
        else:
            raise CredentialsError(
                "storage.azure: set accountName (with a key in credentials), or put a connection string in "
                "the credentials Secret"
            )
        return Location(f"az://{az.container}/{_prefix(az.prefix, namespace, name)}", opts)
    local = storage.local
    root = (local_root or (local.path if local else "/backups")).rstrip("/")
    return Location(f"file://{root}/{namespace}/{name}", {})


def location_from_url(url: str, options: Mapping[str, Any] | None = None) -> Location:
    """A location given directly (`mcp backup ... --repository URL` from a workstation)."""
    return Location(url.rstrip("/"), dict(options or {}))
