"""Registry classes the operator deploys, against a real control plane (operator as a subprocess) and a real
local OCI registry (crane registry serve on loopback, plus a token-auth front):

- an OCI stdio entry without a command: the operator reads the image's config from its registry and runs
  the image's own entrypoint behind the static bridge (init container + shared emptyDir);
- the same from a private registry, with the server's imagePullSecrets (dockerconfigjson, Bearer flow);
- an image the registry does not have: Rendered False, reason ImageConfigUnavailable, retried;
- a remote-only entry: phase Remote, status.url and status.transport, Ready True (reason Remote).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubeenv
import pytest
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import OperatorProcess, Servers, wait

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_harness import Registries

from mcpop.render.normalize import BRIDGE_BIN, BRIDGE_IMAGE
from tests.ocikit import crane_path, docker_config, layer_tar, local_registry, push, token_auth_registry

REMOTE_URL = "https://mcp.example.com/mcp"


def oci_stdio_entry(name: str, image: str) -> dict[str, Any]:
    return {"name": f"io.github.example/{name}", "description": "an OCI stdio server", "version": "1.0.0",
            "packages": [{"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}]}  # fmt: skip


@pytest.fixture(scope="module")
def oci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A local registry with an OCI stdio image, and a token-auth front holding a private one."""
    crane = crane_path()
    if crane is None:
        pytest.skip("Go is needed to build crane (tools/crane path)")
    layer = layer_tar(tmp_path_factory.mktemp("layer") / "layer.tar")
    with local_registry(crane, tmp_path_factory.mktemp("registry")) as host, token_auth_registry(host) as auth:
        yield {
            "public": push(crane, layer, f"{host}/github/github-mcp-server:0.20.2",
                           entrypoint="/server/github-mcp-server", cmd="stdio", platform="linux/amd64"),
            "private": push(crane, layer, f"{host}/private/server:1", entrypoint="/srv/private-mcp",
                            platform="linux/amd64").replace(host, auth.host),
            "missing": f"{host}/no/such-image:1",
            "auth_host": auth.host,
        }  # fmt: skip


@pytest.fixture
def catalogue(kube_cluster: kubeenv.KubeCluster, namespace: str, oci: dict[str, str]) -> Registries:
    """The MCPRegistry `default` holding the test entries (a configMap source)."""
    entries = [
        oci_stdio_entry("public", oci["public"]),
        oci_stdio_entry("private", oci["private"]),
        oci_stdio_entry("missing", oci["missing"]),
        {"name": "io.github.example/hosted", "description": "remote only", "version": "1.0.0",
         "remotes": [{"type": "streamable-http", "url": REMOTE_URL}]},
    ]  # fmt: skip
    registries = Registries(kube_cluster.api_client, namespace)
    registries.core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="catalogue"), data={"servers.json": json.dumps(entries)}))  # fmt: skip
    registries.create("default", {"source": {"configMap": {"name": "catalogue"}}, "refreshInterval": "1h"})
    registries.wait_synced("default", len(entries))
    return registries


def server(name: str, entry: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": name},
            "spec": {"registry": {"name": f"io.github.example/{entry}"}, **spec}}  # fmt: skip


def _pod(servers: Servers, name: str) -> dict[str, Any]:
    dep = wait(lambda: servers.deployment(name), timeout=60, message=f"Deployment {name}")
    return dict(client.ApiClient().sanitize_for_serialization(dep.spec.template.spec))


def test_an_oci_stdio_image_runs_its_own_entrypoint_behind_the_static_bridge(
    registry_operator: OperatorProcess, catalogue: Registries, servers: Servers, oci: dict[str, str]
) -> None:
    servers.create(server("github", "public"))
    pod = _pod(servers, "github")
    (init,) = pod["initContainers"]
    (main,) = pod["containers"]
    assert init["image"] == BRIDGE_IMAGE
    assert main["image"] == oci["public"] and main["command"] == [BRIDGE_BIN]
    assert main["args"][-3:] == ["--", "/server/github-mcp-server", "stdio"]
    assert servers.wait_condition("github", "Rendered", "True")["reason"] == "Rendered"
    obj = servers.wait_ready("github", timeout=120)  # kwok runs the pod; the namespace enforces restricted
    assert obj["status"]["transport"] == "streamable-http" and obj["status"]["url"].endswith(":8000/mcp")


def test_a_private_image_is_read_with_the_servers_image_pull_secrets(
    registry_operator: OperatorProcess, catalogue: Registries, servers: Servers, oci: dict[str, str]
) -> None:
    catalogue.core.create_namespaced_secret(catalogue.ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="pull"), type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": docker_config(oci["auth_host"])}))  # fmt: skip
    servers.create(server("private", "private", imagePullSecrets=[{"name": "pull"}]))
    pod = _pod(servers, "private")
    assert pod["containers"][0]["args"][-2:] == ["--", "/srv/private-mcp"]
    assert pod["imagePullSecrets"] == [{"name": "pull"}]


def test_without_credentials_a_private_image_is_image_config_unavailable(
    registry_operator: OperatorProcess, catalogue: Registries, servers: Servers, oci: dict[str, str]
) -> None:
    servers.create(server("anonymous", "private"))
    c = servers.wait_condition("anonymous", "Rendered", "False", "ImageConfigUnavailable")
    assert oci["private"] in c["message"] and "imagePullSecrets" in c["message"]


def test_an_image_the_registry_lacks_is_rendered_false_and_nothing_is_applied(
    registry_operator: OperatorProcess, catalogue: Registries, servers: Servers, oci: dict[str, str]
) -> None:
    servers.create(server("missing", "missing"))
    c = servers.wait_condition("missing", "Rendered", "False", "ImageConfigUnavailable")
    assert oci["missing"] in c["message"] and "not found" in c["message"]
    ready = servers.condition("missing", "Ready")
    assert ready is not None and ready["reason"] == "ImageConfigUnavailable"
    assert servers.deployment("missing") is None
    assert registry_operator.proc.poll() is None  # no crash


def test_a_remote_only_entry_records_url_transport_and_phase_remote(
    registry_operator: OperatorProcess, catalogue: Registries, servers: Servers
) -> None:
    servers.create(server("hosted", "hosted"))

    def remote() -> dict[str, Any] | None:
        obj = servers.get("hosted")
        st = obj.get("status") or {}
        return obj if st.get("phase") == "Remote" and st.get("observedGeneration") == 1 else None

    obj = wait(remote, timeout=60, message="MCPServer hosted phase Remote")
    assert obj["status"]["url"] == REMOTE_URL and obj["status"]["transport"] == "streamable-http"
    ready = servers.condition("hosted", "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("True", "Remote")
    svc = servers.core.read_namespaced_service("hosted", servers.ns)
    assert svc.spec.type == "ExternalName" and svc.spec.external_name == "mcp.example.com"
    assert servers.deployment("hosted") is None
