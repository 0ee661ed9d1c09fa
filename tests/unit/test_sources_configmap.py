"""Entries stored inline in a ConfigMap's data (JSON or YAML)."""

from __future__ import annotations

import json

import pytest
from registry_server import SEED

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.sources.configmap import load_configmap, load_file
from mcpop.sources.http import UrllibClient
from mcpop.sources.retry import SourceError
from mcpop.sources.sync import sync

YAML_ENTRY = """\
name: io.example/hello
description: Says hello.
version: 0.1.0
packages:
  - registryType: oci
    identifier: images.example.test/hello:0.1.0
    transport:
      type: streamable-http
      url: http://localhost:8080/mcp
"""


def test_json_list_with_one_invalid_entry() -> None:
    got = load_configmap({"servers.json": SEED.read_text()}, "servers.json", name="reg")
    assert len(got.entries) == 4
    assert [i.name for i in got.invalid] == ["kbag 1.0.0"]


def test_all_json_and_yaml_keys_without_a_key() -> None:
    data = {"a.json": SEED.read_text(), "b.yaml": YAML_ENTRY, "notes.txt": "ignored"}
    got = load_configmap(data)
    assert {e.name for e in got.entries} >= {"io.example/hello", "io.github.domdomegg/time-mcp-pypi"}
    assert len(got.entries) == 5


def test_unparsable_value_is_reported() -> None:
    got = load_configmap({"x.yaml": "a: [1\n", "y.yaml": YAML_ENTRY})
    assert [e.name for e in got.entries] == ["io.example/hello"]
    assert [i.name for i in got.invalid] == ["x.yaml"]


def test_missing_key_is_an_error() -> None:
    with pytest.raises(SourceError, match=r"no key 'servers\.json'"):
        load_configmap({"other": "{}"}, "servers.json", name="reg")


def test_registry_list_response_format_and_deleted() -> None:
    servers = json.loads(SEED.read_text())
    body = {
        "servers": [
            {"server": servers[2], "_meta": {"io.modelcontextprotocol.registry/official": {"status": "deleted"}}},
            {"server": servers[3]},
        ]
    }
    got = load_configmap({"k": json.dumps(body)}, "k")
    assert [e.name for e in got.entries] == ["io.github.domdomegg/time-mcp-pypi"]
    assert [d.name for d in got.deleted] == ["io.github.domdomegg/time-mcp-nuget"]


def test_load_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "reg.yaml"
    path.write_text(YAML_ENTRY)
    assert [e.name for e in load_file(path).entries] == ["io.example/hello"]


def test_sync_from_configmap_with_filters_and_failure_keeps_previous() -> None:
    spec = MCPRegistrySpec.model_validate(
        {"source": {"configMap": {"name": "reg", "key": "s.json"}}, "filters": {"exclude": ["airtable-*"]}}
    )
    client = UrllibClient()
    first = sync(spec, client, configmap_data={"s.json": SEED.read_text()})
    assert first.ok and sorted(e.name for e in first.entries) == [
        "io.github.domdomegg/time-mcp-nuget",
        "io.github.domdomegg/time-mcp-pypi",
    ]
    assert len(first.invalid) == 1
    second = sync(spec, client, first, configmap_data={})
    assert not second.ok and second.entries == first.entries and "no key" in (second.error or "")
    third = sync(spec, client, None)
    assert not third.ok and third.entries == [] and "not provided" in (third.error or "")
