"""Which snapshots a retention policy keeps: restic's `forget` semantics, as a pure function.

Snapshots are taken newest first. `keep_last n` keeps the n newest. `keep_hourly/daily/weekly/monthly/yearly n`
keep, for the last n periods (UTC hours, calendar days, ISO weeks, months, years) that have a snapshot, the
newest snapshot of each; when a rule still has counts left at the oldest snapshot, that one is kept too
(restic keeps the longest history the counts allow). `max_age` is restic's `--keep-within`: every snapshot
newer than (latest - max_age), where latest is the newest snapshot not in the future of `now`. Rules are ORed.
The newest snapshot is always kept, and a policy with no rule keeps everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from mcpop.api.mcpserverbackup import Retention


class Dated(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def time(self) -> datetime: ...


S = TypeVar("S", bound=Dated)

_AGE = re.compile(r"^([0-9]+)(h|d|w)$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_age(text: str) -> timedelta:
    """`36h`, `7d`, `4w` → timedelta; anything else is a ValueError naming the allowed forms."""
    m = _AGE.match(text)
    if not m:
        raise ValueError(f"maxAge {text!r}: expected a number followed by h, d or w (e.g. 36h, 7d, 4w)")
    return int(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class RetentionPolicy:
    """None (or 0) switches a rule off; -1 means unlimited (keep one per period, all periods)."""

    keep_last: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    max_age: timedelta | None = None

    @classmethod
    def from_spec(cls, spec: Retention | None) -> RetentionPolicy:
        """The policy of an MCPServerBackup's `spec.retention` (None → keep everything)."""
        if spec is None:
            return cls()
        return cls(
            keep_last=spec.keep_last,
            keep_daily=spec.keep_daily,
            keep_weekly=spec.keep_weekly,
            keep_monthly=spec.keep_monthly,
            keep_yearly=spec.keep_yearly,
            max_age=parse_age(spec.max_age) if spec.max_age else None,
        )

    @property
    def empty(self) -> bool:
        counts = (self.keep_last, self.keep_hourly, self.keep_daily, self.keep_weekly, self.keep_monthly)
        return all(not c for c in (*counts, self.keep_yearly)) and not self.max_age


@dataclass(frozen=True)
class Selection(Generic[S]):
    keep: list[S]
    remove: list[S]
    reasons: dict[str, list[str]] = field(default_factory=dict)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _hour(t: datetime, _: int) -> int:
    return t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour


def _day(t: datetime, _: int) -> int:
    return t.year * 10_000 + t.month * 100 + t.day


def _week(t: datetime, _: int) -> int:
    year, week, _weekday = t.isocalendar()
    return year * 100 + week


def _month(t: datetime, _: int) -> int:
    return t.year * 100 + t.month


def _year(t: datetime, _: int) -> int:
    return t.year


def _always(_: datetime, nr: int) -> int:
    return nr


def select(snapshots: Sequence[S], policy: RetentionPolicy, now: datetime | None = None) -> Selection[S]:
    """Split `snapshots` into those `policy` keeps and those it removes (both newest first)."""
    ordered = sorted(snapshots, key=lambda s: _utc(s.time), reverse=True)
    if not ordered or policy.empty:
        return Selection(keep=list(ordered), remove=[], reasons={s.id: ["no retention policy"] for s in ordered})
    now_utc = _utc(now) if now else datetime.now(UTC)
    not_future = [_utc(s.time) for s in ordered if _utc(s.time) <= now_utc]
    latest = max(not_future) if not_future else None

    rules: list[tuple[str, int, Callable[[datetime, int], int]]] = [
        ("last snapshot", policy.keep_last or 0, _always),
        ("hourly snapshot", policy.keep_hourly or 0, _hour),
        ("daily snapshot", policy.keep_daily or 0, _day),
        ("weekly snapshot", policy.keep_weekly or 0, _week),
        ("monthly snapshot", policy.keep_monthly or 0, _month),
        ("yearly snapshot", policy.keep_yearly or 0, _year),
    ]
    counts = [count for _, count, _ in rules]
    lasts: list[int | None] = [None] * len(rules)
    keep: list[S] = []
    remove: list[S] = []
    reasons: dict[str, list[str]] = {}
    for nr, snap in enumerate(ordered):
        t = _utc(snap.time)
        why: list[str] = []
        if nr == 0:
            why.append("newest snapshot")
        if policy.max_age and latest is not None and t > latest - policy.max_age:
            why.append(f"within {policy.max_age}")
        for i, (reason, _count, bucket) in enumerate(rules):
            if counts[i] > 0 or counts[i] == -1:
                value = bucket(t, nr)
                if value != lasts[i] or nr == len(ordered) - 1:
                    why.append(reason if value != lasts[i] else f"oldest {reason}")
                    lasts[i] = value
                    if counts[i] > 0:
                        counts[i] -= 1
        if why:
            keep.append(snap)
            reasons[snap.id] = why
        else:
            remove.append(snap)
    return Selection(keep=keep, remove=remove, reasons=reasons)
