"""Operator scale figures (prints them; not a timed test).

0. side by side: `kubectl apply --server-side` of the objects `mcp render` gives for the same N servers, timed
   until every Deployment is available (`--no-kubectl` skips it);
1. create N MCPServers (default 500) and time until all are Ready;
2. once the operator has settled (no write for 10 s: with verification on, the first verdicts come after
   Ready), count write requests during a no-op resync of all of them (target 0);
3. grow to M MCPServers (default 1000) and read the operator's peak RSS (target <= 150 MiB); print the operator's
   API requests per added server (by verb and resource), the API server's requests per added server from every
   client (the operator, kube-controller-manager, the scheduler, kwok: its `apiserver_request_total`) and who used
   the CPU meanwhile (each control-plane process of the testenv, the operator, this script), in cores.

Readiness is also printed by each 500 reached (`by 500: 500-1000: 9.1/s, ...`). The operator writes Ready in its
work queue's order: while thousands of new servers are queued, a server whose Deployment is available waits
behind them, so the last steps of a large growth pass quickly.

`--ceiling N` (after the operator's run, on the cluster holding its servers) and `--ceiling-only` (no operator:
an empty cluster grown to `--rss-servers`) measure the control plane alone: the objects `mcp render` gives,
server-side applied by 16 threads, timed until every Deployment is available, with the API server's requests per
server. `--kubectl-only` does the same with `kubectl apply --server-side` of one file (one object at a time).

Readiness is counted by a watch, not by listing: a LIST of thousands of objects every 2 s would load the API
server, on the same cores, with work that is not part of what is measured.

Runs against tools/testenv (started and stopped here unless MCPOP_TEST_KUBECONFIG points at a cluster).
Adds fake kwok nodes with room for the pods (the default two nodes hold 110 pods each) and removes them.

    python bench/reconcile.py [--servers 500] [--rss-servers 1000] [--workers 10] [--verify-concurrency 0]
    python bench/reconcile.py --ceiling-only --rss-servers 5000
    python bench/reconcile.py --kubectl-only --rss-servers 5000

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
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

import kubeenv  # noqa: E402
from cli_process import MCP  # noqa: E402
from kubernetes import client  # noqa: E402
from operator_harness import OperatorProcess  # noqa: E402
from ports import free_port  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

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


def server_ready(o: dict[str, Any]) -> bool:
    st = o.get("status") or {}
    return st.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or []
    )


def deployment_available(o: dict[str, Any]) -> bool:
    return int((o.get("status") or {}).get("availableReplicas") or 0) >= 1


class Tally:
    """How many objects of a kind in a namespace pass `test`, kept by a watch (a LIST every 2 s of thousands of
    objects would cost the API server, on the same 2 cores, more than some of what is measured). `call` is the
    official client's list method for the kind, bound to the namespace."""

    def __init__(self, call: Callable[..., Any], test: Callable[[dict[str, Any]], bool], step: int = 500) -> None:
        self.call, self.test, self.step = call, test, step
        self.passing: set[str] = set()
        #: (count, monotonic time) when the count first reached each multiple of `step`
        self.marks: list[tuple[int, float]] = []
        self.cond = threading.Condition()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _note(self, o: dict[str, Any], deleted: bool = False) -> None:
        name = o["metadata"]["name"]
        with self.cond:
            if not deleted and self.test(o):
                self.passing.add(name)
                reached = len(self.passing) // self.step * self.step
                if reached and (not self.marks or reached > self.marks[-1][0]):
                    self.marks.append((reached, time.monotonic()))
            else:
                self.passing.discard(name)
            self.cond.notify_all()

    def _run(self) -> None:
        while not self.stopped:
            try:
                listed = json.loads(self.call(_preload_content=False).data)
                with self.cond:
                    self.passing = {o["metadata"]["name"] for o in listed["items"] if self.test(o)}
                    self.cond.notify_all()
                rv = listed["metadata"]["resourceVersion"]
                resp = self.call(watch=True, resource_version=rv, timeout_seconds=300, _preload_content=False)
                for line in resp:
                    ev = json.loads(line)
                    if ev["type"] == "ERROR":
                        break  # expired: list again
                    if ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self._note(ev["object"], ev["type"] == "DELETED")
            except Exception as exc:  # a broken watch (or list): list again
                if not self.stopped:
                    print(f"(readiness watch: {exc!r}; listing again)", file=sys.stderr)
                    time.sleep(1)

    def wait(self, n: int, timeout: float) -> float:
        """Seconds until at least `n` pass (TimeoutError after `timeout`)."""
        start = time.monotonic()
        with self.cond:
            while len(self.passing) < n:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    raise TimeoutError(f"{len(self.passing)}/{n} after {timeout}s")
                self.cond.wait(min(left, 5))
        return time.monotonic() - start

    def rates(self, since: float, start: int = 0) -> str:
        """Servers/s over each `step` passed after `since` (when `start` passed), e.g. `500-1000: 9.1/s`."""
        out, prev_n, prev_t = [], start, since
        for n, t in self.marks:
            if t >= since and n > start:
                out.append(f"{prev_n}-{n}: {(n - prev_n) / max(t - prev_t, 1e-9):.1f}/s")
                prev_n, prev_t = n, t
        return ", ".join(out)

    def stop(self) -> None:
        self.stopped = True


