"""The backup controller's status: phase and conditions from the spec, the Jobs and the run's record."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mcpop.apply.mcpbackup.controller import restore_hash
from mcpop.apply.mcpbackup.status import CONTROLLER_KEYS, Outcome, backup_status, controller_patch, describe_run

NOW = "2026-12-01T10:00:00Z"


def _cond(status: dict[str, Any], type_: str) -> tuple[str, str]:
    c = next(c for c in status["conditions"] if c["type"] == type_)
    return c["status"], c["reason"]


def _run(result: str, **extra: Any) -> dict[str, Any]:
    base = {"id": "job-1", "result": result, "startTime": "2026-12-01T02:00:00Z"}
    if result != "Running":
        base["completionTime"] = "2026-12-01T02:01:00Z"
    return {**base, **extra}


def test_a_new_scheduled_backup_is_scheduled_with_no_backup_yet() -> None:
    status = backup_status(Outcome(1, schedule="0 2 * * *", next_run=1_800_000_000), None, now=NOW)
    assert status["phase"] == "Scheduled"
    assert _cond(status, "Ready") == ("True", "Ready")
    assert _cond(status, "Scheduled") == ("True", "Scheduled")
    assert _cond(status, "LastBackupSucceeded") == ("Unknown", "NoBackupYet")
    assert _cond(status, "Verified") == ("Unknown", "NotVerified")
    assert status["nextScheduledTime"] == "2027-01-15T08:00:00Z"
    assert status["observedGeneration"] == 1


def test_conditions_carry_the_observed_generation() -> None:
    status = backup_status(Outcome(7), None, now=NOW)
    assert {c["observedGeneration"] for c in status["conditions"]} == {7}


def test_a_suspended_schedule_says_so() -> None:
    status = backup_status(Outcome(1, schedule="@daily", suspended=True), None, now=NOW)
    assert status["phase"] == "Suspended"
    assert _cond(status, "Scheduled") == ("False", "Suspended")
    assert "nextScheduledTime" not in status


def test_without_a_schedule_and_a_success_the_phase_is_completed() -> None:
    old = {"lastRun": _run("Succeeded", snapshot="ab" * 32, verified=True, verifyMessage="3 snapshots")}
    status = backup_status(Outcome(1), old, now=NOW)
    assert status["phase"] == "Completed"
    assert _cond(status, "Scheduled") == ("False", "NoSchedule")
    assert _cond(status, "LastBackupSucceeded") == ("True", "Succeeded")
    assert _cond(status, "Verified") == ("True", "Verified")


def test_a_failed_run_makes_ready_false_with_its_error() -> None:
    old = {"lastRun": _run("Failed", error="s3://b/p: access denied")}
    status = backup_status(Outcome(1, schedule="@daily"), old, now=NOW)
    assert status["phase"] == "Failed"
    assert _cond(status, "Ready") == ("False", "BackupFailed")
    assert _cond(status, "LastBackupSucceeded") == ("False", "Failed")
    assert "access denied" in next(c for c in status["conditions"] if c["type"] == "Ready")["message"]


def test_an_active_job_is_running() -> None:
    old = {"lastRun": _run("Failed", error="x")}
    status = backup_status(Outcome(1, running_jobs=["b-now-1"]), old, now=NOW)
    assert status["phase"] == "Running"
    assert _cond(status, "Ready") == ("True", "Ready")


def test_a_corrupt_verify_is_verified_false() -> None:
    old = {"lastRun": _run("Succeeded", verified=False, verifyMessage="corrupt_chunk data/ab")}
    assert _cond(backup_status(Outcome(1), old, now=NOW), "Verified") == ("False", "Corrupt")


def test_missing_credentials_block_with_their_reason() -> None:
    out = Outcome(1, blocked=("CredentialsMissing", "Secret s3-credentials has no key 'access-key-id'"))
    status = backup_status(out, None, now=NOW)
    assert status["phase"] == "Failed"
    assert _cond(status, "Ready") == ("False", "CredentialsMissing")


def test_an_invalid_spec_is_failed_and_not_scheduled() -> None:
    status = backup_status(Outcome(2, invalid="spec.schedule: bad", schedule="bad"), None, now=NOW)
    assert status["phase"] == "Failed"
    assert _cond(status, "Ready") == ("False", "InvalidSpec")
    assert _cond(status, "Scheduled") == ("False", "InvalidSpec")


def test_a_generated_key_warns_that_it_lives_only_in_the_cluster() -> None:
    status = backup_status(Outcome(1, generated_key_secret="b-backup-key"), None, now=NOW)
    cond = next(c for c in status["conditions"] if c["type"] == "EncryptionKeyInCluster")
    assert cond["status"] == "True" and cond["reason"] == "KeyOnlyInCluster"
    assert "b-backup-key" in cond["message"] and "losing it loses the backups" in cond["message"]
    assert status["encryptionKeySecret"] == "b-backup-key"


def test_an_unencrypted_backup_has_the_warning_condition_encrypted_false() -> None:
    status = backup_status(Outcome(1, encrypted=False), None, now=NOW)
    assert _cond(status, "Encrypted") == ("False", "EncryptionDisabled")
    assert _cond(backup_status(Outcome(1), None, now=NOW), "Encrypted") == ("True", "Encrypted")


def test_the_handled_request_is_kept_until_a_new_one() -> None:
    first = backup_status(Outcome(1, request="r1"), None, now=NOW)
    assert first["lastRequest"] == "r1"
    assert backup_status(Outcome(1), first, now=NOW)["lastRequest"] == "r1"


def test_transition_times_stay_while_a_condition_keeps_its_status() -> None:
    first = backup_status(Outcome(1), None, now=NOW)
    again = backup_status(Outcome(1), first, now="2026-12-02T00:00:00Z")
    assert [c["lastTransitionTime"] for c in again["conditions"]] == [NOW] * len(again["conditions"])


def test_the_controller_patch_never_carries_the_runs_keys() -> None:
    old = {"lastRun": _run("Succeeded"), "snapshots": [{"id": "a", "time": NOW}], "lastSnapshot": "a"}
    new = backup_status(Outcome(1), old, now=NOW)
    patch = controller_patch(old, new)
    assert patch is not None
    assert set(patch["status"]) <= set(CONTROLLER_KEYS)


def test_an_unchanged_status_is_not_written() -> None:
    old = {"lastRun": _run("Succeeded")}
    first = backup_status(Outcome(1, schedule="@daily", next_run=1_800_000_000), old, now=NOW)
    live = {**old, **first}
    again = backup_status(Outcome(1, schedule="@daily", next_run=1_800_000_000), live, now="2026-12-02T00:00:00Z")
    assert controller_patch(live, again) is None


def test_describe_run_names_snapshot_sizes_and_skipped_secrets() -> None:
    text = describe_run(_run("Succeeded", snapshot="0123456789" * 6 + "abcd", files=3, size=3 * 1024 * 1024,
                             bytesUploaded=1024, bytesDeduplicated=2048, durationSeconds=1.25,
                             secretsSkipped=["db"]))  # fmt: skip
    assert text.startswith("snapshot 01234567: 3 files, 3.0 MiB, 1.0 KiB uploaded, 2.0 KiB deduplicated, in 1.2")
    assert "Secrets not backed up (encryption is off): db" in text


@given(st.dictionaries(st.sampled_from(["snapshot", "pointInTime", "target", "data"]), st.text(max_size=8)))
def test_a_restore_request_id_depends_only_on_its_content(restore: dict[str, Any]) -> None:
    same = dict(reversed(list(restore.items())))
    assert restore_hash(restore) == restore_hash(same)
    if restore:
        assert restore_hash(restore) != restore_hash({**restore, "configuration": False})
