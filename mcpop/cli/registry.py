"""`mcp registry`: list, search and inspect an MCPRegistry's stored catalogue; request a refresh.

The catalogue is read from the cluster with the CLI's client (the ConfigMaps the registry controller stores,
see mcpop.apply.catalog_store). Without a cluster (no kubeconfig, unreachable API server) or without the named
MCPRegistry, `list`, `search` and `inspect` use the embedded catalogue and say so on stderr.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import App, Parameter

from mcpop.cli.options import OUTPUT, AllNamespaces, Cluster, Format, Output, Timeout, guarded, timeout_seconds

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


def load_all(cluster: Cluster) -> list[Loaded]:
    """Every MCPRegistry's catalogue in every namespace (`-A`), by namespace and name. Needs a cluster: a
    ClusterError (one line, exit 1) without one, never the embedded catalogue passed off as the cluster's."""
    from mcpop.apply import catalog_store
    from mcpop.apply.resources import MCPREGISTRY
    from mcpop.cli.kube import ClusterError

    try:
        client = cluster.client()
        regs, _ = client.list_objects(MCPREGISTRY, None)
    except ClusterError as exc:
        if exc.status == 0 or exc.unreachable or exc.not_found:
            raise ClusterError(f"-A/--all-namespaces needs a cluster with MCPRegistries: {exc.message}") from None
        raise
    out = []
    for reg in sorted(regs, key=lambda r: (r["metadata"]["namespace"], r["metadata"]["name"])):
        ns, name = reg["metadata"]["namespace"], reg["metadata"]["name"]
        cat = catalog_store.catalog_of(catalog_store.stored(client, ns, name), f"MCPRegistry {ns}/{name}")
        out.append(Loaded(list(cat.entries), name, ns))
    return out


def _print_all(loaded: list[Loaded], output: str, search: str | None = None) -> int:
    """`-A`: the entries of every registry, with its namespace and name (the table's first columns)."""
    from mcpop.codec.emitter import dump_yaml, json_text
    from mcpop.sources.search import search as ranked

    items = []
    for one in loaded:
        entries = ranked(search, one.entries) if search is not None else _sorted(one.entries)
        items += [{"namespace": one.namespace, "registry": one.source, **_summary(e)} for e in entries]
    if search is not None and not items:
        print(f"no server in any MCPRegistry matches {search!r}", file=sys.stderr)
        return 1
    if output == "json":
        sys.stdout.write(json_text(items))
    elif output == "yaml":
        sys.stdout.write(dump_yaml([items]))
    else:
        rows = [["NAMESPACE", "REGISTRY", "NAME", "VERSION", "PACKAGES", "DESCRIPTION"]]
        rows += [[i["namespace"], i["registry"], i["name"], i["version"], i["packages"], i["description"] or ""]
                 for i in items]  # fmt: skip
        sys.stdout.write(_table(rows))
    return 0


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


#: `-o/--output` (mcpop.cli.options.OUTPUT), also spelt `--format` as the original README does
RegistryOutput = Annotated[Output, Parameter(name=[*OUTPUT.name, "--format"])]


@registry_app.command(name="list")
def list_(
    *,
    output: RegistryOutput = "table",
    registry: Registry = "default",
    all_namespaces: AllNamespaces = False,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """List the servers in the catalogue (every stored version); with -A, of every MCPRegistry in every namespace."""

    def body() -> int:
        if all_namespaces:
            return _print_all(load_all(cluster), output)
        _print_entries(load_catalogue(cluster, registry).entries, output)
        return 0

    return guarded(body)


@registry_app.command
def search(
    query: str,
    *,
    output: RegistryOutput = "table",
    registry: Registry = "default",
    all_namespaces: AllNamespaces = False,
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
        if all_namespaces:
            return _print_all(load_all(cluster), output, query)
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
    output: RegistryOutput = "yaml",
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
        if output == "table":
            from mcpop.cli.output import object_table

            _print_entries([entry], "table")
            if "renderError" in doc:
                print(f"\ncannot be rendered: {doc['renderError']}")
            else:
                sys.stdout.write("\n" + object_table(doc["rendered"]))
        else:
            sys.stdout.write(json_text(doc) if output == "json" else dump_yaml([doc]))
        return 0

    return guarded(body)


@registry_app.command
def refresh(
    *,
    name: Annotated[str, Parameter(name=["--name"])] = "default",
    wait: Annotated[bool, Parameter(name=["--wait"], negative=())] = False,
    timeout: Timeout = "5m",
    output: Output = "table",
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Ask the operator to sync an MCPRegistry now (sets the refresh-requested annotation).

    Parameters
    ----------
    name
        The MCPRegistry.
    wait
        Wait until the sync finished (lastSyncTime advanced, or the sync failed).
    output
        table: a line per step; json, yaml: the MCPRegistry (after the sync with --wait), lines on stderr.
    """
    return guarded(lambda: _refresh(cluster, name, wait, timeout_seconds(timeout), output))


def _refresh(cluster: Cluster, name: str, wait: bool, timeout: float, output: Format = "table") -> int:
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
    from mcpop.cli.output import dump

    info = sys.stdout if output == "table" else sys.stderr

    def done(obj: dict[str, Any]) -> int:
        if output != "table":
            obj.setdefault("apiVersion", MCPREGISTRY.api_version)
            obj.setdefault("kind", MCPREGISTRY.kind)
            sys.stdout.write(dump(obj, output))
        return 0

    stamp = micro_now()
    patched = client.merge_patch(MCPREGISTRY, ns, name, {"metadata": {"annotations": {REFRESH_ANNOTATION: stamp}}})
    print(f"mcpregistry/{name} refresh requested ({stamp})", file=info)
    if not wait:
        return done(patched)
    st0 = before.get("status") or {}
    last0 = st0.get("lastSyncTime")
    synced0 = _synced(st0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        obj = client.get(MCPREGISTRY, ns, name) or {}
        st = obj.get("status") or {}
        if st.get("lastSyncTime") and st.get("lastSyncTime") != last0 and str(st["lastSyncTime"]) >= stamp[:19]:
            print(f"mcpregistry/{name} synced at {st['lastSyncTime']}: {st.get('serversDiscovered', 0)} servers",
                  file=info)  # fmt: skip
            return done(obj)
        cond = _synced(st)
        if cond is not None and cond.get("status") == "False" and cond != synced0:
            print(f"error: sync failed: {cond.get('reason')}: {cond.get('message')}", file=sys.stderr)
            return 1
    from mcpop.cli.output import human_duration

    print(f"error: timed out after {human_duration(timeout)} waiting for mcpregistry/{name} to sync", file=sys.stderr)
    return 1


def _synced(status: dict[str, Any]) -> dict[str, Any] | None:
    for c in status.get("conditions") or []:
        if c.get("type") == "Synced":
            return dict(c)
    return None
