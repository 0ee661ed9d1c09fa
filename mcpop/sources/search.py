"""Searching a catalogue: which entries match a query, best first.

Names look like `io.github.owner/server-git`, so a substring of the whole name matches every entry for
queries like `git` or `io`. The name's namespace is therefore only searched when the query is written as
one (it holds a `/` or a `.`); otherwise a query is matched, case-insensitively, against the name's last
segment, the title and the description, in this order of rank:

0. the last segment, its stem (`server-git` → `git`) or the full name equals the query;
1. the last segment, its stem or one of its words (split at `-`, `_`, `.`) starts with the query, or a
   namespaced query is a prefix of the full name;
2. the last segment contains the query;
3. the title contains it;
4. the description contains it.

Within a rank entries are ordered by name, then version (oldest first, as `mcp registry list` does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mcpop.render.catalog import stem, version_key

if TYPE_CHECKING:
    from mcpop.api.serverjson import ServerJSON

_WORD_SEP = re.compile(r"[-_.]+")


def match_rank(query: str, name: str, title: str | None, description: str | None) -> int | None:
    """The rank (0 best) at which an entry with these fields matches `query`, or None if it does not."""
    q = query.strip().lower()
    if not q:
        return None
    full = name.lower()
    segment = full.rsplit("/", 1)[-1]
    core = stem(segment)
    namespaced = "/" in q or "." in q
    if q in (segment, core, full):
        return 0
    words = [w for w in _WORD_SEP.split(segment) if w]
    if segment.startswith(q) or core.startswith(q) or any(w.startswith(q) for w in words):
        return 1
    if namespaced and full.startswith(q):
        return 1
    if q in segment or (namespaced and q in full):
        return 2
    if q in (title or "").lower():
        return 3
    if q in (description or "").lower():
        return 4
    return None


def search(query: str, entries: Iterable[ServerJSON]) -> list[ServerJSON]:
    """The entries matching `query`, best match first (see the module docstring for the ranking)."""
    ranked: list[tuple[int, str, tuple[tuple[int, ...], int, str], ServerJSON]] = []
    for entry in entries:
        rank = match_rank(query, entry.name, entry.title, entry.description)
        if rank is not None:
            ranked.append((rank, entry.name, version_key(entry.version), entry))
    ranked.sort(key=lambda r: r[:3])
    return [r[3] for r in ranked]


__all__ = ["match_rank", "search"]
