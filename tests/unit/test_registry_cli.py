"""`mcp registry` without a cluster: the embedded catalogue, said so on stderr; output compared with
golden/cli/ (`--update-golden` rewrites them)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from cli_process import NO_CLUSTER, mcp

ROOT = Path(__file__).resolve().parents[2]


CASES = {
    "registry-list.txt": ["registry", "list"],
    "registry-list-json.txt": ["registry", "list", "-o", "json"],
    "registry-list-yaml.txt": ["registry", "list", "-o", "yaml"],
    "registry-search-git.txt": ["registry", "search", "git"],
    "registry-search-git-json.txt": ["registry", "search", "git", "-o", "json"],
    "registry-search-repositories.txt": ["registry", "search", "Repositories"],
    "registry-search-namespace.txt": ["registry", "search", "io.github.github/"],
    "registry-inspect-github-remote.txt": ["registry", "inspect", "github-remote", "-n", "demo"],
    "registry-inspect-github-remote-json.txt": ["registry", "inspect", "github-remote", "-o", "json", "-n", "demo"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_registry_commands_match_their_golden_output(name: str, golden: Callable[[str, str], None]) -> None:
    result = mcp(*CASES[name], *NO_CLUSTER)
    assert result.returncode == 0, result.stderr
    assert "no cluster" in result.stderr and "embedded catalogue" in result.stderr
    golden(f"cli/{name}", result.stdout)


def test_outputs_parse() -> None:
    items = json.loads(mcp("registry", "list", "-o", "json", *NO_CLUSTER).stdout)
    assert len(items) >= 7 and {"name", "version", "packages"} <= set(items[0])
    doc = yaml.safe_load(mcp("registry", "inspect", "filesystem", *NO_CLUSTER).stdout)
    assert doc["entry"]["name"] == "io.github.modelcontextprotocol/server-filesystem"
    kinds = [o["kind"] for o in doc["rendered"]]
    assert "Deployment" in kinds and "Service" in kinds


def test_unknown_name_and_empty_search_fail_clearly() -> None:
    r = mcp("registry", "inspect", "no-such-server", *NO_CLUSTER)
    assert r.returncode == 1 and "not in the embedded catalogue" in r.stderr and r.stdout == ""
    r = mcp("registry", "search", "zzzz-nothing", *NO_CLUSTER)
    assert r.returncode == 1 and "matches" in r.stderr


def test_a_blank_search_query_is_a_usage_error() -> None:
    r = mcp("registry", "search", " ", *NO_CLUSTER)
    assert r.returncode == 2 and "QUERY must not be empty" in r.stderr and r.stdout == ""


def test_refresh_needs_a_cluster() -> None:
    r = mcp("registry", "refresh", *NO_CLUSTER)
    assert r.returncode == 1 and "no cluster" in r.stderr


def test_registry_help_does_not_import_the_kubernetes_client() -> None:
    code = (
        "import sys\nfrom mcpop.cli.main import app\n"
        "try:\n    app(['registry', '--help'], exit_on_error=False)\nexcept SystemExit:\n    pass\n"
        "print('IMPORTED=' + ','.join(m for m in sys.modules if m.startswith('kubernetes')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "IMPORTED="
