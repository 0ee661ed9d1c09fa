"""Helpers for the feature tests: building MCPServers and validating every rendered object.

Built-in kinds go through kubernetes-validate (strict, cached per kind, see kvalidate); the CRD kinds
(Istio, VPA, ServiceMonitor) through hand-written JSON schemas in tests/fixtures/crd-schemas/.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from kvalidate import errors as builtin_errors

from mcpop.api.mcpserver import MCPServer
from mcpop.render import ObjectSet

ROOT = Path(__file__).resolve().parents[1]
CRD_SCHEMAS = ROOT / "tests/fixtures/crd-schemas"
CRD_KINDS = {
    "VirtualService": "virtualservice.json",
    "DestinationRule": "destinationrule.json",
    "PeerAuthentication": "peerauthentication.json",
    "VerticalPodAutoscaler": "verticalpodautoscaler.json",
    "ServiceMonitor": "servicemonitor.json",
}


def server(spec: dict[str, Any], name: str = "demo", namespace: str | None = "tools") -> MCPServer:
    """A validated MCPServer with `spec`."""
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return MCPServer.model_validate(
        {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": meta, "spec": spec}
    )


@functools.cache
def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    """The JSON-schema validator of one CRD kind (built once)."""
    schema = json.loads((CRD_SCHEMAS / CRD_KINDS[kind]).read_text())
    return jsonschema.Draft202012Validator(schema)


def object_errors(obj: dict[str, Any]) -> list[str]:
    """Schema violations of one rendered object, whichever kind it is."""
    if obj["kind"] in CRD_KINDS:
        v = crd_validator(obj["kind"])
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(obj)]
    if obj["kind"] == "HTTPRoute":  # the Gateway API's own CRD (tools/third-party-crds)
        from chartkit import schema_errors

        return schema_errors(obj)
    return builtin_errors(obj)


def assert_valid(out: ObjectSet) -> None:
    """Every object in the set validates against its schema."""
    problems = {f"{o['kind']}/{o['metadata']['name']}": object_errors(o) for o in out.objects}
    assert not {k: v for k, v in problems.items() if v}, problems


def get(out: ObjectSet, kind: str, name: str | None = None) -> dict[str, Any]:
    """The object of `kind` (and `name`); fails the test when absent."""
    obj = out.get(kind, name)
    assert obj is not None, f"no {kind} in {out.kinds()}"
    return obj


def pod_template(out: ObjectSet) -> dict[str, Any]:
    """The Deployment's pod template."""
    return get(out, "Deployment")["spec"]["template"]  # type: ignore[no-any-return]
