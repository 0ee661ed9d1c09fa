"""A GitHub repository (contents API) as a registry source.

`GET {api}/repos/{owner}/{repo}/contents/{path}?ref={branch}` lists the directory; every `*.json`,
`*.yaml` or `*.yml` file in it (and in its subdirectories, such as `servers/<name>/server.json`) is read,
from `download_url` when given, else from the contents API's base64 `content`. Requests are conditional
(`If-None-Match` with the cached ETag) and file bodies are cached by blob sha, so syncing an unchanged
repository costs one 304 per directory and nothing else. The token goes in `Authorization: Bearer`, and only
to the API's own origin: a `download_url` on another host (raw.githubusercontent.com for api.github.com)
is fetched without it, and if that host refuses, the file is read through the contents API instead.
Listings and files are read within `mcpop.codec.reader.REGISTRY_DATA`'s limits.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from mcpop.codec.reader import REGISTRY_DATA, YAMLInputError, load_json
from mcpop.sources.entries import InvalidEntry, SourceEntries, decode, list_items, load_text, parse_items
from mcpop.sources.errors import (
    AuthError,
    ClientError,
    InvalidContent,
    MalformedResponse,
    SourceConfigError,
    SourceError,
)
from mcpop.sources.http import HttpClient, HttpResponse, origin
from mcpop.sources.limits import SyncBudget, SyncLimits
from mcpop.sources.retry import RetryPolicy

DEFAULT_API = "https://api.github.com"
SUFFIXES = (".json", ".yaml", ".yml")
MAX_DEPTH = 3
MAX_FILES = 5000
LIST_OPERATION = "github_list"
FETCH_OPERATION = "github_fetch"


@dataclass(frozen=True)
class GitHubLocation:
    """Where the server files are: API base, `owner/repo`, branch and path in the repository."""

    repo: str
    branch: str = "main"
    path: str = "servers"
    api: str = DEFAULT_API

    @property
    def contents_url(self) -> str:
        return self.url_for(self.path)

    def url_for(self, path: str) -> str:
        clean = quote(path.strip("/"))
        return f"{self.api.rstrip('/')}/repos/{self.repo}/contents/{clean}?ref={quote(self.branch, safe='')}"


def parse_contents_url(url: str) -> GitHubLocation:
    """The original `url` shorthand: `https://<api>/repos/OWNER/REPO/contents/PATH?ref=BRANCH`.

    Also accepts the API under a prefix (GitHub Enterprise: `https://host/api/v3/repos/...`). Raises
    SourceConfigError on anything else.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourceConfigError(f"{url!r} is not an http(s) URL")
    segments = parts.path.split("/")
    at = segments.index("repos") if "repos" in segments else -1
    rest = segments[at + 1 :]
    if at < 0 or len(rest) < 3 or rest[2] != "contents" or not rest[0] or not rest[1]:
        raise SourceConfigError(f"{url!r} is not a GitHub contents API URL (.../repos/OWNER/REPO/contents/PATH)")
    prefix = "/".join(segments[:at])
    api = f"{parts.scheme}://{parts.netloc}{prefix}"
    ref = parse_qs(parts.query).get("ref", ["main"])[0]
    return GitHubLocation(repo=f"{rest[0]}/{rest[1]}", branch=ref, path="/".join(rest[3:]).strip("/"), api=api)


@dataclass
class CachedBody:
    etag: str
    body: bytes


@dataclass
class GitHubCache:
    """ETags and bodies by URL, file texts by blob sha; keep one per MCPRegistry between syncs."""

    responses: dict[str, CachedBody] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)
    #: lookups answered from the cache (a 304, a blob already read) and not (a full response)
    hits: int = 0
    misses: int = 0

    def __len__(self) -> int:
        return len(self.responses) + len(self.blobs)


@dataclass
class GitHubStats:
    requests: int = 0
    not_modified: int = 0


