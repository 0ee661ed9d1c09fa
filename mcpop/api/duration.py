"""Durations as Go's `time.ParseDuration` reads them: the one duration parser of operator flags and env,
CLI options and CRD fields.

Go's grammar is a possibly signed sequence of decimal numbers, each with a unit (`ns`, `us`, `µs`, `μs`,
`ms`, `s`, `m`, `h`), such as `300ms`, `-1.5h`, `2h45m` or `.5s`, in any order (`30m1h` is 1h30m); `0`
alone needs no unit. Kubernetes reads durations the same way (CEL `duration()`, `metav1.Duration`, the
CronJob controller's `@every`), so a value this module accepts the cluster accepts too. Whether a field
takes negative or zero values is that field's own check (`non_negative`), not another parser.
"""

from __future__ import annotations

NANOSECOND = 1
SECOND = 1_000_000_000
_UNITS = {
    "ns": NANOSECOND,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek small letter mu
    "ms": 1_000_000,
    "s": SECOND,
    "m": 60 * SECOND,
    "h": 3600 * SECOND,
}
#: Go keeps durations in an int64 of nanoseconds; magnitudes are accumulated unsigned up to 2^63
_LIMIT = 1 << 63
_EXAMPLES = "a number with a unit (ns, us, µs, ms, s, m, h) such as 30s, 1.5h or 1h30m, or 0"
#: The grammar (not the int64 range) as a regular expression that Python, RE2 (the apiserver's CRD
#: `pattern`) and pydantic's Rust engine all read alike; `GRAMMAR` is unanchored, for embedding.
GRAMMAR = r"[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)"
DURATION_PATTERN = rf"^{GRAMMAR}$"


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"  # str.isdigit would take other scripts' digits, which Go does not


def nanoseconds(text: str) -> int:
    """`text` as a whole number of nanoseconds, exactly as Go's `time.ParseDuration` reads it.

    ValueError saying what is wrong (the text, the bad unit, a missing unit, out of range) otherwise.
    """
    invalid = ValueError(f"{text!r} is not a duration: use {_EXAMPLES}")
    rest = text
    negative = rest[:1] == "-"
    if rest[:1] in ("-", "+"):
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0
    while rest:
        if not (rest[0] == "." or _is_digit(rest[0])):
            raise invalid
        i, whole = 0, 0
        while i < len(rest) and _is_digit(rest[i]):
            whole = whole * 10 + int(rest[i])
            if whole > _LIMIT:
                raise ValueError(f"{text!r} is out of range: a duration is at most about 2562047h")
            i += 1
        before, rest = i > 0, rest[i:]
        fraction, scale, after = 0, 1.0, False
        if rest[:1] == ".":
            i, saturated = 1, False
            while i < len(rest) and _is_digit(rest[i]):
                # like Go, digits past int64 precision are read and ignored
                if not saturated and fraction * 10 + int(rest[i]) <= _LIMIT:
                    fraction, scale = fraction * 10 + int(rest[i]), scale * 10
                else:
                    saturated = True
                i += 1
            after, rest = i > 1, rest[i:]
        if not before and not after:
            raise invalid
        i = 0
        while i < len(rest) and not (rest[i] == "." or _is_digit(rest[i])):
            i += 1
        unit, rest = rest[:i], rest[i:]
        if not unit:
            raise ValueError(f"{text!r} is not a duration: a number needs a unit (ns, us, µs, ms, s, m, h)")
        if unit not in _UNITS:
            raise ValueError(f"{text!r} is not a duration: unknown unit {unit!r}; use ns, us, µs, ms, s, m or h")
        value = whole * _UNITS[unit]
        if fraction:
            # Go computes the fraction in float64 and truncates; doing the same keeps every nanosecond equal
            value += int(float(fraction) * (float(_UNITS[unit]) / scale))
        total += value
        if total > _LIMIT:
            raise ValueError(f"{text!r} is out of range: a duration is at most about 2562047h")
    if negative:
        return -total
    if total >= _LIMIT:
        raise ValueError(f"{text!r} is out of range: a duration is at most about 2562047h")
    return total


def parse_duration(text: str) -> float:
    """`text` (Go duration syntax) in seconds; ValueError saying what is wrong otherwise."""
    return nanoseconds(text) / SECOND


def non_negative(text: str) -> float:
    """Seconds in `text`, which must not be negative (the check of fields that count time forward)."""
    seconds = parse_duration(text)
    if seconds < 0:
        raise ValueError(f"{text!r} is negative: use a duration of 0 or more")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as a short duration string that `parse_duration` reads back (`90` → `1m30s`)."""
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        (f"{hours}h" if hours else "")
        + (f"{minutes}m" if minutes else "")
        + (f"{secs}s" if secs or not (hours or minutes) else "")
    )


def check_duration(text: str) -> str:
    """`text` if it is a Go duration; ValueError saying what is wrong otherwise."""
    nanoseconds(text)
    return text
