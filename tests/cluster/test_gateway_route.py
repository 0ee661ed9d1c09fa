"""spec.expose.gateway against the real API server with the Gateway API's own HTTPRoute CRD (v1.6.3): the
operator applies the route it renders, watches it, and once a Gateway controller (here the test, writing the
route's status as one would) has Accepted it, status.url is the external URL."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import kubeenv
import pytest
from chartkit import third_party_crd_paths
from kubeenv import delete_crds, install_crds
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import OperatorProcess, Servers, wait

GROUP, VERSION = "gateway.networking.k8s.io", "v1"


@pytest.fixture
def httproutes(kube_cluster: kubeenv.KubeCluster) -> Iterator[None]:
    """The HTTPRoute CRD installed for this test (the session's cluster is otherwise without it)."""
    names = install_crds(kube_cluster.api_client, [p for p in third_party_crd_paths() if p.endswith("httproutes.yaml")])
    yield
    delete_crds(kube_cluster.api_client, names)


def route(api: client.ApiClient, namespace: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, "httproutes", "files"
        )
        return obj
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_a_gateway_exposed_server_gets_its_route_and_the_external_url_once_accepted(
    kube_cluster: kubeenv.KubeCluster, httproutes: None, operator: OperatorProcess, servers: Servers, namespace: str
) -> None:
    api = kube_cluster.api_client
    servers.create({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "files"},
                    "spec": {"command": ["npx", "srv"], "transport": {"type": "stdio"},
                             "auth": {"allowUnauthenticated": True},
                             "expose": {"gateway": {"parentRef": {"name": "public"}, "hostname": "mcp.example.com",
                                                    "path": "/files"}}}})  # fmt: skip
    live = wait(lambda: route(api, namespace), timeout=60, message="the HTTPRoute applied")
    assert live["spec"]["hostnames"] == ["mcp.example.com"]
    assert live["metadata"]["ownerReferences"][0]["name"] == "files"
    internal = wait(lambda: (servers.get("files").get("status") or {}).get("url"), message="status.url")
    assert internal.startswith("http://files.") and internal.endswith("/mcp")

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    accepted = {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "lastTransitionTime": now,
                "observedGeneration": live["metadata"]["generation"]}  # fmt: skip
    parent = {"parentRef": {"name": "public"}, "controllerName": "example.com/gateway-controller",
              "conditions": [accepted]}  # fmt: skip
    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "httproutes", "files", {"status": {"parents": [parent]}}
    )
    wait(lambda: servers.get("files")["status"].get("url") == "https://mcp.example.com/files", timeout=60,
         message="status.url the external URL")  # fmt: skip
