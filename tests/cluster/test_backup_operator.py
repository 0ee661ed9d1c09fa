"""The backup controller inside the operator process (`mcp operator run`, least-privilege RBAC): the seed
example deploys verbatim, `ENABLE_BACKUP_CONTROLLER=false` switches it off, and an operator restarted in
the middle of a run neither repeats nor loses it; the real CronJob controller starts a scheduled run that
reports back.

The CronJob controller starts runs at minute boundaries: the last test's backup (every minute) is made, and
its operator started, when the module starts (`scheduled_backup`), so the wait for the next boundary passes
while the other tests run instead of after them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubeenv
import pytest
from backup_harness import *  # noqa: F403
from backup_harness import BackupEnv, filesystem_server, job_pod, seed_backup, write_tree
from cli_process import MCP
from kubernetes import client
from operator_harness import ROOT, OperatorProcess, start_operator

NAME = "filesystem-server-backup"
REQUEST = "mcp.allbeone.io/backup-requested"


def _wait(predicate: Any, timeout: float = 60, message: str = "condition") -> Any:
    return kubeenv.wait_until(predicate, timeout=timeout, interval=0.3, message=message)


def _status(env: BackupEnv, name: str = NAME) -> dict[str, Any]:
    try:
        return env.backup(name).get("status") or {}
    except client.ApiException:
        return {}


def _cond(env: BackupEnv, type_: str) -> tuple[str, str] | None:
    for c in _status(env).get("conditions") or []:
        if c["type"] == type_:
            return c["status"], c["reason"]
    return None


@pytest.fixture
def default_ns(kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, tmp_path: Path) -> Any:
    """BackupEnv on the `default` namespace (where the seed example's serverRef points), cleaned after."""
    env = BackupEnv(kube_cluster.api_client, kube_cluster.kubeconfig, operator_kubeconfig, "default", tmp_path)
    yield env
    with contextlib.suppress(client.ApiException):
        env.custom.delete_namespaced_custom_object("mcp.allbeone.io", "v1", "default", "mcpserverbackups", NAME)
    with contextlib.suppress(client.ApiException):  # no operator runs now to finalize it
        env.servers.patch("filesystem-server", {"metadata": {"finalizers": None}})
        env.servers.delete("filesystem-server")
    for secret in ("s3-credentials", f"{NAME}-key"):
        with contextlib.suppress(client.ApiException):
            env.core.delete_namespaced_secret(secret, "default")


def test_the_seed_example_deploys_verbatim_and_backs_up(default_ns: BackupEnv, operator_kubeconfig: str,
                                                         s3_server: Any, tmp_path: Path) -> None:  # fmt: skip
    env = default_ns
    env.servers.create(filesystem_server())
    env.secret("s3-credentials", {"access-key-id": "testing", "secret-access-key": "testing"})
    body = seed_backup(s3_server.endpoint)  # the example, only its endpoint pointed at the local S3 server
    body["metadata"]["annotations"] = {REQUEST: "seed"}
    env.create_backup(body)
    op = start_operator(operator_kubeconfig, "default", tmp_path, "--log-level", "debug")
    try:
        _wait(lambda: _status(env).get("phase") == "Running" and _status(env).get("lastRequest") == "seed",
              message="the requested Job created")  # fmt: skip
        assert env.cronjob(NAME).spec.schedule == "0 2 * * *"
        job = next(j for j in env.jobs() if j.metadata.annotations.get(REQUEST) == "seed")
        data = tmp_path / "pvcs"
        write_tree(data / "data", {"a.txt": b"seed data\n"})
        result = env.run_pod(job_pod(job), job.metadata.name, data)
        assert result.returncode == 0, result.stderr
        _wait(lambda: _cond(env, "LastBackupSucceeded") == ("True", "Succeeded"), message="LastBackupSucceeded")
        assert _cond(env, "Verified") == ("True", "Verified")
        assert _cond(env, "EncryptionKeyInCluster") == ("True", "KeyOnlyInCluster")
        _wait(lambda: op.metric("mcpop_backup_runs_total", result="succeeded") == 1, message="the run counted")
        assert op.metric("mcpop_backup_bytes_total", kind="uploaded") > 0
        assert op.metric("mcpop_backup_duration_seconds_count") == 1
        assert op.metric("mcpop_backup_last_success_timestamp_seconds", namespace="default") > 0
    finally:
        op.terminate()
        sys.stderr.write(f"\n--- operator log (tail)\n{op.log()[-3000:]}\n")


def test_enable_backup_controller_false_switches_it_off(backup_env: BackupEnv, operator_kubeconfig: str,
                                                        tmp_path: Path) -> None:  # fmt: skip
    env = backup_env
    env.servers.create(filesystem_server())
    env.secret("s3-credentials", {"access-key-id": "a", "secret-access-key": "b"})
    body = seed_backup("http://127.0.0.1:9")
    body["spec"]["serverRef"]["namespace"] = env.ns
    env.create_backup(body)
    op = start_operator(operator_kubeconfig, env.ns, tmp_path, env={"ENABLE_BACKUP_CONTROLLER": "false"})
    try:
        # the MCPServer controller works (its Deployment appears) while the backup stays untouched
        _wait(lambda: env.servers.apps.list_namespaced_deployment(env.ns).items, message="the server's Deployment")
        assert "status" not in env.backup(NAME)
        assert env.batch.list_namespaced_cron_job(env.ns).items == []
        assert "mcpop_backup_runs_total" not in op.metrics() or op.metric("mcpop_backup_runs_total") == 0
    finally:
        op.terminate()


def test_an_operator_restarted_mid_run_neither_repeats_nor_loses_the_run(
    backup_env: BackupEnv, operator_kubeconfig: str, s3_server: Any, tmp_path: Path
) -> None:
    env = backup_env
    env.servers.create(filesystem_server())
    env.secret("s3-credentials", {"access-key-id": "testing", "secret-access-key": "testing"})
    body = seed_backup(s3_server.endpoint)
    body["spec"]["serverRef"]["namespace"] = env.ns
    body["spec"]["storage"]["s3"]["prefix"] = env.ns
    body["metadata"]["annotations"] = {REQUEST: "once"}
    env.create_backup(body)
    op = start_operator(operator_kubeconfig, env.ns, tmp_path, "--log-level", "debug")
    try:
        _wait(lambda: _status(env).get("lastRequest") == "once", message="the requested Job created")
        job = next(j for j in env.jobs() if j.metadata.annotations.get(REQUEST) == "once")
        data = tmp_path / "pvcs"
        write_tree(data / "data", {f"f{i}.bin": os.urandom(1 << 20) for i in range(48)})
        # the Job's command starts; the operator is killed while it runs
        pod = job_pod(job)
        args = list(pod["containers"][0]["args"])
        args[args.index("--data-dir") + 1] = str(data)
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("MCPOP_") and k != "KUBECONFIG"}
        run_env.update(env.pod_env(pod, job.metadata.name))
        run_env["KUBECONFIG"] = str(env.service_account_kubeconfig(pod["serviceAccountName"]))
        run = subprocess.Popen([*MCP, *args], cwd=ROOT,
                               env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        _wait(lambda: (_status(env).get("lastRun") or {}).get("result") == "Running", message="the run started")
        op.kill()
        op = start_operator(operator_kubeconfig, env.ns, tmp_path, "--log-level", "debug")
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        _wait(lambda: _cond(env, "LastBackupSucceeded") == ("True", "Succeeded"), message="the run's success")
        # one Job for the one request, one snapshot, counted once by the new process
        assert [j.metadata.name for j in env.jobs()] == [job.metadata.name]
        assert len(_status(env)["snapshots"]) == 1
        _wait(lambda: op.metric("mcpop_backup_runs_total", result="succeeded") == 1, message="counted once")
        _wait(lambda: env.events("BackupSucceeded"), message="the run's Event")
    finally:
        op.terminate()
        sys.stderr.write(f"\n--- operator log (tail)\n{op.log()[-3000:]}\n")


def test_a_data_restore_scales_the_running_server_down_and_back_up(
    backup_env: BackupEnv, operator_kubeconfig: str, s3_server: Any, tmp_path: Path, kube_cluster: Any
) -> None:
    import threading

    env = backup_env
    env.servers.create(filesystem_server())
    env.secret("s3-credentials", {"access-key-id": "testing", "secret-access-key": "testing"})
    body = seed_backup(s3_server.endpoint)
    body["spec"]["serverRef"]["namespace"] = env.ns
    body["spec"]["storage"]["s3"]["prefix"] = env.ns
    body["metadata"]["annotations"] = {REQUEST: "r"}
    env.create_backup(body)
    op = start_operator(operator_kubeconfig, env.ns, tmp_path)
    try:
        _wait(lambda: _status(env).get("lastRequest") == "r", message="the requested Job created")
        server_pods = "app.kubernetes.io/name=mcpserver"
        _wait(lambda: env.core.list_namespaced_pod(env.ns, label_selector=server_pods).items, message="server pod")
        job = next(j for j in env.jobs() if j.metadata.annotations.get(REQUEST) == "r")
        data = tmp_path / "pvcs"
        write_tree(data / "data", {"a.txt": b"before\n"})
        assert env.run_pod(job_pod(job), job.metadata.name, data).returncode == 0
        (data / "data/a.txt").write_bytes(b"after\n")
        seen: list[int] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                dep = env.servers.apps.read_namespaced_deployment("filesystem-server", env.ns)
                seen.append(dep.spec.replicas)
                stop.wait(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        out = env.mcp("backup", "restore", NAME, "-n", env.ns, "--data-only", "--data-dir", str(data),
                      kubeconfig=kube_cluster.kubeconfig)  # fmt: skip
        _wait(lambda: seen and seen[-1] == 1, message="the server scaled back up")
        stop.set()
        watcher.join()
        assert out.returncode == 0, out.stderr
        assert (data / "data/a.txt").read_bytes() == b"before\n"
        assert 0 in seen, seen  # it was scaled down while the data was written
        assert env.servers.get("filesystem-server")["spec"]["replicas"] == 1
    finally:
        op.terminate()


def test_a_change_of_the_servers_volumes_reaches_the_cronjob(backup_env: BackupEnv, operator_kubeconfig: str,
                                                              tmp_path: Path) -> None:  # fmt: skip
    env = backup_env
    env.servers.create(filesystem_server())
    env.secret("s3-credentials", {"access-key-id": "a", "secret-access-key": "b"})
    body = seed_backup("http://127.0.0.1:9")
    body["spec"]["serverRef"]["namespace"] = env.ns
    env.create_backup(body)
    op = start_operator(operator_kubeconfig, env.ns, tmp_path)

    def claims() -> list[str]:
        try:
            pod = job_pod(env.cronjob(NAME))
        except client.ApiException:
            return []
        return sorted(v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v)

    try:
        _wait(lambda: claims() == ["filesystem-data"], message="the CronJob mounting the server's PVC")
        server = env.servers.get("filesystem-server")
        volumes = [*server["spec"]["volumes"], {"name": "logs", "persistentVolumeClaim": {"claimName": "fs-logs"}}]
        env.servers.patch("filesystem-server", {"spec": {"volumes": volumes}})
        _wait(lambda: claims() == ["filesystem-data", "fs-logs"], message="the new PVC in the CronJob")
    finally:
        op.terminate()


def test_mcp_backup_now_wait_returns_when_the_run_finishes(
    backup_env: BackupEnv, operator_kubeconfig: str, s3_server: Any, tmp_path: Path, kube_cluster: Any
) -> None:
    env = backup_env
    env.servers.create(filesystem_server())
    env.secret("s3-credentials", {"access-key-id": "testing", "secret-access-key": "testing"})
    body = seed_backup(s3_server.endpoint)
    body["spec"]["serverRef"]["namespace"] = env.ns
    body["spec"]["storage"]["s3"]["prefix"] = env.ns
    env.create_backup(body)
    op = start_operator(operator_kubeconfig, env.ns, tmp_path)
    try:
        _wait(lambda: _status(env).get("phase") == "Scheduled", message="the backup reconciled")
        cmd = [*MCP, "backup", "now", NAME, "-n", env.ns,
               "--wait", "--timeout", "120s", "--kubeconfig", kube_cluster.kubeconfig]  # fmt: skip
        now = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait(lambda: [j for j in env.jobs() if j.metadata.name.startswith(f"{NAME}-now-")], message="the Job")
        job = next(j for j in env.jobs() if j.metadata.name.startswith(f"{NAME}-now-"))
        data = tmp_path / "pvcs"
        write_tree(data / "data", {"a.txt": b"now\n"})
        assert env.run_pod(job_pod(job), job.metadata.name, data).returncode == 0
        out, err = now.communicate(timeout=150)
        assert now.returncode == 0, err
        assert "backup requested" in out and "snapshot " in out
    finally:
        op.terminate()


@pytest.fixture(scope="module", autouse=True)
def scheduled_backup(kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, s3_server: Any,
                     tmp_path_factory: Any) -> Iterator[tuple[BackupEnv, OperatorProcess]]:  # fmt: skip
    """A backup every minute in a namespace of its own, with an operator watching it, made when the module
    starts (autouse) for its last test: the CronJob controller's next minute boundary passes meanwhile. The
    operator's start is not waited for here (the test does)."""
    api = kube_cluster.api_client
    ns = kubeenv.create_namespace(api)
    tmp = tmp_path_factory.mktemp("scheduled")
    try:
        env = BackupEnv(api, kube_cluster.kubeconfig, operator_kubeconfig, ns, tmp)
        env.servers.create(filesystem_server())
        env.secret("s3-credentials", {"access-key-id": "testing", "secret-access-key": "testing"})
        body = seed_backup(s3_server.endpoint)
        body["spec"]["serverRef"]["namespace"] = env.ns
        body["spec"]["storage"]["s3"]["prefix"] = env.ns
        body["spec"]["schedule"] = "* * * * *"
        env.create_backup(body)
        op = start_operator(operator_kubeconfig, env.ns, tmp, wait=False)
        try:
            yield env, op
        finally:
            op.terminate()
    finally:
        kubeenv.delete_namespace(api, ns)


def test_the_cronjob_controller_starts_scheduled_runs_that_report_back(
    scheduled_backup: tuple[BackupEnv, OperatorProcess], tmp_path: Path
) -> None:
    """A real kube-controller-manager fires the rendered CronJob; the operator sees the Job run. (Its backup
    and operator were made at the module's start: `scheduled_backup`.)"""
    env, op = scheduled_backup
    op.wait_ready()
    try:

        def scheduled() -> list[Any]:
            return [j for j in env.jobs() if any(r.kind == "CronJob" for r in j.metadata.owner_references or [])]

        _wait(scheduled, timeout=90, message="a Job started by the CronJob controller")
        _wait(lambda: _status(env).get("phase") == "Running", message="phase Running while it runs")
        env.patch_backup(NAME, {"spec": {"suspend": True}})  # no second run during the test
        job = scheduled()[0]
        data = tmp_path / "pvcs"
        write_tree(data / "data", {"a.txt": b"scheduled\n"})
        assert env.run_pod(job_pod(job), job.metadata.name, data).returncode == 0
        _wait(lambda: _cond(env, "LastBackupSucceeded") == ("True", "Succeeded"), message="the run's success")
        assert _status(env)["lastRun"]["id"] == job.metadata.name
    finally:
        sys.stderr.write(f"\n--- operator log (tail)\n{op.log()[-3000:]}\n")
