"""The release on the real node (issue 22 §1): tools/release publishes two versions to the node's in-house registry
(realnode.REGISTRY, the only registry the node can pull from) with a cosign key; then, with nothing preloaded into the
node, `helm install oci://…` runs the operator from the pulled image and an OCI stdio server deploys behind the bridge
image pulled by its pinned digest; `helm upgrade` from the first version to the second leaves that server's pod
untouched; `helm uninstall` leaves the CRDs and the MCPServer; and `kubectl apply --server-side -f install.yaml`
(the Python client's server-side apply where there is no kubectl) installs the same operator again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import kubeenv
import oci_registry
import pytest
import realnode
import yaml
from test_e2e import PLACEMENT, deploy_from_registry, serving_pods, wait_serving, wait_verified

REPO = Path(__file__).resolve().parents[2]
V1, V2 = "0.9.0", "0.9.1"
REGISTRY = f"{realnode.REGISTRY}/allbeone"
NAMESPACE = "mcpop-system"
HELM_RELEASE = "mcpop"
OPERATOR_SELECTOR = "app.kubernetes.io/name=mcp-operator"


def run(*cmd: str, timeout: float = 1800, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip
    assert proc.returncode == 0, f"{' '.join(cmd[:4])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def tool(name: str) -> str:
    return run(str(REPO / "tools" / name), "path").strip()


@pytest.fixture(scope="module")
def released(real_cluster: kubeenv.KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """V1 and V2 released to the node's registry, signed with a fresh cosign key."""
    work = tmp_path_factory.mktemp("release")
    run(tool("cosign"), "generate-key-pair", "--output-key-prefix", str(work / "cosign"), env={"COSIGN_PASSWORD": ""})
    out: dict[str, Any] = {"work": work, "key": work / "cosign.key", "pub": work / "cosign.pub"}
    for version in (V1, V2):
        start = time.monotonic()
        run(sys.executable, "tools/release", "--registry", REGISTRY, "--version", version, "--insecure",
            "--sign-key", str(work / "cosign.key"), "--out", str(work / version),
            env={"COSIGN_PASSWORD": ""})  # fmt: skip
        print(f"tools/release {version}: {time.monotonic() - start:.1f} s", file=sys.stderr)
        out[version] = json.loads((work / version / "release.json").read_text())
        out[version]["dir"] = work / version
    return out


def helm(cluster: kubeenv.KubeCluster, *args: str) -> str:
    return run(tool("helm"), *args, "--kubeconfig", cluster.kubeconfig, timeout=600)


def values_file(work: Path) -> Path:
    """Only placement and the registry's plain HTTP: every image comes from the released chart's defaults."""
    path = work / "values.yaml"
    path.write_text(yaml.safe_dump({
        "nodeSelector": {realnode.NODE_LABEL[0]: realnode.NODE_LABEL[1]},
        "tolerations": [{**realnode.NODE_TAINT, "operator": "Equal"}],
        "operator": {"insecureRegistries": [realnode.REGISTRY]},
    }))  # fmt: skip
    return path


def operator_pods(cluster: kubeenv.KubeCluster) -> list:
    pods = cluster.core.list_namespaced_pod(NAMESPACE, label_selector=OPERATOR_SELECTOR).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def wait_operator(cluster: kubeenv.KubeCluster, image: str, timeout: float = 300) -> Any:
    """The one operator pod running `image`, Ready on the real node."""

    def ready() -> Any:
        pods = operator_pods(cluster)
        return len(pods) == 1 and pods[0].spec.containers[0].image == image and kubeenv.pod_ready(pods[0]) and pods[0]

    return kubeenv.wait_until(ready, timeout=timeout, message=f"the operator pod running {image}")


