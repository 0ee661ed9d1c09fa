"""One apply pipeline for every object set mcpop owns (Flux's `ssa.ResourceManager`).

`ResourceManager.apply_set(parent, desired)` makes the cluster hold exactly `desired` for `parent`:

1. objects whose API is not served are `skipped` entries;
2. the rest are decorated (ApplySet `part-of` label, applied-hash annotation) and sorted into apply order;
3. the parent records the ApplySet (id label, tooling and group-kinds annotations) and, when asked, a
   finalizer, before anything is applied;
4. each object is server-side applied unless the live one already matches (zero writes when nothing
   changed); fields another manager owns are taken back or reported, as `policy` says. An object of a
   desired name that exists and is neither a member of this set nor controlled by this parent is never
   adopted: the whole set is refused before anything is written (`conflict`, reason `ObjectExists`);
5. members no longer desired are pruned: only those carrying this set's label *and* a controller owner
   reference to this parent's uid;
6. the parent's group-kinds annotation shrinks to what is left.

Every outcome is an entry of the returned `ChangeSet`; status, events and metrics are derived from it
(`events_from`, `observe`). With `dry_run`, nothing is written: applies are server-side dry runs, prunes
are reported only. The same manager serves the MCPServer and MCPServerBackup controllers, the registry's
catalogue store and `mcp deploy --dry-run`/`mcp diff`.

The manager reads live objects from caches written only by watches (`caches`) and falls back to the API.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mcpop.apply.resources import FIELD_MANAGER, ApiError, Resource
from mcpop.apply.ssa import applyset as aset
from mcpop.apply.ssa.apply import ConflictPolicy, apply_if_needed
from mcpop.apply.ssa.changeset import Action, Change, ChangeSet, changed_fields
from mcpop.apply.ssa.drift import HASH_ANNOTATION, needs_apply, with_hash
from mcpop.render.objectset import KIND_ORDER

Obj = dict[str, Any]


class KubeAPI(Protocol):
    """The verbs the manager needs (the operator's `Kube`, and the CLI's client through an adapter)."""

    def resource(self, api_version: str, kind: str) -> Resource | None: ...

    def preferred_version(self, group: str) -> str | None: ...

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None: ...

    def list_objects(self, res: Resource, namespace: str | None = None,
                     label_selector: str | None = None) -> tuple[list[Obj], str]: ...  # fmt: skip

    def apply(self, res: Resource, obj: Obj, *, force: bool, field_manager: str = FIELD_MANAGER,
              dry_run: bool = False) -> Obj: ...  # fmt: skip

    def merge_patch(self, res: Resource, namespace: str | None, name: str, patch: Obj) -> Obj: ...

    def delete(self, res: Resource, namespace: str | None, name: str, uid: str | None = None) -> bool: ...


class Cache(Protocol):
    """A watch-fed cache of one kind (an `Informer`): read only, never written by the manager."""

    synced: threading.Event

    def get(self, namespace: str, name: str) -> Obj | None: ...

    def items(self, namespace: str | None = None) -> list[Obj]: ...

    def labelled(self, namespace: str, label: str, value: str) -> list[Obj]: ...


class ListedCache:
    """One fresh list of objects, read as the manager reads a watch cache."""

    def __init__(self, items: Iterable[Obj]) -> None:
        self.synced = threading.Event()
        self.synced.set()
        self._items = {(o["metadata"].get("namespace") or "", o["metadata"]["name"]): o for o in items}

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._items.get((namespace, name))

    def items(self, namespace: str | None = None) -> list[Obj]:
        return [o for (ns, _), o in self._items.items() if namespace is None or ns == namespace]

    def labelled(self, namespace: str, label: str, value: str) -> list[Obj]:
        return [o for o in self.items(namespace) if ((o.get("metadata") or {}).get("labels") or {}).get(label) == value]


class SetTimeout(ApiError):
    """Applying a set ran past its deadline (the objects applied so far stay applied)."""

    def __init__(self, message: str) -> None:
        super().__init__(504, "Timeout", {"message": message})


_RANK = {k: i for i, k in enumerate(KIND_ORDER)}


def apply_order(objs: Iterable[Obj]) -> list[Obj]:
    """`objs` in apply order: by kind (`KIND_ORDER`), otherwise as given."""
    return sorted(objs, key=lambda o: _RANK.get(str(o.get("kind")), len(_RANK)))


def client_side_merge(live: Obj | None, desired: Obj) -> Obj:
    """`desired` laid over `live` (maps merged key by key, everything else replaced): what an apply would
    roughly leave, without the API server's defaults and admission, for a dry run it does not permit."""
    if not isinstance(live, dict) or not isinstance(desired, dict):
        return copy.deepcopy(desired)
    out = copy.deepcopy(live)
    for key, value in desired.items():
        out[key] = client_side_merge(live.get(key), value) if isinstance(value, dict) else copy.deepcopy(value)
    return out


