"""A real local OCI registry for tests: `crane registry serve` on loopback (tools/crane), images pushed with
a given entrypoint (crane append onto an empty base + crane mutate; no Docker), multi-platform indexes, and
a token-auth front speaking the registry Bearer flow (WWW-Authenticate challenge, token service with Basic
credentials) in front of it."""

from __future__ import annotations

import base64
import http.server
import io
import json
import shutil
import subprocess
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests import oci_registry

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD, TOKEN = "alice", "s3cret-pw", "tok-0123"


def crane_path() -> str | None:
    """The pinned crane (built on first use), or None without Go."""
    return oci_registry.crane_path() if shutil.which("go") else None


@contextmanager
def local_registry(crane: str, disk: Path) -> Iterator[str]:
    """`crane registry serve` on a free loopback port, blobs under `disk`; yields host:port."""
    with oci_registry.oci_registry(disk=disk, binary=crane) as host:
        yield host


def layer_tar(path: Path) -> Path:
    """A one-file layer (bin/server) to build test images from."""
    with tarfile.open(path, "w") as tar:
        data = b"#!/bin/sh\necho server\n"
        info = tarfile.TarInfo("bin/server")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return path


def push(crane: str, layer: Path, ref: str, *, entrypoint: str, cmd: str = "", user: str = "",
         platform: str | None = None) -> str:  # fmt: skip
    """Push a one-layer image with the given config (comma-separated lists, as crane takes them)."""
    subprocess.run([crane, "append", "--insecure", "--oci-empty-base", "-f", str(layer), "-t", ref],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    args = [crane, "mutate", "--insecure", ref, "-t", ref, "--entrypoint", entrypoint]
    args += ["--cmd", cmd] if cmd else []
    args += ["-u", user] if user else []
    args += ["--set-platform", platform] if platform else []
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return ref


def index(crane: str, ref: str, *manifests: str) -> str:
    """Push a multi-platform index of `manifests` as `ref`."""
    args = [crane, "index", "append", "--insecure", "-t", ref]
    for m in manifests:
        args += ["-m", m]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return ref


def digest(crane: str, ref: str) -> str:
    return subprocess.run([crane, "digest", "--insecure", ref], check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip()  # fmt: skip


def docker_config(host: str, user: str = USER, password: str = PASSWORD) -> str:
    """A .dockerconfigjson for `host`."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": auth}}})


class TokenAuthRegistry(http.server.ThreadingHTTPServer):
    """A registry front that requires a Bearer token from its own token service (the real flow)."""

    upstream: str
    token_requests: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: TokenAuthRegistry

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/token"):
            self.server.token_requests += 1
            good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != good or "service=test-registry" not in self.path:
                self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"Content-Type": "application/json"})
                return
            self._send(200, json.dumps({"token": TOKEN, "expires_in": 300}).encode(),
                       {"Content-Type": "application/json"})  # fmt: skip
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            repo = self.path.split("/v2/", 1)[-1].rsplit("/manifests/", 1)[0].rsplit("/blobs/", 1)[0]
            realm = f"http://{self.server.host}/token"
            challenge = f'Bearer realm="{realm}",service="test-registry",scope="repository:{repo}:pull"'
            self._send(401, b"{}", {"WWW-Authenticate": challenge, "Content-Type": "application/json"})
            return
        req = urllib.request.Request(f"http://{self.server.upstream}{self.path}",
                                     headers={"Accept": self.headers.get("Accept", "*/*")})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                self._send(resp.status, resp.read(), {"Content-Type": resp.headers.get("Content-Type", "")})
        except urllib.error.HTTPError as exc:
            self._send(exc.code, exc.read(), {"Content-Type": "application/json"})


@contextmanager
def token_auth_registry(upstream: str) -> Iterator[TokenAuthRegistry]:
    """A TokenAuthRegistry on a free loopback port in front of the registry at `upstream` (host:port)."""
    srv = TokenAuthRegistry(("127.0.0.1", 0), _Handler)
    srv.upstream = upstream
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
