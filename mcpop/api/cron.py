"""Cron schedules as a Kubernetes CronJob accepts them: five fields or a `@` descriptor.

The CronJob controller parses with robfig/cron's standard parser; this module accepts the same
language and no more (no seconds or years field, no `L`, `W` or `#`, no `TZ=` prefix), so a schedule
`mcp render` accepts is one the cluster runs.
"""

from __future__ import annotations

import re

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}  # noqa: SIM905
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
#: (name, lowest, highest, names)
_FIELDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
]
_EVERY = re.compile(r"@every ([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+")
_RANGE = re.compile(r"(?P<lo>[A-Za-z0-9]+)(-(?P<hi>[A-Za-z0-9]+))?(/(?P<step>[0-9]+))?")
_STAR = re.compile(r"[*?](/(?P<step>[0-9]+))?")


def _value(text: str, field: str, lo: int, hi: int, names: dict[str, int]) -> int:
    number = names.get(text.upper()) if not text.isdigit() else int(text)
    if number is None:
        raise ValueError(f"{field}: {text!r} is not a number" + (" or a name" if names else ""))
    if not lo <= number <= hi:
        raise ValueError(f"{field}: {number} is out of range {lo}-{hi}")
    return number


def _check_field(text: str, field: str, lo: int, hi: int, names: dict[str, int]) -> None:
    for part in text.split(","):
        star = _STAR.fullmatch(part)
        if star is not None:
            if part.startswith("?") and field not in ("day of month", "day of week"):
                raise ValueError(f"{field}: '?' is allowed only in the day fields")
            step = star.group("step")
            if step is not None and int(step) == 0:
                raise ValueError(f"{field}: a step must be at least 1")
            continue
        match = _RANGE.fullmatch(part)
        if match is None:
            raise ValueError(f"{field}: {part!r} is not a value, range (a-b), step (*/n or a-b/n) or '*'")
        first = _value(match.group("lo"), field, lo, hi, names)
        last = _value(match.group("hi"), field, lo, hi, names) if match.group("hi") else first
        if last < first:
            raise ValueError(f"{field}: range {part!r} runs backwards")
        if match.group("step") is not None and int(match.group("step")) == 0:
            raise ValueError(f"{field}: a step must be at least 1")


def check_schedule(value: str) -> str:
    """`value` if it is a schedule a CronJob accepts; ValueError saying what is wrong otherwise."""
    allowed = "use five fields 'minute hour day-of-month month day-of-week' (such as '0 2 * * *') or @daily, ..."
    text = value.strip(" ")
    if text != value or not text or any(c.isspace() and c != " " for c in value):
        raise ValueError(f"schedule {value!r} is empty or has surrounding or non-space whitespace; {allowed}")
    if text.startswith(("TZ=", "CRON_TZ=")):
        raise ValueError("a time zone in the schedule is not supported; set the schedule in UTC")
    if text.startswith("@"):
        if text in DESCRIPTORS or _EVERY.fullmatch(text):
            return value
        raise ValueError(f"schedule {value!r}: unknown descriptor; {allowed}")
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"schedule {value!r} has {len(fields)} fields, not 5; {allowed}")
    for part, (name, lo, hi, names) in zip(fields, _FIELDS, strict=True):
        try:
            _check_field(part, name, lo, hi, names)
        except ValueError as exc:
            raise ValueError(f"schedule {value!r}: {exc}") from None
    return value