def owned_by(obj: Obj, uid: str | None) -> bool:
    """Whether `obj`'s controller owner reference names the object with `uid`."""
    if not uid:
        return False
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("controller") and r.get("uid") == uid for r in refs)


@dataclass
class SetResult(ChangeSet):
    """A change set plus what the caller needs next: the parent as now live, and each applied object as
    the API returned it (read-your-writes without writing into a cache)."""

    parent: Obj = field(default_factory=dict)
    #: (kind, name) → the object after the apply (the live one when unchanged; the dry-run result)
    objects: dict[tuple[str, str], Obj] = field(default_factory=dict)
    #: (kind, name) → the live object before the apply (None: absent)
    before: dict[tuple[str, str], Obj | None] = field(default_factory=dict)
    #: the API error that stopped the apply (its entry is the `failed` change); nothing was pruned
    error: ApiError | None = None
    #: (kind, name) of the `conflict` entries that are the same as the last apply of this set reported (the
    #: live object and the desired one unchanged): already told, so no event again
    repeated: set[tuple[str, str]] = field(default_factory=set)
    #: (kind, name) of the objects whose server-side dry run was forbidden (403) and that were compared
    #: client-side instead (only with `client_side_fallback`)
    client_side: set[tuple[str, str]] = field(default_factory=set)

    def object(self, kind: str, name: str | None = None) -> Obj | None:
        """The applied object of `kind` (named `name`, or the first of that kind)."""
        for (k, n), o in self.objects.items():
            if k == kind and (name is None or n == name):
                return o
        return None


