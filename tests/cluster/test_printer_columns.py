"""`kubectl get mcpservers` (the apiserver's Table API) shows the image the operator resolved, for a
runtime-form server whose spec has no `image`, and the status names its SSE URL."""

from __future__ import annotations

import json
from typing import Any

import kubeenv
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import GROUP, PLURAL, VERSION, OperatorProcess, Servers

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def table(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    request = api.param_serialize(
        method="GET",
        resource_path=f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}",
        header_params={"Accept": TABLE},
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    response.read()
    return dict(json.loads(response.data))


def test_runtime_form_server_shows_its_resolved_image_and_tag(operator: OperatorProcess, servers: Servers) -> None:
    servers.create({
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "events"},
        "spec": {"runtime": {"type": "docker", "image": "ghcr.io/example/events-mcp:2.0.1", "port": 3001},
                 "transport": {"type": "sse"}},
    })  # fmt: skip
    kubeenv.wait_until(lambda: (servers.get("events").get("status") or {}).get("image"), timeout=60,
                       message="status.image written")  # fmt: skip
    got = table(servers.api, servers.ns)
    columns = [c["name"] for c in got["columnDefinitions"]]
    row = dict(zip(columns, got["rows"][0]["cells"], strict=False))
    assert (row["Name"], row["Image"], row["Tag"]) == ("events", "ghcr.io/example/events-mcp", "2.0.1")
    status = servers.get("events")["status"]
    assert status["url"] == f"http://events.{servers.ns}.svc.cluster.local:3001/sse"
    assert status["transport"] == "sse"
    svc = servers.core.read_namespaced_service("events", servers.ns)
    assert svc.metadata.annotations["mcp.allbeone.io/path"] == "/sse"
