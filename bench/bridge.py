"""mcpop-bridge benchmark: prints figures, asserts nothing.

On the host, as plain processes (no container runtime), in one run:

1. tools/call latency (p50/p99) of one stdio MCP server (the official Python SDK's MCPServer, one `whoami`
   tool returning its pid and an in-process counter), spoken to by the official SDK client
   a. directly over stdio (the client spawns the server), and
   b. through mcpop-bridge over streamable HTTP on loopback (one session: one server process), and as a
      stateless 2026-07-28 client (the SDK's auto mode: server/discover, then the bridge's one shared process),
   c. the same with --jwt-issuer: an RS256 Bearer token (a key made here, its JWKS as a file) validated on
      every request, and again with the tool policy and the audit on as well (--allow-tools, --deny-tools,
      --audit-log to a file), and again with an approved inventory (--approved-tool, its digest listed here)
      and the metrics port on too, and
   d. through supergateway in its default stateless streamable-HTTP mode, the path mcpop-bridge replaced
      (npm `supergateway`, pinned, installed into the cache for this benchmark only): a server process per
      request, so fewer calls (--supergateway-calls),
   each after a warm-up, each call timed in the client.
2. Idle sessions: K sessions opened on a fresh bridge (initialize + notifications/initialized, raw HTTP)
   and left idle: the bridge's RSS before and after (its own cost per session) and the server processes'
   RSS (one process per session, the real cost of a stateful session). The server here is TINY, a stdio
   MCP responder in plain python (no SDK), so that many sessions fit in memory; the SDK server's own RSS
   per process is printed from part 1's bridge.

Run: python bench/bridge.py [--calls 500] [--supergateway-calls 50] [--sessions 64]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from ports import free_port  # noqa: E402

from mcpop.apply.verify.probe import tool_digest  # noqa: E402  (the operator's digest, as the bridge computes it)

#: the stateless gateway mcpop-bridge replaced (issue 20), for comparison only
SUPERGATEWAY = "supergateway@4.0.0"

SERVER = '''
import json, os
from mcp.server.mcpserver import MCPServer

app = MCPServer("bench-stdio")
calls = 0


@app.tool()
def whoami() -> str:
    """This process's pid and how many times this tool ran in it."""
    global calls
    calls += 1
    return json.dumps({"pid": os.getpid(), "count": calls})


if __name__ == "__main__":
    app.run("stdio")