def greeter(cluster: kubeenv.KubeCluster, namespace: str, name: str) -> list:
    """The go-hello-stdio OCI stdio server (static binary, no shell), pushed to the node's registry and deployed
    from an MCPRegistry: the operator reads its image config from the registry, the kubelet pulls it, and the
    bridge's init container comes from the released bridge image."""
    from kubernetes import client

    source = "registry.mcpop.test/mcp/go-hello-stdio:1.8.0"
    image = oci_registry.push_archive(realnode.REGISTRY, oci_registry.image_archives()[source],
                                      "mcp/go-hello-stdio:1.8.0")  # fmt: skip
    entry = json.loads((REPO / "tests/fixtures/images/io.example.go-hello-stdio.server.json").read_text())
    entry["packages"][0]["identifier"] = image
    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "catalogue"},
                                                          "data": {"servers.json": json.dumps([entry])}})  # fmt: skip
    registry = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPRegistry", "metadata": {"name": "in-house",
                "namespace": namespace}, "spec": {"source": {"configMap": {"name": "catalogue"}},
                                                  "refreshInterval": "1h"}}  # fmt: skip
    # the first calls may find the webhook Service's endpoint not yet programmed by kube-proxy: retry
    kubeenv.wait_until(lambda: kubeenv.apply_object(cluster.api_client, registry), timeout=60,
                       message="MCPRegistry in-house admitted")  # fmt: skip
    custom = client.CustomObjectsApi(cluster.api_client)
    kubeenv.wait_until(  # the server resolves from the synced catalogue, not the embedded one
        lambda: (custom.get_namespaced_custom_object("mcp.allbeone.io", "v1", namespace, "mcpregistries", "in-house")
                 .get("status") or {}).get("phase") == "Ready",
        timeout=120, message="MCPRegistry in-house Ready",
    )  # fmt: skip
    deploy_from_registry(cluster, namespace, name, entry["name"])
    return wait_serving(cluster, namespace, name, timeout=400)


def test_the_release_is_signed_with_the_key_and_pins_its_images(released: dict[str, Any]) -> None:
    rel = released[V2]
    for pinned in (rel["images"]["mcpop"]["pinned"], rel["images"]["mcpop-bridge"]["pinned"],
                   rel["chart"]["ref"].removeprefix("oci://") + "@" + rel["chart"]["digest"]):  # fmt: skip
        run(tool("cosign"), "verify", "--key", str(released["pub"]), "--insecure-ignore-tlog=true",
            "--allow-insecure-registry", "--allow-http-registry", pinned)  # fmt: skip
    install = rel["dir"] / "install.yaml"
    run(tool("cosign"), "verify-blob", "--key", str(released["pub"]), "--insecure-ignore-tlog=true",
        "--signature", str(rel["dir"] / "install.yaml.sig"), str(install))  # fmt: skip
    text = install.read_text()
    assert rel["images"]["mcpop"]["pinned"] in text
    assert rel["images"]["mcpop-bridge"]["pinned"] in text
    for sbom in rel["sboms"]:
        doc = json.loads((rel["dir"] / sbom).read_text())
        assert doc["bomFormat"] == "CycloneDX" and doc["components"]
    operator_sbom = json.loads((rel["dir"] / "sbom/mcpop.cdx.json").read_text())
    purls = {c["purl"].split("@")[0] for c in operator_sbom["components"]}
    assert {"pkg:deb/debian/python3", "pkg:pypi/mcpop", "pkg:pypi/kubernetes", "pkg:pypi/mcp"} <= purls


