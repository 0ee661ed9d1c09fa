"""Install order does not matter: the operator started before its CRDs exist starts each controller when
its CRD appears (the manager polls discovery), with no restart."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import kubeenv
from kubernetes import client
from operator_harness import Servers, load_example, operator_identity, start_operator, wait
from registry_harness import Registries

ROOT = Path(__file__).resolve().parents[2]
CRD_NAMES = ("mcpservers.mcp.allbeone.io", "mcpregistries.mcp.allbeone.io", "mcpserverbackups.mcp.allbeone.io")


def _remove_crds(api: client.ApiClient) -> None:
    """Delete mcpop's CRDs (an earlier test module of this session may have installed them); leftover
    MCPServers lose their finalizer first, since no operator is running to remove it."""
    custom = client.CustomObjectsApi(api)
    try:
        items = custom.list_cluster_custom_object("mcp.allbeone.io", "v1", "mcpservers")["items"]
    except client.ApiException:
        items = []
    for obj in items:
        m = obj["metadata"]
        with contextlib.suppress(client.ApiException):
            custom.patch_namespaced_custom_object("mcp.allbeone.io", "v1", m["namespace"], "mcpservers", m["name"],
                                                  {"metadata": {"finalizers": None}})  # fmt: skip
    kubeenv.delete_crds(api, CRD_NAMES)
    ext = client.ApiextensionsV1Api(api)

    def gone() -> bool:
        names = {c.metadata.name for c in ext.list_custom_resource_definition().items}
        return not names & set(CRD_NAMES)

    wait(gone, timeout=120, message="mcpop CRDs deleted")


def _catalogue(core: client.CoreV1Api, namespace: str) -> None:
    entry: dict[str, Any] = {
        "name": "io.example/clock", "version": "1.0.0", "description": "a clock",
        "packages": [{"registryType": "oci", "identifier": "docker.io/mcp/time:1.0.0",
                      "transport": {"type": "streamable-http", "url": "http://localhost:8080/mcp"}}],
    }  # fmt: skip
    meta = client.V1ObjectMeta(name="catalogue")
    body = client.V1ConfigMap(metadata=meta, data={"servers.json": json.dumps([entry])})
    core.create_namespaced_config_map(namespace, body)


def test_operator_started_before_its_crds_starts_the_controllers_when_they_appear(
    kube_cluster: kubeenv.KubeCluster, namespace: str, tmp_path: Path
) -> None:
    api = kube_cluster.api_client
    _remove_crds(api)
    kubeconfig = operator_identity(kube_cluster, tmp_path)
    # ready although no controller can run yet (a bundle applied in one go must not crash-loop it)
    op = start_operator(kubeconfig, namespace, tmp_path, "--log-level", "debug")
    try:
        wait(lambda: "controller mcpregistry waits for MCPRegistry" in op.log(), timeout=30, message="waiting log")
        assert "controller mcpserver waits for MCPServer" in op.log()
        kubeenv.install_crds(api, sorted((ROOT / "schemas").glob("*.yaml")))
        wait(lambda: "controller mcpserver started" in op.log() and "controller mcpregistry started" in op.log(),
             timeout=60, message="both controllers started")  # fmt: skip

        registries, servers = Registries(api, namespace), Servers(api, namespace)
        _catalogue(registries.core, namespace)
        registries.create("default", {"source": {"configMap": {"name": "catalogue"}}, "refreshInterval": "1h"})
        registries.wait_synced("default", 1)
        example = load_example("02-mcpserver-basic.yaml")
        servers.create(example)
        servers.wait_ready(example["metadata"]["name"], timeout=120)
        assert op.proc.poll() is None
    finally:
        try:
            client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
                "mcp.allbeone.io", "v1", namespace, "mcpservers")  # fmt: skip
            wait(lambda: not Servers(api, namespace).custom.list_namespaced_custom_object(
                "mcp.allbeone.io", "v1", namespace, "mcpservers")["items"], timeout=30)  # fmt: skip
        finally:
            op.terminate()
            sys.stderr.write(f"\n--- operator log (tail)\n{op.log()[-3000:]}\n")
