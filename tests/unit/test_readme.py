"""The README's first two commands are the ones CI runs and a newcomer types."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("```bash") + 1
    return lines[start : start + 2]


def test_readme_starts_with_a_render_command_and_the_test_command() -> None:
    render, tests = _commands()
    assert "mcp render -f examples/" in render
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci/run").read_text().splitlines()
    assert _commands()[1] in ci


def test_the_readme_render_example_exists() -> None:
    render = _commands()[0]
    assert (ROOT / render.split("-f ", 1)[1].split()[0]).is_file()
