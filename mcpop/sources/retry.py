"""Retry policies for registry access (tenacity), built from the operator's `--github-*` flags.

Three independent budgets, each with its own counter and delays:

- general errors (5xx, malformed responses): exponential backoff from `github_initial_delay`, capped by
  `github_max_delay`, at most `github_max_retries` retries;
- rate limits (429, or 403 with rate-limit headers): wait until `X-RateLimit-Reset` (epoch seconds) or
  `Retry-After` (seconds), else exponential from `github_rate_limit_base_delay`; always capped by
  `github_rate_limit_max_delay`; at most `github_rate_limit_max_retries` retries;
- network errors (connection refused/reset, dropped connections, timeouts): exponential from
  `github_network_base_delay` capped by `github_network_max_delay`, at most `github_network_max_retries`.

Authentication failures (401, 403 without rate-limit headers), other 4xx, a fetch past its whole deadline
(`--fetch-timeout`), a body past its cap and a sync past its budget are not retried. `sleep` and
`clock` are injectable so tests run the waits on a shortened clock. Every retry and every rate-limit hit is
counted in Prometheus (default registry, registered once per process).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from prometheus_client import REGISTRY, Counter
from tenacity import RetryCallState, Retrying, stop_never

from mcpop.sources.errors import (
    AuthError,
    ClientError,
    DeadlineExceeded,
    HttpStatusError,
    MalformedResponse,
    NetworkError,
    RateLimitError,
    ServerError,
    SourceError,
)
from mcpop.sources.http import HttpResponse

T = TypeVar("T")
ErrorKind = Literal["general", "rate_limit", "network"]


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait as the headers say: `Retry-After` (seconds) first, then `X-RateLimit-Reset` (epoch)."""
    lower = {k.lower(): v for k, v in headers.items()}
    retry_after = _float(lower.get("retry-after"))
    if retry_after is not None:
        return max(0.0, retry_after)
    reset = _float(lower.get("x-ratelimit-reset"))
    if reset is not None:
        return max(0.0, reset - now)
    return None


def check_response(response: HttpResponse, clock: Callable[[], float] = time.time) -> HttpResponse:
    """The response if it is 2xx or 304; else the matching `HttpStatusError` subclass is raised."""
    status = response.status
    if 200 <= status < 300 or status == 304:
        return response
    limited = status == 429 or (
        status == 403
        and (
            response.header("x-ratelimit-remaining") == "0"
            or response.header("retry-after") is not None
            or "rate limit" in response.text()[:500].lower()
        )
    )
    if limited:
        raise RateLimitError(response, rate_limit_wait(response.headers, clock()))
    if status in (401, 403):
        raise AuthError(response)
    if status >= 500:
        raise ServerError(response)
    raise ClientError(response)


# -- metrics ------------------------------------------------------------------------------------------


