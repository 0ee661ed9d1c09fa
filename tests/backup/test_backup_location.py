"""Where a backup's repository lives: the MCPServerBackup storage spec (the seed example verbatim, GCS,
Azure, Local) with resolved credentials → URL and fsspec options; secrets never in repr or str."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mcpop.api.core import SecretKeySelector
from mcpop.api.mcpserverbackup import BackupStorage, MCPServerBackup
from mcpop.backup import CredentialsError, location_for

SEED = Path(__file__).parent / "fixtures" / "01-mcpserverbackup-s3.yaml"
VALUES = {("s3-credentials", "access-key-id"): "AKIAEXAMPLE", ("s3-credentials", "secret-access-key"): "wJalrSECRET"}


def resolve(ref: SecretKeySelector) -> str:
    return VALUES[(ref.name, ref.key)]


def test_the_seed_example_maps_to_an_s3_location() -> None:
    backup = MCPServerBackup.model_validate(YAML(typ="safe").load(SEED.read_text()))
    loc = location_for(backup.spec.storage, namespace="default", name="filesystem-server-backup", secret=resolve)
    assert loc.url == "s3://mcp-backups/mcpop/default/filesystem-server-backup"
    opts = loc.storage_options
    assert (opts["key"], opts["secret"]) == ("AKIAEXAMPLE", "wJalrSECRET")
    assert opts["endpoint_url"] == "https://s3.amazonaws.com"
    assert opts["client_kwargs"] == {"region_name": "us-west-2"}
    assert "s3" not in opts["config_kwargs"]  # AWS itself: virtual-hosted addressing
    assert "wJalrSECRET" not in repr(loc) and "wJalrSECRET" not in str(loc)


def test_a_custom_s3_endpoint_uses_path_style_and_the_given_prefix() -> None:
    storage = BackupStorage.model_validate(
        {"type": "S3", "s3": {"bucket": "b-1", "endpoint": "http://127.0.0.1:9000", "prefix": "/team/a/"}}
    )
    loc = location_for(storage, namespace="ns", name="n", secret=resolve)
    assert loc.url == "s3://b-1/team/a"
    assert loc.storage_options["config_kwargs"]["s3"] == {"addressing_style": "path"}
    assert "key" not in loc.storage_options  # no credentials: the ambient AWS chain (IRSA, instance role)


def test_gcs_takes_a_service_account_json_or_goes_anonymous_against_an_emulator() -> None:
    storage = BackupStorage.model_validate(
        {
            "type": "GCS",
            "gcs": {"bucket": "gbk", "project": "p", "credentials": {"secretKeyRef": {"name": "g", "key": "sa"}}},
        }
    )
    loc = location_for(storage, namespace="ns", name="n", secret=lambda _: '{"type": "service_account"}')
    assert loc.url == "gs://gbk/mcpop/ns/n"
    assert loc.storage_options == {"project": "p", "token": {"type": "service_account"}}
    emulator = BackupStorage.model_validate({"type": "GCS", "gcs": {"bucket": "gbk", "endpoint": "http://127.0.0.1:1"}})
    assert location_for(emulator, namespace="ns", name="n", secret=resolve).storage_options["token"] == "anon"
    with pytest.raises(CredentialsError, match="not a service-account JSON"):
        location_for(storage, namespace="ns", name="n", secret=lambda _: "not json")


def test_azure_takes_an_account_key_or_a_connection_string() -> None:
    with_key = BackupStorage.model_validate(
        {
            "type": "Azure",
            "azure": {
                "container": "c1c",
                "accountName": "acct",
                "credentials": {"secretKeyRef": {"name": "a", "key": "k"}},
            },
        }
    )
    loc = location_for(with_key, namespace="ns", name="n", secret=lambda _: "a2V5")
    assert loc.url == "az://c1c/mcpop/ns/n"
    assert loc.storage_options == {"account_name": "acct", "account_key": "a2V5"}
    conn = "DefaultEndpointsProtocol=http;AccountName=x;AccountKey=a2V5"
    loc = location_for(
        BackupStorage.model_validate(
            {"type": "Azure", "azure": {"container": "c1c", "endpoint": "http://127.0.0.1:10000/x",
                                        "credentials": {"secretKeyRef": {"name": "a", "key": "k"}}}}
        ), namespace="ns", name="n", secret=lambda _: conn,
    )  # fmt: skip
    assert loc.storage_options["connection_string"] == conn + ";BlobEndpoint=http://127.0.0.1:10000/x;"


def test_azure_without_an_account_or_connection_string_is_a_clear_error() -> None:
    storage = BackupStorage.model_validate({"type": "Azure", "azure": {"container": "c1c"}})
    with pytest.raises(CredentialsError, match="accountName"):
        location_for(storage, namespace="ns", name="n", secret=resolve)


def test_local_storage_is_a_directory_per_backup() -> None:
    storage = BackupStorage.model_validate({"type": "Local", "local": {"path": "/backups"}})
    assert location_for(storage, namespace="ns", name="n", secret=resolve).url == "file:///backups/ns/n"
    mounted = location_for(storage, namespace="ns", name="n", secret=resolve, local_root="/mnt/backup")
    assert mounted.url == "file:///mnt/backup/ns/n"
