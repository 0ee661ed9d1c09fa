"""What applying an MCPServer would do to the cluster, as the operator would do it: resolve its registry
entry, render its object set with the operator's decorations (owner reference, ApplySet membership,
applied-hash annotation), and compare each object with a server-side dry-run apply against what is live.

The result is a `ChangeSet` (mcpop.apply.ssa.changeset) plus, per object, the live and the dry-run
("merged") versions, which `mcp diff` prints as unified diffs and `mcp deploy --dry-run=server` as lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcpop.cli.kube import CONFIGMAP, MCPREGISTRY, Client, ClusterError, Resource

if TYPE_CHECKING:
    from mcpop.api.serverjson import ServerJSON
    from mcpop.apply.ssa.changeset import Change, ChangeSet
    from mcpop.render.catalog import Catalog

#: the operator's field manager (mcpop.apply.runtime.client.FIELD_MANAGER; that module loads the official client)
OPERATOR_MANAGER = "mcpop"
CLI_MANAGER = "mcp-cli"
# mcpop.apply.catalog_store's label and data key (importing it loads the official Kubernetes client)
REGISTRY_LABEL = "mcp.allbeone.io/registry"
DATA_KEY = "server.json"
#: metadata the server sets on every write: never a difference worth showing
VOLATILE_META = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid")


class PlanError(Exception):
    """The spec cannot be rendered: one line, naming the field."""


@dataclass
class Planned:
    """One object: live (None when absent) and as it would be after the apply (None when pruned)."""

    change: Change
    live: dict[str, Any] | None
    merged: dict[str, Any] | None


@dataclass
class Plan:
    changes: ChangeSet
    objects: list[Planned] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def cluster_catalogue(client: Client, namespace: str, registry_ref: str | None) -> Catalog | None:
    """The catalogue of MCPRegistry `registry_ref` (default `default`) in `namespace`, or None when that
    MCPRegistry does not exist and none was asked for explicitly (the operator then uses the embedded one)."""
    from mcpop.api.serverjson import ServerJSON
    from mcpop.render.catalog import Catalog
    from mcpop.render.names import label_value

    ref = registry_ref or "default"
    try:
        reg = client.get(MCPREGISTRY, namespace, ref)
    except ClusterError as exc:
        if exc.status == 404 and registry_ref is None:
            return None  # MCPRegistry not installed
        raise
    if reg is None:
        if registry_ref is not None:
            raise ClusterError(f'MCPRegistry "{ref}" not found in namespace "{namespace}" (--registry-ref)', 404)
        return None
    if not (reg.get("status") or {}).get("lastSyncTime"):
        raise ClusterError(f'MCPRegistry "{ref}" in namespace "{namespace}" has no catalogue yet (not synced)')
    cms = client.list(CONFIGMAP, namespace, label_selector=f"{REGISTRY_LABEL}={label_value(ref)}")
    entries = []
    for cm in cms.get("items") or []:
        text = (cm.get("data") or {}).get(DATA_KEY)
        if text:
            try:
                entries.append(ServerJSON.model_validate(json.loads(text)))
            except ValueError:
                continue  # an unreadable stored entry: the operator skips it too
    return Catalog(entries, f"MCPRegistry {ref}")


def resolve_entry(client: Client | None, namespace: str, name: str, version: str | None,
                  registry_ref: str | None) -> ServerJSON:  # fmt: skip
    """The registry entry `name` resolves to where the operator would look (RenderError when none)."""
    catalog = cluster_catalogue(client, namespace, registry_ref) if client is not None else None
    if catalog is None:
        from mcpop.sources.catalog import load_embedded

        catalog = load_embedded()
    return catalog.resolve(name, version)


def render_server(obj: dict[str, Any], entry: ServerJSON | None, uid: str | None,
                  referenced_hash: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """The MCPServer's object set (owner reference to `uid` when given), and the renderer's warnings."""
    from pydantic import ValidationError

    from mcpop.api.mcpserver import MCPServer
    from mcpop.render import RenderError, RenderOptions, render
    from mcpop.render.options import Owner

    meta = obj["metadata"]
    try:
        server = MCPServer.model_validate(obj)
    except ValidationError as exc:
        from mcpop.cli.load import format_loc

        err = exc.errors(include_url=False)[0]
        raise PlanError(f"{format_loc(tuple(err['loc']))}: {err['msg'].removeprefix('Value error, ')}") from None
    owner = Owner(name=meta["name"], uid=uid) if uid else None
    opts = RenderOptions(namespace=meta["namespace"], owner=owner, referenced_content_hash=referenced_hash)
    from mcpop.render.errors import ImageConfigNeeded

    try:
        try:
            rendered = render(server, registry_entry=entry, options=opts)
        except ImageConfigNeeded as need:  # as the operator does: the image's config from its registry
            from dataclasses import replace

            from mcpop.sources.oci import ImageConfigError, ImageConfigResolver

            try:
                config = ImageConfigResolver().resolve(need.image)
            except ImageConfigError as exc:
                raise PlanError(f"{need.field}: cannot read the image config the operator needs: {exc}") from None
            rendered = render(server, registry_entry=entry, options=replace(opts, image_configs={need.image: config}))
    except RenderError as exc:
        raise PlanError(f"{exc.field}: {exc.message}") from None
    except ValueError as exc:
        raise PlanError(str(exc)) from None
    return list(rendered.objects), list(rendered.warnings)


def decorate(objs: list[dict[str, Any]], name: str, namespace: str) -> list[dict[str, Any]]:
    """The objects as the operator applies them: ApplySet member label and applied-hash annotation."""
    from mcpop.apply.ssa import applyset as aset
    from mcpop.apply.ssa.drift import with_hash

    set_id = aset.applyset_id(name, namespace)
    return [with_hash(aset.mark_member(o, set_id)) for o in objs]


def comparable(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """`obj` without the metadata every write changes (for equality and diffs)."""
    if obj is None:
        return None
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in VOLATILE_META}
    return {**obj, "metadata": meta}


def _managed_by_operator(obj: dict[str, Any]) -> bool:
    return any(e.get("manager") == OPERATOR_MANAGER and e.get("operation") == "Apply"
               for e in (obj.get("metadata") or {}).get("managedFields") or [])  # fmt: skip


def dry_run_object(client: Client, res: Resource, obj: dict[str, Any], manager: str, force: bool) -> Planned:
    """Server-side dry-run apply of one object, compared with the live one."""
    from mcpop.apply.ssa.changeset import Change, changed_fields

    meta = obj["metadata"]
    ns = meta.get("namespace") or ""
    live = client.get(res, ns or None, meta["name"])
    if live is not None:
        live.setdefault("apiVersion", res.api_version)
        live.setdefault("kind", res.kind)
    merged = client.apply(res, obj, manager, force=force, dry_run=True)
    merged.setdefault("apiVersion", res.api_version)
    merged.setdefault("kind", res.kind)
    if live is None:
        change = Change("created", res.kind, meta["name"], ns, res.api_version, reason="missing")
    else:
        a, b = comparable(live), comparable(merged)
        fields = changed_fields(b or {}, a) if a != b else ()
        if a != b:
            change = Change("configured", res.kind, meta["name"], ns, res.api_version, fields)
        else:
            change = Change("unchanged", res.kind, meta["name"], ns, res.api_version)
    return Planned(change, live, merged)


def plan_server(client: Client, server: dict[str, Any], registry_ref_hint: str | None = None) -> Plan:
    """Dry-run the MCPServer `server` (apiVersion, kind, metadata with namespace, spec) and its object set."""
    from mcpop.apply.mcpserver.refs import referenced
    from mcpop.apply.ssa import applyset as aset
    from mcpop.apply.ssa.changeset import Change, ChangeSet
    from mcpop.cli.kube import DEPLOYMENT, MCPSERVER

    changes = ChangeSet()
    plan = Plan(changes)
    parent = dry_run_object(client, MCPSERVER, server, CLI_MANAGER, force=False)
    changes.add(parent.change)
    plan.objects.append(parent)
    merged = parent.merged or server
    meta = merged["metadata"]
    name, ns = meta["name"], meta["namespace"]
    reg = (merged.get("spec") or {}).get("registry")
    entry = None
    if reg:
        from mcpop.render.errors import RenderError

        try:
            entry = resolve_entry(client, ns, reg["name"], reg.get("version"), reg.get("registryRef") or
                                  registry_ref_hint)  # fmt: skip
        except RenderError as exc:
            raise PlanError(f"{exc.field}: {exc.message}") from None
    ref_hash = None
    if referenced(merged.get("spec") or {}):
        live_dep = client.get(DEPLOYMENT, ns, name)
        from mcpop.render.workload import REFERENCED_HASH

        tmpl = ((live_dep or {}).get("spec") or {}).get("template") or {}
        ref_hash = ((tmpl.get("metadata") or {}).get("annotations") or {}).get(REFERENCED_HASH)
    objs, plan.warnings = render_server(merged, entry, meta.get("uid"), ref_hash)
    desired = decorate(objs, name, ns)
    wanted: set[tuple[str, str]] = set()
    gks: set[str] = set()
    for o in desired:
        res = client.resource(o["apiVersion"], o["kind"])
        if res is None:
            changes.add(Change("skipped", o["kind"], o["metadata"]["name"], ns, o["apiVersion"],
                               reason=f"{o['apiVersion']} is not served"))  # fmt: skip
            continue
        planned = dry_run_object(client, res, o, OPERATOR_MANAGER, force=True)
        changes.add(planned.change)
        plan.objects.append(planned)
        wanted.add((res.group_kind, o["metadata"]["name"]))
        gks.add(res.group_kind)
    live_parent = parent.live
    if live_parent is not None:
        set_id = aset.applyset_id(name, ns)
        for gk in sorted(aset.live_group_kinds(live_parent) | gks):
            group, kind = aset.split_group_kind(gk)
            res = _resource_for(client, group, kind)
            if res is None:
                continue
            members = client.list(res, ns, label_selector=f"{aset.PART_OF_LABEL}={set_id}").get("items") or []
            for m in members:
                mname = m["metadata"]["name"]
                if (gk, mname) in wanted or not _managed_by_operator(m):
                    continue
                change = Change("deleted", kind, mname, ns, res.api_version, reason="pruned")
                changes.add(change)
                plan.objects.append(Planned(change, m, None))
    return plan


def _resource_for(client: Client, group: str, kind: str) -> Resource | None:
    if not group:
        return client.resource("v1", kind)
    try:
        body = client.request("GET", f"/apis/{group}")
    except ClusterError:
        return None
    version = (body.get("preferredVersion") or {}).get("version")
    return client.resource(f"{group}/{version}", kind) if version else None


def change_line(change: Change, dry_run: str = "") -> str:
    """`Deployment/x configured (spec.replicas)`; a pruned object reads `would be pruned`."""
    suffix = f" ({dry_run})" if dry_run else ""
    if change.action == "deleted":
        return f"{change.subject} would be pruned{suffix}"
    if change.action == "configured" and change.fields:
        shown = ", ".join(change.fields[:5]) + (", ..." if len(change.fields) > 5 else "")
        return f"{change.subject} configured ({shown}){suffix}"
    if change.action == "skipped":
        return f"{change.subject} skipped ({change.reason})"
    return f"{change.subject} {change.action}{suffix}"
