"""`mcp server logs` against pods whose logs the test control plane really serves (kwok's kubelet server
reading files named by `Logs` objects, reached through the API server's `pods/log`).

Covers: the newest ready pod by default (no prefix), `--all-pods` with a `[pod/NAME/CONTAINER]` prefix per
line, `--tail`, `--container` (and a wrong one), `--timestamps`, `--since`, `--follow` seeing appended lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubeenv
from cli_harness import *  # noqa: F403
from cli_harness import cri_line, mcp, one_line_error, pod_logs
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import OperatorProcess, Servers, wait


def _pods(api: client.ApiClient, namespace: str, name: str, count: int) -> list[client.V1Pod]:
    core = client.CoreV1Api(api)

    def ready() -> list[client.V1Pod] | None:
        pods = core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={name}").items
        pods = [p for p in pods if p.metadata.deletion_timestamp is None]
        return pods if len(pods) == count and all(kubeenv.pod_ready(p) for p in pods) else None

    return list(wait(ready, timeout=90, message=f"{count} ready pods of {name}"))


def _serve(api: client.ApiClient, namespace: str, pods: list[client.V1Pod], tmp: Path) -> dict[str, Path]:
    files = {}
    for i, p in enumerate(pods):
        f = tmp / f"{p.metadata.name}.log"
        f.write_text("".join(cri_line(f"pod{i} line {n}", f"2026-01-01T00:00:0{n}.000000000Z") for n in range(3)))
        pod_logs(api, namespace, p.metadata.name, {"mcp-server": f})
        files[p.metadata.name] = f
    return files


def test_logs_of_the_newest_ready_pod_and_of_all_pods(
    operator: OperatorProcess, kube_cluster: kubeenv.KubeCluster, servers: Servers, namespace: str,
    cli_kubeconfig: str, tmp_path: Path,
) -> None:  # fmt: skip
    mcp(cli_kubeconfig, "deploy", "logged", "--image", "ghcr.io/example/mcp:1", "--replicas", "2", "--wait").ok()
    pods = _pods(kube_cluster.api_client, namespace, "logged", 2)
    files = _serve(kube_cluster.api_client, namespace, pods, tmp_path)
    newest = max(pods, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name)).metadata.name
    r = mcp(cli_kubeconfig, "server", "logs", "logged").ok()
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and not lines[0].startswith("[")  # one pod: no prefix
    idx = [p.metadata.name for p in pods].index(newest)
    assert lines == [f"pod{idx} line {n}" for n in range(3)] and newest in files

    r = mcp(cli_kubeconfig, "server", "logs", "logged", "--all-pods").ok()
    by_pod: dict[str, list[str]] = {}
    for ln in r.stdout.splitlines():
        prefix, _, text = ln.partition("] ")
        by_pod.setdefault(prefix + "]", []).append(text)
    assert set(by_pod) == {f"[pod/{p.metadata.name}/mcp-server]" for p in pods}
    assert all(len(v) == 3 for v in by_pod.values())

    r = mcp(cli_kubeconfig, "server", "logs", "logged", "--all-pods", "--tail", "1", "--timestamps").ok()
    assert sorted(ln.split("] ", 1)[1] for ln in r.stdout.splitlines()) == [
        "2026-01-01T00:00:02.000000000Z pod0 line 2", "2026-01-01T00:00:02.000000000Z pod1 line 2"]  # fmt: skip
    # the fake lines are dated 2026-01-01: none is newer than 10 minutes
    assert mcp(cli_kubeconfig, "server", "logs", "logged", "--since", "10m").ok().stdout == ""


def test_logs_container_and_follow(
    operator: OperatorProcess, kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str,
    tmp_path: Path, background: Any,
) -> None:  # fmt: skip
    mcp(cli_kubeconfig, "deploy", "followed", "--image", "ghcr.io/example/mcp:1", "--wait").ok()
    (pod,) = _pods(kube_cluster.api_client, namespace, "followed", 1)
    (f,) = _serve(kube_cluster.api_client, namespace, [pod], tmp_path).values()
    r = mcp(cli_kubeconfig, "server", "logs", "followed", "--container", "mcp-server", "--tail", "2").ok()
    assert r.stdout.splitlines() == ["pod0 line 1", "pod0 line 2"]
    r = mcp(cli_kubeconfig, "server", "logs", "followed", "-c", "sidecar")
    assert r.returncode == 1 and 'container "sidecar" is not in pod' in one_line_error(r)

    bg = background(cli_kubeconfig, "server", "logs", "followed", "--follow", "--tail", "1")
    bg.wait_for("pod0 line 2")
    with f.open("a") as out:
        out.write(cri_line("appended while following", "2026-01-01T00:01:00.000000000Z"))
    bg.wait_for("appended while following", timeout=30)
    r = bg.stop()
    assert r.stdout.splitlines() == ["pod0 line 2", "appended while following"]
    assert "Traceback" not in r.stderr and r.returncode == 130


def test_logs_of_the_previous_container(
    operator: OperatorProcess, kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    mcp(cli_kubeconfig, "deploy", "restarted", "--image", "ghcr.io/example/mcp:1", "--wait").ok()
    (pod,) = _pods(kube_cluster.api_client, namespace, "restarted", 1)
    now, before = tmp_path / "now.log", tmp_path / "before.log"
    now.write_text(cri_line("running again"))
    before.write_text(cri_line("panic: out of memory"))
    pod_logs(kube_cluster.api_client, namespace, pod.metadata.name, {"mcp-server": now}, previous=before)
    assert mcp(cli_kubeconfig, "server", "logs", "restarted").ok().stdout == "running again\n"
    assert mcp(cli_kubeconfig, "server", "logs", "restarted", "--previous").ok().stdout == "panic: out of memory\n"
