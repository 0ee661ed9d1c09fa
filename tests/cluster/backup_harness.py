"""Helpers for the backup cluster tests: the backup controller driven on the real control plane (as the
operator's least-privilege ServiceAccount), a local S3 server, and a backup Job's command run on the host
exactly as the kubelet would start it (its ServiceAccount's token, its env with secretKeyRefs resolved,
its volumes mapped to directories).

Import into a test module: `from backup_harness import *  # noqa: F403`.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubeenv
import pytest
import yaml
from cli_process import MCP
from kubernetes import client
from operator_harness import OPERATOR_NS, ROOT, Servers, crds, operator_kubeconfig

GROUP, VERSION, BACKUPS = "mcp.allbeone.io", "v1", "mcpserverbackups"
SEED = ROOT / "examples/01-mcpserverbackup-s3.yaml"


class LiveBackups:
    """The controller's view of MCPServerBackups, read straight from the API server (no cache), so a
    test's reconcile always sees what the test just wrote."""

    def __init__(self, kube: Any) -> None:
        from mcpop.apply.resources import MCPSERVERBACKUP

        self.kube = kube
        self.res = MCPSERVERBACKUP

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(self.res, namespace, name)

    def items(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.kube.list_objects(self.res, namespace)[0]

    def upsert(self, obj: dict[str, Any]) -> None:
        pass


@dataclass
class Requests:
    """Requests a Kube client sent, by verb."""

    log: list[tuple[str, str]]

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.log if r[0] in ("POST", "PUT", "PATCH", "DELETE")]


