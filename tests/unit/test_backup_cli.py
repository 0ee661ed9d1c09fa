"""`mcp backup` without a cluster: usage errors exit 2, a missing cluster exits 1, each with one line
on stderr and never a traceback; the command group loads lazily."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_process import NO_CLUSTER, mcp

ROOT = Path(__file__).resolve().parents[2]


def test_backup_help_lists_every_subcommand() -> None:
    result = mcp("backup", "--help")
    assert result.returncode == 0
    for command in ("run", "now", "list", "verify", "restore"):
        assert command in result.stdout


def test_the_top_level_help_names_the_backup_group() -> None:
    assert "backup" in mcp("--help").stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["restore", "b", "--snapshot", "abc", "--at", "2026-01-01T00:00:00Z"], "--snapshot and --at"),
        (["restore", "b", "--configuration-only", "--data-only"], "exclude each other"),
    ],
)
def test_contradictory_restore_flags_exit_2_naming_them(args: list[str], says: str) -> None:
    result = mcp("backup", *args, *NO_CLUSTER)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["run", "b"], ["now", "b"], ["list", "b"], ["verify", "b"], ["restore", "b"]])
def test_without_a_cluster_each_command_fails_in_one_line(command: list[str]) -> None:
    result = mcp("backup", *command, *NO_CLUSTER)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "/nonexistent/mcpop-kubeconfig" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_output_format_is_a_usage_error() -> None:
    assert mcp("backup", "list", "b", "-o", "xml", *NO_CLUSTER).returncode == 2


def test_loading_the_backup_commands_imports_no_kubernetes_client() -> None:
    code = "import sys, mcpop.cli.backup; print('kubernetes' in sys.modules, 'mcpop.backup' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["False", "False"]


def _without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`mcp ARGS` in an interpreter where `module` cannot be imported (as when the storage extra is missing)."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    code = f"import sys; sys.modules[{module!r}] = None\nfrom mcpop.cli.main import run; run()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env=env)  # fmt: skip


@pytest.mark.parametrize("command", ["run", "list", "verify", "restore"])
@pytest.mark.parametrize("module", ["fsspec", "pyfastcdc", "zstandard"])
def test_without_the_storage_extra_one_line_names_the_extra_to_install(command: str, module: str) -> None:
    result = _without(module, "backup", command, "b", *NO_CLUSTER)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: this command needs the storage extra, which is not installed (no module {module!r}): "
        "pip install 'mcpop[storage]'"
    ]


def test_a_storage_backend_missing_on_use_names_the_extra_too(capsys: pytest.CaptureFixture[str]) -> None:
    from mcpop.cli.backup import needs_storage

    @needs_storage
    def command() -> int:
        raise ModuleNotFoundError("No module named 's3fs'", name="s3fs")

    assert command() == 1
    assert "pip install 'mcpop[storage]'" in capsys.readouterr().err


def test_a_missing_module_outside_the_storage_extra_is_not_passed_off_as_it() -> None:
    from mcpop.cli.backup import needs_storage

    @needs_storage
    def command() -> int:
        raise ModuleNotFoundError("No module named 'nothing_of_ours'", name="nothing_of_ours")

    with pytest.raises(ModuleNotFoundError):
        command()


def test_backup_now_takes_timeout_as_a_duration() -> None:
    result = mcp("backup", "now", "b", "--wait", "--timeout", "5m", *NO_CLUSTER)
    assert result.returncode == 1 and "Unknown option" not in result.stderr and "kubeconfig" in result.stderr
