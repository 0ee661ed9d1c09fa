"""The backup controller on the real control plane: what it applies, owns and prunes, the zero-write steady
state, on-demand Jobs, the generated key, and the status it reports for bad input.

The controller runs in the test process as the operator's least-privilege ServiceAccount; each test calls
`reconcile` itself, so every step is deterministic.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from backup_harness import *  # noqa: F403
from backup_harness import BackupEnv, filesystem_server, seed_backup
from kubernetes import client
from kubernetes.client.rest import ApiException

from mcpop.apply.runtime.reconciler import TerminalError

NAME = "filesystem-server-backup"


def _setup(env: BackupEnv, endpoint: str = "http://127.0.0.1:9", **spec: object) -> None:
    env.servers.create(filesystem_server())
    env.secret("s3-credentials", {"access-key-id": "testing", "secret-access-key": "testing"})
    body = seed_backup(endpoint)
    body["spec"]["serverRef"]["namespace"] = env.ns
    body["spec"].update(spec)
    env.create_backup(body)


def test_the_cronjob_and_its_rbac_are_applied_and_owned_by_the_backup(backup_env: BackupEnv) -> None:
    _setup(backup_env)
    backup_env.reconcile(NAME)
    backup = backup_env.backup(NAME)
    cron = backup_env.cronjob(NAME)
    assert cron.spec.schedule == "0 2 * * *"
    assert cron.spec.concurrency_policy == "Forbid"
    assert cron.spec.suspend is False
    owner = cron.metadata.owner_references[0]
    assert (owner.kind, owner.uid, owner.controller) == ("MCPServerBackup", backup["metadata"]["uid"], True)
    assert backup_env.core.read_namespaced_service_account(NAME, backup_env.ns)
    rbac = client.RbacAuthorizationV1Api(backup_env.admin)
    assert rbac.read_namespaced_role(NAME, backup_env.ns).rules
    assert rbac.read_namespaced_role_binding(NAME, backup_env.ns).subjects[0].name == NAME
    # ApplySet bookkeeping on the parent
    labels = backup["metadata"]["labels"]
    assert labels["applyset.kubernetes.io/id"].startswith("applyset-")
    assert cron.metadata.labels["applyset.kubernetes.io/part-of"] == labels["applyset.kubernetes.io/id"]


def test_status_reports_schedule_next_run_and_no_backup_yet(backup_env: BackupEnv) -> None:
    _setup(backup_env)
    backup_env.reconcile(NAME)
    status = backup_env.backup(NAME)["status"]
    assert status["phase"] == "Scheduled"
    assert status["nextScheduledTime"].endswith("T02:00:00Z")
    assert status["observedGeneration"] == backup_env.backup(NAME)["metadata"]["generation"]
    conds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conds["Ready"] == ("True", "Ready")
    assert conds["Scheduled"] == ("True", "Scheduled")
    assert conds["LastBackupSucceeded"] == ("Unknown", "NoBackupYet")


def test_encryption_without_a_key_generates_one_and_warns_it_lives_only_in_the_cluster(
    backup_env: BackupEnv,
) -> None:
    _setup(backup_env)
    backup_env.reconcile(NAME)
    secret = backup_env.core.read_namespaced_secret(f"{NAME}-key", backup_env.ns)
    assert len(secret.data["key"]) > 40
    assert not secret.metadata.owner_references  # deleting the backup must not lose the key
    cond = backup_env.condition(NAME, "EncryptionKeyInCluster")
    assert cond["reason"] == "KeyOnlyInCluster" and "only in this cluster" in cond["message"]
    # a second reconcile keeps the same key
    backup_env.reconcile(NAME)
    assert backup_env.core.read_namespaced_secret(f"{NAME}-key", backup_env.ns).data == secret.data


def test_a_backup_that_does_not_mention_encryption_is_encrypted_with_a_generated_key(
    backup_env: BackupEnv,
) -> None:
    backup_env.servers.create(filesystem_server())
    body = seed_backup("http://127.0.0.1:9")
    body["spec"]["serverRef"]["namespace"] = backup_env.ns
    del body["spec"]["encryption"]
    backup_env.create_backup(body)
    backup_env.reconcile(NAME)
    assert backup_env.backup(NAME)["spec"]["encryption"] is True  # the CRD's default
    assert backup_env.core.read_namespaced_secret(f"{NAME}-key", backup_env.ns).data["key"]
    cond = backup_env.condition(NAME, "Encrypted")
    assert (cond["status"], cond["reason"]) == ("True", "Encrypted")


def test_encryption_false_is_reported_by_a_warning_condition(backup_env: BackupEnv) -> None:
    _setup(backup_env, encryption=False)
    backup_env.reconcile(NAME)
    cond = backup_env.condition(NAME, "Encrypted")
    assert (cond["status"], cond["reason"]) == ("False", "EncryptionDisabled")
    assert "can forge snapshots" in cond["message"]
    assert f"{NAME}-key" not in {s.metadata.name for s in backup_env.core.list_namespaced_secret(backup_env.ns).items}


def test_a_second_reconcile_writes_nothing(backup_env: BackupEnv) -> None:
    _setup(backup_env)
    backup_env.reconcile(NAME)
    backup_env.reconcile(NAME)
    before = len(backup_env.requests.writes())
    backup_env.reconcile(NAME)
    assert backup_env.requests.writes()[before:] == []


def test_suspend_is_applied_to_the_cronjob(backup_env: BackupEnv) -> None:
    _setup(backup_env)
    backup_env.reconcile(NAME)
    backup_env.patch_backup(NAME, {"spec": {"suspend": True}})
    backup_env.reconcile(NAME)
    assert backup_env.cronjob(NAME).spec.suspend is True
    assert backup_env.backup(NAME)["status"]["phase"] == "Suspended"
    assert "nextScheduledTime" not in backup_env.backup(NAME)["status"]


def test_removing_the_schedule_prunes_the_cronjob(backup_env: BackupEnv) -> None:
    _setup(backup_env)
    backup_env.reconcile(NAME)
    backup_env.patch_backup(NAME, {"spec": {"schedule": None}})
    backup_env.reconcile(NAME)
    with pytest.raises(client.ApiException) as err:
        backup_env.cronjob(NAME)
    assert err.value.status == 404
    assert backup_env.events("Pruned")


def test_a_request_annotation_runs_one_job_once(backup_env: BackupEnv) -> None:
    _setup(backup_env)
    backup_env.reconcile(NAME)
    backup_env.patch_backup(NAME, {"metadata": {"annotations": {"mcp.allbeone.io/backup-requested": "r1"}}})
    backup_env.reconcile(NAME)
    jobs = backup_env.jobs()
    assert len(jobs) == 1
    job = jobs[0]
    assert job.spec.template.spec.containers[0].args[:3] == ["backup", "run", NAME]
    assert backup_env.backup(NAME)["status"]["lastRequest"] == "r1"
    assert backup_env.events("BackupStarted")
    backup_env.reconcile(NAME)
    assert [j.metadata.name for j in backup_env.jobs()] == [job.metadata.name]
    # the Job finished and was cleaned up: the same request does not run again
    backup_env.batch.delete_namespaced_job(job.metadata.name, backup_env.ns, propagation_policy="Background")
    backup_env.reconcile(NAME)
    assert [j.metadata.name for j in backup_env.jobs() if not j.metadata.deletion_timestamp] == []
    # a new request is a new Job
    backup_env.patch_backup(NAME, {"metadata": {"annotations": {"mcp.allbeone.io/backup-requested": "r2"}}})
    backup_env.reconcile(NAME)
    live = [j.metadata.name for j in backup_env.jobs() if not j.metadata.deletion_timestamp]
    assert len(live) == 1 and live[0] != job.metadata.name


def test_mcp_backup_now_sets_the_request_annotation(backup_env: BackupEnv, kube_cluster: Any) -> None:
    _setup(backup_env)
    result = backup_env.mcp("backup", "now", NAME, "-n", backup_env.ns, kubeconfig=kube_cluster.kubeconfig)
    assert result.returncode == 0, result.stderr
    assert "backup requested" in result.stdout
    assert backup_env.backup(NAME)["metadata"]["annotations"]["mcp.allbeone.io/backup-requested"]


def test_an_invalid_schedule_is_refused_at_admission_naming_the_field(backup_env: BackupEnv) -> None:
    # the CRD checks the schedule as the CronJob API does, so it never reaches the controller as InvalidSpec
    with pytest.raises(ApiException) as err:
        _setup(backup_env, schedule="61 * * * *")
    causes = [(c.get("field"), c.get("message", "")) for c in json.loads(err.value.body)["details"]["causes"]]
    assert any(f == "spec.schedule" and "must be a schedule a CronJob accepts" in m for f, m in causes), causes
    assert backup_env.jobs() == []


def test_missing_credentials_are_a_clear_condition_without_secret_values(backup_env: BackupEnv) -> None:
    backup_env.servers.create(filesystem_server())
    backup_env.secret("s3-credentials", {"access-key-id": "AKIDSECRETVALUE"})
    body = seed_backup("http://127.0.0.1:9")
    body["spec"]["serverRef"]["namespace"] = backup_env.ns
    backup_env.create_backup(body)
    backup_env.reconcile(NAME)
    cond = backup_env.condition(NAME, "Ready")
    assert (cond["status"], cond["reason"]) == ("False", "CredentialsMissing")
    assert "Secret s3-credentials has no key 'secret-access-key'" in cond["message"]
    assert "AKIDSECRETVALUE" not in str(backup_env.backup(NAME))


def test_a_missing_server_is_reported(backup_env: BackupEnv) -> None:
    backup_env.secret("s3-credentials", {"access-key-id": "a", "secret-access-key": "b"})
    body = seed_backup("http://127.0.0.1:9")
    body["spec"]["serverRef"]["namespace"] = backup_env.ns
    backup_env.create_backup(body)
    backup_env.reconcile(NAME)
    cond = backup_env.condition(NAME, "Ready")
    assert (cond["status"], cond["reason"]) == ("False", "ServerNotFound")


def test_deleting_the_backup_garbage_collects_what_it_owns(backup_env: BackupEnv) -> None:
    import kubeenv

    _setup(backup_env)
    backup_env.reconcile(NAME)
    backup_env.custom.delete_namespaced_custom_object("mcp.allbeone.io", "v1", backup_env.ns, "mcpserverbackups",
                                                      NAME)  # fmt: skip

    def cron_gone() -> bool:
        try:
            backup_env.cronjob(NAME)
        except client.ApiException as e:
            return e.status == 404
        return False

    kubeenv.wait_until(cron_gone, timeout=60, message="CronJob garbage-collected")
    # the generated key stays
    assert backup_env.core.read_namespaced_secret(f"{NAME}-key", backup_env.ns)


def test_a_foreign_secret_where_the_key_would_go_is_reported_not_overwritten(backup_env: BackupEnv) -> None:
    backup_env.secret(f"{NAME}-key", {"something": "else"})
    _setup(backup_env)
    with pytest.raises(TerminalError):
        backup_env.reconcile(NAME)
    cond = backup_env.condition(NAME, "Ready")
    assert cond["reason"] == "InvalidSpec" and "is not a generated backup key" in cond["message"]
    assert backup_env.core.read_namespaced_secret(f"{NAME}-key", backup_env.ns).data.keys() == {"something"}


def test_the_status_never_tells_whether_a_server_exists_in_another_namespace(backup_env: BackupEnv) -> None:
    """The probe: a namespace user points serverRef (and restore.target) at another namespace, once at a
    server that exists there and once at one that does not. Both read the same, and the controller never
    looks there."""
    other = f"{backup_env.ns}-other"
    backup_env.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        client.CustomObjectsApi(backup_env.admin).create_namespaced_custom_object(
            "mcp.allbeone.io", "v1", other, "mcpservers", filesystem_server("secret-project"))  # fmt: skip
        backup_env.secret("s3-credentials", {"access-key-id": "a", "secret-access-key": "b"})
        messages = []
        for name, server in (("probe-exists", "secret-project"), ("probe-missing", "no-such-project")):
            body = seed_backup("http://127.0.0.1:9")
            body["metadata"]["name"] = name
            body["spec"]["serverRef"] = {"name": server, "namespace": other}
            body["spec"]["restore"] = {"data": False, "target": {"name": server, "namespace": other}}
            backup_env.create_backup(body)
            backup_env.requests.log.clear()
            with pytest.raises(TerminalError):
                backup_env.reconcile(name)
            assert ("GET", "mcpservers") not in backup_env.requests.log  # not looked up anywhere
            cond = backup_env.condition(name, "Ready")
            messages.append((cond["reason"], cond["message"].replace(server, "NAME")))
        assert messages[0] == messages[1], messages
    finally:
        backup_env.core.delete_namespace(other)
