"""One sync of an MCPRegistry: read its source, validate, filter, and say how it went.

`sync(spec, client, previous)` dispatches on the source (official registry API, GitHub contents API,
ConfigMap data handed in by the caller), applies `filters {include, exclude}` (globs matched against the
full name or the short name), and returns a `SyncResult` carrying the entries, the invalid entries reported
by name, and the flags the controller turns into conditions (Reachable, RateLimited, AuthFailed). On any
failure the previous catalogue is returned untouched together with the error: a failed or partial sync
never publishes a half catalogue. No Kubernetes client here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from mcpop.api.mcpregistry import MCPRegistrySpec, RegistryFilters
from mcpop.api.serverjson import ServerJSON
from mcpop.api.validation import strip_userinfo
from mcpop.render.catalog import Catalog
from mcpop.sources.breaker import CircuitOpen
from mcpop.sources.configmap import load_configmap
from mcpop.sources.entries import DeletedEntry, InvalidEntry, SourceEntries
from mcpop.sources.errors import AuthError, NetworkError, RateLimitError, ServerError, SourceConfigError, SourceError
from mcpop.sources.github import DEFAULT_API, GitHubCache, GitHubLocation, fetch_github, parse_contents_url
from mcpop.sources.http import HttpClient
from mcpop.sources.limits import SyncLimits
from mcpop.sources.official import fetch_official, newest_per_name
from mcpop.sources.retry import RetryPolicy


@dataclass
class SyncResult:
    """The catalogue after a sync (or the previous one, if this sync failed) and how the sync went."""

    ok: bool
    #: the published catalogue: valid, active, filtered entries
    entries: list[ServerJSON] = field(default_factory=list)
    #: every valid entry before filtering (what an incremental sync merges into)
    unfiltered: list[ServerJSON] = field(default_factory=list)
    invalid: list[InvalidEntry] = field(default_factory=list)
    deleted: list[DeletedEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None
    reachable: bool = True
    rate_limited: bool = False
    auth_failed: bool = False
    #: the sync was refused by an open circuit breaker (mcpop.sources.breaker) without asking the source
    circuit_open: bool = False
    #: a rate limit was hit (and waited out) during the sync, even if it then succeeded
    rate_limit_hit: bool = False
    #: RFC 3339 time the last successful sync started (the next incremental sync asks from there)
    synced_at: str | None = None
    source_key: str = ""
    incremental: bool = False

    @property
    def catalog(self) -> Catalog:
        return Catalog(list(self.entries), f"registry {self.source_key}")

    @property
    def names(self) -> list[str]:
        return sorted({e.name for e in self.entries})


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def matches(name: str, patterns: Iterable[str]) -> bool:
    short = name.rsplit("/", 1)[-1]
    return any(fnmatchcase(name, p) or fnmatchcase(short, p) for p in patterns)


def apply_filters(entries: Iterable[ServerJSON], filters: RegistryFilters | None) -> list[ServerJSON]:
    """Entries whose name matches an `include` glob (all if none given) and no `exclude` glob."""
    include = (filters.include if filters else None) or []
    exclude = (filters.exclude if filters else None) or []
    return [e for e in entries if (not include or matches(e.name, include)) and not matches(e.name, exclude)]


def source_key(spec: MCPRegistrySpec) -> str:
    """A stable description of where the entries come from (an incremental sync needs the same one)."""
    src = spec.source
    if spec.url:
        return f"url:{strip_userinfo(spec.url)}"
    if src and src.mcp_registry:
        r = src.mcp_registry
        return f"mcp-registry:{strip_userinfo(r.url)}|search={r.search or ''}|versions={r.version_policy}"
    if src and src.github:
        g = src.github
        return f"github:{g.repo}@{g.branch}:{g.path}"
    if src and src.config_map:
        return f"configmap:{src.config_map.name}/{src.config_map.key or '*'}"
    return "none"


def _dedupe(entries: Iterable[ServerJSON]) -> list[ServerJSON]:
    by_key: dict[tuple[str, str], ServerJSON] = {}
    for e in entries:
        by_key[(e.name, e.version)] = e
    return list(by_key.values())


def merge(previous: Iterable[ServerJSON], update: SourceEntries, version_policy: str = "latest") -> list[ServerJSON]:
    """An incremental update applied to the previous entries: deletions removed, new versions added."""
    gone_versions = {(d.name, d.version) for d in update.deleted if d.version}
    gone_names = {d.name for d in update.deleted if not d.version}
    kept = [e for e in previous if e.name not in gone_names and (e.name, e.version) not in gone_versions]
    merged = _dedupe([*kept, *update.entries])
    return newest_per_name(merged) if version_policy == "latest" else merged


def sync(
    spec: MCPRegistrySpec,
    client: HttpClient,
    previous: SyncResult | None = None,
    *,
    policy: RetryPolicy | None = None,
    token: str | None = None,
    configmap_data: Mapping[str, str] | None = None,
    github_cache: GitHubCache | None = None,
    github_api: str = DEFAULT_API,
    incremental: bool = False,
    clock: Callable[[], float] = time.time,
    limits: SyncLimits | None = None,
) -> SyncResult:
    """Sync the spec's source once. Never raises for source problems: they come back in the result."""
    # a fresh copy per sync: the rate-limit flag and the slept total describe this sync only
    policy = replace(policy, slept=0.0, rate_limited=False) if policy is not None else RetryPolicy(clock=clock)
    key = source_key(spec)
    started = rfc3339(clock())
    src = spec.source
    is_incremental = False
    try:
        if src is not None and src.mcp_registry is not None:
            reg = src.mcp_registry
            since = None
            if incremental and previous is not None and previous.synced_at and previous.source_key == key:
                since, is_incremental = previous.synced_at, True
            got = fetch_official(
                reg.url,
                client,
                policy,
                search=reg.search,
                updated_since=since,
                version_policy=reg.version_policy,
                token=token,
                limits=limits,
            )
            if is_incremental and previous is not None:
                unfiltered = merge(previous.unfiltered, got, reg.version_policy)
            else:
                unfiltered = _dedupe(got.entries)
        elif spec.url is not None or (src is not None and src.github is not None):
            if spec.url is not None:
                location = parse_contents_url(spec.url)
            else:
                assert src is not None and src.github is not None
                g = src.github
                location = GitHubLocation(repo=g.repo, branch=g.branch, path=g.path, api=github_api)
            got = fetch_github(location, client, policy, token=token, cache=github_cache, limits=limits)
            unfiltered = _dedupe(got.entries)
        elif src is not None and src.config_map is not None:
            if configmap_data is None:
                raise SourceConfigError(f"the data of ConfigMap {src.config_map.name} was not provided")
            got = load_configmap(configmap_data, src.config_map.key, name=src.config_map.name)
            unfiltered = _dedupe(got.entries)
        else:
            raise SourceConfigError("no source: give url, source.mcpRegistry, source.github or source.configMap")
    except SourceError as exc:
        return failed(previous, key, exc, rate_limit_hit=policy.rate_limited)
    return SyncResult(
        ok=True,
        entries=apply_filters(unfiltered, spec.filters),
        unfiltered=unfiltered,
        invalid=got.invalid,
        deleted=got.deleted,
        skipped=got.skipped,
        rate_limit_hit=policy.rate_limited,
        synced_at=started,
        source_key=key,
        incremental=is_incremental,
    )


def failed(previous: SyncResult | None, key: str, exc: BaseException, *, rate_limit_hit: bool = False) -> SyncResult:
    """The previous catalogue, untouched, with the error and the condition flags it implies."""
    base = previous if previous is not None else SyncResult(ok=False, source_key=key)
    return replace(
        base,
        ok=False,
        entries=list(base.entries),
        unfiltered=list(base.unfiltered),
        error=str(exc),
        reachable=not isinstance(exc, NetworkError | ServerError | CircuitOpen),
        circuit_open=isinstance(exc, CircuitOpen),
        rate_limited=isinstance(exc, RateLimitError),
        auth_failed=isinstance(exc, AuthError),
        rate_limit_hit=rate_limit_hit or isinstance(exc, RateLimitError),
        incremental=False,
    )


__all__ = ["SyncResult", "apply_filters", "failed", "matches", "merge", "rfc3339", "source_key", "sync"]
