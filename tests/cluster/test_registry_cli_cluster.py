"""`mcp registry search/list` against a real apiserver as a user RBAC refuses: an error, not the embedded
catalogue passed off as the registry."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kubeenv
import yaml
from cli_process import MCP
from kubernetes import client
from operator_harness import *  # noqa: F403  (the crds fixture)
from operator_harness import ROOT


def unprivileged_kubeconfig(cluster: kubeenv.KubeCluster, namespace: str, tmp_path: Path) -> str:
    """A kubeconfig for a fresh ServiceAccount bound to nothing."""
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody"))
    )
    token = core.create_namespaced_service_account_token(
        "nobody", namespace, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    ).status.token
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    cfg: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "test", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "nobody", "user": {"token": token}}],
        "contexts": [{"name": "nobody", "context": {"cluster": "test", "user": "nobody"}}],
        "current-context": "nobody",
    }  # fmt: skip
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(cfg))
    return str(path)


def mcp(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run([*MCP, *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)  # fmt: skip


def test_a_forbidden_registry_read_is_an_error_not_the_embedded_catalogue(
    kube_cluster: kubeenv.KubeCluster,
    namespace: str,
    crds: list[str],
    tmp_path: Path,
) -> None:
    kubeconfig = unprivileged_kubeconfig(kube_cluster, namespace, tmp_path)
    for command in (["search", "git"], ["list"]):
        r = mcp("registry", *command, "-n", namespace, "--kubeconfig", kubeconfig)
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert r.stdout == ""
        assert "403" in r.stderr and "forbidden" in r.stderr.lower()
        assert "embedded catalogue" not in r.stderr


def test_without_n_the_registry_commands_use_the_kubeconfig_contexts_namespace(
    kube_cluster: kubeenv.KubeCluster, namespace: str, crds: list[str], tmp_path: Path
) -> None:
    cfg = yaml.safe_load(Path(kube_cluster.kubeconfig).read_text())
    for ctx in cfg["contexts"]:
        ctx["context"]["namespace"] = namespace
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(cfg))
    r = mcp("registry", "list", "--kubeconfig", str(path))
    assert r.returncode == 0, r.stderr
    assert f"MCPRegistry {namespace}/default not found" in r.stderr
    r = mcp("registry", "refresh", "--kubeconfig", str(path))
    assert r.returncode == 1
    assert f"MCPRegistry {namespace}/default not found" in r.stderr


def test_registry_list_all_namespaces_lists_the_stored_catalogue_of_every_registry(
    kube_cluster: kubeenv.KubeCluster, namespace: str, crds: list[str]
) -> None:
    from mcpop.api.serverjson import ServerJSON
    from mcpop.apply import catalog_store

    reg = client.CustomObjectsApi(kube_cluster.api_client).create_namespaced_custom_object(
        "mcp.allbeone.io", "v1", namespace, "mcpregistries",
        {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPRegistry", "metadata": {"name": "everywhere"},
         "spec": {"url": "https://registry.example"}},
    )  # fmt: skip
    remote = {"type": "streamable-http", "url": "https://x.example/mcp"}
    entry = ServerJSON.model_validate({"name": "io.github.x/listed", "version": "1.0.0", "description": "d",
                                       "remotes": [remote]})  # fmt: skip
    core = client.CoreV1Api(kube_cluster.api_client)
    for cm in catalog_store.desired_configmaps(reg, [entry]):
        core.create_namespaced_config_map(namespace, cm)
    r = mcp("registry", "list", "-A", "-o", "json", "--kubeconfig", kube_cluster.kubeconfig)
    assert r.returncode == 0, r.stderr
    rows = {(i["namespace"], i["registry"], i["name"]) for i in json.loads(r.stdout)}
    assert (namespace, "everywhere", "io.github.x/listed") in rows
