"""The MCPServerBackup controller: one level-based reconcile of one MCPServerBackup.

read → validate → (generate the encryption key Secret) → render the CronJob / on-demand Job / restore Job
and their RBAC (mcpop.render.backup) → record the ApplySet on the backup → server-side apply what differs
→ prune what is no longer rendered → write the controller's status keys (only when they changed), count
finished runs in the metrics and send an Event per run.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from mcpop import API_VERSION
from mcpop.api.cron import next_run
from mcpop.api.mcpserver import MCPServer
from mcpop.api.mcpserverbackup import MCPServerBackup
from mcpop.apply.mcpbackup import metrics
from mcpop.apply.mcpbackup.kinds import BACKUP_KIND, OWNED_KINDS
from mcpop.apply.mcpbackup.status import Outcome, backup_status, controller_patch, describe_run
from mcpop.apply.resources import JOB, MCPSERVER, MCPSERVERBACKUP, SECRET
from mcpop.apply.runtime.client import Kube, KubeError
from mcpop.apply.runtime.conditions import now_rfc3339
from mcpop.apply.runtime.events import EventRecorder
from mcpop.apply.runtime.informer import Informer
from mcpop.apply.runtime.reconciler import DONE, Key, Result, TerminalError
from mcpop.apply.runtime.timefmt import parse_time
from mcpop.apply.ssa import applyset as aset
from mcpop.apply.ssa.manager import ResourceManager, conflict_text, events_from, observe
from mcpop.render.backup import (
    BACKUP_LABEL,
    DEFAULT_IMAGE,
    GENERATED_KEY,
    REQUEST_ANNOTATION,
    BackupDefaults,
    BackupRenderOptions,
    generated_key_secret,
    generated_key_secret_name,
    render_backup,
    request_job_name,
    restore_hash,
    restore_job_name,
    server_data,
)
from mcpop.render.errors import RenderError
from mcpop.render.names import label_value
from mcpop.render.options import Owner
from mcpop.render.validate import validated

log = logging.getLogger("mcpop.backup")

IMAGE_ENV = "MCPOP_BACKUP_IMAGE"
#: status is refreshed at least this often while a schedule is active (nextScheduledTime moves on)
MAX_REQUEUE = 3600.0
#: a run seen at start-up that finished longer ago than this was counted by the previous process
STARTUP_GRACE = 300.0


def applyset_id(name: str, namespace: str) -> str:
    return aset.applyset_id(name, namespace, kind=BACKUP_KIND)


def _cond(status: dict[str, Any] | None, type_: str) -> tuple[str, str] | None:
    for c in (status or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get("status")), str(c.get("reason"))
    return None


class BackupController:
    """Reconciles MCPServerBackups. `owned`: group-kind → informer of our ApplySet members (optional)."""

    name = "mcpserverbackup"

    def __init__(self, kube: Kube, backups: Informer, recorder: EventRecorder | None,
                 enqueue: Callable[[Key], None], *, owned: dict[str, Informer] | None = None,
                 jobs: Informer | None = None, servers: Informer | None = None, image: str | None = None,
                 defaults: BackupDefaults | None = None, clock: Callable[[], float] = time.time) -> None:  # fmt: skip

        self.kube = kube
        self.backups = backups
        self.recorder = recorder
        self.enqueue = enqueue
        self.owned = owned or {}
        self.jobs = jobs
        self.servers = servers
        self.image = image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
        self.clock = clock
        self.defaults = defaults
        #: applies each backup's object set; reads live objects from the owned kinds' watch caches
        self.manager = ResourceManager(kube, caches=self.owned.get, kinds=OWNED_KINDS)
        #: per backup: the last finished run counted in the metrics (None: seen at start-up, not counted)
        self._runs_seen: dict[Key, str | None] = {}
        self._lock = threading.Lock()
        metrics.init()

    # ------------------------------------------------------------------ the manager's protocol

    def informers(self) -> list[Informer]:
        """Its caches: MCPServerBackups, their Jobs, and the owned kinds."""
        out: list[Informer] = []
        extra = [i for i in (self.jobs, self.servers) if i is not None]
        for inf in [self.backups, *extra, *self.owned.values()]:
            if all(inf is not o for o in out):
                out.append(inf)
        return out

    def resync(self) -> list[Key]:
        return [((o.get("metadata") or {}).get("namespace") or "", (o.get("metadata") or {}).get("name") or "")
                for o in self.backups.items()]  # fmt: skip

    def add_owned(self, group_kind: str, informer: Informer) -> None:
        """Watch an owned kind (shared informers: objects of other controllers are ignored)."""
        informer.handlers.append(self.on_owned)
        self.owned[group_kind] = informer

    # ------------------------------------------------------------------ event handlers

    def on_owned(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        assert obj is not None
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == BACKUP_KIND:
                self.enqueue(((obj.get("metadata") or {}).get("namespace") or "", str(ref.get("name"))))

    def on_backup(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        assert obj is not None
        if kind == "MODIFIED" and old is not None and new is not None:
            om, nm = old.get("metadata") or {}, new.get("metadata") or {}
            same_meta = all(om.get(f) == nm.get(f) for f in ("generation", "annotations", "labels"))
            os_, ns_ = old.get("status") or {}, new.get("status") or {}
            run_keys = ("lastRun", "lastRestore")
            if same_meta and all(os_.get(k) == ns_.get(k) for k in run_keys):
                return  # our own status write
        meta = obj.get("metadata") or {}
        self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def on_server(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """An MCPServer appeared, went or changed its spec: its backups render from it (PVCs, references)."""
        obj = new or old
        assert obj is not None
        if (
            old is not None
            and new is not None
            and (old.get("metadata") or {}).get("generation") == (new.get("metadata") or {}).get("generation")
        ):
            return
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "", meta.get("name")
        for b in self.backups.items(ns):
            ref = (b.get("spec") or {}).get("serverRef") or {}
            if ref.get("name") == name and (ref.get("namespace") or ns) == ns:
                self.enqueue((ns, (b.get("metadata") or {}).get("name") or ""))

    def on_job(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:

        obj = new or old
        assert obj is not None
        meta = obj.get("metadata") or {}
        if old is not None and new is not None and old.get("status") == new.get("status"):
            return
        backup = (meta.get("labels") or {}).get(BACKUP_LABEL)
        if backup:
            self.enqueue((meta.get("namespace") or "", backup))

    # ------------------------------------------------------------------ helpers

    def _event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.record(obj, type_, reason, message)

    def _server(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.servers is not None and self.servers.synced.is_set():
            return self.servers.get(namespace, name)
        return self.kube.get(MCPSERVER, namespace, name)

    def _jobs_of(self, namespace: str, backup: str) -> list[dict[str, Any]]:

        want = label_value(backup)
        if self.jobs is not None and self.jobs.synced.is_set():
            items = self.jobs.items(namespace)
        else:
            items, _ = self.kube.list_objects(JOB, namespace, f"{BACKUP_LABEL}={want}")
        return [j for j in items if ((j.get("metadata") or {}).get("labels") or {}).get(BACKUP_LABEL) == want]

    def _secret_problem(self, namespace: str, refs: list[tuple[str, Any]]) -> str | None:
        """Why a referenced credential cannot be read (names Secret, key and field; never a value)."""
        for field, ref in refs:
            secret = self.kube.get(SECRET, namespace, ref.name)
            if secret is None:
                return f"Secret {ref.name} ({field}) not found in namespace {namespace}"
            if ref.key not in (secret.get("data") or {}) and ref.key not in (secret.get("stringData") or {}):
                return f"Secret {ref.name} has no key {ref.key!r} ({field})"
        return None

    def _ensure_key_secret(self, backup: Any, namespace: str) -> str:
        """The generated encryption key Secret's name; created (256 random bits) when absent."""

        name = generated_key_secret_name(backup.metadata.name)
        live = self.kube.get(SECRET, namespace, name)
        if live is not None:
            if GENERATED_KEY not in (live.get("data") or {}):
                raise KubeError(409, "Conflict", {"message": f"Secret {name} exists without key {GENERATED_KEY!r}: "
                                                             "it is not a generated backup key"})  # fmt: skip
            return name
        # text (256 random bits, URL-safe base64): the Job takes it as an environment variable
        key = base64.b64encode(secrets.token_urlsafe(32).encode()).decode()
        try:
            self.kube.create(SECRET, namespace, generated_key_secret(backup, namespace, key))
        except KubeError as exc:
            if not exc.conflict:
                raise
            return name  # created concurrently: keep that one
        log.warning("generated the repository key into Secret %s/%s: it lives only in this cluster", namespace, name)
        return name

    def _write_status(self, obj: dict[str, Any], outcome: Outcome) -> dict[str, Any]:

        old = obj.get("status") or {}
        new = backup_status(outcome, old, now=now_rfc3339())
        patch = controller_patch(old, new)
        if patch is None:
            return new
        meta = obj["metadata"]
        try:
            self.kube.merge_patch(MCPSERVERBACKUP, meta["namespace"], meta["name"], patch, "status")
        except KubeError as exc:
            if exc.not_found:
                return new
            raise
        before, after = _cond(old, "Ready"), _cond(new, "Ready")
        if before != after and after is not None and after[0] == "False":
            ready = next(c for c in new["conditions"] if c["type"] == "Ready")
            self._event(obj, "Warning", ready["reason"], ready["message"])
        return new

    def _observe_run(self, key: Key, obj: dict[str, Any]) -> None:
        """Count a newly finished run (metrics) and send its Event, once per run."""
        status = obj.get("status") or {}
        run = status.get("lastRun") or {}
        done = run.get("result") in ("Succeeded", "Failed") and run.get("completionTime")
        marker = f"{run.get('id')}@{run.get('completionTime')}" if done else None
        ns, name = key
        last_ok = parse_time(status.get("lastSuccessfulBackup"))
        if last_ok is not None:
            metrics.LAST_SUCCESS.labels(ns, name).set(last_ok)
        with self._lock:
            first = key not in self._runs_seen
            seen = self._runs_seen.get(key)
            self._runs_seen[key] = marker
        if marker is None or marker == seen:
            return
        finished_at = parse_time(run.get("completionTime")) or 0.0
        if first and self.clock() - finished_at > STARTUP_GRACE:
            return  # a run that ended long before this process started: counted by its predecessor
        ok = run["result"] == "Succeeded"
        metrics.RUNS.labels("succeeded" if ok else "failed").inc()
        if run.get("durationSeconds") is not None:
            metrics.DURATION.observe(float(run["durationSeconds"]))
        if ok:
            metrics.BYTES.labels("uploaded").inc(int(run.get("bytesUploaded") or 0))
            metrics.BYTES.labels("deduplicated").inc(int(run.get("bytesDeduplicated") or 0))
        self._event(obj, "Normal" if ok else "Warning", "BackupSucceeded" if ok else "BackupFailed", describe_run(run))

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, key: Key) -> Result:

        ns, name = key
        obj = self.backups.get(ns, name)
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            with self._lock:
                self._runs_seen.pop(key, None)
            with contextlib.suppress(KeyError):
                metrics.LAST_SUCCESS.remove(ns, name)
            return DONE  # what it owns is garbage-collected; the generated key Secret stays on purpose
        obj = {**obj, "apiVersion": API_VERSION, "kind": BACKUP_KIND}
        meta = obj["metadata"]
        generation = meta.get("generation")
        self._observe_run(key, obj)
        backup, msg = validated(obj)
        if backup is None:
            self._write_status(obj, Outcome(generation, invalid=msg))
            raise TerminalError(msg)
        assert isinstance(backup, MCPServerBackup)
        spec = backup.spec
        outcome = Outcome(generation, schedule=spec.schedule, suspended=spec.suspend, encrypted=spec.encryption)
        status = obj.get("status") or {}

        # the server (for its PVCs and references); a missing server blocks runs but not the rendering
        # never looked up in another namespace (the render refuses it, whether or not it exists there): what
        # this backup's status says must not tell its author what exists where they may not look
        server = None
        same_ns = (spec.server_ref.namespace or ns) == ns
        server_obj = self._server(ns, spec.server_ref.name) if same_ns else None
        if server_obj is None and same_ns:
            outcome.blocked = ("ServerNotFound", f"MCPServer {spec.server_ref.name} not found in namespace {ns}")
        elif server_obj is not None:
            try:
                server = MCPServer.model_validate({**server_obj, "apiVersion": API_VERSION, "kind": "MCPServer"})
            except ValidationError:
                outcome.blocked = ("ServerInvalid", f"MCPServer {spec.server_ref.name} has an invalid spec")

        try:
            key_secret = self._ensure_key_secret(backup, ns) if spec.encryption and not spec.encryption_key else None
        except KubeError as exc:
            self._write_status(obj, Outcome(generation, invalid=f"spec.encryption: {exc.message}"))
            if exc.conflict:  # a Secret of that name that is not ours: nothing to retry until it changes
                raise TerminalError(exc.message) from None
            raise
        outcome.generated_key_secret = key_secret

        problem = self._secret_problem(ns, _credential_refs(spec))
        if problem is not None and outcome.blocked is None:
            outcome.blocked = ("CredentialsMissing", problem)

        # which one-off Jobs to render: a new request, or one whose Job still exists
        live_jobs = {(j.get("metadata") or {}).get("name"): j for j in self._jobs_of(ns, name)}
        request = (meta.get("annotations") or {}).get(REQUEST_ANNOTATION) or None
        run_request = None
        if (
            request is not None
            and outcome.blocked is None
            and (request != status.get("lastRequest") or request_job_name(name, request) in live_jobs)
        ):
            run_request = request
        restore_wire = (obj.get("spec") or {}).get("restore")
        rhash = restore_hash(restore_wire)
        run_restore = None
        if (
            rhash is not None
            and outcome.blocked is None
            and (rhash != status.get("lastRestoreRequest") or restore_job_name(name, rhash) in live_jobs)
        ):
            run_restore = rhash
        target_data = None
        if run_restore is not None and spec.restore is not None and spec.restore.target is not None:
            tname = spec.restore.target.name or spec.server_ref.name
            tns = spec.restore.target.namespace or ns
            tobj = self._server(tns, tname) if tns == ns else None  # another namespace: refused by the render
            if tobj is not None:
                try:
                    target_data = server_data(MCPServer.model_validate({**tobj, "apiVersion": API_VERSION,
                                                                        "kind": "MCPServer"}))  # fmt: skip
                except ValidationError:
                    target_data = None

        restore_job = live_jobs.get(restore_job_name(name, run_restore)) if run_restore is not None else None
        opts = BackupRenderOptions(namespace=ns, image=self.image, owner=Owner(name, meta["uid"], API_VERSION,
                                   BACKUP_KIND), request=run_request, restore_request=run_restore,
                                   generated_key_secret=key_secret, restore_target=target_data,
                                   restore_finished=restore_job is not None and _finished(restore_job),
                                   defaults=self.defaults)  # fmt: skip
        try:
            rendered = render_backup(backup, server, opts)
        except RenderError as exc:
            msg = f"{exc.field}: {exc.message}"
            self._write_status(obj, Outcome(generation, invalid=msg, schedule=spec.schedule))
            if _cond(status, "Ready") != ("False", "InvalidSpec"):
                self._event(obj, "Warning", "InvalidSpec", msg)
            raise TerminalError(msg) from None
        outcome.warnings = list(rendered.warnings)

        changes = self.manager.apply_set(MCPSERVERBACKUP, obj, rendered.objects, policy="force")
        observe(changes)
        for type_, reason, message in events_from(changes):
            self._event(obj, type_, reason, message)
        for change in changes.of("created", "configured", "unchanged"):
            if change.kind == "Job":
                job = changes.object("Job", change.name)
                if job is not None:
                    live_jobs[change.name] = job
        for change in changes.of("created"):
            if change.kind == "Job":
                restore = run_restore is not None and change.name == restore_job_name(name, run_restore)
                self._event(obj, "Normal", "RestoreStarted" if restore else "BackupStarted",
                            f"Job {change.name} created")  # fmt: skip
        if changes.error is not None:
            failed = changes.of("failed")[0]
            outcome.blocked = ("ApplyFailed", f"{failed.subject}: {failed.reason}")
            self._write_status(changes.parent, outcome)
            raise changes.error
        refused = changes.of("conflict", "skipped")
        if refused and outcome.blocked is None:
            outcome.blocked = ("ApplyFailed", "; ".join(conflict_text(c) if c.action == "conflict" else c.line()
                                                        for c in refused))  # fmt: skip
        obj = changes.parent

        outcome.request = run_request
        outcome.restore_request = run_restore
        for jname, job in live_jobs.items():
            if not _finished(job) and not (job.get("metadata") or {}).get("deletionTimestamp"):
                if run_restore is not None and jname == restore_job_name(name, run_restore):
                    outcome.restoring = True
                else:
                    outcome.running_jobs.append(str(jname))
        if spec.schedule is not None and not spec.suspend:
            try:
                outcome.next_run = next_run(spec.schedule, self.clock())
            except (ValueError, KeyError):
                outcome.next_run = None
        self._write_status(obj, outcome)
        if outcome.next_run is not None:
            return Result(requeue_after=min(MAX_REQUEUE, max(1.0, outcome.next_run - self.clock() + 1)))
        return DONE


def _finished(job: dict[str, Any]) -> bool:
    """The Job is Complete or Failed."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


def _credential_refs(spec: Any) -> list[tuple[str, Any]]:
    """(field path, secretKeyRef) of every credential the spec names."""
    st = spec.storage
    out: list[tuple[str, Any]] = []
    if st.s3 is not None and st.s3.credentials is not None:
        out.append(("spec.storage.s3.credentials.accessKeyId", st.s3.credentials.access_key_id.secret_key_ref))
        out.append(("spec.storage.s3.credentials.secretAccessKey", st.s3.credentials.secret_access_key.secret_key_ref))
    if st.gcs is not None and st.gcs.credentials is not None:
        out.append(("spec.storage.gcs.credentials", st.gcs.credentials.secret_key_ref))
    if st.azure is not None and st.azure.credentials is not None:
        out.append(("spec.storage.azure.credentials", st.azure.credentials.secret_key_ref))
    if spec.encryption and spec.encryption_key is not None:
        out.append(("spec.encryptionKey", spec.encryption_key))
    return out
