"""The backup Job's command against every storage backend the CRD names: the GCS emulator, Azurite and a
local directory (S3 is in test_backup_run.py), with the credentials wired exactly as the Job's env sets
them; wrong credentials are a clear failure that never shows the key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backup_harness import *  # noqa: F403
from backup_harness import BackupEnv, filesystem_server, job_pod, read_tree, write_tree

NAME = "fs-backup"
FILES = {"a.txt": b"alpha\n", "nested/b.bin": bytes(range(256)) * 512, "empty": b""}
BUCKET = "mcpop-backups"


@pytest.fixture(scope="module")
def gcs_server(tmp_path_factory: Any) -> Iterator[Any]:
    import storage_servers

    storage_servers.ensure_installed()
    server = storage_servers.GCSServer(tmp_path_factory.mktemp("gcs")).start()
    server.make_bucket(BUCKET)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def azure_server(tmp_path_factory: Any) -> Iterator[Any]:
    import storage_servers

    storage_servers.ensure_installed()
    server = storage_servers.AzureServer(tmp_path_factory.mktemp("azurite")).start()
    server.make_bucket(BUCKET)
    try:
        yield server
    finally:
        server.stop()


def _backup(env: BackupEnv, storage: dict[str, Any], **spec: Any) -> None:
    env.servers.create(filesystem_server())
    body = {
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServerBackup",
        "metadata": {"name": NAME, "annotations": {"mcp.allbeone.io/backup-requested": "1"}},
        "spec": {"serverRef": {"name": "filesystem-server"}, "backupType": "Full", "storage": storage,
                 "compression": "zstd", **spec},
    }  # fmt: skip
    env.create_backup(body)


def _run(env: BackupEnv, extra_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None) -> Any:
    env.reconcile(NAME)
    job = next(j for j in env.jobs() if j.metadata.name.startswith(f"{NAME}-now-"))
    data = env.tmp / "pvcs"
    write_tree(data / "data", FILES)
    return env.run_pod(job_pod(job), job.metadata.name, data, extra_env=extra_env, extra_args=extra_args)


def _restored(env: BackupEnv, kubeconfig: str, *extra: str,
              env_vars: dict[str, str] | None = None) -> dict[str, bytes]:  # fmt: skip
    target = env.tmp / f"restored-{uuid.uuid4().hex[:6]}"
    (target / "data").mkdir(parents=True)
    out = env.mcp("backup", "restore", NAME, "-n", env.ns, "--data-only", "--data-dir", str(target), *extra,
                  kubeconfig=kubeconfig, env=env_vars)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return read_tree(target / "data")


def test_gcs_backup_and_restore(backup_env: BackupEnv, gcs_server: Any, kube_cluster: Any) -> None:
    hns = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    _backup(backup_env, {"type": "GCS", "gcs": {"bucket": BUCKET, "prefix": backup_env.ns, "project": "test",
                                                "endpoint": gcs_server.endpoint}})  # fmt: skip
    result = _run(backup_env, extra_env=hns)
    assert result.returncode == 0, result.stderr
    assert backup_env.backup(NAME)["status"]["lastRun"]["result"] == "Succeeded"
    assert _restored(backup_env, kube_cluster.kubeconfig, env_vars=hns) == FILES


def test_azure_backup_and_restore_with_an_account_key(backup_env: BackupEnv, azure_server: Any,
                                                      kube_cluster: Any) -> None:  # fmt: skip
    import storage_servers

    backup_env.secret("azure", {"key": storage_servers.AZURE_KEY})
    _backup(backup_env, {"type": "Azure", "azure": {
        "container": BUCKET, "prefix": backup_env.ns, "accountName": storage_servers.AZURE_ACCOUNT,
        "endpoint": f"{azure_server.endpoint}/{storage_servers.AZURE_ACCOUNT}",
        "credentials": {"secretKeyRef": {"name": "azure", "key": "key"}}}}, encryption=True)  # fmt: skip
    result = _run(backup_env)
    assert result.returncode == 0, result.stderr
    run = backup_env.backup(NAME)["status"]["lastRun"]
    assert run["result"] == "Succeeded" and run["verified"] is True
    assert _restored(backup_env, kube_cluster.kubeconfig) == FILES


def test_wrong_azure_credentials_fail_clearly_without_showing_the_key(backup_env: BackupEnv,
                                                                      azure_server: Any) -> None:  # fmt: skip
    import base64

    import storage_servers

    wrong = base64.b64encode(b"not the account key, 64 bytes long......................").decode()
    backup_env.secret("azure", {"key": wrong})
    _backup(backup_env, {"type": "Azure", "azure": {
        "container": BUCKET, "prefix": backup_env.ns, "accountName": storage_servers.AZURE_ACCOUNT,
        "endpoint": f"{azure_server.endpoint}/{storage_servers.AZURE_ACCOUNT}",
        "credentials": {"secretKeyRef": {"name": "azure", "key": "key"}}}})  # fmt: skip
    result = _run(backup_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    status = backup_env.backup(NAME)["status"]
    assert status["lastRun"]["result"] == "Failed"
    everything = result.stdout + result.stderr + json.dumps(status)
    assert wrong not in everything and storage_servers.AZURE_KEY not in everything
    backup_env.reconcile(NAME)
    assert backup_env.condition(NAME, "LastBackupSucceeded")["status"] == "False"


def test_local_repository_and_a_wrong_encryption_key(backup_env: BackupEnv, kube_cluster: Any) -> None:
    root = backup_env.tmp / "repository"
    backup_env.secret("repo-key", {"passphrase": "correct horse battery staple"})
    _backup(backup_env, {"type": "Local", "local": {"path": "/repository", "emptyDir": {}}}, encryption=True,
            encryptionKey={"name": "repo-key", "key": "passphrase"})  # fmt: skip
    result = _run(backup_env, extra_args=("--local-root", str(root)))
    assert result.returncode == 0, result.stderr
    assert any(Path(root).rglob("*"))
    assert _restored(backup_env, kube_cluster.kubeconfig, "--local-root", str(root)) == FILES
    # the key changes: listing is refused with a clear error, never garbage
    backup_env.core.patch_namespaced_secret("repo-key", backup_env.ns, {"stringData": {"passphrase": "hunter2"}})
    out = backup_env.mcp("backup", "list", NAME, "-n", backup_env.ns, "--local-root", str(root),
                         kubeconfig=kube_cluster.kubeconfig)  # fmt: skip
    assert out.returncode == 1
    assert "the encryption key does not open this repository" in out.stderr and "Traceback" not in out.stderr
    assert "hunter2" not in out.stderr
