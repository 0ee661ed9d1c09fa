"""How a verification verdict lands in MCPServer status (pure): the Verified condition, status.mcp kept
from the last handshake that worked, and when a server is not worth a handshake yet."""

from __future__ import annotations

from typing import Any

import pytest
from changesets import changes
from test_operator_status import conds, dep

from mcpop.apply.manager import new_verifier
from mcpop.apply.mcpserver.status import Outcome, compute_status, rollout, tools_changed, verify_wait
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
