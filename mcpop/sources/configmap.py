"""Entries stored inline in a ConfigMap (or a local file): pure, the caller hands in the data dict.

With `key`, only that key is read (missing → SourceConfigError). Without, every key ending `.json`, `.yaml` or
`.yml` is read, or every key if none does. Each value is JSON or YAML holding one server.json, a list of
them, or a registry list response, read within `CONFIGMAP_DATA` (a ConfigMap holds at most 1 MiB).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mcpop.codec.reader import CONFIGMAP_DATA
from mcpop.sources.entries import InvalidEntry, SourceEntries, load_text, parse_items
from mcpop.sources.errors import InvalidContent, SourceConfigError

SUFFIXES = (".json", ".yaml", ".yml")


def load_configmap(data: Mapping[str, str] | None, key: str | None = None, *, name: str = "configmap") -> SourceEntries:
    """The entries in a ConfigMap's `data`; invalid ones (and unparsable keys) reported, never raised."""
    data = data or {}
    if key is not None:
        if key not in data:
            raise SourceConfigError(f"ConfigMap {name} has no key {key!r} (keys: {', '.join(sorted(data)) or 'none'})")
        keys = [key]
    else:
        keys = sorted(k for k in data if k.lower().endswith(SUFFIXES)) or sorted(data)
        if not keys:
            raise SourceConfigError(f"ConfigMap {name} has no data")
    out = SourceEntries()
    for k in keys:
        label = f"ConfigMap {name} key {k}"
        try:
            parsed = load_text(data[k], label, CONFIGMAP_DATA)
        except InvalidContent as exc:
            out.invalid.append(InvalidEntry(k, str(exc)))
            continue
        out.extend(parse_items(parsed, label))
    return out


def load_file(path: Path) -> SourceEntries:
    """The entries in a local JSON or YAML file (OSError if unreadable)."""
    return load_configmap({path.name: path.read_text(encoding="utf-8")}, path.name, name=str(path))


__all__ = ["load_configmap", "load_file"]
