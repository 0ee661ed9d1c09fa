"""A tiny injectable HTTP client: the protocol the registry sources use and a stdlib (urllib) implementation.

Only GET is needed. Every non-2xx status (304 included) is returned as a response, never raised; network
failures (connection refused or reset, dropped connections, timeouts) raise `NetworkError`, so the retry
policies can tell them apart from HTTP errors.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

DEFAULT_TIMEOUT = 30.0
USER_AGENT = "mcpop-registry-sync/0.1"


class NetworkError(Exception):
    """The request did not get an HTTP response: `kind` is `timeout` or `connection`."""

    def __init__(self, url: str, kind: Literal["timeout", "connection"], detail: str) -> None:
        super().__init__(f"GET {url}: {kind} error: {detail}")
        self.url = url
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class HttpResponse:
    """A received response; header names are lower case."""

    status: int
    url: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class HttpClient(Protocol):
    """What the sources need of an HTTP client (tests may inject their own)."""

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse: ...


class _NoRaise(urllib.request.HTTPErrorProcessor):
    """Hand every status back as a response instead of raising HTTPError."""

    def http_response(self, request: Any, response: Any) -> Any:
        return response

    https_response = http_response


class UrllibClient:
    """`HttpClient` over urllib.request with a per-request timeout (seconds); redirects are followed."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, user_agent: str = USER_AGENT) -> None:
        self.timeout = timeout
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(_NoRaise())

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        request = urllib.request.Request(url, method="GET", headers={"User-Agent": self.user_agent})
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                body = resp.read()
                return HttpResponse(
                    status=int(resp.status),
                    url=url,
                    body=body,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                )
        except TimeoutError as exc:
            raise NetworkError(url, "timeout", str(exc) or "timed out") from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError | socket.timeout):
                raise NetworkError(url, "timeout", str(reason) or "timed out") from exc
            raise NetworkError(url, "connection", str(reason)) from exc
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise NetworkError(url, "connection", f"{type(exc).__name__}: {exc}") from exc


__all__ = ["DEFAULT_TIMEOUT", "HttpClient", "HttpResponse", "NetworkError", "UrllibClient"]
