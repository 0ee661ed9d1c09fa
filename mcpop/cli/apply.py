"""`mcp apply -f` (server-side apply as field manager `mcp-cli`) and `mcp diff -f` (what would change).

Files are validated in full first (every problem reported, exit 2) and then server-side dry-run applied as
a whole before anything is written, so a rejected object leaves nothing half-applied. `mcp diff` shows the
full rendered object set of each MCPServer, computed from server-side dry-run applies (defaults and
admission show), as unified diffs like `kubectl diff`; exit 0 no differences, 1 differences, 2 error.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from cyclopts import Parameter

from mcpop.apply.resources import CLI_FIELD_MANAGER, Resource
from mcpop.cli import output as out
from mcpop.cli.kube import Client, ClusterError
from mcpop.cli.options import OUTPUT, Cluster, Format, UsageError, guarded

if TYPE_CHECKING:
    from mcpop.cli.plan import Planned

KINDS = ("MCPServer", "MCPRegistry", "MCPServerBackup")
Files = Annotated[
    list[Path],
    Parameter(name=["--filename", "-f"], negative=(), consume_multiple=False, allow_leading_hyphen=True,
              help="A YAML file of MCPServer, MCPRegistry or MCPServerBackup documents (`-` for stdin); repeat."),
]  # fmt: skip


class BadInput(Exception):
    """The files do not validate: every problem, exit 2."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_documents(files: list[Path], namespace: str, explicit_ns: bool) -> list[dict[str, Any]]:
    """Every document of `files`, validated against the API models, with its namespace set."""
    from mcpop.cli.load import load_text

    problems: list[str] = []
    docs: list[dict[str, Any]] = []
    for path in files:
        source = str(path)
        try:
            text = sys.stdin.read() if source == "-" else path.read_text()
        except OSError as exc:
            problems.append(f"{source}: cannot read: {exc.strerror or exc}")
            continue
        loaded = load_text(text, source, KINDS)
        problems += [str(p) for p in loaded.problems]
        if loaded.problems:
            continue
        docs += [loaded.lines[(source, index)].data for index in range(loaded.documents)]
    if problems:
        raise BadInput(problems)
    if not docs:
        raise BadInput(["no objects in the files"])
    for d in docs:
        meta = d.setdefault("metadata", {})
        if meta.get("namespace") and explicit_ns and meta["namespace"] != namespace:
            raise UsageError(f'the namespace of {d["kind"]}/{meta.get("name")} ("{meta["namespace"]}") does not '
                             f'match --namespace "{namespace}"')  # fmt: skip
        meta.setdefault("namespace", namespace)
    return docs


def resource_of(client: Client, doc: dict[str, Any]) -> Resource:
    return client.require(doc["apiVersion"], doc["kind"])


def run_apply(cluster: Cluster, files: list[Path], dry_run: str, output: str | None) -> int:
    from mcpop.cli.plan import change_line, dry_run_object

    client = cluster.client()
    docs = read_documents(files, cluster.ns(client), cluster.namespace is not None)
    if dry_run == "client":
        sys.stdout.write(out.object_table(docs) if output == "table" else out.dump_all(docs, output or "yaml"))
        return 0
    # the whole set as a server-side dry run first: nothing is written unless every object is accepted
    planned = [
        (doc, dry_run_object(client, resource_of(client, doc), doc, CLI_FIELD_MANAGER, force=False)) for doc in docs
    ]
    if dry_run == "server":
        if output in ("json", "yaml"):
            sys.stdout.write(out.dump_all([p.merged for _, p in planned if p.merged], output))
        else:
            for _, p in planned:
                print(change_line(p.change, "server dry run"))
        return 0
    results = []
    for doc, p in planned:
        res = resource_of(client, doc)
        applied = client.apply(res, doc)
        results.append(applied)
        if output not in ("json", "yaml"):
            before = (p.live or {}).get("metadata", {}).get("resourceVersion")
            action = "created" if p.live is None else (
                "unchanged" if before == applied["metadata"].get("resourceVersion") else "configured")  # fmt: skip
            print(f"{res.resource_name}/{doc['metadata']['name']} {action}")
    if output in ("json", "yaml"):
        sys.stdout.write(out.dump_all(results, output))
    return 0


