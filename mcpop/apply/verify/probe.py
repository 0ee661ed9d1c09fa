"""One MCP handshake with a server, classified as the `Verified` condition reports it.

`initialize` (or `server/discover` on servers speaking 2026-07-28: the SDK's `mode="auto"` probes it
and falls back to initialize), then `tools/list` when the server announces tools. Every outcome is a
`Verdict`; nothing raises.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mcpop.api.mcpserver import MAX_TOOL_NAMES
from mcpop.apply.verify.sdk import ensure_sdk

#: tools/list pages followed at most (a paginator that never ends cannot hold a probe)
MAX_PAGES = 20

#: seconds a probe's TCP connection may take to open (the whole handshake has the verify timeout: a bridged stdio
#: server starts its command per session). Within a cluster a connection opens at once or not at all: right after
#: a rollout, connection tracking can still send a probe's SYNs to the old pod that has just gone, where nothing
#: answers them (measured on the real node: the whole 30 s timeout spent so); a new connection a moment later
#: (the verifier's retry) reaches the new pod
CONNECT_TIMEOUT = 5.0

#: how mcpop-bridge's own JSON-RPC errors begin
BRIDGE_ERROR = "mcpop-bridge: "

HANDSHAKE = "Handshake"
#: the URL's host name does not resolve: no answer within the timeout is reported as no address, so a resolver
#: that is slow one time and says "no such name" the next gives the same verdict (and writes nothing)
NAME_NOT_RESOLVED = "NameNotResolved"
CONNECTION_REFUSED = "ConnectionRefused"
HTTP_ERROR = "HTTPError"
PROTOCOL_ERROR = "ProtocolError"
TIMEOUT = "Timeout"
SDK_UNAVAILABLE = "SDKUnavailable"
#: the server wants a Bearer token (spec.auth): the probe has none, so the handshake is not known, not failed
AUTH_REQUIRED = "AuthRequired"
#: the reasons of a failed probe (the `reason` label of mcpop_mcpserver_verify_failures_total)
FAILURE_REASONS = (NAME_NOT_RESOLVED, CONNECTION_REFUSED, HTTP_ERROR, PROTOCOL_ERROR, TIMEOUT, SDK_UNAVAILABLE)


@dataclass(frozen=True)
class Verdict:
    """A probe's outcome: the `Verified` condition's status, reason and message, and on success the
    `status.mcp` block (wire form)."""

    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str
    handshake: dict[str, Any] | None = None
    duration: float = field(default=0.0, compare=False)


def redact(url: str) -> str:
    """The URL without credentials, query or fragment (what messages and logs may show)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "<unparseable URL>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def probe(url: str, transport: str, timeout: float, token: str | None = None) -> Verdict:
    """Speak MCP to `url` (`streamable-http` or `sse`) within `timeout` seconds, with `token` as a Bearer token
    when given (blocking; run it in a thread of its own: it runs its own event loop)."""
    start = time.monotonic()
    why = ensure_sdk()
    if why is not None:
        return Verdict("Unknown", SDK_UNAVAILABLE, why)
    import anyio  # the MCP SDK and its dependencies import only once ensure_sdk() has put them on sys.path

    safe = redact(url)
    try:
        handshake = anyio.run(_handshake, url, transport, timeout, token)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        reason, detail = classify(exc, timeout)
        if url != safe:
            detail = detail.replace(url, safe)
        if reason == HTTP_ERROR and detail.startswith("HTTP 401"):
            why = ("the server refused the operator's token (is the operator's ServiceAccount among the server's "
                   "accepted subjects, with the cluster's keys?)" if token else "the server requires a Bearer "
                   "token (spec.auth) and the operator has none for it (it needs its ServiceAccount, "
                   "--service-account, and the cluster's OIDC discovery)")  # fmt: skip
            return Verdict("Unknown", AUTH_REQUIRED, f"{safe}: {detail}: {why}, so the handshake is not verified",
                           duration=time.monotonic() - start)  # fmt: skip
        return Verdict("False", reason, f"{safe}: {detail}", duration=time.monotonic() - start)
    return Verdict("True", HANDSHAKE, _summary(safe, handshake), handshake, time.monotonic() - start)


_tls: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def _tls_context() -> ssl.SSLContext:
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = ssl.create_default_context()
        return _tls


class NameNotResolved(Exception):
    """The URL's host has no address: the resolver said so, or gave no answer in time."""

    def __init__(self, host: str) -> None:
        super().__init__(f"the name {host} does not resolve")


