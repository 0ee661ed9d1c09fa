"""How a verification verdict lands in MCPServer status (pure): the Verified condition, status.mcp kept
from the last handshake that worked, and when a server is not worth a handshake yet."""

from __future__ import annotations

from typing import Any

import pytest
from changesets import changes
from test_operator_status import conds, dep

from mcpop.apply.manager import new_verifier
from mcpop.apply.mcpserver.status import (
    STOP_MARGIN,
    Outcome,
    compute_status,
    rollout,
    tools_changed,
    verify_wait,
)
from mcpop.apply.settings import OperatorSettings, SettingsError
from mcpop.cli.operator import settings_from

HANDSHAKE = {"protocolVersion": "2026-07-28", "serverInfo": {"name": "demo", "version": "1"},
             "capabilities": {"tools": {}}, "tools": {"count": 1, "names": ["echo"]}}  # fmt: skip


def outcome(**kw: Any) -> Outcome:
    return Outcome(generation=2, changes=changes(3), deployment=dep(), **kw)


def test_a_successful_handshake_is_verified_true_with_status_mcp() -> None:
    st = compute_status(outcome(verified=("True", "Handshake", "ok"), mcp=HANDSHAKE), None, now="T")
    assert conds(st)["Verified"] == ("True", "Handshake")
    assert st["mcp"] == HANDSHAKE
    verified = next(c for c in st["conditions"] if c["type"] == "Verified")
    assert verified["observedGeneration"] == 2


def test_verified_comes_after_the_rollout_conditions_and_before_kstatus() -> None:
    st = compute_status(outcome(verified=("True", "Handshake", "ok"), mcp=HANDSHAKE), None, now="T")
    types = [c["type"] for c in st["conditions"]]
    assert types.index("Progressing") < types.index("Verified") < types.index("Reconciling")


def test_a_failed_handshake_keeps_the_last_status_mcp_that_worked() -> None:
    old = compute_status(outcome(verified=("True", "Handshake", "ok"), mcp=HANDSHAKE), None, now="T1")
    st = compute_status(outcome(verified=("False", "Timeout", "u: no MCP handshake within 10s")), old, now="T2")
    assert conds(st)["Verified"] == ("False", "Timeout")
    assert st["mcp"] == HANDSHAKE


def test_a_failed_handshake_does_not_change_ready() -> None:
    st = compute_status(outcome(verified=("False", "ConnectionRefused", "u: cannot connect")), None, now="T")
    assert conds(st)["Ready"] == ("True", "Ready")


def test_without_verification_there_is_no_verified_condition() -> None:
    st = compute_status(outcome(), None, now="T")
    assert "Verified" not in conds(st)
    assert "mcp" not in st


def waits(deployment: dict[str, Any] | None) -> tuple[str, str]:
    wait = verify_wait(rollout(deployment))
    assert wait is not None
    return wait[0], wait[1]


def test_a_server_still_rolling_out_waits_for_verification() -> None:
    assert waits(dep(ready=0, available=False)) == ("Unknown", "WaitingForRollout")
    assert waits(dep(updated=0)) == ("Unknown", "WaitingForRollout")
    assert waits(None) == ("Unknown", "WaitingForRollout")


def test_a_server_scaled_to_zero_has_nothing_to_verify() -> None:
    assert waits(dep(want=0, ready=0)) == ("Unknown", "ScaledToZero")


def test_a_rolled_out_available_server_is_worth_a_handshake() -> None:
    assert verify_wait(rollout(dep())) is None


def replaced(
    terminating: int, completed: str | None = "2026-12-07T18:00:00Z", grace: int | None = None
) -> dict[str, Any]:
    """dep() just rolled out: `terminating` pods it replaced still stopping, the rollout completed at `completed`."""
    d = dep()
    d["status"]["terminatingReplicas"] = terminating
    if completed is not None:
        d["status"]["conditions"].append({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                          "lastUpdateTime": completed})  # fmt: skip
    if grace is not None:
        d["spec"]["template"] = {"spec": {"terminationGracePeriodSeconds": grace}}
    return d


