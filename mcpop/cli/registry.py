"""`mcp registry`: list, search and inspect an MCPRegistry's stored catalogue; request a refresh.

The catalogue is read from the cluster with the CLI's client (the ConfigMaps the registry controller stores,
see mcpop.apply.catalog_store). Without a cluster (no kubeconfig, unreachable API server) or without the named
MCPRegistry, `list`, `search` and `inspect` use the embedded catalogue and say so on stderr.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from cyclopts import App, Parameter

from mcpop.cli.options import Cluster, guarded

if TYPE_CHECKING:
    from mcpop.api.serverjson import ServerJSON

registry_app = App(name="registry", help="Browse MCP registry catalogues and refresh MCPRegistries.")

Registry = Annotated[str, Parameter(name=["--registry"], help="The MCPRegistry to read (default `default`).")]


@dataclass
class Loaded:
    entries: list[ServerJSON]
    source: str
    namespace: str


def _embedded(note: str, namespace: str) -> Loaded:
    from mcpop.sources.catalog import load_embedded

    print(f"note: {note}: showing the embedded catalogue", file=sys.stderr)
    return Loaded(list(load_embedded().entries), "embedded catalogue", namespace)


def load_catalogue(cluster: Cluster, registry: str) -> Loaded:
    """The entries of MCPRegistry `registry` from the cluster, else the embedded catalogue (noted on stderr).

    A cluster that answers with an error (401, 403, 5xx) is an error (ClusterError, exit 1), never a silent
    fallback: the embedded catalogue would pass for the registry the user has no access to."""
    from mcpop.apply import catalog_store
    from mcpop.apply.resources import MCPREGISTRY
    from mcpop.cli.kube import ClusterError

    try:
        client = cluster.client()
    except ClusterError as exc:  # no usable kubeconfig: no cluster
        return _embedded(f"no cluster ({exc.message})", cluster.namespace or "default")
    ns = cluster.ns(client)
    try:
        reg = client.get(MCPREGISTRY, ns, registry)
        if reg is None:
            return _embedded(f"MCPRegistry {ns}/{registry} not found", ns)
        cms = catalog_store.stored(client, ns, registry)
    except ClusterError as exc:
        if exc.unreachable:
            return _embedded(f"no cluster ({exc.message})", ns)
        if exc.not_found:  # MCPRegistry is not served (the CRDs are not installed)
            return _embedded(exc.message, ns)
        what = f"reading MCPRegistry {ns}/{registry}: {exc.status} {exc.message}"
        raise ClusterError(what, exc.status, exc.reason) from None
    cat = catalog_store.catalog_of(cms, f"MCPRegistry {ns}/{registry}")
    if not (reg.get("status") or {}).get("lastSyncTime"):
        print(f"note: MCPRegistry {ns}/{registry} has not synced yet", file=sys.stderr)
    return Loaded(list(cat.entries), cat.source, ns)


def _sorted(entries: list[ServerJSON]) -> list[ServerJSON]:
    from mcpop.render.catalog import version_key

    return sorted(entries, key=lambda e: (e.name, version_key(e.version)))


def _kinds(e: ServerJSON) -> str:
    kinds = [p.registry_type for p in e.packages or []]
    if e.remotes:
        kinds.append("remote")
    return ",".join(dict.fromkeys(str(k) for k in kinds)) or "-"


def _summary(e: ServerJSON) -> dict[str, Any]:
    return {"name": e.name, "version": e.version, "description": e.description, "packages": _kinds(e)}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def _print_entries(entries: list[ServerJSON], output: str, *, ordered: bool = False) -> None:
    """Print the entries as a table, JSON or YAML; sorted by name and version unless `ordered`."""
    from mcpop.codec.emitter import dump_yaml, json_text

    items = [_summary(e) for e in (entries if ordered else _sorted(entries))]
    if output == "json":
        sys.stdout.write(json_text(items))
    elif output == "yaml":
        sys.stdout.write(dump_yaml([items]))
    else:
        rows = [["NAME", "VERSION", "PACKAGES", "DESCRIPTION"]]
        rows += [[i["name"], i["version"], i["packages"], i["description"] or ""] for i in items]
        sys.stdout.write(_table(rows))


@registry_app.command(name="list")
def list_(
    *,
    output: Annotated[Literal["table", "json", "yaml"], Parameter(name=["--output", "-o", "--format"])] = "table",
    registry: Registry = "default",
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """List the servers in the catalogue (every stored version)."""

    def body() -> int:
        _print_entries(load_catalogue(cluster, registry).entries, output)
        return 0

    return guarded(body)


@registry_app.command
def search(
    query: str,
    *,
    output: Annotated[Literal["table", "json", "yaml"], Parameter(name=["--output", "-o", "--format"])] = "table",
    registry: Registry = "default",
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Find servers matching QUERY (case-insensitive), best match first.

    QUERY is matched against the last segment of each name (`server-git` in
    `io.github.modelcontextprotocol/server-git`), the title and the description, ranked: the
    name exactly (also without affixes such as `server-`), then a name or name word starting with
    QUERY, then a name containing it, then the title, then the description. The namespace
    (`io.github.owner/`) is searched only when QUERY contains `/` or `.`.

    Parameters
    ----------
    query
        Text to look for.
    """
    from mcpop.sources.search import search as ranked

    if not query.strip():
        print("error: QUERY must not be empty", file=sys.stderr)
        return 2

    def body() -> int:
        loaded = load_catalogue(cluster, registry)
        found = ranked(query, loaded.entries)
        if not found:
            print(f"no server in the {loaded.source} matches {query!r}", file=sys.stderr)
            return 1
        _print_entries(found, output, ordered=True)
        return 0

    return guarded(body)


