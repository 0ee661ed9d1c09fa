"""Shared pytest options: `--update-golden` rewrites every file under golden/ instead of comparing against it,
and runs only the tests that own one (`python3 -m pytest --update-golden`, then review `git diff golden/`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden/ from the current code, running only the tests that compare against it",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--update-golden"):
        return
    kept = [item for item in items if "golden" in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """`golden(path, text)`: `text` is golden/<path> exactly; with `--update-golden` the file is rewritten first."""
    update = bool(request.config.getoption("--update-golden"))

    def check(path: str, text: str) -> None:
        file = GOLDEN / path
        if update:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text)
        assert file.exists(), f"no golden file golden/{path}: run with --update-golden"
        assert file.read_text() == text, f"golden/{path} differs: review, then --update-golden"

    return check
