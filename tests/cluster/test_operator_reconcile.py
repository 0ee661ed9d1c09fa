"""The operator against a real control plane, run as a subprocess under its least-privilege ServiceAccount.

Covers: the seed examples reach Ready (phase Running, endpoint, owner references, ApplySet labels);
update paths (replicas → PDB appears and is pruned, image, env, HPA on/off, tenancy on/off); a
referenced Secret change rolls the pods; deletion cleans up through the finalizer; a Deployment deleted
by hand is recreated; a spec the renderer rejects gives Ready=False/Stalled and applies nothing; a field
taken by another manager is taken back (event, metric), or with the report-only annotation reported as a
conflict without a retry loop; replicas under an HPA are never set; each security default stripped from
the live Deployment comes back; a no-op resync writes nothing; the
apiserver restarted mid-reconcile (`tools/testenv restart-apiserver`), after which everything converges.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import kubeenv
import pytest
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import OperatorProcess, Servers, apply_as, load_example, sleep, wait

from mcpop.apply.mcpserver.reconciler import CONFLICT_POLICY_ANNOTATION
from mcpop.apply.runtime.client import Kube
from mcpop.apply.ssa.applyset import GROUP_KINDS_ANNOTATION, ID_LABEL, PART_OF_LABEL, applyset_id
from mcpop.render.workload import REFERENCED_HASH

EXAMPLES = [
    "02-mcpserver-basic.yaml",
    "04-mcpserver-python-filesystem.yaml",
    "05-mcpserver-git.yaml",
    "06-mcpserver-postgres-secret-env.yaml",
    "07-mcpserver-placement.yaml",
]


def basic(name: str = "srv", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mcp.allbeone.io/v1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {"image": "mcp-server-test", "tag": "1.0", **spec},
    }


def _event_reasons(servers: Servers, name: str) -> set[str]:
    """Reasons of the events recorded on one MCPServer (events outlive the object)."""

    def reasons() -> set[str]:
        events = servers.core.list_namespaced_event(servers.ns).items
        return {e.reason for e in events if e.involved_object.name == name and e.involved_object.kind == "MCPServer"}

    return reasons()


def _gone(fn: Any) -> bool:
    try:
        fn()
    except client.ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


@pytest.fixture
def ssd_node(kube_cluster: kubeenv.KubeCluster) -> Any:
    """Label one fake node disktype=ssd (example 07 selects it)."""
    core = kube_cluster.core
    core.patch_node("kwok-node-0", {"metadata": {"labels": {"disktype": "ssd"}}})
    yield
    core.patch_node("kwok-node-0", {"metadata": {"labels": {"disktype": None}}})


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_reaches_ready(example: str, operator: OperatorProcess, servers: Servers, ssd_node: Any) -> None:
    body = load_example(example)
    name = body["metadata"]["name"]
    created = servers.create(body)
    obj = servers.wait_ready(name)
    st = obj["status"]
    assert st["phase"] == "Running"
    assert st["readyReplicas"] == st["replicas"] == body["spec"].get("replicas", 1)
    assert st["serviceEndpoint"] == f"{name}.{servers.ns}.svc.cluster.local:{body['spec'].get('port', 8080)}"
    assert st["selector"] == f"app.kubernetes.io/instance={name},app.kubernetes.io/name=mcpserver"
    conds = {c["type"]: c for c in st["conditions"]}
    for t in ("Ready", "Available", "Rendered", "Applied"):
        assert conds[t]["status"] == "True", conds[t]
        assert conds[t]["observedGeneration"] == obj["metadata"]["generation"]
    assert conds["Stalled"]["status"] == "False"
    assert conds["Reconciling"]["status"] == "False"
    # ApplySet parent bookkeeping and the finalizer
    set_id = applyset_id(name, servers.ns)
    assert obj["metadata"]["labels"][ID_LABEL] == set_id
    assert obj["metadata"]["annotations"]["applyset.kubernetes.io/tooling"] == "mcpop/v1"
    assert "Deployment.apps" in obj["metadata"]["annotations"][GROUP_KINDS_ANNOTATION].split(",")
    assert "mcp.allbeone.io/finalizer" in obj["metadata"]["finalizers"]
    # owned objects: controller owner reference, part-of label, managed by mcpop
    dep = servers.deployment(name)
    assert dep is not None
    ref = dep.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller) == ("MCPServer", name, created["metadata"]["uid"], True)
    assert dep.metadata.labels[PART_OF_LABEL] == set_id
    assert any(m.manager == "mcpop" and m.operation == "Apply" for m in dep.metadata.managed_fields)
    svc = servers.core.read_namespaced_service(name, servers.ns)
    assert svc.metadata.owner_references[0].uid == created["metadata"]["uid"]
    pods = servers.core.list_namespaced_pod(servers.ns, label_selector=st["selector"]).items
    assert pods and all(kubeenv.pod_ready(p) for p in pods)
    if example.startswith("07"):
        assert {p.spec.node_name for p in pods} == {"kwok-node-0"}


def test_update_paths(operator: OperatorProcess, servers: Servers) -> None:
    servers.create(basic(env=[{"name": "A", "value": "1"}]))
    servers.wait_ready("srv")
    policy = client.PolicyV1Api(servers.api)

    # replicas 2: Deployment scales, a PDB appears
    servers.patch("srv", {"spec": {"replicas": 2}})
    obj = servers.wait_ready("srv")
    assert obj["status"]["readyReplicas"] == 2
    assert servers.deployment("srv").spec.replicas == 2
    policy.read_namespaced_pod_disruption_budget("srv", servers.ns)
    assert "PodDisruptionBudget.policy" in obj["metadata"]["annotations"][GROUP_KINDS_ANNOTATION]

    # image and env change roll the Deployment
    servers.patch("srv", {"spec": {"tag": "2.0", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "x"}]}})
    servers.wait_ready("srv")
    c = servers.deployment("srv").spec.template.spec.containers[0]
    assert c.image == "mcp-server-test:2.0"
    assert [(e.name, e.value) for e in c.env if e.name in ("A", "B")] == [("A", "2"), ("B", "x")]

    # back to one replica: the PDB is pruned, the parent annotation shrinks
    servers.patch("srv", {"spec": {"replicas": 1}})
    wait(lambda: _gone(lambda: policy.read_namespaced_pod_disruption_budget("srv", servers.ns)), message="PDB pruned")
    obj = servers.wait_ready("srv")
    wait(
        lambda: "PodDisruptionBudget" not in servers.get("srv")["metadata"]["annotations"][GROUP_KINDS_ANNOTATION],
        message="contains-group-kinds without the PDB",
    )
    assert operator.metric("mcpop_objects_total", operation="deleted", kind="PodDisruptionBudget") == 1
    assert {"Applied", "Pruned"} <= _event_reasons(servers, "srv")


def test_hpa_on_then_off(operator: OperatorProcess, servers: Servers) -> None:
    auto = client.AutoscalingV2Api(servers.api)
    servers.create(basic())
    servers.wait_ready("srv")
    servers.patch("srv", {"spec": {"autoscaling": {"hpa": {"enabled": True, "minReplicas": 1, "maxReplicas": 3}}}})
    hpa = wait(lambda: auto.read_namespaced_horizontal_pod_autoscaler("srv", servers.ns), message="HPA created")
    assert hpa.spec.max_replicas == 3
    assert hpa.metadata.owner_references[0].name == "srv"
    servers.patch("srv", {"spec": {"autoscaling": {"hpa": {"enabled": False}}}})
    wait(lambda: _gone(lambda: auto.read_namespaced_horizontal_pod_autoscaler("srv", servers.ns)), message="HPA pruned")
    servers.wait_ready("srv")


def test_tenancy_on_then_off(operator: OperatorProcess, servers: Servers) -> None:
    rbac = client.RbacAuthorizationV1Api(servers.api)
    net = client.NetworkingV1Api(servers.api)
    servers.create(basic())
    servers.wait_ready("srv")
    servers.patch(
        "srv",
        {"spec": {"tenancy": {"tenantId": "t1", "isolationLevel": "Namespace", "networkPolicy": {"enabled": True}}}},
    )
    wait(lambda: net.list_namespaced_network_policy(servers.ns).items, message="NetworkPolicy created")
    wait(lambda: rbac.list_namespaced_role(servers.ns).items, message="tenant Role created")
    servers.wait_ready("srv")
    servers.patch("srv", {"spec": {"tenancy": None}})
    wait(lambda: not net.list_namespaced_network_policy(servers.ns).items, message="NetworkPolicy pruned")
    wait(lambda: not rbac.list_namespaced_role(servers.ns).items, message="Role pruned")
    wait(lambda: not rbac.list_namespaced_role_binding(servers.ns).items, message="RoleBinding pruned")
    servers.wait_ready("srv")


def test_referenced_secret_change_rolls_pods(operator: OperatorProcess, servers: Servers) -> None:
    core = servers.core
    core.create_namespaced_secret(
        servers.ns,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="db"), data={"url": base64.b64encode(b"postgres://one").decode()}
        ),
    )
    servers.create(basic(env=[{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]))
    servers.wait_ready("srv")
    before = servers.deployment("srv").spec.template.metadata.annotations[REFERENCED_HASH]
    core.patch_namespaced_secret("db", servers.ns, {"data": {"url": base64.b64encode(b"postgres://two").decode()}})

    def rolled() -> bool:
        dep = servers.deployment("srv")
        return dep.spec.template.metadata.annotations.get(REFERENCED_HASH) not in (None, before)

    wait(rolled, message="pod template hash changed after the Secret changed")
    servers.wait_ready("srv")
    # the secret value never reaches the operator's log
    assert "postgres://two" not in operator.log() and "cG9zdGdyZXM6Ly90d28" not in operator.log()


def test_deletion_cleans_up(operator: OperatorProcess, servers: Servers) -> None:
    servers.create(basic(replicas=2))
    servers.wait_ready("srv")
    servers.delete("srv")
    wait(lambda: not servers.exists("srv"), message="MCPServer gone (finalizer removed)")
    assert servers.deployment("srv") is None
    assert _gone(lambda: servers.core.read_namespaced_service("srv", servers.ns))
    assert _gone(lambda: servers.core.read_namespaced_service_account("srv", servers.ns))
    assert _gone(lambda: client.PolicyV1Api(servers.api).read_namespaced_pod_disruption_budget("srv", servers.ns))
    assert {"Applied", "Deleting", "Deleted"} <= _event_reasons(servers, "srv")


def test_the_ready_gauge_follows_the_ready_condition_and_goes_with_the_server(
    operator: OperatorProcess, servers: Servers
) -> None:
    series = f'mcpop_mcpserver_ready{{name="srv",namespace="{servers.ns}"}}'
    servers.create(basic())
    servers.wait_ready("srv")
    wait(lambda: f"{series} 1.0" in operator.metrics(), message="gauge 1")
    servers.delete("srv")
    wait(lambda: not servers.exists("srv"), message="MCPServer gone")
    wait(lambda: series not in operator.metrics(), message="series removed")


def test_deployment_deleted_by_hand_is_recreated(operator: OperatorProcess, servers: Servers) -> None:
    servers.create(basic())
    servers.wait_ready("srv")
    old_uid = servers.deployment("srv").metadata.uid
    servers.apps.delete_namespaced_deployment("srv", servers.ns)
    wait(
        lambda: (d := servers.deployment("srv")) is not None and d.metadata.uid != old_uid,
        message="Deployment recreated",
    )
    servers.wait_ready("srv")


def test_rejected_spec_is_terminal_and_applies_nothing(operator: OperatorProcess, servers: Servers) -> None:
    body = basic()
    del body["spec"]["image"]
    body["spec"]["registry"] = {"name": "no-such-server-anywhere"}
    servers.create(body)
    cond = servers.wait_condition("srv", "Ready", "False", "InvalidSpec")
    assert "spec.registry" in cond["message"]
    st = servers.get("srv")["status"]
    assert st["phase"] == "Failed"
    assert {c["type"]: c["status"] for c in st["conditions"]}["Stalled"] == "True"
    assert {c["type"]: c["status"] for c in st["conditions"]}["RegistryFetched"] == "False"
    sleep(4)  # more than one resync
    assert servers.deployment("srv") is None
    assert _gone(lambda: servers.core.read_namespaced_service_account("srv", servers.ns))
    assert _gone(lambda: servers.core.read_namespaced_service("srv", servers.ns))
    # not retried with backoff: no workqueue retries for a terminal error
    assert operator.metric("workqueue_retries_total") == 0
    assert "InvalidSpec" in _event_reasons(servers, "srv")
    # fixing the spec (new generation) recovers
    servers.patch("srv", {"spec": {"registry": None, "image": "mcp-server-test"}})
    servers.wait_ready("srv")


def _intrude(servers: Servers, spec: dict[str, Any], name: str = "srv") -> None:
    """Another field manager takes Deployment fields (a forced apply, as a second controller would)."""
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": servers.ns},
            "spec": spec}  # fmt: skip
    apply_as(servers.api, body, field_manager="intruder")


def test_fields_taken_by_another_manager_are_taken_back_with_an_event_and_a_metric(
    operator: OperatorProcess, servers: Servers
) -> None:
    servers.create(basic())
    servers.wait_ready("srv")
    before = operator.metric("mcpop_field_takeovers_total", kind="Deployment", field_manager="intruder")
    _intrude(servers, {"replicas": 3})
    wait(lambda: servers.deployment("srv").spec.replicas == 1, timeout=30, message="replicas taken back")
    wait(lambda: "FieldsTakenOver" in _event_reasons(servers, "srv"), timeout=30, message="FieldsTakenOver event")
    after = operator.metric("mcpop_field_takeovers_total", kind="Deployment", field_manager="intruder")
    assert after == before + 1
    dep = servers.apps.read_namespaced_deployment("srv", servers.ns)
    spec_owners = [m for m in dep.metadata.managed_fields if m.subresource != "status"]
    owners = {m.manager for m in spec_owners if "f:replicas" in json.dumps((m.fields_v1 or {}).get("f:spec"))}
    assert owners == {"mcpop"}
    assert servers.condition("srv", "Applied")["status"] == "True"


def test_report_only_annotation_leaves_the_field_and_reports_the_conflict(
    operator: OperatorProcess, servers: Servers
) -> None:
    body = basic()
    body["metadata"]["annotations"] = {CONFLICT_POLICY_ANNOTATION: "report"}
    servers.create(body)
    servers.wait_ready("srv")
    _intrude(servers, {"replicas": 3})
    cond = servers.wait_condition("srv", "Applied", "False", "Conflict")
    assert ".spec.replicas" in cond["message"] and "intruder" in cond["message"]
    assert servers.condition("srv", "Stalled")["status"] == "True"
    # no loop: a few resyncs later nothing more was written, the intruder's value stands
    sleep(2)
    writes = operator.writes()
    sleep(7)
    assert operator.writes() == writes
    assert servers.deployment("srv").spec.replicas == 3
    # the user resolves it by changing the spec to agree; the conflict clears
    servers.patch("srv", {"spec": {"replicas": 3}})
    servers.wait_condition("srv", "Applied", "True")


def test_replicas_under_an_hpa_are_never_set(operator: OperatorProcess, servers: Servers) -> None:
    servers.create(basic(autoscaling={"hpa": {"enabled": True, "minReplicas": 1, "maxReplicas": 5}}))
    servers.wait_ready("srv")
    # the autoscaler's count (here set through the scale subresource, as the HPA controller does)
    servers.apps.patch_namespaced_deployment_scale("srv", servers.ns, {"spec": {"replicas": 2}})
    before = operator.metric("mcpop_field_takeovers_total", kind="Deployment")
    servers.patch("srv", {"spec": {"env": [{"name": "ROLL", "value": "1"}]}})  # a new apply of the Deployment
    wait(lambda: any(e.name == "ROLL" for e in servers.deployment("srv").spec.template.spec.containers[0].env or []),
         timeout=30, message="env applied")  # fmt: skip
    sleep(4)
    assert servers.deployment("srv").spec.replicas == 2
    assert operator.metric("mcpop_field_takeovers_total", kind="Deployment") == before


SECURITY_DEFAULTS = [
    "/spec/template/spec/automountServiceAccountToken",
    "/spec/template/spec/securityContext/runAsNonRoot",
    "/spec/template/spec/securityContext/seccompProfile",
    "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation",
    "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem",
    "/spec/template/spec/containers/0/securityContext/runAsNonRoot",
    "/spec/template/spec/containers/0/securityContext/capabilities",
]


def _at(obj: dict[str, Any], pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        obj = obj[int(part)] if isinstance(obj, list) else obj.get(part)
        if obj is None:
            return None
    return obj


@pytest.mark.parametrize("pointer", SECURITY_DEFAULTS, ids=lambda p: p.rsplit("/", 1)[-1])
def test_a_security_default_stripped_from_the_live_deployment_is_restored(
    operator: OperatorProcess, servers: Servers, pointer: str
) -> None:
    servers.create(basic())
    servers.wait_ready("srv")
    apps = servers.apps

    def live() -> dict[str, Any]:
        return dict(servers.api.sanitize_for_serialization(apps.read_namespaced_deployment("srv", servers.ns)))

    want = _at(live(), pointer)
    assert want is not None
    # another actor removes it (a JSON patch under a different field manager)
    kube = Kube(servers.api)
    kube.request("PATCH", f"/apis/apps/v1/namespaces/{servers.ns}/deployments/srv", [("fieldManager", "stripper")],
                 json.dumps([{"op": "remove", "path": pointer}]), "application/json-patch+json")  # fmt: skip
    wait(lambda: _at(live(), pointer) == want, timeout=30, message=f"{pointer} restored")


def test_noop_resync_writes_nothing(operator: OperatorProcess, servers: Servers) -> None:
    for i in range(3):
        servers.create(basic(f"srv-{i}", replicas=1 + i % 2, env=[{"name": "I", "value": str(i)}]))
    for i in range(3):
        servers.wait_ready(f"srv-{i}")
    sleep(2)  # let the last status writes and events settle
    writes = operator.writes()
    reconciles = operator.metric("controller_runtime_reconcile_total")
    sleep(8)  # the fixture's sync period is 3s: at least two full resyncs
    assert operator.metric("controller_runtime_reconcile_total") >= reconciles + 6
    assert operator.writes() == writes, "a no-op resync sent write requests"


def test_operator_converges_after_apiserver_restart(
    kube_cluster: kubeenv.KubeCluster, operator: OperatorProcess, servers: Servers
) -> None:
    if not kube_cluster.owned or not kube_cluster.state_dir:
        pytest.skip("the cluster is not one tools/testenv started (MCPOP_TEST_KUBECONFIG): its apiserver is not ours")
    n = 6
    for i in range(n):
        servers.create(basic(f"restart-{i}", env=[{"name": "I", "value": str(i)}]))
    # the operator is now reconciling them: take the apiserver away under it (watches break, requests fail)
    pid_file = Path(kube_cluster.state_dir) / "pids" / "kube-apiserver.pid"
    old_pid = pid_file.read_text().strip()
    kubeenv.testenv("restart-apiserver", "--state-dir", kube_cluster.state_dir, "--downtime", "2", timeout=300)
    assert pid_file.read_text().strip() != old_pid
    assert not Path(f"/proc/{old_pid}").exists()
    for i in range(n):
        servers.wait_ready(f"restart-{i}", timeout=120)
    assert operator.proc.poll() is None, operator.log()[-3000:]
    assert operator.health("/healthz") == 200
    # the watches are back: a change made after the restart is still picked up
    servers.patch("restart-0", {"spec": {"replicas": 2}})
    wait(lambda: servers.deployment("restart-0").spec.replicas == 2, message="replicas 2 after the restart")
    servers.wait_ready("restart-0")
    assert operator.proc.poll() is None


def test_objects_of_absent_apis_are_skipped_with_a_condition(
    operator: OperatorProcess, servers: Servers, kube_cluster: kubeenv.KubeCluster
) -> None:
    groups = {g.name for g in client.ApisApi(kube_cluster.api_client).get_api_versions().groups}
    if {"networking.istio.io", "monitoring.coreos.com"} & groups:
        pytest.skip("this cluster serves Istio or ServiceMonitor APIs")
    servers.create(basic(istio={"enabled": True}, monitoring={"enabled": True}))
    obj = servers.wait_ready("srv")
    applied = next(c for c in obj["status"]["conditions"] if c["type"] == "Applied")
    assert applied["status"] == "True"
    assert "API not installed" in applied["message"]
    for kind in ("VirtualService", "DestinationRule", "ServiceMonitor"):
        assert kind in applied["message"], applied["message"]
    assert servers.deployment("srv").spec.template.spec.containers[0].image == "mcp-server-test:1.0"


def test_prune_never_deletes_what_another_manager_created(operator: OperatorProcess, servers: Servers) -> None:
    servers.create(basic(config={"a": 1}))
    obj = servers.wait_ready("srv")
    set_id = obj["metadata"]["labels"][ID_LABEL]
    labels = {PART_OF_LABEL: set_id, "app.kubernetes.io/managed-by": "mcpop"}
    servers.core.create_namespaced_config_map(
        servers.ns, {"metadata": {"name": "hand-made", "labels": labels}, "data": {"k": "v"}}, field_manager="someone"
    )
    servers.patch("srv", {"spec": {"config": None}})  # the rendered ConfigMap goes: a prune pass runs
    wait(lambda: _gone(lambda: servers.core.read_namespaced_config_map("srv-config", servers.ns)),
         message="rendered ConfigMap pruned")  # fmt: skip
    servers.wait_ready("srv")
    assert servers.core.read_namespaced_config_map("hand-made", servers.ns).data == {"k": "v"}


def test_objects_of_the_same_name_that_mcpop_did_not_create_survive_the_server_unchanged(
    operator: OperatorProcess, servers: Servers
) -> None:
    svc = servers.core.create_namespaced_service(servers.ns, {
        "metadata": {"name": "srv"}, "spec": {"selector": {"app": "billing"}, "ports": [{"port": 80}]}})  # fmt: skip
    sa = servers.core.create_namespaced_service_account(servers.ns, {"metadata": {"name": "srv"}})
    servers.create(basic())
    applied = servers.wait_condition("srv", "Applied", "False", "ObjectExists")
    assert "Service" in applied["message"] and "ServiceAccount" in applied["message"], applied
    assert servers.condition("srv", "Ready")["reason"] == "ObjectExists"  # type: ignore[index]
    assert "ObjectExists" in _event_reasons(servers, "srv")

    def unchanged() -> None:
        live_svc = servers.core.read_namespaced_service("srv", servers.ns)
        live_sa = servers.core.read_namespaced_service_account("srv", servers.ns)
        assert live_svc.metadata.resource_version == svc.metadata.resource_version
        assert live_svc.spec.selector == {"app": "billing"} and not live_svc.metadata.owner_references
        assert live_sa.metadata.resource_version == sa.metadata.resource_version
        assert not live_sa.metadata.owner_references

    unchanged()
    assert servers.deployment("srv") is None  # the set is refused whole: no pods behind their Service
    servers.delete("srv")
    wait(lambda: not servers.exists("srv"), message="MCPServer srv finalized")
    unchanged()


def test_a_server_may_not_run_as_a_service_account_mcpop_created_for_itself(
    operator: OperatorProcess, servers: Servers
) -> None:
    labels = {"app.kubernetes.io/managed-by": "mcpop", "app.kubernetes.io/component": "backup-restore"}
    servers.core.create_namespaced_service_account(servers.ns, {"metadata": {"name": "nightly-restore",
                                                                             "labels": labels}})  # fmt: skip
    servers.create(basic(serviceAccount={"create": False, "name": "nightly-restore"}))
    stalled = servers.wait_condition("srv", "Stalled", "True")
    assert "spec.serviceAccount.name" in stalled["message"] and "created by mcpop" in stalled["message"], stalled
    assert servers.deployment("srv") is None
