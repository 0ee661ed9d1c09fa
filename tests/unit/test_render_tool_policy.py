"""`spec.tools` rendered (issue 21 §2): the tool policy becomes mcpop-bridge's --allow-/--deny- flags for tools,
prompts and resources, before the bridge's `--`; a server no bridge fronts is refused, naming the field; the globs
are bounded and may not hold what would break the bridge's comma-separated flags; CEL rules are type-checked at
admission as the bridge checks them, and need a token to read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_render_proxy import NO_BRIDGE

from mcpop.api.cel import MAX_RULE_LENGTH, MAX_RULES, rule_error
from mcpop.api.mcpserver import MAX_GLOBS, MAX_TOOL_NAMES, MCPServer
from mcpop.render import RenderError, render

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def server(tools: dict[str, Any] | None, **spec: Any) -> MCPServer:
    base = {"command": ["npx", "srv"], "transport": {"type": "stdio"}, **spec}
    if tools is not None:
        base["tools"] = tools
    return MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                     "metadata": {"name": "files", "namespace": "tools"}, "spec": base})  # fmt: skip


def bridge_flags(srv: MCPServer) -> list[str]:
    dep = render(srv).get("Deployment")
    assert dep is not None
    args: list[str] = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    return args[: args.index("--")]


def test_allow_and_deny_lists_become_the_bridges_flags() -> None:
    policy = {"allow": ["read_*", "search_*"], "deny": ["read_secret"], "prompts": {"deny": ["admin"]},
              "resources": {"allow": ["file:///srv/*"]}}  # fmt: skip
    flags = bridge_flags(server(policy))
    at = flags.index("--allow-tools")
    assert flags[at:] == ["--allow-tools", "read_*,search_*", "--deny-tools", "read_secret",
                          "--deny-prompts", "admin", "--allow-resources", "file:///srv/*"]  # fmt: skip


def test_no_policy_and_an_empty_one_add_no_flag() -> None:
    for tools in (None, {}, {"prompts": {}}):
        assert not any(f.startswith(("--allow-", "--deny-")) for f in bridge_flags(server(tools)))


def test_a_policy_on_a_server_no_bridge_fronts_is_refused_naming_the_field() -> None:
    srv = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                    "metadata": {"name": "web", "namespace": "tools"},
                                    "spec": {**NO_BRIDGE,
                                             "tools": {"deny": ["delete_*"]}}})  # fmt: skip
    with pytest.raises(RenderError) as exc:
        render(srv)
    assert exc.value.field == "spec.tools" and "gateway.enabled: false" in exc.value.message


@pytest.mark.parametrize("glob", ["read,delete", "read file", "", "x" * 129, "read\n"])
def test_a_tool_glob_that_would_break_the_bridges_flags_is_refused(glob: str) -> None:
    with pytest.raises(ValidationError) as exc:
        server({"allow": [glob]})
    assert "tools.allow.0" in str(exc.value)


def test_a_resource_glob_may_hold_a_uri_but_no_comma_or_space() -> None:
    assert server({"resources": {"deny": ["file:///etc/*", "postgres://db/{table}"]}})
    with pytest.raises(ValidationError):
        server({"resources": {"deny": ["file:///a,file:///b"]}})


def test_more_globs_than_the_bound_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        server({"deny": [f"t{i}" for i in range(MAX_GLOBS + 1)]})
    assert str(MAX_GLOBS) in str(exc.value)


def test_audit_writes_the_bridges_json_lines_to_stdout_and_arguments_only_when_asked() -> None:
    assert bridge_flags(server(None, audit={}))[-2:] == ["--audit-log", "-"]
    flags = bridge_flags(server(None, audit={"includeArguments": True}))
    assert flags[-3:] == ["--audit-log", "-", "--audit-arguments"]


def test_audit_on_a_server_no_bridge_fronts_is_refused_naming_the_field() -> None:
    srv = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                    "metadata": {"name": "web", "namespace": "tools"},
                                    "spec": {**NO_BRIDGE,
                                             "audit": {}}})  # fmt: skip
    with pytest.raises(RenderError) as exc:
        render(srv)
    assert exc.value.field == "spec.audit"


READ, STAT = "a" * 64, "b" * 64


def test_an_approved_inventory_becomes_one_flag_per_tool_sorted_by_name() -> None:
    flags = bridge_flags(
        server({"approved": [{"name": "stat", "sha256": STAT}, {"name": "read_file", "sha256": READ}]})
    )
    at = flags.index("--approved-tools-only")
    assert flags[at:] == ["--approved-tools-only", f"--approved-tool=read_file=sha256:{READ}",
                          f"--approved-tool=stat=sha256:{STAT}"]  # fmt: skip


def test_an_empty_approved_inventory_exposes_no_tool() -> None:
    flags = bridge_flags(server({"approved": []}))
    assert "--approved-tools-only" in flags and not any(f.startswith("--approved-tool=") for f in flags)


def test_an_approved_inventory_on_a_server_no_bridge_fronts_is_refused() -> None:
    srv = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                    "metadata": {"name": "web", "namespace": "tools"},
                                    "spec": {**NO_BRIDGE,
                                             "tools": {"approved": [{"name": "x", "sha256": READ}]}}})  # fmt: skip
    with pytest.raises(RenderError) as exc:
        render(srv)
    assert exc.value.field == "spec.tools"


@pytest.mark.parametrize(
    ("entry", "where"),
    [({"name": "read_file", "sha256": "A" * 64}, "sha256"),
     ({"name": "read_file", "sha256": "sha256:" + READ}, "sha256"),
     ({"name": "read_*", "sha256": READ}, "name"), ({"name": "x" * 129, "sha256": READ}, "name")],
)  # fmt: skip
def test_an_approved_entry_needs_a_tool_name_and_a_bare_sha256(entry: dict[str, str], where: str) -> None:
    with pytest.raises(ValidationError) as exc:
        server({"approved": [entry]})
    assert f"tools.approved.0.{where}" in str(exc.value)


def test_an_approved_inventory_is_bounded_and_names_each_tool_once() -> None:
    too_many = [{"name": f"t{i}", "sha256": READ} for i in range(MAX_TOOL_NAMES + 1)]
    with pytest.raises(ValidationError, match=r"tools\.approved"):
        server({"approved": too_many})
    with pytest.raises(ValidationError, match=r"approved\[1\].name: duplicate name 'x'"):
        server({"approved": [{"name": "x", "sha256": READ}, {"name": "x", "sha256": STAT}]})


JWT = {"jwt": {"issuer": "https://idp.example.com"}}
WRITERS = {"tools": ["write_*"], "when": '"mcp-writers" in claims.groups'}


def test_each_cel_rule_becomes_one_tool_rule_flag_holding_its_json() -> None:
    flags = bridge_flags(server({"rules": [WRITERS, {"tools": ["admin_*", "x?"], "when": 'claims.sub == "root"'}]},
                                auth=JWT))  # fmt: skip
    rules = [f.removeprefix("--tool-rule=") for f in flags if f.startswith("--tool-rule=")]
    assert [json.loads(r) for r in rules] == [WRITERS, {"tools": ["admin_*", "x?"], "when": 'claims.sub == "root"'}]


def test_cel_rules_without_a_token_to_read_are_refused_naming_the_field() -> None:
    with pytest.raises(RenderError) as exc:
        render(server({"rules": [WRITERS]}))
    assert exc.value.field == "spec.tools.rules" and "spec.auth.jwt" in exc.value.message


@pytest.mark.parametrize(
    ("when", "why"),
    [("1 +", "Syntax error"), ("nope == 1", "undeclared reference to 'nope'"),
     ("tool == 1", "no matching overload for '_==_' applied to '(string, int)'"),
     ("claims.sub", "the expression is a dyn, not a bool"), ("x" * (MAX_RULE_LENGTH + 1), "at most 1024")],
)  # fmt: skip
def test_a_rule_that_does_not_compile_to_a_bool_is_refused_naming_the_rule_and_why(when: str, why: str) -> None:
    with pytest.raises(ValidationError) as exc:
        server({"rules": [WRITERS, {"tools": ["x"], "when": when}]}, auth=JWT)
    assert "tools.rules.1.when" in str(exc.value) and why in str(exc.value)


def test_rules_are_bounded_in_number_and_need_a_glob() -> None:
    with pytest.raises(ValidationError, match=r"tools\.rules"):
        server({"rules": [WRITERS] * (MAX_RULES + 1)}, auth=JWT)
    with pytest.raises(ValidationError, match=r"tools\.rules\.0\.tools"):
        server({"rules": [{"tools": [], "when": "true"}]}, auth=JWT)


def test_the_operator_accepts_and_refuses_the_same_expressions_as_the_bridge() -> None:
    """tests/fixtures/cel-rules.json is read by the bridge's own test too (rules_test.go)."""
    for case in json.loads((FIXTURES / "cel-rules.json").read_text()):
        assert (rule_error(case["when"]) is None) == case["valid"], case
