"""Every feature fixture (tests/fixtures/specs/feature-*.yaml, registry-seed-*.yaml) renders without
problems to objects that validate against their schemas, and every kind rendered has an apply rank."""

from __future__ import annotations

from pathlib import Path

import pytest
from featurekit import object_errors

from mcpop.api.mcpserver import MCPServer
from mcpop.cli.load import load_files
from mcpop.cli.render import load_catalog
from mcpop.render import render
from mcpop.render.objectset import KIND_ORDER

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "tests/fixtures/specs"
SEED = ROOT / "tests/fixtures/registry/official-seed.json"
FIXTURES = sorted(SPECS.glob("feature-*.yaml")) + sorted(SPECS.glob("registry-seed-*.yaml"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_renders_to_schema_valid_objects_with_known_kinds(path: Path) -> None:
    loaded = load_files([path])
    assert not loaded.problems, [str(p) for p in loaded.problems]
    catalog, _ = load_catalog(SEED if path.name.startswith("registry-seed-") else None)
    for _, _, resource in loaded.resources:
        assert isinstance(resource, MCPServer)
        reg = resource.spec.registry
        entry = catalog.resolve(reg.name, reg.version) if reg else None
        out = render(resource, entry)
        assert set(out.kinds()) <= set(KIND_ORDER)
        bad = {f"{o['kind']}/{o['metadata']['name']}": object_errors(o) for o in out.objects}
        assert not {k: v for k, v in bad.items() if v}, bad


def test_there_is_a_fixture_for_every_feature() -> None:
    names = {p.stem for p in FIXTURES}
    for feature in (
        "hpa",
        "hpa-custom-metrics",
        "vpa",
        "tenancy-namespace",
        "tenancy-node",
        "tenancy-strict",
        "istio",
        "istio-mtls",
        "monitoring",
        "registry-npm",
        "registry-pypi",
        "registry-oci",
        "remote-only",
        "auth-jwt",
    ):
        assert f"feature-{feature}" in names
