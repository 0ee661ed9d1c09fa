"""The static bridge (tools/bridge: mcpop-bridge) for real: a stdio MCP server (the official Python SDK's
MCPServer, formerly FastMCP) spawned by the bridge, and the official SDK client speaking streamable HTTP.

The SDK lives in its own venv (`tools/mcp-sdk python`), never in the environment where `mcp` is ours.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_process import bridge_process, http_get, post_initialize, running_bridge, tool
from ports import free_port

from mcpop.render.normalize import BRIDGE_VERSION

ROOT = Path(__file__).resolve().parents[2]

SERVER = '''
from mcp.server.mcpserver import MCPServer

app = MCPServer("echo-stdio")


@app.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return f"echo: {text}"


if __name__ == "__main__":
    app.run("stdio")
'''

CLIENT = """
import asyncio, json, sys
from mcp import Client


async def main() -> None:
    async with Client(sys.argv[1], mode=sys.argv[2]) as c:
        tools = await c.list_tools()
        result = await c.call_tool("echo", {"text": "hello"})
        print(json.dumps({"server": c.server_info.name, "tools": [t.name for t in tools.tools],
                          "text": [x.text for x in result.content], "protocol": c.protocol_version}))


asyncio.run(main())
"""


def _tool(what: str) -> Path:
    return Path(tool("bridge", what))


_free_port, _get = free_port, http_get


@pytest.fixture
def bridge(bridge_bin: Path, sdk_python: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The bridge on loopback serving the stdio server; yields its base URL (extra flags: indirect params)."""
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    flags = list(getattr(request, "param", []))
    with running_bridge(bridge_bin, [str(sdk_python), str(script)], *flags, log=tmp_path / "bridge.log") as base:
        yield base


