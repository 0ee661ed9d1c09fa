"""The MCPRegistry controller: sync a registry's source into ConfigMaps (see catalog_store) and report.

A registry is synced when it is first seen (unless its status shows a sync within `refreshInterval`), when
its generation changes, when the `mcp.allbeone.io/refresh-requested` annotation changes (`mcp registry
refresh`), and every `refreshInterval`. A sync that fails (unreachable, rate limited, bad credentials, a
failed page) keeps the stored catalogue untouched and says why in the conditions; Ready stays True as long
as a good catalogue is stored. Periodic and on-demand syncs of the official API are incremental
(`updated_since`) once a full sync ran in this process; a spec change syncs in full.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from mcpop import API_VERSION
from mcpop.api.duration import format_duration, parse_duration
from mcpop.api.mcpregistry import MCPRegistry
from mcpop.apply import catalog_store
from mcpop.apply.resources import MCPREGISTRY, REFRESH_ANNOTATION, SECRET
from mcpop.apply.runtime.client import Kube, KubeError
from mcpop.apply.runtime.conditions import Cond, merge_conditions, status_patch
from mcpop.apply.runtime.events import EventRecorder
from mcpop.apply.runtime.informer import Informer
from mcpop.apply.runtime.metrics import REGISTRY_SYNCED, CacheMetrics, condition_gauge, forget_object
from mcpop.apply.runtime.reconciler import DONE, Key, Result
from mcpop.apply.runtime.timefmt import micro_now, parse_time
from mcpop.apply.settings import OperatorSettings, circuit_breaker, github_retry, sync_limits
from mcpop.errors import McpopError
from mcpop.sources.github import DEFAULT_API, GitHubCache
from mcpop.sources.http import HttpClient, HttpResponse, NetworkError, UrllibClient
from mcpop.sources.retry import MalformedResponse, RateLimitError, RetryPolicy, SourceError, check_response
from mcpop.sources.sync import SyncResult, failed, source_key, sync

log = logging.getLogger("mcpop.registry")

GITHUB_API_ENV = "MCPOP_GITHUB_API_URL"
MAX_SERVERS = 100
#: a failed sync is retried after at most this long (or the refresh interval, if shorter)
FAILED_RETRY = 60.0
REGISTRY_CONDITIONS = ("Ready", "Synced", "Reachable", "RateLimited", "AuthFailed")
#: a retry wait up to this long is slept inside the sync; a longer one (a rate limit: up to an hour) ends the
#: sync as failed and requeues the registry after the wait, so no worker is held
MAX_INLINE_WAIT = 5.0


class RetryDeferred(McpopError):
    """A retry wait too long to sleep in a worker: the sync stops and is requeued after `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry deferred by {seconds:.0f}s")
        self.seconds = seconds


class _Recording:
    """An `HttpClient` remembering the last response or network error (what a deferred retry waits for)."""

    def __init__(self, inner: HttpClient) -> None:
        self.inner = inner
        self.last: HttpResponse | NetworkError | None = None

    def get(self, url: str, headers: Any = None) -> HttpResponse:
        try:
            resp = self.inner.get(url, headers=headers)
        except NetworkError as exc:
            self.last = exc
            raise
        self.last = resp
        return resp

    def error(self, clock: Callable[[], float]) -> SourceError | NetworkError:
        """The error the deferred retry was for."""
        last = self.last
        if isinstance(last, NetworkError):
            return last
        if last is None:
            return SourceError("the source did not answer")
        try:
            check_response(last, clock)
        except SourceError as exc:
            return exc
        return MalformedResponse(f"GET {last.url}: the response was not what the API promises")


def summaries(result: SyncResult) -> list[dict[str, Any]]:
    """The bounded server list of the status (first MAX_SERVERS by name and version)."""
    out = []
    for e in sorted(result.entries, key=lambda e: (e.name, e.version))[:MAX_SERVERS]:
        item = {"name": e.name, "version": e.version, "description": e.description}
        out.append({k: v for k, v in item.items() if v})
    return out


def registry_status(
    result: SyncResult | None,
    old: dict[str, Any] | None,
    generation: int | None,
    *,
    now: str,
    sync_time: str | None = None,
    invalid_spec: str | None = None,
) -> dict[str, Any]:
    """The MCPRegistry status after a sync (`result`), given the live status `old`. Pure.

    `sync_time` is the time of this sync when it succeeded. Without a successful sync now, the previous
    lastSyncTime, serversDiscovered and server list stay (the stored catalogue is kept).
    """
    old = old or {}
    conds: list[Cond] = []
    had_catalogue = bool(old.get("lastSyncTime"))
    status: dict[str, Any] = {"observedGeneration": generation}
    if invalid_spec is not None:
        conds.append(Cond("Synced", "False", "InvalidSpec", invalid_spec))
        ready = had_catalogue
        conds.append(
            Cond("Ready", "True", "StaleCatalogue", f"keeping the last catalogue; the spec is invalid: {invalid_spec}")
            if ready
            else Cond("Ready", "False", "InvalidSpec", invalid_spec)
        )
        phase = "Ready" if ready else "Failed"
        for k in ("serversDiscovered", "lastSyncTime", "servers"):
            if k in old:
                status[k] = old[k]
    else:
        assert result is not None
        if result.ok:
            n = len(result.entries)
            msg = f"{n} server entr{'y' if n == 1 else 'ies'} stored"
            if result.invalid:
                msg += f"; {len(result.invalid)} invalid skipped: " + "; ".join(str(i) for i in result.invalid)
            if result.incremental:
                msg += " (incremental)"
            conds.append(Cond("Synced", "True", "Synced", msg))
            conds.append(Cond("Ready", "True", "Ready", f"{n} servers in the catalogue"))
            status["serversDiscovered"] = n
            status["lastSyncTime"] = sync_time or now
            status["servers"] = summaries(result)
            phase = "Ready"
        else:
            err = result.error or "sync failed"
            reason = (
                "AuthFailed" if result.auth_failed else
                "RateLimited" if result.rate_limited else
                "CircuitOpen" if result.circuit_open else
                "Unreachable" if not result.reachable else "SyncFailed"
            )  # fmt: skip
            conds.append(Cond("Synced", "False", reason, err))
            if had_catalogue:
                stale = f"serving the catalogue of {old.get('lastSyncTime')}; the last sync failed: {err}"
                conds.append(Cond("Ready", "True", "StaleCatalogue", stale))
                phase = "Ready"
            else:
                conds.append(Cond("Ready", "False", reason, f"no catalogue yet: {err}"))
                phase = "Failed"
            for k in ("serversDiscovered", "lastSyncTime", "servers"):
                if k in old:
                    status[k] = old[k]
        if result.reachable:
            conds.append(Cond("Reachable", "True", "Reachable", "the source answered"))
        else:
            conds.append(
                Cond(
                    "Reachable",
                    "False",
                    "CircuitOpen" if result.circuit_open else "Unreachable",
                    result.error or "the source did not answer",
                )
            )
        if result.rate_limited:
            conds.append(Cond("RateLimited", "True", "RateLimited", result.error or "rate limited"))
        elif result.rate_limit_hit:
            conds.append(Cond("RateLimited", "True", "RateLimitWaited",
                              "a rate limit was hit and waited out during the last sync"))  # fmt: skip
        else:
            conds.append(Cond("RateLimited", "False", "NotRateLimited", ""))
        if result.auth_failed:
            conds.append(Cond("AuthFailed", "True", "AuthFailed", result.error or "authentication failed"))
        else:
            conds.append(Cond("AuthFailed", "False", "Authenticated", ""))
    status["phase"] = phase
    order = {t: i for i, t in enumerate(REGISTRY_CONDITIONS)}
    conds.sort(key=lambda c: order.get(c.type, 99))
    status["conditions"] = merge_conditions(old.get("conditions"), conds, generation, now, REGISTRY_CONDITIONS)
    return {k: v for k, v in status.items() if v is not None}


class _MissingRef(McpopError):
    """A Secret or ConfigMap the spec names is not there (a failed sync, not a failed reconcile)."""

    def __init__(self, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.auth = auth


@dataclass
class _State:
    uid: str
    generation: int | None
    refresh: str | None
    next_sync: float
    result: SyncResult | None = None
    invalid_reported: str = ""


class RegistryController:
    """Reconciles MCPRegistries. `client`, `clock` and `sleep` are injectable (tests)."""

    name = "mcpregistry"

    def __init__(self, kube: Kube | None, settings: OperatorSettings, registries: Informer | None,
                 recorder: EventRecorder | None, enqueue: Callable[[Key], None], *,
                 client: HttpClient | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, github_api: str | None = None,
                 max_inline_wait: float = MAX_INLINE_WAIT) -> None:  # fmt: skip
        self.kube = kube
        self.settings = settings
        self.registries = registries
        self.recorder = recorder
        self.enqueue = enqueue
        self.client: HttpClient = client or UrllibClient(
            timeout=settings.fetch_timeout, breaker=circuit_breaker(settings)
        )
        self.clock = clock
        self.sleep = sleep
        self.max_inline_wait = max_inline_wait
        self.github_api = github_api or os.environ.get(GITHUB_API_ENV) or DEFAULT_API
        self._state: dict[Key, _State] = {}
        #: ETag caches per registry, so an unchanged GitHub repository costs no rate limit
        #: (created, cache): a cache older than --cache-registry-ttl is replaced by an empty one (a full fetch)
        self._github_caches: dict[Key, tuple[float, GitHubCache]] = {}
        self._lock = threading.Lock()
        #: mcpop_cache_*{cache="registry"}: the entries of all the listing caches
        self.cache_metrics = CacheMetrics("registry")

    def _github_cache(self, key: Key) -> GitHubCache:
        """The registry's listing cache (the lock is held), fresh once older than --cache-registry-ttl."""
        now = time.monotonic()
        held = self._github_caches.get(key)
        if held is None or now - held[0] >= self.settings.cache_registry_ttl:
            if held is not None:
                self.cache_metrics.evicted(len(held[1]))
            held = (now, GitHubCache())
            self._github_caches[key] = held
            self._cache_size()
        return held[1]

    def _cache_size(self) -> None:
        """Set the registry cache's size (the lock is held)."""
        self.cache_metrics.size(sum(len(c) for _, c in self._github_caches.values()))

    def cached_sync(self, key: Key, spec: Any, previous: SyncResult | None, incremental: bool
                    ) -> tuple[SyncResult, float | None]:  # fmt: skip
        """`sync_step` of registry `key` with its listing cache, counted in mcpop_cache_*{cache="registry"}."""
        with self._lock:
            cache = self._github_cache(key)
        hits, misses = cache.hits, cache.misses
        try:
            return self.sync_step(key[0], spec, previous, incremental, cache, max_wait=self.max_inline_wait)
        finally:
            self.cache_metrics.hit(cache.hits - hits)
            self.cache_metrics.miss(cache.misses - misses)
            with self._lock:
                self._cache_size()

    def drop_cache(self, key: Key) -> None:
        """Forget registry `key`'s listing cache (the registry is gone)."""
        with self._lock:
            gone = self._github_caches.pop(key, None)
            if gone is not None:
                self.cache_metrics.evicted(len(gone[1]))
                self._cache_size()

    # ------------------------------------------------------------------ the Controller protocol

    def informers(self) -> list[Informer]:
        return [self.registries] if self.registries is not None else []

    def resync(self) -> list[Key]:
        return self.registries.list_keys() if self.registries is not None else []

    # ------------------------------------------------------------------ events

    def on_registry(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        assert obj is not None
        if kind == "MODIFIED" and old is not None and new is not None:
            om, nm = old.get("metadata") or {}, new.get("metadata") or {}
            if om.get("generation") == nm.get("generation") and (om.get("annotations") or {}).get(
                REFRESH_ANNOTATION
            ) == (nm.get("annotations") or {}).get(REFRESH_ANNOTATION):
                return  # status or unrelated metadata: nothing to sync
        meta = obj.get("metadata") or {}
        self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    # ------------------------------------------------------------------ sync step

    def _token(self, namespace: str, spec: Any) -> str | None:
        if spec.auth is None or self.kube is None:
            return None
        ref = spec.auth.secret_ref
        secret = self.kube.get(SECRET, namespace, ref.name)
        if secret is None:
            raise _MissingRef(f"Secret {ref.name} (auth.secretRef) not found", auth=True)
        raw = (secret.get("data") or {}).get(ref.key)
        if raw is None:
            raw_str = (secret.get("stringData") or {}).get(ref.key)
            if raw_str is None:
                raise _MissingRef(f"Secret {ref.name} has no key {ref.key!r} (auth.secretRef)", auth=True)
            return str(raw_str).strip()
        return base64.b64decode(raw).decode().strip()

    def _configmap_data(self, namespace: str, spec: Any) -> dict[str, str] | None:
        src = spec.source
        if src is None or src.config_map is None or self.kube is None:
            return None
        cm = self.kube.get(catalog_store.CONFIGMAP, namespace, src.config_map.name)
        if cm is None:
            raise _MissingRef(f"ConfigMap {src.config_map.name} (source.configMap) not found")
        return dict(cm.get("data") or {})

    def run_sync(self, namespace: str, spec: Any, previous: SyncResult | None, incremental: bool,
                 github_cache: GitHubCache | None = None) -> SyncResult:  # fmt: skip
        """One sync of `spec`'s source (credentials and ConfigMap data read from the cluster), sleeping
        every retry wait. Never raises for source problems; a missing Secret or ConfigMap is a failed sync."""
        return self.sync_step(namespace, spec, previous, incremental, github_cache)[0]

    def sync_step(self, namespace: str, spec: Any, previous: SyncResult | None, incremental: bool,
                  github_cache: GitHubCache | None = None, max_wait: float | None = None
                  ) -> tuple[SyncResult, float | None]:  # fmt: skip
        """`run_sync`, except that a retry wait longer than `max_wait` is not slept: the sync ends as failed
        and the wait comes back as the second item (when to try again)."""
        key = source_key(spec)
        try:
            token = self._token(namespace, spec)
            data = self._configmap_data(namespace, spec)
        except _MissingRef as exc:
            res = failed(previous, key, exc)
            res.auth_failed = exc.auth
            return res, None
        client = _Recording(self.client)

        def sleep(seconds: float) -> None:
            if max_wait is not None and seconds > max_wait:
                raise RetryDeferred(seconds)
            self.sleep(seconds)

        policy = RetryPolicy(github_retry(self.settings), sleep=sleep, clock=self.clock)
        try:
            result = sync(spec, client, previous, policy=policy, token=token, configmap_data=data,
                          github_api=self.github_api, github_cache=github_cache, incremental=incremental,
                          clock=self.clock, limits=sync_limits(self.settings))  # fmt: skip
        except RetryDeferred as deferred:
            err = client.error(self.clock)
            res = failed(previous, key, err, rate_limit_hit=isinstance(err, RateLimitError))
            res.error = f"{res.error}; retrying in {format_duration(deferred.seconds)}"
            return res, deferred.seconds
        return result, None

    # ------------------------------------------------------------------ reconcile

    def _event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.record(obj, type_, reason, message)

    def _write_status(self, obj: dict[str, Any], new: dict[str, Any]) -> None:
        assert self.kube is not None
        old = obj.get("status") or {}
        meta = obj["metadata"]
        condition_gauge(REGISTRY_SYNCED, meta["namespace"], meta["name"], new, "Synced")
        patch = status_patch(old, new)
        if patch is None:
            return
        try:
            # its watch event tells the MCPServer controller, which re-resolves the servers waiting for it
            self.kube.merge_patch(MCPREGISTRY, meta["namespace"], meta["name"], patch, "status")
        except KubeError as exc:
            if exc.not_found:
                return
            raise

    def reconcile(self, key: Key) -> Result:

        assert self.kube is not None and self.registries is not None
        ns, name = key
        obj = self.registries.get(ns, name)
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            with self._lock:
                self._state.pop(key, None)
            self.drop_cache(key)
            forget_object(REGISTRY_SYNCED, ns, name)
            return DONE  # the stored ConfigMaps are owned by the registry: garbage-collected with it
        obj = {**obj, "apiVersion": API_VERSION, "kind": "MCPRegistry"}
        meta = obj["metadata"]
        generation = meta.get("generation")
        refresh = (meta.get("annotations") or {}).get(REFRESH_ANNOTATION)
        old_status = obj.get("status") or {}
        now = self.clock()
        try:
            reg = MCPRegistry.model_validate(obj)
        except ValidationError as exc:
            msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            self._write_status(obj, registry_status(None, old_status, generation, now=micro_now(self.clock),
                                                    invalid_spec=msg))  # fmt: skip
            return DONE
        spec = reg.spec
        interval = max(1.0, parse_duration(spec.refresh_interval))
        with self._lock:
            state = self._state.get(key)
            if state is not None and state.uid != meta.get("uid"):
                state = None
        full = True
        if state is None:
            last = parse_time(old_status.get("lastSyncTime"))
            up_to_date = old_status.get("observedGeneration") == generation and last is not None
            if up_to_date and last is not None and last + interval > now:
                # synced recently (before a restart): wait for the next interval
                state = _State(meta.get("uid") or "", generation, refresh, last + interval)
                with self._lock:
                    self._state[key] = state
                return Result(requeue_after=max(0.5, state.next_sync - now))
            due = True
        else:
            due = state.generation != generation or state.refresh != refresh or now >= state.next_sync
            full = state.generation != generation
            if not due:
                return Result(requeue_after=max(0.5, state.next_sync - now))

        previous = state.result if state is not None else None
        incremental = not full and previous is not None and previous.ok
        log.info("syncing", extra={"registry": f"{ns}/{name}", "source": source_key(spec),
                                   "incremental": incremental})  # fmt: skip
        started = micro_now(self.clock)
        result, deferred = self.cached_sync(key, spec, previous, incremental)
        if result.ok:
            changes = catalog_store.store(self.kube, obj, result.entries)
            changed = len(changes.of("created", "configured"))
            unchanged, deleted = len(changes.of("unchanged")), len(changes.of("deleted"))
            log.info("catalogue stored", extra={"registry": f"{ns}/{name}", "entries": len(result.entries),
                                                "changed": changed, "unchanged": unchanged,
                                                "deleted": deleted})  # fmt: skip
            if changed or deleted:
                self._event(obj, "Normal", "Synced",
                            f"{len(result.entries)} entries: {changed} written, {deleted} deleted")  # fmt: skip
        else:
            log.warning("sync failed, keeping the last catalogue", extra={"registry": f"{ns}/{name}",
                                                                          "error": result.error})  # fmt: skip
            old_synced: dict[str, Any] = next(
                (c for c in old_status.get("conditions") or [] if c.get("type") == "Synced"), {}
            )
            if old_synced.get("status") != "False" or old_synced.get("message") != result.error:
                self._event(obj, "Warning", "SyncFailed", result.error or "sync failed")
        invalid_text = "; ".join(str(i) for i in result.invalid) if result.ok else ""
        prev_invalid = state.invalid_reported if state is not None else ""
        if invalid_text and invalid_text != prev_invalid:
            self._event(
                obj, "Warning", "InvalidEntries", f"{len(result.invalid)} invalid entries skipped: {invalid_text}"
            )
        new_status = registry_status(result, old_status, generation, now=micro_now(self.clock),
                                     sync_time=started)  # fmt: skip
        self._write_status(obj, new_status)
        delay = interval if result.ok else deferred if deferred is not None else min(interval, FAILED_RETRY)
        keep = result if result.ok else (previous if previous is not None else None)
        with self._lock:
            self._state[key] = _State(meta.get("uid") or "", generation, refresh, self.clock() + delay, keep,
                                      invalid_text if result.ok else prev_invalid)  # fmt: skip
        return Result(requeue_after=delay)


__all__ = [
    "GITHUB_API_ENV",
    "MCPREGISTRY",
    "REFRESH_ANNOTATION",
    "RegistryController",
    "registry_status",
]
