"""Input limits at every entry point: an alias bomb, a nesting bomb and an oversize input are refused by the one
reader (mcpop.codec.reader) quickly and with bounded memory, with an error naming the limit and the source,
whether they come from a file (`mcp render -f`), a ConfigMap or GitHub registry source, a registry API
response, a backup snapshot, a kubeconfig, an image pull secret or an image config."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcpop.api.imageconfig import load_image_config
from mcpop.apply.mcpbackup.run import RunError, snapshot_object
from mcpop.backup.model import MemoryFile
from mcpop.cli.kube import ClusterError, load_credentials
from mcpop.codec.reader import CONFIGMAP_DATA, REGISTRY_DATA, Limits, YAMLInputError, load_value
from mcpop.sources.configmap import load_configmap
from mcpop.sources.errors import MalformedResponse
from mcpop.sources.github import GitHubLocation, fetch_github
from mcpop.sources.http import HttpResponse
from mcpop.sources.oci import parse_docker_config
from mcpop.sources.official import PAGE_LIMIT, fetch_official, list_url
from mcpop.sources.retry import RetryPolicy

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def billion_laughs(levels: int = 9) -> str:
    """The classic bomb: 9 levels of 9 aliases, about 400 bytes that stand for 9**9 strings."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def nesting_bomb(levels: int = 100_000) -> str:
    return "a: " + "[" * levels + "]" * levels + "\n"


def oversize(limit: int) -> str:
    return 'description: "' + "x" * limit + '"\n'


BOMB = billion_laughs()
DEEP = nesting_bomb()
ALIAS_MESSAGE = "excessive aliasing"
DEPTH_MESSAGE = "nested deeper than 100 levels"


def measured(read: Callable[[], Any]) -> tuple[float, int]:
    """Seconds and peak bytes allocated by `read`, whatever it raises."""
    tracemalloc.start()
    start = time.perf_counter()
    with contextlib.suppress(Exception):  # the cost is what is measured here; the errors are tested below
        read()
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak


# ---------------------------------------------------------------------------- the reader


def test_a_billion_laughs_is_refused_within_a_second_and_8_mib() -> None:
    elapsed, peak = measured(lambda: load_value(BOMB, CONFIGMAP_DATA))
    assert elapsed < 1.0 and peak < 8 * MiB, (elapsed, peak)
    with pytest.raises(YAMLInputError, match=f"{ALIAS_MESSAGE}: .* past 100000 nodes at most"):
        load_value(BOMB, CONFIGMAP_DATA)


def test_a_nesting_bomb_is_refused_within_a_second_and_8_mib() -> None:
    elapsed, peak = measured(lambda: load_value(DEEP))
    assert elapsed < 1.0 and peak < 8 * MiB, (elapsed, peak)
    with pytest.raises(YAMLInputError, match=DEPTH_MESSAGE):
        load_value(DEEP)


def test_json_nested_past_the_limit_is_refused_as_yaml_is() -> None:
    with pytest.raises(YAMLInputError, match=DEPTH_MESSAGE):
        load_value('{"a": ' + "[" * 101 + "]" * 101 + "}")


def test_an_oversize_input_is_refused_before_parsing_naming_the_limit() -> None:
    with pytest.raises(YAMLInputError, match=r"input is 1.0\d* MiB; the limit is 1 MiB"):
        load_value(oversize(MiB), CONFIGMAP_DATA)


def test_a_caller_can_set_its_own_limits() -> None:
    small = Limits(max_bytes=100, max_document_bytes=100, max_depth=2, alias_budget=10)
    with pytest.raises(YAMLInputError, match="the limit is 100 bytes"):
        load_value("a: " + "b" * 200, small)
    with pytest.raises(YAMLInputError, match="nested deeper than 2 levels"):
        load_value("a: {b: {c: 1}}", small)
    assert load_value("a: {b: 1}", small) == {"a": {"b": 1}}


def test_a_value_holds_one_document() -> None:
    with pytest.raises(YAMLInputError, match="expected one document, found 2"):
        load_value("a: 1\n---\nb: 2\n")


# ---------------------------------------------------------------------------- mcp render -f and --registry
# (the files given with -f: test_yaml_input.py's BAD_FILES, alias-bomb, deep-yaml, oversized and oversized-file)


def mcp_render(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from mcpop.cli.main import run; run()", "render", "-f", str(path), *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_a_registry_file_over_its_limit_is_refused(tmp_path: Path) -> None:
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"servers": [], "pad": "x" * REGISTRY_DATA.max_bytes}))
    server = tmp_path / "s.yaml"
    server.write_text("apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: s}\n"
                      "spec:\n  registry: {name: io.github.example/x}\n")  # fmt: skip
    result = mcp_render(server, "--registry", str(registry))
    (line,) = result.stderr.splitlines()
    assert result.returncode == 2 and str(registry) in line and "the limit is 8 MiB" in line, line


# ---------------------------------------------------------------------------- ConfigMap registry source


