"""Durations: one parser with Go's `time.ParseDuration` semantics, and every entry point agreeing with it.

The table's values are what Go 1.26's `time.ParseDuration` returns (nanoseconds, or None for an error).
Each entry point (the parser, operator flags and env, CLI options, the MCPRegistry CRD field and its
pattern) reads the same table; the fields' own range checks (settings and CLI: not negative; the
registry: at least 1m) are the only differences.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mcpop.api.duration import DURATION_PATTERN, SECOND, format_duration, nanoseconds, parse_duration
from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.apply.settings import SettingsError
from mcpop.apply.settings import parse_duration as settings_duration
from mcpop.cli.operator import settings_from
from mcpop.cli.options import UsageError
from mcpop.cli.options import parse_duration as cli_duration

GO = [
    ("0", 0),
    ("-0", 0),
    ("+0", 0),
    ("1s", 1_000_000_000),
    ("500ms", 500_000_000),
    ("1.5h", 5_400_000_000_000),
    (".5s", 500_000_000),
    ("5.s", 5_000_000_000),
    ("1h30m", 5_400_000_000_000),
    ("30m1h", 5_400_000_000_000),
    ("1us", 1000),
    ("1µs", 1000),
    ("1μs", 1000),
    ("100ns", 100),
    ("-5m", -300_000_000_000),
    ("+5m", 300_000_000_000),
    ("2562047h47m16.854775807s", 9_223_372_036_854_775_807),
    ("2562047h47m16.854775808s", None),
    ("-2562047h47m16.854775808s", -9_223_372_036_854_775_808),
    ("", None),
    ("90", None),
    ("2.5", None),
    ("00", None),
    ("1", None),
    ("1d", None),
    ("5 m", None),
    (" 5m", None),
    ("5m ", None),
    ("1S", None),
    ("1H", None),
    ("ms", None),
    (".", None),
    (".s", None),
    ("1..5s", None),
    ("1e3s", None),
    ("5m\n", None),
    ("--5m", None),
    ("+-5m", None),
    ("1h-30m", None),
    ("\u0661s", None),  # an Arabic-Indic digit one
    ("0x10s", None),
    ("1_000ms", None),
]
VALID = [(text, ns) for text, ns in GO if ns is not None]
INVALID = [text for text, ns in GO if ns is None]
#: past int64: the grammar matches, only the parse (and the apiserver's CEL duration()) refuses
OUT_OF_RANGE = {"2562047h47m16.854775808s"}


@pytest.mark.parametrize(("text", "ns"), GO)
def test_the_parser_reads_durations_as_go_does(text: str, ns: int | None) -> None:
    if ns is None:
        with pytest.raises(ValueError, match=r"duration|range"):
            nanoseconds(text)
    else:
        assert nanoseconds(text) == ns


@pytest.mark.parametrize(("text", "ns"), GO)
def test_operator_flags_and_env_read_the_table_refusing_only_negatives(text: str, ns: int | None) -> None:
    if ns is None or ns < 0:
        with pytest.raises(ValueError, match=r"duration|negative|range"):
            settings_duration(text)
    else:
        assert settings_duration(text) == ns / SECOND


@pytest.mark.parametrize(("text", "ns"), GO)
def test_cli_options_read_the_table_refusing_only_negatives_and_naming_the_flag(text: str, ns: int | None) -> None:
    if ns is None or ns < 0:
        with pytest.raises(UsageError, match=r"^--timeout: invalid duration: "):
            cli_duration(text, "--timeout")
    else:
        assert cli_duration(text, "--timeout") == ns / SECOND


@pytest.mark.parametrize(("text", "ns"), GO)
def test_the_registry_refresh_interval_reads_the_table_refusing_less_than_a_minute(text: str, ns: int | None) -> None:
    if ns is None or ns < 60 * SECOND:
        with pytest.raises(ValidationError, match="refresh_interval"):
            MCPRegistrySpec(url="https://registry.example", refresh_interval=text)
    else:
        assert MCPRegistrySpec(url="https://registry.example", refresh_interval=text).refresh_interval == text


@pytest.mark.parametrize(("text", "ns"), GO)
def test_the_crd_pattern_matches_the_grammar_of_the_table(text: str, ns: int | None) -> None:
    assert bool(re.fullmatch(DURATION_PATTERN, text)) == (ns is not None or text in OUT_OF_RANGE)


def test_an_environment_variable_is_read_by_the_same_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_TIMEOUT", "30m1h")
    assert settings_from([]).reconcile_timeout == 5400
    monkeypatch.setenv("RECONCILE_TIMEOUT", "90")
    with pytest.raises(SettingsError, match="RECONCILE_TIMEOUT"):
        settings_from([])


def test_a_bad_duration_says_which_unit_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown unit 'd'"):
        parse_duration("1d")


_part = st.tuples(
    st.integers(0, 10_000),
    st.sampled_from(["", ".", ".5", ".25"]),
    st.sampled_from(["ns", "us", "µs", "ms", "s", "m", "h"]),
).map(lambda p: f"{p[0]}{p[1]}{p[2]}")


@given(st.sampled_from(["", "-", "+"]), st.lists(_part, min_size=1, max_size=4))
def test_any_sum_of_parts_in_any_order_is_their_total(sign: str, parts: list[str]) -> None:
    total = sum(nanoseconds(p) for p in parts)
    assert nanoseconds(sign + "".join(parts)) == (-total if sign == "-" else total)
    assert re.fullmatch(DURATION_PATTERN, sign + "".join(parts))


@given(st.integers(0, 10**7))
def test_format_duration_is_read_back_by_the_parser(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_writes_the_short_form() -> None:
    assert [format_duration(x) for x in (0, 1, 90, 3600, 5400, 0.5)] == ["0s", "1s", "1m30s", "1h", "1h30m", "500ms"]
