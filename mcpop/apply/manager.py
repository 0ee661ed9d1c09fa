"""The operator process: health and metrics servers, leader election, watches, workers, signals."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from mcpop.apply.mcpserver.kinds import MCPSERVER, OWNED_KINDS
from mcpop.apply.mcpserver.reconciler import MCPServerController
from mcpop.apply.mcpserver.refs import content_hash
from mcpop.apply.runtime import metrics
from mcpop.apply.runtime.client import Kube, load_api_client
from mcpop.apply.runtime.events import EventRecorder
from mcpop.apply.runtime.health import HealthServer
from mcpop.apply.runtime.informer import Informer
from mcpop.apply.runtime.leaderelection import LeaderElector
from mcpop.apply.runtime.logs import reconcile_context
from mcpop.apply.runtime.reconciler import Key, ReconcileTimeout, TerminalError
from mcpop.apply.runtime.workqueue import ShutDown, WorkQueue
from mcpop.apply.settings import OperatorSettings, split_address

log = logging.getLogger("mcpop.manager")
REGISTRY_WORKERS = 2
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _hash_only(obj: dict[str, Any]) -> dict[str, Any]:
    """Keep only identity and a content hash of a ConfigMap/Secret (never its data)."""
    meta = obj.get("metadata") or {}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "hash": content_hash(obj),
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                         "resourceVersion": meta.get("resourceVersion")}}  # fmt: skip


class Manager:
    """Runs the MCPServer controller until stopped (SIGTERM/SIGINT, `stop()`, or leadership lost)."""

    def __init__(self, settings: OperatorSettings, kube: Kube | None = None) -> None:
        self.settings = settings
        if kube is None:
            api = load_api_client(settings.kubeconfig, pool_size=settings.concurrent_reconciles + 24)
            timeout = min(60.0, max(5.0, settings.reconcile_timeout))
            kube = Kube(api, on_request=metrics.count_request, request_timeout=timeout)
        self.kube = kube
        self.stop_event = threading.Event()
        metrics.init_controller(MCPServerController.name)
        self.queue: WorkQueue[Key] = WorkQueue(metrics=metrics.QueueMetrics(MCPServerController.name))
        self.informers: list[Informer] = []
        self.workers: list[threading.Thread] = []
        self.health: HealthServer | None = None
        self.metrics_server: Any = None
        self.elector: LeaderElector | None = None
        self.controller: MCPServerController | None = None
        self.registry_controller: Any = None
        self.registry_queue: WorkQueue[Key] = WorkQueue(metrics=metrics.QueueMetrics("mcpregistry"))
        self.exit_code = 0
        self._started = threading.Event()

    # ------------------------------------------------------------------ setup

    def _serve(self) -> None:
        addr = split_address(self.settings.health_probe_bind_address)
        if addr is not None:
            self.health = HealthServer(*addr)
            self.health.readyz["informers-synced"] = lambda: self._started.is_set() or self._standby()
            self.health.healthz["leader"] = lambda: not self.stop_event.is_set() or self.exit_code == 0
            self.health.start()
        maddr = split_address(self.settings.metrics_bind_address)
        if maddr is not None:
            self.metrics_server = metrics.start_metrics_server(*maddr)
        if self.settings.enable_profiling:
            self._start_profiling()

    def _standby(self) -> bool:
        return self.elector is not None and not self.elector.leading.is_set()

    def _start_profiling(self) -> None:
        """A diagnostics endpoint: `/debug/threads` dumps every thread's stack (like pprof's goroutines)."""
        import sys
        import traceback
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        addr = split_address(self.settings.profiling_bind_address)
        if addr is None:
            return

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                frames = sys._current_frames()
                names = {t.ident: t.name for t in threading.enumerate()}
                text = "\n".join(f"--- {names.get(i, i)}\n" + "".join(traceback.format_stack(f))
                                 for i, f in frames.items())  # fmt: skip
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        srv = ThreadingHTTPServer(addr, Handler)
        threading.Thread(target=srv.serve_forever, name="profiling", daemon=True).start()

    def _lease_namespace(self) -> str:
        if self.settings.leader_election_namespace:
            return self.settings.leader_election_namespace
        if IN_CLUSTER_NAMESPACE.exists():
            return IN_CLUSTER_NAMESPACE.read_text().strip()
        return self.settings.watch_namespace or "default"

    def _build(self) -> MCPServerController:
        ns = self.settings.watch_namespace
        servers = Informer(self.kube, MCPSERVER, namespace=ns, name="mcpservers")
        owned: dict[str, Informer] = {}
        from mcpop.apply.ssa.applyset import PART_OF_LABEL

        for kind, api_version in OWNED_KINDS.items():
            res = self.kube.resource(api_version, kind)
            if res is None:
                log.info("%s (%s) is not installed: not watched", kind, api_version)
                continue
            owned[res.group_kind] = Informer(self.kube, res, namespace=ns, label_selector=PART_OF_LABEL,
                                             name=f"owned-{res.plural}")  # fmt: skip
        refs: dict[str, Informer] = {}
        for kind in ("ConfigMap", "Secret"):
            res = self.kube.resource("v1", kind)
            if res is not None:
                refs[kind] = Informer(self.kube, res, namespace=ns, transform=_hash_only, name=f"ref-{res.plural}")
        recorder = EventRecorder(self.kube)
        # MCPRegistries (when the CRD is installed) and their stored catalogues (mcpop.apply.catalog_store)
        from mcpop.apply.catalog_store import REGISTRY_LABEL
        from mcpop.apply.mcpregistry.reconciler import MCPREGISTRY, RegistryController

        registries: Informer | None = None
        catalog_cms: Informer | None = None
        cm_res = self.kube.resource("v1", "ConfigMap")
        if self.kube.resource(MCPREGISTRY.api_version, MCPREGISTRY.kind) is not None and cm_res is not None:
            registries = Informer(self.kube, MCPREGISTRY, namespace=ns, name="mcpregistries")
            catalog_cms = Informer(self.kube, cm_res, namespace=ns, label_selector=REGISTRY_LABEL,
                                   name="registry-catalogue")  # fmt: skip
        else:
            log.info("MCPRegistry is not installed: the registry controller does not run")
        ctl = MCPServerController(self.kube, self.settings, servers, owned, refs, recorder, self.queue.add,
                                  registries=registries, catalog_configmaps=catalog_cms)  # fmt: skip
        servers.handlers.append(ctl.on_server)
        for inf in owned.values():
            inf.handlers.append(ctl.on_owned)
        for inf in refs.values():
            inf.handlers.append(ctl.on_ref)
        self.informers = [servers, *owned.values(), *refs.values()]
        if registries is not None and catalog_cms is not None:
            metrics.init_controller(RegistryController.name)
            rctl = RegistryController(self.kube, self.settings, registries, recorder, self.registry_queue.add)
            registries.handlers.append(rctl.on_registry)
            registries.handlers.append(ctl.on_registry)
            catalog_cms.handlers.append(ctl.on_catalog)
            self.informers += [registries, catalog_cms]
            self.registry_controller = rctl
        self.controller = ctl
        return ctl

    # ------------------------------------------------------------------ running

    def _worker(self, ctl: MCPServerController) -> None:
        name = ctl.name
        active = metrics.ACTIVE_WORKERS.labels(name)
        while True:
            try:
                key = self.queue.get()
            except ShutDown:
                return
            if key is None:
                continue
            if self.elector is not None and not self.elector.holds():
                # leadership lost (the manager is exiting): reconcile nothing more
                self.queue.done(key)
                continue
            active.inc()
            start = time.monotonic()
            result = "success"
            obj = ctl.servers.get(*key)
            generation = (obj or {}).get("metadata", {}).get("generation")
            with reconcile_context(f"{key[0]}/{key[1]}", generation, self.settings.enable_correlation_id):
                try:
                    res = ctl.reconcile(key)
                    self.queue.forget(key)
                    if res.requeue_after is not None:
                        result = "requeue_after"
                        self.queue.add_after(key, res.requeue_after)
                except TerminalError:
                    result = "error"
                    metrics.TERMINAL_ERRORS.labels(name).inc()
                    metrics.RECONCILE_ERRORS.labels(name).inc()
                    self.queue.forget(key)
                except Exception as exc:
                    result = "error"
                    metrics.RECONCILE_ERRORS.labels(name).inc()
                    delay_n = self.queue.num_requeues(key)
                    if isinstance(exc, ReconcileTimeout):
                        log.warning("reconcile timed out, retrying: %s", exc)
                    else:
                        log.warning("reconcile failed, retrying (attempt %d): %s", delay_n + 1, exc,
                                    exc_info=log.isEnabledFor(logging.DEBUG))  # fmt: skip
                    self.queue.add_rate_limited(key)
                finally:
                    elapsed = time.monotonic() - start
                    metrics.RECONCILE_TIME.labels(name).observe(elapsed)
                    metrics.RECONCILE_TOTAL.labels(name, result).inc()
                    active.dec()
                    self.queue.done(key)
                    log.debug("reconciled in %.3fs (%s)", elapsed, result)

    def _registry_worker(self) -> None:
        """Runs MCPRegistry syncs (they may wait out rate limits, so they have their own workers)."""
        from mcpop.apply.mcpregistry.reconciler import RegistryController

        ctl: RegistryController = self.registry_controller
        name, q = ctl.name, self.registry_queue
        active = metrics.ACTIVE_WORKERS.labels(name)
        while True:
            try:
                key = q.get()
            except ShutDown:
                return
            if key is None:
                continue
            active.inc()
            start = time.monotonic()
            result = "success"
            with reconcile_context(f"{key[0]}/{key[1]}", None, self.settings.enable_correlation_id):
                try:
                    res = ctl.reconcile(key)
                    q.forget(key)
                    if res.requeue_after is not None:
                        result = "requeue_after"
                        q.add_after(key, res.requeue_after)
                except Exception as exc:
                    result = "error"
                    metrics.RECONCILE_ERRORS.labels(name).inc()
                    log.warning("registry reconcile failed, retrying: %s", exc,
                                exc_info=log.isEnabledFor(logging.DEBUG))  # fmt: skip
                    q.add_rate_limited(key)
                finally:
                    metrics.RECONCILE_TIME.labels(name).observe(time.monotonic() - start)
                    metrics.RECONCILE_TOTAL.labels(name, result).inc()
                    active.dec()
                    q.done(key)

    def _resync(self, ctl: MCPServerController) -> None:
        while not self.stop_event.wait(self.settings.sync_period):
            for obj in ctl.servers.items():
                m = obj.get("metadata") or {}
                self.queue.add((m.get("namespace") or "", m.get("name") or ""))

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: Any) -> None:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        self._serve()
        try:
            if self.settings.leader_elect:
                self.elector = LeaderElector(
                    self.kube, self._lease_namespace(), self.settings.leader_election_id,
                    lease_duration=self.settings.lease_duration, renew_deadline=self.settings.renew_deadline,
                    retry_period=self.settings.retry_period, on_lost=self._lost,
                )  # fmt: skip
                log.info("waiting for leadership (lease %s/%s, identity %s)", self.elector.namespace,
                         self.elector.name, self.elector.identity)  # fmt: skip
                if not self.elector.run_until_leader(self.stop_event):
                    return self.exit_code
                log.info("became the leader")
                self.elector.start_renewing()
            ctl = self._build()
            for inf in self.informers:
                inf.start()
            for inf in self.informers:
                while not inf.synced.wait(0.2):
                    if self.stop_event.is_set():
                        return self.exit_code
            self._started.set()
            metrics.MAX_WORKERS.labels(ctl.name).set(self.settings.concurrent_reconciles)
            log.info("caches synced: %d MCPServers; starting %d workers", len(ctl.servers),
                     self.settings.concurrent_reconciles)  # fmt: skip
            for i in range(self.settings.concurrent_reconciles):
                t = threading.Thread(target=self._worker, args=(ctl,), name=f"worker-{i}", daemon=True)
                t.start()
                self.workers.append(t)
            if self.registry_controller is not None:
                for i in range(REGISTRY_WORKERS):
                    t = threading.Thread(target=self._registry_worker, name=f"registry-worker-{i}", daemon=True)
                    t.start()
                    self.workers.append(t)
            threading.Thread(target=self._resync, args=(ctl,), name="resync", daemon=True).start()
            self.stop_event.wait()
            return self.exit_code
        finally:
            self._shutdown()

    def _lost(self) -> None:
        self.exit_code = 1
        self.stop_event.set()

    def stop(self) -> None:
        self.stop_event.set()

    def _shutdown(self) -> None:
        """Stop taking work, let in-flight reconciles finish (bounded), stop watches, release the Lease."""
        self.stop_event.set()
        self.queue.shutdown()
        self.registry_queue.shutdown()
        if not self.queue.wait_idle(self.settings.graceful_shutdown_timeout):
            log.warning("in-flight reconciles did not finish within %ss", self.settings.graceful_shutdown_timeout)
        for inf in self.informers:
            inf.stop()
        if self.controller is not None and self.controller.recorder is not None:
            self.controller.recorder.flush(timeout=2.0)
        if self.elector is not None and self.exit_code == 0:
            self.elector.release()
        if self.health is not None:
            self.health.stop()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        log.info("stopped")


def run_operator(settings: OperatorSettings) -> int:
    """Entry point of `mcp operator run`."""
    from mcpop.apply.runtime.logs import setup_logging

    setup_logging(settings.log_level, settings.structured_logging)
    log.info("mcpop operator starting", extra={"pid": os.getpid(), "namespace": settings.watch_namespace or "*"})
    mgr = Manager(settings)
    mgr.install_signal_handlers()
    return mgr.run()
