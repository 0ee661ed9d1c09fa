"""The MCPServer controller: one level-based reconcile of one MCPServer.

read (cache) → validate → render → record the ApplySet on the parent → server-side apply what differs
→ prune what is no longer rendered → write status (only when it changed). Deletion runs the finalizer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from mcpop import API_VERSION
from mcpop.apply.mcpserver.images import RETRY_AFTER, RETRY_AFTER_PERMANENT, ImageConfigs
from mcpop.apply.mcpserver.kinds import MCPSERVER, OWNED_KINDS, owner_gk
from mcpop.apply.mcpserver.refs import Ref, combined_hash, referenced
from mcpop.apply.mcpserver.status import (
    VERIFIED,
    Outcome,
    compute_status,
    is_remote,
    label_selector,
    rollout,
    service_status,
    verify_wait,
)
from mcpop.apply.runtime.client import Kube, KubeError, Resource
from mcpop.apply.runtime.conditions import status_patch
from mcpop.apply.runtime.events import EventRecorder
from mcpop.apply.runtime.informer import Informer
from mcpop.apply.runtime.logs import set_generation
from mcpop.apply.runtime.metrics import FIELD_TAKEOVERS, MCPSERVER_READY, OBJECTS, condition_gauge, forget_object
from mcpop.apply.runtime.reconciler import DONE, Key, ReconcileTimeout, Result, TerminalError
from mcpop.apply.settings import OperatorSettings
from mcpop.apply.ssa import applyset as aset
from mcpop.apply.ssa.apply import ConflictPolicy, apply_if_needed
from mcpop.apply.ssa.changeset import Change, ChangeSet
from mcpop.apply.ssa.drift import HASH_ANNOTATION, with_hash
from mcpop.apply.ssa.prune import managed_by, prune_candidates
from mcpop.apply.verify.verifier import Target, Verifier

log = logging.getLogger("mcpop.controller")

FINALIZER = "mcp.allbeone.io/finalizer"
#: `report`: leave fields another field manager owns and report the conflict (Applied=False, Stalled);
#: anything else (the default, `force`): take them back, with an event and `mcpop_field_takeovers_total`
CONFLICT_POLICY_ANNOTATION = "mcp.allbeone.io/conflict-policy"

_KIND_UPDATE_OP = {"created": "created", "configured": "updated"}


class MCPServerController:
    """Reconciles MCPServers. Thread-safe: workers call `reconcile` for different keys concurrently."""

    name = "mcpserver"

    def __init__(self, kube: Kube, settings: OperatorSettings, servers: Informer,
                 owned: dict[str, Informer], refs: dict[str, Informer], recorder: EventRecorder | None,
                 enqueue: Callable[[Key], None], *, registries: Informer | None = None,
                 catalog_configmaps: Informer | None = None, verifier: Verifier | None = None) -> None:  # fmt: skip
        self.kube = kube
        self.settings = settings
        self.servers = servers
        self.owned = owned  # group-kind → informer (label-selected: our ApplySet members)
        self.refs = refs  # "ConfigMap"/"Secret" → informer storing content hashes
        self.recorder = recorder
        self.enqueue = enqueue
        self._ref_index: dict[tuple[str, str, str], set[Key]] = {}
        self._refs_of: dict[Key, set[tuple[str, str, str]]] = {}
        self._conflicts: dict[tuple[str, str, str], tuple[str, str, str]] = {}
        self._lock = threading.Lock()
        # MCPRegistries and their stored catalogue ConfigMaps (mcpop.apply.catalog_store)
        self.registries = registries
        self.catalog_configmaps = catalog_configmaps
        self._registry_index: dict[Key, set[Key]] = {}  # (ns, registry) → MCPServers using it
        self._registry_of: dict[Key, Key] = {}
        from mcpop.apply.catalog_store import EntryCache

        self._entries = EntryCache(settings.cache_server_ttl, settings.cache_cleanup_interval)
        self.images = ImageConfigs(kube, plain_http=frozenset(settings.insecure_registries))
        #: the MCP handshakes behind the Verified condition (off the reconcile path; None: not verified)
        self.verifier = verifier

    # ------------------------------------------------------------------ the Controller protocol

    def informers(self) -> list[Informer]:
        """Its caches: MCPServers, the owned kinds served, referenced ConfigMaps/Secrets, registries."""
        extra = [i for i in (self.registries, self.catalog_configmaps) if i is not None]
        return [self.servers, *self.owned.values(), *self.refs.values(), *extra]

    def resync(self) -> list[Key]:
        return self.servers.list_keys()

    def add_owned(self, group_kind: str, informer: Informer) -> None:
        """Watch an owned kind (at build, or when its API appears later: then every MCPServer is reconciled
        again, so objects of that kind that were skipped are applied now)."""
        informer.handlers.append(self.on_owned)
        self.owned[group_kind] = informer
        if self.servers.synced.is_set():
            for key in self.servers.list_keys():
                self.enqueue(key)

    def attach_registries(self, registries: Informer, catalog_configmaps: Informer) -> None:
        """Resolve `spec.registry` from MCPRegistries (their API is served)."""
        registries.handlers.append(self.on_registry)
        catalog_configmaps.handlers.append(self.on_catalog)
        self.catalog_configmaps = catalog_configmaps
        self.registries = registries

    # ------------------------------------------------------------------ event handlers

    def on_server(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        assert obj is not None
        if kind == "MODIFIED" and old is not None and new is not None:
            om, nm = old.get("metadata") or {}, new.get("metadata") or {}
            same = all(om.get(f) == nm.get(f) for f in ("generation", "labels", "annotations", "finalizers",
                                                         "deletionTimestamp"))  # fmt: skip
            if same:
                return  # a status-only change (ours): nothing to do
        meta = obj.get("metadata") or {}
        self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def on_owned(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        assert obj is not None
        owner = owner_gk(obj)
        if owner:
            self.enqueue(((obj.get("metadata") or {}).get("namespace") or "", owner))

    def on_ref(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        assert obj is not None
        if old is not None and new is not None and old.get("hash") == new.get("hash"):
            return
        meta = obj.get("metadata") or {}
        ref = (meta.get("namespace") or "", str(obj.get("kind")), meta.get("name") or "")
        with self._lock:
            keys = set(self._ref_index.get(ref, ()))
        for key in keys:
            self.enqueue(key)

    def _servers_of_registry(self, namespace: str, registry: str) -> set[Key]:
        with self._lock:
            return set(self._registry_index.get((namespace, registry), ()))

    def on_catalog(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """A stored catalogue entry changed: re-reconcile the MCPServers using that registry."""
        from mcpop.apply.catalog_store import REGISTRY_LABEL

        obj = new or old
        assert obj is not None
        if old is not None and new is not None and old.get("data") == new.get("data"):
            return
        meta = obj.get("metadata") or {}
        if new is None:
            self._entries.forget(meta.get("namespace") or "", meta.get("name") or "")
        registry = (meta.get("labels") or {}).get(REGISTRY_LABEL)
        if registry:
            for key in self._servers_of_registry(meta.get("namespace") or "", registry):
                self.enqueue(key)

    def on_registry(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """An MCPRegistry appeared, went away, or its readiness changed: re-resolve its MCPServers."""
        obj = new or old
        assert obj is not None
        if old is not None and new is not None and _registry_ready(old) == _registry_ready(new):
            return
        meta = obj.get("metadata") or {}
        for key in self._servers_of_registry(meta.get("namespace") or "", meta.get("name") or ""):
            self.enqueue(key)

    def _index_registry(self, key: Key, registry: Key | None) -> None:
        with self._lock:
            prev = self._registry_of.pop(key, None)
            if prev is not None:
                self._registry_index.get(prev, set()).discard(key)
            if registry is not None:
                self._registry_of[key] = registry
                self._registry_index.setdefault(registry, set()).add(key)

    def _resolve(self, key: Key, name: str, version: str | None, registry_ref: str | None
                 ) -> tuple[Any, tuple[str, str, str], dict[str, Any] | None]:  # fmt: skip
        """The entry `spec.registry` names: from the MCPRegistry `registry_ref` (default `default`) in the
        server's namespace when it exists, else from the embedded catalogue."""
        from mcpop.apply.catalog_store import REGISTRY_LABEL, catalog_of
        from mcpop.render.catalog import AmbiguousEntry, EntryNotFound
        from mcpop.render.names import label_value

        ns = key[0]
        ref = registry_ref or "default"
        self._index_registry(key, (ns, label_value(ref)))
        if self.registries is not None:
            self.registries.synced.wait(10.0)  # attached while running: let its first list finish
        robj = self.registries.get(ns, ref) if self.registries is not None else None
        if robj is None:
            return _resolve_registry(name, version)
        status = robj.get("status") or {}
        cms: list[dict[str, Any]] = []
        if self.catalog_configmaps is not None:
            want = label_value(ref)
            for cm in self.catalog_configmaps.items(ns):
                if ((cm.get("metadata") or {}).get("labels") or {}).get(REGISTRY_LABEL) == want:
                    cms.append(cm)
        if not status.get("lastSyncTime"):
            synced = next((c for c in status.get("conditions") or [] if c.get("type") == "Synced"), None)
            why = f": {synced.get('message')}" if synced and synced.get("message") else ""
            return None, ("False", "RegistryNotReady", f"MCPRegistry {ref} has no catalogue yet{why}"), None
        catalog = catalog_of(cms, f"MCPRegistry {ref}", self._entries)
        try:
            entry = catalog.resolve(name, version)
        except (AmbiguousEntry, EntryNotFound) as exc:
            return None, ("False", _reason(exc), exc.message), None
        return entry, ("True", "Fetched", f"{entry.name} {entry.version} from MCPRegistry {ref}"), _entry_status(entry)

    def _index_refs(self, key: Key, refs: set[Ref]) -> None:
        new = {(key[0], k, n) for k, n in refs}
        with self._lock:
            for ref in self._refs_of.get(key, set()) - new:
                self._ref_index.get(ref, set()).discard(key)
            for ref in new:
                self._ref_index.setdefault(ref, set()).add(key)
            self._refs_of[key] = new

    # ------------------------------------------------------------------ helpers

    def _resource(self, api_version: str, kind: str) -> Resource | None:
        return self.kube.resource(api_version, kind)

    def _resource_for_gk(self, gk: str) -> Resource | None:
        group, kind = aset.split_group_kind(gk)
        known = OWNED_KINDS.get(kind)
        if known is not None and aset.group_of(known) == group:
            return self._resource(known, kind)
        try:
            body = self.kube.request("GET", f"/apis/{group}") if group else {"preferredVersion": {"version": "v1"}}
        except KubeError as exc:
            if exc.not_found:
                return None  # the API went away: nothing of it is left to prune
            raise  # a 403 (RBAC) or an outage is not "nothing to prune"
        version = (body.get("preferredVersion") or {}).get("version")
        return self._resource(f"{group}/{version}" if group else str(version), kind) if version else None

    def _live(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        inf = self.owned.get(res.group_kind)
        if inf is not None and inf.synced.is_set():
            return inf.get(namespace, name)
        return self.kube.get(res, namespace, name)

    def _members(self, res: Resource, namespace: str, set_id: str, fresh: bool = False) -> list[dict[str, Any]]:
        inf = self.owned.get(res.group_kind)
        if inf is not None and inf.synced.is_set() and not fresh:
            return [o for o in inf.items(namespace) if aset.is_member(o, set_id)]
        items, _ = self.kube.list_objects(res, namespace, f"{aset.PART_OF_LABEL}={set_id}")
        return items

    def _cache(self, res: Resource, obj: dict[str, Any]) -> None:
        inf = self.owned.get(res.group_kind)
        if inf is not None:
            inf.upsert(obj)

    def _ref_hash(self, namespace: str, refs: set[Ref]) -> str | None:
        hashes: dict[Ref, str | None] = {}
        for kind, name in refs:
            inf = self.refs.get(kind)
            if inf is None:
                continue
            obj = inf.get(namespace, name)
            hashes[(kind, name)] = obj.get("hash") if obj else None
        return combined_hash(hashes)

    def _event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.record(obj, type_, reason, message)

    def _write_status(self, obj: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
        old = obj.get("status") or {}
        new = compute_status(outcome, old)
        meta = obj["metadata"]
        condition_gauge(MCPSERVER_READY, meta["namespace"], meta["name"], new, "Ready")
        patch = status_patch(old, new)
        if patch is None:
            return new
        try:
            out = self.kube.merge_patch(MCPSERVER, meta["namespace"], meta["name"], patch, "status")
        except KubeError as exc:
            if exc.not_found:
                return new
            raise
        self.servers.upsert({**out, "apiVersion": API_VERSION, "kind": "MCPServer"})
        old_ready = _cond(old, "Ready")
        new_ready = _cond(new, "Ready")
        if old_ready != new_ready and new_ready is not None:
            type_ = "Normal" if new_ready[0] == "True" else "Warning"
            if new_ready[1] not in ("RollingOut", "Unavailable") or type_ == "Normal":
                self._event(obj, type_, new_ready[1], new_ready[2])
        old_v, new_v = _cond(old, VERIFIED), _cond(new, VERIFIED)
        if new_v is not None and new_v[0] in ("True", "False") and (old_v or ())[:2] != new_v[:2]:
            self._event(obj, "Normal" if new_v[0] == "True" else "Warning",
                        "Verified" if new_v[0] == "True" else "VerifyFailed", new_v[2])  # fmt: skip
        return new

    def _verify(self, key: Key, outcome: Outcome) -> None:
        """Fill in the Verified condition: the latest MCP handshake through the Service, once the Deployment
        has rolled out (a probe is started in the verifier's pool when due; this never waits for one)."""
        verifier = self.verifier
        if verifier is None or not verifier.enabled:
            return
        if outcome.remote:  # nothing runs in the cluster; the operator does not dial outside it
            outcome.verified = ("Unknown", "Remote", "a remote-only server is not verified by the operator")
            return
        if not outcome.url or outcome.transport not in ("streamable-http", "sse"):
            outcome.verified = ("Unknown", "NoEndpoint", "the Service names no MCP endpoint to verify")
            return
        wait = verify_wait(rollout(outcome.deployment))
        if wait is not None:
            outcome.verified = wait
            return
        dep = (outcome.deployment or {}).get("metadata") or {}
        target = Target(outcome.url, outcome.transport, (outcome.generation, dep.get("uid"), dep.get("generation")))
        verdict = verifier.check(key, target)
        outcome.verified = (verdict.status, verdict.reason, verdict.message)
        if verdict.status == "True":
            outcome.mcp = verdict.handshake

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, key: Key) -> Result:
        ns, name = key
        obj = self.servers.get(ns, name)
        if obj is None:
            self._index_refs(key, set())
            self._index_registry(key, None)
            forget_object(MCPSERVER_READY, ns, name)
            if self.verifier is not None:
                self.verifier.forget(key)
            return DONE
        obj = {**obj, "apiVersion": API_VERSION, "kind": "MCPServer"}
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return self._finalize(obj)
        deadline = time.monotonic() + self.settings.reconcile_timeout
        generation = meta.get("generation")
        set_generation(generation)

        # validate and render (pure); a rejected spec is terminal
        from mcpop.api.mcpserver import MCPServer
        from mcpop.render import RenderError, RenderOptions, render
        from mcpop.render.options import Owner

        registry = None
        try:
            server = MCPServer.model_validate(obj)
        except ValidationError as exc:
            msg = "; ".join(
                f"spec.{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg'].removeprefix('Value error, ')}"
                if e["loc"][:1] == ("spec",) else f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            )  # fmt: skip
            return self._terminal(obj, msg)
        spec_wire = obj.get("spec") or {}
        refs = referenced(spec_wire)
        self._index_refs(key, refs)
        entry: Any = None
        registry_status: dict[str, Any] | None = None
        if server.spec.registry is not None:
            sreg = server.spec.registry
            entry, registry, registry_status = self._resolve(key, sreg.name, sreg.version, sreg.registry_ref)
            if entry is None:
                return self._terminal(obj, f"spec.registry.name: {registry[2]}", registry)
        else:
            self._index_registry(key, None)
        options = RenderOptions(
            namespace=ns, owner=Owner(name=name, uid=meta["uid"]),
            enable_hpa=self.settings.enable_hpa_support, enable_vpa=self.settings.enable_vpa_support,
            enable_istio=self.settings.enable_istio_integration,
            enable_multi_tenancy=self.settings.enable_multi_tenancy,
            referenced_content_hash=self._ref_hash(ns, refs),
        )  # fmt: skip
        from mcpop.render.errors import ImageConfigNeeded
        from mcpop.sources.oci import ImageConfigError

        configs: dict[str, Any] = {}
        while True:
            try:
                rendered = render(server, registry_entry=entry, options=replace(options, image_configs=configs))
                break
            except ImageConfigNeeded as exc:  # an OCI stdio image's own entrypoint: read its config, render again
                if exc.image in configs:
                    return self._terminal(obj, f"{exc.field}: {exc.message}", registry)
                try:
                    configs[exc.image] = self.images.resolve(ns, server.spec, exc.image)
                except ImageConfigError as err:
                    return self._image_unavailable(obj, str(err), err.retry, registry)
            except RenderError as exc:  # a spec the renderer refuses; any other exception is a bug, retried, logged
                return self._terminal(obj, f"{exc.field}: {exc.message}", registry)

        set_id = aset.applyset_id(name, ns)
        desired: list[tuple[Resource, dict[str, Any]]] = []
        skipped: list[str] = []
        changes = ChangeSet()
        for o in rendered.objects:
            res = self._resource(o["apiVersion"], o["kind"])
            if res is None:
                skipped.append(f"{o['kind']} ({o['apiVersion']})")
                changes.add(Change("skipped", o["kind"], o["metadata"]["name"], ns, o["apiVersion"],
                                   reason=f"{o['apiVersion']} is not served"))  # fmt: skip
                continue
            desired.append((res, with_hash(aset.mark_member(o, set_id))))
        new_gks = {res.group_kind for res, _ in desired}
        old_gks = aset.live_group_kinds(obj)

        # parent bookkeeping (and the finalizer) before anything is applied
        obj = self._ensure_parent(obj, aset.parent_metadata(name, ns, old_gks | new_gks), add_finalizer=True)

        policy: ConflictPolicy = (
            "report" if (meta.get("annotations") or {}).get(CONFLICT_POLICY_ANNOTATION) == "report" else "force"
        )
        outcome = Outcome(generation=generation, objects=len(desired), skipped=skipped, registry=registry,
                          registry_status=registry_status)  # fmt: skip
        deployment: dict[str, Any] | None = None
        for res, o in desired:
            if time.monotonic() > deadline:
                raise ReconcileTimeout(f"reconcile of {ns}/{name} ran past {self.settings.reconcile_timeout}s")
            live = self._live(res, ns, o["metadata"]["name"])
            ckey = (res.group_kind, ns, o["metadata"]["name"])
            want_hash = o["metadata"]["annotations"][HASH_ANNOTATION]
            live_rv = str((live or {}).get("metadata", {}).get("resourceVersion", ""))
            with self._lock:
                memo = self._conflicts.get(ckey)
            if memo is not None and memo[:2] == (live_rv, want_hash) and policy == "report":
                outcome.conflicts.append(memo[2])  # same conflict as last time: do not ask again
                result_live = live
            else:
                try:
                    result = apply_if_needed(self.kube, res, o, live, policy=policy)
                except KubeError as exc:
                    outcome.apply_error = f"{o['kind']}/{o['metadata']['name']}: {exc.message}"
                    self._event(obj, "Warning", "ApplyFailed", outcome.apply_error)
                    self._write_status(obj, outcome)
                    raise
                result_live = result.live
                if result.action == "conflict":
                    text = result.describe_conflicts()
                    outcome.conflicts.append(text)
                    with self._lock:
                        self._conflicts[ckey] = (live_rv, want_hash, text)
                    self._event(obj, "Warning", "Conflict", text)
                    log.warning("apply conflict", extra={"object": f"{o['kind']}/{o['metadata']['name']}",
                                                         "detail": text})  # fmt: skip
                else:
                    with self._lock:
                        self._conflicts.pop(ckey, None)
                if result.taken:
                    text = result.describe_taken()
                    for _field, manager in result.taken:
                        FIELD_TAKEOVERS.labels(o["kind"], manager).inc()
                    self._event(obj, "Warning", "FieldsTakenOver", text)
                    log.warning("took fields from another manager", extra={
                        "object": f"{o['kind']}/{o['metadata']['name']}", "detail": text})  # fmt: skip
                changes.add(result.change)
                if result.action in _KIND_UPDATE_OP:
                    OBJECTS.labels(_KIND_UPDATE_OP[result.action], o["kind"]).inc()
                    if result.live is not None:
                        self._cache(res, result.live)
            if o["kind"] == "Deployment":
                deployment = result_live
        if changes.of("created", "configured"):
            applied = changes.summary("created", "configured")
            log.info("applied: %s", applied)
            self._event(obj, "Normal", "Applied", applied)

        # prune members no longer rendered (only kinds whose API is there)
        desired_keys = {(res.group_kind, ns, o["metadata"]["name"]) for res, o in desired}
        pruned = self._prune(obj, set_id, old_gks | new_gks, desired_keys)
        for change in pruned:
            changes.add(change)
        if pruned:
            names = ", ".join(c.subject for c in pruned)
            log.info("pruned: %s", names)
            self._event(obj, "Normal", "Pruned", "deleted " + names)
        if old_gks != new_gks:
            obj = self._ensure_parent(obj, aset.parent_metadata(name, ns, new_gks), add_finalizer=False)

        # status
        dep_obj = rendered.get("Deployment")
        svc = rendered.get("Service")
        if svc is not None:
            outcome.service_endpoint, outcome.url, outcome.transport = service_status(svc, ns)
            outcome.remote = dep_obj is None and is_remote(svc)
        if dep_obj is not None:
            outcome.selector = label_selector(dep_obj["spec"]["selector"]["matchLabels"])
            outcome.image = dep_obj["spec"]["template"]["spec"]["containers"][0].get("image")
        outcome.deployment = deployment
        self._verify(key, outcome)
        self._write_status(obj, outcome)
        return DONE

    def _image_unavailable(
        self, obj: dict[str, Any], message: str, retry: bool, registry: tuple[str, str, str] | None
    ) -> Result:
        """Rendered False (ImageConfigUnavailable): the image's config could not be read; tried again later."""
        meta = obj["metadata"]
        log.warning("image config unavailable: %s", message)
        dep = None
        inf = self.owned.get("Deployment.apps")
        if inf is not None:
            dep = next((d for d in inf.items(meta["namespace"]) if owner_gk(d) == meta["name"]), None)
        outcome = Outcome(generation=meta.get("generation"), image_error=message, deployment=dep, registry=registry)
        self._write_status(obj, outcome)
        return Result(requeue_after=RETRY_AFTER if retry else RETRY_AFTER_PERMANENT)

    def _terminal(self, obj: dict[str, Any], message: str, registry: tuple[str, str, str] | None = None) -> Result:
        meta = obj["metadata"]
        log.warning("spec rejected: %s", message)
        dep = None
        inf = self.owned.get("Deployment.apps")
        if inf is not None:
            for d in inf.items(meta["namespace"]):
                if owner_gk(d) == meta["name"]:
                    dep = d
        outcome = Outcome(generation=meta.get("generation"), invalid=message, deployment=dep, registry=registry)
        old_status = obj.get("status") or {}
        new = self._write_status(obj, outcome)
        if _cond(old_status, "Stalled") != _cond(new, "Stalled"):
            self._event(obj, "Warning", "InvalidSpec", message)
        raise TerminalError(message)

    def _ensure_parent(self, obj: dict[str, Any], wanted: dict[str, Any], add_finalizer: bool) -> dict[str, Any]:
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        need_fin = add_finalizer and FINALIZER not in finalizers
        if not need_fin and not aset.parent_needs_update(obj, wanted):
            return obj
        patch: dict[str, Any] = {"metadata": {**wanted, "resourceVersion": meta.get("resourceVersion")}}
        if need_fin:
            patch["metadata"]["finalizers"] = [*finalizers, FINALIZER]
        out = self.kube.merge_patch(MCPSERVER, meta["namespace"], meta["name"], patch)
        out = {**out, "apiVersion": API_VERSION, "kind": "MCPServer"}
        self.servers.upsert(out)
        return out

    def _prune(self, obj: dict[str, Any], set_id: str, gks: set[str], desired: set[tuple[str, str, str]],
               fresh: bool = False) -> list[Change]:  # fmt: skip
        meta = obj["metadata"]
        ns = meta["namespace"]
        live: list[tuple[str, dict[str, Any]]] = []
        resources: dict[str, Resource] = {}
        for gk in sorted(gks):
            res = self._resource_for_gk(gk)
            if res is None:
                continue
            resources[gk] = res
            live.extend((gk, o) for o in self._members(res, ns, set_id, fresh))
        pruned: list[Change] = []
        for gk, o in prune_candidates(live, desired, set_id, meta.get("uid")):
            m = o["metadata"]
            if self.kube.delete(resources[gk], ns, m["name"], uid=m.get("uid")):
                OBJECTS.labels("deleted", o.get("kind") or aset.split_group_kind(gk)[1]).inc()
                kind = aset.split_group_kind(gk)[1]
                pruned.append(Change("deleted", kind, m["name"], ns, o.get("apiVersion") or "", reason="pruned"))
            inf = self.owned.get(gk)
            if inf is not None:
                inf.forget(ns, m["name"])
        return pruned

    def _finalize(self, obj: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return DONE
        outcome = Outcome(generation=meta.get("generation"), terminating=True,
                          deployment=None)  # fmt: skip
        self._write_status(obj, outcome)
        set_id = aset.applyset_id(name, ns)
        gks = aset.live_group_kinds(obj) | set(self.owned)
        deleted = self._prune(obj, set_id, gks, set(), fresh=True)
        if deleted:
            self._event(obj, "Normal", "Deleting", "deleted " + ", ".join(c.subject for c in deleted))
        # wait until every member is gone (fresh reads, not the cache)
        remaining = []
        for gk in sorted(gks):
            res = self._resource_for_gk(gk)
            if res is None:
                continue
            remaining += [o for o in self._members(res, ns, set_id, fresh=True) if managed_by(o)]
        if remaining:
            return Result(requeue_after=1.0)
        finalizers = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
        patch = {"metadata": {"finalizers": finalizers or None, "resourceVersion": meta.get("resourceVersion")}}
        try:
            self.kube.merge_patch(MCPSERVER, ns, name, patch)
        except KubeError as exc:
            if exc.conflict:  # our copy is stale (status was just written): read it again and retry
                log.debug("finalizer removal conflicted; retrying with a fresh read")
                return Result(requeue_after=0.2)
            if not exc.not_found:
                raise
        self._event(obj, "Normal", "Deleted", "owned objects deleted; finalizer removed")
        self._index_refs((ns, name), set())
        self._index_registry((ns, name), None)
        if self.verifier is not None:
            self.verifier.forget((ns, name))
        log.info("finalized")
        return DONE


_catalogue: Any = None
_catalogue_lock = threading.Lock()


def _resolve_registry(name: str, version: str | None
                      ) -> tuple[Any, tuple[str, str, str], dict[str, Any] | None]:  # fmt: skip
    """The registry entry `spec.registry` names, from the embedded catalogue:
    (entry or None, RegistryFetched (status, reason, message), status.registry)."""
    global _catalogue
    from mcpop.render.catalog import AmbiguousEntry, EntryNotFound

    with _catalogue_lock:
        if _catalogue is None:
            from mcpop.sources.catalog import load_embedded

            _catalogue = load_embedded()  # shipped with mcpop: a failure here is a bug, not a bad spec
    try:
        entry = _catalogue.resolve(name, version)
    except (AmbiguousEntry, EntryNotFound) as exc:
        return None, ("False", _reason(exc), exc.message), None
    msg = f"{entry.name} {entry.version} from the embedded catalogue"
    return entry, ("True", "Fetched", msg), _entry_status(entry)


def _reason(exc: Exception) -> str:
    """The RegistryFetched reason of a failed lookup."""
    from mcpop.render.catalog import AmbiguousEntry

    return "Ambiguous" if isinstance(exc, AmbiguousEntry) else "NotFound"


def _entry_status(entry: Any) -> dict[str, Any]:
    repo = getattr(getattr(entry, "repository", None), "url", None)
    status = {"name": entry.name, "version": entry.version, "description": entry.description, "repository": repo}
    return {k: v for k, v in status.items() if v}


def _registry_ready(obj: dict[str, Any]) -> tuple[Any, ...]:
    st = obj.get("status") or {}
    return bool(st.get("lastSyncTime")), obj.get("metadata", {}).get("uid")


def _cond(status: dict[str, Any] | None, type_: str) -> tuple[str, str, str] | None:
    for c in (status or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get("status")), str(c.get("reason")), str(c.get("message", ""))
    return None
