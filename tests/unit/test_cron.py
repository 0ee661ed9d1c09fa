"""Backup schedules: one parser (mcpop.api.cron) for the model, the renderer, next_run and the CRD's rule.

Every entry point reads the shared corpus (tests/schedules.py, what the CronJob API does with each
schedule): the MCPServerBackup model, `render_backup`'s CronJob, `next_run` and the CRD's CEL pattern
must all accept exactly the valid schedules, and refuse the others saying why.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from schedules import INVALID, NEXT, VALID, at

from mcpop.api.cron import MAX_LENGTH, SCHEDULE_PATTERN, SCHEDULE_RULE, next_run, parse_schedule
from mcpop.api.mcpserverbackup import MCPServerBackup
from mcpop.render.backup import BackupRenderOptions, render_backup

ROOT = Path(__file__).resolve().parents[2]


def _backup(schedule: str) -> MCPServerBackup:
    return MCPServerBackup.model_validate({
        "apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServerBackup",
        "metadata": {"name": "b", "namespace": "default"},
        "spec": {"serverRef": {"name": "srv"}, "storage": {"type": "Local"}, "schedule": schedule},
    })  # fmt: skip


def _cronjob(backup: MCPServerBackup) -> dict[str, Any]:
    objects = render_backup(backup, None, BackupRenderOptions(generated_key_secret="b-key")).objects
    return next(o for o in objects if o["kind"] == "CronJob")


# ---------------------------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("schedule", VALID)
def test_the_model_accepts_a_valid_schedule_unchanged(schedule: str) -> None:
    assert _backup(schedule).spec.schedule == schedule


@pytest.mark.parametrize("schedule", VALID)
def test_render_writes_a_valid_schedule_into_the_cronjob_verbatim(schedule: str) -> None:
    cronjob = _cronjob(_backup(schedule))
    assert cronjob["spec"]["schedule"] == schedule
    assert cronjob["spec"]["timeZone"] == "Etc/UTC"


@pytest.mark.parametrize(("schedule", "after", "expected"), NEXT)
def test_next_run_is_when_the_cronjob_controller_runs_it(schedule: str, after: str, expected: str | None) -> None:
    assert next_run(schedule, at(after)) == (None if expected is None else at(expected))


@pytest.mark.parametrize("schedule", VALID)
def test_the_crd_rule_accepts_a_valid_schedule(schedule: str) -> None:
    assert re.fullmatch(SCHEDULE_PATTERN, schedule)


@pytest.mark.parametrize(("schedule", "says"), INVALID)
def test_the_model_refuses_an_invalid_schedule_saying_why(schedule: str, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        _backup(schedule)
    assert says in str(err.value)
    assert "spec.schedule" in str(err.value)


@pytest.mark.parametrize(("schedule", "says"), [(s, says) for s, says in INVALID if len(s) <= MAX_LENGTH])
def test_next_run_refuses_an_invalid_schedule_as_the_model_does(schedule: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        next_run(schedule, 0)


@pytest.mark.parametrize(("schedule", "says"), INVALID)
def test_the_crd_rule_refuses_an_invalid_schedule(schedule: str, says: str) -> None:
    assert len(schedule) > MAX_LENGTH or not re.fullmatch(SCHEDULE_PATTERN, schedule)


def test_the_live_bugs_are_one_answer_everywhere() -> None:
    # `@every 5m` passed the model and the old CRD pattern, then failed rendering (InvalidSpec after
    # admission); " 0 2 * * *" and "? * * * *" were refused by the model but rendered
    for schedule in ("@every 5m", " 0 2 * * *", "? * * * *"):
        assert _cronjob(_backup(schedule))["spec"]["schedule"] == schedule
        assert next_run(schedule, 0) is not None
        assert re.fullmatch(SCHEDULE_PATTERN, schedule)


def test_an_invalid_schedule_set_after_validation_is_a_render_error_from_the_same_check() -> None:
    backup = _backup("@daily")
    backup.spec.schedule = "@every 5"
    with pytest.raises(Exception, match="needs a unit") as err:
        render_backup(backup, None, BackupRenderOptions(generated_key_secret="b-key"))
    assert getattr(err.value, "field", None) == "spec.schedule"


def test_the_generated_crd_checks_schedule_with_the_same_pattern_and_a_readable_message() -> None:
    doc = yaml.safe_load((ROOT / "schemas/mcpserverbackups.mcp.allbeone.io.yaml").read_text(encoding="utf-8"))
    node = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["schedule"]
    assert node["maxLength"] == MAX_LENGTH
    assert "pattern" not in node  # the apiserver would quote all of it in the error
    [rule] = node["x-kubernetes-validations"]
    assert rule["rule"] == SCHEDULE_RULE == f"self.matches(r'{SCHEDULE_PATTERN}')"
    assert "five fields" in rule["message"]


# ---------------------------------------------------------------------------------------------- properties

_ATOMS = ["*", "?", "0", "1", "5", "7", "12", "13", "23", "24", "31", "59", "60", "00", "+5", "-", "/", ",", "jan",
          "FEB", "sun", "Mon", "FRİ", "\u017fun", "x", "L", "TZ", "*/2", "*/0", "1-5", "5-1", "*-3"]  # fmt: skip
_SPACES = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\x1c", "\u200b"]
_field = st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=3).map("".join)


@st.composite
def _schedules(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        fields = draw(st.lists(_field, min_size=4, max_size=6))
        spaces = draw(st.lists(st.sampled_from(_SPACES), min_size=len(fields) + 1, max_size=len(fields) + 1))
        return "".join(s + f for s, f in zip(spaces, [*fields, ""], strict=True))[draw(st.integers(0, 1)) :]
    head = draw(st.sampled_from(["@daily", "@hourly", "@weekly", "@every ", "@every", "@Daily", "@ ", ""]))
    return head + draw(st.sampled_from(["", " ", "5m", "1h30m", "-1s", "5", "1d", "0"]))


@given(_schedules())
def test_the_crd_rule_and_the_parser_accept_the_same_schedules(schedule: str) -> None:
    try:
        parse_schedule(schedule)
    except ValueError:
        assert not re.fullmatch(SCHEDULE_PATTERN, schedule)
    else:
        assert re.fullmatch(SCHEDULE_PATTERN, schedule)


@given(_schedules(), st.floats(1_700_000_000, 1_900_000_000))
def test_every_accepted_schedule_has_a_next_run_after_the_start_or_none(schedule: str, after: float) -> None:
    try:
        parsed = parse_schedule(schedule)
    except ValueError:
        return
    nxt = parsed.next_run(after)
    assert nxt is None or (nxt > after and nxt == int(nxt))