class ResourceManager:
    """Applies whole object sets for parents. Thread-safe: one instance serves every worker."""

    def __init__(self, kube: KubeAPI, *, field_manager: str = FIELD_MANAGER,
                 caches: Callable[[str], Cache | None] | None = None,
                 kinds: Mapping[str, str] | None = None, client_side_fallback: bool = False) -> None:  # fmt: skip
        self.kube = kube
        #: a dry run the API server forbids (403: the caller may read but not write) is compared client-side
        #: (`mcp diff` and `mcp deploy --dry-run` under the CLI role, which grants no workload writes)
        self.client_side_fallback = client_side_fallback
        self.field_manager = field_manager
        self.caches = caches or (lambda _gk: None)
        #: kind → the apiVersion mcpop renders it with (saves a discovery request per pruned kind)
        self.kinds = dict(kinds or {})
        self._lock = threading.Lock()
        #: set id → (group-kind, name) → (live resourceVersion, desired hash, the conflict reported)
        self._conflicts: dict[str, dict[tuple[str, str], tuple[str, str, Change]]] = {}

    # ------------------------------------------------------------------ reading

    def _cache(self, gk: str) -> Cache | None:
        cache = self.caches(gk)
        return cache if cache is not None and cache.synced.is_set() else None

    def _live(self, res: Resource, namespace: str, name: str) -> Obj | None:
        """The live object. A watch cache holds only members, so a miss there is asked of the API: an
        object of that name that is not ours must be found before anything is applied over it."""
        cache = self._cache(res.group_kind)
        if cache is not None:
            hit = cache.get(namespace, name)
            if hit is not None:
                return hit
        live = self.kube.get(res, namespace, name)
        if live is not None:
            live.setdefault("apiVersion", res.api_version)
            live.setdefault("kind", res.kind)
        return live

    def _members(self, res: Resource, namespace: str, set_id: str, fresh: bool) -> list[Obj]:
        cache = None if fresh else self._cache(res.group_kind)
        if cache is not None:
            return cache.labelled(namespace, aset.PART_OF_LABEL, set_id)
        items, _ = self.kube.list_objects(res, namespace, f"{aset.PART_OF_LABEL}={set_id}")
        return items

    def resource_for(self, gk: str) -> Resource | None:
        """The served resource of group-kind `gk` (None: its API is gone, so nothing of it is left)."""
        group, kind = aset.split_group_kind(gk)
        known = self.kinds.get(kind)
        if known is not None and aset.group_of(known) == group:
            return self.kube.resource(known, kind)
        version = self.kube.preferred_version(group)
        if version is None:
            return None
        return self.kube.resource(f"{group}/{version}" if group else version, kind)

    # ------------------------------------------------------------------ the parent

    @staticmethod
    def set_id(parent_res: Resource, parent: Obj) -> str:
        meta = parent["metadata"]
        return aset.applyset_id(meta["name"], meta.get("namespace") or "", parent_res.kind, parent_res.group)

    def _ensure_parent(self, parent_res: Resource, parent: Obj, gks: set[str], finalizer: str | None) -> Obj:
        """The parent carrying the ApplySet bookkeeping for `gks` (and `finalizer`): patched when it lacks it.

        Only a finalizer change carries the resourceVersion (a merge patch replaces the whole list, so a
        stale copy must not drop another controller's finalizer); the labels and annotations are ours alone.
        """
        meta = parent["metadata"]
        wanted = aset.parent_metadata(meta["name"], meta.get("namespace") or "", gks, parent_res.kind,
                                      parent_res.group)  # fmt: skip
        finalizers = list(meta.get("finalizers") or [])
        need_fin = finalizer is not None and finalizer not in finalizers
        if not need_fin and not aset.parent_needs_update(parent, wanted):
            return parent
        patch: Obj = {"metadata": dict(wanted)}
        if need_fin:
            patch["metadata"]["finalizers"] = [*finalizers, finalizer]
            patch["metadata"]["resourceVersion"] = meta.get("resourceVersion")
        out = self.kube.merge_patch(parent_res, meta.get("namespace"), meta["name"], patch)
        return {**out, "apiVersion": parent_res.api_version, "kind": parent_res.kind}

    # ------------------------------------------------------------------ apply

    def apply_set(self, parent_res: Resource, parent: Obj, desired: Sequence[Obj], *,
                  policy: ConflictPolicy = "force", dry_run: bool = False, deadline: float | None = None,
                  finalizer: str | None = None) -> SetResult:  # fmt: skip
        """Make the cluster hold exactly `desired` for `parent` (see the module docstring)."""
        meta = parent["metadata"]
        ns, uid = meta.get("namespace") or "", meta.get("uid")
        set_id = self.set_id(parent_res, parent)
        result = SetResult(parent=parent)
        todo: list[tuple[Resource, Obj]] = []
        for o in apply_order(desired):
            res = self.kube.resource(o["apiVersion"], o["kind"])
            if res is None:
                result.add(Change("skipped", o["kind"], o["metadata"]["name"], ns, o["apiVersion"],
                                  reason=f"{o['apiVersion']} is not served"))  # fmt: skip
                continue
            todo.append((res, with_hash(aset.mark_member(o, set_id))))
        # ownership first: a set holding an object that is not ours is refused whole, before anything is written
        # (Helm's "exists and cannot be imported"): applying the rest could bind a workload to someone else's
        # ServiceAccount or put its pods behind their Service
        for res, o in todo:
            m = o["metadata"]
            live = result.before[(o["kind"], m["name"])] = self._live(res, m.get("namespace") or "", m["name"])
            if live is not None and not (aset.is_member(live, set_id) or owned_by(live, uid)):
                change = Change("conflict", o["kind"], m["name"], ns, o["apiVersion"],
                                reason=f"ObjectExists: {o['kind']} {ns}/{m['name']} exists and was not created by "
                                       f"mcpop for {parent_res.kind} {meta['name']}; nothing was applied (delete or "
                                       "rename it)")  # fmt: skip
                if not dry_run:
                    self._remember(set_id, res, o, live, change, result)
                result.add(change)
        if result.of("conflict"):
            return result

        new_gks = {res.group_kind for res, _ in todo}
        old_gks = aset.live_group_kinds(parent)
        if not dry_run:
            result.parent = parent = self._ensure_parent(parent_res, parent, old_gks | new_gks, finalizer)

        for res, o in todo:
            if deadline is not None and time.monotonic() > deadline:
                raise SetTimeout(f"applying the objects of {ns}/{meta['name']} ran past its deadline")
            change = self._apply_one(res, o, set_id, policy, dry_run, result)
            result.add(change)
            if change.action == "failed":
                return result  # nothing is pruned after a failed apply: the set is not complete

        wanted = {(res.group_kind, o["metadata"]["name"]) for res, o in todo}
        for change in self._prune(set_id, ns, uid, old_gks | new_gks, wanted, dry_run, fresh=False):
            result.add(change)
        if not dry_run and old_gks != new_gks:
            result.parent = self._ensure_parent(parent_res, result.parent, new_gks, None)
        return result

    def _apply_one(self, res: Resource, o: Obj, set_id: str, policy: ConflictPolicy, dry_run: bool,
                   result: SetResult) -> Change:  # fmt: skip
        m = o["metadata"]
        ns, name = m.get("namespace") or "", m["name"]
        key = (o["kind"], name)
        live = result.before[key]
        if dry_run:
            return self._dry_run_one(res, o, live, policy, result)
        memo = self._memo(set_id, res, o, live)
        if memo is not None and policy == "report":
            if live is not None:
                result.objects[key] = live
            result.repeated.add(key)
            return memo  # the same conflict as last time: not asked again
        try:
            applied = apply_if_needed(self.kube, res, o, live, policy=policy, field_manager=self.field_manager)
        except ApiError as exc:
            result.error = exc
            return Change("failed", o["kind"], name, ns, o["apiVersion"], reason=exc.message)
        if applied.live is not None:
            result.objects[key] = applied.live
        change = applied.change
        self._remember(set_id, res, o, live, change, result)
        return change

    # ------------------------------------------------------------------ conflicts already reported

    @staticmethod
    def _memo_key(res: Resource, o: Obj, live: Obj | None) -> tuple[tuple[str, str], tuple[str, str]]:
        """(group-kind, name) and (the live resourceVersion, the desired hash): what makes a conflict the same."""
        live_rv = str(((live or {}).get("metadata") or {}).get("resourceVersion", ""))
        return (res.group_kind, o["metadata"]["name"]), (live_rv, o["metadata"]["annotations"][HASH_ANNOTATION])

    def _memo(self, set_id: str, res: Resource, o: Obj, live: Obj | None) -> Change | None:
        """The conflict reported last time for this object, if neither it nor the live object changed since."""
        ckey, version = self._memo_key(res, o, live)
        with self._lock:
            memo = self._conflicts.get(set_id, {}).get(ckey)
        return memo[2] if memo is not None and memo[:2] == version else None

    def _remember(self, set_id: str, res: Resource, o: Obj, live: Obj | None, change: Change,
                  result: SetResult) -> None:  # fmt: skip
        """Keep a conflict (marking it repeated when it is the one reported last time); forget a resolved one."""
        ckey, version = self._memo_key(res, o, live)
        with self._lock:
            memos = self._conflicts.setdefault(set_id, {})
            if change.action != "conflict":
                memos.pop(ckey, None)
                return
            if memos.get(ckey) == (*version, change):
                result.repeated.add((o["kind"], o["metadata"]["name"]))
            memos[ckey] = (*version, change)

    def _dry_run_one(self, res: Resource, o: Obj, live: Obj | None, policy: ConflictPolicy,
                     result: SetResult) -> Change:  # fmt: skip
        m = o["metadata"]
        ns, name, key = m.get("namespace") or "", m["name"], (o["kind"], m["name"])
        why = needs_apply(o, live)
        if why is None:
            assert live is not None
            result.objects[key] = live
            return Change("unchanged", o["kind"], name, ns, o["apiVersion"])
        try:
            merged = self.kube.apply(res, o, force=policy == "force", field_manager=self.field_manager,
                                     dry_run=True)  # fmt: skip
        except ApiError as exc:
            if not (self.client_side_fallback and exc.status == 403):
                result.error = exc
                return Change("failed", o["kind"], name, ns, o["apiVersion"], reason=exc.message)
            merged = client_side_merge(live, o)
            result.client_side.add(key)
        merged.setdefault("apiVersion", res.api_version)
        merged.setdefault("kind", res.kind)
        result.objects[key] = merged
        action: Action = "created" if live is None else "configured"
        return Change(action, o["kind"], name, ns, o["apiVersion"], changed_fields(o, live), reason=why)

    # ------------------------------------------------------------------ prune and delete

    def _prune(self, set_id: str, namespace: str, uid: str | None, gks: set[str], wanted: set[tuple[str, str]],
               dry_run: bool, fresh: bool) -> list[Change]:  # fmt: skip
        out: list[Change] = []
        for gk in sorted(gks):
            res = self.resource_for(gk)
            if res is None:
                continue
            for o in self._members(res, namespace, set_id, fresh):
                om = o.get("metadata") or {}
                if (gk, om.get("name")) in wanted or not owned_by(o, uid):
                    continue  # desired, or not this parent's: another object's (or a user's) to keep
                if dry_run or self.kube.delete(res, namespace, om["name"], uid=om.get("uid")):
                    out.append(Change("deleted", res.kind, om["name"], namespace, res.api_version, reason="pruned"))
        return out

    def delete_set(self, parent_res: Resource, parent: Obj, extra_gks: Iterable[str] = ()) -> tuple[ChangeSet, int]:
        """Delete every member of `parent`'s set (fresh reads, not caches); (what was deleted, how many members
        are still there). The finalizer is released by the caller once nothing is left."""
        meta = parent["metadata"]
        ns, uid = meta.get("namespace") or "", meta.get("uid")
        set_id = self.set_id(parent_res, parent)
        gks = aset.live_group_kinds(parent) | set(extra_gks)
        changes = ChangeSet(self._prune(set_id, ns, uid, gks, set(), dry_run=False, fresh=True))
        remaining = 0
        for gk in sorted(gks):
            res = self.resource_for(gk)
            if res is not None:
                remaining += sum(1 for o in self._members(res, ns, set_id, fresh=True) if owned_by(o, uid))
        return changes, remaining

    def forget(self, parent_res: Resource, namespace: str, name: str) -> None:
        """Drop what is remembered of a parent's set (its conflicts): it was finalized or deleted."""
        set_id = aset.applyset_id(name, namespace, parent_res.kind, parent_res.group)
        with self._lock:
            self._conflicts.pop(set_id, None)


