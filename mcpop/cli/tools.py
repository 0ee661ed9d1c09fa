"""`mcp tools diff NAME` and `mcp tools approve NAME`: an MCPServer's pinned tool inventory (issue 21 §2).

The operator's handshake records every tool the server lists with the digest of its definition
(`status.mcp.tools.definitions`, mcpop-bridge's withheld tools included). `diff` compares them with
`spec.tools.approved`; `approve` writes them there, after which mcpop-bridge exposes a tool only while its
definition is the one approved.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal

from cyclopts import App, Parameter

from mcpop.api.mcpserver import MAX_TOOL_NAMES
from mcpop.apply.mcpserver.status import inventory_difference
from mcpop.apply.resources import CLI_FIELD_MANAGER, MCPSERVER
from mcpop.cli import output as out
from mcpop.cli.kube import Client, ClusterError
from mcpop.cli.options import Cluster, guarded
from mcpop.cli.status import get_server

tools_app = App(name="tools", help="Review and approve the tools an MCP server exposes (spec.tools.approved).")


def listed_tools(obj: dict[str, Any]) -> dict[str, str]:
    """name → `sha256:<hex>` of every tool the server lists, from its last verified handshake; a ClusterError
    saying why when status does not hold the whole inventory."""
    name = obj["metadata"]["name"]
    tools = ((obj.get("status") or {}).get("mcp") or {}).get("tools")
    if not isinstance(tools, dict):
        verified = out.condition(obj, "Verified")
        why = f" (Verified {verified.get('status')}: {verified.get('message')})" if verified else ""
        raise ClusterError(f"mcpserver/{name}: no verified tool inventory in status.mcp.tools yet{why}")
    listed = {d["name"]: d["digest"] for d in tools.get("definitions") or []}
    if int(tools.get("count") or 0) > len(listed):
        raise ClusterError(f"mcpserver/{name} lists {tools.get('count')} tools; status records and an approved "
                           f"inventory holds at most {MAX_TOOL_NAMES}")  # fmt: skip
    return listed


def approved_of(obj: dict[str, Any]) -> dict[str, str] | None:
    """spec.tools.approved as name → `sha256:<hex>`; None when it is not set."""
    approved = (((obj.get("spec") or {}).get("tools")) or {}).get("approved")
    if approved is None:
        return None
    return {t["name"]: f"sha256:{t['sha256']}" for t in approved}


def difference_lines(approved: dict[str, str], listed: dict[str, str]) -> list[str]:
    """One line per tool that differs: `~ name approved → now`, `+ name now` (not approved), `- name approved`
    (no longer listed), by name."""
    diff = inventory_difference(approved, listed)
    lines = [(n, f"~ {n}  {approved[n]} -> {listed[n]}") for n in diff["changed"]]
    lines += [(n, f"+ {n}  {listed[n]}") for n in diff["added"]]
    lines += [(n, f"- {n}  {approved[n]}") for n in diff["removed"]]
    return [line for _, line in sorted(lines)]


def run_diff(client: Client, namespace: str, name: str) -> int:
    obj = get_server(client, namespace, name)
    listed, approved = listed_tools(obj), approved_of(obj)
    if approved is None:
        for n in sorted(listed):
            print(f"+ {n}  {listed[n]}")
        print(f"mcpserver/{name}: spec.tools.approved is not set: all {len(listed)} tools are exposed as they come",
              file=sys.stderr)  # fmt: skip
        return 1 if listed else 0
    lines = difference_lines(approved, listed)
    for line in lines:
        print(line)
    if not lines:
        print(f"mcpserver/{name}: the {len(listed)} tools listed are the ones approved", file=sys.stderr)
    return 1 if lines else 0


DryRun = Literal["none", "client", "server"]


def run_approve(client: Client, namespace: str, name: str, dry_run: DryRun) -> int:
    obj = get_server(client, namespace, name)
    listed = listed_tools(obj)
    inventory = [{"name": n, "sha256": listed[n].removeprefix("sha256:")} for n in sorted(listed)]
    lines = difference_lines(approved_of(obj) or {}, listed)
    for line in lines:
        print(line, file=sys.stderr)
    if dry_run == "client":
        sys.stdout.write(out.dump({"spec": {"tools": {"approved": inventory}}}, "yaml"))
        print(f"mcpserver/{name}: {len(inventory)} tools would be approved (dry run)", file=sys.stderr)
        return 0
    # the resourceVersion read: a spec changed since is refused (409), never overwritten
    patch = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
             "spec": {"tools": {"approved": inventory}}}  # fmt: skip
    try:
        client.merge_patch(MCPSERVER, namespace, name, patch, field_manager=CLI_FIELD_MANAGER,
                           dry_run=dry_run == "server")  # fmt: skip
    except ClusterError as exc:
        if exc.status == 409:
            raise ClusterError(f"mcpserver/{name} changed while its tools were being approved: run the command "
                               "again") from exc  # fmt: skip
        raise
    suffix = " (server dry run)" if dry_run == "server" else ""
    print(f"mcpserver/{name} approved: {len(inventory)} tools{suffix}")
    return 0


@tools_app.command
def diff(name: str, /, *, cluster: Cluster = Cluster()) -> int:  # noqa: B008 - cyclopts flattens it
    """Show how the tools MCPServer NAME lists differ from spec.tools.approved.

    One line per tool that differs: `~` changed since approved, `+` listed but not approved
    (hidden by mcpop-bridge), `-` approved but no longer listed.
    Exit status: 0 no differences, 1 differences (or an error, said on stderr).
    """

    def body() -> int:
        client = cluster.client()
        return run_diff(client, cluster.ns(client), name)

    return guarded(body)


@tools_app.command
def approve(
    name: str,
    /,
    *,
    dry_run: Annotated[
        DryRun,
        Parameter(
            name="--dry-run",
            help="client: print spec.tools.approved instead of writing it (a bare --dry-run); "
            "server: have the API server check the write without keeping it.",
        ),
    ] = "none",
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Approve the tools MCPServer NAME lists now, writing them to spec.tools.approved.

    Each tool is written with its definition's digest; mcpop-bridge then exposes a tool
    only while its definition is the one approved. The differences approved are printed on stderr.
    With --dry-run (client) the inventory is printed as YAML (to commit where the MCPServer
    is kept, for GitOps) and nothing is written.
    """

    def body() -> int:
        client = cluster.client()
        return run_approve(client, cluster.ns(client), name, dry_run)

    return guarded(body)
