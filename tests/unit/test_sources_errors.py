"""Source errors are typed: a sync reports exactly the source's problems and lets a bug surface."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from registry_server import SEED, RegistryServer, State

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.errors import McpopError
from mcpop.sources import errors
from mcpop.sources.catalog import load_embedded
from mcpop.sources.configmap import load_configmap
from mcpop.sources.http import HttpResponse, UrllibClient
from mcpop.sources.retry import RetryPolicy
from mcpop.sources.sync import sync

OFFICIAL = MCPRegistrySpec.model_validate(
    {"source": {"type": "mcp-registry", "mcpRegistry": {"url": "http://registry.invalid"}}}
)


@pytest.mark.parametrize("name", errors.__all__)
def test_every_source_error_is_an_mcpop_error(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.SourceError) and issubclass(cls, McpopError)
    assert not issubclass(cls, ValueError), "a ValueError would be mistaken for a bad spec"


class _BuggyClient:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        raise self.exc


@pytest.mark.parametrize("bug", [ValueError("bad arithmetic"), KeyError("missing"), TypeError("wrong call")])
def test_a_bug_under_a_sync_propagates_instead_of_becoming_a_failed_sync(bug: Exception) -> None:
    with pytest.raises(type(bug)):
        sync(OFFICIAL, _BuggyClient(bug), policy=RetryPolicy(sleep=lambda s: None))


def test_a_network_error_is_a_failed_sync_marked_unreachable() -> None:
    exc = errors.NetworkError("http://registry.invalid", "connection", "refused")
    result = sync(OFFICIAL, _BuggyClient(exc), policy=RetryPolicy(sleep=lambda s: None))
    assert not result.ok and not result.reachable
    assert result.error is not None and "refused" in result.error


def test_a_file_that_is_not_utf8_is_reported_invalid_and_the_rest_published() -> None:
    files: dict[str, str | bytes] = {"servers/good/server.json": SEED.read_text(encoding="utf-8"),
                                     "servers/bad/server.json": b"\xff\xfe{"}  # fmt: skip
    spec = MCPRegistrySpec.model_validate(
        {"source": {"type": "github", "github": {"repo": "acme/servers", "branch": "main", "path": "servers"}}}
    )
    with RegistryServer(State(files=files)) as srv:
        result = sync(spec, UrllibClient(timeout=5), policy=RetryPolicy(sleep=lambda s: None), github_api=srv.url)
    assert result.ok, result.error
    assert result.entries
    assert [i.name for i in result.invalid if "not UTF-8" in i.reason] == ["servers/bad/server.json"]


def test_a_configmap_without_the_named_key_is_a_source_config_error() -> None:
    with pytest.raises(errors.SourceConfigError, match=r"no key 'servers\.json'"):
        load_configmap({"other.json": "[]"}, "servers.json", name="cm")


def test_a_configmap_value_nested_too_deeply_is_reported_not_raised() -> None:
    got = load_configmap({"deep.json": "[" * 5000 + "]" * 5000}, name="cm")
    assert [(i.name, "nested deeper than 100 levels" in i.reason) for i in got.invalid] == [("deep.json", True)]


def test_the_embedded_catalogue_loads() -> None:
    assert load_embedded().entries