'''

TINY = """
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("method") == "initialize":
        result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
                  "serverInfo": {"name": "tiny", "version": "1"}}
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)
"""

CLIENT = """
import asyncio, json, os, sys, time
import httpx2
from mcp import Client, ClientSession
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


async def timed(c, calls):
    for _ in range(min(20, calls)):  # warm-up
        await c.call_tool("whoami", {})
    times, pids = [], set()
    for _ in range(calls):
        t0 = time.perf_counter()
        r = await c.call_tool("whoami", {})
        times.append(time.perf_counter() - t0)
        pids.add(json.loads(r.content[0].text)["pid"])
    return times, pids


async def main() -> None:
    target, calls = sys.argv[1], int(sys.argv[2])
    if os.environ.get("LIST"):  # the tools' definitions as the operator reads them (for their digests), over stdio
        async with Client(StdioServerParameters(command=sys.executable, args=[target]), mode="legacy") as c:
            tools = (await c.list_tools()).tools
        print(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]))
        return
    if os.environ.get("TOKEN"):  # a Bearer token on every request (mcpop-bridge with --jwt-issuer)
        headers = {"Authorization": "Bearer " + os.environ["TOKEN"]}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with streamable_http_client(target, http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as c:
                    await c.initialize()
                    times, pids = await timed(c, calls)
    else:
        server = StdioServerParameters(command=sys.executable, args=[target]) if target.endswith(".py") else target
        # legacy: initialize and a session (one bridge process per session); auto: the SDK probes server/discover
        # and speaks the stateless 2026-07-28 protocol (the bridge's one shared process)
        async with Client(server, mode=os.environ.get("MODE", "legacy")) as c:
            times, pids = await timed(c, calls)
    print(json.dumps({"times": times, "pids": len(pids)}))


asyncio.run(main())
"""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issuer(tmp: str, audience: str) -> tuple[list[str], str]:
    """A local issuer: the bridge's flags (its JWKS as a file) and an RS256 token for `audience`."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_numbers()
    num = lambda n: b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))  # noqa: E731
    jwks = Path(tmp, "jwks.json")
    jwks.write_text(json.dumps({"keys": [{"kty": "RSA", "kid": "bench", "alg": "RS256", "n": num(pub.n),
                                          "e": num(pub.e)}]}))  # fmt: skip
    iss, now = "https://bench.invalid", int(time.time())
    claims = {"iss": iss, "aud": audience, "sub": "bench", "exp": now + 3600, "scope": "mcp:tools"}
    head = b64(json.dumps({"alg": "RS256", "kid": "bench"}).encode())
    signing = f"{head}.{b64(json.dumps(claims).encode())}".encode()
    token = f"{signing.decode()}.{b64(key.sign(signing, padding.PKCS1v15(), hashes.SHA256()))}"
    flags = ["--jwt-issuer", iss, "--jwks-file", str(jwks), "--jwt-audience", audience,
             "--required-scopes", "mcp:tools"]  # fmt: skip
    return flags, token


def tool(*args: str) -> str:
    out = subprocess.run([str(ROOT / "tools" / args[0]), *args[1:]], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Every child of `pid` (a Go program forks from any of its threads: each task lists its own)."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return sorted({int(c) for task in tasks for c in (task / "children").read_text().split()})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def post(url: str, body: dict[str, object], session: str | None = None) -> str | None:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if session:
        headers["Mcp-Session-Id"] = session
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()
        return resp.headers.get("Mcp-Session-Id")


def supergateway() -> Path:
    """SUPERGATEWAY's script, npm-installed once into the cache."""
    cache = Path(os.environ.get("MCPOP_CACHE_DIR") or Path.home() / ".cache" / "mcpop")
    prefix = cache / "bench" / SUPERGATEWAY.replace("@", "-")
    script = prefix / "node_modules" / ".bin" / "supergateway"
    if not script.exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), SUPERGATEWAY],
                       check=True, capture_output=True)  # fmt: skip
    return script


def wait_healthy(port: int, seconds: float) -> None:
    """Poll 127.0.0.1:`port`/healthz until it answers (at most `seconds`)."""
    for _ in range(round(seconds / 0.05)):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)


@contextmanager
def running_supergateway(server: list[str], tmp: str) -> Iterator[str]:
    """supergateway --stdio SERVER --outputTransport streamableHttp (stateless: its default) on loopback."""
    port = free_port()
    with Path(tmp, f"supergateway-{port}.log").open("w") as log:
        proc = subprocess.Popen(["node", str(supergateway()), "--stdio", " ".join(server), "--outputTransport",
                                 "streamableHttp", "--port", str(port), "--healthEndpoint", "/healthz",
                                 "--logLevel", "none"], stdout=log, stderr=log)  # fmt: skip
        try:
            wait_healthy(port, seconds=10)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@contextmanager
def running_bridge(
    bridge: str, server: list[str], tmp: str, sessions: int = 8, flags: list[str] | None = None, port: int = 0
) -> Iterator[tuple[str, int]]:
    """mcpop-bridge on loopback serving `server`: (its MCP URL, its pid)."""
    port = port or free_port()
    with Path(tmp, f"bridge-{port}.log").open("w") as log:
        proc = subprocess.Popen([bridge, "--host", "127.0.0.1", "--port", str(port), "--max-sessions", str(sessions),
                                 *(flags or []), "--", *server], stdout=log, stderr=log)  # fmt: skip
        try:
            wait_healthy(port, seconds=5)
            yield f"http://127.0.0.1:{port}/mcp", proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def idle_sessions(url: str, pid: int, count: int) -> tuple[int, int, int]:
    """Open `count` sessions and leave them idle: the bridge's RSS before and after, the new server processes'
    RSS (KiB)."""
    time.sleep(2.5)  # sessions a client ended (DELETE) are gone, their processes reaped
    before, old = rss_kib(pid), set(children(pid))
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    for i in range(count):
        sid = post(url, {"jsonrpc": "2.0", "id": i, "method": "initialize", "params": params})
        post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    time.sleep(1)
    return before, rss_kib(pid), sum(rss_kib(k) for k in children(pid) if k not in old)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--supergateway-calls", type=int, default=50, help="fewer: it starts a process per request")
    ap.add_argument("--sessions", type=int, default=64)
    opts = ap.parse_args()
    bridge, python = tool("bridge", "path"), tool("mcp-sdk", "python")
    with tempfile.TemporaryDirectory(prefix="mcpop-bench-bridge-") as tmp:
        server, client = Path(tmp, "server.py"), Path(tmp, "client.py")
        server.write_text(SERVER)
        client.write_text(CLIENT)
        print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, {opts.calls} calls each")
        with running_bridge(bridge, [python, str(server)], tmp) as (url, sdk_pid):
            results = {}
            for name, target, mode in (("direct stdio", str(server), "legacy"), ("mcpop-bridge", url, "legacy"),
                                       ("bridge, 2026", url, "auto")):  # fmt: skip
                out = subprocess.run([python, str(client), target, str(opts.calls)], capture_output=True, text=True,
                                     timeout=600, check=True, env={**os.environ, "MODE": mode})  # fmt: skip
                results[name] = json.loads(out.stdout.strip().splitlines()[-1])
            sdk_rss = idle_sessions(url, sdk_pid, 1)[2]
        port = free_port()
        flags, token = issuer(tmp, f"http://127.0.0.1:{port}/mcp")
        with running_bridge(bridge, [python, str(server)], tmp, flags=flags, port=port) as (url, _):
            out = subprocess.run([python, str(client), url, str(opts.calls)], capture_output=True, text=True,
                                 timeout=600, check=True, env={**os.environ, "TOKEN": token})  # fmt: skip
            results["bridge + JWT"] = json.loads(out.stdout.strip().splitlines()[-1])
        port = free_port()
        flags, token = issuer(tmp, f"http://127.0.0.1:{port}/mcp")
        audit = str(Path(tmp, "audit.jsonl"))
        policy = ["--allow-tools", "who*,read_*", "--deny-tools", "delete_*", "--audit-log", audit]
        with running_bridge(bridge, [python, str(server)], tmp, flags=flags + policy, port=port) as (url, _):
            out = subprocess.run([python, str(client), url, str(opts.calls)], capture_output=True, text=True,
                                 timeout=600, check=True, env={**os.environ, "TOKEN": token})  # fmt: skip
            results["+ policy+audit"] = json.loads(out.stdout.strip().splitlines()[-1])
        listed = subprocess.run([python, str(client), str(server), "0"], capture_output=True, text=True,
                                timeout=600, check=True, env={**os.environ, "LIST": "1"})  # fmt: skip
        approved = [f"--approved-tool={t['name']}={tool_digest(t)}"
                    for t in json.loads(listed.stdout.strip().splitlines()[-1])]  # fmt: skip
        port = free_port()
        flags, token = issuer(tmp, f"http://127.0.0.1:{port}/mcp")
        inventory = ["--approved-tools-only", *approved, "--metrics-port", str(free_port())]
        with running_bridge(bridge, [python, str(server)], tmp, flags=flags + policy + inventory,
                            port=port) as (url, _):  # fmt: skip
            out = subprocess.run([python, str(client), url, str(opts.calls)], capture_output=True, text=True,
                                 timeout=600, check=True, env={**os.environ, "TOKEN": token})  # fmt: skip
            results["+ approved"] = json.loads(out.stdout.strip().splitlines()[-1])
        with running_supergateway([python, str(server)], tmp) as url:
            out = subprocess.run([python, str(client), url, str(opts.supergateway_calls)], capture_output=True,
                                 text=True, timeout=1200, check=True)  # fmt: skip
            results["supergateway"] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{'tools/call':<14} {'calls':>6} {'p50 ms':>9} {'p99 ms':>9} {'server processes':>17}")
        for name, r in results.items():
            print(f"{name:<14} {len(r['times']):6d} {pct(r['times'], 0.5):9.2f} {pct(r['times'], 0.99):9.2f} "
                  f"{r['pids']:17d}")  # fmt: skip
        print(f"supergateway: {SUPERGATEWAY}, stateless (its default), as stdio servers ran before mcpop-bridge")
        print(f"one idle session of the SDK server: its process's RSS {sdk_rss / 1024:.1f} MiB")

        tiny = Path(tmp, "tiny.py")
        tiny.write_text(TINY)
        with running_bridge(bridge, [sys.executable, str(tiny)], tmp, opts.sessions + 4) as (url, pid):
            before, after, servers = idle_sessions(url, pid, opts.sessions)
            print(f"idle sessions: {opts.sessions} (server: a plain-python stdio responder)")
            print(f"  bridge RSS {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after: "
                  f"{(after - before) / opts.sessions:.0f} KiB per idle session")  # fmt: skip
            print(f"  server processes' RSS {servers / 1024:.1f} MiB: {servers / opts.sessions / 1024:.1f} MiB "
                  "per session (one process each)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