def ready_servers(api: client.ApiClient, ns: str) -> Tally:
    custom = client.CustomObjectsApi(api)
    return Tally(functools.partial(custom.list_namespaced_custom_object, GROUP, VERSION, ns, PLURAL), server_ready)


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


def render_servers(n: int, ns: str, directory: Path, output: str) -> Path:
    """The objects `mcp render -o OUTPUT` gives for servers 0..N-1 in `ns`, in a file of `directory`."""
    specs = directory / "servers.yaml"
    specs.write_text("".join("---\n" + json.dumps(server(i)) + "\n" for i in range(n)))
    rendered = directory / f"objects.{output}"
    with open(rendered, "w") as out:
        subprocess.run([*MCP, "render", "-f", str(specs), "-n", ns, "-o", output], stdout=out, check=True, cwd=ROOT)
    return rendered


def kubectl_apply(cluster: kubeenv.KubeCluster, n: int) -> float:
    """`kubectl apply --server-side` of the objects `mcp render` gives for the same N servers, in a namespace of
    its own; seconds from the apply until every Deployment is available (what Ready waits for)."""
    api = cluster.api_client
    ns = kubeenv.create_namespace(api, "kubectl")
    available = Tally(functools.partial(client.AppsV1Api(api).list_namespaced_deployment, ns), deployment_available)
    with tempfile.TemporaryDirectory() as tmp:
        rendered = render_servers(n, ns, Path(tmp), "yaml")
        served0, t0 = apiserver_requests(api), time.monotonic()
        subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "--server-side", "-f", str(rendered)],
                       stdout=subprocess.DEVNULL, check=True)  # fmt: skip
    applied = time.monotonic() - t0
    available.wait(n, timeout=3600)
    available.stop()
    took = time.monotonic() - t0
    print(f"kubectl apply --server-side of the same objects ({n} servers): applied in {applied:.1f}s, every "
          f"Deployment available {took:.1f}s after ({n / took:.1f} servers/s)")  # fmt: skip
    print(f"  available by {available.step}: {available.rates(t0)}")
    print(f"  API server requests per server (every client): {per_server(served0, apiserver_requests(api), n)}")
    return took


