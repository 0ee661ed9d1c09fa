"""The MCPServer controller's reconcile, in process against the in-memory API server: one pass down from the
cached MCPServer to applied objects, status and events, with what an apply did read from its change set."""

from __future__ import annotations

from typing import Any

import pytest
from fakekube import FakeCache, FakeKube

from mcpop.apply.mcpserver.reconciler import FINALIZER, MCPServerController
from mcpop.apply.runtime.reconciler import DONE, Result, TerminalError
from mcpop.apply.settings import OperatorSettings
from mcpop.apply.ssa.applyset import PART_OF_LABEL

NS = "team"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def record(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def controller(kube: FakeKube, recorder: Recorder) -> MCPServerController:
    owned = {gk: FakeCache(kube, gk, label=PART_OF_LABEL) for gk in ("Deployment.apps", "Service", "ServiceAccount")}
    servers = FakeCache(kube, "MCPServer.mcp.allbeone.io")
    return MCPServerController(kube, OperatorSettings(), servers, owned, {}, recorder,  # type: ignore[arg-type]
                               lambda key: None)  # fmt: skip


def server(kube: FakeKube, **spec: Any) -> dict[str, Any]:
    return kube.put({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                     "metadata": {"name": "fs", "namespace": NS, "generation": 1},
                     "spec": {"image": "mcp/filesystem", "port": 8080, **spec}})  # fmt: skip


def condition(kube: FakeKube, type_: str) -> tuple[str, str]:
    obj = kube.stored("MCPServer", NS, "fs")
    assert obj is not None
    c = next(c for c in obj["status"]["conditions"] if c["type"] == type_)
    return c["status"], c["reason"]


def test_a_server_is_rendered_applied_and_reported(kube: FakeKube, controller: MCPServerController,
                                                   recorder: Recorder) -> None:  # fmt: skip
    server(kube)
    assert controller.reconcile((NS, "fs")) == DONE
    assert kube.stored("Deployment", NS, "fs") is not None and kube.stored("Service", NS, "fs") is not None
    assert condition(kube, "Applied") == ("True", "Applied")
    stored = kube.stored("MCPServer", NS, "fs")
    assert stored is not None and FINALIZER in stored["metadata"]["finalizers"]
    assert [e[1] for e in recorder.events][:1] == ["Applied"]


def test_a_second_reconcile_writes_nothing(kube: FakeKube, controller: MCPServerController) -> None:
    server(kube)
    controller.reconcile((NS, "fs"))
    kube.writes.clear()
    controller.reconcile((NS, "fs"))
    assert kube.writes == []


def test_an_existing_service_of_the_same_name_is_left_alone_and_reported(
    kube: FakeKube, controller: MCPServerController, recorder: Recorder
) -> None:
    theirs = kube.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fs", "namespace": NS},
                       "spec": {"selector": {"app": "billing"}}})  # fmt: skip
    server(kube)
    controller.reconcile((NS, "fs"))
    assert kube.stored("Service", NS, "fs") == theirs and kube.stored("Deployment", NS, "fs") is None
    assert condition(kube, "Applied") == ("False", "ObjectExists")
    assert condition(kube, "Ready") == ("False", "ObjectExists")
    assert any(e[1] == "ObjectExists" and "Service team/fs" in e[2] for e in recorder.events)


def test_an_invalid_spec_is_terminal_and_applies_nothing(kube: FakeKube, controller: MCPServerController) -> None:
    server(kube, replicas="two")
    with pytest.raises(TerminalError, match=r"spec\.replicas"):
        controller.reconcile((NS, "fs"))
    assert kube.stored("Deployment", NS, "fs") is None
    assert condition(kube, "Rendered") == ("False", "InvalidSpec")


def test_a_failed_apply_is_reported_then_retried(kube: FakeKube, controller: MCPServerController) -> None:
    from mcpop.apply.resources import ApiError

    server(kube)
    kube.fail[("Deployment", "fs")] = ApiError(500, "InternalError", {"message": "etcd timed out"})
    with pytest.raises(ApiError):
        controller.reconcile((NS, "fs"))
    assert condition(kube, "Applied") == ("False", "ApplyFailed")


def test_a_deleted_server_releases_its_finalizer_once_its_objects_are_gone(
    kube: FakeKube, controller: MCPServerController
) -> None:
    server(kube)
    controller.reconcile((NS, "fs"))
    stored = kube.stored("MCPServer", NS, "fs")
    assert stored is not None
    stored["metadata"]["deletionTimestamp"] = "2026-12-06T00:00:00Z"
    results = []
    for _ in range(3):  # the status write makes the first finalizer patch stale: retried at once
        results.append(controller.reconcile((NS, "fs")))
        if results[-1] == DONE:
            break
    assert results[-1] == DONE and all(isinstance(r, Result) for r in results)
    assert kube.stored("Deployment", NS, "fs") is None and kube.stored("Service", NS, "fs") is None
    stored = kube.stored("MCPServer", NS, "fs")
    assert stored is not None and FINALIZER not in (stored["metadata"].get("finalizers") or [])


