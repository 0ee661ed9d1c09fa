"""Real MCP servers on loopback for the verification tests: the official SDK's MCPServer (FastMCP) run as a
subprocess from the SDK's `--target` directory (tools/mcp-sdk), and plain HTTP servers that answer
wrongly (HTTP 500, garbage, never). Import from tests: `sys.path` has tests/ (conftest's rootdir).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import select
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ports import free_port

ROOT = Path(__file__).resolve().parents[1]

_SERVER = r"""
import sys
sdk, transport, port, tools, name, legacy = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5], sys.argv[6] == "legacy"
described = sys.argv[7]
if legacy:  # SDK 1.x, with its own pydantic and httpx first on the path: a process of its own
    sys.path.insert(0, sdk)
    from mcp.server.fastmcp import FastMCP
    m = FastMCP(name, host="127.0.0.1", port=port)
else:
    sys.path.append(sdk)
    from mcp.server.mcpserver import MCPServer
    m = MCPServer(name, version="1.2.3")
def make(i):
    def tool(x: int = 0) -> int:
        return x + i
    return tool
for i in range(tools):
    m.add_tool(make(i), name=f"tool_{i:03d}", description=described.format(i=i))
m.run(transport) if legacy else m.run(transport, host="127.0.0.1", port=port)
"""


def sdk_path(legacy: bool = False) -> str:
    """The SDK's directory (installed into the cache by tools/mcp-sdk when missing); `legacy`: the 1.x
    release the tests run as a server that predates server/discover."""
    cmd = [sys.executable, str(ROOT / "tools" / "mcp-sdk"), "path", *(["--legacy"] if legacy else [])]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"tools/mcp-sdk path failed: {out.stderr}")
    return out.stdout.strip()


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the MCP server exited {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class SdkServer:
    """One official-SDK MCP server subprocess."""

    transport: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + ("/sse" if self.transport == "sse" else "/mcp")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sdk_server(transport: str, tools: int = 2, name: str = "demo", port: int | None = None,
                     legacy: bool = False, description: str = "tool {i}") -> SdkServer:  # fmt: skip
    """Start an SDK server (`streamable-http` or `sse`) with `tools` tools and wait until it listens
    (`legacy`: an SDK 1.x FastMCP server, which knows initialize but not server/discover; `description`:
    each tool's description, `{i}` its number)."""
    port = port or free_port()
    cmd = [sys.executable, "-c", _SERVER, sdk_path(legacy), transport, str(port), str(tools), name,
           "legacy" if legacy else "current", description]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd="/")
    srv = SdkServer(transport, port, proc)
    try:
        wait_port(port, proc=proc)
    except Exception:
        srv.stop()
        raise
    return srv


@contextlib.contextmanager
def sdk_server(transport: str, tools: int = 2, name: str = "demo", legacy: bool = False,
               description: str = "tool {i}") -> Iterator[SdkServer]:  # fmt: skip
    srv = start_sdk_server(transport, tools, name, legacy=legacy, description=description)
    try:
        yield srv
    finally:
        srv.stop()


@dataclass
class BadServer:
    """A plain HTTP server that answers every request wrongly: `500`, `garbage` (200 with a non-MCP body)
    or `hang` (never answers). Counts connections open at once (`max_open`)."""

    mode: str
    port: int = 0
    open_now: int = 0
    max_open: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def bad_server(mode: str) -> Iterator[BadServer]:
    state = BadServer(mode)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            with state.lock:
                state.requests += 1
                state.open_now += 1
                state.max_open = max(state.max_open, state.open_now)
            try:
                n = int(self.headers.get("content-length") or 0)
                if n:
                    self.rfile.read(n)
                if mode == "500":
                    self._send(500, b"internal error", "text/plain")
                elif mode == "401":  # mcpop-bridge with spec.auth, asked without a token
                    meta = f"http://{self.headers.get('host')}/.well-known/oauth-protected-resource/mcp"
                    self.send_response(401)
                    self.send_header("www-authenticate", f'Bearer resource_metadata="{meta}"')
                    self.send_header("content-length", "0")
                    self.end_headers()
                elif mode == "garbage":
                    self._send(200, b"hello, I am not an MCP server", "application/json")
                else:  # hold the request until the client gives up (closes the connection)
                    while not state.stop_event.is_set():
                        readable, _, _ = select.select([self.connection], [], [], 0.05)
                        if readable and not self.connection.recv(1, socket.MSG_PEEK):
                            break
            finally:
                with state.lock:
                    state.open_now -= 1

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    httpd = Server(("127.0.0.1", 0), Handler)
    state.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop_event.set()
        httpd.shutdown()
        httpd.server_close()
