"""The bad-input corpus (tests/badinput.py): every case is refused the way `mcp render` refuses bad input.

Exit status 2, nothing on standard output, and `FILE: document N (line L): field.path: message` on
standard error, for all three kinds and every spec area. Most cases run the command's function in
process; a slice of them runs the real CLI in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from badinput import CASES, Case

from mcpop.cli.render import run_render
from mcpop.codec.emitter import dump_yaml

ROOT = Path(__file__).resolve().parents[2]
#: one case of each area goes through the installed command line as well
CLI_SLICE = [
    "mcpserver-metadata-namespace-space",
    "mcpregistry-metadata-label-key-space",
    "mcpserverbackup-metadata-unknown-field",
    "mcpserver-replicas-string",
    "mcpserver-yaml11-on-for-string",
    "mcpserver-unknown-replica",
    "mcpserver-tag-unicode",
    "mcpserver-image-upper-repo",
    "mcpserver-env-duplicate",
    "mcpserver-items-path-traversal",
    "mcpserver-volume-named-config",
    "mcpserver-config-path-env-overridden",
    "mcpserver-liveness-success-threshold",
    "mcpserver-toleration-exists-with-value",
    "mcpserver-hpa-pods-utilization",
    "mcpserver-np-end-port-below",
    "mcpserver-istio-host-url",
    "mcpregistry-refresh-too-short",
    "mcpregistry-url-no-host",
    "mcpserverbackup-schedule-six-fields",
    "mcpserverbackup-s3-bucket-upper",
]


def _write(case: Case, tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(case.doc if isinstance(case.doc, str) else dump_yaml([case.doc]), encoding="utf-8")
    return path


def _assert_refused(code: int, out: str, err: str, path: Path, case: Case) -> None:
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"error: {path}: document 0")]
    assert any(f": {case.path}: " in line and case.fragment in line for line in lines), err
    assert all(" (line " in line for line in lines), err


def test_the_corpus_has_at_least_250_cases_with_unique_ids() -> None:
    assert len(CASES) >= 250
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_corpus_covers_all_three_kinds() -> None:
    for kind in ("mcpserver-", "mcpregistry-", "mcpserverbackup-"):
        assert sum(c.id.startswith(kind) for c in CASES) >= 30, kind


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_nothing_on_stdout_and_the_field_on_stderr(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(case, tmp_path)
    code = run_render([path], None, "yaml")
    captured = capsys.readouterr()
    _assert_refused(code, captured.out, captured.err, path, case)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in CLI_SLICE], ids=lambda c: c.id)
def test_the_command_line_refuses_it_too(case: Case, tmp_path: Path) -> None:
    path = _write(case, tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", "from mcpop.cli.main import run; run()", "render", "-f", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    _assert_refused(result.returncode, result.stdout, result.stderr, path, case)


def test_the_cli_slice_names_existing_cases() -> None:
    assert set(CLI_SLICE) <= {c.id for c in CASES}
