"""Feature models load on first use: a spec that sets no feature never imports or builds them, one that
sets a feature gets the feature's model, and its errors carry the full location and the usual messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from mcpop.api.explain import explain
from mcpop.api.features import Autoscaling, Monitoring
from mcpop.api.mcpserver import MCPServer

ROOT = Path(__file__).resolve().parents[2]
BASE = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "s"}}


def _server(**spec: object) -> dict[str, object]:
    return {**BASE, "spec": {"image": "ghcr.io/example/mcp", **spec}}


def test_a_server_without_features_loads_neither_the_feature_nor_the_registry_models() -> None:
    code = ("import sys\nfrom mcpop.cli.main import run\nimport atexit\n"
            "atexit.register(lambda: print('LOADED=' + ','.join(m for m in ('mcpop.api.features', "
            "'mcpop.api.serverjson') if m in sys.modules), file=sys.stderr))\nrun()")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code, "render", "-f", "examples/02-mcpserver-basic.yaml"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "LOADED="


def test_a_feature_the_spec_sets_is_an_instance_of_its_model() -> None:
    server = MCPServer.model_validate(_server(autoscaling={"hpa": {"enabled": True, "maxReplicas": 3}}))
    assert isinstance(server.spec.autoscaling, Autoscaling)
    assert server.spec.autoscaling.hpa is not None and server.spec.autoscaling.hpa.max_replicas == 3


def test_a_feature_dumps_as_its_model_does() -> None:
    monitoring = {"enabled": True, "interval": "15s", "labels": {}}
    server = MCPServer.model_validate(_server(monitoring=monitoring))
    assert server.wire()["spec"]["monitoring"] == Monitoring.model_validate(monitoring).wire()


@pytest.mark.parametrize(
    ("spec", "loc", "message"),
    [
        ({"autoscaling": {"hpa": {"minReplica": 2}}}, ("spec", "autoscaling", "hpa", "minReplica"),
         "unknown field; did you mean minReplicas?"),
        ({"istio": {"enabled": "yes"}}, ("spec", "istio", "enabled"),
         "Input should be a valid boolean (true or false), got a string"),
        ({"monitoring": []}, ("spec", "monitoring"), "Input should be a valid mapping, got a list"),
    ],
)  # fmt: skip
def test_a_bad_feature_is_reported_at_its_field_with_the_usual_message(
    spec: dict[str, object], loc: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        MCPServer.model_validate(_server(**spec))
    (err,) = info.value.errors(include_url=False)
    assert explain(err, MCPServer) == (loc, message)
