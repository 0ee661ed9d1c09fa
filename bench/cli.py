#!/usr/bin/env python3
"""CLI start-up and status-check benchmark: prints figures.

Cold `mcp status NAME` (a new process each time, as a person runs it) side by side with
`kubectl get mcpserver NAME -o yaml` against the same cluster, runs interleaved so both see the same load;
also `python -c pass` and `mcp --help`. Each `mcp` figure twice: from this checkout (this interpreter, the
sources on PYTHONPATH) and installed (the wheel in a new virtual environment, its `mcp` script; see
bench/installed.py). Uses `--kubeconfig`, else starts its own control plane with tools/testenv and stops it
afterwards.

    python bench/cli.py [--runs 21] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from installed import installed_mcp, timed

ROOT = Path(__file__).resolve().parents[1]
MCP = [sys.executable, "-c", "from mcpop.cli.main import run; run()"]
SERVER = {
    "apiVersion": "mcp.allbeone.io/v1",
    "kind": "MCPServer",
    "metadata": {"name": "bench-status", "namespace": "default"},
    "spec": {"image": "ghcr.io/example/mcp", "tag": "1"},
}


def busy_fraction(seconds: float = 1.0) -> float:
    """The share of all cores' time that was not idle over the next `seconds` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # all, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(limit: float = 0.05, timeout: float = 120.0) -> str:
    """Wait (at most `timeout` s) until the machine is quiet: a new control plane settles for a minute or so."""
    start = time.monotonic()
    while (busy := busy_fraction()) > limit and time.monotonic() - start < timeout:
        pass
    return f"{busy:.1%} of the cores busy after waiting {time.monotonic() - start:.0f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--kubeconfig")
    args = ap.parse_args()
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        sys.exit("kubectl is not on PATH")
    state = None
    kubeconfig = args.kubeconfig
    if kubeconfig is None:
        state = tempfile.mkdtemp(prefix="mcpop-bench-cli-")
        out = subprocess.run([sys.executable, str(ROOT / "tools" / "testenv"), "up", "--state-dir", state],
                             capture_output=True, text=True, check=True)  # fmt: skip
        # testenv writes JSON; a kubeconfig is YAML as kubectl writes it, which costs mcp the YAML parser's import
        raw = subprocess.run([kubectl, "config", "view", "--raw", "--kubeconfig", out.stdout.strip().splitlines()[-1]],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        kubeconfig = str(Path(state) / "kubeconfig.yaml")
        Path(kubeconfig).write_text(raw)
    # as installed: with bytecode caches (PYTHONDONTWRITEBYTECODE would make every run compile the sources)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"KUBECONFIG": kubeconfig, "PYTHONPATH": str(ROOT)}
    stack = contextlib.ExitStack()
    try:
        installed = stack.enter_context(installed_mcp())
        subprocess.run([kubectl, "apply", "--server-side", "-f", str(ROOT / "schemas")], env=env, check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run([kubectl, "wait", "--for=condition=Established", "crd", "--all"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run([kubectl, "apply", "--server-side", "-f", "-"], input=json.dumps(SERVER).encode(), env=env,
                       check=True, capture_output=True)  # fmt: skip
        name = SERVER["metadata"]["name"]
        venv_env = {**installed.env, "KUBECONFIG": kubeconfig}
        python, script = installed.python, installed.mcp
        cases = {
            "python -c pass (checkout)": ([sys.executable, "-c", "pass"], env),
            "python -c pass (new venv)": ([str(python), "-c", "pass"], venv_env),
            "mcp --help (checkout)": ([*MCP, "--help"], env),
            "mcp --help (installed)": ([str(script), "--help"], venv_env),
            f"mcp status {name} (checkout)": ([*MCP, "status", name], env),
            f"mcp status {name} (installed)": ([str(script), "status", name], venv_env),
            f"kubectl get mcpserver {name} -o yaml": ([kubectl, "get", "mcpserver", name, "-o", "yaml"], env),
        }
        for cmd, cmd_env in cases.values():  # warm the page cache and kubectl's discovery cache
            timed(cmd, cmd_env)
        quiet = wait_quiet()
        times: dict[str, list[float]] = {k: [] for k in cases}
        cpu: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for label, (cmd, cmd_env) in cases.items():
                wall, used = timed(cmd, cmd_env)
                times[label].append(wall)
                cpu[label].append(used)
    finally:
        stack.close()
        if state is not None:
            subprocess.run([sys.executable, str(ROOT / "tools" / "testenv"), "down", "--state-dir", state, "--purge"],
                           capture_output=True)  # fmt: skip
    print(f"cold start, {args.runs} interleaved runs; before them {quiet}; load average {os.getloadavg()[0]:.2f}")
    print(f"  {'':45s} {'wall median (min)':>20s} {'CPU median':>12s}")
    for label, ts in times.items():
        wall = f"{statistics.median(ts) * 1000:.0f} ms ({min(ts) * 1000:.0f})"
        print(f"  {label:45s} {wall:>20s} {statistics.median(cpu[label]) * 1000:9.0f} ms")
    kubectl_t = statistics.median(times[f"kubectl get mcpserver {name} -o yaml"])
    for how in ("checkout", "installed"):
        mcp_t = statistics.median(times[f"mcp status {name} ({how})"])
        print(
            f"  {how}: mcp status / kubectl get: {mcp_t / kubectl_t:.2f}x (target <= 2x); "
            f"mcp --help {statistics.median(times[f'mcp --help ({how})']) * 1000:.0f} ms (target <= 150 ms)"
        )


if __name__ == "__main__":
    main()
