"""The controller's part of an MCPServerBackup's status. Pure.

Two writers share the status, each with its own keys, so neither overwrites the other:
* the run (`mcp backup run`, in the Job or on a workstation) writes `lastRun`, `snapshots`,
  `lastBackupTime`, `lastSuccessfulBackup`, `lastSnapshot` and `lastRestore`;
* the controller writes the keys below (phase, conditions, schedule and request bookkeeping), derived
  from the spec, the live Jobs and what the run wrote.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from mcpop.apply.runtime.conditions import Cond, merge_conditions

CONTROLLER_KEYS = ("observedGeneration", "phase", "conditions", "nextScheduledTime", "lastRequest",
                   "lastRestoreRequest", "encryptionKeySecret")  # fmt: skip
CONDITIONS = ("Ready", "Scheduled", "LastBackupSucceeded", "Verified", "Encrypted", "EncryptionKeyInCluster")
#: the warning when `encryption: false`
UNENCRYPTED = ("spec.encryption is false: anyone who can write the bucket can forge snapshots (chunk ids are "
               "plain SHA-256) and read them, and the referenced Secrets are not backed up")  # fmt: skip


@dataclass
class Outcome:
    """What one reconcile found."""

    generation: int | None
    invalid: str | None = None
    #: why backups cannot run (server missing, credentials missing, apply failed): (reason, message)
    blocked: tuple[str, str] | None = None
    schedule: str | None = None
    suspended: bool = False
    next_run: float | None = None
    running_jobs: list[str] = field(default_factory=list)
    restoring: bool = False
    request: str | None = None
    restore_request: str | None = None
    generated_key_secret: str | None = None
    encrypted: bool = True
    warnings: list[str] = field(default_factory=list)


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def describe_run(run: dict[str, Any]) -> str:
    """One line about a finished run, for conditions and events."""
    if run.get("result") == "Failed":
        return f"run {run.get('id')} failed: {run.get('error') or 'unknown error'}"
    snap = str(run.get("snapshot") or "")[:8]
    text = (f"snapshot {snap}: {run.get('files', 0)} files, {_human(run.get('size'))}, "
            f"{_human(run.get('bytesUploaded'))} uploaded, {_human(run.get('bytesDeduplicated'))} deduplicated, "
            f"in {run.get('durationSeconds', 0):.1f}s")  # fmt: skip
    if run.get("secretsSkipped"):
        text += "; Secrets not backed up (encryption is off): " + ", ".join(run["secretsSkipped"])
    if run.get("removedSnapshots"):
        text += f"; retention removed {len(run['removedSnapshots'])} snapshot(s)"
    return text


def backup_status(outcome: Outcome, old: dict[str, Any] | None, *, now: str) -> dict[str, Any]:
    """The controller-owned status keys for `outcome`, given the live status `old`."""
    old = old or {}
    run = old.get("lastRun") or {}
    conds: list[Cond] = []
    result = run.get("result")
    if outcome.invalid is not None:
        conds.append(Cond("Ready", "False", "InvalidSpec", outcome.invalid))
    elif outcome.blocked is not None:
        conds.append(Cond("Ready", "False", *outcome.blocked))
    elif result == "Failed" and not outcome.running_jobs:
        conds.append(Cond("Ready", "False", "BackupFailed", describe_run(run)))
    else:
        msg = "; ".join(outcome.warnings) or "backups can run"
        conds.append(Cond("Ready", "True", "Ready", msg))
    if outcome.schedule is None:
        conds.append(Cond("Scheduled", "False", "NoSchedule", "no spec.schedule: runs only on request"))
    elif outcome.suspended:
        conds.append(Cond("Scheduled", "False", "Suspended", f"schedule {outcome.schedule!r} is suspended"))
    elif outcome.invalid is not None:
        conds.append(Cond("Scheduled", "False", "InvalidSpec", outcome.invalid))
    else:
        nxt = f"; next run at {rfc3339(outcome.next_run)}" if outcome.next_run is not None else ""
        conds.append(Cond("Scheduled", "True", "Scheduled", f"CronJob runs {outcome.schedule!r} (UTC){nxt}"))
    if result == "Succeeded":
        conds.append(Cond("LastBackupSucceeded", "True", "Succeeded", describe_run(run)))
    elif result == "Failed":
        conds.append(Cond("LastBackupSucceeded", "False", "Failed", describe_run(run)))
    elif result == "Running":
        conds.append(Cond("LastBackupSucceeded", "Unknown", "Running", f"run {run.get('id')} is running"))
    else:
        conds.append(Cond("LastBackupSucceeded", "Unknown", "NoBackupYet", "no backup has run yet"))
    verified = run.get("verified") if result == "Succeeded" else None
    if verified is True:
        conds.append(Cond("Verified", "True", "Verified", run.get("verifyMessage") or "every hash checked"))
    elif verified is False:
        conds.append(Cond("Verified", "False", "Corrupt", run.get("verifyMessage") or "verify found problems"))
    else:
        conds.append(Cond("Verified", "Unknown", "NotVerified", "no verified backup yet (or spec.verify is false)"))
    if outcome.encrypted:
        conds.append(Cond("Encrypted", "True", "Encrypted", "snapshots are encrypted and authenticated"))
    else:
        conds.append(Cond("Encrypted", "False", "EncryptionDisabled", UNENCRYPTED))
    if outcome.generated_key_secret is not None:
        text = (f"the repository key was generated into Secret {outcome.generated_key_secret} and lives only "
                "in this cluster: copy it somewhere safe; losing it loses the backups")  # fmt: skip
        conds.append(Cond("EncryptionKeyInCluster", "True", "KeyOnlyInCluster", text))

    if outcome.invalid is not None:
        phase = "Failed"
    elif outcome.restoring:
        phase = "Restoring"
    elif outcome.running_jobs or result == "Running":
        phase = "Running"
    elif outcome.blocked is not None or result == "Failed":
        phase = "Failed"
    elif outcome.schedule is not None and outcome.suspended:
        phase = "Suspended"
    elif outcome.schedule is not None:
        phase = "Scheduled"
    elif result == "Succeeded":
        phase = "Completed"
    else:
        phase = "Pending"
    status: dict[str, Any] = {
        "observedGeneration": outcome.generation,
        "phase": phase,
        "conditions": merge_conditions(old.get("conditions"), conds, outcome.generation, now, CONDITIONS),
        "nextScheduledTime": rfc3339(outcome.next_run) if outcome.next_run is not None else None,
        "lastRequest": outcome.request if outcome.request is not None else old.get("lastRequest"),
        "lastRestoreRequest": outcome.restore_request if outcome.restore_request is not None
        else old.get("lastRestoreRequest"),
        "encryptionKeySecret": outcome.generated_key_secret,
    }  # fmt: skip
    return {k: v for k, v in status.items() if v is not None}


def controller_patch(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch of the controller's keys only (the run's keys are never sent), or None if equal."""
    old = old or {}
    patch: dict[str, Any] = {}
    for key in CONTROLLER_KEYS:
        if new.get(key) != old.get(key):
            patch[key] = new.get(key)
    return {"status": patch} if patch else None
