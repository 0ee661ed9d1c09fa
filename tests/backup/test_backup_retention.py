"""Retention (restic `forget` semantics) as a pure function: properties over random snapshot histories with
hypothesis, and worked examples for calendar days, ISO weeks, months, years, keep-last and maxAge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpop.backup.retention import RetentionPolicy, parse_age, select

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Snap:
    id: str
    time: datetime


def snaps_at(*times: str) -> list[Snap]:
    return [Snap(f"s{i}", datetime.fromisoformat(t).replace(tzinfo=UTC)) for i, t in enumerate(times)]


def kept(snaps: list[Snap], policy: RetentionPolicy, now: datetime = NOW) -> list[str]:
    return [s.time.strftime("%Y-%m-%d %H:%M") for s in select(snaps, policy, now).keep]


histories = st.lists(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2027, 1, 10)),
    min_size=1, max_size=60, unique=True,
).map(lambda ts: [Snap(f"s{i}", t.replace(tzinfo=UTC)) for i, t in enumerate(ts)])  # fmt: skip
counts = st.one_of(st.none(), st.integers(0, 12))
policies = st.builds(
    RetentionPolicy,
    keep_last=counts, keep_hourly=counts, keep_daily=counts, keep_weekly=counts, keep_monthly=counts,
    keep_yearly=counts, max_age=st.one_of(st.none(), st.integers(1, 2000).map(lambda h: timedelta(hours=h))),
)  # fmt: skip


@given(histories, policies)
def test_every_snapshot_is_either_kept_or_removed(snaps: list[Snap], policy: RetentionPolicy) -> None:
    sel = select(snaps, policy, NOW)
    assert sorted(s.id for s in sel.keep + sel.remove) == sorted(s.id for s in snaps)
    assert not {s.id for s in sel.keep} & {s.id for s in sel.remove}
    assert set(sel.reasons) == {s.id for s in sel.keep}


@given(histories, policies)
def test_the_newest_snapshot_is_always_kept(snaps: list[Snap], policy: RetentionPolicy) -> None:
    newest = max(snaps, key=lambda s: s.time)
    assert newest in select(snaps, policy, NOW).keep


@given(histories)
def test_no_policy_keeps_everything(snaps: list[Snap]) -> None:
    assert len(select(snaps, RetentionPolicy(), NOW).keep) == len(snaps)


@given(histories, policies, st.randoms())
def test_input_order_does_not_matter(snaps: list[Snap], policy: RetentionPolicy, rnd: object) -> None:
    shuffled = list(snaps)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert select(shuffled, policy, NOW).keep == select(snaps, policy, NOW).keep


@given(histories, st.integers(1, 12))
def test_keep_last_keeps_exactly_the_n_newest(snaps: list[Snap], n: int) -> None:
    newest_first = sorted(snaps, key=lambda s: s.time, reverse=True)
    assert select(snaps, RetentionPolicy(keep_last=n), NOW).keep == newest_first[:n]


@given(histories, policies, policies)
def test_rules_are_ored(snaps: list[Snap], a: RetentionPolicy, b: RetentionPolicy) -> None:
    def only(p: RetentionPolicy, fields: tuple[str, ...]) -> RetentionPolicy:
        return RetentionPolicy(**{f: getattr(p, f) for f in fields})

    first = ("keep_last", "keep_daily", "keep_monthly")
    second = ("keep_hourly", "keep_weekly", "keep_yearly", "max_age")
    pa, pb = only(a, first), only(b, second)
    both = RetentionPolicy(**{**{f: getattr(pa, f) for f in first}, **{f: getattr(pb, f) for f in second}})
    if pa.empty or pb.empty:
        return  # an empty policy means "keep everything", not "keep nothing"
    union = {s.id for s in select(snaps, pa, NOW).keep} | {s.id for s in select(snaps, pb, NOW).keep}
    assert {s.id for s in select(snaps, both, NOW).keep} == union


@settings(max_examples=200)
@given(histories, st.sampled_from(["keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"]), st.integers(1, 10))
def test_a_larger_count_never_keeps_less(snaps: list[Snap], rule: str, n: int) -> None:
    small = {s.id for s in select(snaps, RetentionPolicy(**{rule: n}), NOW).keep}
    large = {s.id for s in select(snaps, RetentionPolicy(**{rule: n + 1}), NOW).keep}
    assert small <= large


@given(histories, st.integers(1, 10))
def test_keep_daily_keeps_the_newest_of_each_of_the_last_n_days(snaps: list[Snap], n: int) -> None:
    by_day: dict[object, Snap] = {}
    for s in sorted(snaps, key=lambda s: s.time):
        by_day[s.time.date()] = s  # the newest of each day wins
    days = sorted(by_day, reverse=True)[:n]
    keep = select(snaps, RetentionPolicy(keep_daily=n), NOW).keep
    assert {by_day[d].id for d in days} <= {s.id for s in keep}
    assert len(keep) <= n + 1  # plus the oldest snapshot while counts are left


def test_daily_keeps_newest_per_calendar_day_and_the_oldest_while_counts_remain() -> None:
    snaps = snaps_at("2027-01-08 23:59", "2027-01-08 08:00", "2027-01-07 10:00", "2027-01-05 01:00")
    assert kept(snaps, RetentionPolicy(keep_daily=2)) == ["2027-01-08 23:59", "2027-01-07 10:00"]
    assert kept(snaps, RetentionPolicy(keep_daily=5)) == ["2027-01-08 23:59", "2027-01-07 10:00", "2027-01-05 01:00"]
    # one day only, counts left: the oldest of it is kept too (restic maximises the history kept)
    same_day = snaps_at("2027-01-08 23:00", "2027-01-08 12:00", "2027-01-08 01:00")
    assert kept(same_day, RetentionPolicy(keep_daily=3)) == ["2027-01-08 23:00", "2027-01-08 01:00"]


def test_weekly_uses_iso_weeks_across_the_year_end() -> None:
    # 2026-12-31 (Thursday) and 2027-01-03 (Sunday) are both in ISO week 2026-W53; 2027-01-04 starts W01
    snaps = snaps_at("2027-01-04 09:00", "2027-01-03 09:00", "2026-12-31 09:00", "2026-12-27 09:00")
    assert kept(snaps, RetentionPolicy(keep_weekly=3)) == ["2027-01-04 09:00", "2027-01-03 09:00", "2026-12-27 09:00"]


def test_monthly_and_yearly_are_calendar_periods() -> None:
    snaps = snaps_at("2027-01-01 00:30", "2026-12-31 23:30", "2026-12-01 00:00", "2026-11-30 23:59", "2025-06-01")
    assert kept(snaps, RetentionPolicy(keep_monthly=2)) == ["2027-01-01 00:30", "2026-12-31 23:30"]
    assert kept(snaps, RetentionPolicy(keep_yearly=3)) == ["2027-01-01 00:30", "2026-12-31 23:30", "2025-06-01 00:00"]


def test_the_seed_policy_keeps_7_daily_4_weekly_12_monthly_5_yearly() -> None:
    start = datetime(2024, 1, 10, 2, 0, tzinfo=UTC)
    snaps = [Snap(f"d{i}", start + timedelta(days=i)) for i in range(3 * 365)]
    policy = RetentionPolicy(keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=5)
    sel = select(snaps, policy, start + timedelta(days=3 * 365))
    newest = snaps[-1].time
    dailies = [s for s in sel.keep if "daily snapshot" in sel.reasons[s.id]]
    assert [s.time for s in dailies] == [newest - timedelta(days=i) for i in range(7)]
    assert sum("weekly snapshot" in sel.reasons[s.id] for s in sel.keep) == 4
    assert sum("monthly snapshot" in sel.reasons[s.id] for s in sel.keep) == 12
    assert sum("yearly snapshot" in r for r in sel.reasons.values()) == 4  # 2024..2027, plus the oldest
    assert len(sel.keep) < 30


def test_max_age_is_measured_from_the_newest_snapshot_not_in_the_future() -> None:
    snaps = snaps_at("2027-02-01 00:00", "2027-01-09 12:00", "2027-01-08 13:00", "2027-01-08 11:00", "2026-12-01")
    # the 2027-02-01 snapshot is in the future of NOW: latest is 2027-01-09 12:00
    assert kept(snaps, RetentionPolicy(max_age=parse_age("24h"))) == [
        "2027-02-01 00:00", "2027-01-09 12:00", "2027-01-08 13:00",
    ]  # fmt: skip


def test_backups_that_stopped_long_ago_are_not_all_expired() -> None:
    snaps = snaps_at("2025-03-03 00:00", "2025-03-02 00:00", "2025-01-01 00:00")
    assert kept(snaps, RetentionPolicy(max_age=parse_age("7d"))) == ["2025-03-03 00:00", "2025-03-02 00:00"]


def test_zero_counts_still_keep_the_newest() -> None:
    snaps = snaps_at("2027-01-08", "2027-01-07")
    assert kept(snaps, RetentionPolicy(keep_daily=0, keep_last=0, max_age=timedelta(minutes=1))) == ["2027-01-08 00:00"]


@pytest.mark.parametrize("text", ["7", "d", "1y", "-1d", "1.5h", ""])
def test_a_bad_max_age_names_the_allowed_forms(text: str) -> None:
    with pytest.raises(ValueError, match="h, d or w"):
        parse_age(text)


def test_from_spec_reads_the_seed_retention() -> None:
    from mcpop.api.mcpserverbackup import Retention

    policy = RetentionPolicy.from_spec(Retention(keepDaily=7, keepWeekly=4, keepMonthly=12, keepYearly=5, maxAge="2w"))
    assert policy == RetentionPolicy(keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=5, max_age=timedelta(14))
