"""mcpop-bridge as a host process on loopback, for the tests that speak to it (tests/unit/test_bridge*.py,
tests/conformance): the built binary, a free port, and a bridge started and waited for until it answers."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def tool(*args: str) -> str:
    """The last line `tools/NAME ARGS...` prints (a path); skips the test when Go, which builds the bridge, is
    missing."""
    if shutil.which("go") is None:
        pytest.skip("Go is needed to build the bridge (tools/bridge path)")
    out = subprocess.run([str(ROOT / "tools" / args[0]), *args[1:]], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"tools/{' '.join(args)} failed:\n{out.stderr[-3000:]}"
    return out.stdout.strip().splitlines()[-1]


def http_get(url: str) -> tuple[int, str]:
    """The status and body of a GET (an HTTP error status too; a refused connection raises OSError)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def post_initialize(url: str, token: str | None = None, headers: Mapping[str, str] | None = None,
                    timeout: float = 60) -> tuple[int, dict[str, str], str]:  # fmt: skip
    """An initialize POST to the MCP endpoint `url` (with a Bearer token and more `headers` when given): its
    status, headers (names lower-cased) and body (an HTTP error status too)."""
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}).encode()
    sent = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            **({"Authorization": f"Bearer {token}"} if token is not None else {}), **(headers or {})}  # fmt: skip
    req = urllib.request.Request(url, data=body, method="POST", headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()


@contextlib.contextmanager
def running_bridge(bridge: Path | str, command: Sequence[str], *flags: str, log: Path | None = None,
                   env: Mapping[str, str] | None = None, port: int | None = None,
                   cwd: Path | None = None) -> Iterator[str]:  # fmt: skip
    """`mcpop-bridge --host 127.0.0.1 --port PORT FLAGS... -- COMMAND...` until the block ends; yields its base
    URL once /healthz answers (within 10 s, else fails with the bridge's output). Output goes to `log`."""
    with bridge_process(bridge, command, *flags, log=log, env=env, port=port, cwd=cwd) as (base, _):
        yield base


@contextlib.contextmanager
def bridge_process(bridge: Path | str, command: Sequence[str], *flags: str, log: Path | None = None,
                   env: Mapping[str, str] | None = None, port: int | None = None,
                   cwd: Path | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:  # fmt: skip
    """`running_bridge`, yielding the process too (to signal it)."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("w")) if log is not None else subprocess.DEVNULL
        proc = subprocess.Popen([str(bridge), "--host", "127.0.0.1", "--port", str(port), *flags, "--", *command],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(env) if env is not None else None,
                                cwd=cwd)  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    if http_get(base + "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text()[-2000:] if log is not None else ""
                    raise AssertionError(f"mcpop-bridge did not answer on {base}/healthz: {text}")
                time.sleep(0.05)
            yield base, proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)
