"""End to end on the real node (issue #12 §2, first steps): the chart installs the operator from its own
image, it runs in-cluster on the real kubelet under its RBAC, and the apiserver reaches its webhooks."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import kubeenv
import pytest
import realnode
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/mcpop:e2e"
RELEASE, NAMESPACE = "mcpop", "mcpop-system"


def tool(*args: str, timeout: float = 1800) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def operator_archive(dest: Path) -> Path:
    """The operator image (tools/image build, cached by content) as an OCI archive."""
    ref = tool("tools/image", "build").strip().splitlines()[-1]
    layout = dest / "layout"
    tool("tools/image", "export", ref, str(layout))
    archive = dest / "operator.tar"
    with tarfile.open(archive, "w") as tf:
        for entry in sorted(layout.iterdir()):
            tf.add(entry, arcname=entry.name)
    return archive


@pytest.fixture(scope="module")
def installed(real_cluster, tmp_path_factory) -> Iterator[kubeenv.KubeCluster]:
    work = tmp_path_factory.mktemp("e2e")
    kubeenv.testenv("load-image", "--state-dir", str(real_cluster.state_dir), str(operator_archive(work)), IMAGE)
    values = {
        "image": {"repository": IMAGE.rsplit(":", 1)[0], "tag": IMAGE.rsplit(":", 1)[1], "pullPolicy": "Never"},
        "nodeSelector": {realnode.NODE_LABEL[0]: realnode.NODE_LABEL[1]},
        "tolerations": [{**realnode.NODE_TAINT, "operator": "Equal"}],
    }
    (work / "values.yaml").write_text(yaml.safe_dump(values))
    helm = subprocess.run(["tools/helm", "path"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    real_cluster.core.create_namespace({"metadata": {"name": NAMESPACE, "labels": dict(kubeenv.RESTRICTED_LABELS)}})
    proc = subprocess.run(
        [helm, "install", RELEASE, "chart/mcp-operator", "-n", NAMESPACE, "-f", str(work / "values.yaml"),
         "--kubeconfig", real_cluster.kubeconfig, "--wait", "--timeout", "180s"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield real_cluster


def operator_pod(cluster):
    pods = cluster.core.list_namespaced_pod(NAMESPACE, label_selector="app.kubernetes.io/name=mcp-operator").items
    assert len(pods) == 1
    return pods[0]


def test_the_chart_runs_the_operator_from_its_image_on_the_real_kubelet(installed):
    pod = operator_pod(installed)
    assert pod.spec.node_name == realnode.NODE_NAME
    assert kubeenv.pod_ready(pod)  # its real readiness probe passed
    assert pod.spec.containers[0].image == IMAGE


def test_the_operator_runs_under_the_restricted_profile_with_a_read_only_root(installed):
    container = operator_pod(installed).spec.containers[0]
    assert container.security_context.read_only_root_filesystem
    assert container.security_context.allow_privilege_escalation is False


def test_the_apiserver_reaches_the_operators_webhooks_and_the_operator_reconciles(installed, namespace):
    """The webhooks fail closed (failurePolicy Fail): an MCPServer is admitted only when the apiserver
    reaches the operator pod through its Service on the real node; the operator (talking to the apiserver
    from the pod) then makes its Deployment."""
    server = {
        "apiVersion": "mcp.allbeone.io/v1",
        "kind": "MCPServer",
        "metadata": {"name": "e2e", "namespace": namespace},
        "spec": {"image": "registry.invalid/mcpop/test", "tag": "1", "port": 8080, "replicas": 1},
    }
    # the first calls may find the webhook Service's endpoint not yet programmed by kube-proxy: retry
    kubeenv.wait_until(
        lambda: kubeenv.apply_object(installed.api_client, server), timeout=60, message="MCPServer e2e admitted"
    )
    kubeenv.wait_until(
        lambda: installed.apps.read_namespaced_deployment("e2e", namespace),
        timeout=60,
        message="the operator to create Deployment e2e",
    )
