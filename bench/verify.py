"""Verification benchmark: prints figures, asserts nothing.

What 1,000 MCPServers cost the verifier (mcpop.apply.verify), against real servers on loopback:

1. Saturated pool: N servers whose endpoint never answers (an HTTP server holding every request), the
   pool at --concurrency with --timeout: how long `Verifier.check` (what a reconcile worker calls) takes
   while every probe thread is busy (p50/p99/max), how many connections the server saw open at once, and
   how long the round took.
2. Healthy servers: N servers verified against one official-SDK MCP server (streamable HTTP): the round's
   wall time and the mean time of one handshake (initialize/server/discover + tools/list).
3. The process's peak RSS with the operator's modules loaded, before and after all those handshakes.

Run: python bench/verify.py [--servers 1000] [--concurrency 4] [--timeout 1] [--healthy 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from mcp_servers import bad_server, sdk_path, sdk_server  # noqa: E402

from mcpop.apply.verify.probe import Verdict, probe  # noqa: E402
from mcpop.apply.verify.verifier import VERIFY_DURATION, Target, Verifier  # noqa: E402


def saturated(servers: int, concurrency: int, timeout: float) -> None:
    inflight = [0, 0]  # now, max
    lock = threading.Lock()

    def counted(url: str, transport: str, t: float, token: str | None) -> Verdict:
        with lock:
            inflight[0] += 1
            inflight[1] = max(inflight[1], inflight[0])
        try:
            return probe(url, transport, t)
        finally:
            with lock:
                inflight[0] -= 1

    with bad_server("hang") as srv:
        ver = Verifier(concurrency, timeout, 0, probe_fn=counted)
        times = []
        start = time.monotonic()
        for i in range(servers):
            t0 = time.perf_counter()
            ver.check(("bench", f"s{i}"), Target(f"{srv.base}/mcp", "streamable-http"))
            times.append(time.perf_counter() - t0)
        # a second pass, as the periodic resync's reconciles would, while the pool is busy
        for i in range(servers):
            t0 = time.perf_counter()
            ver.check(("bench", f"s{i}"), Target(f"{srv.base}/mcp", "streamable-http"))
            times.append(time.perf_counter() - t0)
        ver.wait_idle(servers * timeout * 2 + 60)
        took = time.monotonic() - start
        ver.shutdown()
        times.sort()
        print(f"saturated: {servers} hanging servers, concurrency {concurrency}, timeout {timeout:g}s")
        print(f"  check() while the pool is busy: p50 {times[len(times) // 2] * 1e6:.0f} us, "
              f"p99 {times[int(len(times) * 0.99)] * 1e6:.0f} us, max {times[-1] * 1e3:.2f} ms "
              f"({len(times)} calls)")  # fmt: skip
        print(f"  probes in flight at once: max {inflight[1]} (bound {concurrency}); requests open at once at the "
              f"server: max {srv.max_open} (it notices a closed connection up to 50 ms late)")  # fmt: skip
        print(f"  round: {took:.1f} s (ideal {servers * timeout / concurrency:.1f} s)")


def healthy(servers: int, concurrency: int) -> None:
    with sdk_server("streamable-http", tools=10) as srv:
        ver = Verifier(concurrency, 10.0, 0)
        before_sum, before_n = _hist()
        start = time.monotonic()
        for i in range(servers):
            ver.check(("bench", f"h{i}"), Target(srv.url, "streamable-http"))
        ver.wait_idle(600)
        took = time.monotonic() - start
        ok = sum(ver.check(("bench", f"h{i}"), Target(srv.url, "streamable-http")).status == "True"
                 for i in range(servers))  # fmt: skip
        ver.shutdown()
        after_sum, after_n = _hist()
        mean = (after_sum - before_sum) / max(1, after_n - before_n)
        print(f"healthy: {servers} servers against one SDK server (10 tools), concurrency {concurrency}")
        print(f"  round: {took:.1f} s, verified {ok}/{servers}, one handshake: mean {mean * 1e3:.0f} ms")


def _hist() -> tuple[float, float]:
    total = count = 0.0
    for metric in VERIFY_DURATION.collect():
        for s in metric.samples:
            if s.name.endswith("_sum"):
                total = s.value
            elif s.name.endswith("_count"):
                count = s.value
    return total, count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("--healthy", type=int, default=200)
    args = p.parse_args()
    os.environ.setdefault("MCPOP_MCP_SDK_PATH", sdk_path())
    logging.getLogger("mcpop.verify").setLevel(logging.ERROR)  # one line per failed probe otherwise
    import kubernetes.client  # noqa: F401 - what the operator process holds before any handshake

    import mcpop.apply.manager  # noqa: F401

    base = _rss()
    saturated(args.servers, args.concurrency, args.timeout)
    if args.healthy:
        healthy(args.healthy, args.concurrency)
    print(f"peak RSS: {base:.1f} MiB with the operator's modules, {_rss():.1f} MiB after the handshakes")


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
