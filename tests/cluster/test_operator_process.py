"""The operator process: leader election takeover (two processes, kill -9), Lease release on SIGTERM,
a frozen leader (SIGSTOP past the lease) losing leadership and exiting while the standby takes over, graceful
shutdown, /healthz + /readyz, an endpoint whose port is taken (a clear error), /metrics names (controller-runtime
style, no `_created`), and structured JSON logs carrying one correlation id, the key and the generation per reconcile.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import kubeenv
import pytest
from cli_process import MCP
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import ROOT, OperatorProcess, Servers, grant_leases, start_operator, wait
from ports import free_port


def basic(name: str) -> dict:
    return {
        "apiVersion": "mcp.allbeone.io/v1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {"image": "mcp-server-test"},
    }


def _lease(api: client.ApiClient, ns: str) -> client.V1Lease | None:
    try:
        return client.CoordinationV1Api(api).read_namespaced_lease("mcpop-leader", ns)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise


def _lease_reads(op: OperatorProcess) -> float:
    """The Lease reads of a replica's leader election: one per attempt to acquire (or renew) it."""
    return op.metric("mcpop_api_requests_total", verb="GET", resource="leases")


def test_leader_election_takeover_and_release(
    kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    api = kube_cluster.api_client
    grant_leases(api, namespace)
    flags = ("--leader-elect", "--leader-election-namespace", namespace)
    first = start_operator(operator_kubeconfig, namespace, tmp_path, *flags)
    second: OperatorProcess | None = None
    try:
        holder_a = wait(lambda: (lease := _lease(api, namespace)) and lease.spec.holder_identity, message="lease held")
        second = start_operator(operator_kubeconfig, namespace, tmp_path, *flags, wait=False)
        wait(lambda: second.health("/healthz") == 200, message="second replica up")
        # it looked at the Lease twice (its first attempt, and again a retry period later) and did not take it
        wait(lambda: _lease_reads(second) >= 2, message="the second replica's second look at the Lease")
        assert _lease(api, namespace).spec.holder_identity == holder_a  # the second one stands by
        assert second.metric("leader_election_master_status") == 0
        assert first.metric("leader_election_master_status") == 1

        # kill -9 the leader: the standby takes over one lease period (15 s) after it last saw the Lease
        # change, on its own clock; it looks every retry period (2 s), so within 15 + 2 s of the kill
        first.kill()
        killed = time.monotonic()
        holder_b = kubeenv.wait_until(
            lambda: (h := _lease(api, namespace).spec.holder_identity) not in (None, "", holder_a) and h,
            timeout=30,
            interval=0.1,
            message="takeover",
        )
        took = time.monotonic() - killed
        print(f"\ntakeover after kill -9: {took:.1f}s")
        assert took <= 17.5, f"takeover took {took:.1f}s"
        assert _lease(api, namespace).spec.lease_transitions >= 1
        servers = Servers(api, namespace)
        servers.create(basic("after-takeover"))
        servers.wait_ready("after-takeover")

        # SIGTERM: the leader releases the Lease, exits 0
        assert second.terminate() == 0
        lease = _lease(api, namespace)
        assert lease.spec.holder_identity in (None, ""), lease.spec
        assert "released lease" in second.log()
        assert holder_b
    finally:
        first.kill()
        if second is not None:
            second.kill()


def test_leader_that_cannot_renew_exits_and_standby_takes_over(
    kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    """controller-runtime semantics: a leader that misses its renew deadline (here frozen with SIGSTOP for
    longer than the 15 s lease) loses leadership; when it wakes it reconciles nothing more and exits non-zero,
    without releasing the Lease, which the standby now holds."""
    api = kube_cluster.api_client
    servers = Servers(api, namespace)
    grant_leases(api, namespace)
    flags = ("--leader-elect", "--leader-election-namespace", namespace, "--log-level", "debug")
    first = start_operator(operator_kubeconfig, namespace, tmp_path, *flags)
    second: OperatorProcess | None = None
    try:
        holder_a = wait(lambda: (lease := _lease(api, namespace)) and lease.spec.holder_identity, message="lease held")
        second = start_operator(operator_kubeconfig, namespace, tmp_path, *flags, wait=False)
        wait(lambda: second.health("/healthz") == 200, message="second replica up")
        servers.create(basic("before"))
        servers.wait_ready("before")
        assert first.metric("leader_election_master_status") == 1
        assert second.metric("leader_election_master_status") == 0
        first.wait_idle(quiet=1.5)  # the last status writes settled: no reconcile in flight when frozen

        os.kill(first.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            holder_b = kubeenv.wait_until(
                lambda: (h := _lease(api, namespace).spec.holder_identity) not in (None, "", holder_a) and h,
                timeout=30,
                interval=0.2,
                message="takeover from the frozen leader",
            )
            print(f"\ntakeover from a frozen leader: {time.monotonic() - stopped:.1f}s")
            wait(lambda: second.metric("leader_election_master_status") == 1, message="standby leads")
            # the new leader reconciles; the frozen one saw nothing of this server
            servers.create(basic("during"))
            servers.wait_ready("during")
            time.sleep(max(0.0, 17 - (time.monotonic() - stopped)))  # frozen for longer than the lease
            log_before = len(first.log())
        finally:
            os.kill(first.proc.pid, signal.SIGCONT)

        code = first.proc.wait(timeout=30)
        assert code != 0, "a leader that lost its lease must exit non-zero"
        after = first.log()[log_before:]
        assert "lost the lease" in after, after[-3000:]
        # it woke up to the watch events of "during" but reconciled nothing once it had lost the lease
        assert "reconciled in" not in after and "Applied:" not in after, after[-3000:]
        # it did not release (or take back) the Lease: the standby still holds it, and keeps reconciling
        assert _lease(api, namespace).spec.holder_identity == holder_b
        assert second.proc.poll() is None
        assert second.metric("leader_election_master_status") == 1
        servers.create(basic("after"))
        servers.wait_ready("after")
        assert second.terminate() == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(first.proc.pid, signal.SIGCONT)
        first.kill()
        if second is not None:
            second.kill()


def test_health_metrics_and_sigterm(operator: OperatorProcess, servers: Servers) -> None:
    servers.create(basic("m1"))
    servers.wait_ready("m1")
    assert operator.health("/healthz") == 200
    assert operator.health("/readyz") == 200
    text = operator.metrics()
    for name in (
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket",
        "workqueue_depth",
        "workqueue_adds_total",
        "workqueue_retries_total",
        "mcpop_objects_total",
    ):
        assert re.search(rf"^{name}[{{ ]", text, re.M), name
    assert 'controller_runtime_reconcile_total{controller="mcpserver",result="success"}' in text
    assert 'mcpop_objects_total{kind="Deployment",operation="created"} 1.0' in text
    assert "_created" not in text
    started = time.monotonic()
    assert operator.terminate() == 0
    assert time.monotonic() - started < 10
    assert "stopped" in operator.log()


def test_structured_logs_carry_correlation_id(
    kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    op = start_operator(
        operator_kubeconfig, namespace, tmp_path, env={"STRUCTURED_LOGGING": "true", "LOG_LEVEL": "debug"}
    )
    try:
        servers = Servers(kube_cluster.api_client, namespace)
        servers.create(basic("logged"))
        servers.wait_ready("logged")
    finally:
        assert op.terminate() == 0
    lines = [json.loads(line) for line in op.log().splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(e) for e in lines)
    reconcile_lines = [e for e in lines if e.get("key") == f"{namespace}/logged"]
    assert reconcile_lines and all("correlationID" in e and "generation" in e for e in reconcile_lines)
    by_id: dict[str, list[dict]] = {}
    for e in reconcile_lines:
        by_id.setdefault(e["correlationID"], []).append(e)
    applied = [cid for cid, es in by_id.items() if any(e["msg"].startswith("Applied:") for e in es)]
    assert applied, "no reconcile logged its apply"
    msgs = [e["msg"] for e in by_id[applied[0]]]
    assert len(msgs) >= 2 and any(m.startswith("reconciled in") for m in msgs), msgs


@pytest.mark.parametrize("endpoint", ["--metrics-bind-address", "--health-probe-bind-address"])
def test_an_endpoint_whose_port_is_taken_exits_naming_its_flag_and_address_without_a_traceback(
    operator_kubeconfig: str, namespace: str, endpoint: str
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    addresses = {"--metrics-bind-address": f"127.0.0.1:{free_port()}",
                 "--health-probe-bind-address": f"127.0.0.1:{free_port()}", endpoint: f"127.0.0.1:{port}"}  # fmt: skip
    try:
        r = subprocess.run([*MCP, "operator", "run", "--kubeconfig", operator_kubeconfig, "--namespace", namespace,
                            "--metrics-secure=false", *(x for flag, a in addresses.items() for x in (flag, a))],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip
    finally:
        taken.close()
    assert r.returncode == 1, r.stderr
    assert f"error: {endpoint}: " in r.stderr, r.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