# ---------------------------------------------------------------------- what a change set means

#: (type, reason, message) of one Kubernetes event
Event = tuple[str, str, str]


def describe_fields(change: Change) -> str:
    return ", ".join(f'{f} (field manager "{m}")' for f, m in change.conflicts)


def events_from(changes: ChangeSet) -> list[Event]:
    """The events a change set is reported with: what was applied, taken over, refused, failed, pruned. A
    conflict reported the same last time (`SetResult.repeated`) is not reported again."""
    out: list[Event] = []
    repeated = changes.repeated if isinstance(changes, SetResult) else set()
    applied = changes.summary("created", "configured")
    if applied:
        out.append(("Normal", "Applied", applied))
    for c in changes.of("created", "configured"):
        if c.conflicts:
            out.append(("Warning", "FieldsTakenOver",
                        f"{c.subject}: took fields owned by another manager: {describe_fields(c)}"))  # fmt: skip
    for c in changes.of("conflict"):
        if (c.kind, c.name) in repeated:
            continue
        if c.reason.startswith("ObjectExists"):
            out.append(("Warning", "ObjectExists", c.reason.removeprefix("ObjectExists: ")))
        else:
            out.append(("Warning", "Conflict", conflict_text(c)))
    for c in changes.of("failed"):
        out.append(("Warning", "ApplyFailed", f"{c.subject}: {c.reason}"))
    pruned = changes.of("deleted")
    if pruned:
        out.append(("Normal", "Pruned", "deleted " + ", ".join(c.subject for c in pruned)))
    return out


def conflict_text(change: Change) -> str:
    """One line for a `conflict` entry: the fields another manager owns, or the object that exists."""
    if change.reason.startswith("ObjectExists"):
        return change.reason.removeprefix("ObjectExists: ")
    return f"{change.subject}: fields owned by another manager: {describe_fields(change)}"


def observe(changes: ChangeSet) -> None:
    """Count a change set in the operator's metrics (objects written, fields taken over)."""
    # lazily: the CLI's `mcp deploy`/`mcp diff` load this module and never count (prometheus_client ~50 ms)
    from mcpop.apply.runtime.metrics import FIELD_TAKEOVERS, OBJECTS

    ops = {"created": "created", "configured": "updated", "deleted": "deleted"}
    for c in changes:
        op = ops.get(c.action)
        if op is not None:
            OBJECTS.labels(op, c.kind).inc()
        if c.action in ("created", "configured"):
            for _field, manager in c.conflicts:
                FIELD_TAKEOVERS.labels(c.kind, manager).inc()
