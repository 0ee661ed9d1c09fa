"""The Makefile: the targets the original README promised (`make install/run/build/test/generate/manifests/
docker-build/deploy`, plus `release` and `docs`), each listed by `make help` (the default goal) and each a
one-liner over the project's own tool, checked with `make -n` (nothing runs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: target -> what `make -n TARGET` must run
EXPECTED = {
    "install": ["kubectl apply --server-side -f schemas/", "server_side_apply"],
    "run": ["from mcpop.cli.main import run; run()' operator run"],
    "build": ["python3 tools/image build"],
    "test": ["python3 -m pytest"],
    "generate": [
        "python3 tools/gen-crds",
        "python3 tools/gen-chart",
        "python3 tools/gen-docs",
        "python3 -m pytest -q --update-golden",
    ],
    "manifests": ["python3 tools/gen-crds"],
    "docker-build": ["python3 tools/image build", "tools/bridge image"],
    "deploy": ["tools/helm upgrade --install mcp-operator chart/mcp-operator -n mcpop-system --create-namespace"],
    "release": ["python3 tools/release"],
    "docs": ["python3 -m mkdocs build --strict"],
}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> str:
    done = subprocess.run(["make", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_is_the_default_goal_and_lists_every_target_with_a_description() -> None:
    listed = {line.split()[0]: line for line in make().splitlines() if line.strip()}
    assert make("help") == make()
    assert set(EXPECTED) | {"help"} == set(listed)
    assert all(len(line.split()) > 1 for line in listed.values())


@pytest.mark.parametrize("target", sorted(EXPECTED))
def test_each_target_runs_its_tool(target: str) -> None:
    dry = make("-n", target)
    missing = [tool for tool in EXPECTED[target] if tool not in dry]
    assert missing == []


def test_extra_arguments_and_webhooks_reach_the_tool() -> None:
    assert "operator run --enable-webhooks" in make("-n", "run", "WEBHOOKS=1")
    assert (
        make("-n", "release", "ARGS=--registry r.example --version 1.2.3")
        .strip()
        .endswith("tools/release --registry r.example --version 1.2.3")
    )
    assert "-n team-system" in make("-n", "deploy", "NAMESPACE=team-system")
