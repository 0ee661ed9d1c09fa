"""The official MCP conformance suite (tools/conformance: npm `@modelcontextprotocol/conformance`, pinned, with
its Node.js 22) against a server behind mcpop-bridge: every server scenario, run once per module, offline on
loopback, against tests/conformance_server.py (the official Python SDK) as the bridge's stdio child.

Covers: each scenario passes or is in tests/fixtures/conformance-baseline.yml (the suite's expected-failures
file); a baseline entry that passes fails (stale); every entry names a scenario the suite has and gives its
reason; every scenario the suite lists ran. Host processes only: the bridge binary (tools/bridge path), the
SDK's bare python (tools/mcp-sdk python), Node 22 from the cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conformance_suite import BASELINE, Run, baseline, stale_entries, suite_behind_bridge, unexpected_failures


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with suite_behind_bridge(tmp_path_factory.mktemp("conformance")) as run:
        yield run


def test_every_server_scenario_passes_or_is_an_expected_failure_of_the_baseline(run: Run) -> None:
    unexpected = unexpected_failures(run)
    assert not unexpected, f"new conformance failures (not in {BASELINE.name}): {unexpected}\n{run.output[-6000:]}"


def test_a_baseline_entry_whose_scenario_passes_fails_the_test(run: Run) -> None:
    stale = stale_entries(run)
    assert not stale, f"these pass now: remove them from {BASELINE.name}: {stale}"


def test_the_suite_itself_agrees_with_the_baseline(run: Run) -> None:
    """The suite's own verdict (exit status 0: no unexpected failure, no stale entry) matches ours."""
    assert run.returncode == 0, run.output[-6000:]
    assert "Baseline check passed" in run.output


def test_every_scenario_the_suite_lists_ran(run: Run) -> None:
    assert len(run.listed) >= 30, run.listed
    assert sorted(run.failed) == sorted(run.listed)


def test_every_baseline_entry_names_a_scenario_and_gives_its_reason(run: Run) -> None:
    assert set(baseline()) <= set(run.listed), set(baseline()) - set(run.listed)
    lines = BASELINE.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s+- (\S+)\s*(#.*)?$", line)
        if m:
            assert m.group(2) or lines[i - 1].lstrip().startswith("#"), f"{m.group(1)}: no reason given"
