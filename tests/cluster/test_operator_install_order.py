"""Install order does not matter: the operator started before its CRDs exist starts each controller when
its CRD appears (the manager polls discovery), with no restart."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubeenv
import pytest
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import Servers, load_example, operator_identity, start_operator, wait
from registry_harness import Registries

ROOT = Path(__file__).resolve().parents[2]
CRD_NAMES = ("mcpservers.mcp.allbeone.io", "mcpregistries.mcp.allbeone.io", "mcpserverbackups.mcp.allbeone.io")


def _remove_crds(api: client.ApiClient) -> None:
    """Delete mcpop's CRDs (an earlier test module of this session may have installed them). Whatever
    earlier modules left that would keep them terminating goes first: webhook configurations for mcpop's
    kinds (their server is gone, and they would refuse the finalizer removals), then the finalizers of
    every leftover MCPServer, MCPRegistry and MCPServerBackup, since no operator is running to remove them."""
    admission = client.AdmissionregistrationV1Api(api)
    for lister, deleter in (
        (admission.list_validating_webhook_configuration, admission.delete_validating_webhook_configuration),
        (admission.list_mutating_webhook_configuration, admission.delete_mutating_webhook_configuration),
    ):
        for cfg in lister().items:
            groups = {g for w in cfg.webhooks or [] for r in w.rules or [] for g in r.api_groups or []}
            if "mcp.allbeone.io" in groups:
                with contextlib.suppress(client.ApiException):
                    deleter(cfg.metadata.name)
    custom = client.CustomObjectsApi(api)
    for plural in ("mcpservers", "mcpregistries", "mcpserverbackups"):
        try:
            items = custom.list_cluster_custom_object("mcp.allbeone.io", "v1", plural)["items"]
        except client.ApiException:
            items = []
        for obj in items:
            m = obj["metadata"]
            if m.get("finalizers"):
                with contextlib.suppress(client.ApiException):
                    custom.patch_namespaced_custom_object("mcp.allbeone.io", "v1", m["namespace"], plural, m["name"],
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


@pytest.fixture(scope="module")
def bare_cluster(worker_id_safe: str) -> Iterator[kubeenv.KubeCluster]:
    """A control plane of its own, on which no mcpop CRD was ever installed: deleting the CRDs on the
    session's shared cluster would leave them terminating behind whatever earlier modules left."""
    if kubeenv.existing_kubeconfig():
        with kubeenv.kube_cluster_context() as cluster:
            _remove_crds(cluster.api_client)
            try:
                yield cluster
            finally:
                kubeenv.install_crds(cluster.api_client, sorted((ROOT / "schemas").glob("*.yaml")))
        return
    with kubeenv.kube_cluster_context(f"{os.getpid()}-{worker_id_safe}-bare") as cluster:
        yield cluster


def test_operator_started_before_its_crds_starts_the_controllers_when_they_appear(
    bare_cluster: kubeenv.KubeCluster, tmp_path: Path
) -> None:
    api = bare_cluster.api_client
    namespace = kubeenv.create_namespace(api)
    kubeconfig = operator_identity(bare_cluster, tmp_path)
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
            kubeenv.delete_namespace(api, namespace)


def _stand_in_servicemonitor_crd() -> dict[str, Any]:
    """A ServiceMonitor CRD keeping every field (the bare test cluster has no Prometheus operator)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                 "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor",
                           "listKind": "ServiceMonitorList"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
    }  # fmt: skip


def test_an_owned_kind_whose_crd_arrives_later_is_applied_and_watched(
    kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    api = kube_cluster.api_client
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    if "monitoring.coreos.com" in groups:
        pytest.skip("this cluster serves ServiceMonitors already")
    custom = client.CustomObjectsApi(api)
    servers = Servers(api, namespace)
    op = start_operator(operator_kubeconfig, namespace, tmp_path, "--log-level", "debug")  # sync period 10m
    crd = _stand_in_servicemonitor_crd()
    try:
        body = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "srv"},
                "spec": {"image": "mcp-server-test", "tag": "1.0", "monitoring": {"enabled": True}}}  # fmt: skip
        servers.create(body)
        servers.wait_ready("srv")
        assert "ServiceMonitor" in servers.condition("srv", "Applied")["message"]  # skipped: API not installed

        path = tmp_path / "servicemonitor-crd.yaml"
        path.write_text(json.dumps(crd))
        kubeenv.install_crds(api, [path])

        def monitor() -> dict[str, Any] | None:
            try:
                return dict(custom.get_namespaced_custom_object("monitoring.coreos.com", "v1", namespace,
                                                                "servicemonitors", "srv"))  # fmt: skip
            except client.ApiException as e:
                if e.status == 404:
                    return None
                raise

        first = wait(monitor, timeout=30, message="ServiceMonitor applied once its CRD is served")
        # watched from now on: deleted by hand, it is recreated at once (no resync needed)
        custom.delete_namespaced_custom_object("monitoring.coreos.com", "v1", namespace, "servicemonitors", "srv")
        again = wait(lambda: (m := monitor()) and m["metadata"]["uid"] != first["metadata"]["uid"] and m,
                     timeout=30, message="ServiceMonitor recreated")  # fmt: skip
        assert again["spec"] == first["spec"]
    finally:
        try:
            servers.delete("srv")
            wait(lambda: not servers.exists("srv"), timeout=30, message="srv finalized")
        finally:
            op.terminate()
            sys.stderr.write(f"\n--- operator log (tail)\n{op.log()[-3000:]}\n")
            kubeenv.delete_crds(api, [crd["metadata"]["name"]])  # later tests rely on this API being absent
