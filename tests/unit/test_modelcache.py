"""The CLI's cache of built pydantic validators: a second `mcp render` loads them instead of building them,
renders byte-identical output and the same errors, and a missing, corrupt or disabled cache changes nothing
but speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/02-mcpserver-basic.yaml"
PROBE = ("import atexit, sys\nfrom mcpop.cli import modelcache\n"
         "atexit.register(lambda: sys.stderr.write('LOADED=%d\\n' % len(modelcache._loaded)))\n"
         "from mcpop.cli.main import run\nrun()")  # fmt: skip


def _render(cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "MCPOP_CACHE_DIR": str(cache), **env}
    return subprocess.run([sys.executable, "-c", PROBE, "render", *args], capture_output=True, text=True, cwd=ROOT,
                          env=full, timeout=60)  # fmt: skip


def _loaded(r: subprocess.CompletedProcess[str]) -> int:
    return int(r.stderr.rsplit("LOADED=", 1)[1].split()[0])


def test_a_second_render_loads_the_validators_and_renders_the_same_bytes(tmp_path: Path) -> None:
    first = _render(tmp_path, "-f", EXAMPLE)
    assert first.returncode == 0, first.stderr
    assert _loaded(first) == 0
    assert list((tmp_path / "models").glob("*.pickle"))
    second = _render(tmp_path, "-f", EXAMPLE)
    assert second.returncode == 0, second.stderr
    assert _loaded(second) > 0
    assert second.stdout == first.stdout


def test_bad_input_gets_the_same_errors_from_cached_validators(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: x}\n"
                   "spec: {image: a, replicas: '3', port: 70000, lables: {}}\n")  # fmt: skip
    _render(tmp_path, "-f", EXAMPLE)
    cold = _render(tmp_path, "-f", str(bad), MCPOP_MODEL_CACHE="0")
    warm = _render(tmp_path, "-f", str(bad))
    assert cold.returncode == warm.returncode == 2
    assert _loaded(warm) > 0
    strip = lambda text: text.rsplit("LOADED=", 1)[0]  # noqa: E731
    assert strip(warm.stderr) == strip(cold.stderr)


def test_a_corrupt_cache_is_ignored_and_replaced(tmp_path: Path) -> None:
    _render(tmp_path, "-f", EXAMPLE)
    (cached,) = (tmp_path / "models").glob("*.pickle")
    cached.write_bytes(b"not a pickle")
    r = _render(tmp_path, "-f", EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert _loaded(r) == 0
    assert cached.read_bytes() != b"not a pickle"


def test_disabled_it_writes_nothing(tmp_path: Path) -> None:
    r = _render(tmp_path, "-f", EXAMPLE, MCPOP_MODEL_CACHE="0")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "models").exists()
