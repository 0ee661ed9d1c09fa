"""The operator against a real control plane, run as a subprocess under its least-privilege ServiceAccount.

Covers: the seed examples reach Ready (phase Running, endpoint, owner references, ApplySet labels);
update paths (replicas → PDB appears and is pruned, image, env, HPA on/off, tenancy on/off); a
referenced Secret change rolls the pods; deletion cleans up through the finalizer; a Deployment deleted
by hand is recreated; a spec the renderer rejects gives Ready=False/Stalled and applies nothing; a field
taken by another manager is taken back (event, metric), or with the report-only annotation reported as a
conflict without a retry loop; replicas under an HPA are never set; each security default stripped from
the live Deployment comes back; a no-op resync writes nothing; the
apiserver restarted mid-reconcile (`tools/testenv restart-apiserver`), after which everything converges.

One operator process serves the module (watching every namespace of the test's own control plane; each test
keeps its own namespace, and its MCPServers are deleted, and gone, before the next test starts): its start
and stop were most of a test's time. Counters are compared with their value at the test's start, and "later"
is counted in the operator's reconciles of the test's servers (its debug log), not slept. The apiserver
restart test, and a cluster the tests did not start (MCPOP_TEST_KUBECONFIG: its other namespaces are not
ours to reconcile), get an operator of their own watching the test's namespace, as before.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubeenv
import pytest
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import (
    GROUP,
    PLURAL,
    VERSION,
    OperatorProcess,
    Servers,
    apply_as,
    load_example,
    start_operator,
    stop_operator,
    wait,
)

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


# ---------------------------------------------------------------------------- the module's operator

#: the shared operator's resync period: short, so "a few resyncs later" is a few seconds
SYNC_PERIOD = "1s"
#: the custom resources an operator watching every namespace reconciles: (plural, its objects' name)
_KINDS = (("mcpservers", "MCPServer"), ("mcpregistries", "MCPRegistry"), ("mcpserverbackups", "MCPServerBackup"))


class SharedOperator:
    """The module's operator (every namespace), started when a test first needs it; `stop()` ends it for a
    test that runs its own (the next test that needs it starts a fresh one)."""

    def __init__(self, kube_cluster: kubeenv.KubeCluster, kubeconfig: str, tmp: Path) -> None:
        self.api = kube_cluster.api_client
        self.kubeconfig = kubeconfig
        self.tmp = tmp
        self.op: OperatorProcess | None = None

    def get(self) -> OperatorProcess:
        if self.op is None or self.op.proc.poll() is not None:
            _drop_leftovers(self.api)
            self.op = start_operator(self.kubeconfig, "", self.tmp, "--sync-period", SYNC_PERIOD,
                                     "--log-level", "debug")  # fmt: skip
        return self.op

    def stop(self) -> None:
        if self.op is not None:
            self.op.terminate()
            sys.stderr.write(f"\n--- module operator log (tail)\n{self.op.log()[-3000:]}\n")
            self.op = None


def _drop_leftovers(api: client.ApiClient) -> None:
    """MCP objects earlier test modules left on this control plane (mostly in namespaces still being deleted,
    held by finalizers no operator of theirs runs for any more) are removed before an operator watching every
    namespace starts: it would finalize or reconcile them, writes the write-counting tests below would see.
    Their finalizers are dropped (as admin) and they are deleted; no module relies on another's objects (a
    file's tests run on any worker, in any order of files)."""
    custom = client.CustomObjectsApi(api)
    dropped: list[tuple[str, str, str]] = []
    for plural, kind in _KINDS:
        try:
            items = custom.list_cluster_custom_object(GROUP, VERSION, plural)["items"]
        except client.ApiException as e:
            if e.status == 404:
                continue
            raise
        for obj in items:
            meta = obj["metadata"]
            ns, name = meta["namespace"], meta["name"]
            sys.stderr.write(f"removing {kind} {ns}/{name}, left by an earlier module\n")
            with contextlib.suppress(client.ApiException):
                if meta.get("finalizers"):
                    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, plural, name,
                                                          {"metadata": {"finalizers": None}})  # fmt: skip
                if not meta.get("deletionTimestamp"):
                    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
            dropped.append((plural, ns, name))

    def exists(plural: str, ns: str, name: str) -> bool:
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
        except client.ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    left: list[tuple[str, str, str]] = []

    def gone() -> bool:
        left[:] = [d for d in dropped if exists(*d)]
        return not left

    try:
        wait(gone, timeout=30, message="the MCP objects of earlier modules removed")
    except TimeoutError as e:
        raise TimeoutError(f"{e}; still there: {left}") from None


@pytest.fixture(scope="module")
def shared_operator(
    kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, tmp_path_factory: Any
) -> Iterator[SharedOperator]:
    shared = SharedOperator(kube_cluster, operator_kubeconfig, tmp_path_factory.mktemp("operator"))
    try:
        yield shared
    finally:
        shared.stop()