@pytest.mark.parametrize(
    ("value", "message"),
    [(BOMB, ALIAS_MESSAGE), (DEEP, DEPTH_MESSAGE), (oversize(MiB), "the limit is 1 MiB")],
    ids=["alias-bomb", "nesting-bomb", "oversize"],
)
def test_a_hostile_configmap_key_is_reported_by_name_and_the_others_still_load(value: str, message: str) -> None:
    good = json.dumps({"name": "io.example/hello", "description": "Hi.", "version": "1.0.0"})
    got = load_configmap({"bad.yaml": value, "good.json": good}, name="team/reg")
    assert [e.name for e in got.entries] == ["io.example/hello"]
    (invalid,) = got.invalid
    assert invalid.name == "bad.yaml" and "ConfigMap team/reg key bad.yaml" in invalid.reason
    assert message in invalid.reason, invalid.reason


# ---------------------------------------------------------------------------- GitHub registry source


@dataclass
class FakeHTTP:
    """Answers GETs from a table of URL -> body (200), as the sources' HttpClient protocol asks."""

    bodies: Mapping[str, bytes]

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        return HttpResponse(200, url, self.bodies[url]) if url in self.bodies else HttpResponse(404, url)


API = "https://api.github.example"


@pytest.mark.parametrize(
    ("body", "message"),
    [(BOMB, ALIAS_MESSAGE), (DEEP, DEPTH_MESSAGE), (oversize(REGISTRY_DATA.max_bytes), "the limit is 8 MiB")],
    ids=["alias-bomb", "nesting-bomb", "oversize"],
)
def test_a_hostile_github_file_is_reported_by_path(body: str, message: str) -> None:
    location = GitHubLocation(repo="acme/servers", api=API)
    listing = [{"type": "file", "name": "bad.yaml", "path": "servers/bad.yaml",
                "download_url": f"{API}/raw/servers/bad.yaml"}]  # fmt: skip
    client = FakeHTTP(
        {location.contents_url: json.dumps(listing).encode(), f"{API}/raw/servers/bad.yaml": body.encode()}
    )
    got = fetch_github(location, client)
    (invalid,) = got.invalid
    assert invalid.name == "servers/bad.yaml" and "servers/bad.yaml" in invalid.reason
    assert message in invalid.reason, invalid.reason


def test_a_github_listing_past_the_limits_fails_the_sync_naming_the_url() -> None:
    location = GitHubLocation(repo="acme/servers", api=API)
    client = FakeHTTP({location.contents_url: ("[" * 200 + "]" * 200).encode()})
    with pytest.raises(MalformedResponse, match=f"{re.escape(location.contents_url)}.*{DEPTH_MESSAGE}"):
        fetch_github(location, client)


# ---------------------------------------------------------------------------- registry API responses


REGISTRY = "https://registry.example"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"servers": [' + "[" * 200 + "]" * 200 + "]}", DEPTH_MESSAGE),
        ('{"servers": [], "pad": "' + "x" * REGISTRY_DATA.max_bytes + '"}', "the limit is 8 MiB"),
    ],
    ids=["nesting-bomb", "oversize"],
)
def test_a_hostile_registry_api_page_fails_the_sync_naming_the_url_and_limit(body: str, message: str) -> None:
    # JSON has no aliases: the alias rule cannot apply to an API response
    url = list_url(REGISTRY, None, PAGE_LIMIT, None, None)
    client = FakeHTTP({url: body.encode()})
    with pytest.raises(MalformedResponse, match=f"GET {re.escape(url)}: .*{message}"):
        fetch_official(REGISTRY, client, RetryPolicy(sleep=lambda s: None))


# ---------------------------------------------------------------------------- backup snapshot files


OBJECT = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (OBJECT + BOMB, ALIAS_MESSAGE),
        (OBJECT + DEEP, DEPTH_MESSAGE),
        (OBJECT + oversize(8 * MiB), "the limit is 8 MiB"),
    ],
    ids=["alias-bomb", "nesting-bomb", "oversize"],
)
def test_a_hostile_snapshot_file_fails_the_restore_naming_the_file(body: str, message: str) -> None:
    files = {"configmaps/c.yaml": MemoryFile("config/configmaps/c.yaml", body.encode())}
    with pytest.raises(RunError, match=f"snapshot file config/configmaps/c.yaml: .*{message}"):
        snapshot_object(files, "configmaps/c.yaml")


def test_a_snapshot_file_that_is_not_an_object_fails_the_restore() -> None:
    with pytest.raises(RunError, match="expected a Kubernetes object"):
        snapshot_object({"mcpserver.yaml": MemoryFile("config/mcpserver.yaml", b"- a\n")}, "mcpserver.yaml")


# ---------------------------------------------------------------------------- kubeconfig


def test_a_kubeconfig_alias_bomb_is_a_cluster_error_naming_the_file(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n" + BOMB)
    with pytest.raises(ClusterError, match=f"kubeconfig {kubeconfig} is not valid YAML: .*{ALIAS_MESSAGE}"):
        load_credentials(str(kubeconfig))


# ---------------------------------------------------------------------------- image pull secrets and image configs


def test_a_pull_secret_nested_past_the_limit_is_a_clear_error_not_a_recursion_error() -> None:
    with pytest.raises(ValueError, match=f"not JSON: {DEPTH_MESSAGE}"):
        parse_docker_config("[" * 100_000 + "]" * 100_000)


def test_an_image_config_file_nested_past_the_limit_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=f"not JSON: .*{DEPTH_MESSAGE}"):
        load_image_config('{"config": ' + "[" * 200 + "]" * 200 + "}")
