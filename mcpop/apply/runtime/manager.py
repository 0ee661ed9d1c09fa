"""The controller manager (controller-runtime's `Manager`, small): shared informers, one worker loop for
every registered controller, leader election, health and metrics endpoints, signals and a bounded drain.

A controller is registered as a `Registration`: its name, the APIs it needs (`requires`: its CRD), a
`build(ctx)` returning the `Controller`, and its worker count. The manager builds it once its APIs are
served (at start, or later: discovery is polled while anything waits, so the operator may start before
its CRDs are installed), starts and syncs the informers it lists, then runs its workers. Every controller
gets its own work queue (with backoff and controller-runtime's metrics labelled by its name), the same
leader gate (with `--leader-elect`, controllers run only on the leader) and the same drain on shutdown.

Other long-running parts (a webhook server) are added with `add_runnable`; `leader_only=False` ones run on
every replica from the start.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpop.apply.resources import Resource
from mcpop.apply.runtime import metrics
from mcpop.apply.runtime.authn import RequestAuthorizer
from mcpop.apply.runtime.client import API_ERRORS, Kube
from mcpop.apply.runtime.events import EventRecorder
from mcpop.apply.runtime.health import HealthServer
from mcpop.apply.runtime.informer import Informer, Transform, compact
from mcpop.apply.runtime.leaderelection import LeaderElector
from mcpop.apply.runtime.profiling import ProfilingServer, start_profiling_server
from mcpop.apply.runtime.reconciler import Controller, Key, run_worker
from mcpop.apply.runtime.tls import ReloadingContext
from mcpop.apply.runtime.workqueue import WorkQueue
from mcpop.apply.settings import OperatorSettings, split_address

log = logging.getLogger("mcpop.manager")
#: how often discovery is asked again for APIs something waits for
DISCOVERY_POLL = 2.0


@dataclass(frozen=True)
class Registration:
    """A controller the manager runs once the APIs it `requires` ((apiVersion, kind) pairs) are served."""

    name: str
    build: Callable[[Context], Controller]
    requires: tuple[tuple[str, str], ...] = ()
    workers: int = 1


@dataclass
class Context:
    """What a controller's `build` gets: the client, the event recorder, its own queue's `enqueue`, and
    the manager's shared informers and discovery."""

    kube: Kube
    namespace: str | None
    recorder: EventRecorder | None
    enqueue: Callable[[Key], None]
    manager: Manager

    def informer(self, res: Resource, *, label_selector: str | None = None, transform: Transform = compact,
                 name: str | None = None, index_label: str | None = None) -> Informer:  # fmt: skip
        """The shared informer of `res` (one per resource, selector, transform and indexed label, in the watched
        namespace). Attach handlers before `build` returns; the manager starts it."""
        return self.manager.informer(res, label_selector=label_selector, transform=transform, name=name,
                                     index_label=index_label)  # fmt: skip

    def when_served(self, api_version: str, kind: str, callback: Callable[[Resource], None]) -> None:
        """Call `callback(resource)` once `kind` is served: now if it is, else when discovery finds it.
        Informers it creates are started by the manager after it returns."""
        self.manager.when_served(api_version, kind, callback)


@dataclass
class _Running:
    reg: Registration
    queue: WorkQueue[Key]
    controller: Controller | None = None
    workers: list[threading.Thread] = field(default_factory=list)


@dataclass
class _Runnable:
    name: str
    start: Callable[[threading.Event], None]
    leader_only: bool
    thread: threading.Thread | None = None


class ListenError(Exception):
    """An endpoint of the operator cannot listen on its address (taken, or not this host's)."""


@contextlib.contextmanager
def _listening(what: str, flag: str, addr: tuple[str, int]) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise ListenError(
            f"{flag}: {what} cannot listen on {addr[0] or '0.0.0.0'}:{addr[1]}: "
            f"{exc.strerror or exc} (choose another address, or stop what uses it)"
        ) from None


