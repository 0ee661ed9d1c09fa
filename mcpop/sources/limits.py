"""What one sync of an MCPRegistry may read: list pages, entries and bytes (`--registry-max-pages`,
`--registry-max-entries`, `--registry-max-bytes`).

A `SyncBudget` is spent as a source reads: each list page (an API page, a GitHub directory listing), each
entry (a server.json item, valid or not, or a GitHub file), each response body's bytes. Past a cap it raises
`BudgetExceeded`, naming the cap and its setting; the sync fails and nothing of it is published (the previous
catalogue stays).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcpop.sources.errors import BudgetExceeded, size

DEFAULT_MAX_PAGES = 100
DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class SyncLimits:
    """The caps of one sync (defaults are the operator flags' defaults)."""

    max_pages: int = DEFAULT_MAX_PAGES
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_bytes: int = DEFAULT_MAX_BYTES

    def budget(self, source: str) -> SyncBudget:
        return SyncBudget(self, source)


@dataclass
class SyncBudget:
    """What one sync has read so far, against its `SyncLimits`."""

    limits: SyncLimits
    source: str
    pages: int = 0
    entries: int = 0
    bytes: int = 0

    def page(self) -> None:
        self.pages += 1
        if self.pages > self.limits.max_pages:
            raise BudgetExceeded(f"{self.source}: more than {self.limits.max_pages} list pages in one sync "
                                 "(--registry-max-pages); nothing published")  # fmt: skip

    def add_entries(self, count: int) -> None:
        self.entries += count
        if self.entries > self.limits.max_entries:
            raise BudgetExceeded(f"{self.source}: more than {self.limits.max_entries} entries in one sync "
                                 "(--registry-max-entries); nothing published")  # fmt: skip

    def add_bytes(self, count: int) -> None:
        self.bytes += count
        if self.bytes > self.limits.max_bytes:
            raise BudgetExceeded(f"{self.source}: more than {size(self.limits.max_bytes)} read in one sync "
                                 "(--registry-max-bytes); nothing published")  # fmt: skip


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_ENTRIES", "DEFAULT_MAX_PAGES", "SyncBudget", "SyncLimits"]
