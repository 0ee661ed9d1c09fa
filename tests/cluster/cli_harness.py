"""Fixtures for CLI tests: the CLI run as a subprocess with exactly the `config/rbac/cli-user.yaml` ClusterRoles
(`mcpop-cli-user` bound by a RoleBinding in the test's namespace, `mcpop-cli-cluster-reader` cluster-wide; a
ServiceAccount token kubeconfig whose context namespace is the test's), a kubeconfig with no rights, and
kwok log files for pods (`Logs` objects: kwok's kubelet server then serves them through `pods/log`).

Import into a test module: `from cli_harness import *  # noqa: F403`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubeenv
import pytest
import yaml
from cli_process import MCP
from kubernetes import client
from operator_harness import ROOT, apply_as

CLI_NS = "mcpop-cli"
CLI_SA = "mcp-cli-user"
NOPERM_SA = "mcp-no-rights"


def _token(core: client.CoreV1Api, sa: str) -> str:
    req = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600 * 6))
    return str(core.create_namespaced_service_account_token(sa, CLI_NS, req).status.token)


def token_kubeconfig(admin_kubeconfig: str, token: str, path: Path, namespace: str | None = None) -> str:
    """A kubeconfig for `token` on the test cluster (context namespace `namespace`)."""
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    ctx: dict[str, Any] = {"cluster": "test", "user": "cli"}
    if namespace:
        ctx["namespace"] = namespace
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "cli", "user": {"token": token}}],
        "contexts": [{"name": "cli", "context": ctx}],
        "current-context": "cli",
    }
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture(scope="session")
def cli_tokens(kube_cluster: kubeenv.KubeCluster, crds: list[str]) -> dict[str, str]:
    """Tokens of the CLI user (the cluster reader bound cluster-wide; `bind_cli_user` per namespace) and of a
    user with no rights."""
    api = kube_cluster.api_client
    core = client.CoreV1Api(api)
    with contextlib.suppress(client.ApiException):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=CLI_NS)))
    for role in yaml.safe_load_all((ROOT / "config" / "rbac" / "cli-user.yaml").read_text()):
        apply_as(api, role)
    for sa in (CLI_SA, NOPERM_SA):
        apply_as(api, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": CLI_NS}})
    apply_as(api, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "mcpop-cli-cluster-reader-test"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "mcpop-cli-cluster-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": CLI_SA, "namespace": CLI_NS}],
    })  # fmt: skip
    return {"user": _token(core, CLI_SA), "none": _token(core, NOPERM_SA)}


def bind_cli_user(api: client.ApiClient, namespace: str) -> None:
    """The CLI user's rights in `namespace`: a RoleBinding of `mcpop-cli-user`, as docs/security.md says."""
    apply_as(api, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "mcp-cli-user", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "mcpop-cli-user"},
        "subjects": [{"kind": "ServiceAccount", "name": CLI_SA, "namespace": CLI_NS}],
    })  # fmt: skip


@pytest.fixture
def cli_kubeconfig(kube_cluster: kubeenv.KubeCluster, cli_tokens: dict[str, str], namespace: str,
                   tmp_path: Path) -> str:  # fmt: skip
    """The CLI user's kubeconfig, its context namespace the test's namespace (where it is bound)."""
    bind_cli_user(kube_cluster.api_client, namespace)
    return token_kubeconfig(kube_cluster.kubeconfig, cli_tokens["user"], tmp_path / "cli-kubeconfig", namespace)


@pytest.fixture
def noperm_kubeconfig(kube_cluster: kubeenv.KubeCluster, cli_tokens: dict[str, str], namespace: str,
                      tmp_path: Path) -> str:  # fmt: skip
    return token_kubeconfig(kube_cluster.kubeconfig, cli_tokens["none"], tmp_path / "noperm-kubeconfig", namespace)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> Result:
        assert self.returncode == 0, f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        return self


def cli_env(kubeconfig: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "MCPOP_TEST_KUBECONFIG")}
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    env["HOME"] = env.get("HOME", "/root")
    return env


CLI = MCP


def mcp(kubeconfig: str | None, *args: str, stdin: str | None = None, timeout: float = 120) -> Result:
    """Run `mcp ARGS` with KUBECONFIG=`kubeconfig`."""
    p = subprocess.run([*CLI, *args], capture_output=True, text=True, input=stdin if stdin is not None else "",
                       timeout=timeout, cwd=ROOT, env=cli_env(kubeconfig))  # fmt: skip
    return Result(p.returncode, p.stdout, p.stderr)


