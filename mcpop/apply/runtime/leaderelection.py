"""Leader election on a coordination.k8s.io/v1 Lease (client-go's algorithm).

A candidate acquires the Lease when it is free or its holder's lease expired, then renews it every
retry period; failing to renew within the renew deadline means leadership is lost, and the process
exits, as controller-runtime's manager does: a leader that was frozen (SIGSTOP, a paused VM, a long GC) for
longer than the renew deadline does not try to renew when it wakes up, since a standby may have taken the
Lease meanwhile, and `holds()` turns False at once so no further reconcile starts. On shutdown the holder
releases the Lease (empty holder, 1 s duration) so a standby takes over at once.
Expiry is measured on this process's monotonic clock from when it last saw the Lease record change
(client-go's observedTime): the other holder's `renewTime` is never compared with our clock, so a holder
whose clock is behind (or ahead) neither loses a live lease nor keeps a dead one.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from mcpop.apply.resources import Resource
from mcpop.apply.runtime.client import API_ERRORS, Kube, KubeError
from mcpop.apply.runtime.metrics import LEADER
from mcpop.apply.runtime.timefmt import micro_now

log = logging.getLogger("mcpop.leader")
LEASE = Resource("coordination.k8s.io", "v1", "Lease", "leases", True)


class LeaderElector:
    """Acquire and hold one Lease. `run_until_leader` blocks until this process leads (or stop)."""

    def __init__(self, kube: Kube, namespace: str, name: str, *, lease_duration: float = 15.0,
                 renew_deadline: float = 10.0, retry_period: float = 2.0, identity: str | None = None,
                 on_lost: Callable[[], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], str] = micro_now) -> None:  # fmt: skip
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        self.on_lost = on_lost
        #: monotonic seconds: every expiry and deadline is measured on it
        self.clock = clock
        #: the wall time written into our own acquireTime/renewTime (for humans and other tools only)
        self.wall = wall
        self.leading = threading.Event()
        self._stop = threading.Event()
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._thread: threading.Thread | None = None
        self._renewed = 0.0  # self.clock() at the last successful acquire or renew
        self._lost_lock = threading.Lock()
        self._lost = False

    # ------------------------------------------------------------------ one attempt

    def _record(self, lease: dict[str, Any] | None) -> dict[str, Any]:
        return (lease or {}).get("spec") or {}

    def try_acquire_or_renew(self) -> bool:
        """One attempt (client-go tryAcquireOrRenew). True when this process holds the Lease after it."""
        now = self.wall()
        timeout = max(1.0, min(self.renew_deadline, 10.0))
        try:
            lease: dict[str, Any] | None = self.kube.request("GET", LEASE.path(self.namespace, self.name),
                                                             timeout=timeout)  # fmt: skip
        except KubeError as exc:
            if not exc.not_found:
                raise
            lease = None
        mine = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                "acquireTime": now, "renewTime": now, "leaseTransitions": 0}  # fmt: skip
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace}, "spec": mine}  # fmt: skip
            try:
                self.kube.create(LEASE, self.namespace, body)
            except KubeError as exc:
                if exc.conflict:
                    return False
                raise
            self._observe(body)
            return True
        spec = self._record(lease)
        if self._observed is None or self._record(self._observed) != spec:
            self._observe(lease)
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity and not self._expired(spec):
            return False
        if holder == self.identity:
            mine["acquireTime"] = spec.get("acquireTime") or now
            mine["leaseTransitions"] = spec.get("leaseTransitions") or 0
        else:
            mine["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        body = {**lease, "spec": {**spec, **mine}}
        try:
            out = self.kube.request("PUT", LEASE.path(self.namespace, self.name), body=body, timeout=timeout)
        except KubeError as exc:
            if exc.conflict:
                return False
            raise
        self._observe(out)
        if holder != self.identity:
            log.info("acquired lease %s/%s (was %r)", self.namespace, self.name, holder or None)
        return True

    def _observe(self, lease: dict[str, Any]) -> None:
        """Remember the record and when (on our monotonic clock) we saw it change."""
        self._observed = lease
        self._observed_at = self.clock()

    def _expired(self, spec: dict[str, Any]) -> bool:
        """The holder has not changed the record for its lease duration, as measured by us."""
        return self._until_expiry(spec) <= 0

    def _until_expiry(self, spec: dict[str, Any] | None = None) -> float:
        spec = spec if spec is not None else self._record(self._observed)
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        return self._observed_at + duration - self.clock()

    # ------------------------------------------------------------------ loops

    def run_until_leader(self, stop: threading.Event) -> bool:
        """Block until leading (True) or `stop` is set (False)."""
        while not stop.is_set():
            try:
                if self.try_acquire_or_renew():
                    self._renewed = self.clock()
                    self.leading.set()
                    LEADER.labels(self.name).set(1)
                    return True
            except API_ERRORS as exc:
                log.warning("leader election attempt failed: %s", exc)
            # wake up right when the holder's lease runs out, or after the retry period
            stop.wait(max(0.05, min(self.retry_period, self._until_expiry() + 0.05)))
        return False

    def holds(self) -> bool:
        """This process leads and renewed the Lease within the renew deadline. Checked before each reconcile,
        so a leader that wakes from a freeze longer than that stops at once, before the renew loop notices."""
        if not self.leading.is_set() or self._lost:
            return False
        if self.clock() - self._renewed > self.renew_deadline:
            self._lose(f"not renewed within {self.renew_deadline}s")
            return False
        return True

    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="leader-renew", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.retry_period):
            if self.clock() - self._renewed > self.renew_deadline:
                # Frozen or failing for longer than the renew deadline: another replica may lead now.
                self._lose(f"not renewed within {self.renew_deadline}s")
                return
            try:
                if self.try_acquire_or_renew():
                    self._renewed = self.clock()
                    continue
                holder = self._record(self._observed).get("holderIdentity") or ""
                if holder and holder != self.identity:
                    self._lose(f"now held by {holder}")
                    return
            except API_ERRORS as exc:
                log.warning("lease renewal failed: %s", exc)
            except Exception:  # a bug: shown with its traceback; the renew deadline still applies
                log.exception("lease renewal failed unexpectedly")
            if self.clock() - self._renewed > self.renew_deadline:
                self._lose(f"not renewed within {self.renew_deadline}s")
                return

    def _lose(self, why: str) -> None:
        """Leadership is lost: stop leading (once) and tell the manager, which exits non-zero."""
        with self._lost_lock:
            if self._lost:
                return
            self._lost = True
        log.error("lost the lease %s/%s (%s): exiting", self.namespace, self.name, why)
        self.leading.clear()
        LEADER.labels(self.name).set(0)
        if self.on_lost is not None:
            self.on_lost()

    def release(self) -> None:
        """Stop renewing and give the Lease up (if still held)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.retry_period + 5)
        if not self.leading.is_set():
            return
        self.leading.clear()
        LEADER.labels(self.name).set(0)
        try:
            lease = self.kube.get(LEASE, self.namespace, self.name)
            spec = self._record(lease)
            if lease is None or spec.get("holderIdentity") != self.identity:
                return
            now = self.wall()
            body = {**lease, "spec": {**spec, "holderIdentity": "", "leaseDurationSeconds": 1,
                                      "renewTime": now, "acquireTime": now}}  # fmt: skip
            self.kube.request("PUT", LEASE.path(self.namespace, self.name), body=body)
            log.info("released lease %s/%s", self.namespace, self.name)
        except API_ERRORS as exc:
            log.warning("could not release the lease: %s", exc)
