"""A backup Job's command run on the host as the kubelet would start it (its ServiceAccount's token, its
environment with the secretKeyRefs resolved, `/data` mapped to a directory), against the local S3 server;
then the controller's status, Events and metrics from the result; restore; retention on a shortened clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from backup_harness import *  # noqa: F403
from backup_harness import BackupEnv, filesystem_server, job_pod, read_tree, seed_backup, write_tree

from mcpop.apply.mcpbackup import metrics

NAME = "filesystem-server-backup"
FILES = {
    "notes/hello.txt": b"hello\n",
    "notes/empty": b"",
    "db/data.bin": bytes(range(256)) * 4096,
    "unicode/r\u00e9sum\u00e9 \u2603.txt": "caf\u00e9\n".encode(),
}


def _setup(env: BackupEnv, s3: object, prefix: str, **spec: object) -> None:
    env.servers.create(filesystem_server())
    env.secret("s3-credentials", {"access-key-id": "testing", "secret-access-key": "testing"})
    body = seed_backup(s3.endpoint)  # type: ignore[attr-defined]
    body["spec"]["serverRef"]["namespace"] = env.ns
    body["spec"]["storage"]["s3"]["prefix"] = prefix
    body["spec"].update(spec)
    env.create_backup(body)


def _request_job(env: BackupEnv, value: str) -> tuple[dict, str]:
    env.patch_backup(NAME, {"metadata": {"annotations": {"mcp.allbeone.io/backup-requested": value}}})
    env.reconcile(NAME)
    job = next(j for j in env.jobs() if j.metadata.annotations.get("mcp.allbeone.io/backup-requested") == value)
    return job_pod(job), job.metadata.name


def _data(tmp: Path, files: dict[str, bytes] = FILES) -> Path:
    root = tmp / "pvcs"
    write_tree(root / "data", files)
    return root


def _backed_up(env: BackupEnv, s3: object) -> Path:
    """The seed backup set up and run once (on-demand request "x"); the PVC data directory it read."""
    _setup(env, s3, env.ns)
    env.reconcile(NAME)
    data = _data(env.tmp)
    pod, job = _request_job(env, "x")
    assert env.run_pod(pod, job, data).returncode == 0
    return data


def _digest(tree: dict[str, bytes]) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in tree.items()}


def test_the_jobs_command_backs_up_to_s3_and_the_status_says_so(backup_env: BackupEnv, s3_server: Any) -> None:
    _setup(backup_env, s3_server, backup_env.ns)
    backup_env.reconcile(NAME)
    pod, job = _request_job(backup_env, "first")
    ok_before = metrics.RUNS.labels("succeeded")._value.get()
    uploaded_before = metrics.BYTES.labels("uploaded")._value.get()
    result = backup_env.run_pod(pod, job, _data(backup_env.tmp))
    assert result.returncode == 0, result.stderr
    status = backup_env.backup(NAME)["status"]
    run = status["lastRun"]
    assert run["result"] == "Succeeded" and run["id"] == job
    assert run["files"] >= len(FILES)
    assert run["verified"] is True
    assert status["lastSnapshot"] == run["snapshot"]
    assert status["snapshots"][0]["id"] == run["snapshot"]
    assert status["lastSuccessfulBackup"]
    backup_env.reconcile(NAME)
    conds = {c["type"]: (c["status"], c["reason"]) for c in backup_env.backup(NAME)["status"]["conditions"]}
    assert conds["LastBackupSucceeded"] == ("True", "Succeeded")
    assert conds["Verified"] == ("True", "Verified")
    assert conds["Ready"] == ("True", "Ready")
    assert backup_env.events("BackupSucceeded")
    assert metrics.RUNS.labels("succeeded")._value.get() == ok_before + 1
    assert metrics.BYTES.labels("uploaded")._value.get() > uploaded_before
    # no credential value in any output or status
    assert "testing" not in result.stdout + result.stderr
    assert "testing" not in json.dumps(backup_env.backup(NAME))


def test_the_job_runs_with_exactly_its_roles_permissions(backup_env: BackupEnv, s3_server: Any) -> None:
    """The run reads the server and its references and writes status as the Job's ServiceAccount;
    it cannot read other Secrets."""
    _setup(backup_env, s3_server, backup_env.ns)
    backup_env.secret("unrelated", {"x": "y"})
    backup_env.reconcile(NAME)
    pod, _ = _request_job(backup_env, "perm")
    kubeconfig = backup_env.service_account_kubeconfig(pod["serviceAccountName"])
    from mcpop.apply.resources import SECRET
    from mcpop.apply.runtime.client import Kube, KubeError, load_api_client

    kube = Kube(load_api_client(str(kubeconfig)))
    try:
        kube.get(SECRET, backup_env.ns, "unrelated")
    except KubeError as exc:
        assert exc.status == 403
    else:
        raise AssertionError("the backup Job's account could read an unrelated Secret")


def test_a_second_run_is_incremental_and_uploads_little(backup_env: BackupEnv, s3_server: Any) -> None:
    _setup(backup_env, s3_server, backup_env.ns, backupType="Incremental")
    backup_env.reconcile(NAME)
    data = _data(backup_env.tmp)
    pod, job = _request_job(backup_env, "one")
    assert backup_env.run_pod(pod, job, data).returncode == 0
    first = backup_env.backup(NAME)["status"]["lastRun"]
    (data / "data/notes/hello.txt").write_bytes(b"hello again\n")
    pod, job = _request_job(backup_env, "two")
    result = backup_env.run_pod(pod, job, data)
    assert result.returncode == 0, result.stderr
    second = backup_env.backup(NAME)["status"]["lastRun"]
    assert second["snapshot"] != first["snapshot"]
    assert second["bytesUploaded"] < first["bytesUploaded"] / 4
    assert len(backup_env.backup(NAME)["status"]["snapshots"]) == 2


def test_a_failed_run_is_recorded_and_reported(backup_env: BackupEnv, s3_server: Any) -> None:
    _setup(backup_env, s3_server, backup_env.ns)
    backup_env.patch_backup(NAME, {"spec": {"storage": {"s3": {"bucket": "no-such-bucket-here"}}}})
    backup_env.reconcile(NAME)
    pod, job = _request_job(backup_env, "bad")
    failed_before = metrics.RUNS.labels("failed")._value.get()
    result = backup_env.run_pod(pod, job, _data(backup_env.tmp))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "no-such-bucket-here" in result.stderr
    run = backup_env.backup(NAME)["status"]["lastRun"]
    assert run["result"] == "Failed" and "no-such-bucket-here" in run["error"]
    backup_env.reconcile(NAME)
    cond = backup_env.condition(NAME, "LastBackupSucceeded")
    assert cond["status"] == "False"
    # the Job still runs (it retries with backoff): Running; once it is gone, Failed
    assert backup_env.backup(NAME)["status"]["phase"] == "Running"
    backup_env.batch.delete_namespaced_job(job, backup_env.ns, propagation_policy="Background")
    backup_env.reconcile(NAME)
    assert backup_env.backup(NAME)["status"]["phase"] == "Failed"
    assert backup_env.condition(NAME, "Ready")["reason"] == "BackupFailed"
    assert backup_env.events("BackupFailed")
    assert metrics.RUNS.labels("failed")._value.get() == failed_before + 1


def test_list_and_verify_from_a_workstation(backup_env: BackupEnv, s3_server: Any, kube_cluster: Any) -> None:
    _backed_up(backup_env, s3_server)
    snap = backup_env.backup(NAME)["status"]["lastSnapshot"]
    out = backup_env.mcp("backup", "list", NAME, "-n", backup_env.ns, "-o", "json", kubeconfig=kube_cluster.kubeconfig)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["id"] for r in rows] == [snap]
    assert rows[0]["kind"] == "Full"
    table = backup_env.mcp("backup", "list", NAME, "-n", backup_env.ns, kubeconfig=kube_cluster.kubeconfig)
    assert table.stdout.splitlines()[0].split() == ["ID", "TIME", "TYPE", "SIZE", "FILES", "DEDUP"]
    assert snap[:8] in table.stdout
    check = backup_env.mcp("backup", "verify", NAME, "-n", backup_env.ns, "--read-data",
                           kubeconfig=kube_cluster.kubeconfig)  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert "no errors" in check.stdout


def test_restore_of_data_and_configuration_is_byte_identical(
    backup_env: BackupEnv, s3_server: Any, kube_cluster: Any
) -> None:
    data = _backed_up(backup_env, s3_server)
    snap = backup_env.backup(NAME)["status"]["lastSnapshot"]
    want = _digest(read_tree(data / "data"))
    # the data is lost and the server's spec changed
    for p in (data / "data").rglob("*"):
        if p.is_file():
            p.write_bytes(b"garbage")
    backup_env.servers.patch("filesystem-server", {"spec": {"tag": "9.9.9"}})
    target = backup_env.tmp / "restored"
    (target / "data").mkdir(parents=True)
    out = backup_env.mcp("backup", "restore", NAME, "-n", backup_env.ns, "--snapshot", snap[:12], "--data-dir",
                         str(target), kubeconfig=kube_cluster.kubeconfig)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert _digest(read_tree(target / "data")) == want
    server = backup_env.servers.get("filesystem-server")
    assert server["spec"]["tag"] == "1.0.0"
    assert server["spec"]["replicas"] == 1  # scaled down for the data, then back
    assert "mcp.allbeone.io/restore-replicas" not in (server["metadata"].get("annotations") or {})
    assert backup_env.backup(NAME)["status"]["lastRestore"]["result"] == "Succeeded"


def test_configuration_restores_to_another_namespace_at_a_point_in_time(
    backup_env: BackupEnv, s3_server: Any, kube_cluster: Any
) -> None:
    import kubeenv

    _backed_up(backup_env, s3_server)
    other = kubeenv.create_namespace(backup_env.admin)
    try:
        out = backup_env.mcp("backup", "restore", NAME, "-n", backup_env.ns, "--at", "2100-01-01T00:00:00Z",
                             "--configuration-only", "--target", "fs-copy", "--target-namespace", other,
                             kubeconfig=kube_cluster.kubeconfig)  # fmt: skip
        assert out.returncode == 0, out.stderr
        copy = backup_env.servers.custom.get_namespaced_custom_object("mcp.allbeone.io", "v1", other, "mcpservers",
                                                                      "fs-copy")  # fmt: skip
        assert copy["spec"]["image"] == "mcp/filesystem"
        assert copy["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "filesystem-data"
        early = backup_env.mcp("backup", "restore", NAME, "-n", backup_env.ns, "--at", "2000-01-01T00:00:00Z",
                               "--configuration-only", kubeconfig=kube_cluster.kubeconfig)  # fmt: skip
        assert early.returncode != 0 and "Traceback" not in early.stderr
    finally:
        kubeenv.delete_namespace(backup_env.admin, other)


def test_snapshots_expire_on_a_shortened_clock(backup_env: BackupEnv, s3_server: Any) -> None:
    """Seven daily runs, a day apart by the run's clock, with keepDaily 3: three snapshots stay."""
    _setup(backup_env, s3_server, backup_env.ns, retention={"keepDaily": 3})
    backup_env.reconcile(NAME)
    data = _data(backup_env.tmp)
    for day in range(1, 8):
        (data / "data/notes/day.txt").write_text(f"day {day}\n")
        pod, job = _request_job(backup_env, f"day-{day}")
        result = backup_env.run_pod(pod, job, data, extra_env={"MCPOP_BACKUP_NOW": f"2026-11-{day:02d}T02:00:00Z"})
        assert result.returncode == 0, result.stderr
    status = backup_env.backup(NAME)["status"]
    assert [s["time"][:10] for s in status["snapshots"]] == ["2026-11-07", "2026-11-06", "2026-11-05"]
    assert status["lastRun"]["removedSnapshots"]


