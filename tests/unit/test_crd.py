"""The generated CRDs: in sync with the models, structural, and carrying what kubectl users rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mcpop.render.crds import crd_files

ROOT = Path(__file__).resolve().parents[2]
GENERATED = crd_files()


def _schema(name: str) -> dict[str, Any]:
    doc = yaml.safe_load(GENERATED[name])
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, sub in node.get("properties", {}).items():
            out += _walk(sub, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            out += _walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            out += _walk(node["additionalProperties"], f"{path}{{}}")
    return out


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_schemas_directory_matches_the_models(name: str) -> None:
    committed = (ROOT / "schemas" / name).read_text()
    assert committed == GENERATED[name], f"schemas/{name} is stale: run `tools/gen-crds`"


def test_no_schema_file_without_a_model() -> None:
    assert sorted(p.name for p in (ROOT / "schemas").glob("*.yaml")) == sorted(GENERATED)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_schema_is_structural(name: str) -> None:
    forbidden = {"$ref", "$defs", "definitions", "uniqueItems", "const", "discriminator", "oneOf", "not"}
    for path, node in _walk(_schema(name)):
        assert not forbidden & set(node), f"{path}: has {forbidden & set(node)}"
        if "properties" in node:
            assert "additionalProperties" not in node, f"{path}: additionalProperties beside properties"
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") is True, f"{path}: anyOf that is not int-or-string"
        else:
            assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{path}: no type"
        assert {"type": "null"} not in node.get("anyOf", []), f"{path}: null union"
        if "exclusiveMinimum" in node:
            assert isinstance(node["exclusiveMinimum"], bool), f"{path}: numeric exclusiveMinimum"
        free_form = "properties" not in node and "additionalProperties" not in node
        if node.get("type") == "object" and free_form and path != ".metadata":  # the apiserver owns metadata
            assert node.get("x-kubernetes-preserve-unknown-fields") is True, f"{path}: free-form map unmarked"
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            required = node["items"].get("required", [])
            defaults = {k for k, v in node["items"]["properties"].items() if "default" in v}
            assert set(keys) <= set(required) | defaults, f"{path}: list-map keys must be required"


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        (".spec.env", ["name"]),
        (".spec.volumes", ["name"]),
        (".spec.ports", ["name"]),
        (".spec.volumeMounts", ["mountPath"]),
        (".status.conditions", ["type"]),
        (".spec.runtime.env", ["name"]),
    ],
)
def test_keyed_lists_are_list_maps(path: str, keys: list[str]) -> None:
    nodes = dict(_walk(_schema("mcpservers.mcp.allbeone.io.yaml")))
    assert nodes[path]["x-kubernetes-list-type"] == "map"
    assert nodes[path]["x-kubernetes-list-map-keys"] == keys


def test_mcpserver_defaults_follow_the_contract() -> None:
    spec = dict(_walk(_schema("mcpservers.mcp.allbeone.io.yaml")))
    assert spec[".spec.replicas"]["default"] == 1
    assert spec[".spec.serviceType"]["default"] == "ClusterIP"
    assert spec[".spec.serviceType"]["enum"] == ["ClusterIP", "NodePort", "LoadBalancer"]
    assert spec[".spec.tag"]["default"] == "latest"
    assert spec[".spec.resources"]["default"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    assert spec[".spec.securityContext"]["default"] == {"runAsNonRoot": True, "runAsUser": 1000}
    # the path defaults by transport (/mcp, or /sse for sse) at render time, so the schema gives none
    assert "default" not in spec[".spec.transport.path"]
    assert spec[".spec.replicas"]["minimum"] == 0
    assert spec[".spec.port"]["maximum"] == 65535


def test_quantities_are_int_or_string_with_the_kubernetes_pattern_and_never_negative() -> None:
    node = dict(_walk(_schema("mcpservers.mcp.allbeone.io.yaml")))[".spec.resources.requests{}"]
    assert node["x-kubernetes-int-or-string"] is True
    assert node["pattern"].startswith("^\\+?(")
    assert node["minimum"] == 0


def test_cross_field_rules_are_cel_validations() -> None:
    nodes = dict(_walk(_schema("mcpservers.mcp.allbeone.io.yaml")))
    spec_rules = " ".join(r["rule"] for r in nodes[".spec"]["x-kubernetes-validations"])
    assert "has(self.registry)" in spec_rules
    for field in ("image", "port", "command", "args"):
        assert f"self.{field} == self.runtime.{field}" in spec_rules
    hpa_rules = nodes[".spec.autoscaling.hpa"]["x-kubernetes-validations"]
    assert "self.minReplicas <= self.maxReplicas" in hpa_rules[0]["rule"]
    reg = dict(_walk(_schema("mcpregistries.mcp.allbeone.io.yaml")))[".spec"]
    assert "size() == 1" in reg["x-kubernetes-validations"][0]["rule"]


def test_mcpserver_crd_has_status_scale_short_names_category_and_columns() -> None:
    doc = yaml.safe_load(GENERATED["mcpservers.mcp.allbeone.io.yaml"])
    version = doc["spec"]["versions"][0]
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.replicas"
    assert doc["spec"]["names"]["shortNames"] == ["mcps", "mcpsrv"]
    assert doc["spec"]["names"]["categories"] == ["mcp"]
    columns = [c["name"].upper() for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert ["NAME", *columns] == ["NAME", "IMAGE", "TAG", "REPLICAS", "READY", "PHASE", "AGE"]
    wide = [c for c in version["additionalPrinterColumns"] if c.get("priority")]
    assert wide == [{"name": "Verified", "type": "string", "priority": 1,
                     "jsonPath": '.status.conditions[?(@.type=="Verified")].status'}]  # fmt: skip


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_every_crd_is_in_the_mcp_category(name: str) -> None:
    doc = yaml.safe_load(GENERATED[name])
    assert doc["spec"]["names"]["categories"] == ["mcp"]
    assert doc["spec"]["versions"][0]["subresources"]["status"] == {}


def test_mcpserver_crd_is_an_applyset_parent_type() -> None:
    doc = yaml.safe_load(GENERATED["mcpservers.mcp.allbeone.io.yaml"])
    assert doc["metadata"]["labels"]["applyset.kubernetes.io/is-parent-type"] == "true"
