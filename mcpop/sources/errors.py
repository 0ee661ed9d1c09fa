"""The errors a registry source raises: all `SourceError`, so a sync catches exactly these and lets bugs surface.

`NetworkError` (no HTTP response), the `HttpStatusError` family (a response with an unexpected status),
`MalformedResponse` (a body that is not what the API promises), `InvalidContent` (a file that is no
registry data), `RedirectError` (a redirect loop or a redirect without a target), `SourceConfigError` (the
source's own settings, such as a URL that is no GitHub contents API URL) and `CatalogError` (a catalogue
file or the embedded catalogue that cannot be read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

from mcpop.api.validation import strip_userinfo
from mcpop.errors import McpopError


def size(n: int) -> str:
    """A byte count for a message: `8 MiB`, `512 KiB`, `100 bytes`."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


class SourceError(McpopError):
    """A registry source could not be read (after retries, where retrying made sense)."""


class SourceConfigError(SourceError):
    """The source is described wrongly (a bad URL, a missing key): not retried, fix the spec."""


class NetworkError(SourceError):
    """The request did not get an HTTP response: `kind` is `timeout` or `connection`."""

    def __init__(self, url: str, kind: Literal["timeout", "connection"], detail: str) -> None:
        super().__init__(f"GET {strip_userinfo(url)}: {kind} error: {detail}")
        self.url = strip_userinfo(url)
        self.kind = kind
        self.detail = detail


class DeadlineExceeded(NetworkError):
    """The whole fetch (connect, every redirect, headers and body) took longer than its deadline
    (`--fetch-timeout`): a server that trickles is cut off. Not retried within the sync."""

    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(url, "timeout", f"no complete response within {seconds:g}s (--fetch-timeout)")
        self.seconds = seconds


class ResponseTooLarge(SourceError):
    """A response body (after decompression) went past its cap: reading stopped there. Not retried."""

    def __init__(self, url: str, cap: int) -> None:
        super().__init__(f"GET {strip_userinfo(url)}: the response is larger than the {size(cap)} cap; stopped reading")
        self.url = strip_userinfo(url)
        self.cap = cap


class BudgetExceeded(SourceError):
    """One sync of an MCPRegistry went past a cap on what it may read (`--registry-max-entries`,
    `--registry-max-bytes`, `--registry-max-pages`): nothing of it is published. Not retried."""


class RedirectError(SourceError):
    """Too many redirects, or a redirect status without a Location."""


class _Response(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    def text(self) -> str: ...


class HttpStatusError(SourceError):
    """An unexpected HTTP status."""

    def __init__(self, response: _Response, message: str | None = None) -> None:
        # the status only: a response body is the server's words, never put in a status, event or log line
        super().__init__(message or f"GET {strip_userinfo(response.url)}: HTTP {response.status}")
        self.status = response.status
        self.url = strip_userinfo(response.url)
        self.headers = response.headers


class ServerError(HttpStatusError):
    """5xx: worth retrying with backoff."""


class ClientError(HttpStatusError):
    """Another 4xx (not found, bad request): not retried."""


class AuthError(HttpStatusError):
    """401, or 403 that is not a rate limit: the token is missing, wrong or lacks access. Not retried."""


class RateLimitError(HttpStatusError):
    """429, or 403 with rate-limit headers. `wait` is the delay the server asked for, in seconds, if any."""

    def __init__(self, response: _Response, wait: float | None) -> None:
        super().__init__(response, f"GET {strip_userinfo(response.url)}: rate limited (HTTP {response.status})")
        self.wait = wait


class MalformedResponse(SourceError):
    """The body was not what the API promises (not JSON, wrong shape): retried as a general error."""


class InvalidContent(SourceError):
    """A file or ConfigMap value of a source is no registry data (not UTF-8, neither JSON nor YAML): that
    file's entries are reported invalid, the rest of the source is still read."""


class CatalogError(SourceError):
    """A catalogue shipped with mcpop or handed in as a file cannot be read as one."""


__all__ = [
    "AuthError",
    "BudgetExceeded",
    "CatalogError",
    "ClientError",
    "DeadlineExceeded",
    "HttpStatusError",
    "InvalidContent",
    "MalformedResponse",
    "NetworkError",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLarge",
    "ServerError",
    "SourceConfigError",
    "SourceError",
]
