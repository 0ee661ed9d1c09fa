"""Code health gates run with the suite: ruff, mypy (strict on the pure core) and the import contracts.

`.ci/run` runs the same checks as a step of their own before the suite (`python3 tests/unit/test_lint.py`,
which prints a fingerprint of the sources it checked) and passes that fingerprint in MCPOP_LINT_PASSED: these
tests then skip, saying so, when the sources are still exactly those. Anywhere else they run.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECKS = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "mcpop", "tests", "bench"],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--check", "mcpop", "tests", "bench"],
    "mypy": [sys.executable, "-m", "mypy"],
    "import contracts": [
        sys.executable,
        "-c",
        "from importlinter.cli import lint_imports_command; lint_imports_command()",
    ],
}


def fingerprint() -> str:
    """A hash of everything the checks read: the Python sources they check and their configuration."""
    h = hashlib.sha256()
    files = [ROOT / "pyproject.toml", ROOT / ".importlinter"]
    for top in ("mcpop", "tests", "bench"):
        files += sorted(p for p in (ROOT / top).rglob("*.py*") if p.suffix in (".py", ".pyi"))
    for path in files:
        if path.is_file():
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


passed_before = pytest.mark.skipif(
    os.environ.get("MCPOP_LINT_PASSED", "") != "" and os.environ["MCPOP_LINT_PASSED"] == fingerprint(),
    reason="ruff, mypy and the import contracts passed in .ci/run's lint step on exactly these sources",
)


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


@passed_before
def test_ruff_check_is_clean() -> None:
    result = _run(*CHECKS["ruff check"])
    assert result.returncode == 0, result.stdout + result.stderr


@passed_before
def test_ruff_format_is_clean() -> None:
    result = _run(*CHECKS["ruff format"])
    assert result.returncode == 0, result.stdout + result.stderr


@passed_before
def test_mypy_is_clean() -> None:
    result = _run(*CHECKS["mypy"])
    assert result.returncode == 0, result.stdout + result.stderr


@passed_before
def test_import_contracts_hold() -> None:
    result = _run(*CHECKS["import contracts"])
    assert result.returncode == 0, result.stdout + result.stderr


def main() -> int:
    """Run every check (output on stderr); when all pass, print the sources' fingerprint on stdout."""
    before = fingerprint()
    failed = []
    for name, cmd in CHECKS.items():
        start = time.monotonic()
        result = _run(*cmd)
        sys.stderr.write(f"lint: {name}: exit {result.returncode} in {time.monotonic() - start:.1f} s\n")
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            failed.append(name)
    if failed:
        sys.stderr.write(f"lint: failed: {', '.join(failed)}\n")
        return 1
    if fingerprint() != before:
        sys.stderr.write("lint: the sources changed while they were checked\n")
        return 1
    print(before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