def test_spec_restore_runs_one_restore_job_under_its_own_account(backup_env: BackupEnv, s3_server: Any) -> None:
    data = _backed_up(backup_env, s3_server)
    snap = backup_env.backup(NAME)["status"]["lastSnapshot"]
    want = _digest(read_tree(data / "data"))
    (data / "data/notes/hello.txt").write_bytes(b"changed after the backup\n")
    backup_env.patch_backup(NAME, {"spec": {"restore": {"snapshot": snap[:16]}}})
    backup_env.reconcile(NAME)
    restores = [j for j in backup_env.jobs() if "-restore-" in j.metadata.name]
    assert len(restores) == 1
    rpod = job_pod(restores[0])
    assert rpod["serviceAccountName"] == f"{NAME}-restore"
    assert backup_env.backup(NAME)["status"]["phase"] == "Restoring"
    assert backup_env.events("RestoreStarted")
    result = backup_env.run_pod(rpod, restores[0].metadata.name, data)
    assert result.returncode == 0, result.stderr
    assert _digest(read_tree(data / "data")) == want
    assert backup_env.backup(NAME)["status"]["lastRestore"]["result"] == "Succeeded"
    assert backup_env.backup(NAME)["status"]["lastRestore"]["snapshot"] == snap
    # the same spec.restore does not run again once its Job is gone
    backup_env.batch.delete_namespaced_job(restores[0].metadata.name, backup_env.ns, propagation_policy="Background")
    backup_env.reconcile(NAME)
    assert not [j for j in backup_env.jobs() if "-restore-" in j.metadata.name and not j.metadata.deletion_timestamp]


