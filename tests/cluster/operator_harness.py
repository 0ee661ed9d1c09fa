"""Fixtures and helpers for operator tests: CRDs, the operator's least-privilege identity (a ServiceAccount
bound to config/rbac/role.yaml, with a TokenRequest token in its own kubeconfig), and the operator run as
a subprocess (`mcp operator run ...`) with its metrics and health endpoints on free loopback ports.

Import the fixtures into a test module: `from operator_harness import *  # noqa: F403`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubeenv
import pytest
import yaml
from cli_process import MCP
from kubernetes import client
from ports import free_port

ROOT = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "mcp.allbeone.io", "v1", "mcpservers"
OPERATOR_NS = "mcpop-system"
SA_NAME = "mcpop-operator"


def apply_as(api: client.ApiClient, obj: dict[str, Any], field_manager: str = "mcpop-tests") -> dict[str, Any]:
    """Server-side apply `obj` (force) as `field_manager`."""
    from mcpop.apply.runtime.client import Kube

    kube = Kube(api)
    return kube.apply(kube.require(obj["apiVersion"], obj["kind"]), obj, force=True, field_manager=field_manager)


def grant_leases(api: client.ApiClient, namespace: str) -> None:
    """The operator's leader-election Role (config/rbac/leader_election_role.yaml) in `namespace`."""
    for doc in yaml.safe_load_all((ROOT / "config" / "rbac" / "leader_election_role.yaml").read_text()):
        doc["metadata"]["namespace"] = namespace
        apply_as(api, doc)


@pytest.fixture(scope="session")
def crds(kube_cluster: kubeenv.KubeCluster) -> list[str]:
    return kubeenv.install_crds(kube_cluster.api_client, sorted((ROOT / "schemas").glob("*.yaml")))


@pytest.fixture(scope="session")
def operator_kubeconfig(kube_cluster: kubeenv.KubeCluster, crds: list[str], tmp_path_factory: Any) -> str:
    """A kubeconfig authenticating as the operator's ServiceAccount (NOT system:masters)."""
    return operator_identity(kube_cluster, tmp_path_factory.mktemp("operator"))


def operator_identity(kube_cluster: kubeenv.KubeCluster, directory: Path) -> str:
    """The operator's ServiceAccount and RBAC (config/rbac) applied, and a kubeconfig file authenticating
    as it (a TokenRequest token) written in `directory`; returns its path. Needs no CRD."""
    api = kube_cluster.api_client
    core = client.CoreV1Api(api)
    with contextlib.suppress(client.ApiException):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=OPERATOR_NS)))
    rbac_dir = ROOT / "config" / "rbac"
    sa = yaml.safe_load((rbac_dir / "service_account.yaml").read_text())
    role = yaml.safe_load((rbac_dir / "role.yaml").read_text())
    binding = yaml.safe_load((rbac_dir / "role_binding.yaml").read_text())
    for obj in (sa, role, binding):
        apply_as(api, obj)
    grant_leases(api, OPERATOR_NS)
    token = core.create_namespaced_service_account_token(
        SA_NAME,
        OPERATOR_NS,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600 * 6)),
    ).status.token
    admin = yaml.safe_load(Path(kube_cluster.kubeconfig).read_text())
    cluster = admin["clusters"][0]
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster["cluster"]}],
        "users": [{"name": SA_NAME, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "test", "user": SA_NAME}}],
        "current-context": "operator",
    }
    path = directory / "kubeconfig"
    path.write_text(json.dumps(cfg))
    return str(path)


