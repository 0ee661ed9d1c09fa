"""`mcp status [NAME]`: one MCPServer in the original README's format, or a table of them; `--watch`.

Read-only and run many times an hour: the small client (mcpop.cli.kube) and plain dicts, no pydantic, no
official Kubernetes client. A watch resumes from the last resourceVersion after a disconnect and prints
nothing it has printed already (a relist after `410 Gone` skips objects whose version it has seen).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from cyclopts import Parameter

from mcpop.apply.resources import EVENT, MCPSERVER
from mcpop.cli import output as out
from mcpop.cli.kube import Client, ClusterError
from mcpop.cli.options import OUTPUT, AllNamespaces, Cluster, Format, UsageError, guarded

Clock = Callable[[], float]


def get_server(client: Client, namespace: str, name: str) -> dict[str, Any]:
    """The MCPServer, or a ClusterError saying it does not exist."""
    obj = client.get(MCPSERVER, namespace, name)
    if obj is None:
        raise ClusterError(f'MCPServer "{name}" not found in namespace "{namespace}"', 404, "NotFound")
    obj.setdefault("apiVersion", MCPSERVER.api_version)
    obj.setdefault("kind", MCPSERVER.kind)
    return obj


def server_events(client: Client, namespace: str, name: str) -> list[dict[str, Any]]:
    """Events about the MCPServer (none when the user may not list events)."""
    selector = f"involvedObject.name={name},involvedObject.kind=MCPServer"
    try:
        return client.list_objects(EVENT, namespace, field_selector=selector)[0]
    except ClusterError as exc:
        if exc.status in (401, 403):
            return []
        raise


def watch_events(client: Client, namespace: str | None, resource_version: str,
                 field_selector: str | None = None) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Watch events of MCPServers from `resource_version`, with bookmarks (ends when the server ends it)."""
    query = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
             "timeoutSeconds": 300, "fieldSelector": field_selector}  # fmt: skip
    for line in client.stream(MCPSERVER.path(namespace), query):
        line = line.strip()
        if line:
            yield json.loads(line)


class Gone(Exception):
    """The watch's resourceVersion is too old (410): relist."""


