"""A real HTTP server on 127.0.0.1 (stdlib http.server in a thread) for the registry source tests.

It speaks two protocols:

- the official registry list API, `GET /v0.1/servers?cursor=&limit=&search=&updated_since=`, serving
  `state.items` (`{server, _meta}`) in pages of `state.page_size` with an opaque `nextCursor`;
- a GitHub-contents-compatible API, `GET /repos/OWNER/REPO/contents/PATH?ref=BRANCH`, over the files in
  `state.files` (path → text), with `download_url`s under `/raw/`, ETags and `If-None-Match` → 304.

Faults are queued in `state.faults` and consumed one per matching request: an HTTP status with headers
(5xx, 429 with Retry-After, 403 with X-RateLimit-Reset), a dropped connection, or a slow response.
`state.requests` records every request (path, query, headers, status sent), `state.connections` counts the
TCP connections accepted. A `status` fault with a `Location` header is a redirect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SEED = Path(__file__).parent / "fixtures" / "registry" / "official-seed.json"
OFFICIAL = "io.modelcontextprotocol.registry/official"


def registry_item(
    server: dict[str, Any], status: str = "active", updated_at: str = "2025-10-01T00:00:00Z"
) -> dict[str, Any]:
    """A list API item: the server.json and the registry's metadata about it."""
    return {
        "server": server,
        "_meta": {OFFICIAL: {"status": status, "publishedAt": updated_at, "updatedAt": updated_at, "isLatest": True}},
    }


def seed_items() -> list[dict[str, Any]]:
    return [registry_item(s) for s in json.loads(SEED.read_text(encoding="utf-8"))]


@dataclass
class Fault:
    """What to do instead of (or before) answering a request whose path starts with `path`."""

    kind: str  # "status" | "drop" | "slow"
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "boom"
    seconds: float = 0.0
    path: str = "/"
    #: requests it applies to; -1 = every request until removed
    times: int = 1


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0


@dataclass
class State:
    items: list[dict[str, Any]] = field(default_factory=seed_items)
    page_size: int = 2
    #: path → text (or raw bytes, to serve a file that is not UTF-8)
    files: dict[str, str | bytes] = field(default_factory=dict)
    #: contents API entries give no download_url (files are read as base64 `content`)
    base64_only: bool = False
    #: where `download_url`s point (another origin, as raw.githubusercontent.com is for api.github.com)
    raw_base: str | None = None
    token: str | None = None
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    #: TCP connections accepted (keep-alive clients reuse one)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def statuses(self, prefix: str = "/") -> list[int]:
        return [r.status for r in self.requests if r.path.startswith(prefix)]


