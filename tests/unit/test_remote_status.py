"""Remote-only registry entries: nothing runs in the cluster; status records the remote URL, the transport,
phase Remote and Ready True (reason Remote) instead of waiting forever for a Deployment."""

from __future__ import annotations

from typing import Any

from changesets import changes

from mcpop.api.mcpserver import MCPServer, MCPServerStatus
from mcpop.api.serverjson import ServerJSON
from mcpop.apply.mcpserver.status import Outcome, compute_status, is_remote, service_status
from mcpop.render import render

URL = "https://mcp.example.com/mcp"


def remote_service(remotes: list[dict[str, Any]]) -> dict[str, Any]:
    entry = ServerJSON.model_validate({"name": "io.github.example/hosted", "description": "d", "version": "1.0",
                                       "remotes": remotes})  # fmt: skip
    server = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                       "metadata": {"name": "hosted", "namespace": "ns"},
                                       "spec": {"registry": {"name": "io.github.example/hosted"}}})  # fmt: skip
    (svc,) = render(server, entry).objects
    return svc


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_the_service_of_a_remote_only_entry_gives_the_remote_url_and_transport() -> None:
    svc = remote_service([{"type": "streamable-http", "url": URL}])
    assert is_remote(svc)
    assert service_status(svc, "ns") == ("hosted.ns.svc.cluster.local:443", URL, "streamable-http")


def test_an_sse_remote_records_transport_sse() -> None:
    svc = remote_service([{"type": "sse", "url": "https://mcp.example.com/sse"}])
    assert service_status(svc, "ns")[1:] == ("https://mcp.example.com/sse", "sse")


def test_credentials_in_a_remote_url_are_not_written_to_status() -> None:
    svc = remote_service([{"type": "streamable-http", "url": "https://user:pw@mcp.example.com/mcp"}])
    url = service_status(svc, "ns")[1]
    assert url is not None and "pw" not in url


def test_a_remote_server_is_phase_remote_and_ready_without_a_deployment() -> None:
    status = compute_status(
        Outcome(generation=2, changes=changes(1), remote=True, url=URL, transport="streamable-http"), None
    )
    assert status["phase"] == "Remote"
    assert status["url"] == URL and status["transport"] == "streamable-http"
    c = conds(status)
    assert c["Ready"] == ("True", "Remote") and c["Available"] == ("True", "Remote")
    assert c["Progressing"] == ("False", "Remote") and c["Reconciling"] == ("False", "Reconciled")
    assert c["Stalled"][0] == "False"
    ready = next(x for x in status["conditions"] if x["type"] == "Ready")
    assert URL in ready["message"] and ready["observedGeneration"] == 2


def test_the_remote_status_validates_against_the_api_model() -> None:
    status = compute_status(Outcome(generation=1, changes=changes(1), remote=True, url=URL, transport="sse"), None)
    assert MCPServerStatus.model_validate(status).phase == "Remote"


def test_an_invalid_remote_spec_is_failed_not_remote() -> None:
    status = compute_status(Outcome(generation=1, remote=True, invalid="spec.registry: bad"), None)
    assert status["phase"] == "Failed" and conds(status)["Ready"] == ("False", "InvalidSpec")


def test_a_deployed_server_is_not_remote() -> None:
    assert not is_remote({"spec": {"type": "ClusterIP"}})


def test_mcp_status_shows_where_clients_reach_a_remote_server() -> None:
    from mcpop.cli.output import status_block

    status = compute_status(
        Outcome(generation=1, changes=changes(1), remote=True, url=URL, transport="streamable-http"), None
    )
    obj = {"metadata": {"name": "hosted", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"registry": {"name": "io.github.example/hosted"}}, "status": status}  # fmt: skip
    lines = status_block(obj, [], 0.0).splitlines()
    assert lines[2] == "Phase: Remote"
    assert lines[7] == f"URL: {URL} (streamable-http)"


def test_a_deployed_servers_status_block_keeps_the_original_lines() -> None:
    from mcpop.cli.output import status_block

    status = compute_status(
        Outcome(generation=1, changes=changes(3), url="http://x.ns.svc.cluster.local:8080/mcp"), None
    )
    obj = {"metadata": {"name": "x", "namespace": "ns"}, "spec": {}, "status": status}
    assert not any(line.startswith("URL:") for line in status_block(obj, [], 0.0).splitlines())