class BackupEnv:
    """One namespace with the backup controller reconciling on demand (`reconcile(name)`)."""

    def __init__(self, admin: client.ApiClient, admin_kubeconfig: str, operator_kubeconfig: str, namespace: str,
                 tmp: Path) -> None:  # fmt: skip
        from mcpop.apply.mcpbackup.controller import BackupController
        from mcpop.apply.runtime.client import Kube, load_api_client
        from mcpop.apply.runtime.events import EventRecorder

        self.admin = admin
        self.admin_kubeconfig = admin_kubeconfig
        self.ns = namespace
        self.tmp = tmp
        self.requests = Requests([])
        self.kube = Kube(load_api_client(operator_kubeconfig), on_request=lambda v, r: self.requests.log.append((v, r)))
        self.recorder = EventRecorder(self.kube)
        self.enqueued: list[tuple[str, str]] = []
        self.ctl = BackupController(self.kube, LiveBackups(self.kube), self.recorder,  # type: ignore[arg-type]
                                    self.enqueued.append)  # fmt: skip
        self.custom = client.CustomObjectsApi(admin)
        self.core = client.CoreV1Api(admin)
        self.batch = client.BatchV1Api(admin)
        self.servers = Servers(admin, namespace)

    # -- objects

    def create_backup(self, body: dict[str, Any]) -> dict[str, Any]:
        body = json.loads(json.dumps(body))
        body["metadata"]["namespace"] = self.ns
        return dict(self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, BACKUPS, body))

    def backup(self, name: str) -> dict[str, Any]:
        return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, BACKUPS, name))

    def patch_backup(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return dict(self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, BACKUPS, name, patch))

    def secret(self, name: str, data: dict[str, str]) -> None:
        self.core.create_namespaced_secret(self.ns, client.V1Secret(
            metadata=client.V1ObjectMeta(name=name), string_data=data))  # fmt: skip

    def jobs(self) -> list[Any]:
        return list(self.batch.list_namespaced_job(self.ns).items)

    def cronjob(self, name: str) -> Any:
        return self.batch.read_namespaced_cron_job(name, self.ns)

    def events(self, reason: str | None = None) -> list[Any]:
        self.recorder.flush(timeout=5)
        from mcpop.apply.runtime.events import EventRecorder

        self.recorder = EventRecorder(self.kube)
        self.ctl.recorder = self.recorder
        items = self.core.list_namespaced_event(self.ns).items
        return [e for e in items if reason is None or e.reason == reason]

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        status = self.backup(name).get("status") or {}
        return next(c for c in status.get("conditions") or [] if c["type"] == type_)

    # -- the controller

    def reconcile(self, name: str) -> Any:
        return self.ctl.reconcile((self.ns, name))

    # -- a Job's command on the host

    def service_account_kubeconfig(self, account: str) -> Path:
        token = self.core.create_namespaced_service_account_token(
            account, self.ns,
            client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)),
        ).status.token  # fmt: skip
        cluster = yaml.safe_load(Path(self.admin_kubeconfig).read_text())["clusters"][0]["cluster"]
        cfg = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "test", "cluster": cluster}],
            "users": [{"name": account, "user": {"token": token}}],
            "contexts": [{"name": "job", "context": {"cluster": "test", "user": account, "namespace": self.ns}}],
            "current-context": "job",
        }  # fmt: skip
        path = self.tmp / f"kubeconfig-{account}"
        path.write_text(json.dumps(cfg))
        return path

    def pod_env(self, pod: dict[str, Any], job_name: str) -> dict[str, str]:
        """The container's environment as the kubelet sets it (secretKeyRefs resolved, fieldRefs filled)."""
        env: dict[str, str] = {}
        for e in pod["containers"][0].get("env") or []:
            if "value" in e:
                env[e["name"]] = e["value"]
                continue
            src = e["valueFrom"]
            if "secretKeyRef" in src:
                ref = src["secretKeyRef"]
                secret = self.core.read_namespaced_secret(ref["name"], self.ns)
                env[e["name"]] = base64.b64decode(secret.data[ref["key"]]).decode()
            elif "fieldRef" in src:
                env[e["name"]] = job_name
        return env

    def run_pod(self, pod: dict[str, Any], job_name: str, data_dir: Path | None = None,
                extra_env: dict[str, str] | None = None,
                extra_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run the pod's command on the host: `/data` is `data_dir`; the API as the pod's ServiceAccount."""
        args = list(pod["containers"][0]["args"])
        if data_dir is not None and "--data-dir" in args:
            args[args.index("--data-dir") + 1] = str(data_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCPOP_") and k != "KUBECONFIG"}
        env.update(self.pod_env(pod, job_name))
        env["KUBECONFIG"] = str(self.service_account_kubeconfig(pod["serviceAccountName"]))
        env["HOME"] = str(self.tmp)
        env.update(extra_env or {})
        return subprocess.run(
            [*MCP, *args, *extra_args],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
        )  # fmt: skip

    def mcp(self, *args: str, kubeconfig: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`mcp ARGS` from a workstation (the given kubeconfig)."""
        full = {k: v for k, v in os.environ.items() if not k.startswith("MCPOP_")}
        full.update(env or {})
        return subprocess.run(
            [*MCP, *args, "--kubeconfig", kubeconfig],
            capture_output=True, text=True, env=full, cwd=ROOT, timeout=300,
        )  # fmt: skip


def job_pod(job: Any) -> dict[str, Any]:
    """A Job's (or CronJob's) pod spec as plain JSON."""
    api = client.ApiClient()
    body = api.sanitize_for_serialization(job)
    spec = body["spec"]
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def seed_backup(endpoint: str) -> dict[str, Any]:
    """The seed example, verbatim but for its endpoint."""
    doc = yaml.safe_load(SEED.read_text())
    doc["spec"]["storage"]["s3"]["endpoint"] = endpoint
    return dict(doc)


def filesystem_server(name: str = "filesystem-server", claim: str = "filesystem-data") -> dict[str, Any]:
    return {
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": name},
        "spec": {"image": "mcp/filesystem", "tag": "1.0.0",
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
                 "volumeMounts": [{"name": "data", "mountPath": "/app/data"}]},
    }  # fmt: skip


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: Any) -> Iterator[Any]:
    """moto's S3 server on loopback, with the seed example's bucket."""
    import storage_servers
    from storage_servers import S3Server

    storage_servers.ensure_installed()
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    server.make_bucket("mcp-backups")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backup_env(kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str,
               tmp_path: Path) -> BackupEnv:  # fmt: skip
    return BackupEnv(kube_cluster.api_client, kube_cluster.kubeconfig, operator_kubeconfig, namespace, tmp_path)


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


__all__ = [
    "OPERATOR_NS", "BackupEnv", "LiveBackups", "backup_env", "crds", "filesystem_server", "job_pod",
    "operator_kubeconfig", "read_tree", "s3_server", "seed_backup", "write_tree",
]  # fmt: skip