def _raw_bytes(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else content.encode()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest() + '"'


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the client's delayed ACK
    # stall every response on a kept-alive connection by ~40 ms (real servers set it too)
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self._record.status = status
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def _json(self, data: Any, etag: bool = False) -> None:
        body = json.dumps(data).encode()
        headers = {"Content-Type": "application/json"}
        if etag:
            tag = _etag(body)
            headers["ETag"] = tag
            if self.headers.get("If-None-Match") == tag:
                self._send(304, headers=headers)
                return
        self._send(200, body, headers)

    def do_GET(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self._record = Request(parts.path, query, {k.lower(): v for k, v in self.headers.items()})
        with state.lock:
            state.requests.append(self._record)
        fault = state.take_fault(parts.path)
        if fault is not None:
            if fault.kind == "drop":
                self._record.status = -1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            elif fault.kind == "status":
                self._send(fault.status, fault.body.encode(), fault.headers)
                return
        if parts.path == "/v0.1/servers":
            self._servers(query)
        elif parts.path.startswith("/repos/"):
            self._contents(parts.path, query)
        elif parts.path.startswith("/raw/"):
            self._raw(parts.path)
        else:
            self._send(404, b'{"message": "Not Found"}')

    # -- official registry ----------------------------------------------------------------------------

    def _servers(self, query: dict[str, str]) -> None:
        state = self.server.state
        items = list(state.items)
        since = query.get("updated_since")
        if since:
            items = [i for i in items if i["_meta"][OFFICIAL]["updatedAt"] > since]
        search = query.get("search")
        if search:
            items = [i for i in items if search.lower() in str(i["server"].get("name", "")).lower()]
        start = int(query["cursor"].removeprefix("c")) if query.get("cursor") else 0
        limit = min(int(query.get("limit", "100")), state.page_size)
        page = items[start : start + limit]
        metadata: dict[str, Any] = {"count": len(page)}
        if start + limit < len(items):
            metadata["nextCursor"] = f"c{start + limit}"
        self._json({"servers": page, "metadata": metadata})

    # -- GitHub contents ------------------------------------------------------------------------------

    def _authorized(self) -> bool:
        token = self.server.state.token
        if token is None or self.headers.get("Authorization") == f"Bearer {token}":
            return True
        self._send(401, b'{"message": "Bad credentials"}', {"Content-Type": "application/json"})
        return False

    def _contents(self, path: str, query: dict[str, str]) -> None:
        if not self._authorized():
            return
        state = self.server.state
        segments = path.split("/")  # "", repos, owner, repo, contents, ...
        owner, repo = segments[2], segments[3]
        ref = query.get("ref", "main")
        inner = unquote("/".join(segments[5:])).strip("/")
        base = f"http://{self.headers.get('Host')}"
        if inner in state.files:
            text = _raw_bytes(state.files[inner])
            self._json(
                {
                    "type": "file",
                    "name": inner.rsplit("/", 1)[-1],
                    "path": inner,
                    "sha": hashlib.sha1(text).hexdigest(),
                    "encoding": "base64",
                    "content": base64.b64encode(text).decode(),
                },
                etag=True,
            )
            return
        prefix = inner + "/" if inner else ""
        children: dict[str, dict[str, Any]] = {}
        for file_path, content in sorted(state.files.items()):
            if not file_path.startswith(prefix):
                continue
            head, _, rest = file_path[len(prefix) :].partition("/")
            child = prefix + head
            if rest:
                children.setdefault(child, {"type": "dir", "name": head, "path": child, "sha": "dir-" + child})
                continue
            sha = hashlib.sha1(_raw_bytes(content)).hexdigest()
            children[child] = {
                "type": "file",
                "name": head,
                "path": child,
                "sha": sha,
                "url": f"{base}/repos/{owner}/{repo}/contents/{child}?ref={ref}",
                "download_url": None
                if state.base64_only
                else f"{state.raw_base or base}/raw/{owner}/{repo}/{ref}/{child}",
            }
        if not children:
            self._send(404, b'{"message": "Not Found"}', {"Content-Type": "application/json"})
            return
        self._json(list(children.values()), etag=True)

    def _raw(self, path: str) -> None:
        if not self._authorized():
            return
        inner = "/".join(path.split("/")[5:])
        text = self.server.state.files.get(unquote(inner))
        if text is None:
            self._send(404, b"Not Found")
            return
        body = _raw_bytes(text)
        tag = _etag(body)
        if self.headers.get("If-None-Match") == tag:
            self._send(304, headers={"ETag": tag})
            return
        self._send(200, body, {"ETag": tag, "Content-Type": "text/plain"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: State

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout test) breaks the pipe: expected, not worth a traceback."""

    def get_request(self) -> tuple[socket.socket, Any]:
        conn = super().get_request()
        with self.state.lock:
            self.state.connections += 1
        return conn


class RegistryServer:
    """`with RegistryServer() as srv:` serves `srv.state` at `srv.url` until the block ends."""

    def __init__(self, state: State | None = None, host: str = "127.0.0.1") -> None:
        self.state = state or State()
        self.host = host
        self._server = _Server((host, 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._server.server_port}"

    def __enter__(self) -> RegistryServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class FakeClock:
    """A shortened clock: `sleep` records the wait and moves `now` forward instead of sleeping."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
