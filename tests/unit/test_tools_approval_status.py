"""ToolsChanged (issue 21 §2, pure): while spec.tools.approved is set, the tools the last handshake listed
(mcpop-bridge's withheld ones included) are compared with it; the difference names each tool."""

from __future__ import annotations

from typing import Any

from changesets import changes
from test_operator_status import conds, dep

from mcpop.apply.mcpserver.status import Outcome, compute_status
from mcpop.apply.verify.probe import WITHHELD_META, withheld

READ, STAT, WRITE, CHANGED = ("sha256:" + c * 64 for c in "abcd")


def handshake(listed: dict[str, str], count: int | None = None) -> dict[str, Any]:
    return {"protocolVersion": "2025-11-25", "tools": {
        "count": len(listed) if count is None else count, "names": sorted(listed), "digest": READ,
        "definitions": [{"name": n, "digest": listed[n]} for n in sorted(listed)]}}  # fmt: skip


def status(approved: dict[str, str] | None, mcp: dict[str, Any] | None, old: Any = None) -> dict[str, Any]:
    out = Outcome(generation=3, changes=changes(3), deployment=dep(), approved=approved, mcp=mcp,
                  verified=("True", "Handshake", "ok") if mcp else None)  # fmt: skip
    return compute_status(out, old, now="T")


def message(st: dict[str, Any]) -> str:
    return str(next(c for c in st["conditions"] if c["type"] == "ToolsChanged")["message"])


def test_tools_that_match_the_approved_inventory_are_tools_changed_false() -> None:
    st = status({"read_file": READ, "stat": STAT}, handshake({"read_file": READ, "stat": STAT}))
    assert conds(st)["ToolsChanged"] == ("False", "Approved")
    assert "the 2 tools the server lists" in message(st)


def test_a_changed_a_new_and_a_removed_tool_make_tools_changed_true_naming_each() -> None:
    st = status({"read_file": READ, "stat": STAT}, handshake({"read_file": CHANGED, "write_file": WRITE}))
    assert conds(st)["ToolsChanged"] == ("True", "NotApproved")
    assert "(changed read_file; added write_file; removed stat)" in message(st)
    assert "mcp tools approve" in message(st)


def test_no_approved_inventory_means_no_tools_changed_condition() -> None:
    assert "ToolsChanged" not in conds(status(None, handshake({"read_file": READ})))


def test_before_any_handshake_tools_changed_is_unknown() -> None:
    assert conds(status({"read_file": READ}, None))["ToolsChanged"] == ("Unknown", "NotVerified")


def test_an_inventory_beyond_what_status_records_is_unknown_not_approved() -> None:
    st = status({"read_file": READ}, handshake({"read_file": READ}, count=500))
    assert conds(st)["ToolsChanged"] == ("Unknown", "TooManyTools")


def test_the_last_handshake_that_worked_is_compared_when_the_latest_failed() -> None:
    old = status({"read_file": READ}, handshake({"read_file": CHANGED}))
    out = Outcome(generation=3, changes=changes(3), deployment=dep(), approved={"read_file": READ},
                  verified=("False", "HandshakeFailed", "down"))  # fmt: skip
    assert conds(compute_status(out, old, now="T"))["ToolsChanged"] == ("True", "NotApproved")


def test_tools_changed_comes_after_verified() -> None:
    types = [c["type"] for c in status({"read_file": READ}, handshake({"read_file": READ}))["conditions"]]
    assert types.index("Verified") < types.index("ToolsChanged") < types.index("Reconciling")


def test_the_bridges_withheld_list_is_read_and_malformed_entries_are_ignored() -> None:
    meta = {WITHHELD_META: [
        {"name": "read_file", "digest": CHANGED}, {"name": "bad name", "digest": READ},
        {"name": "x", "digest": "sha256:short"}, {"name": 7, "digest": READ}, "junk", {"name": "y"}]}  # fmt: skip
    assert withheld(meta) == {"read_file": CHANGED}
    assert withheld(None) == {} and withheld({WITHHELD_META: "nope"}) == {}


def test_the_bridges_withheld_list_is_bounded() -> None:
    meta = {WITHHELD_META: [{"name": f"t{i}", "digest": READ} for i in range(100_000)]}
    assert len(withheld(meta)) == 128 * 8
