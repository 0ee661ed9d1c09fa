"""Operator scale figures (prints them; not a timed test).

0. side by side: `kubectl apply --server-side` of the objects `mcp render` gives for the same N servers, timed
   until every Deployment is available (`--no-kubectl` skips it);
1. create N MCPServers (default 500) and time until all are Ready;
2. once the operator has settled (no write for 10 s: with verification on, the first verdicts come after
   Ready), count write requests during a no-op resync of all of them (target 0);
3. grow to M MCPServers (default 1000) and read the operator's peak RSS (target <= 150 MiB).

Runs against tools/testenv (started and stopped here unless MCPOP_TEST_KUBECONFIG points at a cluster).
Adds fake kwok nodes with room for the pods (the default two nodes hold 110 pods each) and removes them.

    python bench/reconcile.py [--servers 500] [--rss-servers 1000] [--workers 10] [--verify-concurrency 0]

With `--verify-concurrency N` (N > 0) the operator also verifies every server, as in-cluster: out of the
cluster no Service answers, so every handshake fails and is retried with backoff; what this measures is
the verifier's cost (the SDK's import, the pool, the retries) in memory and in reconcile time.

With `--profile DIR` the operator serves its profiling endpoint (`--enable-pprof`, which starts tracemalloc and
so slows it: figures of such a run are not comparable): a CPU profile of the growth to M is written to
DIR/cpu.folded (folded stacks) and the source lines holding the most memory at M to DIR/heap.txt; the run
prints where the samples end (the innermost mcpop frame of each) and the heap's top lines.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

import kubeenv  # noqa: E402
from cli_process import MCP  # noqa: E402
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


#: seconds without a write request that count as settled
QUIET = 10.0


def settle(op: OperatorProcess, timeout: float = 900) -> float:
    """Wait until the operator has made no write request for QUIET seconds; how long that took. With
    verification on, the first verdicts arrive after Ready (4 handshakes at a time): each is a status change,
    not part of a no-op resync."""
    start = since = time.monotonic()
    last = op.writes()
    while time.monotonic() - since < QUIET:
        time.sleep(1)
        now = op.writes()
        if now != last:
            last, since = now, time.monotonic()
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"still writing {timeout:.0f}s after all Ready")
    return time.monotonic() - start


def kubectl_apply(cluster: kubeenv.KubeCluster, n: int) -> float:
    """`kubectl apply --server-side` of the objects `mcp render` gives for the same N servers, in a namespace of
    its own; seconds from the apply until every Deployment is available (what Ready waits for)."""
    api = cluster.api_client
    ns = kubeenv.create_namespace(api, "kubectl")
    with tempfile.TemporaryDirectory() as tmp:
        specs = Path(tmp) / "servers.yaml"
        specs.write_text("".join("---\n" + json.dumps(server(i)) + "\n" for i in range(n)))
        rendered = Path(tmp) / "objects.yaml"
        with open(rendered, "w") as out:
            subprocess.run([*MCP, "render", "-f", str(specs), "-n", ns], stdout=out, check=True, cwd=ROOT)
        t0 = time.monotonic()
        subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "--server-side", "-f", str(rendered)],
                       stdout=subprocess.DEVNULL, check=True)  # fmt: skip
    applied = time.monotonic() - t0
    apps = client.AppsV1Api(api)
    while True:
        items = apps.list_namespaced_deployment(ns).items
        available = sum(1 for d in items if (d.status.available_replicas or 0) >= 1)
        if available >= n:
            break
        if time.monotonic() - t0 > 1800:
            raise TimeoutError(f"{available}/{n} Deployments available after 1800s")
        time.sleep(2)
    took = time.monotonic() - t0
    print(f"kubectl apply --server-side of the same objects ({n} servers): applied in {applied:.1f}s, every "
          f"Deployment available {took:.1f}s after ({n / took:.1f} servers/s)")  # fmt: skip
    return took


def rss_kib(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def pprof(port: int, path: str, timeout: float = 120) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return str(r.read().decode())


def mcpop_leaves(folded: str, top: int = 15) -> list[tuple[int, str]]:
    """Samples by the innermost frame in a file named as one of mcpop's (`manager.py`...; stacks name files by
    their base name only, so a library file of the same name counts too); stacks with none left out."""
    counts: collections.Counter[str] = collections.Counter()
    for line in folded.splitlines():
        stack, _, n = line.rpartition(" ")
        mine = [f for f in stack.split(";") if " (" in f and f.split(" (", 1)[1].split(".py:")[0] in MCPOP_FILES]
        if mine:
            counts[mine[-1]] += int(n)
    return [(n, f) for f, n in counts.most_common(top)]


MCPOP_FILES = {p.stem for p in (ROOT / "mcpop").rglob("*.py")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", type=int, default=500)
    ap.add_argument("--rss-servers", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--sync-period", default="45s")
    ap.add_argument("--verify-concurrency", type=int, default=0)
    ap.add_argument("--verify-timeout", default="2s")
    ap.add_argument("--no-kubectl", action="store_true", help="skip the side-by-side `kubectl apply --server-side`")
    ap.add_argument("--profile", type=Path, help="write a CPU profile of the growth and the heap's top lines here")
    args = ap.parse_args()
    pport = free_port()

    with kubeenv.kube_cluster_context(f"bench-{os.getpid()}") as cluster:
        api = cluster.api_client
        core = client.CoreV1Api(api)
        kubeenv.install_crds(api, sorted((ROOT / "schemas").glob("*.yaml")))
        nodes = bench_nodes(max(args.servers, args.rss_servers) + (0 if args.no_kubectl else args.servers))
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
            "--metrics-secure=false",  # the bench scrapes plain /metrics on loopback
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
                [*MCP, *argv],  # as installed (no kubernetes-validate)
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={
                    **os.environ,
                    **({"ENABLE_PPROF": "true", "PPROF_ADDR": f"127.0.0.1:{pport}"} if args.profile else {}),
                },
            )
        op = OperatorProcess(proc, mport, hport, log_path, argv)
        try:
            op.wait_ready()
            base_rss, _ = rss_kib(proc.pid)
            print(f"operator idle RSS: {base_rss / 1024:.1f} MiB")

            kubectl_took = None if args.no_kubectl else kubectl_apply(cluster, args.servers)
            t0 = time.monotonic()
            create_all(api, ns, range(args.servers))
            created = time.monotonic() - t0
            took = wait_ready(api, ns, args.servers, timeout=1800) + created
            print(
                f"{args.servers} MCPServers: created in {created:.1f}s, all Ready {took:.1f}s after the first create "
                f"({args.servers / took:.1f} servers/s)"
            )
            if kubectl_took is not None:
                print(f"time ratio mcpop / kubectl apply --server-side: {took / kubectl_took:.2f}")

            settled = settle(op)
            print(f"settled (no write for {QUIET:.0f}s) {settled:.1f}s after all Ready")
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

            profile: dict[str, str] = {}
            sampler = None
            if args.profile:
                sampler = threading.Thread(
                    target=lambda: profile.update(cpu=pprof(pport, "/debug/pprof/profile?seconds=60"))
                )
                sampler.start()
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
            if args.profile and sampler is not None:
                sampler.join()
                args.profile.mkdir(parents=True, exist_ok=True)
                (args.profile / "cpu.folded").write_text(profile.get("cpu", ""))
                heap = pprof(pport, "/debug/pprof/heap?top=40")
                (args.profile / "heap.txt").write_text(heap)
                print(f"CPU samples during the growth (60 s), by innermost mcpop frame ({args.profile}/cpu.folded):")
                for n, frame in mcpop_leaves(profile.get("cpu", "")):
                    print(f"  {n:6d}  {frame}")
                print(f"heap ({args.profile}/heap.txt):")
                print("".join(f"  {line}\n" for line in heap.splitlines()[:25]), end="")
        finally:
            op.terminate()
            kubeenv.delete_namespace(api, ns)
            for name in nodes:
                with contextlib.suppress(client.ApiException):
                    core.delete_node(name)


if __name__ == "__main__":
    main()