def _forge_configuration(env: BackupEnv, kube_cluster: Any, extra: dict[str, bytes]) -> str:
    """A snapshot written with the repository's own primitives by whoever holds the bucket (and here the key):
    the last snapshot's configuration files plus `extra`; its id."""
    from mcpop.apply.mcpbackup.run import load_backup, open_repository
    from mcpop.apply.runtime.client import Kube, load_api_client
    from mcpop.backup import MemoryFile

    admin = Kube(load_api_client(kube_cluster.kubeconfig))
    _, model = load_backup(admin, env.ns, NAME)
    with open_repository(admin, model, env.ns, create=False, env={}).repo as repo:
        files = repo.read_files(env.backup(NAME)["status"]["lastSnapshot"], "config")
        sources = [MemoryFile(f"config/{path}", f.data) for path, f in files.items()]
        sources += [MemoryFile(f"config/{path}", data) for path, data in extra.items()]
        return str(repo.backup(sources, kind="Configuration").id)


def test_a_snapshot_holding_a_cluster_role_binding_is_refused_and_nothing_is_applied(
    backup_env: BackupEnv, s3_server: Any, kube_cluster: Any
) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    _backed_up(backup_env, s3_server)
    binding = f"restore-escalation-{backup_env.ns}"
    crb = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
        f"metadata: {{name: {binding}}}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n"
        f"subjects: [{{kind: ServiceAccount, name: default, namespace: {backup_env.ns}}}]\n"
    )
    forged = _forge_configuration(backup_env, kube_cluster, {"configmaps/settings.yaml": crb.encode()})
    backup_env.servers.patch("filesystem-server", {"spec": {"tag": "9.9.9"}})
    out = backup_env.mcp("backup", "restore", NAME, "-n", backup_env.ns, "--snapshot", forged, "--configuration-only",
                         kubeconfig=kube_cluster.kubeconfig)  # fmt: skip
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "config/configmaps/settings.yaml: holds a 'ClusterRoleBinding' where a ConfigMap belongs" in out.stderr
    assert "nothing was restored" in out.stderr
    with pytest.raises(ApiException) as missing:
        client.RbacAuthorizationV1Api(backup_env.admin).read_cluster_role_binding(binding)
    assert missing.value.status == 404
    assert backup_env.servers.get("filesystem-server")["spec"]["tag"] == "9.9.9"
    assert backup_env.backup(NAME)["status"]["lastRestore"]["result"] == "Failed"


