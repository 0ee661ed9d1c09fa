"""The `mcp` entry point: every command is listed by `mcp --help` without being imported, a malformed command
line gets cyclopts' error and exit status 2, kubectl's bare `--dry-run` is accepted, shell completion is
generated (cyclopts' generator), and a command ends without the interpreter's teardown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mcpop.cli.main import _argv
from mcpop.cli.render import render_files

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/02-mcpserver-basic.yaml"
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


def test_a_command_exits_with_its_status_after_its_atexit_handlers_and_its_whole_output() -> None:
    code = ("import atexit, sys\nfrom mcpop.cli.main import run\n"
            "atexit.register(lambda: print('AT-EXIT', file=sys.stderr))\nrun()")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code, "render", "-f", str(EXAMPLE)], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)  # fmt: skip
    assert r.returncode == 0 and r.stderr.strip() == "AT-EXIT", r.stderr
    assert r.stdout == render_files([EXAMPLE])[0]
    bad = subprocess.run([sys.executable, "-c", code, "status", "x", "--kubeconfig", str(ROOT / "no-such-kubeconfig")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.strip().endswith("AT-EXIT"), bad.stderr


def test_a_reader_that_stops_early_ends_the_output_quietly() -> None:
    head = subprocess.Popen([sys.executable, "-c", "from mcpop.cli.main import run; run()", "render", "-f",
                             str(EXAMPLE)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)  # fmt: skip
    assert head.stdout is not None and head.stderr is not None
    head.stdout.close()  # as `mcp render ... | head -0` does
    err = head.stderr.read().decode()
    assert head.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_a_command_collects_garbage_less_often_and_the_operator_as_the_interpreter_does() -> None:
    command = ("import atexit, gc\nfrom mcpop.cli.main import run\n"
               "atexit.register(lambda: print(gc.get_threshold()))\nrun()")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", command, "render", "-f", str(EXAMPLE)], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "(100000, 10, 10)"
    operator = ("import gc\ndefault = gc.get_threshold()\nfrom mcpop.cli import main\nimport mcpop.apply.manager as m\n"
                "m.run_operator = lambda settings: print(gc.get_threshold() == default) or 0\n"
                "main.app(['operator', 'run'], result_action='return_value')")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", operator], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stdout + r.stderr
