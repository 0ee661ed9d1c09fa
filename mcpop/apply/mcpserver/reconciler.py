"""The MCPServer controller: one level-based reconcile of one MCPServer.

read (cache) → validate → render → record the ApplySet on the parent → server-side apply what differs
→ prune what is no longer rendered → write status (only when it changed). Deletion runs the finalizer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from urllib3.exceptions import HTTPError as TransportError

from mcpop import API_VERSION
from mcpop.api.duration import format_duration
from mcpop.api.mcpserver import MCPServer
from mcpop.apply.catalog_store import EntryCache, Resolved, resolve_entry
from mcpop.apply.mcpserver.identity import ClusterIdentity
from mcpop.apply.mcpserver.images import RETRY_AFTER, RETRY_AFTER_PERMANENT, ImageConfigs
from mcpop.apply.mcpserver.kinds import OWNED_KINDS, owner_gk
from mcpop.apply.mcpserver.refs import Ref, combined_hash, referenced
from mcpop.apply.mcpserver.secrets import SecretHashes
from mcpop.apply.mcpserver.status import (
    TOOLS_CHANGED,
    VERIFIED,
    Outcome,
    approved_tools,
    compute_status,
    is_remote,
    label_selector,
    rollout,
    route_accepted,
    service_status,
    tools_changed,
    verify_wait,
)
from mcpop.apply.resources import MCPSERVER, NAMESPACE, REGISTRY_LABEL, SERVICEACCOUNT, ApiError
from mcpop.apply.runtime.client import Kube
from mcpop.apply.runtime.conditions import status_patch
from mcpop.apply.runtime.events import EventRecorder
from mcpop.apply.runtime.informer import Informer
from mcpop.apply.runtime.logs import set_generation
from mcpop.apply.runtime.metrics import MCPSERVER_READY, MCPSERVER_TOOLS_CHANGED, condition_gauge, forget_object
from mcpop.apply.runtime.reconciler import DONE, Key, ReconcileTimeout, Result, TerminalError
from mcpop.apply.runtime.timefmt import parse_time
from mcpop.apply.settings import OperatorSettings, circuit_breaker
from mcpop.apply.ssa.apply import ConflictPolicy
from mcpop.apply.ssa.changeset import ChangeSet
from mcpop.apply.ssa.manager import ResourceManager, SetResult, SetTimeout, events_from, observe
from mcpop.apply.verify.verifier import Target, Verifier
from mcpop.render import RenderError, RenderOptions, render
from mcpop.render.accounts import account_refusal, existing_account
from mcpop.render.auth import external_url
from mcpop.render.names import label_value
from mcpop.render.options import Owner
from mcpop.render.podsecurity import LEVELS, Level
from mcpop.render.registry import image_configs_needed
from mcpop.render.validate import validated
from mcpop.sources.oci import ImageConfigError

log = logging.getLogger("mcpop.controller")

FINALIZER = "mcp.allbeone.io/finalizer"
#: the Pod Security admission label a namespace enforces its level with
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
#: how long a namespace's enforced level is remembered (seconds)
NAMESPACE_LEVEL_TTL = 60.0
#: `report`: leave fields another field manager owns and report the conflict (Applied=False, Stalled);
#: anything else (the default, `force`): take them back, with an event and `mcpop_field_takeovers_total`
CONFLICT_POLICY_ANNOTATION = "mcp.allbeone.io/conflict-policy"


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
        self.refs = refs  # "ConfigMap" → informer storing content hashes (Secrets: `self.secrets`, read by name)
        self.recorder = recorder
        self.enqueue = enqueue
        self._ref_index: dict[tuple[str, str, str], set[Key]] = {}
        self._refs_of: dict[Key, set[tuple[str, str, str]]] = {}
        self._lock = threading.Lock()
        #: server → (the resourceVersion its last status write was made against, that status)
        self._written: dict[Key, tuple[str, dict[str, Any]]] = {}
        #: namespace → (its enforced Pod Security level, when read)
        self._ns_levels: dict[str, tuple[Level, float]] = {}
        #: per server being deleted: why its finalizer could not delete (the FinalizerBlocked event sent)
        self._finalize_blocked: dict[Key, str] = {}
        # MCPRegistries and their stored catalogue ConfigMaps (mcpop.apply.catalog_store)
        self.registries = registries
        self.catalog_configmaps = catalog_configmaps
        self._registry_index: dict[Key, set[Key]] = {}  # (ns, registry) → MCPServers using it
        self._registry_of: dict[Key, Key] = {}
        self._entries = EntryCache(settings.cache_server_ttl, settings.cache_cleanup_interval)
        self.images = ImageConfigs(kube, plain_http=frozenset(settings.insecure_registries),
                                   timeout=settings.fetch_timeout,
                                   trusted_realms=frozenset(settings.trusted_token_realms),
                                   breaker=circuit_breaker(settings))  # fmt: skip
        #: the MCP handshakes behind the Verified condition (off the reconcile path; None: not verified)
        self.verifier = verifier
        self._operator_account = settings.operator_account()
        #: the cluster's ServiceAccount issuer (for servers with spec.auth) and the operator's handshake tokens
        self.identity = ClusterIdentity(kube, self._operator_account)
        if verifier is not None:
            verifier.token = self.identity.token
        #: referenced Secrets' content hashes, got by name and polled (the operator may not list/watch Secrets)
        self.secrets = SecretHashes(kube, self._tracked_secrets, self._secret_changed)
        #: applies each server's object set; reads live objects from the owned kinds' watch caches
        self.manager = ResourceManager(kube, caches=self.owned.get, kinds=OWNED_KINDS)

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
        if new is not None:
            self._caught_up(new)
        if kind == "MODIFIED" and old is not None and new is not None:
            om, nm = old.get("metadata") or {}, new.get("metadata") or {}
            same = all(om.get(f) == nm.get(f) for f in ("generation", "labels", "annotations", "finalizers",
                                                         "deletionTimestamp"))  # fmt: skip
            if same:
                return  # a status-only change (ours): nothing to do
        meta = obj.get("metadata") or {}
        self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def _caught_up(self, obj: dict[str, Any]) -> None:
        """The watch brought a newer version of the server than the last status write was made against: the
        cache holds that write (or a later state) now, so the copy kept for read-your-writes is dropped (one
        per server in flight, not one per server for ever)."""
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        with self._lock:
            written = self._written.get(key)
            if written is not None and written[0] != str(meta.get("resourceVersion") or ""):
                del self._written[key]

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

    def _tracked_secrets(self) -> set[tuple[str, str]]:
        with self._lock:
            return {(ns, name) for (ns, kind, name), keys in self._ref_index.items() if kind == "Secret" and keys}

    def _secret_changed(self, secret: tuple[str, str]) -> None:
        with self._lock:
            keys = set(self._ref_index.get((secret[0], "Secret", secret[1]), ()))
        for key in keys:
            self.enqueue(key)

    def _servers_of_registry(self, namespace: str, registry: str) -> set[Key]:
        with self._lock:
            return set(self._registry_index.get((namespace, registry), ()))

    def on_catalog(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """A stored catalogue entry changed: re-reconcile the MCPServers using that registry."""
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

    def _resolve(self, key: Key, name: str, version: str | None, registry_ref: str | None) -> Resolved | None:
        """The entry `spec.registry` names (`catalog_store.resolve_entry`, from the watch caches). None: the
        MCPRegistry cache has not listed yet (the caller requeues; no worker waits for it)."""
        ns = key[0]
        ref = registry_ref or "default"
        self._index_registry(key, (ns, label_value(ref)))
        if self.registries is not None and not self.registries.synced.is_set():
            return None
        robj = self.registries.get(ns, ref) if self.registries is not None else None
        cms = self.catalog_configmaps.items(ns) if robj is not None and self.catalog_configmaps is not None else []
        return resolve_entry(name, version, ref, robj, cms, self._entries)

    def _index_refs(self, key: Key, refs: set[Ref]) -> None:
        new = {(key[0], k, n) for k, n in refs}
        with self._lock:
            for ref in self._refs_of.get(key, set()) - new:
                keys = self._ref_index.get(ref)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._ref_index[ref]
            for ref in new:
                self._ref_index.setdefault(ref, set()).add(key)
            if new:
                self._refs_of[key] = new
            else:  # most servers reference nothing: no empty set kept for each
                self._refs_of.pop(key, None)

    # ------------------------------------------------------------------ helpers

    def _ref_hash(self, namespace: str, refs: set[Ref]) -> str | None:
        hashes: dict[Ref, str | None] = {}
        for kind, name in refs:
            if kind == "Secret":
                hashes[(kind, name)] = self.secrets.hash(namespace, name)
                continue
            inf = self.refs.get(kind)
            if inf is None:
                continue
            obj = inf.get(namespace, name)
            hashes[(kind, name)] = obj.get("hash") if obj else None
        return combined_hash(hashes)

    def _pod_security(self, namespace: str) -> Level:
        """The Pod Security level pods of `namespace` may have: what `--pod-security-levels` allows, lowered by
        the namespace's own `pod-security.kubernetes.io/enforce` label (a pod it rejects is refused here, with
        the field named, rather than failing in the ReplicaSet). Read (and cached a minute) only for namespaces
        allowed more than restricted."""
        allowed = self.settings.pod_security(namespace)
        if allowed == "restricted":
            return allowed
        now = time.monotonic()
        with self._lock:
            cached = self._ns_levels.get(namespace)
        if cached is not None and now - cached[1] <= NAMESPACE_LEVEL_TTL:
            enforced = cached[0]
        else:
            ns_obj = self.kube.get(NAMESPACE, None, namespace)
            label = ((ns_obj or {}).get("metadata", {}).get("labels") or {}).get(ENFORCE_LABEL, "privileged")
            enforced = next((lv for lv in LEVELS if lv == label), "restricted")  # an unknown value: the strictest
            with self._lock:
                self._ns_levels[namespace] = (enforced, now)
        return min(allowed, enforced, key=LEVELS.index)

    def _event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.record(obj, type_, reason, message)

    def _write_status(self, obj: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
        """Write the status `outcome` gives, when it differs from the live one; event the transitions.

        Read-your-writes from the write's answer, not the cache: until the watch brings our last status write,
        the cached object still has the resourceVersion it was written against, and the status written then is
        the live one (so a reconcile in between neither writes it again nor events it twice)."""
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        rv = str(meta.get("resourceVersion") or "")
        with self._lock:
            written = self._written.get(key)
            if written is not None and written[0] != rv:  # the cache has moved past it
                del self._written[key]
                written = None
        old = written[1] if written is not None else obj.get("status") or {}
        new = compute_status(outcome, old)
        condition_gauge(MCPSERVER_READY, meta["namespace"], meta["name"], new, "Ready")
        condition_gauge(MCPSERVER_TOOLS_CHANGED, meta["namespace"], meta["name"], new, TOOLS_CHANGED)
        patch = status_patch(old, new)
        if patch is None:
            return new
        try:
            self.kube.merge_patch(MCPSERVER, meta["namespace"], meta["name"], patch, "status")
        except ApiError as exc:
            if exc.not_found:
                return new
            raise
        with self._lock:
            self._written[key] = (rv, new)
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
        changed = tools_changed(old, new)
        if changed is not None:
            self._event(obj, "Normal", "ToolsChanged", changed)
        old_a, new_a = _cond(old, TOOLS_CHANGED), _cond(new, TOOLS_CHANGED)
        if new_a is not None and new_a[0] == "True" and old_a != new_a:
            self._event(obj, "Warning", "ToolsNotApproved", new_a[2])
        return new

    def _verify(self, key: Key, outcome: Outcome) -> float | None:
        """Fill in the Verified condition: the latest MCP handshake through the Service, once the Deployment
        has rolled out (a probe is started in the verifier's pool when due; this never waits for one). Returns
        the seconds after which to reconcile again when the handshake waits for the replaced pods to stop (the
        Deployment's status says when they have; this is in case it never does), else None."""
        verifier = self.verifier
        if verifier is None or not verifier.enabled:
            return None
        if outcome.remote:  # nothing runs in the cluster; the operator does not dial outside it
            outcome.verified = ("Unknown", "Remote", "a remote-only server is not verified by the operator")
            return None
        if not outcome.url or outcome.transport not in ("streamable-http", "sse"):
            outcome.verified = ("Unknown", "NoEndpoint", "the Service names no MCP endpoint to verify")
            return None
        ro = rollout(outcome.deployment)
        now = time.time()
        wait = verify_wait(ro, now)
        if wait is not None:
            outcome.verified = wait
            return max(1.0, ro.stopped_by - now) if ro.done and ro.stopped_by is not None else None
        dep = (outcome.deployment or {}).get("metadata") or {}
        target = Target(outcome.url, outcome.transport, (outcome.generation, dep.get("uid"), dep.get("generation")),
                        outcome.token_audience)  # fmt: skip
        verdict = verifier.check(key, target)
        outcome.verified = (verdict.status, verdict.reason, verdict.message)
        if verdict.status == "True":
            outcome.mcp = verdict.handshake
        return None

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, key: Key) -> Result:
        ns, name = key
        obj = self.servers.get(ns, name)
        if obj is None:
            self._forget(key)
            forget_object(MCPSERVER_READY, ns, name)
            forget_object(MCPSERVER_TOOLS_CHANGED, ns, name)
            return DONE
        obj = {**obj, "apiVersion": API_VERSION, "kind": "MCPServer"}
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return self._finalize(obj)
        deadline = time.monotonic() + self.settings.reconcile_timeout
        generation = meta.get("generation")
        set_generation(generation)

        # inputs: the validated spec, its registry entry, the referenced content, the image configs it needs
        server, invalid = validated(obj)
        if server is None:
            return self._terminal(obj, invalid)
        assert isinstance(server, MCPServer)
        account = existing_account(server.spec, name)
        if account is not None:
            refused = account_refusal(ns, account, self.kube.get(SERVICEACCOUNT, ns, account), self._operator_account)
            if refused is not None:
                return self._terminal(obj, refused)
        spec_wire = obj.get("spec") or {}
        refs = referenced(spec_wire)
        self._index_refs(key, refs)
        entry: Any = None
        registry: tuple[str, str, str] | None = None
        registry_status: dict[str, Any] | None = None
        if server.spec.registry is not None:
            sreg = server.spec.registry
            resolved = self._resolve(key, sreg.name, sreg.version, sreg.registry_ref)
            if resolved is None:
                return Result(requeue_after=1.0)  # the MCPRegistry cache has not listed yet
            entry, registry, registry_status = resolved.entry, resolved.condition, resolved.status
            if entry is None:
                return self._terminal(obj, f"spec.registry.name: {registry[2]}", registry)
        else:
            self._index_registry(key, None)
        configs: dict[str, Any] = {}
        try:
            for need in image_configs_needed(server.spec, entry):
                try:
                    configs[need.image] = self.images.resolve(ns, server.spec, need.image)
                except ImageConfigError as err:
                    return self._image_unavailable(obj, str(err), err.retry, registry)
            authenticating = server.spec.auth is not None and server.spec.auth.required
            options = RenderOptions(
                namespace=ns, owner=Owner(name=name, uid=meta["uid"]),
                enable_hpa=self.settings.enable_hpa_support, enable_vpa=self.settings.enable_vpa_support,
                enable_istio=self.settings.enable_istio_integration,
                enable_multi_tenancy=self.settings.enable_multi_tenancy,
                referenced_content_hash=self._ref_hash(ns, refs), image_configs=configs,
                pod_security=self._pod_security(ns), stdio_images=self.settings.stdio_images(),
                bridge_image=self.settings.bridge_image,
                operator_namespace=self._operator_account[0] if self._operator_account else None,
                cluster_issuer=self.identity.issuer() if authenticating else None,
                operator_subject=self.identity.subject,
            )  # fmt: skip
            rendered = render(server, registry_entry=entry, options=options)  # pure
        except RenderError as exc:  # a spec the renderer refuses; any other exception is a bug, retried, logged
            return self._terminal(obj, f"{exc.field}: {exc.message}", registry)

        # apply the set; status, events and metrics come from its change set
        policy: ConflictPolicy = (
            "report" if (meta.get("annotations") or {}).get(CONFLICT_POLICY_ANNOTATION) == "report" else "force"
        )
        try:
            changes = self.manager.apply_set(MCPSERVER, obj, rendered.objects, policy=policy, deadline=deadline,
                                             finalizer=FINALIZER)  # fmt: skip
        except SetTimeout as exc:
            raise ReconcileTimeout(f"reconcile of {ns}/{name} ran past {self.settings.reconcile_timeout}s") from exc
        self._record(changes)
        outcome = Outcome(generation=generation, changes=changes, rendered=len(rendered.objects), registry=registry,
                          registry_status=registry_status, approved=approved_tools(server),
                          token_audience=rendered.token_audience)  # fmt: skip
        dep_obj = rendered.get("Deployment")
        svc = rendered.get("Service")
        if svc is not None:
            outcome.service_endpoint, outcome.url, outcome.transport = service_status(svc, ns)
            outcome.remote = dep_obj is None and is_remote(svc)
        route = rendered.get("HTTPRoute")
        if route is not None and route_accepted(changes.object("HTTPRoute", route["metadata"]["name"])):
            outcome.external_url = external_url(server.spec, urlsplit(outcome.url or "/").path)
        if dep_obj is not None:
            outcome.selector = label_selector(dep_obj["spec"]["selector"]["matchLabels"])
            outcome.image = dep_obj["spec"]["template"]["spec"]["containers"][0].get("image")
            outcome.deployment = changes.object("Deployment", dep_obj["metadata"]["name"])
        if changes.error is not None:
            self._write_status(changes.parent, outcome)
            raise changes.error  # retried with backoff
        recheck = self._verify(key, outcome)
        self._write_status(changes.parent, outcome)
        return DONE if recheck is None else Result(requeue_after=recheck)

    def _record(self, changes: SetResult) -> None:
        """Log, count and event what applying the set did."""
        observe(changes)
        for type_, reason, message in events_from(changes):
            if type_ == "Warning":
                log.warning("%s: %s", reason, message)
            else:
                log.info("%s: %s", reason, message)
            self._event(changes.parent, type_, reason, message)

    def _forget(self, key: Key) -> None:
        """Drop what is remembered of a server that is gone (indexes, conflicts, verification)."""
        self._index_refs(key, set())
        self._index_registry(key, None)
        self.manager.forget(MCPSERVER, *key)
        with self._lock:
            self._written.pop(key, None)
            self._finalize_blocked.pop(key, None)
        if self.verifier is not None:
            self.verifier.forget(key)

    def _image_unavailable(
        self, obj: dict[str, Any], message: str, retry: bool, registry: tuple[str, str, str] | None
    ) -> Result:
        """Rendered False (ImageConfigUnavailable): the image's config could not be read; tried again later."""
        meta = obj["metadata"]
        log.warning("image config unavailable: %s", message)
        outcome = Outcome(generation=meta.get("generation"), image_error=message, deployment=self._deployment(obj),
                          registry=registry)  # fmt: skip
        self._write_status(obj, outcome)
        return Result(requeue_after=RETRY_AFTER if retry else RETRY_AFTER_PERMANENT)

    def _deployment(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The server's Deployment from the watch cache (for status when nothing was applied)."""
        meta = obj["metadata"]
        inf = self.owned.get("Deployment.apps")
        if inf is None:
            return None
        return next((d for d in inf.items(meta["namespace"]) if owner_gk(d) == meta["name"]), None)

    def _terminal(self, obj: dict[str, Any], message: str, registry: tuple[str, str, str] | None = None) -> Result:
        meta = obj["metadata"]
        log.warning("spec rejected: %s", message)
        outcome = Outcome(generation=meta.get("generation"), invalid=message, deployment=self._deployment(obj),
                          registry=registry)  # fmt: skip
        old_status = obj.get("status") or {}
        new = self._write_status(obj, outcome)
        if _cond(old_status, "Stalled") != _cond(new, "Stalled"):
            self._event(obj, "Warning", "InvalidSpec", message)
        raise TerminalError(message)

    def _finalize(self, obj: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return DONE
        self._write_status(obj, Outcome(generation=meta.get("generation"), terminating=True))
        try:
            deleted, remaining = self.manager.delete_set(MCPSERVER, obj, extra_gks=list(self.owned))
        except (ApiError, OSError, TransportError) as exc:  # 403, discovery failing: never block deletion forever
            deleted, remaining = ChangeSet(), -1
            why = f"{exc.status} {exc.reason}" if isinstance(exc, ApiError) else type(exc).__name__
            blocked = f"deleting its objects failed: {why}"
            with self._lock:
                first = self._finalize_blocked.get((ns, name)) != blocked
                self._finalize_blocked[(ns, name)] = blocked
            if first:  # once per cause, not once per retry
                self._event(obj, "Warning", "FinalizerBlocked", f"{blocked}; the finalizer is released after "
                            f"{format_duration(self.settings.finalizer_timeout)} if this persists")  # fmt: skip
        else:
            blocked = f"{remaining} owned object(s) still present"
        observe(deleted)
        if len(deleted):
            self._event(obj, "Normal", "Deleting", "deleted " + ", ".join(c.subject for c in deleted))
        released = None
        if remaining:
            since = parse_time(meta.get("deletionTimestamp"))
            waited = time.time() - since if since is not None else 0.0
            if waited < self.settings.finalizer_timeout:
                if remaining < 0:
                    log.warning("finalizer waits: %s", blocked)
                return Result(requeue_after=1.0)  # wait until every member is gone (fresh reads, not the cache)
            released = (f"{blocked} after {format_duration(self.settings.finalizer_timeout)}; the finalizer is "
                        "released and owner-referenced objects are left to garbage collection")  # fmt: skip
        finalizers = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
        patch = {"metadata": {"finalizers": finalizers or None, "resourceVersion": meta.get("resourceVersion")}}
        try:
            self.kube.merge_patch(MCPSERVER, ns, name, patch)
        except ApiError as exc:
            if exc.conflict:  # our copy is stale (status was just written): read it again and retry
                log.debug("finalizer removal conflicted; retrying with a fresh read")
                return Result(requeue_after=0.2)
            if not exc.not_found:
                raise
        if released is not None:
            self._event(obj, "Warning", "FinalizerReleased", released)
        else:
            self._event(obj, "Normal", "Deleted", "owned objects deleted; finalizer removed")
        self._forget((ns, name))
        log.info("finalized")
        return DONE


def _registry_ready(obj: dict[str, Any]) -> tuple[Any, ...]:
    st = obj.get("status") or {}
    return bool(st.get("lastSyncTime")), obj.get("metadata", {}).get("uid")


def _cond(status: dict[str, Any] | None, type_: str) -> tuple[str, str, str] | None:
    for c in (status or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get("status")), str(c.get("reason")), str(c.get("message", ""))
    return None
