"""The catalogue: full and short name resolution with affix aliases, ambiguity and unknown names with
the nearest candidates, version choice (exact or newest), and the embedded catalogue's short names."""

from __future__ import annotations

import pytest

from mcpop.api.serverjson import ServerJSON
from mcpop.render import RenderError
from mcpop.render.catalog import Catalog, stem, version_key
from mcpop.sources.catalog import load_embedded


def e(name: str, version: str = "1.0.0") -> ServerJSON:
    return ServerJSON.model_validate({"name": name, "description": "d", "version": version})


CATALOG = Catalog.of(
    [
        e("io.example/server-filesystem"),
        e("io.example/git-mcp"),
        e("com.acme/weather-server"),
        e("com.acme/weather-server", "1.10.0"),
        e("com.acme/weather-server", "1.9.0"),
        e("com.acme/weather-server", "2.0.0-rc.1"),
    ]
)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("io.example/server-filesystem", "io.example/server-filesystem"),
        ("server-filesystem", "io.example/server-filesystem"),
        ("filesystem", "io.example/server-filesystem"),
        ("filesystem-server", "io.example/server-filesystem"),
        ("mcp-server-filesystem", "io.example/server-filesystem"),
        ("git", "io.example/git-mcp"),
        ("git-server", "io.example/git-mcp"),
        ("WEATHER", "com.acme/weather-server"),
    ],
)
def test_names_resolve_by_full_name_last_segment_or_stem(query: str, name: str) -> None:
    assert CATALOG.resolve(query).name == name


def test_stem_strips_one_prefix_and_one_suffix() -> None:
    assert [stem(n) for n in ("server-x", "x-server", "mcp-server-x", "x-mcp", "x_mcp_server", "server")] == [
        "x",
        "x",
        "x",
        "x",
        "x",
        "server",
    ]


def test_newest_version_is_chosen_by_semver_order() -> None:
    assert CATALOG.resolve("weather").version == "2.0.0-rc.1"
    assert version_key("1.10.0") > version_key("1.9.0")
    assert version_key("2.0.0") > version_key("2.0.0-rc.1")


def test_exact_version_is_chosen_when_asked() -> None:
    assert CATALOG.resolve("weather", "1.9.0").version == "1.9.0"


def test_unknown_version_lists_the_available_ones() -> None:
    with pytest.raises(RenderError, match=r"1\.9\.0") as err:
        CATALOG.resolve("weather", "3.0.0")
    assert err.value.field == "spec.registry.version"


def test_ambiguous_short_name_lists_the_candidates() -> None:
    catalog = Catalog.of([e("io.a/fetch"), e("io.b/fetch-server")])
    with pytest.raises(RenderError) as err:
        catalog.resolve("fetch-mcp")
    assert err.value.field == "spec.registry.name"
    assert "io.a/fetch" in err.value.message and "io.b/fetch-server" in err.value.message


def test_exact_last_segment_beats_a_stem_match() -> None:
    assert Catalog.of([e("io.a/fetch"), e("io.b/fetch-server")]).resolve("fetch").name == "io.a/fetch"


def test_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(RenderError, match=r"io\.example/server-filesystem") as err:
        CATALOG.resolve("filesystm")
    assert err.value.field == "spec.registry.name"


def test_unknown_name_without_near_match_lists_known_names() -> None:
    with pytest.raises(RenderError, match="known: "):
        CATALOG.resolve("zzzzzz")


@pytest.mark.parametrize(
    "short", ["filesystem", "filesystem-server", "git", "postgres", "fetch", "memory", "time", "github"]
)
def test_embedded_catalogue_resolves_the_reference_short_names(short: str) -> None:
    assert load_embedded().resolve(short).name == f"io.github.modelcontextprotocol/server-{short.split('-')[0]}"