async def _resolve(url: str, timeout: float) -> None:
    """Raise NameNotResolved unless the URL's host (a name, not an address) resolves within `timeout`."""
    import anyio

    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    try:
        with anyio.fail_after(timeout):
            await anyio.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, TimeoutError) as exc:
        raise NameNotResolved(host) from exc


class HTTPStatusFailure(Exception):
    """The server answered an MCP request with an HTTP error status (the SDK turns it into a JSON-RPC
    error without the status; an httpx response hook keeps it)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"HTTP {code}")
        self.code = code


async def _handshake(url: str, transport: str, timeout: float, token: str | None = None) -> dict[str, Any]:
    import anyio  # after ensure_sdk(), as in probe()
    import httpx2
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    deadline = anyio.current_time() + timeout
    await _resolve(url, timeout)
    failed: list[int] = []

    async def on_response(response: Any) -> None:
        if response.status_code >= 400:
            failed.append(int(response.status_code))

    def http_client(headers: Any = None, timeout: Any = None, auth: Any = None) -> Any:
        # one TLS context for every probe: building one per client (loading the CA bundle) cost CPU and
        # grew the operator's memory with every handshake; no proxies from the environment either
        t = timeout if isinstance(timeout, httpx2.Timeout) else httpx2.Timeout(timeout)
        connect = CONNECT_TIMEOUT if t.connect is None else min(t.connect, CONNECT_TIMEOUT)
        bounded = httpx2.Timeout(connect=connect, read=t.read, write=t.write, pool=t.pool)
        return httpx2.AsyncClient(headers=headers, timeout=bounded, auth=auth, verify=_tls_context(),
                                  trust_env=False, event_hooks={"response": [on_response]})  # fmt: skip

    try:
        with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
            headers = {"Authorization": f"Bearer {token}"} if token else None
            async with http_client(headers=headers, timeout=httpx2.Timeout(timeout)) as http:
                conn: Any = (
                    sse_client(
                        url,
                        headers=headers,
                        timeout=timeout,
                        sse_read_timeout=timeout,
                        httpx_client_factory=http_client,
                    )
                    if transport == "sse"
                    else streamable_http_client(url, http_client=http)
                )
                async with Client(conn, mode="auto", cache=None, read_timeout_seconds=timeout) as client:
                    return await _describe(client)
    except Exception as exc:
        # mcpop-bridge's own JSON-RPC error (the server process exited, with its last stderr lines) says more
        # than the HTTP status of a request around it
        bridged = any(str(e).startswith(BRIDGE_ERROR) for e in _leaves(exc))
        if failed and not isinstance(exc, TimeoutError) and not bridged:
            raise HTTPStatusFailure(failed[0]) from exc
        raise


async def _describe(client: Any) -> dict[str, Any]:
    """status.mcp of a connected SDK client: what the handshake said, and the tools it lists."""
    caps = client.server_capabilities
    info = client.server_info
    out: dict[str, Any] = {"protocolVersion": client.protocol_version}
    if info is not None:
        out["serverInfo"] = {k: v for k, v in (("name", info.name), ("version", info.version)) if v}
    out["capabilities"] = caps.model_dump(mode="json", by_alias=True, exclude_none=True)
    if caps.tools is not None:
        digests: dict[str, str] = {}
        count, cursor = 0, None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            count += len(page.tools)
            for tool in page.tools:
                digests[tool.name] = tool_digest(tool.model_dump(mode="json", by_alias=True, exclude_none=True))
            held = withheld(page.meta)
            count += len(held)
            digests.update(held)
            cursor = page.next_cursor
            if not cursor:
                break
        out["tools"] = tools_status(count, digests)
    return out


#: the parts of a tool's definition its digest covers: what a client shows a model and what it sends
TOOL_DEFINITION = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
#: the annotations a digest covers: the specification's (the SDK's model drops any other)
TOOL_ANNOTATIONS = ("title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")


#: the _meta key under which mcpop-bridge lists the tools it withheld as not approved (tools/bridge-src/inventory.go)
WITHHELD_META = "io.allbeone.mcp/withheld"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_./:@+-]{1,128}$")


def withheld(meta: Any) -> dict[str, str]:
    """The tools mcpop-bridge withheld from a tools/list page as not approved (name → digest of their current
    definition): what the server lists, beyond what a client is shown. Malformed entries are ignored."""
    entries = meta.get(WITHHELD_META) if isinstance(meta, dict) else None
    if not isinstance(entries, list):
        return {}
    out: dict[str, str] = {}
    for e in entries[: MAX_TOOL_NAMES * 8]:
        name, digest = (e.get("name"), e.get("digest")) if isinstance(e, dict) else (None, None)
        if isinstance(name, str) and isinstance(digest, str) and _TOOL_NAME.match(name) and _DIGEST.match(digest):
            out[name] = digest
    return out


def tool_digest(tool: dict[str, Any]) -> str:
    """`sha256:<hex>` of a tool's definition: TOOL_DEFINITION (of the annotations, TOOL_ANNOTATIONS) as canonical
    JSON, keys sorted, null members left out at every depth, non-ASCII escaped. A changed description or schema
    changes it, `_meta` and key order do not. mcpop-bridge computes the same digest (tools/bridge-src/inventory.go;
    tests/fixtures/tool-digests.json)."""
    definition = {k: tool[k] for k in TOOL_DEFINITION if k in tool}
    if isinstance(definition.get("annotations"), dict):
        definition["annotations"] = {k: v for k, v in definition["annotations"].items() if k in TOOL_ANNOTATIONS}
    definition = _without_nulls(definition)
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def tools_status(count: int, digests: dict[str, str]) -> dict[str, Any]:
    """status.mcp.tools: the count, the first MAX_TOOL_NAMES names (by name) with their digests, and one
    digest over every tool listed (so a change beyond the cap still shows)."""
    ordered = sorted(digests.items())
    whole = hashlib.sha256("\n".join(f"{n} {d}" for n, d in ordered).encode()).hexdigest()
    shown = ordered[:MAX_TOOL_NAMES]
    return {"count": count, "names": [n for n, _ in shown], "digest": f"sha256:{whole}",
            "definitions": [{"name": n, "digest": d} for n, d in shown]}  # fmt: skip


def classify(exc: BaseException, timeout: float) -> tuple[str, str]:
    """(reason, detail) of a failed probe; exception groups are searched for their most telling member."""
    leaves = list(_leaves(exc))
    for kinds, reason in _ORDER:
        for leaf in leaves:
            if _is(leaf, kinds):
                return reason, _detail(reason, leaf, timeout)
    leaf = leaves[0] if leaves else exc
    return PROTOCOL_ERROR, _detail(PROTOCOL_ERROR, leaf, timeout)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    out = [exc]
    cause = exc.__cause__ or exc.__context__
    depth = 0
    while cause is not None and depth < 5:
        out.append(cause)
        cause = cause.__cause__ or cause.__context__
        depth += 1
    return out


#: exception class names (matched on the MRO, so the SDK's httpx2 need not be imported here), in priority order
_ORDER: tuple[tuple[tuple[str, ...], str], ...] = (
    (("NameNotResolved",), NAME_NOT_RESOLVED),
    (("ConnectTimeout",), TIMEOUT),
    (("TimeoutError", "TimeoutException", "CancelledError"), TIMEOUT),
    (("HTTPStatusError", "HTTPStatusFailure"), HTTP_ERROR),
    (("ConnectError", "ConnectionRefusedError", "ConnectionError", "gaierror"), CONNECTION_REFUSED),
)


def _is(exc: BaseException, names: tuple[str, ...]) -> bool:
    return any(k.__name__ in names for k in type(exc).__mro__)


def _detail(reason: str, exc: BaseException, timeout: float) -> str:
    if reason == TIMEOUT:
        if _is(exc, ("ConnectTimeout",)):
            return f"no connection within {min(timeout, CONNECT_TIMEOUT):g}s"
        return f"no MCP handshake within {timeout:g}s"
    if reason == NAME_NOT_RESOLVED:
        return str(exc)
    if reason == HTTP_ERROR:
        code = getattr(exc, "code", None) or getattr(getattr(exc, "response", None), "status_code", None)
        if not code:
            return "HTTP error"
        try:
            phrase = HTTPStatus(int(code)).phrase
        except ValueError:
            phrase = ""
        return f"HTTP {code} {phrase}".rstrip()
    text = " ".join(str(exc).split()) or type(exc).__name__
    if reason == CONNECTION_REFUSED:
        return f"cannot connect: {text}"
    return f"not an MCP server answer: {type(exc).__name__}: {text}"[:500]


def _summary(url: str, handshake: dict[str, Any]) -> str:
    info = handshake.get("serverInfo") or {}
    who = " ".join(v for v in (info.get("name"), info.get("version")) if v) or "an anonymous server"
    tools = handshake.get("tools")
    count = f", {tools['count']} tool{'' if tools['count'] == 1 else 's'}" if tools else ""
    return f"MCP handshake with {url} (protocol {handshake.get('protocolVersion')}): {who}{count}"
