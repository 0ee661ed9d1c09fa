"""The official MCP registry API: `GET {base}/v0.1/servers` with cursor pagination.

Pages are fetched until `metadata.nextCursor` is absent (the cursor is passed back unchanged). Only
`active` entries are kept, `deleted` ones are reported for removal, invalid ones are reported by name with
the reason. A page that cannot be read (after retries) or is malformed raises: a half catalogue is never
returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal
from urllib.parse import urlencode

from mcpop.api.serverjson import ServerJSON
from mcpop.api.validation import strip_userinfo
from mcpop.codec.reader import YAMLInputError
from mcpop.render.catalog import version_key
from mcpop.sources.entries import SourceEntries, parse_items
from mcpop.sources.errors import MalformedResponse, SourceError
from mcpop.sources.http import HttpClient
from mcpop.sources.limits import SyncLimits
from mcpop.sources.retry import RetryPolicy, check_response

LIST_PATH = "/v0.1/servers"
PAGE_LIMIT = 100
OPERATION = "official_list"


def newest_per_name(entries: Iterable[ServerJSON]) -> list[ServerJSON]:
    """The newest version of each name (semantic-version order), in first-seen name order."""
    best: dict[str, ServerJSON] = {}
    for entry in entries:
        current = best.get(entry.name)
        if current is None or version_key(entry.version) >= version_key(current.version):
            best[entry.name] = entry
    return list(best.values())


def list_url(base: str, cursor: str | None, limit: int, search: str | None, updated_since: str | None) -> str:
    params = {"limit": str(limit)}
    if cursor:
        params["cursor"] = cursor
    if search:
        params["search"] = search
    if updated_since:
        params["updated_since"] = updated_since
    return base.rstrip("/") + LIST_PATH + "?" + urlencode(params)


def fetch_official(
    base_url: str,
    client: HttpClient,
    policy: RetryPolicy | None = None,
    *,
    search: str | None = None,
    updated_since: str | None = None,
    version_policy: Literal["latest", "all"] = "latest",
    limit: int = PAGE_LIMIT,
    token: str | None = None,
    limits: SyncLimits | None = None,
) -> SourceEntries:
    """Every page of the list API, validated; raises SourceError/NetworkError if any page fails, and
    BudgetExceeded past `limits` (pages, entries, bytes)."""
    policy = policy or RetryPolicy()
    budget = (limits or SyncLimits()).budget(strip_userinfo(base_url))
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    out = SourceEntries()
    cursor: str | None = None
    seen: set[str] = set()
    page = 0
    while True:
        budget.page()
        url = list_url(base_url, cursor, limit, search, updated_since)

        def read_page(url: str = url) -> object:
            shown = strip_userinfo(url)
            response = check_response(client.get(url, headers=headers), policy.clock)
            budget.add_bytes(len(response.body))
            if response.status != 200:
                raise SourceError(f"GET {shown}: unexpected HTTP {response.status}")
            try:
                data = response.json()
            except YAMLInputError as exc:
                raise MalformedResponse(f"GET {shown}: response refused (not JSON, or past a limit): {exc}") from None
            if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
                raise MalformedResponse(f"GET {shown}: response has no 'servers' list")
            return data

        data = policy.call(OPERATION, read_page)
        assert isinstance(data, dict)
        budget.add_entries(len(data["servers"]))
        out.extend(parse_items({"servers": data["servers"]}, f"{strip_userinfo(base_url)} page {page + 1}"))
        metadata = data.get("metadata")
        next_cursor = metadata.get("nextCursor") if isinstance(metadata, dict) else None
        if not next_cursor:
            break
        if not isinstance(next_cursor, str) or next_cursor in seen:
            raise SourceError(f"{strip_userinfo(base_url)}: the registry returned a repeated or bad cursor")
        seen.add(next_cursor)
        cursor = next_cursor
        page += 1
    if version_policy == "latest":
        out.entries = newest_per_name(out.entries)
    return out


__all__ = ["LIST_PATH", "fetch_official", "list_url", "newest_per_name"]
