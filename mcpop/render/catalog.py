"""A catalogue of registry entries and the name lookup `spec.registry.name` goes through.

Pure: the entries are loaded elsewhere (mcpop.sources.catalog) and handed in.

Name resolution, first rule that matches wins:

1. the full name (`io.modelcontextprotocol/filesystem`), compared case-insensitively;
2. the last path segment (`filesystem`);
3. the last segment with the usual affixes stripped from both sides of the comparison: a leading
   `mcp-server-`, `server-` or `mcp-` and a trailing `-mcp-server`, `-server` or `-mcp` (so
   `filesystem-server`, `server-filesystem` and `mcp-server-filesystem` all mean `filesystem`).

A rule that matches entries of more than one server name is ambiguous and an error listing them; no
match is an error listing the nearest names. Among the versions of the chosen name, `version` picks
one exactly, else the newest (semantic-version order, pre-releases before their release).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from mcpop.api.serverjson import ServerJSON
from mcpop.render.errors import RenderError

_PREFIXES = ("mcp-server-", "server-", "mcp-")
_SUFFIXES = ("-mcp-server", "-server", "-mcp")


def stem(name: str) -> str:
    """The comparable core of a short name: lower case, affixes such as `server-` and `-mcp` removed."""
    out = name.rsplit("/", 1)[-1].lower().replace("_", "-")
    for prefix in _PREFIXES:
        if out.startswith(prefix) and len(out) > len(prefix):
            out = out[len(prefix) :]
            break
    for suffix in _SUFFIXES:
        if out.endswith(suffix) and len(out) > len(suffix):
            out = out[: -len(suffix)]
            break
    return out


def version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """Sort key of a version: numeric parts, then release after its pre-releases; unparsable lowest."""
    match = re.match(r"^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$", version)
    if match is None:
        return (), 0, version
    numbers = tuple(int(p) for p in match.group(1).split("."))
    pre = match.group(2)
    return numbers, 0 if pre else 1, pre or ""


class EntryNotFound(RenderError):
    """No catalogue entry has the name (or the version) the spec asks for."""


class AmbiguousEntry(RenderError):
    """A short name matches entries of more than one server."""


@dataclass
class Catalog:
    """Registry entries (any number of versions per name) and lookup by full or short name."""

    entries: list[ServerJSON] = field(default_factory=list)
    source: str = "catalogue"

    def names(self) -> list[str]:
        """The distinct server names, sorted."""
        return sorted({e.name for e in self.entries})

    def versions(self, name: str) -> list[ServerJSON]:
        """The entries of one server name, oldest first."""
        return sorted((e for e in self.entries if e.name == name), key=lambda e: version_key(e.version))

    def _match(self, query: str) -> list[str]:
        names = self.names()
        q = query.lower()
        for key in (
            lambda n: n.lower() == q,
            lambda n: n.rsplit("/", 1)[-1].lower() == q.rsplit("/", 1)[-1],
            lambda n: stem(n) == stem(q),
        ):
            found = [n for n in names if key(n)]
            if found:
                return found
        return []

    def resolve(self, query: str, version: str | None = None) -> ServerJSON:
        """The entry `query` names (at `version`, else the newest); RenderError naming the field if none."""
        found = self._match(query)
        if len(found) > 1:
            raise AmbiguousEntry(
                "spec.registry.name",
                f"{query!r} is ambiguous in the {self.source}: it matches {', '.join(found)}; use the full name",
            )
        if not found:
            raise EntryNotFound("spec.registry.name", f"{query!r} is not in the {self.source}{self._hint(query)}")
        entries = self.versions(found[0])
        if version is None:
            return entries[-1]
        for entry in entries:
            if entry.version == version or entry.version == version.removeprefix("v"):
                return entry
        have = ", ".join(e.version for e in entries)
        raise EntryNotFound("spec.registry.version", f"{found[0]} has no version {version!r} (available: {have})")

    def _hint(self, query: str) -> str:
        keys: dict[str, str] = {}
        for name in self.names():
            for key in (name.lower(), name.rsplit("/", 1)[-1].lower(), stem(name)):
                keys.setdefault(key, name)
        close = difflib.get_close_matches(query.lower(), list(keys), n=5, cutoff=0.5)
        close += difflib.get_close_matches(stem(query), list(keys), n=5, cutoff=0.5)
        candidates = list(dict.fromkeys(keys[c] for c in close))[:5]
        if candidates:
            return f"; nearest: {', '.join(candidates)}"
        return f"; known: {', '.join(self.names()[:10]) or 'none'}"

    @classmethod
    def of(cls, entries: Iterable[ServerJSON], source: str = "catalogue") -> Catalog:
        """A catalogue of `entries`."""
        return cls(list(entries), source)
