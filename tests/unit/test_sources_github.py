"""The GitHub source against a local GitHub-contents-compatible server with ETags."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from registry_server import SEED, FakeClock, RegistryServer, State

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.sources.errors import BudgetExceeded, SourceConfigError
from mcpop.sources.github import GitHubCache, GitHubLocation, GitHubStats, fetch_github, parse_contents_url
from mcpop.sources.http import UrllibClient
from mcpop.sources.limits import SyncLimits
from mcpop.sources.retry import RetryPolicy
from mcpop.sources.sync import SyncResult, sync

SEED_ENTRIES = json.loads(SEED.read_text(encoding="utf-8"))
TOKEN = "test-token"


def files() -> dict[str, str]:
    airtable, _, nuget, pypi, kbag = SEED_ENTRIES
    pypi_yaml = "\n".join(
        [
            f"name: {pypi['name']}",
            f"description: {pypi['description']}",
            f"version: {pypi['version']}",
            "packages:",
            "  - registryType: pypi",
            f"    identifier: {pypi['packages'][0]['identifier']}",
            "    transport: {type: stdio}",
        ]
    )
    return {
        "servers/airtable/server.json": json.dumps(airtable),
        "servers/nuget.json": json.dumps(nuget),
        "servers/time-pypi/server.yaml": pypi_yaml + "\n",
        "servers/kbag/server.json": json.dumps(kbag),
        "servers/README.md": "# not a server\n",
        "other/ignored.json": json.dumps(airtable),
    }


@pytest.fixture
def srv() -> Iterator[RegistryServer]:
    with RegistryServer(State(items=[], files=files(), token=TOKEN)) as server:
        yield server


def spec(**github: Any) -> MCPRegistrySpec:
    return MCPRegistrySpec.model_validate({"source": {"type": "github", "github": {"repo": "acme/servers", **github}}})


def run(srv: RegistryServer, cache: GitHubCache, token: str | None = TOKEN, **github: Any) -> SyncResult:
    clock = FakeClock()
    policy = RetryPolicy(sleep=clock.sleep, clock=clock.time)
    return sync(
        spec(**github), UrllibClient(timeout=5), policy=policy, token=token, github_cache=cache, github_api=srv.url
    )


def test_reads_server_files_under_the_path(srv: RegistryServer) -> None:
    result = run(srv, GitHubCache())
    assert result.ok, result.error
    assert sorted(e.name for e in result.entries) == [
        "io.github.domdomegg/airtable-mcp-server",
        "io.github.domdomegg/time-mcp-nuget",
        "io.github.domdomegg/time-mcp-pypi",
    ]
    assert [i.name for i in result.invalid] == ["kbag 1.0.0"]
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in srv.state.requests)
    listing = [r for r in srv.state.requests if r.path.startswith("/repos/")]
    assert {r.query["ref"] for r in listing} == {"main"}


def test_unchanged_repository_costs_only_304s(srv: RegistryServer) -> None:
    cache = GitHubCache()
    first = run(srv, cache)
    assert first.ok
    srv.state.requests.clear()
    second = run(srv, cache)
    assert second.ok and second.entries == first.entries
    # one conditional request per directory (servers, servers/airtable, servers/kbag, servers/time-pypi)
    assert srv.state.statuses() == [304, 304, 304, 304]
    assert all("if-none-match" in r.headers for r in srv.state.requests)


def test_a_changed_file_is_the_only_one_fetched_again(srv: RegistryServer) -> None:
    cache = GitHubCache()
    assert run(srv, cache).ok
    nuget = json.loads(srv.state.files["servers/nuget.json"])
    nuget["version"] = "1.0.9"
    srv.state.files["servers/nuget.json"] = json.dumps(nuget)
    srv.state.requests.clear()
    result = run(srv, cache)
    assert result.ok
    assert [(r.path, r.status) for r in srv.state.requests if r.status == 200] == [
        ("/repos/acme/servers/contents/servers", 200),
        ("/raw/acme/servers/main/servers/nuget.json", 200),
    ]
    assert ("io.github.domdomegg/time-mcp-nuget", "1.0.9") in {(e.name, e.version) for e in result.entries}


def test_contents_api_base64_when_there_is_no_download_url(srv: RegistryServer) -> None:
    srv.state.base64_only = True
    stats = GitHubStats()
    location = GitHubLocation(repo="acme/servers", path="servers/airtable", api=srv.url)
    got = fetch_github(location, UrllibClient(timeout=5), token=TOKEN, stats=stats)
    assert [e.version for e in got.entries] == ["1.7.2"]
    assert stats.requests == 2
    assert not any(r.path.startswith("/raw/") for r in srv.state.requests)


def test_missing_token_is_an_auth_failure(srv: RegistryServer) -> None:
    result = run(srv, GitHubCache(), token=None)
    assert not result.ok and result.auth_failed and result.entries == []


def test_unparsable_file_is_reported_not_fatal(srv: RegistryServer) -> None:
    srv.state.files["servers/broken.yaml"] = "name: [unclosed\n"
    result = run(srv, GitHubCache())
    assert result.ok and len(result.entries) == 3
    assert "servers/broken.yaml" in [i.name for i in result.invalid]


def test_url_shorthand(srv: RegistryServer) -> None:
    loc = parse_contents_url("https://api.example.test/repos/acme/servers/contents/servers/x?ref=dev")
    assert loc == GitHubLocation("acme/servers", "dev", "servers/x", "https://api.example.test")
    ghe = parse_contents_url("https://ghe.example.test/api/v3/repos/a/b/contents/?ref=main")
    assert (ghe.api, ghe.repo, ghe.path) == ("https://ghe.example.test/api/v3", "a/b", "")
    with pytest.raises(SourceConfigError, match="not a GitHub contents API URL"):
        parse_contents_url("https://example.test/a/b")
    shorthand = MCPRegistrySpec.model_validate({"url": f"{srv.url}/repos/acme/servers/contents/servers?ref=main"})
    result = sync(shorthand, UrllibClient(timeout=5), token=TOKEN, policy=RetryPolicy(sleep=lambda s: None))
    assert result.ok and len(result.entries) == 3


@pytest.mark.parametrize(
    ("limits", "setting"),
    [
        (SyncLimits(max_pages=2), "--registry-max-pages"),  # servers/ and its three subdirectories
        (SyncLimits(max_entries=3), "--registry-max-entries"),  # four server files
        (SyncLimits(max_bytes=1024), "--registry-max-bytes"),
    ],
)
def test_a_repository_past_a_sync_cap_fails_naming_it(srv: RegistryServer, limits: SyncLimits, setting: str) -> None:
    location = GitHubLocation(repo="acme/servers", api=srv.url)
    with pytest.raises(BudgetExceeded, match=re.escape(setting)):
        fetch_github(location, UrllibClient(timeout=5), RetryPolicy(sleep=lambda s: None), token=TOKEN, limits=limits)


def test_a_repository_within_its_caps_is_read_whole(srv: RegistryServer) -> None:
    location = GitHubLocation(repo="acme/servers", api=srv.url)
    got = fetch_github(location, UrllibClient(timeout=5), token=TOKEN, limits=SyncLimits(max_pages=4, max_entries=4))
    assert len(got.entries) + len(got.invalid) == 4  # one of the seed files is invalid
