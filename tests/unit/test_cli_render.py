"""`mcp render`: offline output, exit status 2 with every problem on stderr, and a light start-up path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASIC = ROOT / "examples/02-mcpserver-basic.yaml"


def mcp(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from mcpop.cli.main import run; run()", *args],
        capture_output=True, text=True, input=stdin, cwd=ROOT, timeout=60,
    )  # fmt: skip


def test_render_prints_the_object_set_as_yaml() -> None:
    result = mcp("render", "-f", str(BASIC))
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout)]
    assert kinds == ["ServiceAccount", "Service", "Deployment"]


def test_render_json_output_is_a_list() -> None:
    result = mcp("render", "-f", str(BASIC), "-o", "json")
    doc = json.loads(result.stdout)
    assert doc["kind"] == "List" and len(doc["items"]) == 3


def test_namespace_flag_applies_to_servers_without_one() -> None:
    result = mcp("render", "-f", str(BASIC), "-n", "tools")
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(result.stdout)} == {"tools"}


def test_several_files_and_stdin_render_together() -> None:
    text = (ROOT / "examples/05-mcpserver-git.yaml").read_text()
    result = mcp("render", "-f", str(BASIC), "-f", "-", stdin=text)
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout)}
    assert names == {"filesystem-server", "git-server"}


def test_bad_input_exits_2_with_empty_stdout_and_every_problem_on_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: a}\n"
        "spec: {image: x, replicas: -1, port: 0}\n---\nkind: Other\n"
    )
    result = mcp("render", "-f", str(BASIC), "-f", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{bad}: document 0 (line 4): spec.replicas:" in result.stderr
    assert f"{bad}: document 0 (line 4): spec.port:" in result.stderr
    assert f"{bad}: document 1 (line 6): kind: unknown kind 'Other'" in result.stderr


def test_yaml_syntax_error_exits_2_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: mcp.allbeone.io/v1\nspec: [\n")
    result = mcp("render", "-f", str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert "invalid YAML" in result.stderr and str(bad) in result.stderr


def test_missing_file_exits_2() -> None:
    result = mcp("render", "-f", "does-not-exist.yaml")
    assert result.returncode == 2
    assert "does-not-exist.yaml" in result.stderr and "cannot read" in result.stderr


def test_missing_file_flag_is_a_usage_error() -> None:
    assert mcp("render").returncode == 2


def test_a_registry_document_is_skipped_with_a_note() -> None:
    doc = "apiVersion: mcp.allbeone.io/v1\nkind: MCPRegistry\nmetadata: {name: r}\nspec: {url: 'https://r.example'}\n"
    result = mcp("render", "-f", "-", stdin=doc)
    assert result.returncode == 0 and result.stdout == ""
    assert "skipped" in result.stderr and "MCPRegistry" in result.stderr


def test_a_backup_renders_to_its_cronjob_and_rbac() -> None:
    result = mcp("render", "-f", str(ROOT / "examples/01-mcpserverbackup-s3.yaml"))
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout)]
    assert {"CronJob", "Role", "RoleBinding", "ServiceAccount"} <= set(kinds)


@pytest.mark.parametrize("args", [["--help"], ["render", "--help"], ["render", "-f", str(BASIC)]])
def test_start_up_path_does_not_import_the_kubernetes_client(args: list[str]) -> None:
    code = (
        "import sys\nfrom mcpop.cli.main import app\n"
        f"try:\n    app({args!r}, exit_on_error=False)\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in sys.modules if m == 'kubernetes' or m.startswith(('kubernetes.', 'urllib3'))]\n"
        "print('IMPORTED=' + ','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "IMPORTED="


def test_version_command() -> None:
    result = mcp("version", "--client")
    assert result.returncode == 0 and result.stdout.startswith("Client Version: ")
