"""MCPServer status from a reconcile's outcome, without a cluster: conditions (Ready, Available,
Progressing, Rendered, Applied, RegistryFetched, kstatus Reconciling/Stalled), phase, lastTransitionTime
kept unless the status flips, observedGeneration, and the merge patch (None when nothing changed)."""

from __future__ import annotations

from typing import Any

from changesets import changes

from mcpop.apply.mcpserver.status import CONDITION_ORDER, Outcome, compute_status, label_selector, rollout
from mcpop.apply.runtime.conditions import Cond, merge_conditions, status_patch


def dep(
    want: int = 1,
    ready: int = 1,
    updated: int | None = None,
    gen: int = 1,
    observed: int = 1,
    available: bool = True,
    deadline: bool = False,
) -> dict[str, Any]:
    conds = [{"type": "Available", "status": "True" if available else "False"}]
    if deadline:
        conds.append({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"})
    return {
        "metadata": {"generation": gen},
        "spec": {"replicas": want},
        "status": {
            "observedGeneration": observed,
            "replicas": want,
            "readyReplicas": ready,
            "updatedReplicas": want if updated is None else updated,
            "availableReplicas": ready,
            "conditions": conds,
        },
    }


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_ready_and_running() -> None:
    st = compute_status(
        Outcome(
            generation=3,
            changes=changes(3),
            deployment=dep(),
            service_endpoint="s.n.svc.cluster.local:80",
            selector="a=b",
        ),
        None,
        now="T1",
    )
    c = conds(st)
    assert c["Ready"] == ("True", "Ready") and c["Available"][0] == "True" and c["Applied"] == ("True", "Applied")
    assert c["Rendered"][0] == "True" and c["Progressing"] == ("False", "RolloutComplete")
    assert c["Reconciling"][0] == "False" and c["Stalled"][0] == "False"
    assert "RegistryFetched" not in c
    assert st["phase"] == "Running" and st["observedGeneration"] == 3
    assert (st["replicas"], st["readyReplicas"]) == (1, 1)
    assert st["serviceEndpoint"] == "s.n.svc.cluster.local:80" and st["selector"] == "a=b"
    assert all(x["observedGeneration"] == 3 and x["lastTransitionTime"] == "T1" for x in st["conditions"])


def test_rolling_out_is_pending_and_reconciling() -> None:
    st = compute_status(Outcome(generation=1, deployment=dep(want=2, ready=1, available=False)), None)
    c = conds(st)
    assert c["Ready"][0] == "False" and c["Progressing"] == ("True", "RollingOut")
    assert c["Reconciling"][0] == "True" and st["phase"] == "Pending"
    st = compute_status(Outcome(generation=1, deployment=None), None)
    assert conds(st)["Available"] == ("False", "DeploymentMissing") and st["phase"] == "Pending"


def test_invalid_spec_is_stalled_and_failed() -> None:
    st = compute_status(Outcome(generation=2, invalid="spec.registry: not found"), None)
    c = conds(st)
    assert c["Ready"] == ("False", "InvalidSpec") and c["Stalled"] == ("True", "InvalidSpec")
    assert c["Rendered"] == ("False", "InvalidSpec") and c["Applied"][0] == "False"
    assert c["Reconciling"][0] == "False" and st["phase"] == "Failed"
    assert any("not found" in x["message"] for x in st["conditions"] if x["type"] == "Ready")


def test_conflict_and_skipped_and_errors() -> None:
    st = compute_status(
        Outcome(
            generation=1, deployment=dep(), changes=changes(conflicts=(("Deployment", ".spec.replicas", "other"),))
        ),
        None,
    )
    assert conds(st)["Applied"] == ("False", "Conflict") and conds(st)["Stalled"] == ("True", "Conflict")
    assert st["phase"] == "Running"  # the server still serves
    st = compute_status(
        Outcome(
            generation=1,
            deployment=dep(),
            changes=changes(skipped=(("VerticalPodAutoscaler", "autoscaling.k8s.io/v1"),)),
        ),
        None,
    )
    c = conds(st)
    assert c["Applied"] == ("True", "SkippedUnavailableAPIs") and c["Ready"][0] == "True"
    assert "VerticalPodAutoscaler" in next(x["message"] for x in st["conditions"] if x["type"] == "Applied")
    st = compute_status(Outcome(generation=1, deployment=dep(), changes=changes(failed=("x", "boom"))), None)
    assert conds(st)["Ready"] == ("False", "ApplyFailed") and conds(st)["Reconciling"] == ("True", "ApplyFailed")


def test_deadline_exceeded_and_terminating_and_registry() -> None:
    st = compute_status(Outcome(generation=1, deployment=dep(ready=0, available=False, deadline=True)), None)
    assert conds(st)["Stalled"] == ("True", "ProgressDeadlineExceeded") and st["phase"] == "Failed"
    st = compute_status(Outcome(generation=1, terminating=True), None)
    assert st["phase"] == "Terminating" and conds(st)["Ready"] == ("False", "Terminating")
    st = compute_status(Outcome(generation=1, deployment=dep(), registry=("True", "Fetched", "x 1.0")), None)
    assert conds(st)["RegistryFetched"] == ("True", "Fetched")


def test_last_transition_time_changes_only_on_flip() -> None:
    old = compute_status(Outcome(generation=1, deployment=dep(want=1, ready=0, available=False)), None, now="T1")
    same = compute_status(Outcome(generation=2, deployment=dep(want=1, ready=0, available=False)), old, now="T2")
    assert all(c["lastTransitionTime"] == "T1" for c in same["conditions"])
    assert all(c["observedGeneration"] == 2 for c in same["conditions"])
    flipped = compute_status(Outcome(generation=2, deployment=dep()), same, now="T3")
    ltt = {c["type"]: c["lastTransitionTime"] for c in flipped["conditions"]}
    assert ltt["Ready"] == "T3" and ltt["Available"] == "T3" and ltt["Rendered"] == "T1"


def test_merge_conditions_order_and_message_kept_short() -> None:
    out = merge_conditions(
        None, [Cond("Stalled", "False", "X"), Cond("Ready", "True", "Y", "m" * 40000)], 1, "T", CONDITION_ORDER
    )
    assert [c["type"] for c in out] == ["Ready", "Stalled"]
    assert len(out[0]["message"]) == 32768


def test_status_patch_only_when_changed() -> None:
    st = compute_status(Outcome(generation=1, deployment=dep()), None, now="T")
    again = compute_status(Outcome(generation=1, deployment=dep()), st, now="T9")
    assert status_patch(st, again) is None
    changed = compute_status(Outcome(generation=1, deployment=dep(want=2, ready=1)), st, now="T9")
    patch = status_patch(st, changed)
    assert patch is not None and patch["status"]["readyReplicas"] == 1
    assert status_patch({"registry": {"name": "x"}}, {"phase": "Running"}) == {
        "status": {"phase": "Running", "registry": None}
    }


def test_rollout_reads_a_deployment() -> None:
    r = rollout(dep(want=3, ready=3, updated=2))
    assert r.exists and not r.done and r.available
    assert rollout(dep(want=3, ready=3, gen=2, observed=1)).done is False
    assert rollout(dep(want=0, ready=0, available=False)).available


def test_label_selector() -> None:
    assert label_selector({"b": "2", "a": "1"}) == "a=1,b=2"
