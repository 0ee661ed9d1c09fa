"""The one bounded HTTP fetch of mcpop's sources: the protocol they use and a pooled urllib3 implementation.

Only GET is needed. Every non-2xx status (304 included) is returned as a response, never raised; network
failures (connection refused or reset, dropped connections, timeouts) raise `NetworkError`, so the retry
policies can tell them apart from HTTP errors.

Every fetch is bounded, whatever the server says:

- in time: one deadline (`timeout`, the operator's `--fetch-timeout`) for the whole fetch, connect, every
  redirect hop, headers and body together, not per read: a watchdog shuts the socket down when it passes,
  so a server trickling a byte a second is cut off at the deadline (`DeadlineExceeded`);
- in size: the body is read in chunks and reading stops as soon as it passes `max_bytes`
  (`ResponseTooLarge`); a Content-Length over the cap is refused before reading, a smaller one is not
  trusted. gzip and deflate bodies are inflated here, never more than the cap (a decompression bomb costs
  the cap); other content codings are refused.

Connections are kept alive in one pool per client, so the pages of a sync (and every sync of the process,
the controller keeps one client) reuse them. Redirects are followed here rather than by urllib3 so the rule
is explicit: credentials (`Authorization`, `Proxy-Authorization`, `Cookie`) are dropped when a redirect
leaves the origin (scheme, host or port change), as curl does, and never sent again on that
request's later hops.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import LocationValueError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from mcpop.api.validation import strip_userinfo
from mcpop.codec.reader import REGISTRY_DATA, load_json
from mcpop.sources.breaker import CircuitBreaker, host_of
from mcpop.sources.errors import (
    DeadlineExceeded,
    MalformedResponse,
    NetworkError,
    RedirectError,
    ResponseTooLarge,
    SourceConfigError,
)

#: the whole fetch, not one read (the operator's --fetch-timeout)
DEFAULT_TIMEOUT = 30.0
#: registry data: a page or a file is at most what the reader parses
DEFAULT_MAX_BYTES = REGISTRY_DATA.max_bytes
#: a redirect's body is read (so the connection is kept) up to this much, else the connection is dropped
REDIRECT_BODY_BYTES = 64 << 10
CHUNK = 64 << 10
USER_AGENT = "mcpop-registry-sync/0.1"
MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: headers that carry credentials: never sent to another origin
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Deadline:
    """One fetch's deadline: at `seconds` from now a timer shuts down every socket the fetch has used, so a
    read blocked on a trickling server returns at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.001, self.at - time.monotonic())

    def passed(self) -> bool:
        """The deadline is reached: its timer has fired, or is about to (a socket timeout of `remaining()`
        seconds can end a read a moment before the timer runs, and is the deadline all the same)."""
        return self.expired or time.monotonic() >= self.at

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.expired:
                _shut(sock)
            else:
                self._sockets.append(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    """Shut the connection's file descriptor down: a blocked read returns at once. The plain socket's method
    even for a TLS socket, whose own would drop its TLS state under a reading thread."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_current = threading.local()


def _watch(sock: Any) -> None:
    deadline: _Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and isinstance(sock, socket.socket):
        deadline.watch(sock)


class _Watched:
    """A connection whose sockets are handed to the running fetch's deadline (new ones as they connect,
    kept-alive ones as a response is awaited)."""

    sock: Any

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _watch(sock)
        return sock

    def getresponse(self) -> Any:
        _watch(self.sock)
        return super().getresponse()  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _decoder(url: str, coding: str | None) -> Any:
    """A zlib decompressor for the body's Content-Encoding; None for identity."""
    name = (coding or "identity").strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
    raise MalformedResponse(f"GET {strip_userinfo(url)}: unsupported Content-Encoding")


def read_capped(resp: Any, url: str, cap: int) -> bytes:
    """The body of a urllib3 response opened without preloading, inflated when gzip/deflate, read in chunks
    and refused (ResponseTooLarge) as soon as it passes `cap` bytes; never more than `cap` + one chunk held."""
    decoder = _decoder(url, resp.headers.get("content-encoding"))
    declared = (resp.headers.get("content-length") or "").strip()
    if decoder is None and declared.isdigit() and int(declared) > cap:
        raise ResponseTooLarge(url, cap)
    body = bytearray()
    while True:
        chunk = resp.read(CHUNK, decode_content=False)
        if not chunk:
            break
        if decoder is not None:
            # at most one byte past the cap comes out: more waiting (an unconsumed tail) is past it too
            chunk = decoder.decompress(chunk, cap + 1 - len(body))
            if decoder.unconsumed_tail:
                raise ResponseTooLarge(url, cap)
        body += chunk
        if len(body) > cap:
            raise ResponseTooLarge(url, cap)
    if decoder is not None:
        body += decoder.flush()
        if len(body) > cap:
            raise ResponseTooLarge(url, cap)
    return bytes(body)