class Manager:
    """Runs the registered controllers until stopped (SIGTERM/SIGINT, `stop()`, or leadership lost)."""

    def __init__(self, settings: OperatorSettings, kube: Kube, *, discovery_poll: float = DISCOVERY_POLL) -> None:
        self.settings = settings
        self.kube = kube
        self.discovery_poll = discovery_poll
        self.stop_event = threading.Event()
        self.exit_code = 0
        self.recorder: EventRecorder | None = None
        self.elector: LeaderElector | None = None
        self.health: HealthServer | None = None
        self.metrics_server: Any = None
        self.profiling_server: ProfilingServer | None = None
        self._controllers: dict[str, _Running] = {}
        self._runnables: list[_Runnable] = []
        self._informers: dict[tuple[Any, ...], Informer] = {}
        self._unstarted: list[Informer] = []
        self._waiting: list[tuple[str, str, Callable[[Resource], None]]] = []
        self._lock = threading.RLock()
        self._started = threading.Event()
        self._poke = threading.Event()

    # ------------------------------------------------------------------ registering

    def add(self, reg: Registration) -> None:
        """Register a controller (before `run`)."""
        if reg.name in self._controllers:
            raise ValueError(f"controller {reg.name!r} registered twice")
        metrics.init_controller(reg.name)
        self._controllers[reg.name] = _Running(reg, WorkQueue(metrics=metrics.QueueMetrics(reg.name)))

    def add_runnable(self, name: str, start: Callable[[threading.Event], None], *, leader_only: bool) -> None:
        """Run `start(stop_event)` in its own thread (it should return soon after `stop_event` is set);
        `leader_only` ones start after leadership is acquired, the others at once on every replica."""
        self._runnables.append(_Runnable(name, start, leader_only))

    def controller(self, name: str) -> Controller | None:
        """The built controller `name` (None until its APIs are served)."""
        running = self._controllers.get(name)
        return running.controller if running is not None else None

    def queue(self, name: str) -> WorkQueue[Key]:
        return self._controllers[name].queue

    # ------------------------------------------------------------------ shared informers and discovery

    def informer(self, res: Resource, *, label_selector: str | None = None, transform: Transform = compact,
                 name: str | None = None, index_label: str | None = None) -> Informer:  # fmt: skip
        key = (res.group_kind, res.version, label_selector, transform, index_label)
        with self._lock:
            inf = self._informers.get(key)
            if inf is None:
                inf = Informer(self.kube, res, namespace=self.settings.watch_namespace, label_selector=label_selector,
                               transform=transform, name=name, indexed=self.settings.indexing_enabled,
                               index_label=index_label)  # fmt: skip
                self._informers[key] = inf
                self._unstarted.append(inf)
            return inf

    def when_served(self, api_version: str, kind: str, callback: Callable[[Resource], None]) -> None:
        res = self.kube.resource(api_version, kind)
        if res is not None:
            callback(res)
            return
        with self._lock:
            self._waiting.append((api_version, kind, callback))
        self._poke.set()

    def _start_informers(self) -> None:
        with self._lock:
            todo, self._unstarted = self._unstarted, []
        for inf in todo:
            inf.start()

    def _served(self, api_version: str, kind: str, groups: set[str] | None = None) -> Resource | None:
        """`kind` if discovery serves it now; `groups` (the served group versions) saves asking for one
        that is not there at all."""
        if groups is not None and "/" in api_version and api_version not in groups:
            return None
        return self.kube.discover(api_version, kind)

    def _group_versions(self) -> set[str]:
        """The group versions the API server serves now (one request: `/apis`)."""
        body = self.kube.request("GET", "/apis")
        return {str(v.get("groupVersion")) for g in body.get("groups") or [] for v in g.get("versions") or []}

    def _poll_discovery(self) -> None:
        """Build controllers and run callbacks whose APIs appeared; keep polling while any waits."""
        while not self.stop_event.is_set():
            self._poke.wait(self.discovery_poll)
            self._poke.clear()
            if self.stop_event.is_set():
                return
            try:
                self._discover_once()
            except API_ERRORS as exc:  # the apiserver restarting: try again next poll
                log.warning("discovery failed: %s", exc)
            except Exception:  # a bug (in a controller's build): shown with its traceback; keep polling
                log.exception("starting a controller failed")

    def _discover_once(self) -> None:
        if not self._pending():
            return
        groups = self._group_versions()
        with self._lock:
            waiting = list(self._waiting)
        for item in waiting:
            api_version, kind, callback = item
            res = self._served(api_version, kind, groups)
            if res is None:
                continue
            with self._lock:
                self._waiting.remove(item)
            log.info("%s (%s) is served now", kind, api_version)
            callback(res)
            self._start_informers()
        for running in list(self._controllers.values()):
            if running.controller is None and self._requirements_met(running.reg, groups):
                log.info("the APIs of controller %s are served now: starting it", running.reg.name)
                self._start_controller(running)

    def _pending(self) -> bool:
        with self._lock:
            return bool(self._waiting) or any(r.controller is None for r in self._controllers.values())

    def _requirements_met(self, reg: Registration, groups: set[str] | None = None) -> bool:
        """All of `reg.requires` is served (asked anew when `groups`, the served group versions, is given)."""
        for api_version, kind in reg.requires:
            found = (
                self._served(api_version, kind, groups) if groups is not None else self.kube.resource(api_version, kind)
            )
            if found is None:
                return False
        return True

    # ------------------------------------------------------------------ controllers

    def _context(self, running: _Running) -> Context:
        return Context(self.kube, self.settings.watch_namespace, self.recorder, running.queue.add, self)

    def _start_controller(self, running: _Running) -> bool:
        """Build, sync its informers, start its workers. False when stopped while syncing."""
        reg = running.reg
        ctl = reg.build(self._context(running))
        self._start_informers()
        for inf in ctl.informers():
            if not inf.started:
                inf.start()
            while not inf.synced.wait(0.2):
                if self.stop_event.is_set():
                    return False
        running.controller = ctl
        metrics.MAX_WORKERS.labels(reg.name).set(reg.workers)
        gate = self._holds
        for i in range(reg.workers):
            t = threading.Thread(target=run_worker, args=(ctl, running.queue),
                                 kwargs={"gate": gate, "correlation": self.settings.enable_correlation_id},
                                 name=f"{reg.name}-worker-{i}", daemon=True)  # fmt: skip
            t.start()
            running.workers.append(t)
        log.info("controller %s started (%d workers)", reg.name, reg.workers)
        return True

    def _holds(self) -> bool:
        return self.elector is None or self.elector.holds()

    def _resync(self) -> None:
        while not self.stop_event.wait(self.settings.sync_period):
            for running in list(self._controllers.values()):
                ctl = running.controller
                if ctl is None:
                    continue
                for key in ctl.resync():
                    running.queue.add(key)

    # ------------------------------------------------------------------ serving

    def _serve(self) -> None:
        """Start the health, metrics and profiling endpoints; `ListenError` when one cannot listen."""
        addr = split_address(self.settings.health_probe_bind_address)
        if addr is not None:
            with _listening("the health probes", "--health-probe-bind-address", addr):
                self.health = HealthServer(*addr)
            self.health.readyz["informers-synced"] = lambda: self._started.is_set() or self._standby()
            self.health.healthz["leader"] = lambda: not self.stop_event.is_set() or self.exit_code == 0
            self.health.start()
        maddr = split_address(self.settings.metrics_bind_address)
        if maddr is not None:
            tls, authorize = None, None
            if self.settings.metrics_secure:
                if not self.settings.metrics_cert_dir:
                    raise ValueError("--metrics-secure needs --metrics-cert-dir (mcpop.apply.manager makes one)")
                tls = ReloadingContext(Path(self.settings.metrics_cert_dir), self.settings.webhook_tls_min_version,
                                       self.settings.webhook_cipher_suites)  # fmt: skip
                authorize = RequestAuthorizer(self.kube)
            with _listening("the metrics", "--metrics-bind-address", maddr):
                self.metrics_server = metrics.start_metrics_server(*maddr, tls=tls, authorize=authorize)
        if self.settings.enable_profiling:
            self._start_profiling()

    def _standby(self) -> bool:
        return self.elector is not None and not self.elector.leading.is_set()

    def _start_profiling(self) -> None:
        """pprof's Python equivalents (mcpop.apply.runtime.profiling) on --profiling-bind-address."""
        addr = split_address(self.settings.profiling_bind_address)
        if addr is None:
            return
        with _listening("the profiling endpoint", "--profiling-bind-address", addr):
            self.profiling_server = start_profiling_server(*addr, allow_remote=self.settings.profiling_allow_remote)
        log.info("profiling endpoint on %s:%s (/debug/pprof/)", *self.profiling_server.server_address[:2])

    def _start_runnables(self, leader_only: bool) -> None:
        for r in self._runnables:
            if r.leader_only == leader_only and r.thread is None:
                r.thread = threading.Thread(target=r.start, args=(self.stop_event,), name=r.name, daemon=True)
                r.thread.start()

    # ------------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: Any) -> None:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            self.stop_event.set()
            self._poke.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        self._serve()
        try:
            self._start_runnables(leader_only=False)
            if self.settings.leader_elect:
                self.elector = LeaderElector(
                    self.kube, self.settings.own_namespace(), self.settings.leader_election_id,
                    lease_duration=self.settings.lease_duration, renew_deadline=self.settings.renew_deadline,
                    retry_period=self.settings.retry_period, on_lost=self._lost,
                )  # fmt: skip
                log.info("waiting for leadership (lease %s/%s, identity %s)", self.elector.namespace,
                         self.elector.name, self.elector.identity)  # fmt: skip
                if not self.elector.run_until_leader(self.stop_event):
                    return self.exit_code
                log.info("became the leader")
                self.elector.start_renewing()
            self.recorder = EventRecorder(self.kube)
            for running in list(self._controllers.values()):
                try:
                    met = self._requirements_met(running.reg)
                except API_ERRORS as exc:
                    log.warning("cannot ask the API server whether %s is served (%s): retrying",
                                running.reg.name, exc)  # fmt: skip
                    continue
                if not met:
                    missing = ", ".join(f"{k} ({v})" for v, k in running.reg.requires
                                        if self.kube.resource(v, k) is None)  # fmt: skip
                    log.info("controller %s waits for %s to be served", running.reg.name, missing)
                    continue
                try:
                    if not self._start_controller(running):
                        return self.exit_code
                except API_ERRORS as exc:  # an API server blip while building: the discovery poll retries
                    log.warning("controller %s could not start (%s): retrying", running.reg.name, exc)
            self._start_runnables(leader_only=True)
            self._started.set()
            threading.Thread(target=self._poll_discovery, name="discovery", daemon=True).start()
            threading.Thread(target=self._resync, name="resync", daemon=True).start()
            self.stop_event.wait()
            return self.exit_code
        finally:
            self._shutdown()

    def _lost(self) -> None:
        self.exit_code = 1
        self.stop_event.set()
        self._poke.set()

    def stop(self) -> None:
        self.stop_event.set()
        self._poke.set()

    def _shutdown(self) -> None:
        """Stop taking work, let in-flight reconciles finish (bounded), stop watches, release the Lease."""
        self.stop_event.set()
        self._poke.set()
        for running in self._controllers.values():
            running.queue.shutdown()
        deadline = time.monotonic() + self.settings.graceful_shutdown_timeout
        for running in self._controllers.values():
            if not running.queue.wait_idle(max(0.0, deadline - time.monotonic())):
                log.warning("in-flight reconciles of %s did not finish within %ss", running.reg.name,
                            self.settings.graceful_shutdown_timeout)  # fmt: skip
        for r in self._runnables:
            if r.thread is not None:
                r.thread.join(max(0.1, deadline - time.monotonic()))
        with self._lock:
            informers = list(self._informers.values())
        for inf in informers:
            inf.stop()
        if self.recorder is not None:
            self.recorder.flush(timeout=2.0)
        if self.elector is not None and self.exit_code == 0:
            self.elector.release()
        if self.health is not None:
            self.health.stop()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        if self.profiling_server is not None:
            self.profiling_server.stop()
        log.info("stopped")
