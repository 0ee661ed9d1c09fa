"""The mutating webhook's defaults: exactly the CRD schema's `default`s (so clusters with and without the
webhook agree), applied as the apiserver's structural defaulting does, plus the serving port 8080 of the
original API for a flat-form server that names no port anywhere, and the per-field defaults of a partial
`resources` (mcpop.api.mcpserver.completed_resources, as the model sets them). Pure."""

from __future__ import annotations

import copy
import functools
from typing import Any

from mcpop.api.crd import RESOURCES, crd
from mcpop.api.mcpserver import completed_resources

DEFAULT_PORT = 8080


@functools.cache
def _schema(kind: str) -> dict[str, Any]:
    for model in RESOURCES:
        if model.__name__ == kind:
            schema: dict[str, Any] = crd(model)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(kind)


def _default(value: Any, schema: dict[str, Any]) -> None:
    """Fill absent properties that have a `default`, depth first, as the apiserver does."""
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default(value[name], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in (schema.get("properties") or {}):
                    _default(value[key], extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default(item, schema["items"])


def _names_a_port(spec: dict[str, Any]) -> bool:
    return any(
        isinstance(part, dict) and part.get("port") is not None
        for part in (spec, spec.get("runtime"), spec.get("transport"))
    )


def _complete_resources(spec: dict[str, Any]) -> None:
    res = spec.get("resources")
    if not isinstance(res, dict):
        return
    req, lim = res.get("requests"), res.get("limits")
    if not isinstance(req or {}, dict) or not isinstance(lim or {}, dict):
        return  # validation names the field
    try:
        res["requests"], res["limits"] = completed_resources(req, lim)
    except (ValueError, TypeError):
        return  # not a quantity: validation names it


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` (an MCPServer, MCPRegistry or MCPServerBackup) with every default set."""
    out = copy.deepcopy(obj)
    _default(out, _schema(str(obj.get("kind"))))
    spec = out.get("spec")
    if obj.get("kind") == "MCPServer" and isinstance(spec, dict):
        flat = spec.get("image") is not None and spec.get("runtime") is None and spec.get("registry") is None
        if flat and not _names_a_port(spec):
            spec["port"] = DEFAULT_PORT
        _complete_resources(spec)
    return out