def test_helm_install_from_the_registry_upgrade_keeps_servers_and_uninstall_keeps_crds(
    released: dict[str, Any], real_cluster: kubeenv.KubeCluster, namespace: str
) -> None:
    cluster, work = real_cluster, released["work"]
    chart = released[V1]["chart"]["ref"]
    cluster.core.create_namespace({"metadata": {"name": NAMESPACE, "labels": dict(kubeenv.RESTRICTED_LABELS)}})
    helm(cluster, "install", HELM_RELEASE, chart, "--version", V1, "--plain-http", "-n", NAMESPACE,
         "-f", str(values_file(work)), "--wait", "--timeout", "300s")  # fmt: skip
    operator_image = f"{REGISTRY}/mcpop@{released[V1]['images']['mcpop']['digest']}"
    wait_operator(cluster, operator_image)

    pods = greeter(cluster, namespace, "greeter")
    init = [c.image for c in pods[0].spec.init_containers or []]
    assert init == [released[V1]["images"]["mcpop-bridge"]["pinned"]]  # pulled by digest from the registry
    assert wait_verified(cluster, namespace, "greeter")["reason"] == "Handshake"
    before = {p.metadata.uid: [c.restart_count for c in p.status.container_statuses] for p in pods}
    generation = cluster.apps.read_namespaced_deployment("greeter", namespace).metadata.generation

    helm(cluster, "upgrade", HELM_RELEASE, chart, "--version", V2, "--plain-http", "-n", NAMESPACE,
         "-f", str(values_file(work)), "--wait", "--timeout", "300s")  # fmt: skip
    new = kubeenv.wait_until(
        lambda: (p := operator_pods(cluster)) and len(p) == 1 and p[0].metadata.labels.get("helm.sh/chart")
        == f"mcp-operator-{V2}" and kubeenv.pod_ready(p[0]) and p[0],
        timeout=300, message=f"the operator of chart {V2}",
    )  # fmt: skip
    assert new.spec.containers[0].image == operator_image
    time.sleep(20)  # the new operator has re-reconciled the server by now (its informers list at start)
    after = {p.metadata.uid: [c.restart_count for c in p.status.container_statuses]
             for p in serving_pods(cluster, namespace, "greeter")}  # fmt: skip
    assert after == before
    assert cluster.apps.read_namespaced_deployment("greeter", namespace).metadata.generation == generation

    helm(cluster, "uninstall", HELM_RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "120s")
    kubeenv.wait_until(lambda: not operator_pods(cluster), timeout=120, message="the operator pod gone")
    from kubernetes import client

    listed = client.ApiextensionsV1Api(cluster.api_client).list_custom_resource_definition().items
    crds = {c.metadata.name for c in listed}
    assert {"mcpservers.mcp.allbeone.io", "mcpregistries.mcp.allbeone.io", "mcpserverbackups.mcp.allbeone.io"} <= crds
    custom = client.CustomObjectsApi(cluster.api_client)
    assert custom.get_namespaced_custom_object("mcp.allbeone.io", "v1", namespace, "mcpservers", "greeter")
    assert {p.metadata.uid for p in serving_pods(cluster, namespace, "greeter")} == set(before)


def server_side_apply(cluster: kubeenv.KubeCluster, manifest: Path) -> str:
    """`kubectl apply --server-side -f manifest`, or the same through the Python client without kubectl."""
    if shutil.which("kubectl"):
        return run("kubectl", "apply", "--server-side", "-f", str(manifest), "--kubeconfig", cluster.kubeconfig)
    for doc in yaml.safe_load_all(manifest.read_text()):
        if doc:
            kubeenv.apply_object(cluster.api_client, doc, field_manager="kubectl")
    return "applied with the Python client"


def test_kubectl_apply_server_side_of_install_yaml_runs_the_operator(
    released: dict[str, Any], real_cluster: kubeenv.KubeCluster, namespace: str
) -> None:
    """install.yaml as released, with the placement a user of this node adds (kustomize would): the operator
    runs from the pulled image, makes its own webhook certificate, and admits and deploys a server."""
    cluster, rel = real_cluster, released[V2]
    docs = [d for d in yaml.safe_load_all((rel["dir"] / "install.yaml").read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["spec"].update(PLACEMENT)
            doc["spec"]["template"]["spec"]["containers"][0]["args"].append(
                f"--insecure-registries={realnode.REGISTRY}"
            )
    manifest = released["work"] / "install-placed.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    server_side_apply(cluster, manifest)
    wait_operator(cluster, f"{REGISTRY}/mcpop@{rel['images']['mcpop']['digest']}")
    secret = kubeenv.wait_until(lambda: cluster.core.read_namespaced_secret("mcp-operator-webhook-tls", NAMESPACE),
                                timeout=120, message="the self-managed webhook certificate")  # fmt: skip
    assert secret.data
    pods = greeter(cluster, namespace, "greeter-two")
    assert [c.image for c in pods[0].spec.init_containers or []] == [rel["images"]["mcpop-bridge"]["pinned"]]
    assert wait_verified(cluster, namespace, "greeter-two")["reason"] == "Handshake"
