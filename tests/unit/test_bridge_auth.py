"""mcpop-bridge as an OAuth resource server, for real: an identity provider made in the test (an RSA key
generated here, its JWKS and OIDC discovery document served from loopback, tokens signed with the key), the
bridge on loopback with --jwt-issuer in front of a stdio server made with the official Python SDK, and the
SDK's client with a Bearer token.

Covers: a valid token works end to end (initialize, tools/list, a call); no token → 401 whose
WWW-Authenticate names the RFC 9728 metadata; the metadata document; a bad token → 401 invalid_token; a
missing scope → 403 insufficient_scope; the JWKS from a file instead of discovery; the token reaches neither
the server process nor the bridge's log; a session answers only the subject that opened it; the operator's
probe (no token yet) reports AuthRequired; a CEL rule (--tool-rule) shows and lets a caller with the group call
its tool, and hides and refuses it for one without.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from bridge_process import http_get as _get
from bridge_process import post_initialize, running_bridge
from idp import Issuer
from ports import free_port

SERVER = '''
import json, os
from mcp.server.mcpserver import MCPServer

app = MCPServer("echo-stdio")


@app.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return f"echo: {text}"


@app.tool()
def environment() -> str:
    """The server process's environment, as JSON."""
    return json.dumps(dict(os.environ))


if __name__ == "__main__":
    app.run("stdio")
