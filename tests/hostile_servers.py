"""Hostile HTTP servers on loopback, for the fetch-bounds tests and bench/hostile.py: each path is one way a
tenant's registry or image host could try to take the operator down.

- `/bomb`: a gzip body (`Content-Encoding: gzip`) that inflates to `BOMB_BYTES` of zeros;
- `/huge`: an endless body (no Content-Length, the connection closed at the end), `HUGE_BYTES` at most;
- `/liar`: a body whose Content-Length claims `HUGE_BYTES`;
- `/tarpit`: headers at once, then the body one byte per second;
- `/tarpit-headers`: the status line and headers one byte per second;
- `/v0.1/servers`: the registry list API, paginating forever (`nextCursor` always given), `PAGE` valid
  entries a page;
- `/v2/<repo>/manifests/<ref>`: an OCI manifest of `HUGE_BYTES` (its config descriptor claims a small size);
- `/status/<code>`: that HTTP status with a body holding `SECRET_BODY` (which must never be shown).

Each behaviour also answers under its path as a prefix (`/bomb/v0.1/servers`), so an MCPRegistry whose
`source.mcpRegistry.url` is `<server>/bomb` meets it on its first page. `server.requests` counts the
requests by path.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MiB = 1 << 20
BOMB_BYTES = 1 << 30
HUGE_BYTES = 300 * MiB
PAGE = 100
SECRET_BODY = "do-not-show-this-body"
ZERO_DIGEST = "sha256:" + "0" * 64
_CHUNK = b"x" * (64 << 10)


@cache
def gzip_bomb() -> bytes:
    """`BOMB_BYTES` of zeros, gzip-compressed (about 1 MiB)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(16 * MiB)
    parts = [z.compress(zeros) for _ in range(BOMB_BYTES // len(zeros))]
    return b"".join(parts) + z.flush()


def _entry(page: int, i: int) -> dict[str, object]:
    return {"server": {"name": f"io.example/hostile-{page}-{i}", "version": "1.0.0", "description": "x"}}


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True
    requests: Counter[str]
    stopping: threading.Event
    scheme = "http"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up at its cap or deadline is the point, not an error

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    @property
    def host(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: HostileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _trickle(self, data: bytes) -> None:
        for i in range(len(data)):
            if self.server.stopping.is_set():
                return
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            time.sleep(1.0)

    def _stream(self, total: int) -> None:
        sent = 0
        while sent < total and not self.server.stopping.is_set():
            self.wfile.write(_CHUNK)
            sent += len(_CHUNK)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.requests[path] += 1
        try:
            self._answer(path)
        except OSError:  # the client hung up at its cap or deadline
            self.close_connection = True

    def _answer(self, path: str) -> None:
        if path.startswith("/tarpit-headers"):
            self._trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        elif path.startswith("/bomb"):
            body = gzip_bomb()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path.startswith("/huge"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            self._stream(HUGE_BYTES)
            self.close_connection = True
        elif path.startswith("/liar"):
            self.send_response(200)
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            self._stream(HUGE_BYTES)
        elif path.startswith("/tarpit"):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self._trickle(b"{" * 100_000)
        elif path == "/v0.1/servers":
            cursor = self.path.partition("cursor=")[2].split("&")[0]
            page = int(cursor or 0)
            body = json.dumps({"servers": [_entry(page, i) for i in range(PAGE)],
                               "metadata": {"nextCursor": str(page + 1)}}).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path.startswith("/v2/") and "/manifests/" in path:
            config = {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 100, "digest": ZERO_DIGEST}
            manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config,
                        "annotations": {"pad": ""}}  # fmt: skip
            head = json.dumps(manifest)[:-3]  # the pad string left open: the body goes on and on
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(head.encode())
            self._stream(HUGE_BYTES)
            self.close_connection = True
        elif path.startswith("/status/"):
            body = json.dumps({"error": SECRET_BODY}).encode()
            self.send_response(int(path.split("/")[2]))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@contextmanager
def hostile_server(host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None) -> Iterator[HostileServer]:
    """A HostileServer on a free loopback port, serving in a thread until the block ends; over TLS with
    `tls` (certificate and key files): its `url` then says https."""
    gzip_bomb()  # made before serving: its making is not what a client's memory is measured against
    srv = HostileServer((host, 0), _Handler)
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        srv.scheme = "https"
    srv.requests = Counter()
    srv.stopping = threading.Event()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stopping.set()
        srv.shutdown()
        srv.server_close()
