"""Loading registry entries: the embedded default catalogue and `--registry FILE`.

A file may hold one server.json, a JSON list of them, or a registry API list response
(`{servers: [{server, _meta}], metadata}`). Each entry is validated on its own: an invalid one is
reported by name with the reason and skipped, so it never stops the others from rendering. Entries the
registry marks `deprecated` or `deleted` are skipped too: one reader (`sources.entries.parse_items`) serves
this file loader and the operator's sources.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mcpop.api.serverjson import ServerJSON
from mcpop.codec.reader import REGISTRY_DATA, load_json
from mcpop.render.catalog import Catalog
from mcpop.sources.errors import CatalogError

EMBEDDED = "catalog.json"


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}" if loc else err["msg"])
    return "; ".join(parts)


def _entry_name(raw: Any, index: int) -> str:
    if isinstance(raw, dict):
        server = raw.get("server")
        inner = server if isinstance(server, dict) else raw
        name, version = inner.get("name"), inner.get("version")
        if isinstance(name, str):
            return f"{name} {version}" if isinstance(version, str) else name
    return f"entry {index}"


def list_items(data: Any) -> list[Any] | None:
    """The entries of parsed registry data: a server.json, a list of them, or an API list response."""
    if isinstance(data, dict) and isinstance(data.get("servers"), list):
        return list(data["servers"])
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return [data]
    return None


def parse_entries(data: Any, source: str) -> tuple[list[ServerJSON], list[str]]:
    """Valid entries in `data` (parsed JSON) and one message per invalid or skipped entry.

    Read by `mcpop.sources.entries.parse_items`, as the operator's sources read it: entries the registry
    marks deprecated or deleted are skipped, invalid ones reported by name."""
    from mcpop.sources.entries import parse_items

    found = parse_items(data, source)
    problems = [f"{source}: {e.name}: {e.reason}; skipped" for e in found.invalid]
    problems += [
        f"{source}: {d.name}{f' {d.version}' if d.version else ''}: skipped (deleted in the registry)"
        for d in found.deleted
    ]
    problems += [f"{source}: {s}: skipped (not active in the registry)" for s in found.skipped]
    return found.entries, problems


def load_registry_file(path: Path) -> tuple[Catalog, list[str]]:
    """The catalogue in a JSON file and a message per skipped entry; OSError, or ValueError (YAMLInputError) for
    bytes, depth, size or characters JSON cannot carry."""
    entries, problems = parse_entries(load_json(path.read_bytes(), REGISTRY_DATA), str(path))
    return Catalog(entries, f"registry file {path}"), problems


def load_embedded() -> Catalog:
    """The default catalogue shipped with mcpop (well-known reference servers)."""
    text = resources.files("mcpop").joinpath("data", EMBEDDED).read_text(encoding="utf-8")
    entries, problems = parse_entries(json.loads(text), "embedded catalogue")
    if problems:  # a packaging bug, not a user error
        raise CatalogError("; ".join(problems))
    return Catalog(entries, "embedded catalogue")
