"""The registry HTTP client against real local servers: credentials never follow a redirect to another
origin, and one keep-alive connection carries a whole sync."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from registry_server import SEED, Fault, RegistryServer, State

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.sources.github import GitHubLocation, fetch_github
from mcpop.sources.http import UrllibClient, origin, redirect_headers
from mcpop.sources.official import fetch_official
from mcpop.sources.retry import RetryPolicy
from mcpop.sources.sync import sync

TOKEN = "s3cret-registry-token"
NO_SLEEP = RetryPolicy(sleep=lambda s: None)


@pytest.fixture
def origin_server() -> Iterator[RegistryServer]:
    with RegistryServer() as server:
        yield server


@pytest.fixture
def other_host() -> Iterator[RegistryServer]:
    """A server on another loopback address (Linux routes all of 127.0.0.0/8 to lo)."""
    with RegistryServer(host="127.0.0.2") as server:
        yield server


def redirect(to: str, path: str = "/v0.1/servers", status: int = 302) -> Fault:
    return Fault("status", status=status, headers={"Location": to, "Content-Length": "0"}, body="", path=path)


def test_token_is_not_sent_to_another_host_on_redirect(
    origin_server: RegistryServer, other_host: RegistryServer
) -> None:
    origin_server.state.faults.append(redirect(other_host.url + "/v0.1/servers?limit=100"))
    got = fetch_official(origin_server.url, UrllibClient(timeout=5), NO_SLEEP, token=TOKEN)
    assert got.entries, "the redirected request is answered by the other host"
    assert origin_server.state.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert other_host.state.requests, "the redirect was followed"
    assert all("authorization" not in r.headers for r in other_host.state.requests)


def test_token_is_not_sent_to_another_port_on_redirect(origin_server: RegistryServer) -> None:
    with RegistryServer() as same_host_other_port:
        origin_server.state.faults.append(redirect(same_host_other_port.url + "/v0.1/servers?limit=100", status=307))
        fetch_official(origin_server.url, UrllibClient(timeout=5), NO_SLEEP, token=TOKEN)
        assert same_host_other_port.state.requests
        assert all("authorization" not in r.headers for r in same_host_other_port.state.requests)


def test_token_stays_out_after_the_redirect_chain_comes_back(
    origin_server: RegistryServer, other_host: RegistryServer
) -> None:
    origin_server.state.faults.append(redirect(other_host.url + "/bounce"))
    other_host.state.faults.append(redirect(origin_server.url + "/v0.1/servers?limit=100", path="/bounce"))
    fetch_official(origin_server.url, UrllibClient(timeout=5), NO_SLEEP, token=TOKEN)
    first, after_bounce = origin_server.state.requests[:2]
    assert "authorization" in first.headers and "authorization" not in after_bounce.headers


def test_token_is_kept_on_a_same_origin_redirect(origin_server: RegistryServer) -> None:
    origin_server.state.faults.append(redirect("/v0.1/servers?limit=100&moved=1", status=301))
    fetch_official(origin_server.url, UrllibClient(timeout=5), NO_SLEEP, token=TOKEN)
    moved, target = origin_server.state.requests[:2]
    assert target.query.get("moved") == "1"
    assert moved.headers["authorization"] == target.headers["authorization"] == f"Bearer {TOKEN}"


def test_github_token_does_not_follow_a_redirect_to_another_host(
    origin_server: RegistryServer, other_host: RegistryServer
) -> None:
    origin_server.state.files = other_host.state.files = {"servers/a/server.json": SEED.read_text(encoding="utf-8")}
    moved = other_host.url + "/repos/acme/servers/contents/servers?ref=main"
    origin_server.state.faults.append(redirect(moved, path="/repos"))
    location = GitHubLocation("acme/servers", api=origin_server.url)
    fetch_github(location, UrllibClient(timeout=5), NO_SLEEP, token=TOKEN)
    listed = [r for r in other_host.state.requests if r.path.startswith("/repos")]
    assert listed and all("authorization" not in r.headers for r in listed)


def test_a_redirect_loop_fails_the_sync_with_the_reason(origin_server: RegistryServer) -> None:
    origin_server.state.faults.append(
        Fault("status", status=302, headers={"Location": "/v0.1/servers"}, body="", times=-1)
    )
    spec = MCPRegistrySpec.model_validate(
        {"source": {"type": "mcp-registry", "mcpRegistry": {"url": origin_server.url}}}
    )
    result = sync(spec, UrllibClient(timeout=5, max_redirects=3), policy=NO_SLEEP)
    assert not result.ok
    assert result.error is not None and "more than 3 redirects" in result.error


def test_a_paginated_official_sync_uses_one_connection(origin_server: RegistryServer) -> None:
    spec = MCPRegistrySpec.model_validate(
        {"source": {"type": "mcp-registry", "mcpRegistry": {"url": origin_server.url, "versionPolicy": "all"}}}
    )
    result = sync(spec, UrllibClient(timeout=5), policy=NO_SLEEP)
    assert result.ok, result.error
    assert len(origin_server.state.requests) == 3  # five entries in pages of two
    assert origin_server.state.connections == 1


def test_a_github_sync_of_many_files_uses_one_connection() -> None:
    files = {f"servers/s{i}/server.json": SEED.read_text(encoding="utf-8") for i in range(6)}
    with RegistryServer(State(files=files)) as srv:
        client = UrllibClient(timeout=5)
        fetch_github(GitHubLocation("acme/servers", api=srv.url), client, NO_SLEEP, token=TOKEN)
        fetch_github(GitHubLocation("acme/servers", api=srv.url), client, NO_SLEEP, token=TOKEN)
        assert len(srv.state.requests) > 10
        assert srv.state.connections == 1


def test_a_dropped_keepalive_connection_is_replaced(origin_server: RegistryServer) -> None:
    client = UrllibClient(timeout=5)
    fetch_official(origin_server.url, client, NO_SLEEP)
    origin_server.state.faults.append(Fault("drop", path="/v0.1/servers"))
    got = fetch_official(origin_server.url, client, NO_SLEEP)
    assert got.entries
    assert origin_server.state.connections == 2


def test_github_token_is_not_sent_to_a_download_url_on_another_host(
    origin_server: RegistryServer, other_host: RegistryServer
) -> None:
    origin_server.state.files = other_host.state.files = {"servers/a/server.json": SEED.read_text(encoding="utf-8")}
    origin_server.state.raw_base = other_host.url
    got = fetch_github(
        GitHubLocation("acme/servers", api=origin_server.url), UrllibClient(timeout=5), NO_SLEEP, token=TOKEN
    )
    assert got.entries
    raw = [r for r in other_host.state.requests if r.path.startswith("/raw/")]
    assert raw and all("authorization" not in r.headers for r in raw)


def test_a_download_host_that_wants_credentials_is_bypassed_through_the_contents_api(
    origin_server: RegistryServer, other_host: RegistryServer
) -> None:
    origin_server.state.files = other_host.state.files = {"servers/a/server.json": SEED.read_text(encoding="utf-8")}
    origin_server.state.raw_base = other_host.url
    other_host.state.token = "a-token-we-never-send-there"
    got = fetch_github(
        GitHubLocation("acme/servers", api=origin_server.url), UrllibClient(timeout=5), NO_SLEEP, token=TOKEN
    )
    assert len(got.entries) == 4  # the seed: four valid entries, one invalid by design
    assert [r.status for r in other_host.state.requests] == [401]
    file_reads = [r for r in origin_server.state.requests if r.path.endswith("/server.json")]
    assert file_reads and file_reads[0].headers["authorization"] == f"Bearer {TOKEN}"


URLS = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{'' if port is None else f':{port}'}{path}",
    st.sampled_from(["http", "https", "HTTP"]),
    st.sampled_from(["api.example.test", "API.example.test", "raw.example.test", "127.0.0.1", "127.0.0.2"]),
    st.sampled_from([None, 80, 443, 8443]),
    st.sampled_from(["", "/", "/v0.1/servers?cursor=x"]),
)


@given(URLS, URLS)
def test_credentials_follow_a_redirect_exactly_when_scheme_host_and_port_are_unchanged(
    source: str, target: str
) -> None:
    headers = {"Authorization": "Bearer t", "Cookie": "c", "Proxy-Authorization": "p", "Accept": "x"}
    sent = redirect_headers(headers, source, target)
    assert sent["Accept"] == "x"
    same = origin(source) == origin(target)
    assert all((name in sent) == same for name in ("Authorization", "Cookie", "Proxy-Authorization"))


def test_a_default_port_written_out_is_the_same_origin() -> None:
    assert origin("http://a.test/x") == origin("http://A.test:80/y")
    assert origin("https://a.test") == origin("https://a.test:443")
    assert origin("http://a.test") != origin("https://a.test")
