"""Leader election's expiry, on a fake monotonic clock: measured only from this process's own observations
of the Lease record, never from the other holder's `renewTime`."""

from __future__ import annotations

import copy
from typing import Any

from mcpop.apply.runtime.client import KubeError
from mcpop.apply.runtime.leaderelection import LeaderElector


class Leases:
    """The Lease API as the elector uses it: GET, PUT with resourceVersion checks, create."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.rv = 0

    def request(self, method: str, path: str, query: Any = (), body: Any = None, **_: Any) -> dict[str, Any]:
        if method == "GET":
            if self.lease is None:
                raise KubeError(404, "NotFound", method=method, path=path)
            return copy.deepcopy(self.lease)
        assert method == "PUT" and self.lease is not None
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise KubeError(409, "Conflict", method=method, path=path)
        return self._store(body)

    def create(self, res: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.lease is not None:
            raise KubeError(409, "AlreadyExists")
        return self._store(body)

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self.rv)
        self.lease = body
        return copy.deepcopy(body)

    def holder_writes(self, holder: str, renew_time: str) -> None:
        """The other holder renews (its own clock gives renewTime)."""
        assert self.lease is not None
        spec = {**self.lease["spec"], "holderIdentity": holder, "renewTime": renew_time, "leaseDurationSeconds": 15}
        self._store({**self.lease, "spec": spec})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(leases: Leases, clock: Clock, identity: str, wall: str = "2030-01-01T00:00:00.000000Z") -> LeaderElector:
    return LeaderElector(leases, "ns", "lease", identity=identity, clock=clock, wall=lambda: wall)  # type: ignore[arg-type]


def held_by_other(renew_time: str) -> tuple[Leases, Clock]:
    leases, clock = Leases(), Clock()
    spec = {"holderIdentity": "other", "leaseDurationSeconds": 15, "renewTime": renew_time}
    leases.lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": "lease", "namespace": "ns", "resourceVersion": "0"}, "spec": spec}  # fmt: skip
    return leases, clock


def test_a_live_holder_whose_clock_is_behind_keeps_its_lease() -> None:
    leases, clock = held_by_other("1999-01-01T00:00:00.000000Z")  # decades behind our wall clock
    me = elector(leases, clock, "me")
    for i in range(20):  # the holder renews every 2 s, always writing its (wrong) time
        assert not me.try_acquire_or_renew()
        clock.now += 2
        leases.holder_writes("other", f"1999-01-01T00:00:{i:02d}.000000Z")
    assert leases.lease is not None and leases.lease["spec"]["holderIdentity"] == "other"


def test_a_holder_that_stops_renewing_loses_it_after_the_lease_duration_of_our_clock() -> None:
    leases, clock = held_by_other("2999-01-01T00:00:00.000000Z")  # a renewTime far in the future
    me = elector(leases, clock, "me")
    assert not me.try_acquire_or_renew()  # first seen now: valid for 15 s from now
    clock.now += 14.9
    assert not me.try_acquire_or_renew()
    clock.now += 0.2
    assert me.try_acquire_or_renew()
    assert leases.lease is not None and leases.lease["spec"]["holderIdentity"] == "me"
    assert leases.lease["spec"]["leaseTransitions"] == 1


def test_a_stale_renew_time_seen_for_the_first_time_is_not_expired_at_once() -> None:
    leases, clock = held_by_other("2000-01-01T00:00:00.000000Z")
    me = elector(leases, clock, "me", wall="2030-01-01T00:00:00.000000Z")
    assert not me.try_acquire_or_renew()  # no trust in the old renewTime: we wait our own 15 s
    clock.now += 15.1
    assert me.try_acquire_or_renew()


def test_every_change_of_the_record_restarts_the_expiry() -> None:
    leases, clock = held_by_other("2030-01-01T00:00:00.000000Z")
    me = elector(leases, clock, "me")
    assert not me.try_acquire_or_renew()
    clock.now += 10
    leases.holder_writes("other", "2030-01-01T00:00:10.000000Z")
    assert not me.try_acquire_or_renew()
    clock.now += 10  # 20 s since first seen, 10 s since the last change
    assert not me.try_acquire_or_renew()
    clock.now += 5.1
    assert me.try_acquire_or_renew()


def test_holds_turns_false_past_the_renew_deadline_on_the_monotonic_clock() -> None:
    leases, clock = Leases(), Clock()
    me = elector(leases, clock, "me")
    assert me.try_acquire_or_renew()
    me._renewed = clock()
    me.leading.set()
    clock.now += 9.9
    assert me.holds()
    clock.now += 0.2
    assert not me.holds()
