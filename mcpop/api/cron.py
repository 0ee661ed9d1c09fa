"""Cron schedules exactly as a Kubernetes CronJob takes them, and when they next fire.

The apiserver checks a CronJob's `schedule` with robfig/cron v3 `ParseStandard` and, because mcpop sets
`timeZone: Etc/UTC`, refuses any `TZ` in it; the controller then runs the same parse. This module is
that parser: five fields split on whitespace (so extra whitespace between or around the fields is
fine, but not around a descriptor), `*` and `?` in any field, numbers with an optional `+` and leading
zeros, JAN-DEC and SUN-SAT in any case, ranges, steps and comma lists (empty list items are skipped),
and the exact descriptors `@yearly` `@annually` `@monthly` `@weekly` `@daily` `@midnight` `@hourly`
and `@every <Go duration>` (under one second counts as one second). A schedule that selects no time
(`0 0 31 2 *`) is accepted, as the apiserver accepts it; its `next_run` is None. robfig also ignores
whatever follows `*-` in an item (`*-5` is `*`), and so does this parser.

One parse feeds the validator (`check_schedule`, the model's), the CronJob the renderer writes and
`next_run`; `SCHEDULE_PATTERN`, which the CRD's CEL rule matches, is generated from the same tables.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import NoReturn

from mcpop.api.duration import GRAMMAR as DURATION_GRAMMAR
from mcpop.api.duration import SECOND, nanoseconds

#: what Go's strings.Fields splits on (unicode.IsSpace); str.split() would also split on \x1c-\x1f
WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
#: each descriptor is the five fields it stands for (robfig builds the same bits, `*` marks included)
DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
EVERY = "@every "
#: not a CronJob limit: it bounds the cost of the CRD's CEL check (the model refuses longer ones too)
MAX_LENGTH = 256
_INT64_MAX = (1 << 63) - 1
#: robfig looks names up after Go's strings.ToLower, which maps these (and only these) to ASCII letters
_TO_ASCII_LOWER = {chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)} | {"\u0130": "i", "\u212a": "k"}
_ALLOWED = (
    "use five fields 'minute hour day-of-month month day-of-week' (such as '0 2 * * *'), "
    "@yearly, @monthly, @weekly, @daily, @hourly or @every <duration> (such as @every 6h)"
)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] = field(default_factory=dict)


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}),  # noqa: SIM905
    _Field("day of week", 0, 6, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),  # noqa: SIM905
)  # fmt: skip


@dataclass(frozen=True)
class EverySchedule:
    """`@every <duration>`: a fixed delay, in whole seconds and at least 1 (robfig rounds it so)."""

    seconds: int

    def next_run(self, after: float) -> float | None:
        """The first run after `after` (epoch seconds), as robfig counts it from `after`."""
        return float(math.floor(after) + self.seconds)


@dataclass(frozen=True)
class FieldSchedule:
    """Five fields as the sets of values they select (a descriptor is its five fields)."""

    #: minutes of the day (hour * 60 + minute) the minute and hour fields select, ascending
    times: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    #: robfig: when either day field was written with `*` or `?` a day must match both, else either one
    days_and: bool

    def _day_matches(self, day: dt.date) -> bool:
        dom, dow = day.day in self.days, (day.weekday() + 1) % 7 in self.weekdays
        return (dom and dow) if self.days_and else (dom or dow)

    def next_run(self, after: float) -> float | None:
        """The first whole minute after `after` (epoch seconds) that the schedule selects, in UTC.

        None when it selects none in the next five years (robfig's horizon, such as `0 0 31 2 *`): the
        apiserver accepts such a schedule and the CronJob never runs.
        """
        start = math.floor(after) + 1
        horizon = dt.datetime.fromtimestamp(start, dt.UTC).year + 5
        start += -start % 60
        moment = dt.datetime.fromtimestamp(start, dt.UTC)
        day, first = moment.date(), moment.hour * 60 + moment.minute
        if not self.times:
            return None
        while day.year <= horizon:
            if day.month in self.months and self._day_matches(day):
                index = bisect.bisect_left(self.times, first)
                if index < len(self.times):
                    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
                    return midnight + 60 * self.times[index]
            day, first = day + dt.timedelta(days=1), 0
        return None


ParsedSchedule = EverySchedule | FieldSchedule


def _atoi(text: str, spec: _Field, what: str) -> int:
    # Go's strconv.Atoi: an optional sign, ASCII digits, int64 (int() would take '_', spaces, other digits)
    if not re.fullmatch(r"[+-]?[0-9]+", text) or not -_INT64_MAX - 1 <= int(text) <= _INT64_MAX:
        _fail(spec, f"{what} {text!r} is not a number" + (" or a name" if spec.names and what != "step" else ""))
    value = int(text)
    if value < 0:
        _fail(spec, f"{what} {text!r} is negative")
    return value


def _fail(spec: _Field, message: str) -> NoReturn:
    raise ValueError(f"{spec.name} field: {message}")


def _value(text: str, spec: _Field) -> int:
    name = "".join(_TO_ASCII_LOWER.get(c, c) for c in text)
    return spec.names[name] if name in spec.names else _atoi(text, spec, "value")


def _parse_field(text: str, spec: _Field) -> tuple[set[int], bool]:
    values: set[int] = set()
    star = False
    for item in text.split(","):
        if not item:
            continue  # robfig splits with strings.FieldsFunc, which drops empty items
        span, *steps = item.split("/")
        if len(steps) > 1:
            _fail(spec, f"{item!r} has more than one '/'")
        bounds = span.split("-")
        if bounds[0] in ("*", "?"):
            start, end, item_star = spec.low, spec.high, True
        else:
            if len(bounds) > 2:
                _fail(spec, f"{item!r} has more than one '-'")
            start = _value(bounds[0], spec)
            end = _value(bounds[1], spec) if len(bounds) == 2 else start
            item_star = False
        step = 1
        if steps:
            step = _atoi(steps[0], spec, "step")
            if len(bounds) == 1:
                end = spec.high  # `n/step` means n-max/step
            item_star = item_star and step <= 1
        if start < spec.low or end > spec.high:
            _fail(spec, f"{item!r} is out of range {spec.low}-{spec.high}")
        if start > end:
            _fail(spec, f"range {item!r} runs backwards")
        if step == 0:
            _fail(spec, f"{item!r}: a step must be at least 1")
        values.update(range(start, end + 1, step))
        star = star or item_star
    return values, star


def _five_fields(fields: list[str]) -> FieldSchedule:
    (minutes, _), (hours, _), (days, dom_star), (months, _), (weekdays, dow_star) = (
        _parse_field(text, spec) for text, spec in zip(fields, _FIELDS, strict=True)
    )
    times = tuple(sorted(h * 60 + m for h in hours for m in minutes))
    return FieldSchedule(times, frozenset(days), frozenset(months), frozenset(weekdays), dom_star or dow_star)


def parse_schedule(schedule: str) -> ParsedSchedule:
    """`schedule` parsed as the CronJob API parses it; ValueError saying what is wrong otherwise."""
    if not schedule:
        raise ValueError(f"the schedule is empty; {_ALLOWED}")
    if "TZ" in schedule:
        raise ValueError(f"schedule {schedule!r}: a time zone (TZ= or CRON_TZ=) is not supported; "
                         "schedules run in UTC")  # fmt: skip
    if schedule.startswith("@"):
        if schedule in DESCRIPTORS:
            return _five_fields(DESCRIPTORS[schedule].split())
        if schedule.startswith(EVERY):
            try:
                delay = nanoseconds(schedule[len(EVERY) :])
            except ValueError as exc:
                raise ValueError(f"schedule {schedule!r}: {exc}") from None
            return EverySchedule(max(delay, SECOND) // SECOND)
        raise ValueError(f"schedule {schedule!r}: unknown descriptor (descriptors are exact: lower case, no "
                         f"surrounding spaces); {_ALLOWED}")  # fmt: skip
    fields = [part for part in re.split(f"[{WHITESPACE}]+", schedule) if part]
    if len(fields) != 5:
        raise ValueError(f"schedule {schedule!r} has {len(fields)} fields, not 5; {_ALLOWED}")
    try:
        return _five_fields(fields)
    except ValueError as exc:
        raise ValueError(f"schedule {schedule!r}: {exc}") from None


def check_schedule(schedule: str) -> str:
    """`schedule` if a CronJob accepts it and it is at most MAX_LENGTH long (the MCPServerBackup model's
    check); ValueError saying why not."""
    if len(schedule) > MAX_LENGTH:
        raise ValueError(f"the schedule is {len(schedule)} characters long; at most {MAX_LENGTH} are allowed")
    parse_schedule(schedule)
    return schedule


def next_run(schedule: str, after: float) -> float | None:
    """When `schedule` next fires after `after` (epoch seconds, UTC); None if it never does.

    For `@every` the CronJob controller counts from the CronJob's last run (or creation): pass that as
    `after` to get the time the controller will use.
    """
    return parse_schedule(schedule).next_run(after)


# ---------------------------------------------------------------------------------------------- CRD pattern


def _same_length(lo: str, hi: str) -> str:
    if lo == hi:
        return lo
    if lo == "0" * len(lo) and hi == "9" * len(hi):
        return f"[0-9]{{{len(lo)}}}"
    if len(lo) == 1:
        return f"[{lo}-{hi}]"
    if lo[0] == hi[0]:
        return lo[0] + f"({_same_length(lo[1:], hi[1:])})"
    rest = len(lo) - 1
    parts = [lo[0] + f"({_same_length(lo[1:], '9' * rest)})"]
    if int(lo[0]) + 1 <= int(hi[0]) - 1:
        parts.append(f"[{int(lo[0]) + 1}-{int(hi[0]) - 1}][0-9]{{{rest}}}")
    parts.append(hi[0] + f"({_same_length('0' * rest, hi[1:])})")
    return "|".join(parts)


def _number(lo: int, hi: int) -> str:
    """Regex of the numbers lo..hi as Go's Atoi reads them: an optional '+', any leading zeros."""
    spans = []
    for digits in range(len(str(lo)), len(str(hi)) + 1):
        first, last = max(lo, 10 ** (digits - 1) if digits > 1 else 0), min(hi, 10**digits - 1)
        spans.append(_same_length(str(first), str(last)))
    return rf"\+?0*({'|'.join(spans)})"


def _name(name: str) -> str:
    """Regex of `name` in any case Go's strings.ToLower folds to it (`[fF][rR][iIİ]`)."""
    return "".join(
        "[" + letter + "".join(sorted(c for c, lower in _TO_ASCII_LOWER.items() if lower == letter)) + "]"
        for letter in name
    )


def _token(spec: _Field, lo: int) -> str:
    """A value of `spec` from lo up: a number or a name."""
    names = [_name(n) for n, v in spec.names.items() if v >= lo]
    return "(" + "|".join([_number(lo, spec.high), *names]) + ")"


def _field_pattern(spec: _Field) -> str:
    step = rf"(/{_number(1, _INT64_MAX)})?"
    other = f"[^{_SPACES},/]"
    junk = f"({other.replace('^', '^T')}|T+{other.replace('^', '^TZ')})*T*"  # anything without 'TZ'
    # a range's end must not be before its start: one alternative per start value
    ordered = "|".join(
        f"({'|'.join([_number(v, v), *(_name(n) for n, w in spec.names.items() if w == v)])})-{_token(spec, v)}"
        for v in range(spec.low, spec.high + 1)
    )
    item = f"([*?](-{junk})?|{_token(spec, spec.low)}|{ordered}){step}"
    return f"(,*{item}(,+{item})*,*|,+)"


#: WHITESPACE as a character class body RE2, Python and a CEL raw string all read alike (no raw controls)
_SPACES = "".join(f"\\x{ord(c):02x}" if ord(c) < 0x100 else c for c in WHITESPACE)


def _schedule_pattern() -> str:
    space = f"[{_SPACES}]"
    fields = f"{space}+".join(_field_pattern(spec) for spec in _FIELDS)
    descriptors = "|".join(re.escape(d) for d in DESCRIPTORS)
    return rf"^({descriptors}|@every {DURATION_GRAMMAR}|{space}*{fields}{space}*)$"


#: The language of `parse_schedule` as one regular expression (a test checks they agree), except
#: `@every` durations beyond Go's int64 range, which only the parse refuses.
SCHEDULE_PATTERN = _schedule_pattern()
#: The CRD's check of `schedule`: a CEL rule, so that kubectl says this instead of printing the pattern.
SCHEDULE_RULE = f"self.matches(r'{SCHEDULE_PATTERN}')"
SCHEDULE_MESSAGE = (
    "must be a schedule a CronJob accepts: five fields 'minute hour day-of-month month day-of-week' "
    "(such as '0 2 * * *'), @yearly, @monthly, @weekly, @daily, @hourly or @every <duration> (such as "
    "@every 6h); no TZ= (schedules run in UTC)"
)
