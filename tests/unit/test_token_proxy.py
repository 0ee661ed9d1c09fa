"""tests/token_proxy.py, the loopback proxy that adds a Bearer token for the conformance suite
(tests/conformance/test_conformance_auth.py), against an upstream made here.

Covers: the token is added (a client's own Authorization replaced) while method, path, query, body and the
client's Host go on unchanged; the upstream's status and headers (Mcp-Session-Id, WWW-Authenticate) come back;
an SSE answer arrives chunk by chunk before the upstream has finished it; a body over 4 MiB is a 413 that never
reaches the upstream; a client hanging up ends the upstream's stream; the block's end ends every connection and
thread, an open stream's too.
"""

from __future__ import annotations

import http.client
import json
import select
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from token_proxy import MAX_BODY, running_token_proxy

TOKEN = "header.payload.signature"


class Upstream:
    """An HTTP server on loopback: /echo answers what it received, /stream is an SSE stream of two events,
    the second sent only once `release` is set."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        #: set when a /stream's client hung up before the second event
        self.hung_up = threading.Event()
        self.threads: set[threading.Thread] = set()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def setup(self) -> None:
                super().setup()
                upstream.threads.add(threading.current_thread())

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._chunk(b"id: 1\ndata: first\n\n")
                while not upstream.release.wait(0.05):
                    if select.select([self.connection], [], [], 0)[0] and not self.connection.recv(1):
                        upstream.hung_up.set()
                        return
                self._chunk(b"id: 2\ndata: second\n\n")
                self._chunk(b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                        "body": body.decode()}  # fmt: skip
                upstream.requests.append(seen)
                answer = json.dumps(seen).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Mcp-Session-Id", "session-1")
                self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    thread = threading.Thread(target=up.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield up
    finally:
        up.release.set()
        up.httpd.shutdown()
        up.httpd.server_close()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[http.client.HTTPConnection]:
    """A connection to the proxy in front of `upstream`."""
    with running_token_proxy(upstream.base, TOKEN) as base:
        conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        yield conn
        conn.close()


def test_the_token_is_added_and_the_request_goes_on_unchanged(
    upstream: Upstream, proxy: http.client.HTTPConnection
) -> None:
    proxy.request("POST", "/mcp/x?a=1&b=2", body=b'{"jsonrpc":"2.0"}',
                  headers={"Authorization": "Bearer forged", "Host": "localhost:1", "Mcp-Session-Id": "s"})  # fmt: skip
    proxy.getresponse().read()
    (seen,) = upstream.requests
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/mcp/x?a=1&b=2", '{"jsonrpc":"2.0"}')
    assert seen["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert (seen["headers"]["Host"], seen["headers"]["Mcp-Session-Id"]) == ("localhost:1", "s")


def test_the_upstreams_status_and_headers_come_back(proxy: http.client.HTTPConnection) -> None:
    proxy.request("POST", "/mcp", body=b"{}")
    resp = proxy.getresponse()
    assert resp.status == 401
    assert resp.headers["Mcp-Session-Id"] == "session-1"
    assert resp.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert resp.headers["Content-Type"] == "application/json"
    assert json.loads(resp.read())["path"] == "/mcp"


def test_an_sse_answer_arrives_chunk_by_chunk_before_the_upstream_has_finished_it(
    upstream: Upstream, proxy: http.client.HTTPConnection
) -> None:
    proxy.request("GET", "/mcp", headers={"Accept": "text/event-stream"})
    resp = proxy.getresponse()
    assert (resp.status, resp.headers["Content-Type"]) == (200, "text/event-stream")
    assert resp.read1() == b"id: 1\ndata: first\n\n"  # while the upstream still holds the second event back
    upstream.release.set()
    assert resp.read() == b"id: 2\ndata: second\n\n"


def test_a_body_over_the_limit_is_a_413_that_never_reaches_the_upstream(
    upstream: Upstream, proxy: http.client.HTTPConnection
) -> None:
    proxy.request("POST", "/mcp", body=b"x" * (MAX_BODY + 1))
    resp = proxy.getresponse()
    assert resp.status == 413
    assert upstream.requests == []


def test_a_client_hanging_up_ends_the_upstreams_stream(upstream: Upstream, proxy: http.client.HTTPConnection) -> None:
    proxy.request("GET", "/mcp")
    resp = proxy.getresponse()
    assert resp.read1() == b"id: 1\ndata: first\n\n"
    resp.close()
    proxy.close()
    assert upstream.hung_up.wait(5)


def test_the_blocks_end_ends_every_connection_and_thread_an_open_streams_too(upstream: Upstream) -> None:
    before = set(threading.enumerate())
    with running_token_proxy(upstream.base, TOKEN) as base:
        conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        conn.request("GET", "/mcp")
        resp = conn.getresponse()
        assert resp.read1() == b"id: 1\ndata: first\n\n"
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert [t for t in threading.enumerate() if t not in before | upstream.threads] == []
    with pytest.raises(http.client.IncompleteRead):  # the stream was cut, not ended: no second event
        resp.read()
    assert upstream.hung_up.wait(5)
    conn.close()
