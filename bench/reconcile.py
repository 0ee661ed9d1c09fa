"""Operator scale figures (prints them; not a timed test).

1. create N MCPServers (default 500) and time until all are Ready;
2. count write requests during a no-op resync of all of them (target 0);
3. grow to M MCPServers (default 1000) and read the operator's peak RSS (target <= 150 MiB).

Runs against tools/testenv (started and stopped here unless MCPOP_TEST_KUBECONFIG points at a cluster).
Adds fake kwok nodes with room for the pods (the default two nodes hold 110 pods each) and removes them.

    python bench/reconcile.py [--servers 500] [--rss-servers 1000] [--workers 10] [--verify-concurrency 0]

With `--verify-concurrency N` (N > 0) the operator also verifies every server, as in-cluster: out of the
cluster no Service answers, so every handshake fails and is retried with backoff; what this measures is
the verifier's cost (the SDK's import, the pool, the retries) in memory and in reconcile time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

import kubeenv  # noqa: E402
from kubernetes import client  # noqa: E402
from operator_harness import OperatorProcess, free_port  # noqa: E402

GROUP, VERSION, PLURAL = "mcp.allbeone.io", "v1", "mcpservers"
PODS_PER_NODE = 600


def bench_nodes(servers: int) -> list[str]:
    """Enough extra fake nodes for one pod per MCPServer (plus headroom), whatever the testenv brings."""
    return [f"mcpop-bench-node-{i}" for i in range(max(1, -(-servers * 3 // 2 // PODS_PER_NODE)))]


def node(name: str) -> dict[str, Any]:
    res = {"cpu": "1000", "memory": "4Ti", "pods": str(PODS_PER_NODE), "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
        },
        "spec": {},
        "status": {"allocatable": res, "capacity": res},
    }


def server(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "mcp.allbeone.io/v1",
        "kind": "MCPServer",
        "metadata": {"name": f"bench-{i:04d}"},
        "spec": {
            "image": "mcp-server-bench",
            "tag": "1",
            "env": [{"name": "N", "value": str(i)}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "20m", "memory": "32Mi"}},
        },
    }


def create_all(api: client.ApiClient, ns: str, indices: range) -> None:
    custom = client.CustomObjectsApi(api)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, server(i)), indices))


def ready_count(api: client.ApiClient, ns: str) -> int:
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]
    n = 0
    for o in items:
        st = o.get("status") or {}
        if st.get("phase") == "Running" and any(
            c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or []
        ):
            n += 1
    return n


def wait_ready(api: client.ApiClient, ns: str, n: int, timeout: float) -> float:
    start = time.monotonic()
    while True:
        got = ready_count(api, ns)
        if got >= n:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{got}/{n} Ready after {timeout}s")
        time.sleep(2)


def rss_kib(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", type=int, default=500)
    ap.add_argument("--rss-servers", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--sync-period", default="45s")
    ap.add_argument("--verify-concurrency", type=int, default=0)
    ap.add_argument("--verify-timeout", default="2s")
    args = ap.parse_args()

    with kubeenv.kube_cluster_context(f"bench-{os.getpid()}") as cluster:
        api = cluster.api_client
        core = client.CoreV1Api(api)
        kubeenv.install_crds(api, sorted((ROOT / "schemas").glob("*.yaml")))
        nodes = bench_nodes(max(args.servers, args.rss_servers))
        for name in nodes:
            try:
                core.create_node(node(name))
            except client.ApiException as e:
                if e.status != 409:
                    raise
        ns = kubeenv.create_namespace(api, "bench")
        mport, hport = free_port(), free_port()
        log_path = Path(f"/tmp/mcpop-bench-{uuid.uuid4().hex[:6]}.log")
        argv = [
            "operator",
            "run",
            "--kubeconfig",
            cluster.kubeconfig,
            "--namespace",
            ns,
            "--metrics-bind-address",
            f"127.0.0.1:{mport}",
            "--health-probe-bind-address",
            f"127.0.0.1:{hport}",
            "--concurrent-reconciles",
            str(args.workers),
            "--sync-period",
            args.sync_period,
            # out of cluster the operator cannot reach Services: with verification on every handshake fails
            # (the successful ones are measured by bench/verify.py)
            "--verify-concurrency",
            str(args.verify_concurrency),
            "--verify-timeout",
            args.verify_timeout,
        ]
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from mcpop.cli.main import run; run()", *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        op = OperatorProcess(proc, mport, hport, log_path, argv)
        try:
            op.wait_ready()
            base_rss, _ = rss_kib(proc.pid)
            print(f"operator idle RSS: {base_rss / 1024:.1f} MiB")

            t0 = time.monotonic()
            create_all(api, ns, range(args.servers))
            created = time.monotonic() - t0
            took = wait_ready(api, ns, args.servers, timeout=1800) + created
            print(
                f"{args.servers} MCPServers: created in {created:.1f}s, all Ready {took:.1f}s after the first create "
                f"({args.servers / took:.1f} servers/s)"
            )

            time.sleep(5)  # let status writes and events settle
            writes0 = op.writes()
            rec0 = op.metric("controller_runtime_reconcile_total")
            t1 = time.monotonic()
            while op.metric("controller_runtime_reconcile_total") < rec0 + args.servers:
                time.sleep(1)
                if time.monotonic() - t1 > 600:
                    raise TimeoutError("no full resync within 600s")
            resync = time.monotonic() - t1
            print(
                f"no-op resync of {args.servers}: {op.writes() - writes0:.0f} write requests "
                f"({op.metric('controller_runtime_reconcile_total') - rec0:.0f} reconciles, "
                f"done {resync:.1f}s after the snapshot)"
            )

            create_all(api, ns, range(args.servers, args.rss_servers))
            took2 = wait_ready(api, ns, args.rss_servers, timeout=1800)
            time.sleep(args.workers)
            rss, peak = rss_kib(proc.pid)
            print(
                f"{args.rss_servers} MCPServers all Ready ({took2:.1f}s for the extra "
                f"{args.rss_servers - args.servers}); operator RSS {rss / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB"
            )
            total = op.metric("controller_runtime_reconcile_time_seconds_sum")
            count = max(1, op.metric("controller_runtime_reconcile_time_seconds_count"))
            print(f"mean reconcile time: {total / count * 1000:.1f} ms")
            if args.verify_concurrency:
                failed = op.metric("mcpop_mcpserver_verify_failures_total")
                print(f"verification on ({args.verify_concurrency} at a time): {failed:.0f} failed handshakes so far")
        finally:
            op.terminate()
            kubeenv.delete_namespace(api, ns)
            for name in nodes:
                with contextlib.suppress(client.ApiException):
                    core.delete_node(name)


if __name__ == "__main__":
    main()
