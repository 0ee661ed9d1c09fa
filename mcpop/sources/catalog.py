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

from mcpop.api.serverjson import ServerJSON
from mcpop.codec.reader import REGISTRY_DATA, load_json
from mcpop.render.catalog import Catalog
from mcpop.sources.entries import parse_items
from mcpop.sources.errors import CatalogError

EMBEDDED = "catalog.json"


def parse_entries(data: Any, source: str) -> tuple[list[ServerJSON], list[str]]:
    """Valid entries in `data` (parsed JSON) and one message per invalid or skipped entry.

    Read by `mcpop.sources.entries.parse_items`, as the operator's sources read it: entries the registry
    marks deprecated or deleted are skipped, invalid ones reported by name."""
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