def ceiling(cluster: kubeenv.KubeCluster, n: int, pids: dict[str, int]) -> None:
    """The control plane alone, no operator: the objects `mcp render` gives for N servers, server-side applied by
    16 threads (each server's ServiceAccount, Service and Deployment in that order), in a namespace of its own;
    seconds until every Deployment is available, and who used the CPU meanwhile."""
    from mcpop.apply.runtime.client import Kube

    api = cluster.api_client
    ns = kubeenv.create_namespace(api, "ceiling")
    with tempfile.TemporaryDirectory() as tmp:
        objs = json.loads(render_servers(n, ns, Path(tmp), "json").read_text())["items"]
    sets: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for o in objs:
        sets[o["metadata"]["name"]].append(o)
    kube = Kube(api)

    def apply_server(objs: list[dict[str, Any]]) -> None:
        for o in objs:
            res = kube.resource(o["apiVersion"], o["kind"])
            assert res is not None, o["kind"]
            kube.apply(res, o, force=True, field_manager="bench-ceiling")

    available = Tally(functools.partial(client.AppsV1Api(api).list_namespaced_deployment, ns), deployment_available)
    served0, cpu0, t0 = apiserver_requests(api), cpu_seconds(pids), time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(apply_server, sets.values()))
    applied = time.monotonic() - t0
    available.wait(n, timeout=1800)
    took = time.monotonic() - t0
    available.stop()
    print(f"the control plane alone ({n} servers' objects server-side applied by 16 threads, no operator): applied "
          f"in {applied:.1f}s, every Deployment available {took:.1f}s after the first apply ({n / took:.1f} "
          f"servers/s); CPU {cpu_split(cpu0, cpu_seconds(pids), took)}")  # fmt: skip
    print(f"  available by {available.step}: {available.rates(t0)}")
    print(f"  API server requests per server (every client): {per_server(served0, apiserver_requests(api), n)}")
    kubeenv.delete_namespace(api, ns)


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


def requests(op: OperatorProcess) -> collections.Counter[tuple[str, str]]:
    """The operator's API requests so far, by (verb, resource)."""
    out: collections.Counter[tuple[str, str]] = collections.Counter()
    for family in text_string_to_metric_families(op.metrics()):
        if family.name == "mcpop_api_requests":  # the parser drops a counter's _total from the family's name
            for sample in family.samples:
                if sample.name == "mcpop_api_requests_total":
                    out[(sample.labels["verb"], sample.labels["resource"])] += int(sample.value)
    return out


def apiserver_requests(api: client.ApiClient) -> collections.Counter[tuple[str, str]]:
    """Every client's requests the API server has served so far, by (verb, resource[/subresource]); watches
    and Leases left out (`apiserver_request_total` of its /metrics)."""
    method, url, headers, body, post = api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
    resp = api.call_api(method, url, headers, body, post)
    resp.read()
    out: collections.Counter[tuple[str, str]] = collections.Counter()
    for family in text_string_to_metric_families(resp.data.decode()):
        if family.name == "apiserver_request":
            for sample in family.samples:
                lb = sample.labels
                if sample.name != "apiserver_request_total" or lb.get("verb") == "WATCH":
                    continue
                res = lb.get("resource", "") + (f"/{lb['subresource']}" if lb.get("subresource") else "")
                if res != "leases":
                    out[(lb["verb"], res)] += int(sample.value)
    return out


