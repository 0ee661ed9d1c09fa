"""Loading registry entries: the embedded default catalogue and `--registry FILE`.

A file may hold one server.json, a JSON list of them, or a registry API list response
(`{servers: [{server, _meta}], metadata}`). Each entry is validated on its own: an invalid one is
reported by name with the reason and skipped, so it never stops the others from rendering. Entries the
registry marks `deprecated` or `deleted` are skipped too: one reader (`sources.entries.parse_items`) serves
this file loader and the operator's sources.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mcpop.api.serverjson import ServerJSON
from mcpop.render.catalog import Catalog
from mcpop.sources.errors import CatalogError

EMBEDDED = "catalog.json"
#: deeper registry JSON is refused (as the YAML input reader refuses deeper YAML)
MAX_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


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


def _read_json(path: Path) -> Any:
    """A registry file's JSON; ValueError with a clear reason for bytes, depth or characters JSON cannot carry."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    _check_json(data)
    return data


def _check_json(data: Any) -> None:
    """Refuse nesting past MAX_DEPTH and lone UTF-16 surrogates (`"\\ud800"`, which no output can encode)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        node, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels (at {where or 'the top'})")
        if isinstance(node, dict):
            stack += [(v, depth + 1, f"{where}.{k}" if where else str(k)) for k, v in node.items()]
            stack += [(k, depth, where) for k in node]
        elif isinstance(node, list):
            stack += [(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(node)]
        elif isinstance(node, str) and _SURROGATE.search(node):
            raise ValueError(f"{where or 'a string'}: a lone UTF-16 surrogate escape is not a character")


def load_registry_file(path: Path) -> tuple[Catalog, list[str]]:
    """The catalogue in a JSON file and a message per skipped entry; OSError/ValueError if unreadable."""
    entries, problems = parse_entries(_read_json(path), str(path))
    return Catalog(entries, f"registry file {path}"), problems


def load_embedded() -> Catalog:
    """The default catalogue shipped with mcpop (well-known reference servers)."""
    text = resources.files("mcpop").joinpath("data", EMBEDDED).read_text(encoding="utf-8")
    entries, problems = parse_entries(json.loads(text), "embedded catalogue")
    if problems:  # a packaging bug, not a user error
        raise CatalogError("; ".join(problems))
    return Catalog(entries, "embedded catalogue")
