"""The CLI's human-readable output, against golden files (golden/cli/, regenerate with `--update-golden`),
with the clock injected so ages are fixed.

Covers: the status block of a Ready server (the original README's format) and of a failed one (✗ with
reason and message, recent Warning events), the server tables (with and without NAMESPACE), change-set
lines, a `mcp diff` unified diff with Secret values masked, `mcp version`; kubectl's age formatting and
duration parsing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcpop.apply.ssa.changeset import Change
from mcpop.cli import output
from mcpop.cli.apply import unified
from mcpop.cli.options import UsageError, parse_duration
from mcpop.cli.plan import Planned, change_line
from mcpop.cli.version import human
from mcpop.cli.wait import Progress, blocking, is_ready, stalled

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "cli"
NOW = output.parse_time("2026-01-01T00:05:00Z") or 0.0


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_status_block_of_a_ready_server(golden: Callable[[str, str], None]) -> None:
    text = output.status_block(fixture("server-ready.json"), [], NOW)
    golden("cli/status-ready.txt", text)
    # the original README's lines, in its order
    assert text.splitlines()[:7] == [
        "Name: filesystem-server", "Namespace: default", "Phase: Running", "Replicas: 1/1",
        "Endpoint: filesystem-server.default.svc.cluster.local:8080", "Age: 5m", "Registry: filesystem-server",
    ]  # fmt: skip
    assert "  ✓ RegistryFetched: True - Registry data successfully fetched" in text.splitlines()


def test_status_block_of_a_failed_server_with_warning_events(golden: Callable[[str, str], None]) -> None:
    text = output.status_block(fixture("server-failed.json"), fixture("events-failed.json"), NOW)
    golden("cli/status-failed.txt", text)
    assert "  ✗ Ready: False - InvalidSpec: spec.registry: " in text
    assert "  ✗ Stalled: True - InvalidSpec: " in text
    assert "Applied" not in text.split("Events:")[1]  # Normal events are not listed


def test_status_block_of_a_verified_server_shows_its_server_info_and_tools(golden: Callable[[str, str], None]) -> None:
    text = output.status_block(fixture("server-verified.json"), [], NOW)
    golden("cli/status-verified.txt", text)
    lines = text.splitlines()
    assert lines[7:9] == [
        "MCP: memory-server 2026.11.3 (protocol 2026-07-28)",
        "Tools: 9 (create_entities, create_relations, add_observations, delete_entities, delete_observations, "
        "delete_relations, read_graph, search_nodes, open_nodes)",
    ]
    assert (
        "  ✓ Verified: True - MCP handshake with http://memory.default.svc.cluster.local:8080/mcp "
        "(protocol 2026-07-28): memory-server 2026.11.3, 9 tools" in lines
    )


def test_status_block_names_the_issuer_and_the_default_audience_when_auth_is_on() -> None:
    obj = fixture("server-verified.json")
    assert not any(line.startswith("Auth:") for line in output.status_block(obj, [], NOW).splitlines())
    obj["spec"]["auth"] = {"jwt": {"issuer": "https://idp.example.com", "requiredScopes": ["mcp:tools"]}}
    obj["status"]["url"] = "http://memory.default.svc.cluster.local:8080/mcp"
    assert (
        "Auth: Bearer JWT from https://idp.example.com, audience "
        "http://memory.default.svc.cluster.local:8080/mcp (default), scopes mcp:tools"
    ) in output.status_block(obj, [], NOW).splitlines()
    obj["spec"]["auth"] = {"allowUnauthenticated": True}
    assert "Auth: none (allowUnauthenticated)" in output.status_block(obj, [], NOW).splitlines()


def test_status_block_names_the_service_accounts_and_the_audience_their_tokens_need() -> None:
    obj = fixture("server-verified.json")
    obj["status"]["url"] = "http://memory.default.svc.cluster.local:8080/mcp"
    obj["spec"]["auth"] = {"serviceAccounts": {}}
    assert (
        f"Auth: ServiceAccount tokens of {obj['metadata']['namespace']}/*, audience "
        "http://memory.default.svc.cluster.local:8080/mcp (default)"
    ) in output.status_block(obj, [], NOW).splitlines()
    obj["spec"]["auth"] = {"serviceAccounts": {"namespaces": ["agents"], "names": ["planner"], "audience": "mem"}}
    assert (
        "Auth: ServiceAccount tokens of agents/planner, audience mem" in output.status_block(obj, [], NOW).splitlines()
    )


def test_status_block_of_a_failed_verification_keeps_the_last_handshake(golden: Callable[[str, str], None]) -> None:
    text = output.status_block(fixture("server-verify-failed.json"), [], NOW)
    golden("cli/status-verify-failed.txt", text)
    assert (
        "  ✗ Verified: False - Timeout: http://memory.default.svc.cluster.local:8080/mcp: no MCP handshake "
        "within 10s" in text.splitlines()
    )
    assert "MCP: memory-server 2026.11.3 (protocol 2026-07-28)" in text


def test_more_tools_than_shown_are_counted() -> None:
    names = [f"t{i}" for i in range(50)]
    lines = output.mcp_lines({"protocolVersion": "p", "tools": {"count": 70, "names": names}})
    assert lines[1] == "Tools: 70 (" + ", ".join(names[:10]) + ", ... 60 more)"


def test_server_tables(golden: Callable[[str, str], None]) -> None:
    objs = [fixture("server-ready.json"), fixture("server-failed.json")]
    golden("cli/table.txt", output.server_table(objs, NOW, False))
    golden("cli/table-all-namespaces.txt", output.server_table(objs, NOW, True))


def test_change_set_lines(golden: Callable[[str, str], None]) -> None:
    changes = [
        Change("unchanged", "MCPServer", "web", "default"),
        Change("created", "ServiceAccount", "web", "default"),
        Change("configured", "Deployment", "web", "default", fields=("spec.replicas", "spec.template.metadata")),
        Change("deleted", "PodDisruptionBudget", "web", "default", reason="pruned"),
        Change("skipped", "ServiceMonitor", "web", "default", reason="monitoring.coreos.com/v1 is not served"),
    ]
    text = "".join(change_line(c, "server dry run") + "\n" for c in changes)
    text += "".join(change_line(c) + "\n" for c in changes)
    golden("cli/changes.txt", text)


def test_unified_diff_masks_secret_values(golden: Callable[[str, str], None]) -> None:
    dep_live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "resourceVersion": "7",
            "generation": 1,
            "managedFields": [{"manager": "mcpop"}],
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "mcp-server", "image": "a:1"}]}}},
    }
    dep_merged = json.loads(json.dumps(dep_live))
    dep_merged["spec"]["replicas"] = 3
    dep_merged["metadata"]["generation"] = 2
    secret_live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "web", "namespace": "default"},
        "data": {"token": "b2xk", "same": "eA=="},
    }
    secret_merged = {**secret_live, "data": {"token": "bmV3", "same": "eA=="}}
    text = unified(Planned(Change("configured", "Deployment", "web"), dep_live, dep_merged))
    text += unified(Planned(Change("configured", "Secret", "web"), secret_live, secret_merged))
    text += unified(Planned(Change("created", "Service", "web"), None,
                            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                             "spec": {"ports": [{"port": 8080}]}}))  # fmt: skip
    golden("cli/diff.txt", text)
    assert "b2xk" not in text and "bmV3" not in text
    assert "generation" not in text and "resourceVersion" not in text  # server-set metadata is not a difference
    assert unified(Planned(Change("unchanged", "Deployment", "web"), dep_live, dep_live)) == ""


def test_version_output(golden: Callable[[str, str], None]) -> None:
    info = {
        "clientVersion": {"version": "0.1.0"},
        "serverVersion": {"gitVersion": "v1.36.3"},
        "operator": [{"namespace": "mcpop-system", "name": "mcpop", "version": "0.1.0", "image": "x/mcpop:0.1.0"}],
        "crds": [{"name": "mcpservers.mcp.allbeone.io", "installed": True, "served": ["v1"], "storage": "v1"},
                 {"name": "mcpserverbackups.mcp.allbeone.io", "installed": False}],
    }  # fmt: skip
    golden("cli/version.txt", human(info))
    assert human({"clientVersion": {"version": "0.1.0"}}) == "Client Version: 0.1.0\n"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (150, "2m30s"), (600, "10m"), (3 * 3600 - 1, "179m"),
     (3 * 3600, "3h"), (3 * 3600 + 600, "3h10m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
     (49 * 3600, "2d1h"), (8 * 86400, "8d"), (2 * 365 * 86400, "2y"), (800 * 86400, "2y70d"), (-5, "<invalid>")],
)  # fmt: skip
def test_ages_are_printed_as_kubectl_prints_them(seconds: int, text: str) -> None:
    assert output.human_duration(seconds) == text


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("90s", 90), ("500ms", 0.5),
                                               ("1h", 3600), ("10m", 600)])  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "--x") == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 m", "m", "1d", "2.5", "90"])
def test_bad_durations_name_the_flag(text: str) -> None:
    with pytest.raises(UsageError, match="--wait-timeout: invalid duration"):
        parse_duration(text, "--wait-timeout")


def test_condition_polarity() -> None:
    assert output.good({"type": "Stalled", "status": "False"})
    assert not output.good({"type": "Stalled", "status": "True"})
    assert output.good({"type": "Progressing", "status": "True", "reason": "RollingOut"})
    assert not output.good({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"})
    assert not output.good({"type": "Ready", "status": "Unknown"})


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_terminal_and_prints_changes_otherwise() -> None:
    tty, plain = _Terminal(), io.StringIO()
    for stream in (tty, plain):
        p = Progress(stream)
        for text in ("0/2 ready", "0/2 ready", "1/2 ready"):
            p.show(text)
        p.done()
    assert tty.getvalue() == "\r\x1b[2K0/2 ready\r\x1b[2K1/2 ready\r\x1b[2K"
    assert plain.getvalue() == "0/2 ready\n1/2 ready\n"


def test_what_blocks_readiness() -> None:
    server = fixture("server-failed.json")
    assert blocking(server).startswith("InvalidSpec: spec.registry: ")
    assert blocking({"metadata": {"generation": 1}}) == "the operator has not reported a status yet (is it running?)"
    stale = {"metadata": {"generation": 3}, "status": {"observedGeneration": 2, "conditions": []}}
    assert blocking(stale) == "the operator has not observed generation 3 yet"
    assert not is_ready(stale) and is_ready(fixture("server-ready.json"))
    assert stalled(server) is not None and stalled(fixture("server-ready.json")) is None
