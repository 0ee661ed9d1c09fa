"""`mcp delete NAME...`: delete MCPServers; `--wait` until each and every object it owned are gone;
`--dry-run` says what would be deleted and deletes nothing (`server`: the apiserver checks each delete,
`dryRun=All`); `-o json|yaml` prints the deleted MCPServers.

The owned objects are the members of the server's ApplySet (label `applyset.kubernetes.io/part-of`, kinds
from the parent's `contains-group-kinds` annotation), read before the delete is sent.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any, Literal

from cyclopts import Parameter

from mcpop.apply.resources import MCPSERVER, Resource
from mcpop.cli.kube import Client, ClusterError
from mcpop.cli.options import Cluster, Format, Output, Timeout, UsageError, guarded, timeout_seconds
from mcpop.cli.wait import Progress, WaitFailed

POLL = 0.5


def members(client: Client, server: dict[str, Any]) -> list[tuple[Resource, str]]:
    """(resource, name) of every live object in the server's ApplySet."""
    from mcpop.apply.ssa import applyset as aset
    from mcpop.cli.plan import client_manager

    manager = client_manager(client)

    meta = server["metadata"]
    set_id = aset.applyset_id(meta["name"], meta["namespace"])
    out: list[tuple[Resource, str]] = []
    for gk in sorted(aset.live_group_kinds(server)):
        res = manager.resource_for(gk)
        if res is None:
            continue
        try:
            items, _ = client.list_objects(res, meta["namespace"], f"{aset.PART_OF_LABEL}={set_id}")
        except ClusterError as exc:
            if exc.status not in (403, 404):
                raise
            print(f"note: not waiting for {gk} objects: {exc.message}", file=sys.stderr)
            continue
        out += [(res, o["metadata"]["name"]) for o in items]
    return out


def remaining(client: Client, namespace: str, names: list[str], owned: dict[str, list[tuple[Resource, str]]]
              ) -> list[str]:  # fmt: skip
    """`Kind/name` of what is still there."""
    left = []
    for name in names:
        if client.get(MCPSERVER, namespace, name) is not None:
            left.append(f"MCPServer/{name}")
        for res, oname in owned.get(name, []):
            try:
                if client.get(res, namespace, oname) is not None:
                    left.append(f"{res.kind}/{oname}")
            except ClusterError as exc:
                if exc.status != 403:
                    raise
    return left


def confirm(question: str) -> bool:
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


DryRun = Literal["none", "client", "server"]


def run_delete(client: Client, namespace: str, names: list[str], all_: bool, yes: bool, wait: bool,
               timeout: float, dry_run: DryRun = "none", output: Format = "table") -> int:  # fmt: skip
    if all_ and names:
        raise UsageError("--all cannot be used with names: give names or --all, not both")
    if not all_ and not names:
        raise UsageError("give the MCPServers to delete (NAME...), or --all")
    if wait and dry_run != "none":
        raise UsageError("--wait cannot be used with --dry-run: nothing is deleted to wait for")
    if all_:
        names = sorted(o["metadata"]["name"] for o in client.list_objects(MCPSERVER, namespace)[0])
        if not names:
            print(f"No MCPServers found in namespace {namespace}.", file=sys.stderr)
            return 0
        question = f"Delete {len(names)} MCPServer(s) in namespace {namespace}: {', '.join(names)}?"
        if dry_run == "none" and not yes and not confirm(question):
            print("error: not confirmed; nothing deleted (pass --yes to skip the question)", file=sys.stderr)
            return 1
    suffix = {"none": "", "client": " (dry run)", "server": " (server dry run)"}[dry_run]
    owned: dict[str, list[tuple[Resource, str]]] = {}
    missing = []
    printed: list[dict[str, Any]] = []
    for name in names:
        obj = client.get(MCPSERVER, namespace, name)
        if obj is None:
            missing.append(name)
            continue
        if wait:
            owned[name] = members(client, obj)
        if dry_run != "client":
            answer = client.delete_object(MCPSERVER, namespace, name, dry_run=dry_run == "server")
            if answer is None:
                missing.append(name)
                continue
            if answer.get("kind") == MCPSERVER.kind:
                obj = answer
        obj.setdefault("apiVersion", MCPSERVER.api_version)
        obj.setdefault("kind", MCPSERVER.kind)
        printed.append(obj)
        if output == "table":
            print(f"{MCPSERVER.resource_name}/{name} deleted{suffix}")
    if output != "table":
        from mcpop.cli.output import dump_all

        sys.stdout.write(dump_all(printed, output))
    for name in missing:
        print(f'error: MCPServer "{name}" not found in namespace "{namespace}"', file=sys.stderr)
    deleted = [n for n in names if n not in missing]
    if wait and deleted:
        progress = Progress()
        deadline = time.monotonic() + timeout
        from mcpop.cli.output import human_duration

        try:
            while True:
                left = remaining(client, namespace, deleted, owned)
                if not left:
                    break
                if time.monotonic() >= deadline:
                    raise WaitFailed(f"timed out after {human_duration(timeout)} waiting for the deletion; still "
                                     f"present: {', '.join(left)}")  # fmt: skip
                progress.show(f"Waiting for deletion of {len(left)} object(s): {', '.join(left)}")
                time.sleep(POLL)
        finally:
            progress.done()
        print(f"deleted: {', '.join(deleted)} and every object they owned",
              file=sys.stdout if output == "table" else sys.stderr)  # fmt: skip
    return 1 if missing else 0


def delete(
    *names: str,
    all_: Annotated[bool, Parameter(name="--all", negative=(), help="Every MCPServer in the namespace.")] = False,
    yes: Annotated[bool, Parameter(name=["--yes", "-y"], negative=(), help="Do not ask for confirmation.")] = False,
    wait: Annotated[
        bool, Parameter(name="--wait", negative=(), help="Wait until the servers and all they owned are gone.")
    ] = False,
    timeout: Timeout = "10m",
    dry_run: Annotated[
        DryRun,
        Parameter(
            name="--dry-run",
            help="client: print what would be deleted; server: the apiserver checks each delete (dryRun=All). "
            "Nothing is deleted.",
        ),
    ] = "none",
    output: Output = "table",
    all_namespaces: Annotated[bool, Parameter(name=["--all-namespaces", "-A"], negative=(), show=False)] = False,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Delete MCPServers (the operator removes what they own).

    Parameters
    ----------
    names
        The MCPServers to delete.
    """

    def body() -> int:
        if all_namespaces:
            raise UsageError("-A/--all-namespaces is not supported by delete: deletes are per namespace (-n)")
        seconds = timeout_seconds(timeout)
        client = cluster.client()
        return run_delete(client, cluster.ns(client), list(names), all_, yes, wait, seconds, dry_run, output)

    return guarded(body)
