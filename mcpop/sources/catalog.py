"""Loading registry entries: the embedded default catalogue and `--registry FILE`.

A file may hold one server.json, a JSON list of them, or a registry API list response
(`{servers: [{server, _meta}], metadata}`). Each entry is validated on its own: an invalid one is
reported by name with the reason and skipped, so it never stops the others from rendering. Entries the
registry marks `deleted` are skipped too.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mcpop.api.serverjson import ServerJSON, ServerResponse
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
    """Valid entries in `data` (parsed JSON) and one message per invalid or skipped entry."""
    items = list_items(data)
    if items is None:
        return [], [f"{source}: expected a server.json object, a list of them or a server list response"]
    entries: list[ServerJSON] = []
    problems: list[str] = []
    for index, raw in enumerate(items):
        label = f"{source}: {_entry_name(raw, index)}"
        try:
            if isinstance(raw, dict) and isinstance(raw.get("server"), dict):
                response = ServerResponse.model_validate(raw)
                if response.status == "deleted":
                    problems.append(f"{label}: skipped (deleted in the registry)")
                    continue
                entries.append(response.server)
            else:
                entries.append(ServerJSON.model_validate(raw))
        except ValidationError as exc:
            problems.append(f"{label}: invalid server.json entry, skipped: {_describe(exc)}")
    return entries, problems


def load_registry_file(path: Path) -> tuple[Catalog, list[str]]:
    """The catalogue in a JSON file and a message per skipped entry; OSError/ValueError if unreadable."""
    data = json.loads(path.read_text(encoding="utf-8"))
    entries, problems = parse_entries(data, str(path))
    return Catalog(entries, f"registry file {path}"), problems


def load_embedded() -> Catalog:
    """The default catalogue shipped with mcpop (well-known reference servers)."""
    text = resources.files("mcpop").joinpath("data", EMBEDDED).read_text(encoding="utf-8")
    entries, problems = parse_entries(json.loads(text), "embedded catalogue")
    if problems:  # a packaging bug, not a user error
        raise CatalogError("; ".join(problems))
    return Catalog(entries, "embedded catalogue")