def _headers(token: str | None, accept: str) -> dict[str, str]:
    headers = {"Accept": accept, "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class _Reader:
    def __init__(
        self,
        client: HttpClient,
        policy: RetryPolicy,
        cache: GitHubCache,
        token: str | None,
        stats: GitHubStats,
        api: str,
        budget: SyncBudget,
    ) -> None:
        self.client, self.policy, self.cache, self.token, self.stats = client, policy, cache, token, stats
        self.api_origin = origin(api)
        self.budget = budget

    def same_origin(self, url: str) -> bool:
        return origin(url) == self.api_origin

    def get(self, operation: str, url: str, accept: str) -> bytes:
        """The body at url, from the cache when the server answers 304; the token only for the API's origin."""
        headers = _headers(self.token if self.same_origin(url) else None, accept)
        cached = self.cache.responses.get(url)
        if cached is not None:
            headers["If-None-Match"] = cached.etag
        response: HttpResponse = self.policy.get(self.client, operation, url, headers)
        self.stats.requests += 1
        self.budget.add_bytes(len(response.body))
        if response.status == 304:
            if cached is None:
                raise MalformedResponse(f"GET {url}: 304 Not Modified without a cached copy")
            self.stats.not_modified += 1
            self.cache.hits += 1
            return cached.body
        if response.status != 200:
            raise MalformedResponse(f"GET {url}: unexpected HTTP {response.status}")
        self.cache.misses += 1
        etag = response.header("etag")
        if etag:
            self.cache.responses[url] = CachedBody(etag, response.body)
        return response.body

    def get_json(self, operation: str, url: str) -> Any:
        body = self.get(operation, url, "application/vnd.github+json")
        try:
            return load_json(body, REGISTRY_DATA)
        except YAMLInputError as exc:
            raise MalformedResponse(f"GET {url}: response refused (not JSON, or past a limit): {exc}") from None


def _file_text(reader: _Reader, item: dict[str, Any]) -> str:
    sha = item.get("sha")
    if isinstance(sha, str) and sha in reader.cache.blobs:
        reader.cache.hits += 1
        return reader.cache.blobs[sha]
    download = item.get("download_url")
    url = item.get("url")
    text: str | None = None
    if isinstance(download, str) and download:
        api_fallback = isinstance(url, str) and not reader.same_origin(download) and reader.same_origin(url)
        try:
            raw = reader.get(FETCH_OPERATION, download, "application/vnd.github.raw")
        except (AuthError, ClientError):
            if not api_fallback:
                raise
        else:
            text = decode(raw, str(item.get("path")))
    if text is None:
        if not isinstance(url, str):
            raise MalformedResponse(f"{item.get('path')}: listing gives neither download_url nor url")
        data = reader.get_json(FETCH_OPERATION, url)
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(content, str):
            raise MalformedResponse(f"{url}: no content in the contents API response")
        try:
            raw = base64.b64decode(content)
        except binascii.Error as exc:
            raise MalformedResponse(f"{url}: content is not base64: {exc}") from exc
        text = decode(raw, str(item.get("path")))
    if isinstance(sha, str):
        reader.cache.blobs[sha] = text
    return text


def fetch_github(
    location: GitHubLocation,
    client: HttpClient,
    policy: RetryPolicy | None = None,
    *,
    token: str | None = None,
    cache: GitHubCache | None = None,
    stats: GitHubStats | None = None,
    limits: SyncLimits | None = None,
) -> SourceEntries:
    """Every server file under the location, validated; raises SourceError/NetworkError on failure, and
    BudgetExceeded past `limits` (directory listings as pages, files and the entries in them, bytes)."""
    budget = (limits or SyncLimits()).budget(f"{location.repo}/{location.path}")
    reader = _Reader(
        client,
        policy or RetryPolicy(),
        cache if cache is not None else GitHubCache(),
        token,
        stats or GitHubStats(),
        location.api,
        budget,
    )
    out = SourceEntries()
    files: list[dict[str, Any]] = []
    pending: list[tuple[str, int]] = [(location.path, 0)]
    while pending:
        path, depth = pending.pop(0)
        budget.page()
        listing = reader.get_json(LIST_OPERATION, location.url_for(path))
        if isinstance(listing, dict):  # the path is a single file
            listing = [listing]
        if not isinstance(listing, list):
            raise MalformedResponse(f"{location.url_for(path)}: expected a directory listing")
        for item in sorted((i for i in listing if isinstance(i, dict)), key=lambda i: str(i.get("path", ""))):
            name = str(item.get("name", ""))
            if item.get("type") == "dir" and depth < MAX_DEPTH:
                pending.append((str(item.get("path", "")), depth + 1))
            elif item.get("type") == "file" and name.lower().endswith(SUFFIXES):
                files.append(item)
    if len(files) > MAX_FILES:
        raise SourceError(f"{location.repo}/{location.path}: more than {MAX_FILES} files")
    budget.add_entries(len(files))
    for item in files:
        label = f"{location.repo}@{location.branch}:{item.get('path')}"
        try:
            data = load_text(_file_text(reader, item), label)
        except InvalidContent as exc:
            out.invalid.append(InvalidEntry(str(item.get("path")), str(exc)))
            continue
        budget.add_entries(max(0, len(list_items(data) or []) - 1))  # the file was counted as one
        out.extend(parse_items(data, label))
    return out


__all__ = ["GitHubCache", "GitHubLocation", "GitHubStats", "fetch_github", "parse_contents_url"]