def test_a_reconcile_before_the_watch_brings_the_status_write_does_not_write_it_again(recorder: Recorder) -> None:
    """Read-your-writes from the write's answer: the cache is written only by watches, and may still hold the
    server as it was when its status was written."""
    import copy

    before_status: dict[str, Any] = {}

    class Kube(FakeKube):  # remembers the server as it was just before its status was written
        def merge_patch(self, res: Any, namespace: Any, name: str, patch: Any, subresource: Any = None) -> Any:
            if subresource == "status":
                before_status["obj"] = copy.deepcopy(self.stored("MCPServer", NS, name))
            return super().merge_patch(res, namespace, name, patch, subresource)

    class LaggingServers(FakeCache):  # the watch has not brought the status write yet
        def get(self, namespace: str, name: str) -> dict[str, Any] | None:
            return before_status.get("obj") or super().get(namespace, name)

    kube = Kube()
    server(kube)
    owned = {gk: FakeCache(kube, gk, label=PART_OF_LABEL) for gk in ("Deployment.apps", "Service", "ServiceAccount")}
    ctl = MCPServerController(kube, OperatorSettings(), LaggingServers(kube, "MCPServer.mcp.allbeone.io"), owned,  # type: ignore[arg-type]
                              {}, recorder, lambda key: None)  # fmt: skip
    ctl.reconcile((NS, "fs"))
    events = len(recorder.events)
    kube.writes.clear()
    ctl.reconcile((NS, "fs"))
    assert kube.writes == [] and len(recorder.events) == events


def test_the_status_kept_for_read_your_writes_is_dropped_once_the_watch_brings_it(
    kube: FakeKube, controller: MCPServerController
) -> None:
    """At thousands of servers a copy of every status would be kept for ever: it lives only until the watch
    brings a newer version of the server."""
    server(kube)
    controller.reconcile((NS, "fs"))
    assert (NS, "fs") in controller._written
    stored = kube.stored("MCPServer", NS, "fs")
    assert stored is not None
    controller.on_server("MODIFIED", stored, stored)  # the watch event of the status write
    assert controller._written == {}


def _deleted(kube: FakeKube, controller: MCPServerController, when: str) -> None:
    server(kube)
    controller.reconcile((NS, "fs"))
    stored = kube.stored("MCPServer", NS, "fs")
    assert stored is not None
    stored["metadata"]["deletionTimestamp"] = when


def _finalize_forbidden(kube: FakeKube, controller: MCPServerController) -> Result:
    from mcpop.apply.resources import ApiError

    for _ in range(3):  # the first finalizer patch may be stale after the status write
        kube.fail[("Deployment", "fs")] = ApiError(403, "Forbidden", {"message": "deployments is forbidden"})
        result = controller.reconcile((NS, "fs"))
        if result != Result(requeue_after=0.2):
            return result
    return result


def test_a_finalizer_that_cannot_delete_waits_within_its_timeout(
    kube: FakeKube, controller: MCPServerController, recorder: Recorder
) -> None:
    from mcpop.apply.runtime.timefmt import micro_now

    _deleted(kube, controller, micro_now())
    assert _finalize_forbidden(kube, controller) == Result(requeue_after=1.0)
    stored = kube.stored("MCPServer", NS, "fs")
    assert stored is not None and FINALIZER in stored["metadata"]["finalizers"]
    assert "FinalizerReleased" not in [reason for _, reason, _ in recorder.events]


def test_a_finalizer_that_cannot_delete_is_released_after_its_timeout_with_a_warning(
    kube: FakeKube, controller: MCPServerController, recorder: Recorder
) -> None:
    _deleted(kube, controller, "2026-01-01T00:00:00Z")  # longer ago than --finalizer-timeout (5m)
    assert _finalize_forbidden(kube, controller) == DONE
    stored = kube.stored("MCPServer", NS, "fs")
    assert stored is not None and FINALIZER not in (stored["metadata"].get("finalizers") or [])
    (message,) = [m for t, reason, m in recorder.events if reason == "FinalizerReleased" and t == "Warning"]
    assert "403 Forbidden" in message and "after 5m" in message and "garbage collection" in message


def _discovery_fails(controller: MCPServerController) -> None:
    from urllib3.exceptions import ReadTimeoutError

    def fail(gk: str) -> None:
        raise ReadTimeoutError(None, "/apis/metrics.k8s.io/v1beta1", "read timed out")  # type: ignore[arg-type]

    controller.manager.resource_for = fail  # type: ignore[method-assign,assignment]


