"""Render benchmark: prints figures, asserts nothing.

1. Cold start: median wall time of >= 10 fresh `mcp render -f examples/02-mcpserver-basic.yaml`
   processes, beside a bare `python -c pass`.
2. Bulk: 1,000 specs with every feature on, validated, rendered and dumped to YAML in one process.

Run: python bench/render.py [--runs N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples/02-mcpserver-basic.yaml"
EVERYTHING = ROOT / "tests/fixtures/specs/feature-everything.yaml"


def _cold(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _full_featured() -> list[dict[str, Any]]:
    """The every-feature fixture: HPA, VPA, tenancy, Istio, monitoring, config, volumes, secrets, PDB."""
    from mcpop.cli.load import load_files

    loaded = load_files([EVERYTHING])
    return [r.model_dump(mode="json", by_alias=True, exclude_none=True) for _, _, r in loaded.resources]


def _bulk(count: int) -> tuple[float, float, int]:
    from mcpop.api.mcpserver import MCPServer
    from mcpop.render import render
    from mcpop.sources.catalog import load_embedded

    catalog = load_embedded()
    base = _full_featured()
    docs = []
    for i in range(count):
        doc = copy.deepcopy(base[i % len(base)])
        doc["metadata"] = {"name": f"server-{i}", "namespace": f"ns-{i % 7}"}
        doc["spec"]["tenancy"]["tenantId"] = f"tenant-{i % 13}"
        docs.append(doc)
    start, cpu = time.perf_counter(), time.process_time()
    size = 0
    for doc in docs:
        server = MCPServer.model_validate(doc)
        reg = server.spec.registry
        entry = catalog.resolve(reg.name, reg.version) if reg else None
        size += len(render(server, entry).to_yaml())
    return time.perf_counter() - start, time.process_time() - cpu, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    py = sys.executable
    bare = _cold([py, "-c", "pass"], args.runs)
    cli = [py, "-c", "from mcpop.cli.main import run; run()", "render", "-f", str(EXAMPLE)]
    cold = _cold(cli, args.runs)
    help_ms = _cold([py, "-c", "from mcpop.cli.main import run; run()", "--help"], args.runs)
    seconds, cpu, size = _bulk(args.count)
    print(f"python -c pass (median of {args.runs}):          {bare:7.1f} ms")
    print(f"mcp --help cold (median of {args.runs}):         {help_ms:7.1f} ms")
    print(f"mcp render one server cold (median of {args.runs}): {cold:7.1f} ms   target <= 200 ms")
    print(
        f"bulk: {args.count} every-feature specs -> YAML: {seconds:7.3f} s wall, {cpu:.3f} s CPU   target <= 1 s"
        f"  ({size / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
