"""The `mcp` CLI as a user runs it: a subprocess of this interpreter, with no KUBECONFIG from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the argv that starts `mcp` (and `mcp operator run`) as installed from its image or wheel, where
#: kubernetes-validate is absent: it is a test dependency (tests/kvalidate.py), and the official client's package
#: imports it whenever it is installed (its dynamic client can validate with it), which costs every process that
#: loads the client ~1.3 s of CPU and ~21 MiB (jsonschema's URI grammar is compiled at import)
BOOT = "import sys; sys.modules['kubernetes_validate'] = None\nfrom mcpop.cli.main import run; run()"
MCP = [sys.executable, "-c", BOOT]
#: a kubeconfig that does not exist: commands that need a cluster fail at once, naming it
NO_CLUSTER = ["--kubeconfig", "/nonexistent/mcpop-kubeconfig"]


def mcp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `mcp ARGS...` from the repository root; its exit code and output."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [*MCP, *args],
        capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env,
    )  # fmt: skip