def _finalize(controller: MCPServerController) -> Result:
    for _ in range(3):  # the first finalizer patch may be stale after the status write
        result = controller.reconcile((NS, "fs"))
        if result != Result(requeue_after=0.2):
            return result
    return result


def test_a_discovery_failure_in_the_finalizer_warns_once_and_waits(
    kube: FakeKube, controller: MCPServerController, recorder: Recorder
) -> None:
    from mcpop.apply.runtime.timefmt import micro_now

    _deleted(kube, controller, micro_now())
    _discovery_fails(controller)
    assert _finalize(controller) == Result(requeue_after=1.0)
    assert _finalize(controller) == Result(requeue_after=1.0)
    blocked = [m for t, reason, m in recorder.events if reason == "FinalizerBlocked" and t == "Warning"]
    assert len(blocked) == 1 and "ReadTimeoutError" in blocked[0] and "released after 5m" in blocked[0]
    stored = kube.stored("MCPServer", NS, "fs")
    assert stored is not None and FINALIZER in stored["metadata"]["finalizers"]


def test_a_discovery_failure_in_the_finalizer_releases_it_after_its_timeout(
    kube: FakeKube, controller: MCPServerController, recorder: Recorder
) -> None:
    _deleted(kube, controller, "2026-01-01T00:00:00Z")  # longer ago than --finalizer-timeout (5m)
    _discovery_fails(controller)
    assert _finalize(controller) == DONE
    stored = kube.stored("MCPServer", NS, "fs")
    assert stored is not None and FINALIZER not in (stored["metadata"].get("finalizers") or [])
    (message,) = [m for t, reason, m in recorder.events if reason == "FinalizerReleased" and t == "Warning"]
    assert "ReadTimeoutError" in message and "garbage collection" in message


def test_a_server_that_stops_referencing_a_secret_leaves_nothing_indexed(
    kube: FakeKube, controller: MCPServerController
) -> None:
    """Its Secret's changes no longer enqueue it, and no entry is kept for it or for the Secret."""
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]
    server(kube, env=env)
    controller.reconcile((NS, "fs"))
    assert controller._tracked_secrets() == {(NS, "creds")}
    server(kube)
    controller.reconcile((NS, "fs"))
    assert controller._tracked_secrets() == set()
    assert controller._ref_index == {} and controller._refs_of == {}


def test_a_server_is_verified_once_the_pods_its_rollout_replaced_have_stopped(
    kube: FakeKube, recorder: Recorder
) -> None:
    """The rollout is complete while a replaced pod still stops: no handshake yet (the Service may still lead it
    there), the reconcile comes back by the end of that pod's grace period in case the Deployment never says it
    stopped; once it says so, the handshake is made."""
    from mcpop.apply.runtime.timefmt import micro_now
    from mcpop.apply.verify.probe import Verdict
    from mcpop.apply.verify.verifier import Verifier

    probed: list[str] = []

    def probe(url: str, *_: Any) -> Verdict:
        probed.append(url)
        return Verdict("True", "Handshake", "ok", {"protocolVersion": "2025-06-18"})

    verifier = Verifier(1, 5.0, 300.0, probe_fn=probe)
    owned = {gk: FakeCache(kube, gk, label=PART_OF_LABEL) for gk in ("Deployment.apps", "Service", "ServiceAccount")}
    ctl = MCPServerController(kube, OperatorSettings(), FakeCache(kube, "MCPServer.mcp.allbeone.io"), owned, {},  # type: ignore[arg-type]
                              recorder, lambda key: None, verifier=verifier)  # fmt: skip
    server(kube)
    try:
        assert ctl.reconcile((NS, "fs")) == DONE  # the Deployment is made: not rolled out yet
        dep = kube.stored("Deployment", NS, "fs")
        assert dep is not None
        dep["status"] = {"observedGeneration": dep["metadata"].get("generation", 1), "replicas": 1, "readyReplicas": 1,
                         "updatedReplicas": 1, "availableReplicas": 1, "terminatingReplicas": 1,
                         "conditions": [{"type": "Available", "status": "True"},
                                        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                         "lastUpdateTime": micro_now()}]}  # fmt: skip
        result = ctl.reconcile((NS, "fs"))
        assert result.requeue_after is not None and 30 <= result.requeue_after <= 35
        assert condition(kube, "Verified") == ("Unknown", "WaitingForRollout")
        assert probed == []

        dep["status"]["terminatingReplicas"] = 0
        assert ctl.reconcile((NS, "fs")) == DONE
        assert verifier.wait_idle(5)
        ctl.reconcile((NS, "fs"))
        assert condition(kube, "Verified") == ("True", "Handshake")
        assert len(probed) == 1
    finally:
        verifier.shutdown()