def inspect_document(entry: ServerJSON, namespace: str) -> dict[str, Any]:
    """The entry and what an MCPServer using it renders to (or why it cannot be rendered)."""
    from mcpop.api.mcpserver import MCPServer
    from mcpop.render import RenderError, RenderOptions, render
    from mcpop.render.catalog import stem
    from mcpop.render.names import dns_label

    server_obj = {
        "apiVersion": "mcp.allbeone.io/v1",
        "kind": "MCPServer",
        "metadata": {"name": dns_label(stem(entry.name)), "namespace": namespace},
        "spec": {"registry": {"name": entry.name, "version": entry.version}},
    }
    doc: dict[str, Any] = {"entry": entry.wire(), "mcpServer": server_obj}
    try:
        server = MCPServer.model_validate(server_obj)
        rendered = render(server, registry_entry=entry, options=RenderOptions(namespace=namespace))
    except RenderError as exc:
        doc["renderError"] = f"{exc.field}: {exc.message}"
        return doc
    except ValueError as exc:
        doc["renderError"] = str(exc)
        return doc
    doc["rendered"] = list(rendered.objects)
    if rendered.warnings:
        doc["warnings"] = list(rendered.warnings)
    return doc


@registry_app.command
def inspect(
    name: str,
    *,
    version: Annotated[str | None, Parameter(name=["--version"])] = None,
    output: Annotated[Literal["json", "yaml"], Parameter(name=["--output", "-o", "--format"])] = "yaml",
    registry: Registry = "default",
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Show one entry in full, plus the objects an MCPServer using it would render to.

    Parameters
    ----------
    name
        Server name: full (`io.github.owner/name`) or short (`filesystem`).
    version
        Entry version (default: the newest).
    """
    from mcpop.codec.emitter import dump_yaml, json_text
    from mcpop.render.catalog import Catalog
    from mcpop.render.errors import RenderError

    def body() -> int:
        loaded = load_catalogue(cluster, registry)
        try:
            entry = Catalog(loaded.entries, loaded.source).resolve(name, version)
        except RenderError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        doc = inspect_document(entry, loaded.namespace)
        sys.stdout.write(json_text(doc) if output == "json" else dump_yaml([doc]))
        return 0

    return guarded(body)


@registry_app.command
def refresh(
    *,
    name: Annotated[str, Parameter(name=["--name"])] = "default",
    wait: Annotated[bool, Parameter(name=["--wait"], negative=())] = False,
    timeout: Annotated[float, Parameter(name=["--timeout"])] = 300.0,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Ask the operator to sync an MCPRegistry now (sets the refresh-requested annotation).

    Parameters
    ----------
    name
        The MCPRegistry.
    wait
        Wait until the sync finished (lastSyncTime advanced, or the sync failed).
    timeout
        Seconds to wait with --wait.
    """
    return guarded(lambda: _refresh(cluster, name, wait, timeout))


def _refresh(cluster: Cluster, name: str, wait: bool, timeout: float) -> int:
    from mcpop.apply.resources import MCPREGISTRY, REFRESH_ANNOTATION
    from mcpop.apply.runtime.timefmt import micro_now
    from mcpop.cli.kube import ClusterError

    try:
        client = cluster.client()
        ns = cluster.ns(client)
        before = client.get(MCPREGISTRY, ns, name)
    except ClusterError as exc:
        if exc.status:
            raise
        raise ClusterError(f"no cluster ({exc.message})") from None
    if before is None:
        raise ClusterError(f"MCPRegistry {ns}/{name} not found", 404, "NotFound")
    stamp = micro_now()
    client.merge_patch(MCPREGISTRY, ns, name, {"metadata": {"annotations": {REFRESH_ANNOTATION: stamp}}})
    print(f"mcpregistry/{name} refresh requested ({stamp})")
    if not wait:
        return 0
    st0 = before.get("status") or {}
    last0 = st0.get("lastSyncTime")
    synced0 = _synced(st0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        obj = client.get(MCPREGISTRY, ns, name) or {}
        st = obj.get("status") or {}
        if st.get("lastSyncTime") and st.get("lastSyncTime") != last0 and str(st["lastSyncTime"]) >= stamp[:19]:
            print(f"mcpregistry/{name} synced at {st['lastSyncTime']}: {st.get('serversDiscovered', 0)} servers")
            return 0
        cond = _synced(st)
        if cond is not None and cond.get("status") == "False" and cond != synced0:
            print(f"error: sync failed: {cond.get('reason')}: {cond.get('message')}", file=sys.stderr)
            return 1
    print(f"error: timed out after {timeout:g}s waiting for mcpregistry/{name} to sync", file=sys.stderr)
    return 1


def _synced(status: dict[str, Any]) -> dict[str, Any] | None:
    for c in status.get("conditions") or []:
        if c.get("type") == "Synced":
            return dict(c)
    return None
