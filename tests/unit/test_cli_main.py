"""The `mcp` entry point: every command is listed by `mcp --help` without being imported, a malformed command
line gets cyclopts' error and exit status 2, kubectl's bare `--dry-run` is accepted, and shell completion is
generated (cyclopts' generator)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mcpop.cli.main import _argv

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("apply", "completion", "delete", "deploy", "diff", "operator", "registry", "render", "server", "status",
            "version")  # fmt: skip


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from mcpop.cli.main import run; run()", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)  # fmt: skip


def test_help_lists_every_command_without_importing_them() -> None:
    shell = {"mcpop.cli.main", "mcpop.cli.app"}
    code = (f"import sys\nSHELL = {shell!r}\nfrom mcpop.cli.main import app\n"
            "try:\n    app(['--help'], exit_on_error=False)\n"
            "except SystemExit:\n    pass\n"
            "mods = [m for m in sys.modules if m.startswith('mcpop.cli.') and m not in SHELL]\n"
            "print('LOADED=' + ','.join(sorted(mods)))")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "LOADED="
    for name in COMMANDS:
        assert f" {name} " in r.stdout, name


def test_a_repeated_flag_is_refused_with_exit_status_2() -> None:
    r = _run("render", "-n", "a", "-n", "b", "-f", "x")
    assert r.returncode == 2
    assert "-n specified multiple times" in r.stderr


def test_a_bare_dry_run_means_client_as_in_kubectl() -> None:
    assert _argv(["deploy", "x", "--dry-run"]) == ["deploy", "x", "--dry-run=client"]
    assert _argv(["deploy", "x", "--dry-run", "--wait"]) == ["deploy", "x", "--dry-run=client", "--wait"]
    assert _argv(["deploy", "x", "--dry-run", "server"]) == ["deploy", "x", "--dry-run", "server"]
    assert _argv(["deploy", "x", "--dry-run=server"]) == ["deploy", "x", "--dry-run=server"]


def test_shell_completion_scripts() -> None:
    for shell, marker in (("bash", "_mcp"), ("zsh", "#compdef mcp"), ("fish", "complete -c mcp")):
        r = _run("completion", shell)
        assert r.returncode == 0 and marker in r.stdout, (shell, r.stderr[-300:])
        assert "deploy" in r.stdout and "status" in r.stdout


def test_registry_accepts_format_as_the_original_spelling_of_output() -> None:
    r = _run("registry", "list", "--format", "json", "--kubeconfig", str(ROOT / "no-such-kubeconfig"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.lstrip().startswith("[")