@dataclass
class OperatorProcess:
    """One `mcp operator run` subprocess."""

    proc: subprocess.Popen[bytes]
    metrics_port: int
    health_port: int
    log_path: Path
    args: list[str] = field(default_factory=list)

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            mname, _, lbl = head.partition("{")
            if mname != name:
                continue
            if all(f'{k}="{v}"' in lbl for k, v in labels.items()):
                total += float(value)
        return total

    def writes(self) -> float:
        """Write requests (POST/PUT/PATCH/DELETE) the operator sent, Leases excluded."""
        total = 0.0
        for verb in ("POST", "PUT", "PATCH", "DELETE"):
            total += self.metric("mcpop_api_requests_total", verb=verb)
            total -= self.metric("mcpop_api_requests_total", verb=verb, resource="leases")
        return total

    def wait_idle(self, quiet: float, timeout: float = 60) -> None:
        """Wait until the MCPServer controller has nothing queued or running, and for `quiet` seconds no
        reconcile (of any controller) finished and nothing was written. Times out while the operator keeps
        working (a reconcile or write loop)."""
        seen: list[tuple[float, ...]] = []
        since = [time.monotonic()]

        def state() -> tuple[float, ...]:
            return (self.metric("workqueue_depth", controller="mcpserver"),
                    self.metric("controller_runtime_active_workers", controller="mcpserver"),
                    self.metric("controller_runtime_reconcile_total"), self.writes())  # fmt: skip

        def idle() -> bool:
            now = state()
            if not seen or now != seen[-1] or now[:2] != (0, 0):
                seen[:] = [now]
                since[0] = time.monotonic()
                return False
            return time.monotonic() - since[0] >= quiet

        try:
            kubeenv.wait_until(idle, timeout=timeout, message=f"the operator idle for {quiet}s")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; last seen (queued, running, reconciles, writes): {seen}") from None

    def health(self, path: str) -> int:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=5) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            return 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited {self.proc.returncode}:\n{self.log()[-4000:]}")
            return self.health("/readyz") == 200

        kubeenv.wait_until(ready, timeout=timeout, message="operator /readyz")

    def terminate(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


#: attempts to start an operator whose free ports another process took first
START_ATTEMPTS = 3


def start_operator(
    kubeconfig: str, namespace: str, tmp: Path, *extra: str, env: dict[str, str] | None = None, wait: bool = True
) -> OperatorProcess:
    """An operator process on free loopback ports; with `wait`, once /readyz answers. A port `free_port` found
    can be taken by another process (the other worker's clients draw from the same range) before the operator
    binds it: the operator then exits saying so, and is started again on other ports."""
    for attempt in range(1, START_ATTEMPTS + 1):
        op = _start_operator(kubeconfig, namespace, tmp, *extra, env=env)
        if not wait:
            return op
        try:
            op.wait_ready()
        except RuntimeError:
            if attempt < START_ATTEMPTS and op.proc.poll() is not None and "cannot listen on" in op.log():
                sys.stderr.write(f"operator start {attempt}: a port was taken, starting again\n{op.log()[-500:]}\n")
                continue
            raise
        return op
    raise AssertionError("unreachable")


def _start_operator(kubeconfig: str, namespace: str, tmp: Path, *extra: str,
                    env: dict[str, str] | None = None) -> OperatorProcess:  # fmt: skip
    mport, hport = free_port(), free_port()
    log_path = tmp / f"operator-{uuid.uuid4().hex[:6]}.log"
    args = [
        "operator",
        "run",
        "--kubeconfig",
        kubeconfig,
        # an empty namespace: watch every namespace
        *(["--namespace", namespace] if namespace else []),
        "--metrics-bind-address",
        f"127.0.0.1:{mport}",
        "--health-probe-bind-address",
        f"127.0.0.1:{hport}",
        # run out of cluster, the operator cannot reach Services: no MCP verification unless a test asks
        *([] if any(str(a).startswith("--verify-") for a in extra) else ["--verify-concurrency", "0"]),
        # the harness scrapes plain /metrics; tests/cluster/test_metrics_auth.py runs the secure default
        *([] if any(str(a).startswith("--metrics-secure") for a in extra) else ["--metrics-secure=false"]),
        # a changed Secret is seen within a second (the default polls every 30 s)
        *([] if any(str(a).startswith("--secret-poll-interval") for a in extra) else ["--secret-poll-interval=1s"]),
        *extra,
    ]
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [*MCP, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=ROOT,
        )
    return OperatorProcess(proc, mport, hport, log_path, args)


@pytest.fixture
def operator(
    kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator watching this test's namespace (sync period 3s, so resyncs happen during a test)."""
    op = start_operator(operator_kubeconfig, namespace, tmp_path, "--sync-period", "3s", "--log-level", "debug")
    try:
        yield op
    finally:
        stop_operator(kube_cluster.api_client, op, namespace)


def stop_operator(api: client.ApiClient, op: OperatorProcess, namespace: str, tail: int = 3000) -> None:
    """Delete the MCPServers of `namespace` while `op` still runs (it removes their finalizers), stop it, and
    show the last `tail` characters of its log."""
    _delete_servers(api, op, namespace)
    op.terminate()
    sys.stderr.write(f"\n--- operator log (tail)\n{op.log()[-tail:]}\n")


def _delete_servers(api: client.ApiClient, op: OperatorProcess, namespace: str) -> None:
    """Delete the test's MCPServers while the operator runs, so their finalizers do not block the
    namespace's deletion (best effort)."""
    custom = client.CustomObjectsApi(api)
    try:
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and op.proc.poll() is None:
            if not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]:
                return
            time.sleep(0.5)
    except client.ApiException:
        pass


# ---------------------------------------------------------------------------- cluster helpers


class Servers:
    """MCPServer helpers for one namespace (as the test's admin)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.ns = namespace
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        body = json.loads(json.dumps(body))
        body["metadata"]["namespace"] = self.ns
        return dict(self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, body))

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name))

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return dict(self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name, patch))

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except client.ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        for c in (self.get(name).get("status") or {}).get("conditions") or []:
            if c["type"] == type_:
                return dict(c)
        return None

    def wait_ready(self, name: str, timeout: float = 90) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            obj = self.get(name)
            st = obj.get("status") or {}
            if st.get("observedGeneration") != obj["metadata"]["generation"]:
                return None
            ok = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])
            return obj if ok and st.get("phase") == "Running" else None

        return dict(kubeenv.wait_until(ready, timeout=timeout, message=f"MCPServer {name} Ready"))

    def wait_condition(
        self, name: str, type_: str, status: str, reason: str | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        def match() -> dict[str, Any] | None:
            c = self.condition(name, type_)
            if c and c["status"] == status and (reason is None or c["reason"] == reason):
                return c
            return None

        return dict(kubeenv.wait_until(match, timeout=timeout, message=f"{name} {type_}={status} {reason or ''}"))

    def deployment(self, name: str) -> client.V1Deployment | None:
        try:
            return self.apps.read_namespaced_deployment(name, self.ns)
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise


@pytest.fixture
def servers(kube_cluster: kubeenv.KubeCluster, namespace: str) -> Servers:
    return Servers(kube_cluster.api_client, namespace)


def load_example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "examples" / name).read_text()))


def wait(predicate: Any, timeout: float = 60, message: str = "condition") -> Any:
    return kubeenv.wait_until(predicate, timeout=timeout, message=message)


def sleep(seconds: float) -> None:
    time.sleep(seconds)


__all__ = [
    "OperatorProcess",
    "Servers",
    "apply_as",
    "crds",
    "free_port",
    "load_example",
    "operator",
    "operator_identity",
    "operator_kubeconfig",
    "servers",
    "sleep",
    "start_operator",
    "wait",
]