def apply(
    *,
    filename: Files,
    dry_run: Annotated[
        Literal["none", "client", "server"],
        Parameter(
            name="--dry-run", help="client: print the objects; server: print the change set. Nothing is applied."
        ),
    ] = "none",
    output: Annotated[Format | None, OUTPUT] = None,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Server-side apply MCPServer, MCPRegistry and MCPServerBackup files (field manager `mcp-cli`)."""
    return guarded(lambda: _bad_input(lambda: run_apply(cluster, filename, dry_run, output)))


def _bad_input(fn: Any) -> int:
    try:
        return int(fn())
    except BadInput as exc:
        for p in exc.problems:
            print(f"error: {p}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------- diff


def diff_name(obj: dict[str, Any]) -> str:
    """kubectl diff's file name: `apps.v1.Deployment.NAMESPACE.NAME` (`v1.Service...` for the core group)."""
    api = str(obj.get("apiVersion") or "").replace("/", ".")
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return ".".join(p for p in (api, str(obj.get("kind")), ns, str(meta.get("name"))) if p)


def _masked(live: dict[str, Any] | None, merged: dict[str, Any] | None) -> tuple[Any, Any]:
    """Secret values replaced by `***` (with `(before)`/`(after)` where they differ), as kubectl diff does."""
    if (live or merged or {}).get("kind") != "Secret":
        return live, merged
    a = dict((live or {}).get("data") or {})
    b = dict((merged or {}).get("data") or {})
    ma, mb = {}, {}
    for k in set(a) | set(b):
        same = a.get(k) == b.get(k)
        if k in a:
            ma[k] = "***" if same else "*** (before)"
        if k in b:
            mb[k] = "***" if same else "*** (after)"
    return ({**live, "data": ma} if live else None), ({**merged, "data": mb} if merged else None)


def _sorted(value: Any) -> Any:
    """`value` with every mapping's keys in order, so a diff does not depend on the order fields came in."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return [_sorted(v) for v in value] if isinstance(value, list) else value


def unified(planned: Planned) -> str:
    """The unified diff of one object, live → merged ('' when equal)."""
    from mcpop.cli.plan import comparable
    from mcpop.codec.emitter import yaml_text

    live, merged = _masked(comparable(planned.live), comparable(planned.merged))

    def text(o: Any) -> list[str]:
        return [] if o is None else yaml_text(_sorted(o)).splitlines(keepends=True)

    a, b = text(live), text(merged)
    if a == b:
        return ""
    name = diff_name(planned.merged or planned.live or {})
    body = "".join(difflib.unified_diff(a, b, f"live/{name}", f"merged/{name}"))
    return f"diff -u -N live/{name} merged/{name}\n{body}" + ("" if body.endswith("\n") else "\n")


def run_diff(cluster: Cluster, files: list[Path]) -> int:
    from mcpop.apply.ssa.changeset import ChangeSet
    from mcpop.cli.plan import Plan, PlanError, change_line, dry_run_object, plan_server

    client = cluster.client()
    docs = read_documents(files, cluster.ns(client), cluster.namespace is not None)
    plans: list[Planned] = []
    for doc in docs:
        if doc["kind"] == "MCPServer":
            try:
                plan: Plan = plan_server(client, doc)
            except PlanError as exc:
                raise ClusterError(f"{doc['kind']}/{doc['metadata'].get('name')}: {exc}") from None
            plans += plan.objects
        else:
            plans.append(dry_run_object(client, resource_of(client, doc), doc, CLI_FIELD_MANAGER, force=False))
    changed = False
    for p in plans:
        text = unified(p)
        if text:
            changed = True
            sys.stdout.write(text)
    sys.stdout.flush()
    for p in plans:
        print(change_line(p.change), file=sys.stderr)
    note = Plan(ChangeSet(), plans, client_side=[p.change.subject for p in plans if p.client_side]).client_side_note()
    if note:
        print(note, file=sys.stderr)
    return 1 if changed else 0


def diff(
    *,
    filename: Files,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Diff the files' full rendered object sets against the cluster (from a server-side dry run).

    Exit status: 0 no differences, 1 differences, 2 an error (as `kubectl diff`). A summary line per object
    (created, configured, unchanged, would be pruned) goes to stderr.
    """
    from mcpop.cli.kube import ClusterError

    try:
        return _bad_input(lambda: run_diff(cluster, filename))
    except (ClusterError, UsageError) as exc:  # exit 1 means "differences" here: errors are 2
        print(f"error: {exc.message if isinstance(exc, ClusterError) else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
