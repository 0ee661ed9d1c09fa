"""A tiny injectable HTTP client: the protocol the registry sources use and a pooled urllib3 implementation.

Only GET is needed. Every non-2xx status (304 included) is returned as a response, never raised; network
failures (connection refused or reset, dropped connections, timeouts) raise `NetworkError`, so the retry
policies can tell them apart from HTTP errors.

Connections are kept alive in one pool per client, so the pages of a sync (and every sync of the process,
the controller keeps one client) reuse them. Redirects are followed here rather than by urllib3 so the rule
is explicit: credentials (`Authorization`, `Proxy-Authorization`, `Cookie`) are dropped when a redirect
leaves the origin (scheme, host or port change), as curl and requests do, and never sent again on that
request's later hops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import LocationValueError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from mcpop.codec.reader import REGISTRY_DATA, load_json
from mcpop.sources.errors import NetworkError, RedirectError, SourceConfigError

DEFAULT_TIMEOUT = 30.0
USER_AGENT = "mcpop-registry-sync/0.1"
MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: headers that carry credentials: never sent to another origin
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


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
    """`HttpClient` over a urllib3 keep-alive pool; `timeout` (seconds) applies to connect and to each read.

    Thread-safe: the registry workers share one client.
    """

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        user_agent: str = USER_AGENT,
        *,
        pool_size: int = 4,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self.timeout = timeout
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self._pool = urllib3.PoolManager(
            num_pools=16, maxsize=pool_size, retries=False, timeout=urllib3.Timeout(connect=timeout, read=timeout)
        )

    def _send(self, url: str, headers: Mapping[str, str]) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.request("GET", url, headers=dict(headers), redirect=False, retries=False)
        except LocationValueError as exc:
            raise SourceConfigError(f"GET {url}: not a usable http(s) URL: {exc}") from exc
        except NewConnectionError as exc:  # a ConnectTimeoutError subclass, but a refusal is no timeout
            raise NetworkError(url, "connection", str(exc)) from exc
        except Urllib3Timeout as exc:
            raise NetworkError(url, "timeout", str(exc) or "timed out") from exc
        except (Urllib3Error, OSError) as exc:
            raise NetworkError(url, "connection", f"{type(exc).__name__}: {exc}") from exc

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        sent: dict[str, str] = {"User-Agent": self.user_agent, **(headers or {})}
        current = url
        for _hop in range(self.max_redirects + 1):
            resp = self._send(current, sent)
            if resp.status not in REDIRECTS:
                return HttpResponse(
                    status=int(resp.status),
                    url=url,
                    body=resp.data,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                )
            location = resp.headers.get("location")
            if not location:
                raise RedirectError(f"GET {current}: HTTP {resp.status} without a Location header")
            target = urljoin(current, location)
            if urlsplit(target).scheme.lower() not in _DEFAULT_PORTS:
                raise RedirectError(f"GET {current}: redirected to {target!r}, which is not http(s)")
            sent = redirect_headers(sent, current, target)
            current = target
        raise RedirectError(f"GET {url}: more than {self.max_redirects} redirects")

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()


__all__ = [
    "DEFAULT_TIMEOUT",
    "HttpClient",
    "HttpResponse",
    "NetworkError",
    "UrllibClient",
    "origin",
    "redirect_headers",
]
