"""`mcp registry search` ranking: the namespace shared by every name never matches a plain query."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpop.sources.catalog import load_embedded
from mcpop.sources.search import match_rank, search

EMBEDDED = list(load_embedded().entries)


def names(query: str) -> list[str]:
    return [e.name for e in search(query, EMBEDDED)]


def test_git_finds_the_git_servers_not_every_io_github_name() -> None:
    assert names("git") == [
        "io.github.modelcontextprotocol/server-git",  # stem equals the query
        "io.github.github/github-remote",  # name starts with it
        "io.github.modelcontextprotocol/server-github",  # a name word starts with it
    ]


def test_an_exact_last_segment_ranks_before_a_prefix() -> None:
    assert names("server-git")[0] == "io.github.modelcontextprotocol/server-git"
    assert names("github")[:2] == ["io.github.modelcontextprotocol/server-github", "io.github.github/github-remote"]


@pytest.mark.parametrize(
    ("query", "rank"),
    [
        ("server-git", 0),
        ("git", 0),
        ("io.github.modelcontextprotocol/server-git", 0),
        ("serv", 1),
        ("io.github.model", 1),
        ("er-g", 2),
        ("Gi", 1),
        ("a pit", None),
        ("too", 3),
        ("Manipul", 4),
        ("io", None),
        ("github", None),
    ],
)
def test_match_rank(query: str, rank: int | None) -> None:
    assert match_rank(query, "io.github.modelcontextprotocol/server-git", "Git Tool", "Manipulate Git repos") == rank


def test_a_title_match_ranks_before_a_description_match() -> None:
    in_title = match_rank("hosted", "io.example/a", "A hosted server", None)
    in_description = match_rank("hosted", "io.example/b", "B", "hosted elsewhere")
    assert in_title is not None and in_description is not None and in_title < in_description
    assert names("postgresql") == ["io.github.modelcontextprotocol/server-postgres"]


def test_a_namespaced_query_browses_one_owner() -> None:
    assert names("io.github.github/") == ["io.github.github/github-remote"]


def test_blank_query_matches_nothing() -> None:
    assert names("  ") == []


@given(st.text(min_size=1, max_size=8))
def test_every_result_contains_the_query_outside_the_namespace_and_ranks_do_not_decrease(query: str) -> None:
    found = search(query, EMBEDDED)
    ranks = [match_rank(query, e.name, e.title, e.description) for e in found]
    assert ranks == sorted(r for r in ranks if r is not None)
    q = query.strip().lower()
    for e in found:
        where = [e.name.rsplit("/", 1)[-1], e.title or "", e.description or ""]
        if "/" in q or "." in q:
            where.append(e.name)
        assert any(q in w.lower() for w in where), (query, e.name)