#: where in the operator's log each running test began (`_reconciled` reads from there)
_LOG_START: dict[Path, int] = {}


@pytest.fixture
def operator(
    kube_cluster: kubeenv.KubeCluster,
    shared_operator: SharedOperator,
    operator_kubeconfig: str,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The operator for this test's namespace: the module's (its sync period SYNC_PERIOD), or, on a cluster the
    tests did not start, one of the test's own watching only its namespace (sync period 3s)."""
    if not kube_cluster.owned:
        with _own_operator(kube_cluster, operator_kubeconfig, namespace, tmp_path, "3s") as own:
            yield own
        return
    op = shared_operator.get()
    start = op.log_path.stat().st_size
    _LOG_START[op.log_path] = start
    try:
        yield op
    finally:
        _LOG_START.pop(op.log_path, None)
        try:
            _delete_servers_and_wait(kube_cluster.api_client, op, namespace)
        finally:
            with open(op.log_path, "rb") as f:
                f.seek(start)
                sys.stderr.write(f"\n--- operator log (this test)\n{f.read().decode(errors='replace')[-3000:]}\n")
        assert op.proc.poll() is None, f"the module's operator exited {op.proc.returncode}:\n{op.log()[-4000:]}"


@contextlib.contextmanager
def _own_operator(kube_cluster: kubeenv.KubeCluster, kubeconfig: str, namespace: str, tmp: Path,
                  sync_period: str) -> Iterator[OperatorProcess]:  # fmt: skip
    op = start_operator(kubeconfig, namespace, tmp, "--sync-period", sync_period, "--log-level", "debug")
    try:
        yield op
    finally:
        stop_operator(kube_cluster.api_client, op, namespace)


@pytest.fixture
def own_operator(
    kube_cluster: kubeenv.KubeCluster,
    shared_operator: SharedOperator,
    operator_kubeconfig: str,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """An operator of this test's own, watching its namespace (sync period 3s); the module's is stopped
    first (it watches every namespace)."""
    shared_operator.stop()
    with _own_operator(kube_cluster, operator_kubeconfig, namespace, tmp_path, "3s") as op:
        yield op


def _delete_servers_and_wait(api: client.ApiClient, op: OperatorProcess, namespace: str) -> None:
    """Delete the test's MCPServers and wait until they are gone (the operator finalized them), so the next
    test starts with none of this one's work left in the operator."""
    custom = client.CustomObjectsApi(api)
    custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    left: list[str] = []

    def gone() -> bool:
        if op.proc.poll() is not None:
            raise RuntimeError(f"the operator exited {op.proc.returncode}:\n{op.log()[-4000:]}")
        left[:] = [o["metadata"]["name"] for o in custom.list_namespaced_custom_object(GROUP, VERSION, namespace,
                                                                                       PLURAL)["items"]]  # fmt: skip
        return not left

    try:
        wait(gone, timeout=60, message=f"the MCPServers of {namespace} deleted")
    except TimeoutError as e:
        raise TimeoutError(f"{e}; still there: {left}") from None


# ---------------------------------------------------------------------------- counting reconciles

#: the worker's line for each finished reconcile (debug level): `reconciled in 0.002s (success) key=ns/name ...
#: controller=mcpserver`
_RECONCILED = re.compile(r"reconciled in \S+ \(\w+\) key=(\S+) .*\bcontroller=mcpserver$", re.MULTILINE)


def _reconciled(op: OperatorProcess, ns: str, names: list[str]) -> dict[str, int]:
    """Reconciles of each named MCPServer of `ns` the operator finished since this test began."""
    with open(op.log_path, "rb") as f:
        f.seek(_LOG_START.get(op.log_path, 0))
        text = f.read().decode(errors="replace")
    counts = dict.fromkeys(names, 0)
    for m in _RECONCILED.finditer(text):
        key_ns, _, name = m.group(1).partition("/")
        if key_ns == ns and name in counts:
            counts[name] += 1
    return counts


def _wait_seen(predicate: Callable[[], Any], seen: Callable[[], Any], timeout: float, message: str) -> Any:
    """`wait`, whose timeout also says what was last seen."""
    try:
        return wait(predicate, timeout=timeout, message=message)
    except TimeoutError as e:
        raise TimeoutError(f"{e}; last seen: {seen()}") from None


def _wait_reconciles(op: OperatorProcess, servers: Servers, names: list[str], more: int, timeout: float = 60) -> None:
    """Wait until the operator has finished `more` further reconciles of each of `names` (resyncs, or
    whatever else queued them): at least `more` - 1 of them began after this call."""
    start = _reconciled(op, servers.ns, names)
    last = [start]

    def done() -> bool:
        last[0] = _reconciled(op, servers.ns, names)
        return all(last[0][n] >= start[n] + more for n in names)

    _wait_seen(done, lambda: f"reconciles from {start} to {last[0]}", timeout,
               f"{more} more reconciles of {names} in {servers.ns}")  # fmt: skip


def _wait_resync(op: OperatorProcess, servers: Servers, names: list[str], timeout: float = 60) -> None:
    """Wait until each of `names` was reconciled after a resync came due: one sync period passes from this
    call, then each server's reconcile count grows (the resync's reconcile, or a later one, finishes)."""
    period = float(op.args[op.args.index("--sync-period") + 1].rstrip("s"))
    began = time.monotonic()
    at: list[dict[str, int]] = []
    last: list[dict[str, int]] = [{}]

    def done() -> bool:
        last[0] = _reconciled(op, servers.ns, names)
        if not at:
            if time.monotonic() < began + period:
                return False
            at.append(last[0])
        return all(last[0][n] > at[0][n] for n in names)

    _wait_seen(done, lambda: f"reconciles {last[0]}, one sync period after the call {at}", timeout,
               f"a resync of {names} in {servers.ns}")  # fmt: skip


def _write_counts(op: OperatorProcess) -> dict[str, float]:
    """The operator's write requests by verb and resource (for a failure message)."""
    out: dict[str, float] = {}
    for line in op.metrics().splitlines():
        if line.startswith("mcpop_api_requests_total{") and not re.search(r'verb="(GET|WATCH)"', line):
            head, _, value = line.rpartition(" ")
            out[head.partition("{")[2].rstrip("}")] = float(value)
    return out


def _quiet_writes(op: OperatorProcess, servers: Servers, names: list[str], timeout: float = 60) -> float:
    """Wait for two reconciles of each of `names` during which the operator wrote nothing (its last status
    writes and events of the work before are done); returns the write count then. Times out if every such
    window has writes (a loop)."""
    mark: list[Any] = [None, None]  # the write count and the reconciles when the window began
    seen: list[Any] = []

    def quiet() -> tuple[float] | None:
        before = op.writes()
        counts = _reconciled(op, servers.ns, names)
        after = op.writes()
        seen[:] = [after, counts]
        if mark[0] is not None and after == mark[0] and all(counts[n] >= mark[1][n] + 2 for n in names):
            return (after,)
        if mark[0] != after or before != after:
            mark[:] = [before, counts] if before == after else [None, None]
        return None

    found = _wait_seen(quiet, lambda: f"writes {seen[0] if seen else '?'}, reconciles {seen[1:]}, writes by verb "
                       f"and resource {_write_counts(op)}", timeout,
                       f"two reconciles of each of {names} without a write")  # fmt: skip
    return float(found[0])


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
    pdbs_deleted = operator.metric("mcpop_objects_total", operation="deleted", kind="PodDisruptionBudget")
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
    assert operator.metric("mcpop_objects_total", operation="deleted", kind="PodDisruptionBudget") == pdbs_deleted + 1
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
    retries = operator.metric("workqueue_retries_total", controller="mcpserver")
    servers.create(body)
    cond = servers.wait_condition("srv", "Ready", "False", "InvalidSpec")
    assert "spec.registry" in cond["message"]
    st = servers.get("srv")["status"]
    assert st["phase"] == "Failed"
    assert {c["type"]: c["status"] for c in st["conditions"]}["Stalled"] == "True"
    assert {c["type"]: c["status"] for c in st["conditions"]}["RegistryFetched"] == "False"
    _wait_reconciles(operator, servers, ["srv"], 2)  # more than one resync
    assert servers.deployment("srv") is None
    assert _gone(lambda: servers.core.read_namespaced_service_account("srv", servers.ns))
    assert _gone(lambda: servers.core.read_namespaced_service("srv", servers.ns))
    # not retried with backoff: no workqueue retries for a terminal error
    assert operator.metric("workqueue_retries_total", controller="mcpserver") == retries
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
    writes = _quiet_writes(operator, servers, ["srv"])
    _wait_reconciles(operator, servers, ["srv"], 2)
    assert operator.writes() == writes, _write_counts(operator)
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
    _wait_reconciles(operator, servers, ["srv"], 2)  # the reconciles the change queued, and
    _wait_resync(operator, servers, ["srv"])  # a resync after them
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
    names = [f"srv-{i}" for i in range(3)]
    for name in names:
        servers.wait_ready(name)
    writes = _quiet_writes(operator, servers, names)  # the last status writes and events have settled
    reconciles = operator.metric("controller_runtime_reconcile_total")
    _wait_reconciles(operator, servers, names, 2)  # at least one full resync of each after `writes`
    assert operator.metric("controller_runtime_reconcile_total") >= reconciles + 6
    assert operator.writes() == writes, f"a no-op resync sent write requests: {_write_counts(operator)}"


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


def test_operator_converges_after_apiserver_restart(
    kube_cluster: kubeenv.KubeCluster, own_operator: OperatorProcess, servers: Servers
) -> None:
    if not kube_cluster.owned or not kube_cluster.state_dir:
        pytest.skip("the cluster is not one tools/testenv started (MCPOP_TEST_KUBECONFIG): its apiserver is not ours")
    operator = own_operator  # its own: the apiserver restarts under it (last in the module)
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
