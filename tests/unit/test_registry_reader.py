"""One reader of registry data: `mcp render --registry FILE` and the operator's sources keep and skip the same
entries; a hostile registry file fails with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcpop.sources.catalog import load_registry_file
from mcpop.sources.entries import parse_items

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = "io.modelcontextprotocol.registry/official"


def entry(name: str, version: str = "1.0.0") -> dict[str, Any]:
    return {
        "name": name,
        "description": "demo",
        "version": version,
        "packages": [
            {"registryType": "oci", "identifier": "ghcr.io/example/demo:1.0.0", "transport": {"type": "stdio"}}
        ],
    }


def listed(server: dict[str, Any], status: str) -> dict[str, Any]:
    return {"server": server, "_meta": {OFFICIAL: {"status": status}}}


LIST = {
    "servers": [
        listed(entry("io.github.example/active"), "active"),
        listed(entry("io.github.example/old"), "deprecated"),
        listed(entry("io.github.example/gone"), "deleted"),
    ]
}


def test_offline_render_and_the_operator_keep_the_same_entries(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(LIST))
    catalog, problems = load_registry_file(path)
    operator = parse_items(LIST, "api")
    assert catalog.names() == sorted(e.name for e in operator.entries) == ["io.github.example/active"]
    assert any("io.github.example/old" in p and "skipped" in p for p in problems)
    assert any("io.github.example/gone" in p and "deleted" in p for p in problems)


def mcp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from mcpop.cli.main import run; run()", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip


SERVER = """apiVersion: mcp.allbeone.io/v1
kind: MCPServer
metadata: {name: s}
spec:
  registry: {name: io.github.example/active}
"""


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"servers": [' * 300 + "]}" * 300, "nested deeper than 100 levels"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 100 levels"),
        (json.dumps({"servers": [{**entry("io.github.example/active"), "description": "\ud800"}]}), "surrogate"),
        (b'{"name": "caf\xe9"}', "not UTF-8"),
        ('{"servers": [', "invalid JSON"),
    ],
    ids=["deep", "very-deep", "lone-surrogate", "not-utf8", "truncated"],
)
def test_a_hostile_registry_file_fails_with_one_clear_line(content: str | bytes, fragment: str, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SERVER)
    registry = tmp_path / "registry.json"
    registry.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    result = mcp("render", "-f", str(tmp_path / "s.yaml"), "--registry", str(registry))
    assert (result.returncode, result.stdout) == (2, ""), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert str(registry) in line and fragment in line, line
