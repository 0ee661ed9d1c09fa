"""What every registry source returns: valid entries, invalid ones reported by name with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mcpop.api.serverjson import ServerJSON, ServerResponse
from mcpop.codec.reader import REGISTRY_DATA, Limits, YAMLInputError, load_value
from mcpop.codec.reader import decode as decode_text
from mcpop.sources.errors import InvalidContent

OFFICIAL_META = "io.modelcontextprotocol.registry/official"


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


@dataclass(frozen=True)
class InvalidEntry:
    """An entry that was skipped: its name (or position) and why."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclass(frozen=True)
class DeletedEntry:
    """An entry the registry marks deleted: remove it (its version, or every version if None)."""

    name: str
    version: str | None = None


@dataclass
class SourceEntries:
    """The outcome of reading one source."""

    entries: list[ServerJSON] = field(default_factory=list)
    invalid: list[InvalidEntry] = field(default_factory=list)
    deleted: list[DeletedEntry] = field(default_factory=list)
    #: entries skipped on purpose (deprecated), as `name version`
    skipped: list[str] = field(default_factory=list)

    def extend(self, other: SourceEntries) -> None:
        self.entries.extend(other.entries)
        self.invalid.extend(other.invalid)
        self.deleted.extend(other.deleted)
        self.skipped.extend(other.skipped)


def official_status(raw: Any) -> str:
    """The registry status (`active`, `deprecated`, `deleted`) of a raw list item; active if unsaid."""
    if not isinstance(raw, dict):
        return "active"
    meta = raw.get("_meta")
    official = meta.get(OFFICIAL_META) if isinstance(meta, dict) else None
    status = official.get("status") if isinstance(official, dict) else None
    return status if isinstance(status, str) else "active"


def _raw_name_version(raw: Any) -> tuple[str | None, str | None]:
    if not isinstance(raw, dict):
        return None, None
    server = raw.get("server")
    inner: dict[str, Any] = server if isinstance(server, dict) else raw
    name, version = inner.get("name"), inner.get("version")
    return (name if isinstance(name, str) else None), (version if isinstance(version, str) else None)


def parse_items(data: Any, source: str) -> SourceEntries:
    """Validate each entry in parsed JSON/YAML: a server.json, a list of them, or a list API response.

    The one reader of registry data: the operator's sources and `mcp render --registry` both use it, so an
    entry the registry marks deprecated or deleted is skipped by both."""
    out = SourceEntries()
    items = list_items(data)
    if items is None:
        out.invalid.append(InvalidEntry(source, "expected a server.json object, a list of them or a server list"))
        return out
    for index, raw in enumerate(items):
        label = _entry_name(raw, index)
        status = official_status(raw)
        if status == "deleted":
            name, version = _raw_name_version(raw)
            out.deleted.append(DeletedEntry(name or label, version))
            continue
        if status != "active":
            out.skipped.append(f"{label} ({status})")
            continue
        try:
            if isinstance(raw, dict) and isinstance(raw.get("server"), dict):
                out.entries.append(ServerResponse.model_validate(raw).server)
            else:
                out.entries.append(ServerJSON.model_validate(raw))
        except ValidationError as exc:
            out.invalid.append(InvalidEntry(label, f"invalid server.json entry ({source}): {_describe(exc)}"))
    return out


def load_text(text: str, source: str, limits: Limits = REGISTRY_DATA) -> Any:
    """One document of JSON or YAML, read within `limits`; InvalidContent naming the source otherwise."""
    try:
        return load_value(text, limits)
    except YAMLInputError as exc:
        raise InvalidContent(f"{source}: {exc}") from None


def decode(body: bytes, source: str, limits: Limits = REGISTRY_DATA) -> str:
    """A file's bytes as UTF-8 text, refused unread past `limits.max_bytes`; InvalidContent naming the source."""
    try:
        return decode_text(body, limits)
    except YAMLInputError as exc:
        raise InvalidContent(f"{source}: {exc}") from None


__all__ = ["DeletedEntry", "InvalidEntry", "SourceEntries", "decode", "load_text", "official_status", "parse_items"]
