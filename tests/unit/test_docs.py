"""The documentation site (docs/, mkdocs.yml): the generated reference pages are what tools/gen-docs makes from
their one source today (the CLI App, the CRD schemas, OperatorSettings), as the CRDs are held to the models;
every page is in the nav; the README stays a short entry point that links into the site; `mkdocs build
--strict` passes (also a step of .ci/run)."""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _gen_docs() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("gen_docs", str(ROOT / "tools" / "gen-docs"))
    spec = importlib.util.spec_from_loader("gen_docs", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


GEN = _gen_docs()
PAGES = ("api.md", "cli.md", "operator.md")


@functools.cache
def generated() -> dict[Path, str]:
    """The pages as tools/gen-docs would write them now (made once, on first use: not at collection)."""
    pages: dict[Path, str] = GEN.generated()
    return pages


def test_the_generator_writes_exactly_these_pages() -> None:
    assert sorted(p.name for p in generated()) == sorted(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_generated_reference_pages_are_current(page: str) -> None:
    path = DOCS / "reference" / page
    assert path.read_text() == generated()[path], f"docs/reference/{page} is stale: run `tools/gen-docs`"


def test_the_cli_reference_has_every_command() -> None:
    text = generated()[DOCS / "reference" / "cli.md"]
    for command in ("render", "status", "deploy", "apply", "diff", "delete", "version", "completion"):
        assert f"\n## mcp {command}\n" in text
    for command in ("operator run", "registry refresh", "backup restore", "server logs"):
        assert f"\n## mcp {command}\n" in text


def test_the_operator_reference_names_every_flag_variable_and_chart_value() -> None:
    from mcpop.apply.settings import options

    text = generated()[DOCS / "reference" / "operator.md"]
    for opt in options().values():
        for name in (*opt.flags, opt.env, opt.chart):
            if name:
                assert GEN._code(name) in text


def test_the_api_reference_has_every_kind_and_top_level_field() -> None:
    text = generated()[DOCS / "reference" / "api.md"]
    for kind in ("MCPServer", "MCPRegistry", "MCPServerBackup"):
        assert f"\n## {kind}\n" in text
    for path in ("spec.source.mcpRegistry.url", "spec.refreshInterval", "spec.serverRef", "status.conditions"):
        assert GEN._code(path) in text


def _nav_pages(nav: list[object]) -> list[str]:
    out: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out += _nav_pages(value) if isinstance(value, list) else [str(value)]
    return out


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["theme"]["name"] == "material"
    nav = _nav_pages(config["nav"])
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(nav) == pages


def test_the_readme_is_short_and_links_into_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link
    assert "helm install mcpop oci://ghcr.io/allbeone/charts/mcp-operator" in readme
    assert "https://registry.modelcontextprotocol.io" in (DOCS / "registries.md").read_text()


def test_the_dev_extra_has_mkdocs_material_and_ci_builds_the_site_strictly() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"mkdocs-material>=[0-9.]+"', pyproject)
    assert "mkdocs build --strict" in (ROOT / ".ci" / "run").read_text()


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict` (about 3 s): a broken link or anchor, or a page outside the nav, fails it."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_quickstart_installs_the_charts_own_version() -> None:
    """The quickstart (README, home page) and the install guide's first command install the chart version this
    tree would publish (the guide's release section shows later versions)."""
    chart = yaml.safe_load((ROOT / "chart" / "mcp-operator" / "Chart.yaml").read_text())
    for page in (ROOT / "README.md", DOCS / "index.md", DOCS / "install.md"):
        versions = re.findall(r"oci://ghcr\.io/allbeone/charts/mcp-operator --version (\S+)", page.read_text())
        assert versions, page
        assert versions[0] == chart["version"], page
