"""The `mcp` CLI as a user runs it: a subprocess of this interpreter, with no KUBECONFIG from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: a kubeconfig that does not exist: commands that need a cluster fail at once, naming it
NO_CLUSTER = ["--kubeconfig", "/nonexistent/mcpop-kubeconfig"]


def mcp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `mcp ARGS...` from the repository root; its exit code and output."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [sys.executable, "-c", "from mcpop.cli.main import run; run()", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env,
    )  # fmt: skip
