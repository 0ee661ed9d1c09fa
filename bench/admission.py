"""Admission webhook latency at a steady request rate (prints figures; not a timed test).

Starts the operator (`mcp operator run --enable-webhooks`) on the stock tools/testenv control plane (started
and stopped here unless MCPOP_TEST_KUBECONFIG points at a cluster), registers its webhooks for one namespace
with `mcp operator webhook-config`, then sends `--rate` requests per second for `--seconds`:

1. AdmissionReviews POSTed straight to the webhook (TLS, kept alive, as the apiserver sends them):
   the webhook's own latency, p50/p99/max;
2. dry-run creates of MCPServers through the real apiserver, which calls both webhooks: end-to-end
   latency, with the webhooks and (same run, same rate) without them, and the difference of the p99s.

3. the webhook alone again while `--idle-connections` clients hold kept-alive TLS connections open and
   say nothing (a slow-client flood): its p99 beside the first.

    python bench/admission.py [--rate 50] [--seconds 20] [--idle-connections 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

import kubeenv  # noqa: E402
from operator_harness import start_operator  # noqa: E402
from ports import free_port  # noqa: E402

from mcpop.apply.runtime.client import Kube  # noqa: E402
from mcpop.cli.main import app  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def paced(rate: float, seconds: float, call: Callable[[int], None]) -> list[float]:
    """Call `call(i)` `rate` times a second for `seconds` (open loop, 4 senders); latencies in seconds."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.monotonic()
    total = int(rate * seconds)
    counter = iter(range(total))

    def sender() -> None:
        for i in counter:
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            call(i)
            with lock:
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def review(i: int, namespace: str) -> bytes:
    obj = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
           "metadata": {"name": f"bench-{i}", "namespace": namespace},
           "spec": {"image": "docker.io/mcp/fetch", "tag": "1.0", "replicas": 1,
                    "env": [{"name": "A", "value": "b"}]}}  # fmt: skip
    req = {"uid": str(i), "kind": {"group": "mcp.allbeone.io", "version": "v1", "kind": "MCPServer"},
           "operation": "CREATE", "namespace": namespace, "object": obj, "dryRun": True}  # fmt: skip
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}).encode()


def report(label: str, latencies: list[float], rate: float) -> float:
    ms = [x * 1000 for x in latencies]
    p99 = percentile(ms, 0.99)
    print(f"{label:58s} n={len(ms):5d} rate={rate:.0f}/s  p50={percentile(ms, 0.5):6.2f} ms  "
          f"p99={p99:6.2f} ms  max={max(ms):6.2f} ms")  # fmt: skip
    return p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--idle-connections", type=int, default=200)
    args = parser.parse_args()
    with kubeenv.kube_cluster_context() as cluster, tempfile.TemporaryDirectory() as tmp:
        kube = Kube(cluster.api_client)
        kubeenv.install_crds(cluster.api_client, sorted((ROOT / "schemas").glob("*.yaml")))
        ns = kubeenv.create_namespace(cluster.api_client, "bench")
        port, certs = free_port(), Path(tmp) / "certs"
        name = f"mcpop-bench-{ns}"
        op = start_operator(cluster.kubeconfig, ns, Path(tmp), "--enable-webhooks", "--webhook-cert-management",
                            "external", "--webhook-cert-dir", str(certs), "--webhook-port", str(port),
                            wait=False)  # fmt: skip
        try:
            app(["operator", "webhook-config", "--url", f"https://127.0.0.1:{port}", "--cert-dir", str(certs),
                 "--name", name, "--namespace", ns, "--apply", "--kubeconfig", cluster.kubeconfig],
                result_action="return_value")  # fmt: skip
            op.wait_ready()
            res = kube.require("mcp.allbeone.io/v1", "MCPServer")

            def create(i: int) -> None:
                obj = json.loads(review(i, ns))["request"]["object"]
                kube.request("POST", res.path(ns), [("dryRun", "All")], obj)

            ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
            local = threading.local()

            def direct(i: int) -> None:
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
                conn.request("POST", "/validate-mcp-allbeone-io-v1", review(i, ns),
                             {"Content-Type": "application/json"})  # fmt: skip
                resp = conn.getresponse()
                body = json.loads(resp.read())
                assert body["response"]["allowed"], body

            kubeenv.wait_until(lambda: op.metric("controller_runtime_webhook_requests_total") >= 0, timeout=30)
            paced(args.rate, 2, create)  # warm up
            p99 = report("webhook alone (AdmissionReview over TLS)", paced(args.rate, args.seconds, direct), args.rate)
            idle = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                    server_hostname="127.0.0.1") for _ in range(args.idle_connections)]  # fmt: skip
            try:
                p99_idle = report(f"webhook alone, {args.idle_connections} idle TLS connections held open",
                                  paced(args.rate, args.seconds, direct), args.rate)  # fmt: skip
            finally:
                for sock in idle:
                    sock.close()
            with_hooks = report("dry-run create through the apiserver, with webhooks",
                                paced(args.rate, args.seconds, create), args.rate)  # fmt: skip
            for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
                kube.delete(kube.require("admissionregistration.k8s.io/v1", kind), None, name)
            time.sleep(2)
            without = report("dry-run create through the apiserver, no webhooks",
                             paced(args.rate, args.seconds, create), args.rate)  # fmt: skip
            print(f"{'p99 added by the two webhooks (with - without)':58s} {with_hooks - without:6.2f} ms")
            print(
                f"target: webhook p99 <= 25 ms at {args.rate:.0f}/s: {'met' if p99 <= 25 else 'NOT met'}; "
                f"with {args.idle_connections} idle connections: {'met' if p99_idle <= 25 else 'NOT met'}"
            )
        finally:
            op.terminate()
            kubeenv.delete_namespace(cluster.api_client, ns)
    return 0


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the control plane the bench started is stopped
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    sys.exit(main())