def per_server(before: collections.Counter[tuple[str, str]], after: collections.Counter[tuple[str, str]],
               n: int) -> str:  # fmt: skip
    """The requests between two snapshots per server, the most frequent first (Leases left out)."""
    diff = {k: v - before.get(k, 0) for k, v in after.items() if k[1] != "leases" and v > before.get(k, 0)}
    total = sum(diff.values())
    parts = [f"{verb} {res} {v / n:.2f}" for (verb, res), v in sorted(diff.items(), key=lambda kv: -kv[1])
             if v / n >= 0.005]  # fmt: skip
    return f"{total / n:.2f} in all: " + ", ".join(parts)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) each process has used so far."""
    hz = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            out[name] = (int(fields[11]) + int(fields[12])) / hz
    return out


def cpu_split(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """Who used the CPU between two snapshots, in cores (the machine has os.cpu_count())."""
    used = {k: after[k] - before.get(k, 0.0) for k in after}
    parts = [f"{k} {v / seconds:.2f}" for k, v in sorted(used.items(), key=lambda kv: -kv[1])]
    return f"{sum(used.values()) / seconds:.2f} of {os.cpu_count()} cores: " + ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", type=int, default=500)
    ap.add_argument("--rss-servers", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--sync-period", default="45s")
    ap.add_argument("--verify-concurrency", type=int, default=0)
    ap.add_argument("--verify-timeout", default="2s")
    ap.add_argument("--no-kubectl", action="store_true", help="skip the side-by-side `kubectl apply --server-side`")
    ap.add_argument(
        "--ceiling",
        type=int,
        default=0,
        metavar="N",
        help="at the end, with the operator stopped: the control plane alone with N servers' objects",
    )
    ap.add_argument(
        "--ceiling-only",
        action="store_true",
        help="no operator: only the control plane alone, from an empty cluster to --rss-servers servers' objects",
    )
    ap.add_argument(
        "--kubectl-only",
        action="store_true",
        help="no operator: only `kubectl apply --server-side`, from an empty cluster to --rss-servers servers' objects",
    )
    ap.add_argument("--profile", type=Path, help="write a CPU profile of the growth and the heap's top lines here")
    args = ap.parse_args()
    pport = free_port()

    with kubeenv.kube_cluster_context(f"bench-{os.getpid()}") as cluster:
        api = cluster.api_client
        core = client.CoreV1Api(api)
        kubeenv.install_crds(api, sorted((ROOT / "schemas").glob("*.yaml")))
        nodes = bench_nodes(max(args.servers, args.rss_servers) + (0 if args.no_kubectl else args.servers)
                            + args.ceiling)  # fmt: skip
        for name in nodes:
            try:
                core.create_node(node(name))
            except client.ApiException as e:
                if e.status != 409:
                    raise
        if args.ceiling_only:
            pids = {"bench": os.getpid()}
            if cluster.state_dir:
                pids |= {p.stem: int(p.read_text()) for p in (Path(cluster.state_dir) / "pids").glob("*.pid")}
            ceiling(cluster, args.rss_servers, pids)
            return
        if args.kubectl_only:
            kubectl_apply(cluster, args.rss_servers)
            return
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
        ready = ready_servers(api, ns)
        try:
            op.wait_ready()
            base_rss, _ = rss_kib(proc.pid)
            print(f"operator idle RSS: {base_rss / 1024:.1f} MiB")

            kubectl_took = None if args.no_kubectl else kubectl_apply(cluster, args.servers)
            t0 = time.monotonic()
            create_all(api, ns, range(args.servers))
            created = time.monotonic() - t0
            took = ready.wait(args.servers, timeout=1800) + created
            print(f"  Ready by {ready.step}: {ready.rates(t0)}")
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
            pids = {"operator": proc.pid, "bench": os.getpid()}
            if cluster.state_dir:
                pids |= {p.stem: int(p.read_text()) for p in (Path(cluster.state_dir) / "pids").glob("*.pid")}
            sent, served, cpu0, t2 = requests(op), apiserver_requests(api), cpu_seconds(pids), time.monotonic()
            create_all(api, ns, range(args.servers, args.rss_servers))
            took2 = ready.wait(args.rss_servers, timeout=1800)
            print(f"  Ready by {ready.step} (in the work queue's order): {ready.rates(t2, args.servers)}")
            print(f"CPU while growing to {args.rss_servers}: "
                  f"{cpu_split(cpu0, cpu_seconds(pids), time.monotonic() - t2)}")  # fmt: skip
            grown = per_server(sent, requests(op), max(1, args.rss_servers - args.servers))
            print(f"API requests per server while growing to {args.rss_servers}: {grown}")
            served_all = per_server(served, apiserver_requests(api), max(1, args.rss_servers - args.servers))
            print(f"  API server requests per server (every client): {served_all}")
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
            if args.ceiling:
                op.terminate()
                ceiling(cluster, args.ceiling, pids)
        finally:
            ready.stop()
            op.terminate()
            kubeenv.delete_namespace(api, ns)
            for name in nodes:
                with contextlib.suppress(client.ApiException):
                    core.delete_node(name)


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the control plane the bench started is stopped
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    main()
