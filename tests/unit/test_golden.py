"""Golden files: every example and fixture renders exactly to its committed snapshot, byte for byte.

Regenerate after an intended change (every golden file, this one among them) with
`python -m pytest --update-golden` and review `git diff golden/`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mcpop.cli.render import render_files

ROOT = Path(__file__).resolve().parents[2]
SEED_REGISTRY = ROOT / "tests/fixtures/registry/official-seed.json"
OCI_STDIO_REGISTRY = ROOT / "tests/fixtures/registry/oci-stdio.json"
#: the image configs `registry-oci-stdio-*` specs render with (as `--image-config REF=FILE`)
IMAGE_CONFIGS = [
    f"ghcr.io/github/github-mcp-server:0.20.2={ROOT / 'tests/fixtures/image-configs/github-mcp-server.json'}"
]
INPUTS = [
    *sorted((ROOT / "examples").glob("*-mcpserver-*.yaml")),
    *sorted((ROOT / "tests/fixtures/specs").glob("*.yaml")),
]


def _golden_path(source: Path) -> str:
    return f"{source.parent.name}/{source.name}"


def _render(source: Path) -> str:
    if source.name.startswith("registry-oci-stdio-"):
        text, problems, _ = render_files([source], registry=OCI_STDIO_REGISTRY, image_configs=IMAGE_CONFIGS)
        assert not problems, problems
        return text
    registry = SEED_REGISTRY if source.name.startswith("registry-seed-") else None
    # a hostPath volume is outside "restricted": rendered as for a namespace an admin allows "privileged"
    level = "privileged" if source.name == "volume-hostpath.yaml" else "restricted"
    text, problems, _ = render_files([source], registry=registry, pod_security=level)
    assert not problems, problems
    return text


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_renders_to_its_golden_file(source: Path, golden: Callable[[str, str], None]) -> None:
    golden(_golden_path(source), _render(source))


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_rendering_twice_gives_identical_bytes(source: Path) -> None:
    assert _render(source).encode() == _render(source).encode()


def test_every_golden_file_has_an_input() -> None:
    expected = {ROOT / "golden" / _golden_path(s) for s in INPUTS}
    # golden/backup/, golden/cli/ and golden/install/ belong to the backup, CLI and chart tests
    assert {p for d in ("examples", "specs") for p in (ROOT / "golden" / d).rglob("*.yaml")} <= expected


def test_there_are_goldens_for_every_seed_example_and_ten_more_features() -> None:
    seeds = [p for p in INPUTS if p.parent.name == "examples"]
    assert len(seeds) >= 5
    assert len(INPUTS) - len(seeds) >= 10
