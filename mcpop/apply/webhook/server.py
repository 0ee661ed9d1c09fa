"""The HTTPS server of the admission webhooks: POSTed AdmissionReviews, answered by `admission`."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mcpop.apply.runtime.tls import ReloadingContext
from mcpop.apply.webhook.admission import Handler

log = logging.getLogger("mcpop.webhook")
MAX_BODY = 3 * 1024 * 1024 + 64 * 1024  # the apiserver's request limit, plus the review envelope
#: connections served at once (a thread each); beyond it a new connection is closed at once
MAX_CONNECTIONS = 256
#: the listen backlog: a burst of apiserver connections waits instead of being refused
BACKLOG = 128
#: a client must finish the TLS handshake within this; a kept-alive connection idle longer is closed
HANDSHAKE_TIMEOUT = 5.0
IDLE_TIMEOUT = 30.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], tls: ReloadingContext, routes: dict[str, Handler],
                 observe: Any) -> None:  # fmt: skip
        self.tls, self.routes, self.observe = tls, routes, observe
        self.connections: set[socket.socket] = set()
        self.accepted = 0
        self.lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        """Close kept-alive connections too: a stopped webhook must stop answering at once."""
        with self.lock:
            conns, self.connections = list(self.connections), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        with self.lock:
            full = len(self.connections) >= MAX_CONNECTIONS
        if full:  # bounded: never a thread per connection an idle-connection flood opens
            with contextlib.suppress(OSError):
                sock.close()
            raise OSError("webhook connection limit reached")  # socketserver drops this accept
        sock.settimeout(HANDSHAKE_TIMEOUT)
        # headers and body go out as two writes: without this, Nagle plus the client's delayed ACK holds
        # the body back ~40 ms on every kept-alive request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # the handshake runs in the request's thread (first read), so a slow client never stalls accepting
        conn = self.tls.current().wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.lock:
            self.connections.add(conn)
            self.accepted += 1
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that failed its handshake or went away: not worth a traceback on stderr
        log.debug("webhook connection from %s dropped", client_address, exc_info=True)

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def setup(self) -> None:
        # the handshake within HANDSHAKE_TIMEOUT (a client that connects and says nothing is dropped), then
        # the longer keep-alive idle timeout
        self.request.do_handshake()
        self.request.settimeout(IDLE_TIMEOUT)
        super().setup()

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        start = time.perf_counter()
        path = self.path.split("?", 1)[0]
        route = self.server.routes.get(path)
        if route is None:
            self._send(404, b'{"error":"not found"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._send(413 if length > MAX_BODY else 400, b'{"error":"bad request body"}')
            return
        try:
            review = json.loads(self.rfile.read(length))
            if not isinstance(review, dict) or not isinstance(review.get("request"), dict):
                raise ValueError("not an AdmissionReview")
        except ValueError as exc:
            self._send(400, json.dumps({"error": f"not an AdmissionReview: {exc}"}).encode())
            return
        answer = route(review)
        self._send(200, json.dumps(answer, separators=(",", ":")).encode())
        if self.server.observe is not None:
            allowed = bool((answer.get("response") or {}).get("allowed"))
            self.server.observe(path, allowed, time.perf_counter() - start)

    def do_GET(self) -> None:
        if self.path == "/readyz":
            self._send(200, b"ok", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            log.debug("webhook connection dropped: %s", exc)


class WebhookServer:
    """Serves `routes` on `host:port` until stopped; `port` 0 picks a free one (see `.port`)."""

    def __init__(self, host: str, port: int, tls: ReloadingContext, routes: dict[str, Handler],
                 observe: Any = None) -> None:  # fmt: skip
        tls.current()  # fail now, not on the first request, when there is no usable certificate
        self._server = _Server((host, port), tls, routes, observe)
        self._server.timeout = 0.5
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def serve(self, stop: threading.Event) -> None:
        """Serve until `stop` is set (the manager's runnable signature)."""
        self.start()
        stop.wait()
        self.close()

    def start(self) -> None:
        """Serve in a background thread (tests and `serve`)."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="webhook", daemon=True)  # fmt: skip
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
