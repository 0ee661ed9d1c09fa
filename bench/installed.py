"""mcpop as a user installs it: its wheel built from this checkout into a new virtual environment.

A development checkout runs `mcp` from the source tree (PYTHONPATH or an editable install), in an interpreter
whose site-packages may carry start-up hooks of its own (`.pth` files: an editable finder, a CA injector); a
user's `pip install mcpop` or `pipx install mcpop` gets an environment with none of them and the console
script `mcp`. Start-up benchmarks print both, so that what the checkout's environment costs is visible.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def installed_mcp() -> Iterator[tuple[Path, Path]]:
    """A new virtual environment with mcpop installed from this checkout: (its python, its `mcp` script)."""
    with tempfile.TemporaryDirectory(prefix="mcpop-bench-venv-") as d:
        env_dir = Path(d)
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        print(f"installing mcpop from {ROOT} into {env_dir} ...", file=sys.stderr, flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        yield python, env_dir / "bin" / "mcp"
