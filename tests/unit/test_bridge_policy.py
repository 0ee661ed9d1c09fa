"""mcpop-bridge's tool policy (issue 21 §2: --allow-tools/--deny-tools, -prompts, -resources) and audit (§3:
--audit-log) for real: the official SDK client through the bridge to an SDK stdio server. What the policy hides
is absent from the lists, a call of it gets a JSON-RPC error naming the policy while the server process never sees
it, and every request is one audit line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from bridge_process import http_get, running_bridge
from ports import free_port

SERVER = '''
import sys
from pathlib import Path
from mcp.server.mcpserver import MCPServer

app = MCPServer("policy-stdio")
seen = Path(sys.argv[1])


def note(what: str) -> None:
    with seen.open("a") as f:
        f.write(what + "\\n")


@app.tool()
def read_file(path: str) -> str:
    """Read a file."""
    note("read_file")
    return "contents of " + path


@app.tool()
def read_secret(name: str) -> str:
    """Read a secret."""
    note("read_secret")
    return "secret " + name


@app.tool()
def delete_file(path: str) -> str:
    """Delete a file."""
    note("delete_file")
    return "deleted " + path


@app.prompt()
def greet(name: str) -> str:
    """Greet someone."""
    return "Hello " + name


@app.prompt()
def admin() -> str:
    """An admin prompt."""
    note("admin")
    return "you are root"


@app.resource("file:///srv/notes")
def notes() -> str:
    return "notes"


@app.resource("file:///etc/passwd")
def passwd() -> str:
    note("passwd")
    return "root:x:0:0"


if __name__ == "__main__":
    app.run("stdio")
'''

CLIENT = """
import asyncio, json, sys
from mcp import Client


async def refused(coro):
    try:
        await coro
    except Exception as exc:
        return str(exc)
    return None


async def main() -> None:
    async with Client(sys.argv[1], mode=sys.argv[2]) as c:
        out = {
            "tools": sorted(t.name for t in (await c.list_tools()).tools),
            "prompts": sorted(p.name for p in (await c.list_prompts()).prompts),
            "resources": sorted(str(r.uri) for r in (await c.list_resources()).resources),
            "read": (await c.call_tool("read_file", {"path": "/srv/a"})).content[0].text,
            "delete": await refused(c.call_tool("delete_file", {"path": "/srv/a"})),
            "secret": await refused(c.call_tool("read_secret", {"name": "db"})),
            "admin": await refused(c.get_prompt("admin")),
            "passwd": await refused(c.read_resource("file:///etc/passwd")),
            "greet": (await c.get_prompt("greet", {"name": "x"})).messages[0].content.text,
        }
    print(json.dumps(out))


asyncio.run(main())
"""

POLICY = ("--allow-tools", "read_*", "--deny-tools", "read_secret", "--deny-prompts", "admin",
          "--deny-resources", "file:///etc/*")  # fmt: skip
AUDIT = ("--audit-log", "AUDIT", "--audit-arguments")


def _through_the_policy(bridge_bin: Path, sdk_python: Path, tmp: Path, mode: str) -> dict[str, Any]:
    """The SDK client (`mode`: legacy, a session; auto, stateless 2026-07-28 requests on the bridge's shared
    server process) through the bridge with POLICY; what it saw, and what the server process saw."""
    (tmp / "server.py").write_text(SERVER)
    (tmp / "client.py").write_text(CLIENT)
    seen = tmp / "seen.txt"
    seen.touch()
    audit = [str(tmp / "audit.jsonl") if a == "AUDIT" else a for a in AUDIT]
    metrics_port = free_port()
    with running_bridge(bridge_bin, [str(sdk_python), str(tmp / "server.py"), str(seen)], *POLICY, *audit,
                        "--metrics-port", str(metrics_port), log=tmp / "bridge.log") as base:  # fmt: skip
        out = subprocess.run([str(sdk_python), str(tmp / "client.py"), base + "/mcp", mode], capture_output=True,
                             text=True, timeout=120)  # fmt: skip
        status, metrics = http_get(f"http://127.0.0.1:{metrics_port}/metrics")
        on_mcp_port = http_get(base + "/metrics")[0]
    assert out.returncode == 0, out.stderr[-3000:]
    assert status == 200 and on_mcp_port == 404
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    report["server saw"] = seen.read_text().split()
    report["audit"] = [json.loads(line) for line in (tmp / "audit.jsonl").read_text().splitlines()]
    report["metrics"] = metrics
    return report


@pytest.fixture(scope="module")
def session(bridge_bin: Path, sdk_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One SDK client session (initialize) through the bridge with POLICY."""
    return _through_the_policy(bridge_bin, sdk_python, tmp_path_factory.mktemp("policy"), "legacy")


