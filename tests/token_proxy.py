"""A loopback reverse proxy that adds `Authorization: Bearer TOKEN` to every request, for clients that cannot send
one (the conformance suite's CLI): any method, path, query, body and end-to-end header goes on to the upstream
(the client's Host too, as an ingress keeps it, so the bridge's DNS-rebinding check still sees it), the answer
comes back as it arrives (an SSE stream chunk by chunk, never buffered whole). A body over 4 MiB is a 413.
Standard library only."""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

#: a request body larger than this is refused with 413
MAX_BODY = 4 * 1024 * 1024
#: connecting to the upstream; a read from it (an SSE stream may stay quiet this long between events)
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 300.0
#: RFC 9110 §7.6.1 hop-by-hop headers, never forwarded (nor the ones the Connection header names)
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
     "transfer-encoding", "upgrade"}
)  # fmt: skip


def _end_to_end(headers: Message) -> list[tuple[str, str]]:
    named = {h.strip().lower() for v in headers.get_all("Connection", []) for h in v.split(",")}
    return [(k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP | named]


class _TooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        url = urlsplit(upstream)
        self.upstream_host, self.upstream_port = url.hostname or "127.0.0.1", url.port or 80
        self.upstream_netloc = url.netloc
        self.token = token
        self.lock = threading.Lock()
        self.closing = False
        #: every open socket (clients' and the upstream's), shut down on close to wake the threads reading them
        self.open: set[socket.socket] = set()
        self.threads: set[threading.Thread] = set()

    def track(self, sock: socket.socket) -> None:
        with self.lock:
            self.open.add(sock)
            if not self.closing:
                return
        _shut(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self.lock:
            self.open.discard(sock)

    def close(self) -> None:
        """Stop accepting, end every connection and wait for the threads serving them."""
        self.shutdown()
        self.server_close()
        with self.lock:
            self.closing = True
            socks, threads = list(self.open), list(self.threads)
        for sock in socks:
            _shut(sock)
        for thread in threads:
            thread.join(timeout=10)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked answers when the upstream's has no length
    timeout = 120  # a client socket idle this long (between requests, or not reading) is closed

    #: a refused request's body is left unread
    unread = False

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.threads.add(threading.current_thread())
        self.server.track(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
            if self.unread:  # a lingering close: a client still sending its body then reads the answer, no reset
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(2)
                for _ in range(MAX_BODY // 65536 * 4):
                    if not self.connection.recv(65536):
                        break
        self.server.untrack(self.connection)
        with self.server.lock:
            self.server.threads.discard(threading.current_thread())

    def log_message(self, format: str, *args: object) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        if name.startswith("do_"):  # every method: BaseHTTPRequestHandler looks up do_METHOD
            return self._forward
        raise AttributeError(name)

    def _body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, size = [], 0
            while (n := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)) > 0:
                size += n
                if size > MAX_BODY:
                    raise _TooLarge
                parts.append(self.rfile.read(n))
                self.rfile.readline(1024)
            while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        if (length := self.headers.get("Content-Length")) is None:
            return None
        if not 0 <= int(length) <= MAX_BODY:
            raise _TooLarge if int(length) > 0 else ValueError(length)
        return self.rfile.read(int(length))

    def _refuse(self, status: int, text: str) -> None:
        body = text.encode()
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _forward(self) -> None:
        try:
            body = self._body()
        except _TooLarge:
            self.unread = True
            return self._refuse(413, f"token proxy: a request body is {MAX_BODY} bytes at most\n")
        except ValueError:
            return self._refuse(400, "token proxy: bad request body framing\n")
        conn = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, CONNECT_TIMEOUT)
        try:
            conn.connect()
        except OSError as exc:
            return self._refuse(502, f"token proxy: upstream unreachable: {exc}\n")
        assert conn.sock is not None
        upstream: socket.socket = conn.sock  # http.client forgets it once an answer says Connection: close
        self.server.track(upstream)
        try:
            upstream.settimeout(READ_TIMEOUT)
            self._exchange(conn, upstream, body)
        finally:
            self.server.untrack(upstream)
            conn.close()
            upstream.close()

    def _exchange(self, conn: http.client.HTTPConnection, upstream: socket.socket, body: bytes | None) -> None:
        # The client's Host goes on as it is (as an ingress keeps it): the bridge checks it (DNS rebinding).
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in _end_to_end(self.headers):
            if name.lower() not in ("authorization", "content-length", "expect"):
                conn.putheader(name, value)
        if "Host" not in self.headers:
            conn.putheader("Host", self.server.upstream_netloc)
        conn.putheader("Authorization", f"Bearer {self.server.token}")
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        try:
            conn.endheaders(body)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            return self._refuse(502, f"token proxy: upstream failed: {exc}\n")
        self.send_response_only(resp.status, resp.reason)
        for name, value in _end_to_end(resp.msg):
            self.send_header(name, value)
        bodiless = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        unsized = not bodiless and resp.getheader("Content-Length") is None
        chunked = unsized and self.request_version != "HTTP/1.0"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif unsized:  # an HTTP/1.0 client: the end of the connection ends the answer
            self.close_connection = True
        self.end_headers()
        if bodiless:
            return
        done = threading.Event()
        # a stream: ended upstream as soon as the client hangs up, not at its next event
        watcher = threading.Thread(target=self._watch, args=(upstream, done), daemon=True)
        if unsized:
            watcher.start()
        try:
            self._relay(resp, chunked)
        except (OSError, http.client.HTTPException):
            self.close_connection = True  # cut short: the client sees an incomplete answer, as from the upstream
        finally:
            done.set()
            if unsized:
                watcher.join()

    def _relay(self, resp: http.client.HTTPResponse, chunked: bool) -> None:
        while chunk := resp.read1(65536):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            self.wfile.flush()
        if resp.length:  # the upstream closed before its Content-Length
            raise http.client.IncompleteRead(b"", resp.length)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    def _watch(self, upstream: socket.socket, done: threading.Event) -> None:
        """While a stream is relayed: once the client hangs up (its socket at EOF), shut the upstream's."""
        while not done.is_set():
            try:
                if not select.select([self.connection], [], [], 0.5)[0]:
                    continue
                if self.connection.recv(1, socket.MSG_PEEK):
                    return  # the client's next request, not a hang-up: the relay notices one when it writes
            except (ValueError, OSError):
                pass
            if not done.is_set():
                _shut(upstream)
            return


@contextlib.contextmanager
def running_token_proxy(upstream: str, token: str) -> Iterator[str]:
    """A proxy on a free loopback port forwarding to `upstream` (a base URL, http://HOST:PORT) with
    `Authorization: Bearer TOKEN`, until the block ends; yields its base URL. Every thread it started has
    ended when the block has."""
    server = _Server(upstream, token)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.close()
        thread.join(timeout=10)