COMPLETED = 1796666400.0  # 2026-12-07T18:00:00Z


def test_a_handshake_waits_until_the_pods_the_rollout_replaced_have_stopped() -> None:
    """The Service may still lead a handshake to a replaced pod for a moment: refused, never answered, cut, or
    answered by the release being replaced (its tools, not the new ones)."""
    wait = verify_wait(rollout(replaced(1)), now=COMPLETED + 1)
    assert wait == ("Unknown", "WaitingForRollout", "verified once the pods the rollout replaced have stopped")
    assert verify_wait(rollout(replaced(0)), now=COMPLETED + 1) is None


def test_a_replaced_pod_that_never_stops_holds_the_handshake_only_for_its_grace_period() -> None:
    """A pod on a lost node stays terminating: past its termination grace period (30 s unless the template says)
    and STOP_MARGIN, the server is verified anyway."""
    assert verify_wait(rollout(replaced(1)), now=COMPLETED + 34) is not None
    assert verify_wait(rollout(replaced(1)), now=COMPLETED + 36) is None
    assert rollout(replaced(1, grace=60)).stopped_by == COMPLETED + 60 + STOP_MARGIN
    assert verify_wait(rollout(replaced(1, grace=60)), now=COMPLETED + 36) is not None


def test_without_terminating_replicas_or_the_rollouts_completion_nothing_is_waited_for() -> None:
    """Clusters before Kubernetes 1.35 (or with DeploymentReplicaSetTerminatingReplicas off) do not report the
    field; a Deployment whose Progressing condition does not say when it completed is not held either."""
    assert verify_wait(rollout(dep()), now=COMPLETED + 1) is None
    assert verify_wait(rollout(replaced(1, completed=None)), now=COMPLETED + 1) is None


def test_the_verify_flags_default_to_5m_4_and_10s() -> None:
    ver = new_verifier(OperatorSettings())
    assert (ver.interval, ver.concurrency, ver.timeout, ver.enabled) == (300.0, 4, 30.0, True)
    ver.shutdown()
    off = new_verifier(OperatorSettings(verify_concurrency=0, verify_interval="0"))
    assert (off.enabled, off.interval) == (False, 0.0)
    off.shutdown()


def test_bad_verify_flags_name_the_flag() -> None:
    with pytest.raises(SettingsError, match="--verify-timeout: must be more than 0"):
        settings_from(["--verify-timeout", "0"])
    with pytest.raises(SettingsError, match="--verify-concurrency"):
        settings_from(["--verify-concurrency", "65"])
    with pytest.raises(SettingsError, match="--verify-interval"):
        settings_from(["--verify-interval", "soon"])


def with_tools(count: int, digest: str, **definitions: str) -> dict[str, Any]:
    defs = [{"name": n, "digest": d} for n, d in sorted(definitions.items())]
    return {"mcp": {"tools": {"count": count, "names": sorted(definitions), "digest": digest,
                              "definitions": defs}}}  # fmt: skip


def test_tools_changed_names_what_was_added_removed_and_changed() -> None:
    old = with_tools(2, "sha256:1", echo="sha256:a", time="sha256:b")
    new = with_tools(2, "sha256:2", echo="sha256:a2", fetch="sha256:c")
    assert (
        tools_changed(old, new) == "the server's tools changed (2 -> 2 tools): added fetch; removed time; changed echo"
    )


def test_the_same_tools_or_a_first_handshake_is_no_tools_change() -> None:
    tools = with_tools(1, "sha256:1", echo="sha256:a")
    assert tools_changed(tools, tools) is None
    assert tools_changed({}, tools) is None
    assert tools_changed({"mcp": {"tools": {"count": 1, "names": ["echo"]}}}, tools) is None  # before digests


def test_a_change_beyond_the_listed_tools_is_still_reported() -> None:
    message = tools_changed(with_tools(60, "sha256:1", a="sha256:a"), with_tools(61, "sha256:2", a="sha256:a"))
    assert message == "the server's tools changed (60 -> 61 tools): beyond the first tools status lists"
