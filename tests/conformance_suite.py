"""The official MCP conformance suite (tools/conformance: npm `@modelcontextprotocol/conformance`, pinned, with its
Node.js 22) run against tests/conformance_server.py behind mcpop-bridge on loopback, for tests/conformance: the
run, its per-scenario verdicts, and the expected failures of tests/fixtures/conformance-baseline.yml."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from bridge_process import running_bridge, tool

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tests" / "fixtures" / "conformance-baseline.yml"
SERVER = ROOT / "tests" / "conformance_server.py"
#: something in front of the bridge: its base URL -> a context manager yielding the front's base URL
Front = Callable[[str], AbstractContextManager[str]]


@dataclass
class Run:
    returncode: int
    output: str
    #: scenario -> whether it failed (a check that FAILed or WARNed, as the suite's baseline check counts it)
    failed: dict[str, bool]
    listed: list[str]
    #: the bridge's base URL (still running while the run is in use)
    bridge: str
    #: the MCP endpoint the suite was pointed at
    url: str


def results(out_dir: Path) -> dict[str, bool]:
    """scenario -> whether it failed, from the suite's `-o` directory (one `*/checks.json` per scenario)."""
    failed: dict[str, bool] = {}
    for checks in sorted(out_dir.glob("*/checks.json")):
        name = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks.parent.name).removeprefix("server-")
        statuses = {c["status"] for c in json.loads(checks.read_text())}
        failed[name] = bool(statuses & {"FAILURE", "WARNING"})
    return failed


def baseline() -> list[str]:
    """The server scenarios the baseline expects to fail."""
    return [str(s) for s in (yaml.safe_load(BASELINE.read_text()) or {}).get("server", [])]


def unexpected_failures(run: Run) -> list[str]:
    """The scenarios that failed and are not in the baseline."""
    return sorted(s for s, failed in run.failed.items() if failed and s not in baseline())


def stale_entries(run: Run) -> list[str]:
    """The baseline's scenarios that passed."""
    return sorted(s for s in baseline() if run.failed.get(s) is False)


@contextlib.contextmanager
def suite_behind_bridge(tmp: Path, *flags: str, port: int | None = None, front: Front | None = None) -> Iterator[Run]:
    """Every server scenario (`--suite all`, the baseline as `--expected-failures`) against the bridge started
    with FLAGS (on `port` when given) in `tmp`, or against `front(bridge_base_url)` (a base URL in front of the
    bridge) when given; yields the run while the bridge (and the front) still runs. Skips without Go or npm."""
    if shutil.which("go") is None:
        pytest.skip("Go is needed to build the bridge (tools/bridge path)")
    if shutil.which("npm") is None:
        pytest.skip("npm is needed to install the conformance suite (tools/conformance install)")
    bridge, python, runner = tool("bridge", "path"), tool("mcp-sdk", "python"), tool("conformance", "path")
    node = str(Path(runner).parent / "node")
    listed = subprocess.run([node, runner, "list", "--server"], capture_output=True, text=True, check=True).stdout
    scenarios = re.findall(r"^\s+- (\S+)", listed, re.M)
    # The suite never DELETEs its sessions (~40 of them, one server process each): a short idle timeout ends
    # them while it goes on, instead of a server process per scenario left to the end; and the session cap is
    # above what it ever holds at once, so how fast the machine runs it cannot make a scenario meet a 503.
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(
            running_bridge(bridge, [python, str(SERVER)], "--session-timeout", "10s", "--max-sessions", "100",
                           *flags, log=tmp / "bridge.log", port=port, cwd=tmp)
        )  # fmt: skip
        url = (stack.enter_context(front(base)) if front is not None else base) + "/mcp"
        out = subprocess.run(
            [node, runner, "server", "--url", url, "--suite", "all",
             "--expected-failures", str(BASELINE), "-o", str(tmp / "results")],
            capture_output=True, text=True, timeout=900, cwd=tmp,
        )  # fmt: skip
        yield Run(out.returncode, out.stdout + out.stderr, results(tmp / "results"), scenarios, base, url)