def follow(client: Client, namespace: str | None, resource_version: str, field_selector: str | None,
           on_change: Callable[[str, dict[str, Any]], None], relist: Callable[[], str],
           sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
    """Stream changes to `on_change(type, object)` until interrupted, resuming after disconnects."""
    rv = resource_version
    delay = 0.5
    # a restarting API server refuses requests until its authorizer has synced: after a disconnect,
    # Unauthorized/Forbidden are retried for a while before they count
    grace_until = 0.0
    while True:
        try:
            for ev in watch_events(client, namespace, rv, field_selector):
                kind, obj = ev.get("type"), ev.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone()
                    raise ClusterError(f"watch failed: {obj.get('message') or obj}")
                rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                delay = 0.5
                if kind != "BOOKMARK":
                    on_change(str(kind), obj)
        except Gone:
            rv = relist()
            continue
        except ClusterError as exc:
            if exc.status == 410:
                rv = relist()
                continue
            transient = exc.status in (0, 500, 502, 503, 504, 429)
            if exc.status in (401, 403) and time.monotonic() < grace_until:
                transient = True
            if not transient:
                raise
            if exc.status == 0:
                grace_until = time.monotonic() + 30.0
            print(f"note: watch interrupted ({exc.message}); resuming", file=sys.stderr)
            sleep(delay)
            delay = min(delay * 2, 10.0)


def show_one(client: Client, namespace: str, name: str, output: str | None, watch: bool, clock: Clock) -> int:
    obj = get_server(client, namespace, name)
    tty = sys.stdout.isatty()

    def render(o: dict[str, Any]) -> str:
        if output in ("json", "yaml"):
            return out.dump(o, output)
        if output == "table":
            return out.server_table([o], clock(), False)
        return out.status_block(o, server_events(client, namespace, name), clock())

    last = render(obj)
    sys.stdout.write(last)
    sys.stdout.flush()
    if not watch:
        return 0
    seen = {str(obj["metadata"].get("resourceVersion"))}

    def on_change(kind: str, o: dict[str, Any]) -> None:
        nonlocal last
        rv = str((o.get("metadata") or {}).get("resourceVersion"))
        if kind == "DELETED":
            sys.stdout.write(f"mcpserver/{name} deleted\n")
            sys.stdout.flush()
            raise SystemExit(0)
        if rv in seen:
            return
        seen.add(rv)
        o.setdefault("apiVersion", MCPSERVER.api_version)
        o.setdefault("kind", MCPSERVER.kind)
        text = render(o)
        if text == last:
            return
        last = text
        if tty and output is None:
            sys.stdout.write("\x1b[H\x1b[2J")  # redraw in place, as `watch` does
        elif output in (None, "yaml"):
            sys.stdout.write("---\n" if output == "yaml" else "\n")
        sys.stdout.write(text)
        sys.stdout.flush()

    def relist() -> str:
        o = get_server(client, namespace, name)
        on_change("MODIFIED", o)
        return str(o["metadata"].get("resourceVersion"))

    follow(client, namespace, str(obj["metadata"].get("resourceVersion")), f"metadata.name={name}", on_change, relist)
    return 0


def show_all(client: Client, namespace: str | None, output: str | None, watch: bool, clock: Clock) -> int:
    listing, version = client.list_objects(MCPSERVER, namespace)
    items = sorted(listing,
                   key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))  # fmt: skip
    wide = namespace is None
    if output in ("json", "yaml"):
        sys.stdout.write(out.dump(out.as_list(items), output))
    elif not items and not watch:
        where = "any namespace" if wide else f"namespace {namespace}"
        print(f"No MCPServers found in {where}.", file=sys.stderr)
    else:
        sys.stdout.write(out.server_table(items, clock(), wide))
    sys.stdout.flush()
    if not watch:
        return 0
    seen = {(o["metadata"].get("uid"), str(o["metadata"].get("resourceVersion"))) for o in items}
    widths = [len(h) for h in out.server_header(wide)]
    for o in items:
        widths = [max(w, len(c)) for w, c in zip(widths, out.server_row(o, clock(), wide), strict=True)]

    shown: dict[Any, list[str]] = {o["metadata"].get("uid"): out.server_row(o, clock(), wide)[:-1] for o in items}

    def on_change(kind: str, o: dict[str, Any]) -> None:
        meta = o.get("metadata") or {}
        key = (meta.get("uid"), str(meta.get("resourceVersion")))
        if key in seen:
            return
        seen.add(key)
        row = out.server_row(o, clock(), wide)
        if output not in ("json", "yaml") and kind != "DELETED":
            if shown.get(meta.get("uid")) == row[:-1]:
                return  # a change the table does not show (conditions' times, observedGeneration)
            shown[meta.get("uid")] = row[:-1]
        o.setdefault("apiVersion", MCPSERVER.api_version)
        o.setdefault("kind", MCPSERVER.kind)
        if output in ("json", "yaml"):
            sys.stdout.write(("---\n" if output == "yaml" else "") + out.dump(o, output))
        else:
            if kind == "DELETED":
                row[1 if wide else 0] += " (deleted)"
            sys.stdout.write("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
        sys.stdout.flush()

    def relist() -> str:
        objs, resource_version = client.list_objects(MCPSERVER, namespace)
        for o in objs:
            on_change("MODIFIED", o)
        return resource_version

    follow(client, namespace, version, None, on_change, relist)
    return 0


def run_status(client: Client, namespace: str, name: str | None, output: str | None, watch: bool,
               all_namespaces: bool, clock: Clock = time.time) -> int:  # fmt: skip
    """`mcp status`: validate the flag combination, then show one server or the table."""
    if name and all_namespaces:
        raise UsageError("-A/--all-namespaces cannot be used with a NAME: a name is looked up in one namespace")
    if name:
        return show_one(client, namespace, name, output, watch, clock)
    return show_all(client, None if all_namespaces else namespace, output, watch, clock)


def status(
    name: str | None = None,
    /,
    *,
    output: Annotated[Format | None, OUTPUT] = None,
    watch: Annotated[bool, Parameter(name=["--watch", "-w"], negative=(), help="Stream changes until ^C.")] = False,
    all_namespaces: AllNamespaces = False,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it into --kubeconfig, --context, -n, ...
) -> int:
    """Show an MCPServer's status, or a table of them.

    Parameters
    ----------
    name
        The MCPServer. Without it, a table of the servers in the namespace.
    output
        table, json or yaml (default: one server's status block, or the table).
    """

    def body() -> int:
        client = cluster.client()
        return run_status(client, cluster.ns(client), name, output, watch, all_namespaces)

    return guarded(body)
