"""The CLI is installed as `mcp`, `mcpop` and `kubectl-mcp`, all one entry point."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_has_three_names_for_one_entry_point() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {name: scripts[name] for name in ("mcp", "mcpop", "kubectl-mcp")} == dict.fromkeys(
        ("mcp", "mcpop", "kubectl-mcp"), "mcpop.cli.main:run"
    )
