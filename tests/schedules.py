"""The schedule corpus: what the Kubernetes CronJob API does with each schedule, shared by the unit tests
(tests/unit/test_cron.py) and the apiserver's own verdict (tests/cluster/test_crds_in_cluster.py).

The answers are robfig/cron v3.0.1's `ParseStandard` (which the apiserver and the CronJob controller use)
plus the apiserver's "no TZ in the schedule when timeZone is set" rule, and `Schedule.Next` in UTC, as Go
computed them.
"""

from __future__ import annotations

import datetime as dt

from mcpop.api.cron import MAX_LENGTH


def at(text: str) -> float:
    """Epoch seconds of an ISO time in UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


#: (schedule, after, the next run robfig computes: an ISO time, or None when it never fires)
NEXT = [
    ("0 2 * * *", "2026-12-01T02:00:00", "2026-12-02T02:00:00"),
    (" 0 2 * * *", "2026-12-01T01:59:59.5", "2026-12-01T02:00:00"),
    ("0 2 * * * ", "2026-12-01T01:59:59.5", "2026-12-01T02:00:00"),
    ("0\t2\n*\u00a0*\u3000*", "2026-12-01T01:59:59.5", "2026-12-01T02:00:00"),
    ("? * * * *", "2026-12-01T10:00:30", "2026-12-01T10:01:00"),
    ("@every 5m", "2026-12-01T10:00:30.75", "2026-12-01T10:05:30"),
    ("@every 1.5s", "2026-12-01T10:00:00", "2026-12-01T10:00:01"),
    ("@every -5m", "2026-12-01T10:00:00", "2026-12-01T10:00:01"),
    ("@every 30m1h", "2026-12-01T10:00:00", "2026-12-01T11:30:00"),
    ("*/15 9-17 * * MON-FRI", "2026-12-04T17:50:00", "2026-12-07T09:00:00"),
    ("0 0 29 2 *", "2026-12-01T00:00:00", "2028-02-29T00:00:00"),
    ("0 0 31 2 *", "2026-12-01T00:00:00", None),
    ("0 0 1,15 * 1", "2026-12-02T00:00:00", "2026-12-07T00:00:00"),
    ("0 0 */2 * 1", "2026-12-02T00:00:00", "2026-12-03T00:00:00"),
    ("0 0 * * 1", "2026-12-02T00:00:00", "2026-12-07T00:00:00"),
    ("0 0 1 * *", "2026-12-02T00:00:00", "2027-01-01T00:00:00"),
    ("@weekly", "2026-12-02T00:00:00", "2026-12-06T00:00:00"),
    ("@yearly", "2026-12-02T00:00:00", "2027-01-01T00:00:00"),
    ("@annually", "2026-12-02T00:00:00", "2027-01-01T00:00:00"),
    ("@midnight", "2026-12-02T00:00:00", "2026-12-03T00:00:00"),
    ("59 23 31 12 *", "2026-12-31T23:59:00", "2027-12-31T23:59:00"),
    ("5/20 * * * *", "2026-12-01T10:46:00", "2026-12-01T11:05:00"),
    ("*-5 0 * * *", "2026-12-01T10:46:00", "2026-12-02T00:00:00"),
    (",, 0 * * *", "2026-12-01T10:46:00", None),
    ("0 0 * * FRİ", "2026-12-01T10:46:00", "2026-12-04T00:00:00"),
    ("+05 002 1-7/2 jan-Mar,dec *", "2026-12-01T10:46:00", "2026-12-03T02:05:00"),
]
VALID = [schedule for schedule, _, _ in NEXT]
#: (schedule, what the refusal says); each one Go refuses too
INVALID = [
    ("", "empty"),
    ("   ", "0 fields"),
    ("0 2 * *", "4 fields"),
    ("0 0 2 * * *", "6 fields"),
    ("@daily ", "unknown descriptor"),
    (" @daily", "1 fields"),
    ("@Daily", "unknown descriptor"),
    ("@fortnightly", "unknown descriptor"),
    ("@every", "unknown descriptor"),
    ("@every 5", "needs a unit"),
    ("@every  5m", "not a duration"),
    ("@every 5m ", "unknown unit"),
    ("TZ=UTC 0 2 * * *", "time zone"),
    ("CRON_TZ=Europe/Paris @daily", "time zone"),
    ("*-TZ * * * *", "time zone"),
    ("60 * * * *", "out of range 0-59"),
    ("0 24 * * *", "out of range 0-23"),
    ("0 0 0 * *", "out of range 1-31"),
    ("0 0 * 13 *", "out of range 1-12"),
    ("0 0 * * 7", "out of range 0-6"),
    ("0 0 * * \u017fun", "not a number or a name"),  # long s: RE2's (?i) would fold it to 's', Go's ToLower not
    ("0 0 * FOO *", "not a number or a name"),
    ("MON * * * *", "not a number"),
    ("5-1 * * * *", "runs backwards"),
    ("*/0 * * * *", "a step must be at least 1"),
    ("*/-1 * * * *", "negative"),
    ("1/2/3 * * * *", "more than one '/'"),
    ("1-2-3 * * * *", "more than one '-'"),
    ("0 0 L * *", "not a number"),
    ("0 0 * * 1#2", "not a number"),
    ("0\x1c2 * * * *", "not a number"),  # Go's strings.Fields does not split on \x1c; str.split() would
    ("0 0 * * *" + " " * MAX_LENGTH, f"at most {MAX_LENGTH}"),
]
