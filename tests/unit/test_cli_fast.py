"""The fast path of `mcp render` and `mcp status`: its tables are generated from the cyclopts App, it agrees
with the App on every command line it takes, it leaves every other command line to the App, and it runs
without importing cyclopts."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mcpop.cli import fast, fastgen, fastspec

ROOT = Path(__file__).resolve().parents[2]
VALUES = ("x", "a.yaml", "-", "--x", "json", "yaml", "table", "r.json", "n1", "5s", "")


def _namespace(source: str) -> dict[str, Any]:
    ns: dict[str, Any] = {}
    exec(compile(source, "fastspec", "exec"), ns)
    return ns


def _target(command: str) -> Any:
    module, _, name = fastspec.COMMANDS[command].target.partition(":")
    return getattr(importlib.import_module(module), name)


def _effective(command: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    bound = inspect.signature(_target(command)).bind(**kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _app_kwargs(command: str, tokens: list[str]) -> dict[str, Any] | None:
    """What the cyclopts App passes the command for `tokens`, flattened as the fast path passes it."""
    from mcpop.cli.app import app

    try:
        _, bound, _ = app.parse_args([command, *tokens], exit_on_error=False, print_error=False)
    except Exception:
        return None
    out: dict[str, Any] = {}
    for key, value in bound.arguments.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(dataclasses.asdict(value))
        else:
            out[key] = value
    return out


def _tokens(command: str) -> st.SearchStrategy[list[str]]:
    spec = fastspec.COMMANDS[command]
    names = [n for o in spec.options for n in o.names]
    forms = st.one_of(
        st.sampled_from(names),
        st.sampled_from(VALUES),
        st.builds(lambda n, v: f"{n}={v}", st.sampled_from(names), st.sampled_from(VALUES)),
        st.sampled_from(("--help", "-h", "--", "--nope", "-fx")),
    )
    return st.lists(forms, max_size=7)


def test_the_tables_are_generated_from_the_app_and_current() -> None:
    assert _namespace(fastgen.generate())["COMMANDS"] == _namespace(Path(fastspec.__file__).read_text())["COMMANDS"]


def test_each_fast_target_has_the_app_commands_defaults() -> None:
    for command in fastspec.COMMANDS:
        minimal = ["x"] if command == "render" else []  # render needs a file
        app_kwargs = _app_kwargs(command, minimal)
        fast_kwargs = fast.parse(fastspec.COMMANDS[command], minimal)
        assert app_kwargs is not None and fast_kwargs is not None
        assert _effective(command, fast_kwargs) == _effective(command, app_kwargs)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(fastspec.COMMANDS)).flatmap(lambda c: st.tuples(st.just(c), _tokens(c))))
def test_a_command_line_the_fast_path_takes_means_what_it_means_to_the_app(case: tuple[str, list[str]]) -> None:
    command, tokens = case
    got = fast.parse(fastspec.COMMANDS[command], tokens)
    if got is None:
        return  # left to the App
    expected = _app_kwargs(command, tokens)
    assert expected is not None, f"the App refuses {tokens} but the fast path took it"
    assert _effective(command, got) == _effective(command, expected)


def test_help_unknown_repeated_and_bad_choices_are_left_to_the_app() -> None:
    spec = fastspec.COMMANDS["render"]
    for tokens in (["--help"], ["-f", "a", "--nope"], ["-n", "a", "-n", "b", "-f", "x"], ["-o", "xml", "-f", "x"],
                   ["a.yaml", "-f", "b.yaml"], [], ["-f"], ["--", "x"]):  # fmt: skip
        assert fast.parse(spec, tokens) is None, tokens


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_render_and_status_run_without_importing_cyclopts() -> None:
    code = ("import atexit, sys\natexit.register(lambda: print('CYCLOPTS=%s' % ('cyclopts' in sys.modules)))\n"
            "from mcpop.cli.main import run\nrun()")  # fmt: skip
    r = _run(code, "render", "-f", "examples/02-mcpserver-basic.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().endswith("CYCLOPTS=False")
    r = _run(code, "status", "x", "--kubeconfig", str(ROOT / "no-such-kubeconfig"))
    assert r.returncode == 1 and "no-such-kubeconfig" in r.stderr
    assert r.stdout.rstrip().endswith("CYCLOPTS=False")


def test_a_command_line_the_fast_path_leaves_gets_the_apps_error() -> None:
    r = _run("from mcpop.cli.main import run; run()", "render", "-n", "a", "-n", "b", "-f", "x")
    assert r.returncode == 2
    assert "-n specified multiple times" in r.stderr
