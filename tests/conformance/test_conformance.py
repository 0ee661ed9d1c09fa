"""The official MCP conformance suite (tools/conformance: npm `@modelcontextprotocol/conformance`, pinned, with
its Node.js 22) against a server behind mcpop-bridge: every server scenario, run once per module, offline on
loopback, against tests/conformance_server.py (the official Python SDK) as the bridge's stdio child.

Covers: each scenario passes or is in tests/fixtures/conformance-baseline.yml (the suite's expected-failures
file); a baseline entry that passes fails (stale); every entry names a scenario the suite has and gives its
reason; every scenario the suite lists ran. Host processes only: the bridge binary (tools/bridge path), the
SDK's bare python (tools/mcp-sdk python), Node 22 from the cache.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from bridge_process import running_bridge, tool

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "tests" / "fixtures" / "conformance-baseline.yml"
SERVER = ROOT / "tests" / "conformance_server.py"


@dataclass
class Run:
    returncode: int
    output: str
    #: scenario -> whether it failed (a check that FAILed or WARNed, as the suite's baseline check counts it)
    failed: dict[str, bool]
    listed: list[str]


def _results(out_dir: Path) -> dict[str, bool]:
    failed: dict[str, bool] = {}
    for checks in sorted(out_dir.glob("*/checks.json")):
        name = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks.parent.name).removeprefix("server-")
        statuses = {c["status"] for c in json.loads(checks.read_text())}
        failed[name] = bool(statuses & {"FAILURE", "WARNING"})
    return failed


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    if shutil.which("go") is None:
        pytest.skip("Go is needed to build the bridge (tools/bridge path)")
    if shutil.which("npm") is None:
        pytest.skip("npm is needed to install the conformance suite (tools/conformance install)")
    bridge, python, runner = tool("bridge", "path"), tool("mcp-sdk", "python"), tool("conformance", "path")
    node = str(Path(runner).parent / "node")
    listed = subprocess.run([node, runner, "list", "--server"], capture_output=True, text=True, check=True).stdout
    scenarios = re.findall(r"^\s+- (\S+)", listed, re.M)
    tmp = tmp_path_factory.mktemp("conformance")
    # The suite never DELETEs its sessions (~40 of them, one server process each): a short idle timeout ends
    # them while it goes on, instead of a server process per scenario left to the end; and the session cap is
    # above what it ever holds at once, so how fast the machine runs it cannot make a scenario meet a 503.
    with running_bridge(bridge, [python, str(SERVER)], "--session-timeout", "10s", "--max-sessions", "100",
                        log=tmp / "bridge.log", cwd=tmp) as base:  # fmt: skip
        out = subprocess.run(
            [node, runner, "server", "--url", f"{base}/mcp", "--suite", "all",
             "--expected-failures", str(BASELINE), "-o", str(tmp / "results")],
            capture_output=True, text=True, timeout=900, cwd=tmp,
        )  # fmt: skip
        yield Run(out.returncode, out.stdout + out.stderr, _results(tmp / "results"), scenarios)


def _baseline() -> list[str]:
    return [str(s) for s in (yaml.safe_load(BASELINE.read_text()) or {}).get("server", [])]


def test_every_server_scenario_passes_or_is_an_expected_failure_of_the_baseline(run: Run) -> None:
    unexpected = sorted(s for s, failed in run.failed.items() if failed and s not in _baseline())
    assert not unexpected, f"new conformance failures (not in {BASELINE.name}): {unexpected}\n{run.output[-6000:]}"


def test_a_baseline_entry_whose_scenario_passes_fails_the_test(run: Run) -> None:
    stale = sorted(s for s in _baseline() if run.failed.get(s) is False)
    assert not stale, f"these pass now: remove them from {BASELINE.name}: {stale}"


def test_the_suite_itself_agrees_with_the_baseline(run: Run) -> None:
    """The suite's own verdict (exit status 0: no unexpected failure, no stale entry) matches ours."""
    assert run.returncode == 0, run.output[-6000:]
    assert "Baseline check passed" in run.output


def test_every_scenario_the_suite_lists_ran(run: Run) -> None:
    assert len(run.listed) >= 30, run.listed
    assert sorted(run.failed) == sorted(run.listed)


def test_every_baseline_entry_names_a_scenario_and_gives_its_reason(run: Run) -> None:
    assert set(_baseline()) <= set(run.listed), set(_baseline()) - set(run.listed)
    lines = BASELINE.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s+- (\S+)\s*(#.*)?$", line)
        if m:
            assert m.group(2) or lines[i - 1].lstrip().startswith("#"), f"{m.group(1)}: no reason given"
