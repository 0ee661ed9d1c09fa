"""`serviceAccount.create: false` runs an MCPServer's pods as an account that already exists: allowed only to an
author who could run pods as it themselves (a SubjectAccessReview, `create pods`, asked by the webhook), and
never as an account mcpop made for itself (backup and restore Jobs) or as the operator's own account. The
webhook's decisions against the real authorizer are in tests/cluster/test_webhook.py, the reconciler's in
tests/cluster/test_operator_reconcile.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mcpop.apply.resources import ApiError
from mcpop.apply.runtime.identity import account_of_token, operator_account
from mcpop.apply.settings import OperatorSettings
from mcpop.apply.webhook.admission import Policy, validating
from mcpop.render.accounts import account_refusal

NS = "team-a"
MCPOP_ACCOUNT = {"metadata": {"name": "nightly-restore", "labels": {
    "app.kubernetes.io/managed-by": "mcpop", "app.kubernetes.io/component": "backup-restore"}}}  # fmt: skip


class Cluster:
    """What the webhook asks the cluster, answered from fixed facts; records each question."""

    def __init__(self, may_create_pods: bool, accounts: Mapping[str, dict[str, Any]] | None = None,
                 fail: ApiError | None = None) -> None:  # fmt: skip
        self.allowed, self.accounts, self.fail = may_create_pods, dict(accounts or {}), fail
        self.asked: list[tuple[str, str]] = []

    def may_create_pods(self, user: Mapping[str, Any], namespace: str) -> tuple[bool, str]:
        self.asked.append((str(user.get("username")), namespace))
        return self.allowed, "" if self.allowed else "no RBAC policy matched"

    def account(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.fail is not None:
            raise self.fail
        return self.accounts.get(name)


def review(sa: dict[str, Any] | None, operation: str = "CREATE") -> dict[str, Any]:
    spec: dict[str, Any] = {"image": "ghcr.io/example/server:1.0"}
    if sa is not None:
        spec["serviceAccount"] = sa
    obj = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "srv", "namespace": NS},
           "spec": spec}  # fmt: skip
    return {"request": {"uid": "u1", "operation": operation, "kind": {"kind": "MCPServer"}, "namespace": NS,
                        "userInfo": {"username": "alice", "groups": ["devs"]}, "object": obj}}  # fmt: skip


def test_an_existing_account_is_refused_to_an_author_who_may_not_create_pods() -> None:
    cluster = Cluster(may_create_pods=False)
    out = validating(review({"create": False, "name": "ci-deployer"}), Policy(access=cluster))["response"]
    assert out["allowed"] is False and out["status"]["code"] == 403
    message = out["status"]["message"]
    assert "spec.serviceAccount.name" in message and "ci-deployer" in message and "create pods" in message
    assert "alice" in message and "no RBAC policy matched" in message
    assert cluster.asked == [("alice", NS)]


def test_an_existing_account_is_allowed_to_an_author_who_may_create_pods() -> None:
    cluster = Cluster(may_create_pods=True)
    assert validating(review({"create": False, "name": "ci-deployer"}), Policy(access=cluster))["response"]["allowed"]


def test_an_update_is_checked_again_for_the_user_making_it() -> None:
    cluster = Cluster(may_create_pods=False)
    req = review({"create": False, "name": "ci-deployer"}, "UPDATE")
    req["request"]["oldObject"] = {**req["request"]["object"], "spec": {"image": "ghcr.io/example/server:0.9",
                                   "serviceAccount": {"create": False, "name": "ci-deployer"}}}  # fmt: skip
    assert validating(req, Policy(access=cluster))["response"]["allowed"] is False


def test_no_name_means_the_account_named_like_the_server() -> None:
    cluster = Cluster(may_create_pods=False, accounts={"srv": MCPOP_ACCOUNT})
    message = validating(review({"create": False}), Policy(access=cluster))["response"]["status"]["message"]
    assert "'srv'" in message and "created by mcpop" in message


def test_an_account_mcpop_created_is_refused_even_to_an_author_who_may_create_pods() -> None:
    cluster = Cluster(may_create_pods=True, accounts={"nightly-restore": MCPOP_ACCOUNT})
    out = validating(review({"create": False, "name": "nightly-restore"}), Policy(access=cluster))["response"]
    assert out["allowed"] is False
    assert "created by mcpop for its own use (backup-restore)" in out["status"]["message"]


def test_the_operators_own_account_is_refused() -> None:
    cluster = Cluster(may_create_pods=True)
    policy = Policy(access=cluster, operator_account=(NS, "mcp-operator"))
    out = validating(review({"create": False, "name": "mcp-operator"}), policy)["response"]
    assert out["allowed"] is False and "operator's own ServiceAccount" in out["status"]["message"]


def test_an_account_that_cannot_be_read_is_refused_not_admitted_on_faith() -> None:
    cluster = Cluster(may_create_pods=True, fail=ApiError(403, "Forbidden"))
    out = validating(review({"create": False, "name": "x"}), Policy(access=cluster))["response"]
    assert out["allowed"] is False and "could not read ServiceAccount 'x': 403 Forbidden" in out["status"]["message"]


@pytest.mark.parametrize("sa", [None, {"create": True}, {"create": True, "name": "custom"}])
def test_an_account_mcpop_creates_for_the_server_asks_nothing(sa: dict[str, Any] | None) -> None:
    cluster = Cluster(may_create_pods=False)
    assert validating(review(sa), Policy(access=cluster))["response"]["allowed"]
    assert cluster.asked == []


def test_an_unlabelled_existing_account_is_not_refused_by_the_account_rules() -> None:
    assert account_refusal(NS, "ci-deployer", {"metadata": {"name": "ci-deployer"}}, ("mcp-system", "op")) is None
    assert account_refusal(NS, "ci-deployer", None, None) is None


def _token(claims: dict[str, Any]) -> str:
    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def test_the_operators_account_is_read_from_its_pods_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(_token({"sub": "system:serviceaccount:mcp-system:mcp-operator"}))
    assert operator_account(token) == ("mcp-system", "mcp-operator")
    assert account_of_token(_token({"sub": "alice"})) is None
    assert account_of_token("not a token") is None
    assert operator_account(tmp_path / "absent") is None


def test_an_oversized_token_file_is_not_read(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(_token({"sub": "system:serviceaccount:a:b", "pad": "x" * 70_000}))
    assert operator_account(token) is None


def test_the_service_account_setting_names_the_operators_account() -> None:
    assert OperatorSettings(service_account="mcp-system/mcp-operator").operator_account() == (
        "mcp-system", "mcp-operator")  # fmt: skip
    with pytest.raises(ValueError, match="is not NAMESPACE/NAME"):
        OperatorSettings(service_account="mcp-operator")
