"""`mcp tools diff` and `mcp tools approve` against the real API server, as the CLI user (issue 21 §2): the
inventory comes from status.mcp.tools as the operator writes it (here written by the test), and approval writes
spec.tools.approved, which the CRD and the model read back."""

from __future__ import annotations

from typing import Any

import kubeenv
from cli_harness import *  # noqa: F403
from cli_harness import mcp
from kubernetes import client
from operator_harness import *  # noqa: F403

from mcpop.api.mcpserver import MCPServer

GROUP, VERSION, PLURAL = "mcp.allbeone.io", "v1", "mcpservers"
READ, STAT, WRITE, CHANGED = ("sha256:" + c * 64 for c in "abcd")


def create(api: client.ApiClient, namespace: str, spec: dict[str, Any]) -> None:
    obj = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "MCPServer", "metadata": {"name": "files"}, "spec": spec}
    client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)


def server_with_tools(api: client.ApiClient, namespace: str, listed: dict[str, str], count: int | None = None,
                      approved: dict[str, str] | None = None) -> None:  # fmt: skip
    """An MCPServer whose status says the server lists `listed` (name → digest)."""
    custom = client.CustomObjectsApi(api)
    spec: dict[str, Any] = {"command": ["npx", "srv"], "transport": {"type": "stdio"}}
    if approved is not None:
        spec["tools"] = {"approved": [{"name": n, "sha256": d.removeprefix("sha256:")} for n, d in approved.items()]}
    create(api, namespace, spec)
    tools = {"count": len(listed) if count is None else count, "names": sorted(listed), "digest": READ,
             "definitions": [{"name": n, "digest": listed[n]} for n in sorted(listed)]}  # fmt: skip
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, "files", {
        "status": {"mcp": {"protocolVersion": "2025-11-25", "tools": tools}}})  # fmt: skip


def spec_of(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    obj = client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "files")
    MCPServer.model_validate(obj)  # what approve wrote reads back as a valid spec
    return dict(obj["spec"])


def test_approve_writes_the_listed_tools_and_diff_then_shows_none(
    kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str
) -> None:
    api = kube_cluster.api_client
    server_with_tools(api, namespace, {"read_file": READ, "stat": STAT})
    r = mcp(cli_kubeconfig, "tools", "diff", "files")
    assert r.returncode == 1 and r.stdout.splitlines() == [f"+ read_file  {READ}", f"+ stat  {STAT}"]
    assert "spec.tools.approved is not set" in r.stderr

    r = mcp(cli_kubeconfig, "tools", "approve", "files").ok()
    assert "mcpserver/files approved: 2 tools" in r.stdout
    assert spec_of(api, namespace)["tools"]["approved"] == [
        {"name": "read_file", "sha256": "a" * 64}, {"name": "stat", "sha256": "b" * 64}]  # fmt: skip
    r = mcp(cli_kubeconfig, "tools", "diff", "files").ok()
    assert r.stdout == "" and "the 2 tools listed are the ones approved" in r.stderr


def test_diff_names_changed_added_and_removed_tools(
    kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str
) -> None:
    server_with_tools(kube_cluster.api_client, namespace, {"read_file": CHANGED, "write_file": WRITE},
                      approved={"read_file": READ, "stat": STAT})  # fmt: skip
    r = mcp(cli_kubeconfig, "tools", "diff", "files")
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines() == [f"~ read_file  {READ} -> {CHANGED}", f"- stat  {STAT}", f"+ write_file  {WRITE}"]


def test_approve_dry_run_prints_the_inventory_and_writes_nothing(
    kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str
) -> None:
    api = kube_cluster.api_client
    server_with_tools(api, namespace, {"read_file": CHANGED}, approved={"read_file": READ})
    r = mcp(cli_kubeconfig, "tools", "approve", "files", "--dry-run").ok()
    assert r.stdout == f"spec:\n  tools:\n    approved:\n    - name: read_file\n      sha256: {'d' * 64}\n"
    assert f"~ read_file  {READ} -> {CHANGED}" in r.stderr
    assert spec_of(api, namespace)["tools"]["approved"] == [{"name": "read_file", "sha256": "a" * 64}]


def test_approve_refuses_an_inventory_status_does_not_hold_whole(
    kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str
) -> None:
    server_with_tools(kube_cluster.api_client, namespace, {"read_file": READ}, count=300)
    r = mcp(cli_kubeconfig, "tools", "approve", "files")
    assert r.returncode == 1 and r.stderr.strip() == (
        "error: mcpserver/files lists 300 tools; status records and an approved inventory holds at most 128"
    )
    assert "approved" not in (spec_of(kube_cluster.api_client, namespace).get("tools") or {})


def test_approve_without_a_verified_inventory_says_so(
    kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str
) -> None:
    create(kube_cluster.api_client, namespace, {"command": ["npx", "srv"], "transport": {"type": "stdio"}})
    r = mcp(cli_kubeconfig, "tools", "approve", "files")
    assert r.returncode == 1 and "no verified tool inventory in status.mcp.tools yet" in r.stderr
    assert "Traceback" not in r.stderr


def test_approve_server_dry_run_is_checked_by_the_api_server_and_kept_nowhere(
    kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str
) -> None:
    server_with_tools(kube_cluster.api_client, namespace, {"read_file": READ})
    r = mcp(cli_kubeconfig, "tools", "approve", "files", "--dry-run=server").ok()
    assert "approved: 1 tools (server dry run)" in r.stdout
    assert "tools" not in spec_of(kube_cluster.api_client, namespace)