def test_a_restore_to_another_server_does_not_overwrite_an_object_it_did_not_write(
    backup_env: BackupEnv, s3_server: Any, kube_cluster: Any
) -> None:
    _backed_up(backup_env, s3_server)
    theirs = filesystem_server("someone-elses", claim="their-data")
    backup_env.servers.create(theirs)
    out = backup_env.mcp("backup", "restore", NAME, "-n", backup_env.ns, "--configuration-only", "--target",
                         "someone-elses", kubeconfig=kube_cluster.kubeconfig)  # fmt: skip
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert f"MCPServer {backup_env.ns}/someone-elses exists and was not written by a restore" in out.stderr
    live = backup_env.servers.get("someone-elses")
    assert live["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "their-data"


def _as(env: BackupEnv, account: str) -> Any:
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(str(env.service_account_kubeconfig(account))))


def _status(exc_type: Any, call: Any) -> int:
    try:
        call()
    except exc_type as exc:
        return int(exc.status)
    return 200


def test_the_restore_account_writes_only_what_it_names_and_goes_when_its_job_finishes(
    backup_env: BackupEnv, s3_server: Any, kube_cluster: Any
) -> None:
    """The attack: a restore Job's token (anyone who can exec into its pod, or a forged snapshot) writing
    other ConfigMaps, Secrets or MCPServers, or into another namespace. RBAC refuses each; the apply of a
    named object (the create an apply makes included) is allowed; and the identity is pruned once the Job
    finished, while the Job stays."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    _backed_up(backup_env, s3_server)
    backup_env.secret("server-token", {"token": "t"})
    backup_env.servers.patch("filesystem-server", {"spec": {"env": [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "server-token", "key": "token"}}}]}})  # fmt: skip
    backup_env.patch_backup(NAME, {"spec": {"restore": {"data": False}}})
    backup_env.reconcile(NAME)
    account = f"{NAME}-restore"
    rbac = client.RbacAuthorizationV1Api(backup_env.admin)
    role = rbac.read_namespaced_role(account, backup_env.ns)
    assert all(r.resource_names for r in role.rules if r.verbs != ["list"])
    core = _as(backup_env, account)

    def apply(kind: str, name: str, ns: str, dry_run: bool = True) -> int:
        body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "data": {}}
        fn = core.patch_namespaced_secret if kind == "Secret" else core.patch_namespaced_config_map
        return _status(ApiException, lambda: fn(name, ns, body, field_manager="mcpop-restore", force=True,
                                                 dry_run="All" if dry_run else None,
                                                 _content_type="application/apply-patch+yaml"))  # fmt: skip

    assert apply("Secret", "server-token", backup_env.ns) == 200  # named: the apply's create is allowed
    assert apply("Secret", "not-referenced", backup_env.ns) == 403
    assert apply("ConfigMap", "kube-root-ca.crt", backup_env.ns) == 403
    assert apply("Secret", "server-token", "default") == 403  # another namespace
    plain = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="anything"))
    assert _status(ApiException, lambda: core.create_namespaced_config_map(backup_env.ns, plain)) == 403
    assert _status(ApiException, lambda: core.list_namespaced_secret(backup_env.ns)) == 403
    custom = client.CustomObjectsApi(core.api_client)
    other = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "other"},
             "spec": {"image": "mcp/filesystem"}}  # fmt: skip
    assert _status(ApiException, lambda: custom.create_namespaced_custom_object(
        "mcp.allbeone.io", "v1", backup_env.ns, "mcpservers", other, dry_run="All")) == 403  # fmt: skip

    # the Job finished: its identity goes, the Job stays
    job = next(j for j in backup_env.jobs() if "-restore-" in j.metadata.name)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = job.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ") if job.status.start_time else now
    backup_env.batch.patch_namespaced_job_status(job.metadata.name, backup_env.ns, {"status": {
        "startTime": started, "completionTime": now, "active": 0, "ready": 0, "succeeded": 1, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now}]}})  # fmt: skip
    backup_env.reconcile(NAME)
    assert _status(ApiException, lambda: rbac.read_namespaced_role(account, backup_env.ns)) == 404
    assert _status(ApiException, lambda: rbac.read_namespaced_role_binding(account, backup_env.ns)) == 404
    assert _status(ApiException, lambda: backup_env.core.read_namespaced_service_account(account, backup_env.ns)) == 404
    assert [j for j in backup_env.jobs() if j.metadata.name == job.metadata.name]


def test_a_restore_job_never_targets_another_namespace(backup_env: BackupEnv, s3_server: Any) -> None:
    _backed_up(backup_env, s3_server)
    backup_env.patch_backup(NAME, {"spec": {"restore": {"data": False, "target": {"namespace": "default"}}}})
    with pytest.raises(Exception, match="writes only in its own namespace"):
        backup_env.reconcile(NAME)
    assert not [j for j in backup_env.jobs() if "-restore-" in j.metadata.name]
    assert "writes only in its own namespace" in backup_env.condition(NAME, "Ready")["message"]