'''

CLIENT = """
import asyncio, json, os, sys
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main() -> None:
    headers = {"Authorization": "Bearer " + os.environ["TOKEN"]}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(sys.argv[1], http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as c:
                init = await c.initialize()
                tools = await c.list_tools()
                result = await c.call_tool("echo", {"text": "hello"})
                try:
                    env = (await c.call_tool("environment", {})).content[0].text
                except Exception as exc:  # a tool the policy refuses
                    env = "refused: " + str(exc)
                print(json.dumps({"server": init.server_info.name, "tools": sorted(t.name for t in tools.tools),
                                  "text": [x.text for x in result.content], "env": env}))


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    """The issuer, serving /.well-known/openid-configuration and /jwks on loopback."""
    idp = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            docs = {
                "/.well-known/openid-configuration": {"issuer": idp.url, "jwks_uri": idp.url + "/jwks"},
                "/jwks": idp.jwks(),
            }
            doc = docs.get(self.path)
            body = json.dumps(doc).encode()
            self.send_response(200 if doc else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    idp.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        httpd.shutdown()


class Bridge:
    def __init__(self, base: str, log: Path) -> None:
        self.base, self.log = base, log
        self.resource = base + "/mcp"


def _start(bridge_bin: Path, sdk_python: Path, tmp_path: Path, flags: list[str]) -> Iterator[Bridge]:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    log = tmp_path / "bridge.log"
    with running_bridge(bridge_bin, [str(sdk_python), str(script)], "--resource-url", resource, *flags, log=log,
                        port=port) as base:  # fmt: skip
        yield Bridge(base, log)


@pytest.fixture
def discovering(bridge_bin: Path, sdk_python: Path, tmp_path: Path, issuer: Issuer) -> Iterator[Bridge]:
    """The bridge finding the issuer's keys by OIDC discovery."""
    yield from _start(bridge_bin, sdk_python, tmp_path, ["--jwt-issuer", issuer.url, "--required-scopes", "mcp:tools"])


def _client(sdk_python: Path, tmp_path: Path, url: str, token: str) -> dict[str, Any]:
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    env = {**os.environ, "TOKEN": token}
    out = subprocess.run([str(sdk_python), str(script), url], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_sdk_client_with_a_valid_token_works_end_to_end_and_the_token_reaches_no_process_or_log(
    discovering: Bridge, issuer: Issuer, sdk_python: Path, tmp_path: Path
) -> None:
    token = issuer.token(discovering.resource)
    got = _client(sdk_python, tmp_path, discovering.resource, token)
    assert (got["server"], got["tools"], got["text"]) == ("echo-stdio", ["echo", "environment"], ["echo: hello"])
    env = json.loads(got["env"])
    assert token not in json.dumps(env) and not any("authorization" in k.lower() for k in env)
    log = discovering.log.read_text()
    assert "started" in log and token not in log and token.split(".")[2] not in log


def test_no_token_is_a_401_naming_the_metadata_which_is_served(discovering: Bridge, issuer: Issuer) -> None:
    status, headers, _ = post_initialize(discovering.resource)
    meta = discovering.base + "/.well-known/oauth-protected-resource/mcp"
    assert status == 401
    assert headers["www-authenticate"] == f'Bearer resource_metadata="{meta}", scope="mcp:tools"'
    for url in (meta, discovering.base + "/.well-known/oauth-protected-resource"):
        status, body = _get(url)
        assert status == 200
        assert json.loads(body) == {
            "resource": discovering.resource, "authorization_servers": [issuer.url],
            "scopes_supported": ["mcp:tools"], "bearer_methods_supported": ["header"],
        }  # fmt: skip
    assert "started" not in discovering.log.read_text()  # no server process for a refused request


@pytest.mark.parametrize(
    "case",
    ["wrong audience", "wrong issuer", "expired", "another key", "alg none"],
)
def test_a_bad_token_is_a_401_invalid_token(discovering: Bridge, issuer: Issuer, case: str) -> None:
    aud = discovering.resource
    token = {
        "wrong audience": lambda: issuer.token("http://127.0.0.1:1/other"),
        "wrong issuer": lambda: issuer.token(aud, iss="https://evil.example.com"),
        "expired": lambda: issuer.token(aud, exp=int(time.time()) - 600),
        "another key": lambda: Issuer(issuer.kid).token(aud, iss=issuer.url),
        "alg none": lambda: issuer.unsigned(aud),
    }[case]()
    status, headers, _ = post_initialize(discovering.resource, token)
    assert status == 401
    assert 'error="invalid_token"' in headers["www-authenticate"]
    assert "resource_metadata=" in headers["www-authenticate"]
    assert token.split(".")[1] not in discovering.log.read_text()


def test_a_token_without_the_scope_is_a_403_insufficient_scope(discovering: Bridge, issuer: Issuer) -> None:
    status, headers, _ = post_initialize(discovering.resource, issuer.token(discovering.resource, scope="openid"))
    assert status == 403
    assert 'error="insufficient_scope"' in headers["www-authenticate"]
    assert 'scope="mcp:tools"' in headers["www-authenticate"]


def test_the_jwks_from_a_file_instead_of_discovery(
    bridge_bin: Path, sdk_python: Path, tmp_path: Path, issuer: Issuer
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(issuer.jwks()))
    offline = "https://idp.invalid"  # never fetched: the keys come from the file
    for bridge in _start(bridge_bin, sdk_python, tmp_path, ["--jwt-issuer", offline, "--jwks-file", str(jwks)]):
        token = issuer.token(bridge.resource, iss=offline)
        assert _client(sdk_python, tmp_path, bridge.resource, token)["text"] == ["echo: hello"]
        loopback_token = issuer.token(bridge.resource)  # the loopback issuer's, not this bridge's
        assert post_initialize(bridge.resource, loopback_token)[0] == 401


def test_the_operators_probe_reports_auth_required_not_a_failure(
    discovering: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_servers import sdk_path

    from mcpop.apply.verify.probe import probe

    monkeypatch.setenv("MCPOP_MCP_SDK_PATH", sdk_path())
    v = probe(discovering.resource, "streamable-http", 10.0)
    assert (v.status, v.reason) == ("Unknown", "AuthRequired"), v.message
    assert "HTTP 401" in v.message


def test_a_session_answers_only_the_subject_whose_token_opened_it(discovering: Bridge, issuer: Issuer) -> None:
    alice, bob = issuer.token(discovering.resource), issuer.token(discovering.resource, sub="bob")
    status, headers, _ = post_initialize(discovering.resource, alice)
    session = headers.get("mcp-session-id")
    assert status == 200 and session

    def ping(token: str) -> int:
        body = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Mcp-Session-Id": session,
            "MCP-Protocol-Version": "2025-06-18",
            "Authorization": f"Bearer {token}",
        }
        req = urllib.request.Request(discovering.resource, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    assert ping(bob) == 404  # another caller's session is not found, as if it did not exist
    assert ping(alice) == 200


def test_a_stateless_2026_request_needs_a_token_as_a_sessions_does(discovering: Bridge, issuer: Issuer) -> None:
    """server/discover without a session (protocol 2026-07-28) reaches the shared server process only with a
    valid token: without one it is a 401 before any process starts."""
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "server/discover", "params": {"_meta": meta}}).encode()

    def discover(token: str | None) -> tuple[int, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}  # fmt: skip
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(discovering.resource, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    assert discover(None)[0] == 401
    assert "started" not in discovering.log.read_text()
    status, answer = discover(issuer.token(discovering.resource))
    assert status == 200 and "2026-07-28" in json.loads(answer)["result"]["supportedVersions"]
    assert "stateless: started" in discovering.log.read_text()


WRITERS_RULE = json.dumps({"tools": ["environment"], "when": '"mcp-writers" in claims.groups'})


@pytest.fixture
def ruled(bridge_bin: Path, sdk_python: Path, tmp_path: Path, issuer: Issuer) -> Iterator[Bridge]:
    """The bridge with a CEL rule: `environment` only for callers in the mcp-writers group."""
    yield from _start(bridge_bin, sdk_python, tmp_path, ["--jwt-issuer", issuer.url, "--tool-rule", WRITERS_RULE])


def test_a_cel_rule_lets_a_caller_with_the_group_list_and_call_the_tool(
    ruled: Bridge, issuer: Issuer, sdk_python: Path, tmp_path: Path
) -> None:
    got = _client(sdk_python, tmp_path, ruled.resource, issuer.token(ruled.resource, groups=["mcp-writers"]))
    assert got["tools"] == ["echo", "environment"] and not got["env"].startswith("refused")


def test_a_cel_rule_hides_the_tool_from_a_caller_without_the_group_and_refuses_its_call_naming_the_rule(
    ruled: Bridge, issuer: Issuer, sdk_python: Path, tmp_path: Path
) -> None:
    for token in (issuer.token(ruled.resource, groups=["mcp-readers"]), issuer.token(ruled.resource)):
        got = _client(sdk_python, tmp_path, ruled.resource, token)
        assert got["tools"] == ["echo"]
        assert got["env"].startswith('refused: mcpop-bridge: tool "environment" is not allowed to this caller')
        assert "--tool-rule 0" in got["env"]
