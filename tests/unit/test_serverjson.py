"""server.json models: the camelCase schema, the older snake_case form, unknown fields kept, required
fields enforced, the list API response, and loading the official seed file entry by entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mcpop.api.serverjson import ServerJSON, ServerList
from mcpop.sources.catalog import load_embedded, load_registry_file, parse_entries

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests/fixtures/registry/official-seed.json"


def minimal(**extra: Any) -> dict[str, Any]:
    return {"name": "io.github.example/demo", "description": "Demo server", "version": "1.0.0", **extra}


def test_camel_case_entry_parses_every_field() -> None:
    entry = ServerJSON.model_validate(
        minimal(
            title="Demo",
            websiteUrl="https://example.com",
            repository={"url": "https://x", "source": "github", "subfolder": "src"},
            packages=[
                {
                    "registryType": "npm",
                    "identifier": "demo",
                    "version": "1.0.0",
                    "runtimeHint": "npx",
                    "transport": {"type": "stdio"},
                    "packageArguments": [{"type": "named", "name": "--port", "value": "80", "isRequired": True}],
                    "environmentVariables": [{"name": "TOKEN", "isSecret": True, "isRequired": True}],
                }
            ],
            remotes=[{"type": "sse", "url": "https://example.com/sse"}],
            _meta={"x": 1},
        )
    )
    pkg = (entry.packages or [])[0]
    assert entry.website_url == "https://example.com"
    assert pkg.registry_type == "npm" and pkg.runtime_hint == "npx"
    assert (pkg.package_arguments or [])[0].is_required
    assert (pkg.environment_variables or [])[0].is_secret
    assert entry.meta == {"x": 1}


def test_snake_case_2025_07_09_form_is_converted() -> None:
    entry = ServerJSON.model_validate(
        minimal(
            website_url="https://example.com",
            packages=[
                {
                    "registry_type": "pypi",
                    "identifier": "demo",
                    "version": "1.0.0",
                    "runtime_hint": "uvx",
                    "transport": {"type": "stdio"},
                    "environment_variables": [{"name": "TOKEN", "is_secret": True, "is_required": True}],
                    "package_arguments": [{"type": "positional", "value_hint": "dir", "is_required": False}],
                }
            ],
        )
    )
    pkg = (entry.packages or [])[0]
    assert entry.website_url == "https://example.com"
    assert pkg.registry_type == "pypi"
    assert (pkg.environment_variables or [])[0].is_secret
    assert (pkg.package_arguments or [])[0].value_hint == "dir"


def test_unknown_fields_are_kept() -> None:
    entry = ServerJSON.model_validate(minimal(newField={"a": 1}))
    assert entry.wire()["newField"] == {"a": 1}


def test_package_without_transport_is_rejected() -> None:
    with pytest.raises(ValidationError, match="transport"):
        ServerJSON.model_validate(minimal(packages=[{"registryType": "npm", "identifier": "demo"}]))


def test_missing_required_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="version"):
        ServerJSON.model_validate({"name": "io.github.example/demo", "description": "d"})


@pytest.mark.parametrize("name", ["kbag", "ab", "io.example/has space", "x" * 199 + "/y"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        ServerJSON.model_validate(minimal(name=name))


@pytest.mark.parametrize("version", ["latest", "^1.0.0", ">=2"])
def test_version_must_be_exact(version: str) -> None:
    with pytest.raises(ValidationError, match="version"):
        ServerJSON.model_validate(minimal(version=version))


def test_http_transport_needs_a_url() -> None:
    with pytest.raises(ValidationError, match="url"):
        ServerJSON.model_validate(
            minimal(packages=[{"registryType": "oci", "identifier": "x:1", "transport": {"type": "streamable-http"}}])
        )


def test_server_list_response_parses_with_cursor() -> None:
    page = ServerList.model_validate(
        {
            "servers": [
                {
                    "server": minimal(),
                    "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active", "isLatest": True}},
                }
            ],
            "metadata": {"nextCursor": "abc", "count": 1},
        }
    )
    assert page.servers[0].server.name == "io.github.example/demo"
    assert page.servers[0].status == "active"
    assert page.metadata is not None and page.metadata.next_cursor == "abc"


def test_official_seed_has_four_valid_entries_and_reports_kbag_by_name() -> None:
    entries, problems = parse_entries(json.loads(SEED.read_text()), "seed")
    assert len(entries) == 4
    assert len(problems) == 1 and "kbag" in problems[0] and "transport" in problems[0]


def test_list_response_skips_deleted_entries_with_a_message() -> None:
    data = {
        "servers": [
            {"server": minimal(), "_meta": {"io.modelcontextprotocol.registry/official": {"status": "deleted"}}},
            {"server": minimal(version="2.0.0")},
        ]
    }
    entries, problems = parse_entries(data, "api")
    assert [e.version for e in entries] == ["2.0.0"]
    assert "deleted" in problems[0]


def test_single_entry_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "server.json"
    path.write_text(json.dumps(minimal()))
    catalog, problems = load_registry_file(path)
    assert catalog.names() == ["io.github.example/demo"] and not problems


def test_embedded_catalogue_loads_the_reference_servers() -> None:
    shorts = {n.rsplit("/", 1)[1] for n in load_embedded().names()}
    assert {
        "server-filesystem",
        "server-git",
        "server-postgres",
        "server-fetch",
        "server-memory",
        "server-time",
        "server-github",
    } <= shorts


def test_digest_is_stable_and_content_addressed() -> None:
    a, b = ServerJSON.model_validate(minimal()), ServerJSON.model_validate(minimal())
    assert a.digest() == b.digest() and a.digest().startswith("sha256:")
    assert ServerJSON.model_validate(minimal(version="1.0.1")).digest() != a.digest()