@pytest.fixture(scope="module")
def stateless(bridge_bin: Path, sdk_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The SDK client in mode="auto" (stateless 2026-07-28 requests) through the bridge with POLICY."""
    return _through_the_policy(bridge_bin, sdk_python, tmp_path_factory.mktemp("policy-stateless"), "auto")


def test_tools_list_shows_only_the_tools_the_policy_allows(session: dict[str, Any]) -> None:
    assert session["tools"] == ["read_file"]


def test_an_allowed_tool_is_called_as_usual(session: dict[str, Any]) -> None:
    assert session["read"] == "contents of /srv/a"


def test_a_tool_outside_the_allow_list_is_refused_naming_the_policy(session: dict[str, Any]) -> None:
    assert 'tool "delete_file" is not allowed by this server\'s policy (--allow-tools)' in session["delete"]


def test_a_denied_tool_is_refused_even_when_an_allow_glob_matches_it(session: dict[str, Any]) -> None:
    assert 'tool "read_secret" is not allowed by this server\'s policy (--deny-tools)' in session["secret"]


def test_prompts_and_resources_get_allow_and_deny_too(session: dict[str, Any]) -> None:
    assert session["prompts"] == ["greet"] and session["greet"] == "Hello x"
    assert session["resources"] == ["file:///srv/notes"]
    assert "--deny-prompts" in session["admin"] and "--deny-resources" in session["passwd"]


def test_the_server_process_never_sees_a_refused_call(session: dict[str, Any]) -> None:
    assert session["server saw"] == ["read_file"]


def test_every_request_is_one_audit_line_with_the_policys_decision(session: dict[str, Any]) -> None:
    lines = {(a["method"], a.get("target", "")): a for a in session["audit"]}
    assert lines[("tools/call", "read_file")]["decision"] == "allow"
    assert lines[("tools/call", "read_file")]["outcome"] == "ok"
    assert lines[("tools/call", "read_file")]["arguments"] == {"path": "/srv/a"}  # --audit-arguments
    denied = lines[("tools/call", "delete_file")]
    assert (denied["decision"], denied["rule"], denied["outcome"]) == ("deny", "allow read_*", "refused")
    assert lines[("resources/read", "file:///etc/passwd")]["rule"] == "deny file:///etc/*"
    assert {"initialize", "tools/list", "prompts/list", "resources/list"} <= {a["method"] for a in session["audit"]}
    for line in session["audit"]:
        assert len(line["session"]) == 8 and line["latencyMs"] >= 0 and line["time"].endswith("Z")
        assert "subject" not in line  # no --jwt-issuer: no caller to name


def test_stateless_requests_get_the_same_policy_and_audit_as_a_session(stateless: dict[str, Any]) -> None:
    assert stateless["tools"] == ["read_file"] and stateless["read"] == "contents of /srv/a"
    assert "(--allow-tools)" in stateless["delete"] and "(--deny-tools)" in stateless["secret"]
    assert stateless["prompts"] == ["greet"] and "--deny-resources" in stateless["passwd"]
    assert stateless["server saw"] == ["read_file"]  # a refused call never reached the shared server process
    lines = {(a["method"], a.get("target", "")): a for a in stateless["audit"]}
    assert "server/discover" in {a["method"] for a in stateless["audit"]}
    assert lines[("tools/call", "delete_file")]["decision"] == "deny"
    assert all(a["session"] == "" for a in stateless["audit"])  # no session: one shared server process


def test_the_metrics_port_counts_each_request_by_tool_decision_and_outcome(session: dict[str, Any]) -> None:
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
               for line in session["metrics"].splitlines() if line and not line.startswith("#")}  # fmt: skip
    req = "mcpop_bridge_requests_total"
    assert samples[f'{req}{{method="tools/call",tool="read_file",decision="allow",outcome="ok"}}'] == 1
    # refused calls of tools no list showed this client are not labelled with the name it sent
    assert samples[f'{req}{{method="tools/call",tool="other",decision="deny",outcome="refused"}}'] == 2
    assert samples[f'{req}{{method="tools/list",tool="",decision="allow",outcome="ok"}}'] == 1
    assert samples['mcpop_bridge_request_duration_seconds_count{method="tools/call"}'] == 3
    assert samples[f'{req}{{method="initialize",tool="",decision="allow",outcome="ok"}}'] == 1
    assert samples["mcpop_bridge_sessions"] == 0  # the client ended its session (DELETE) before they were read