def _client(sdk_python: Path, tmp_path: Path, url: str, mode: str = "auto") -> dict[str, object]:
    """The SDK client (`mode`: auto, the SDK's default, probes server/discover and falls back to initialize;
    legacy: initialize only) lists the tools and calls echo."""
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    out = subprocess.run([str(sdk_python), str(script), url, mode], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_sdk_client_initializes_lists_tools_and_calls_one_through_the_bridge(
    bridge: str, sdk_python: Path, tmp_path: Path
) -> None:
    got = _client(sdk_python, tmp_path, bridge + "/mcp", mode="legacy")
    assert got == {"server": "echo-stdio", "tools": ["echo"], "text": ["echo: hello"], "protocol": "2025-11-25"}


def test_two_clients_one_after_the_other_each_get_a_working_session(
    bridge: str, sdk_python: Path, tmp_path: Path
) -> None:
    for _ in range(2):
        assert _client(sdk_python, tmp_path, bridge + "/mcp", mode="legacy")["text"] == ["echo: hello"]


def test_the_health_endpoint_answers_ok_without_starting_the_server(bridge: str) -> None:
    assert _get(bridge + "/healthz") == (200, "ok\n")


def test_an_unknown_session_is_404(bridge: str) -> None:
    req = urllib.request.Request(bridge + "/mcp", method="GET", headers={"Mcp-Session-Id": "nope"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 404


def test_copy_to_puts_a_runnable_copy_in_the_directory(bridge_bin: Path, tmp_path: Path) -> None:
    subprocess.run([str(bridge_bin), "--copy-to", str(tmp_path)], check=True, timeout=30)
    out = subprocess.run([str(tmp_path / "mcpop-bridge"), "--version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == BRIDGE_VERSION


def test_the_binary_is_static(bridge_bin: Path) -> None:
    head = bridge_bin.read_bytes()[:4096]
    assert head[:4] == b"\x7fELF" and b"ld-linux" not in head  # no program interpreter: no libc needed


def test_the_bridge_image_is_an_oci_archive_holding_only_the_binary() -> None:
    import tarfile

    archive = _tool("image")
    with tarfile.open(archive) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        (desc,) = index["manifests"]
        manifest = json.loads(tar.extractfile("blobs/sha256/" + desc["digest"][7:]).read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile("blobs/sha256/" + manifest["config"]["digest"][7:]).read())  # type: ignore[union-attr]
    from mcpop.render.normalize import BRIDGE_IMAGE

    assert desc["annotations"]["io.containerd.image.name"] == BRIDGE_IMAGE  # what the renderer emits
    assert config["config"]["User"] == "65532:65532" and len(manifest["layers"]) == 1


def test_a_command_that_cannot_start_is_a_502_and_logged(bridge_bin: Path, tmp_path: Path) -> None:
    log = tmp_path / "bridge.log"
    with running_bridge(bridge_bin, [str(tmp_path / "no-such-server")], log=log) as base:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}).encode()
        req = urllib.request.Request(base + "/mcp", data=body, method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 502
    assert "no-such-server" in log.read_text()


def test_registry_to_pod_to_mcp_the_rendered_pod_serves_the_images_entrypoint(
    bridge_bin: Path, sdk_python: Path, tmp_path: Path
) -> None:
    """End to end without a node: an image whose entrypoint is a stdio MCP server is pushed to a local
    registry; the operator's resolver reads its config; the renderer's pod is then run as the kubelet would
    (the init container's `--copy-to`, then the server container's command and args) and the SDK client
    talks to it."""
    from mcpop.api.mcpserver import MCPServer
    from mcpop.api.serverjson import ServerJSON
    from mcpop.render import RenderOptions, render
    from mcpop.sources.oci import ImageConfigResolver
    from tests.ocikit import crane_path, layer_tar, local_registry, push

    crane = crane_path()
    assert crane is not None
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    (tmp_path / "registry").mkdir()
    with local_registry(crane, tmp_path / "registry") as host:
        ref = push(crane, layer_tar(tmp_path / "layer.tar"), f"{host}/example/echo-stdio:1",
                   entrypoint=f"{sdk_python},{script}", platform="linux/amd64")  # fmt: skip
        config = ImageConfigResolver().resolve(ref)
    entry = ServerJSON.model_validate({"name": "io.github.example/echo", "description": "d", "version": "1",
                                       "packages": [{"registryType": "oci", "identifier": ref,
                                                     "transport": {"type": "stdio"}}]})  # fmt: skip
    server = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                       "metadata": {"name": "echo", "namespace": "ns"},
                                       "spec": {"registry": {"name": "io.github.example/echo"}}})  # fmt: skip
    out = render(server, entry, RenderOptions(image_configs={ref: config}))
    pod = next(o for o in out.objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (main,) = pod["containers"]
    shared = tmp_path / "mcpop-bridge"  # the emptyDir
    shared.mkdir()
    subprocess.run([str(bridge_bin), *init["command"][1:-1], str(shared)], check=True, timeout=30)
    args = [a.replace("$$", "$") for a in main["args"]]
    port = _free_port()
    args[args.index("--port") + 1] = str(port)
    command = str(shared / Path(main["command"][0]).name)
    with (tmp_path / "pod.log").open("w") as log:
        proc = subprocess.Popen([command, "--host", "127.0.0.1", *args], stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        probe = main["readinessProbe"]["httpGet"]["path"]
        for _ in range(100):
            try:
                if _get(base + probe)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        path = args[args.index("--path") + 1]
        got = _client(sdk_python, tmp_path, base + path)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert got == {"server": "echo-stdio", "tools": ["echo"], "text": ["echo: hello"], "protocol": "2026-07-28"}


def _initialize_with(base: str, headers: dict[str, str]) -> int:
    """A raw initialize POST with more headers (Host, Origin); the HTTP status."""
    return post_initialize(base + "/mcp", headers=headers)[0]


@pytest.mark.parametrize("bridge", [["--allowed-hosts", "echo,echo.tools.svc.cluster.local"]], indirect=True)
def test_a_foreign_host_or_origin_is_refused_with_403_and_the_service_names_and_localhost_are_served(
    bridge: str, tmp_path: Path
) -> None:
    """DNS-rebinding protection: a page of evil.example.org whose name resolves to the bridge gets 403, before
    any server process starts; the names clients really use keep working."""
    port = bridge.rsplit(":", 1)[1]
    assert _initialize_with(bridge, {"Host": f"evil.example.org:{port}"}) == 403
    assert _initialize_with(bridge, {"Origin": "http://evil.example.org"}) == 403
    assert "started" not in (tmp_path / "bridge.log").read_text()
    assert 'Host "evil.example.org:' in (tmp_path / "bridge.log").read_text()
    assert _initialize_with(bridge, {"Host": f"echo.tools.svc.cluster.local:{port}"}) == 200
    assert _initialize_with(bridge, {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}) == 200
    assert _initialize_with(bridge, {}) == 200  # Host 127.0.0.1:port
    assert _get(bridge + "/healthz")[0] == 200


def _initialize(base: str) -> str:
    """A raw initialize POST; the session id the bridge answers with."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
    ).encode()
    req = urllib.request.Request(base + "/mcp", data=body, method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()
        return str(resp.headers["Mcp-Session-Id"])


@pytest.mark.parametrize("bridge", [["--session-timeout", "1s"]], indirect=True)
def test_a_session_left_without_delete_is_closed_after_the_idle_timeout(bridge: str, tmp_path: Path) -> None:
    session = _initialize(bridge)
    req = urllib.request.Request(bridge + "/mcp", method="DELETE", headers={"Mcp-Session-Id": session})
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 404
    assert "idle for more than 1s" in (tmp_path / "bridge.log").read_text()


def test_a_live_session_is_kept(bridge: str) -> None:
    session = _initialize(bridge)
    req = urllib.request.Request(bridge + "/mcp", method="DELETE", headers={"Mcp-Session-Id": session})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 204


STATEFUL = '''
import json, os, sys, time
from mcp.server.mcpserver import MCPServer

app = MCPServer("stateful-stdio")
calls = 0


@app.tool()
def whoami() -> str:
    """This process's pid, how many times this tool ran in it, and its first argument."""
    global calls
    calls += 1
    return json.dumps({"pid": os.getpid(), "count": calls, "arg": sys.argv[1:2]})


@app.tool()
def wait(seconds: float) -> str:
    """Return after `seconds`."""
    time.sleep(seconds)
    return "waited"


@app.tool()
def crash() -> str:
    """Exit the process at once, mid-call."""
    os._exit(3)


if __name__ == "__main__":
    app.run("stdio")
'''

SESSIONS = """
import asyncio, json, sys
from mcp import Client


async def whoami(c):
    return json.loads((await c.call_tool("whoami", {})).content[0].text)


async def main() -> None:
    url, what, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    if what == "two-sessions":
        async with Client(url, mode=mode) as a:
            first = [await whoami(a), await whoami(a), await whoami(a)]
            protocol = [a.protocol_version]
        async with Client(url, mode=mode) as b:
            second = [await whoami(b)]
            protocol.append(b.protocol_version)
        print(json.dumps({"first": first, "second": second, "protocol": protocol}))
    elif what == "crash":
        async with Client(url, mode=mode) as c:
            try:
                await asyncio.wait_for(c.call_tool("crash", {}), 20)
                print(json.dumps({"error": None}))
            except Exception as exc:
                print(json.dumps({"error": type(exc).__name__ + ": " + str(exc)}))
    else:
        async with Client(url, mode=mode) as c:
            print(json.dumps(await whoami(c)))


asyncio.run(main())
"""


@pytest.fixture
def stateful(bridge_bin: Path, sdk_python: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The bridge serving STATEFUL (extra flags and the server's args: indirect params); yields its base URL."""
    script = tmp_path / "stateful.py"
    script.write_text(STATEFUL)
    flags, server_args = getattr(request, "param", ([], []))
    env = {"PATH": "/usr/bin:/bin", "SECRET_TOKEN": "s3cr3t-value"}
    with running_bridge(bridge_bin, [str(sdk_python), str(script), *server_args], *flags,
                        log=tmp_path / "bridge.log", env=env) as base:  # fmt: skip
        yield base


def _sessions(sdk_python: Path, tmp_path: Path, url: str, what: str, mode: str = "legacy") -> dict[str, object]:
    """SESSIONS doing `what` (`mode` legacy: sessions, one server process each; auto: stateless 2026-07-28
    requests, all on the bridge's shared server process)."""
    script = tmp_path / "sessions.py"
    script.write_text(SESSIONS)
    out = subprocess.run([str(sdk_python), str(script), url, what, mode], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_one_server_process_serves_a_whole_session_and_a_new_session_gets_a_new_one(
    stateful: str, sdk_python: Path, tmp_path: Path
) -> None:
    got = _sessions(sdk_python, tmp_path, stateful + "/mcp", "two-sessions")
    first, second = got["first"], got["second"]
    assert isinstance(first, list) and isinstance(second, list)
    assert [c["count"] for c in first] == [1, 2, 3]  # state kept between calls of one session
    assert len({c["pid"] for c in first}) == 1
    assert second[0]["count"] == 1 and second[0]["pid"] != first[0]["pid"]


def test_sigterm_lets_a_call_in_flight_finish_then_the_bridge_exits(
    bridge_bin: Path, sdk_python: Path, tmp_path: Path
) -> None:
    """What the kubelet does to a pod being replaced: the call under way still gets its answer (Go's
    ListenAndServe returns as soon as Shutdown begins; the bridge used to exit right then)."""
    script = tmp_path / "stateful.py"
    script.write_text(STATEFUL)
    with bridge_process(bridge_bin, [str(sdk_python), str(script)], log=tmp_path / "bridge.log",
                        env={"PATH": "/usr/bin:/bin"}) as (base, proc):  # fmt: skip
        status, headers, _ = post_initialize(base + "/mcp")
        assert status == 200
        session = headers["mcp-session-id"]
        assert _post(base + "/mcp", session, {"jsonrpc": "2.0", "method": "notifications/initialized"})[0] == 202
        answer: list[tuple[int, str] | BaseException] = []

        def call() -> None:
            wait = {"name": "wait", "arguments": {"seconds": 2}}
            try:
                answer.append(_post(base + "/mcp", session, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                             "params": wait}))  # fmt: skip
            except OSError as exc:
                answer.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.5)  # the call is in the server process (it takes 2 s)
        proc.send_signal(signal.SIGTERM)
        caller.join(timeout=30)
        assert proc.wait(timeout=30) == 0
    assert len(answer) == 1 and not isinstance(answer[0], BaseException), answer
    assert answer[0][0] == 200 and '"text":"waited"' in answer[0][1]
    assert (tmp_path / "bridge.log").read_text().rstrip().endswith("stopped")


def _post(url: str, session: str, message: dict[str, object]) -> tuple[int, str]:
    """One JSON-RPC message POSTed in `session`: the status and the body."""
    req = urllib.request.Request(url, data=json.dumps(message).encode(), method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
        "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read().decode()


def test_a_server_process_that_crashes_mid_call_ends_its_session_with_a_json_rpc_error(
    stateful: str, sdk_python: Path, tmp_path: Path
) -> None:
    got = _sessions(sdk_python, tmp_path, stateful + "/mcp", "crash")
    assert "mcpop-bridge: the server process exited" in str(got["error"])
    assert "session" in (tmp_path / "bridge.log").read_text()


@pytest.mark.parametrize("stateful", [(["--max-sessions", "1"], [])], indirect=True)
def test_a_session_beyond_max_sessions_is_refused_with_503_and_a_json_rpc_error(stateful: str) -> None:
    assert post_initialize(stateful + "/mcp")[0] == 200
    status, _, body = post_initialize(stateful + "/mcp")
    assert status == 503
    error = json.loads(body)
    assert error["id"] == 1 and "too many sessions (--max-sessions 1)" in error["error"]["message"]


@pytest.mark.parametrize("stateful", [(["--max-sessions", "1"], [])], indirect=True)
def test_readyz_stays_200_at_the_session_cap_so_a_full_pod_keeps_its_live_sessions(stateful: str) -> None:
    assert post_initialize(stateful + "/mcp")[0] == 200
    assert _get(stateful + "/readyz") == (200, "ok\n")


def test_readyz_is_503_when_the_command_cannot_be_found(bridge_bin: Path, tmp_path: Path) -> None:
    with running_bridge(bridge_bin, [str(tmp_path / "no-such-server")]) as base:
        status, body = _get(base + "/readyz")
        assert status == 503 and "not found" in body
        assert _get(base + "/healthz")[0] == 200


def test_a_server_that_never_answers_is_killed_after_start_timeout_with_a_json_rpc_error(
    bridge_bin: Path, tmp_path: Path
) -> None:
    with running_bridge(bridge_bin, ["sleep", "60"], "--start-timeout", "1s", log=tmp_path / "bridge.log") as base:
        started = time.monotonic()
        _, _, body = post_initialize(base + "/mcp")
        assert time.monotonic() - started < 10
        assert "did not answer within --start-timeout 1s" in body


@pytest.mark.parametrize("stateful", [(["--expand-env"], ["$(SECRET_TOKEN)"])], indirect=True)
def test_expand_env_passes_a_secret_from_the_environment_into_the_args_and_never_logs_it(
    stateful: str, sdk_python: Path, tmp_path: Path
) -> None:
    got = _sessions(sdk_python, tmp_path, stateful + "/mcp", "whoami")
    assert got["arg"] == ["s3cr3t-value"]
    assert "s3cr3t-value" not in (tmp_path / "bridge.log").read_text()


@pytest.mark.parametrize("stateful", [([], ["$(SECRET_TOKEN)"])], indirect=True)
def test_without_expand_env_the_args_pass_unchanged(stateful: str, sdk_python: Path, tmp_path: Path) -> None:
    assert _sessions(sdk_python, tmp_path, stateful + "/mcp", "whoami")["arg"] == ["$(SECRET_TOKEN)"]


def test_a_server_that_exits_before_answering_names_its_last_stderr_lines_to_the_client(
    bridge_bin: Path, tmp_path: Path
) -> None:
    """The MCPServer's Verified condition then says why the server cannot start, not only the pod's logs."""
    failing = "echo npm warn starting >&2; printf 'npm error 404 Not Found: @acme/server\\033[0m\\n' >&2; exit 1"
    with running_bridge(bridge_bin, ["sh", "-c", failing]) as base:
        _, _, body = post_initialize(base + "/mcp")
    assert "the server process exited before it answered" in body
    assert "its last stderr lines: npm warn starting | npm error 404 Not Found: @acme/server[0m" in body


def test_the_verified_probe_reports_the_stderr_of_a_server_that_cannot_start(
    bridge_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_servers import sdk_path

    from mcpop.apply.verify.probe import probe

    monkeypatch.setenv("MCPOP_MCP_SDK_PATH", sdk_path())
    with running_bridge(bridge_bin, ["sh", "-c", "echo 'Error: DATABASE_URL is not set' >&2; exit 2"]) as base:
        verdict = probe(base + "/mcp", "streamable-http", 15.0)
    assert verdict.status == "False"
    assert "Error: DATABASE_URL is not set" in verdict.message, verdict.message


# --- stateless clients (protocol 2026-07-28): no session, one shared server process per bridge ---

MODERN = "2026-07-28"


def _stateless_post(base: str, method: str, params: dict[str, object] | None = None,
                    rpc_id: object = 1) -> tuple[int, dict[str, str], dict[str, object]]:  # fmt: skip
    """One stateless request as the SDK client sends it (no Mcp-Session-Id; the version in the
    Mcp-Protocol-Version header and in params._meta): its status, headers (lower-case) and JSON body."""
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    body = json.dumps({"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": {**(params or {}), "_meta": meta}})
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "Mcp-Protocol-Version": MODERN, "Mcp-Method": method}  # fmt: skip
    req = urllib.request.Request(base + "/mcp", data=body.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, json.loads(exc.read())


def test_server_discover_is_answered_through_the_bridge_with_2026_07_28_and_no_session(
    bridge: str, sdk_python: Path, tmp_path: Path
) -> None:
    status, headers, body = _stateless_post(bridge, "server/discover", rpc_id="probe-1")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert "mcp-session-id" not in headers
    result = body["result"]
    assert body["id"] == "probe-1" and isinstance(result, dict) and MODERN in result["supportedVersions"]
    assert _client(sdk_python, tmp_path, bridge + "/mcp")["protocol"] == MODERN  # the SDK's mode="auto"


def test_a_stateless_client_lists_tools_and_calls_one_through_the_shared_server_process(
    bridge: str, sdk_python: Path, tmp_path: Path
) -> None:
    got = _client(sdk_python, tmp_path, bridge + "/mcp")
    assert got == {"server": "echo-stdio", "tools": ["echo"], "text": ["echo: hello"], "protocol": MODERN}
    log = (tmp_path / "bridge.log").read_text()
    assert "stateless: started" in log and not re.search(r"session \w+: started", log)


def test_stateless_clients_share_one_server_process_while_session_clients_each_get_their_own(
    stateful: str, sdk_python: Path, tmp_path: Path
) -> None:
    shared = _sessions(sdk_python, tmp_path, stateful + "/mcp", "two-sessions", mode="auto")
    sessions = _sessions(sdk_python, tmp_path, stateful + "/mcp", "two-sessions", mode="legacy")
    assert shared["protocol"] == [MODERN, MODERN] and sessions["protocol"] == ["2025-11-25", "2025-11-25"]
    calls = [*shared["first"], *shared["second"]]  # type: ignore[misc]
    assert [c["count"] for c in calls] == [1, 2, 3, 4] and len({c["pid"] for c in calls}) == 1
    first, second = sessions["first"][0], sessions["second"][0]  # type: ignore[index]
    assert len({first["pid"], second["pid"], calls[0]["pid"]}) == 3 and second["count"] == 1


def test_a_legacy_server_makes_the_auto_client_fall_back_to_initialize_and_a_session(
    bridge_bin: Path, sdk_python: Path, tmp_path: Path
) -> None:
    """An SDK 1.x server answers server/discover with its own JSON-RPC error; the SDK client in mode="auto"
    then initializes, which opens a session with a server process of its own."""
    import sys

    from mcp_servers import _SERVER, sdk_path

    legacy = [sys.executable, "-c", _SERVER, sdk_path(legacy=True), "stdio", "0", "2", "legacy-stdio", "legacy", "t"]
    script = tmp_path / "client.py"
    script.write_text(CLIENT.replace('c.call_tool("echo", {"text": "hello"})', 'c.call_tool("tool_001", {"x": 41})'))
    log = tmp_path / "bridge.log"
    with running_bridge(bridge_bin, legacy, log=log) as base:
        out = subprocess.run([str(sdk_python), str(script), base + "/mcp", "auto"], capture_output=True, text=True,
                             timeout=90)  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["protocol"] == "2025-11-25" and got["text"] == ["42"]
    text = log.read_text()
    assert "stateless: started" in text and re.search(r"session \w+: started", text)
    assert "answered server/discover with an error" in text  # its shared process ended: no place held


@pytest.mark.parametrize("stateful", [(["--max-stateless-inflight", "1"], [])], indirect=True)
def test_a_stateless_request_beyond_max_stateless_inflight_is_refused_with_503_and_a_json_rpc_error(
    stateful: str,
) -> None:
    import threading

    assert _stateless_post(stateful, "tools/list")[0] == 200  # the shared server process runs
    slow: list[tuple[int, dict[str, str], dict[str, object]]] = []

    def call_slowly() -> None:  # until it is the one in flight (a poll below may hold the place a moment)
        for _ in range(100):
            slow[:] = [_stateless_post(stateful, "tools/call", {"name": "wait", "arguments": {"seconds": 3}})]
            if slow[0][0] != 503:
                return
            time.sleep(0.05)

    waiting = threading.Thread(target=call_slowly)
    waiting.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            status, _, body = _stateless_post(stateful, "tools/list", rpc_id=9)
            if status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        waiting.join(30)
    assert status == 503 and body["id"] == 9
    assert "--max-stateless-inflight 1" in body["error"]["message"]  # type: ignore[index]
    assert slow and slow[0][0] == 200  # the one in flight was answered


def test_the_shared_server_process_crashing_mid_call_is_answered_with_a_json_rpc_error(
    stateful: str, sdk_python: Path, tmp_path: Path
) -> None:
    got = _sessions(sdk_python, tmp_path, stateful + "/mcp", "crash", mode=MODERN)
    assert "mcpop-bridge: the shared server process exited" in str(got["error"])
    assert _sessions(sdk_python, tmp_path, stateful + "/mcp", "whoami", mode=MODERN)["count"] == 1  # a new one


def test_a_request_without_a_session_or_a_2026_protocol_version_still_takes_a_throwaway_session(
    bridge: str, tmp_path: Path
) -> None:
    """As before the stateless path: a server process of its own, which refuses a call before initialize, then
    closed; the shared one never starts."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    req = urllib.request.Request(bridge + "/mcp", data=body, method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": "2025-11-25"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"  # the SDK's session transport answered
        assert '"error"' in resp.read().decode()
    log = (tmp_path / "bridge.log").read_text()
    assert re.search(r"session \w+: closed", log) and "stateless: started" not in log


def test_the_verified_probe_records_protocol_2026_07_28_for_a_stdio_server_behind_the_bridge(
    bridge: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_servers import sdk_path

    from mcpop.apply.verify.probe import probe

    monkeypatch.setenv("MCPOP_MCP_SDK_PATH", sdk_path())
    verdict = probe(bridge + "/mcp", "streamable-http", 30.0)
    assert verdict.status == "True", verdict.message
    assert verdict.handshake is not None and verdict.handshake["protocolVersion"] == MODERN
    assert verdict.handshake["serverInfo"]["name"] == "echo-stdio"