def interruptible() -> None:
    """Before the CLI starts: ^C stops it as at a terminal. A suite started as a background job without job
    control (`(cmd &)`, nohup) hands its children SIGINT ignored, and Python keeps an ignored SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Background:
    """A long-running `mcp` (`--watch`, `--follow`): read its output while it runs, stop it with ^C."""

    def __init__(self, kubeconfig: str, *args: str, tmp: Path) -> None:
        self.out_path = tmp / f"bg-{time.monotonic_ns()}.out"
        self.err_path = self.out_path.with_suffix(".err")
        self._out = open(self.out_path, "w")  # noqa: SIM115 - closed in stop()
        self._err = open(self.err_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen([*CLI, *args], stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                                     cwd=ROOT, env=cli_env(kubeconfig), preexec_fn=interruptible)  # fmt: skip

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        def seen() -> str | None:
            if self.proc.poll() is not None and text not in self.stdout():
                raise AssertionError(f"exited {self.proc.returncode}: {self.stdout()}\n{self.stderr()}")
            out = self.stdout()
            return out if text in out else None

        return str(kubeenv.wait_until(seen, timeout=timeout, message=f"{text!r} in the output"))

    def stop(self) -> Result:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        self._err.close()
        return Result(int(self.proc.returncode), self.stdout(), self.stderr())


@pytest.fixture
def background(tmp_path: Path) -> Iterator[Any]:
    started: list[Background] = []

    def start(kubeconfig: str, *args: str) -> Background:
        bg = Background(kubeconfig, *args, tmp=tmp_path)
        started.append(bg)
        return bg

    yield start
    for bg in started:
        bg.stop()


def cri_line(text: str, stamp: str = "2026-01-01T00:00:00.000000000Z", stream: str = "stdout") -> str:
    """One line in the CRI log format kwok reads (`TIME STREAM F TEXT`)."""
    return f"{stamp} {stream} F {text}\n"


def pod_logs(api: client.ApiClient, namespace: str, pod: str, files: dict[str | None, Path],
             previous: Path | None = None) -> None:  # fmt: skip
    """Have kwok serve `files` (container name → file; None: any container) as the pod's logs, and
    `previous` as the previous container's."""
    extra = {"previousLogsFile": str(previous)} if previous else {}
    logs = [{"logsFile": str(f), "follow": True, **extra, **({"containers": [c]} if c else {})}
            for c, f in files.items()]  # fmt: skip
    body = {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs", "metadata": {"name": pod, "namespace": namespace},
            "spec": {"logs": logs}}  # fmt: skip
    client.CustomObjectsApi(api).create_namespaced_custom_object("kwok.x-k8s.io", "v1alpha1", namespace, "logs", body)


@contextlib.contextmanager
def namespace_logs(api: client.ApiClient, namespaces: list[str], file: Path) -> Iterator[None]:
    """Every pod of `namespaces` serves `file` as its logs (a ClusterLogs selecting the namespaces)."""
    name = f"logs-{namespaces[0]}"
    body = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": name},
        "spec": {"selector": {"matchNamespaces": namespaces}, "logs": [{"logsFile": str(file), "follow": True}]},
    }
    custom = client.CustomObjectsApi(api)
    custom.create_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterlogs", body)
    try:
        yield
    finally:
        with contextlib.suppress(client.ApiException):
            custom.delete_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterlogs", name)


def server_file(tmp: Path, name: str, spec: dict[str, Any], file: str | None = None) -> Path:
    path = tmp / (file or f"{name}.yaml")
    path.write_text(json.dumps({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": name},
                                "spec": spec}))  # fmt: skip
    return path


def no_traceback(r: Result) -> None:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr


def one_line_error(r: Result) -> str:
    """The single `error: ...` line the CLI printed (and nothing else on stderr)."""
    no_traceback(r)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


__all__ = [
    "CLI",
    "Background",
    "Result",
    "background",
    "cli_env",
    "cli_kubeconfig",
    "cli_tokens",
    "cri_line",
    "mcp",
    "namespace_logs",
    "no_traceback",
    "noperm_kubeconfig",
    "one_line_error",
    "pod_logs",
    "server_file",
    "token_kubeconfig",
]
