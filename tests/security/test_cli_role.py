"""The CLI role (issue 19 §5): `config/rbac/cli-user.yaml` grants no write outside the MCP resources (no
workload, Secret, ServiceAccount or RBAC write; nothing cluster-wide but reads), and the dry runs it used to
need create/patch for fall back to a client-side comparison when the API server answers 403, saying so. Against
the real apiserver: tests/cluster/test_cli_commands.py (the role's token is refused each write)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fakekube import FakeKube

from mcpop.apply.resources import FIELD_MANAGER, MCPSERVER, ApiError, Resource
from mcpop.apply.ssa.manager import ResourceManager, client_side_merge

ROOT = Path(__file__).resolve().parents[2]
WRITES = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate", "*"}


def _roles() -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((ROOT / "config/rbac/cli-user.yaml").read_text())
    return {d["metadata"]["name"]: d for d in docs}


def test_the_cli_role_writes_only_mcp_resources() -> None:
    for rule in _roles()["mcpop-cli-user"]["rules"]:
        if WRITES & set(rule["verbs"]):
            assert rule["apiGroups"] == ["mcp.allbeone.io"], rule
            assert set(rule["resources"]) <= {"mcpservers", "mcpregistries", "mcpserverbackups"}, rule


def test_the_cluster_wide_cli_role_only_reads() -> None:
    roles = _roles()
    assert set(roles) == {"mcpop-cli-user", "mcpop-cli-cluster-reader"}
    for rule in roles["mcpop-cli-cluster-reader"]["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        assert "secrets" not in rule["resources"]


class Forbidding(FakeKube):
    """An API server that refuses every dry run (the caller may read, not write), or answers `status`."""

    def __init__(self, status: int = 403) -> None:
        super().__init__()
        self.status = status

    def apply(self, res: Resource, obj: dict[str, Any], *, force: bool, field_manager: str = FIELD_MANAGER,
              dry_run: bool = False) -> dict[str, Any]:  # fmt: skip
        if dry_run:
            raise ApiError(self.status, "Forbidden", message=f"{res.resource_name} is forbidden")
        return super().apply(res, obj, force=force, field_manager=field_manager, dry_run=dry_run)


def _set(kube: FakeKube, replicas: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    parent = kube.stored("MCPServer", "team", "srv") or kube.put(
        {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "srv", "namespace": "team"},
         "spec": {}})  # fmt: skip
    ref = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "name": "srv", "uid": parent["metadata"]["uid"],
           "controller": True}  # fmt: skip
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "srv", "namespace": "team", "ownerReferences": [ref]},
           "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c"}]}}}}  # fmt: skip
    return parent, [dep]


def test_a_forbidden_dry_run_is_compared_client_side_and_marked() -> None:
    kube = Forbidding()
    parent, objs = _set(kube, 1)
    ResourceManager(kube).apply_set(MCPSERVER, parent, objs)  # as the operator (not a dry run)
    parent, objs = _set(kube, 3)
    result = ResourceManager(kube, client_side_fallback=True).apply_set(MCPSERVER, parent, objs, dry_run=True)
    assert result.error is None
    change = next(c for c in result if c.kind == "Deployment")
    assert change.action == "configured" and "spec.replicas" in change.fields
    assert result.client_side == {("Deployment", "srv")}
    assert result.objects[("Deployment", "srv")]["spec"]["replicas"] == 3
    assert kube.stored("Deployment", "team", "srv")["spec"]["replicas"] == 1  # nothing written


@pytest.mark.parametrize(("status", "fallback"), [(403, False), (422, True), (500, True)])
def test_only_a_403_with_the_fallback_on_is_compared_client_side(status: int, fallback: bool) -> None:
    kube = Forbidding(status)
    parent, objs = _set(kube, 1)
    result = ResourceManager(kube, client_side_fallback=fallback).apply_set(MCPSERVER, parent, objs, dry_run=True)
    assert result.error is not None and result.error.status == status
    assert not result.client_side


def test_client_side_merge_lays_desired_over_live() -> None:
    live = {"metadata": {"name": "a", "uid": "u"}, "spec": {"replicas": 1, "ports": [1, 2]}, "status": {"x": 1}}
    desired = {"metadata": {"name": "a"}, "spec": {"ports": [3]}}
    assert client_side_merge(live, desired) == {"metadata": {"name": "a", "uid": "u"},
                                                "spec": {"replicas": 1, "ports": [3]}, "status": {"x": 1}}  # fmt: skip
    assert client_side_merge(None, desired) == desired