@dataclass(frozen=True)
class HttpResponse:
    """A received response; header names are lower case. `url` is the URL asked for (before redirects)."""

    status: int
    url: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON, within the limits of registry data; YAMLInputError (a ValueError) otherwise."""
        return load_json(self.body, REGISTRY_DATA)

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class HttpClient(Protocol):
    """What the sources need of an HTTP client (tests may inject their own)."""

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse: ...


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port made explicit for http and https."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def redirect_headers(headers: Mapping[str, str], source: str, target: str) -> dict[str, str]:
    """The headers to send to a redirect's `target`: without credentials if it is another origin."""
    if origin(source) == origin(target):
        return dict(headers)
    return {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}


class UrllibClient:
    """`HttpClient` over a urllib3 keep-alive pool. `timeout` (seconds) is the deadline of one whole fetch,
    redirects included; `max_bytes` caps each response body (after decompression).

    Thread-safe: the registry workers share one client.
    """

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        user_agent: str = USER_AGENT,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        pool_size: int = 4,
        max_redirects: int = MAX_REDIRECTS,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.timeout = timeout
        #: refuses fetches to a host whose circuit is open (mcpop.sources.breaker); each hop is one fetch
        self.breaker = breaker
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self._pool = urllib3.PoolManager(num_pools=16, maxsize=pool_size, retries=False)
        self._pool.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def _send(self, url: str, headers: Mapping[str, str], deadline: _Deadline) -> urllib3.BaseHTTPResponse:
        left = deadline.remaining()
        try:
            return self._pool.request(
                "GET",
                url,
                headers=dict(headers),
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                timeout=urllib3.Timeout(connect=left, read=left),
            )
        except LocationValueError as exc:
            raise SourceConfigError(f"GET {strip_userinfo(url)}: not a usable http(s) URL") from exc
        except (Urllib3Error, OSError) as exc:
            raise self._network_error(url, exc, deadline) from exc

    def _guarded_send(self, url: str, headers: Mapping[str, str], deadline: _Deadline) -> urllib3.BaseHTTPResponse:
        """`_send` through the circuit breaker: refused when the host's circuit is open; a connection error, a
        timeout or a 5xx counts as the host's failure, any other answer as its success."""
        if self.breaker is None:
            return self._send(url, headers, deadline)
        host = host_of(url)
        self.breaker.before(host)
        try:
            resp = self._send(url, headers, deadline)
        except NetworkError:
            self.breaker.failure(host)
            raise
        except BaseException:
            self.breaker.success(host)
            raise
        if resp.status >= 500:
            self.breaker.failure(host)
        else:
            self.breaker.success(host)
        return resp

    @staticmethod
    def _network_error(url: str, exc: BaseException, deadline: _Deadline) -> NetworkError:
        if deadline.passed():
            return DeadlineExceeded(url, deadline.seconds)
        if isinstance(exc, NewConnectionError):  # a ConnectTimeoutError subclass, but a refusal is no timeout
            return NetworkError(url, "connection", str(exc))
        if isinstance(exc, Urllib3Timeout):
            return NetworkError(url, "timeout", str(exc) or "timed out")
        return NetworkError(url, "connection", f"{type(exc).__name__}: {exc}")

    def _body(self, resp: urllib3.BaseHTTPResponse, url: str, cap: int, deadline: _Deadline) -> bytes:
        """The body within `cap`; the connection goes back to the pool when read whole, else is closed."""
        try:
            body = read_capped(resp, url, cap)
        except (Urllib3Error, OSError) as exc:
            resp.close()
            raise self._network_error(url, exc, deadline) from exc
        except BaseException:
            resp.close()
            raise
        finally:
            resp.release_conn()
        if deadline.expired:  # a shut socket may read as a clean end: the body may be cut short
            raise DeadlineExceeded(url, deadline.seconds)
        return body

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        sent: dict[str, str] = {"User-Agent": self.user_agent, **(headers or {})}
        current = url
        deadline = _Deadline(self.timeout)
        _current.deadline = deadline
        try:
            for _hop in range(self.max_redirects + 1):
                resp = self._guarded_send(current, sent, deadline)
                if resp.status not in REDIRECTS:
                    return HttpResponse(
                        status=int(resp.status),
                        url=url,
                        body=self._body(resp, current, self.max_bytes, deadline),
                        headers={k.lower(): v for k, v in resp.headers.items()},
                    )
                location = resp.headers.get("location")
                # a redirect's body is not wanted: past a small cap the connection is dropped, the redirect followed
                with contextlib.suppress(ResponseTooLarge, MalformedResponse):
                    self._body(resp, current, REDIRECT_BODY_BYTES, deadline)
                if not location:
                    raise RedirectError(f"GET {strip_userinfo(current)}: HTTP {resp.status} without a Location header")
                target = urljoin(current, location)
                if urlsplit(target).scheme.lower() not in _DEFAULT_PORTS:
                    raise RedirectError(f"GET {strip_userinfo(current)}: redirected to a URL that is not http(s)")
                sent = redirect_headers(sent, current, target)
                current = target
            raise RedirectError(f"GET {strip_userinfo(url)}: more than {self.max_redirects} redirects")
        finally:
            _current.deadline = None
            deadline.cancel()

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT",
    "HttpClient",
    "HttpResponse",
    "NetworkError",
    "UrllibClient",
    "origin",
    "read_capped",
    "redirect_headers",
]