def _counter(name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
    """A counter in the default registry, reused if this module was loaded before (reloads, tests)."""
    names: dict[str, Any] = getattr(REGISTRY, "_names_to_collectors", {})
    existing = names.get(name) or names.get(name + "_total")
    if isinstance(existing, Counter):
        return existing
    try:
        return Counter(name, documentation, labels)
    except ValueError:  # registered concurrently under the same name
        found = getattr(REGISTRY, "_names_to_collectors", {}).get(name + "_total")
        if isinstance(found, Counter):
            return found
        raise


RETRIES = _counter(
    "mcpop_registry_retries",
    "Registry access retries by operation, error type and result (retry, success, exhausted).",
    ("operation", "error_type", "result"),
)
RATE_LIMIT_HITS = _counter(
    "mcpop_registry_rate_limit_hits",
    "Rate-limit responses (429, or 403 with rate-limit headers) from registry sources, by operation.",
    ("operation",),
)


# -- policy -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryConfig:
    """The retry knobs (seconds); defaults are the operator flags' defaults."""

    max_retries: int = 5
    initial_delay: float = 1.0
    max_delay: float = 300.0
    rate_limit_max_retries: int = 3
    rate_limit_base_delay: float = 900.0
    rate_limit_max_delay: float = 3600.0
    network_max_retries: int = 5
    network_base_delay: float = 2.0
    network_max_delay: float = 120.0


def classify(exc: BaseException) -> tuple[ErrorKind, str] | None:
    """(budget, metric error_type) of a retryable error; None if it must not be retried."""
    if isinstance(exc, RateLimitError):
        return "rate_limit", "rate_limit"
    if isinstance(exc, DeadlineExceeded):
        return None  # a server that holds a fetch for the whole --fetch-timeout is not given another at once
    if isinstance(exc, NetworkError):
        return "network", exc.kind
    if isinstance(exc, ServerError):
        return "general", "server_error"
    if isinstance(exc, MalformedResponse):
        return "general", "malformed"
    return None


def _backoff(base: float, cap: float, attempt: int) -> float:
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


@dataclass
class _Attempts:
    counts: dict[ErrorKind, int] = field(default_factory=lambda: {"general": 0, "rate_limit": 0, "network": 0})
    last_kind: ErrorKind = "general"
    last_wait: float = 0.0
    retried: list[str] = field(default_factory=list)


@dataclass
class RetryPolicy:
    """Runs an operation under the three retry budgets; `sleep`/`clock` are injectable for tests."""

    config: RetryConfig = field(default_factory=RetryConfig)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    #: total seconds slept by this policy (handy in tests and logs)
    slept: float = 0.0
    rate_limited: bool = False

    def _budget(self, kind: ErrorKind) -> int:
        c = self.config
        return {"general": c.max_retries, "rate_limit": c.rate_limit_max_retries, "network": c.network_max_retries}[
            kind
        ]

    def _delay(self, kind: ErrorKind, attempt: int, exc: BaseException) -> float:
        c = self.config
        if kind == "rate_limit":
            asked = exc.wait if isinstance(exc, RateLimitError) else None
            delay = asked if asked is not None else _backoff(c.rate_limit_base_delay, c.rate_limit_max_delay, attempt)
            return float(min(delay, c.rate_limit_max_delay))
        if kind == "network":
            return _backoff(c.network_base_delay, c.network_max_delay, attempt)
        return _backoff(c.initial_delay, c.max_delay, attempt)

    def _do_sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.sleep(seconds)

    def call(self, operation: str, fn: Callable[[], T]) -> T:
        """`fn()`, retried as the policy says; the last error is re-raised when a budget runs out."""
        state = _Attempts()

        def should_retry(retry_state: RetryCallState) -> bool:
            outcome = retry_state.outcome
            if outcome is None or not outcome.failed:
                return False
            exc = outcome.exception()
            if isinstance(exc, RateLimitError):
                self.rate_limited = True
                RATE_LIMIT_HITS.labels(operation=operation).inc()
            kind_and_type = classify(exc) if exc is not None else None
            if kind_and_type is None:
                return False
            kind, error_type = kind_and_type
            state.counts[kind] += 1
            if state.counts[kind] > self._budget(kind):
                RETRIES.labels(operation=operation, error_type=error_type, result="exhausted").inc()
                return False
            assert exc is not None
            state.last_kind = kind
            state.last_wait = self._delay(kind, state.counts[kind], exc)
            state.retried.append(error_type)
            RETRIES.labels(operation=operation, error_type=error_type, result="retry").inc()
            return True

        retrying = Retrying(
            retry=should_retry,
            stop=stop_never,
            wait=lambda _rs: state.last_wait,
            sleep=self._do_sleep,
            reraise=True,
        )
        result = retrying(fn)
        for error_type in sorted(set(state.retried)):
            RETRIES.labels(operation=operation, error_type=error_type, result="success").inc()
        return result

    def get(self, client: Any, operation: str, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        """A GET through `client` (an `HttpClient`), status-checked and retried."""
        return self.call(operation, lambda: check_response(client.get(url, headers=headers), self.clock))


__all__ = [
    "RATE_LIMIT_HITS",
    "RETRIES",
    "AuthError",
    "ClientError",
    "HttpStatusError",
    "MalformedResponse",
    "RateLimitError",
    "RetryConfig",
    "RetryPolicy",
    "ServerError",
    "SourceError",
    "check_response",
    "classify",
    "rate_limit_wait",
]
