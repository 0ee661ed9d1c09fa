"""mcpop as a user installs it: its wheel built from this checkout into a new virtual environment.

A development checkout runs `mcp` from the source tree (PYTHONPATH or an editable install), in an interpreter
whose site-packages may carry start-up hooks of its own (`.pth` files: an editable finder, a CA injector); a
user's `pip install mcpop` or `pipx install mcpop` gets an environment with none of them and the console
script `mcp`. Start-up benchmarks print both, so that what the checkout's environment costs is visible.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Installed(NamedTuple):
    """An installed CLI: the venv's interpreter, its `mcp` script and the environment to run them in."""

    python: Path
    mcp: Path
    #: this process's environment without PYTHONPATH (the checkout's sources would shadow the installed package)
    #: and PYTHONDONTWRITEBYTECODE (an installed CLI has its bytecode cache)
    env: dict[str, str]


@contextlib.contextmanager
def installed_mcp() -> Iterator[Installed]:
    """A new virtual environment with mcpop installed from this checkout, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mcpop-bench-venv-") as d:
        env_dir = Path(d)
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        print(f"installing mcpop from {ROOT} into {env_dir} ...", file=sys.stderr, flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
        yield Installed(python, env_dir / "bin" / "mcp", env)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system, the command and its children) seconds of one run of `cmd`; exits with
    the tail of its stderr if it fails."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    took = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {p.stderr.decode()[-500:]}")
    return took, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
