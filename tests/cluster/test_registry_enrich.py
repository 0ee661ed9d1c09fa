"""MCPServer enrichment through an MCPRegistry, against a real control plane (operator as a subprocess).

Covers: the seed's registry-enriched example (examples/03) becomes Ready with RegistryFetched=True from an
MCPRegistry named `default` whose configMap source holds the filesystem entry, and from the embedded
catalogue when there is no such registry; a new version in the catalogue rolls the server using it;
RegistryFetched=False with NotFound / RegistryNotReady.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import kubeenv
import pytest
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import (
    OperatorProcess,
    Servers,
    load_example,
    wait,
)
from ports import free_port

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_harness import Registries

from mcpop.sources.catalog import load_embedded

FILESYSTEM = "io.github.modelcontextprotocol/server-filesystem"


@pytest.fixture
def registries(kube_cluster: kubeenv.KubeCluster, namespace: str) -> Registries:
    return Registries(kube_cluster.api_client, namespace)


def filesystem_entry(version: str) -> dict[str, Any]:
    entry = load_embedded().resolve(FILESYSTEM).wire()
    entry["version"] = version
    for p in entry.get("packages") or []:
        if p.get("registryType") == "npm":
            p["version"] = version
    return entry


def catalogue_configmap(core: client.CoreV1Api, namespace: str, version: str, create: bool) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="catalogue"),
                              data={"servers.json": json.dumps([filesystem_entry(version)])})  # fmt: skip
    if create:
        core.create_namespaced_config_map(namespace, body)
    else:
        core.replace_namespaced_config_map("catalogue", namespace, body)


def test_example_enriched_from_a_configmap_registry_and_rolled_on_a_new_version(
    kube_cluster: kubeenv.KubeCluster,
    registry_operator: OperatorProcess,
    registries: Registries,
    servers: Servers,
    namespace: str,
) -> None:
    core = registries.core
    catalogue_configmap(core, namespace, "2026.9.1", create=True)
    registries.create("default", {"source": {"configMap": {"name": "catalogue"}}, "refreshInterval": "1h"})
    registries.wait_synced("default", 1)

    example = load_example("03-mcpserver-registry-enriched.yaml")
    servers.create(example)
    name = example["metadata"]["name"]
    obj = servers.wait_ready(name, timeout=120)
    fetched = servers.condition(name, "RegistryFetched")
    assert fetched is not None and fetched["status"] == "True", fetched
    assert "2026.9.1" in fetched["message"] and "MCPRegistry default" in fetched["message"]
    assert obj["status"]["registry"]["version"] == "2026.9.1"
    dep = servers.deployment(name)
    assert dep is not None
    gen0 = dep.metadata.generation
    assert "2026.9.1" in json.dumps(client.ApiClient().sanitize_for_serialization(dep.spec.template))

    # a new version in the catalogue: after the registry syncs, the server rolls to it (no requeue loop)
    catalogue_configmap(core, namespace, "2026.9.2", create=False)
    registries.refresh("default", "v2")

    def rolled() -> bool:
        d = servers.deployment(name)
        text = json.dumps(client.ApiClient().sanitize_for_serialization(d.spec.template)) if d else ""
        return d is not None and d.metadata.generation > gen0 and "2026.9.2" in text

    wait(rolled, timeout=90, message="Deployment rolled to 2026.9.2")
    servers.wait_ready(name, timeout=120)

    # status is written after the set is applied: the Deployment may show the new version a moment before it
    def fetched_new() -> dict[str, Any] | None:
        c = servers.condition(name, "RegistryFetched")
        return c if c is not None and c["status"] == "True" and "2026.9.2" in c["message"] else None

    try:
        wait(fetched_new, timeout=30, message="RegistryFetched naming 2026.9.2")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; last seen: {servers.condition(name, 'RegistryFetched')}") from None
    # converged: no further writes to the server while nothing changes (a loop never lets the operator idle)
    writes = registry_operator.writes()
    registry_operator.wait_idle(quiet=2, timeout=30)
    assert registry_operator.writes() - writes <= 2  # at most a late status/event, never a loop


def test_example_enriched_from_the_embedded_catalogue_without_a_registry(
    registry_operator: OperatorProcess, servers: Servers
) -> None:
    example = load_example("03-mcpserver-registry-enriched.yaml")
    servers.create(example)
    name = example["metadata"]["name"]
    servers.wait_ready(name, timeout=120)
    fetched = servers.condition(name, "RegistryFetched")
    assert fetched is not None and fetched["status"] == "True" and "embedded catalogue" in fetched["message"]


def test_registry_fetched_false_reasons(
    registry_operator: OperatorProcess, registries: Registries, servers: Servers
) -> None:
    # a registry whose source never answers: not ready
    registries.create("broken", {"source": {"mcpRegistry": {"url": f"http://127.0.0.1:{free_port()}"}}})
    wait(lambda: registries.conditions("broken").get("Reachable", {}).get("status") == "False", timeout=60,
         message="broken registry unreachable")  # fmt: skip
    servers.create({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "notready"},
                    "spec": {"registry": {"name": "filesystem", "registryRef": "broken"}}})  # fmt: skip
    servers.wait_condition("notready", "RegistryFetched", "False", "RegistryNotReady")
    # not in the catalogue (the embedded one: no MCPRegistry named default here)
    servers.create({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "missing"},
                    "spec": {"registry": {"name": "no-such-server"}}})  # fmt: skip
    c = servers.wait_condition("missing", "RegistryFetched", "False", "NotFound")
    assert "no-such-server" in c["message"]
