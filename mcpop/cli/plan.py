"""What applying an MCPServer would do to the cluster, as the operator would do it: resolve its registry
entry, render its object set with the operator's decorations (owner reference, ApplySet membership,
applied-hash annotation), and compare each object with a server-side dry-run apply against what is live.

The result is a `ChangeSet` (mcpop.apply.ssa.changeset) plus, per object, the live and the dry-run
("merged") versions, which `mcp diff` prints as unified diffs and `mcp deploy --dry-run=server` as lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcpop.apply.resources import CLI_FIELD_MANAGER, MCPREGISTRY, Resource
from mcpop.cli.kube import Client, ClusterError

if TYPE_CHECKING:
    from mcpop.api.serverjson import ServerJSON
    from mcpop.apply.ssa.changeset import Change, ChangeSet
    from mcpop.apply.ssa.manager import ResourceManager

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
    #: compared client-side (the server-side dry run was forbidden)
    client_side: bool = False


@dataclass
class Plan:
    changes: ChangeSet
    objects: list[Planned] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: objects compared client-side because the API server forbade their server-side dry run (403)
    client_side: list[str] = field(default_factory=list)

    def client_side_note(self) -> str | None:
        """The one line that says a comparison was made client-side (None: all were server-side)."""
        if not self.client_side:
            return None
        return (f"note: a server-side dry run of {len(self.client_side)} object(s) was forbidden (403): compared "
                "client-side with what is live (no API server defaults or admission)")  # fmt: skip


def resolve_entry(client: Client | None, namespace: str, name: str, version: str | None, registry_ref: str | None,
                  explicit: bool = False) -> ServerJSON:  # fmt: skip
    """The registry entry `name` resolves to, as the operator resolves it (`catalog_store.resolve_entry`) from
    what is live. RenderError when it does not resolve; ClusterError when the MCPRegistry has no catalogue yet,
    or when an `explicit` (`--registry-ref`) MCPRegistry does not exist."""
    from mcpop.apply.catalog_store import resolve_entry as resolve
    from mcpop.apply.catalog_store import stored

    ref = registry_ref or "default"
    reg: dict[str, Any] | None = None
    cms: list[dict[str, Any]] = []
    if client is not None:
        try:
            reg = client.get(MCPREGISTRY, namespace, ref)
        except ClusterError as exc:
            if exc.status != 404 or explicit:
                raise  # 404 without details: MCPRegistry is not installed, so the embedded catalogue serves
        if reg is None and explicit:
            raise ClusterError(f'MCPRegistry "{ref}" not found in namespace "{namespace}" (--registry-ref)', 404)
        if reg is not None:
            cms = stored(client, namespace, ref)
    resolved = resolve(name, version, ref, reg, cms)
    if resolved.error is not None:
        raise resolved.error
    if resolved.entry is None:
        raise ClusterError(f'{resolved.condition[2]} (namespace "{namespace}")')
    return resolved.entry


def render_server(obj: dict[str, Any], entry: ServerJSON | None, uid: str | None,
                  referenced_hash: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """The MCPServer's object set (owner reference to `uid` when given), and the renderer's warnings."""
    from mcpop.api.mcpserver import MCPServer
    from mcpop.render import RenderError, RenderOptions, render
    from mcpop.render.options import Owner
    from mcpop.render.validate import validated

    meta = obj["metadata"]
    server, invalid = validated(obj)  # the reconcilers' message: every problem, the field named
    if server is None:
        raise PlanError(invalid)
    assert isinstance(server, MCPServer)
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


def comparable(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """`obj` without the metadata every write changes (for equality and diffs)."""
    if obj is None:
        return None
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in VOLATILE_META}
    return {**obj, "metadata": meta}


def dry_run_object(client: Client, res: Resource, obj: dict[str, Any], manager: str, force: bool) -> Planned:
    """Server-side dry-run apply of one object, compared with the live one."""
    from mcpop.apply.resources import ApiError
    from mcpop.apply.ssa.changeset import Change, changed_fields
    from mcpop.apply.ssa.manager import client_side_merge

    meta = obj["metadata"]
    ns = meta.get("namespace") or ""
    live = client.get(res, ns or None, meta["name"])
    if live is not None:
        live.setdefault("apiVersion", res.api_version)
        live.setdefault("kind", res.kind)
    try:
        merged = client.apply(res, obj, field_manager=manager, force=force, dry_run=True)
    except ApiError as exc:
        if exc.status != 403:
            raise
        merged, client_side = client_side_merge(live, obj), True
    else:
        client_side = False
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
    return Planned(change, live, merged, client_side)


def plan_server(client: Client, server: dict[str, Any], registry_ref_hint: str | None = None) -> Plan:
    """Dry-run the MCPServer `server` (apiVersion, kind, metadata with namespace, spec) and its object set."""
    from mcpop.apply.mcpserver.refs import referenced
    from mcpop.apply.resources import DEPLOYMENT, MCPSERVER
    from mcpop.apply.ssa.changeset import ChangeSet

    changes = ChangeSet()
    plan = Plan(changes)
    parent = dry_run_object(client, MCPSERVER, server, CLI_FIELD_MANAGER, force=False)
    changes.add(parent.change)
    plan.objects.append(parent)
    if parent.client_side:
        plan.client_side.append(parent.change.subject)
    merged = parent.merged or server
    meta = merged["metadata"]
    name, ns = meta["name"], meta["namespace"]
    reg = (merged.get("spec") or {}).get("registry")
    entry = None
    if reg:
        from mcpop.render.errors import RenderError

        try:
            explicit = not reg.get("registryRef") and bool(registry_ref_hint)
            entry = resolve_entry(client, ns, reg["name"], reg.get("version"), reg.get("registryRef") or
                                  registry_ref_hint, explicit=explicit)  # fmt: skip
        except RenderError as exc:
            raise PlanError(f"{exc.field}: {exc.message}") from None
    ref_hash = None
    if referenced(merged.get("spec") or {}):
        live_dep = client.get(DEPLOYMENT, ns, name)
        from mcpop.render.workload import REFERENCED_HASH

        tmpl = ((live_dep or {}).get("spec") or {}).get("template") or {}
        ref_hash = ((tmpl.get("metadata") or {}).get("annotations") or {}).get(REFERENCED_HASH)
    objs, plan.warnings = render_server(merged, entry, meta.get("uid"), ref_hash)
    # as the operator would apply the set (its field manager, force), as a server-side dry run
    result = client_manager(client).apply_set(MCPSERVER, parent.live or merged, objs, dry_run=True)
    for change in result:
        changes.add(change)
        key = (change.kind, change.name)
        if change.action == "deleted":
            plan.objects.append(Planned(change, None, None))
        elif change.action != "skipped":
            plan.objects.append(Planned(change, result.before.get(key), result.objects.get(key),
                                        key in result.client_side))  # fmt: skip
            if key in result.client_side:
                plan.client_side.append(change.subject)
    if result.error is not None:
        raise PlanError(f"{changes.of('failed')[0].subject}: {result.error.message}")
    return plan


def client_manager(client: Client) -> ResourceManager:
    """The operator's apply manager over the CLI's client (for dry runs and reads)."""
    from mcpop.apply.mcpserver.kinds import OWNED_KINDS
    from mcpop.apply.ssa.manager import ResourceManager

    return ResourceManager(client, kinds=OWNED_KINDS, client_side_fallback=True)


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
