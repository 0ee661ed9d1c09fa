"""ConfigMaps and Secrets an MCPServer references, and the hash of their content. Pure."""

from __future__ import annotations

import hashlib
import json
from typing import Any

Ref = tuple[str, str]  # (kind, name): ("Secret", "db"), ("ConfigMap", "settings")
_CM_KEYS = ("configMapKeyRef", "configMapRef", "configMap")
_SECRET_KEYS = ("secretKeyRef", "secretRef")


def referenced(spec: dict[str, Any]) -> set[Ref]:
    """Every ConfigMap/Secret the (wire-form) spec names: env valueFrom, envFrom, secretRefs, volumes
    (including projected sources) and configSources."""
    out: set[Ref] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, dict):
                    if key in _CM_KEYS and value.get("name"):
                        out.add(("ConfigMap", str(value["name"])))
                    elif key in _SECRET_KEYS and value.get("name"):
                        out.add(("Secret", str(value["name"])))
                    elif key == "secret" and (value.get("secretName") or value.get("name")):
                        out.add(("Secret", str(value.get("secretName") or value.get("name"))))
                elif key == "secretRefs" and isinstance(value, list):
                    out.update(("Secret", str(r["name"])) for r in value if isinstance(r, dict) and r.get("name"))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec)
    return out


def content_hash(obj: dict[str, Any]) -> str:
    """The hash of a ConfigMap's or Secret's data (not its metadata)."""
    body = {"data": obj.get("data") or {}, "binaryData": obj.get("binaryData") or {}}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def combined_hash(hashes: dict[Ref, str | None]) -> str | None:
    """One hash over the referenced objects' content hashes (None → absent); None when nothing is referenced."""
    if not hashes:
        return None
    text = "\n".join(f"{k}/{n}={h or '-'}" for (k, n), h in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
