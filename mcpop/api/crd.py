"""Generate the three CustomResourceDefinitions from the pydantic models.

pydantic's JSON Schema is not a structural CRD schema as it stands: this module inlines `$ref`s, turns
`anyOf [X, null]` into `X` with `nullable`, maps `const` to `enum`, drops what structural schemas forbid,
and adds the Kubernetes extensions. Run `python -m mcpop.api.crd schemas/` to rewrite `schemas/`.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from mcpop import GROUP, VERSION
from mcpop.api.base import Model
from mcpop.api.mcpregistry import MCPRegistry
from mcpop.api.mcpserver import MCPServer
from mcpop.api.mcpserverbackup import MCPServerBackup

_DROP = {"title", "additionalProperties", "uniqueItems", "discriminator", "$schema", "examples"}


class _CRDSchema(GenerateJsonSchema):
    """Emit defaults given by factories too, in their wire (camelCase, pruned) form."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            schema = {**schema, "default": factory()}  # type: ignore[call-arg]
            schema.pop("default_factory", None)
        return super().default_schema(schema)

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, Model):
            return dft.wire()
        return super().encode_default(dft)


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    any_of = node.get("anyOf")
    if any_of and any(b == {"type": "null"} for b in any_of):
        rest = [b for b in any_of if b != {"type": "null"}]
        base = {k: v for k, v in node.items() if k != "anyOf"}
        inner = rest[0] if len(rest) == 1 else {"anyOf": rest}
        merged = {**_structural(inner, defs), **base, "nullable": True}
        if merged.get("default") is None:
            merged.pop("default", None)
        return _structural(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            # a typed map keeps its value schema; a closed object loses `additionalProperties: false`
            if key == "additionalProperties" and isinstance(value, dict) and "properties" not in node:
                out[key] = _structural(value, defs)
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {k: _structural(v, defs) for k, v in value.items()}
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = _structural(value, defs)
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "enum" in out and "type" not in out:
        out["type"] = _json_type(out["enum"][0])
    return out


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string"}[type(value)]


def openapi_schema(model: type[BaseModel], part: str) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one top-level field (spec or status) of a resource model."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_CRDSchema, mode="validation")
    defs = raw.get("$defs", {})
    field = raw["properties"][part]
    return _structural(field, defs)  # type: ignore[no-any-return]


_PRINTER_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "MCPServer": [
        # the image the operator resolved (flat, runtime or registry form), split as the flat form writes it
        {"name": "Image", "type": "string", "jsonPath": ".status.image"},
        {"name": "Tag", "type": "string", "jsonPath": ".status.tag"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        # the MCP handshake through the Service (-o wide)
        {
            "name": "Verified",
            "type": "string",
            "priority": 1,
            "jsonPath": '.status.conditions[?(@.type=="Verified")].status',
        },
    ],
    "MCPRegistry": [
        {"name": "Type", "type": "string", "jsonPath": ".spec.source.type"},
        {"name": "Servers", "type": "integer", "jsonPath": ".status.serversDiscovered"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Last Sync", "type": "date", "jsonPath": ".status.lastSyncTime"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ],
    "MCPServerBackup": [
        {"name": "Server", "type": "string", "jsonPath": ".spec.serverRef.name"},
        {"name": "Type", "type": "string", "jsonPath": ".spec.backupType"},
        {"name": "Storage", "type": "string", "jsonPath": ".spec.storage.type"},
        {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Last Backup", "type": "date", "jsonPath": ".status.lastBackupTime"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ],
}

_NAMES: dict[str, tuple[str, list[str]]] = {
    "MCPServer": ("mcpservers", ["mcps", "mcpsrv"]),
    "MCPRegistry": ("mcpregistries", ["mcpreg"]),
    "MCPServerBackup": ("mcpserverbackups", ["mcpbak", "mcpbackup"]),
}

RESOURCES: list[type[BaseModel]] = [MCPServer, MCPRegistry, MCPServerBackup]


def crd(model: type[BaseModel]) -> dict[str, Any]:
    """The CustomResourceDefinition of one resource model."""
    kind = model.__name__
    plural, short = _NAMES[kind]
    subresources: dict[str, Any] = {"status": {}}
    if kind == "MCPServer":
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        }
    doc = (model.__doc__ or kind).strip().splitlines()[0]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {
                "app.kubernetes.io/name": "mcpop",
                "app.kubernetes.io/part-of": "mcpop",
                # an MCPServer is the ApplySet parent of its objects (KEP-3659); kubectl requires this label
                **({"applyset.kubernetes.io/is-parent-type": "true"} if kind == "MCPServer" else {}),
            },
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": ["mcp"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": subresources,
                    "additionalPrinterColumns": _PRINTER_COLUMNS[kind],
                    "schema": {
                        "openAPIV3Schema": {
                            "description": doc,
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": openapi_schema(model, "spec"),
                                "status": openapi_schema(model, "status"),
                            },
                        }
                    },
                }
            ],
        },
    }


__all__ = ["RESOURCES", "crd", "crd_file_name", "openapi_schema"]


def crd_file_name(model: type) -> str:
    """The file name of a resource model's CRD in `schemas/`: `<plural>.<group>.yaml`."""
    return f"{_NAMES[model.__name__][0]}.{GROUP}.yaml"
