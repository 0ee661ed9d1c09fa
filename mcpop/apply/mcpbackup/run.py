"""One backup run, one restore, and the repository of an MCPServerBackup: what `mcp backup run|list|verify|
restore` do (in the Job, or on a workstation), over the repository library in mcpop.backup.

A run writes its own status keys (`lastRun`, `snapshots`, `lastBackupTime`, `lastSuccessfulBackup`,
`lastSnapshot`; a restore `lastRestore`) through the status subresource; the controller derives phase,
conditions, metrics and Events from them (see status.py). Credentials come from the environment the Job
sets by secretKeyRef, or else are read from the referenced Secrets; they are never printed or logged.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from mcpop import API_VERSION
from mcpop.api.core import SecretKeySelector
from mcpop.api.mcpserver import MCPServer
from mcpop.api.mcpserverbackup import MCPServerBackup
from mcpop.apply.resources import CONFIGMAP, MCPSERVER, MCPSERVERBACKUP, POD, SECRET, ApiError, Resource
from mcpop.codec.emitter import dump_yaml, json_text
from mcpop.codec.reader import YAMLInputError, decode, load_value
from mcpop.errors import McpopError
from mcpop.render import RenderOptions, render
from mcpop.render.backup import (
    ENV_DEFAULTS,
    GENERATED_KEY,
    BackupDefaults,
    credential_env,
    generated_key_secret_name,
    server_data,
    with_defaults,
)
from mcpop.render.names import selector_labels
from mcpop.render.validate import validate

# mcpop.backup needs the `storage` extra: it is imported only where a repository is opened, so this module
# loads without it (`mcp backup restore` of data asks the operator's Job and opens no repository here).

log = logging.getLogger("mcpop.backup.run")

#: how many snapshots status lists
RECENT = 10
#: `MCPOP_BACKUP_NOW` (RFC 3339) overrides the clock of a run: tests age snapshots with it
NOW_ENV = "MCPOP_BACKUP_NOW"
RESTORE_REPLICAS_ANNOTATION = "mcp.allbeone.io/restore-replicas"
#: restored objects are applied as this field manager (a restore is a deliberate, forced write)
RESTORE_FIELD_MANAGER = "mcpop-restore"
CONFIG_DIR = "config"


class Kube(Protocol):
    """The API verbs a run needs; the CLI's client (mcpop.cli.kube) provides them, with no official client."""

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    def list_objects(self, res: Resource, namespace: str | None = None,
                     label_selector: str | None = None) -> tuple[list[dict[str, Any]], str]: ...  # fmt: skip

    def merge_patch(self, res: Resource, namespace: str | None, name: str, patch: dict[str, Any],
                    subresource: str | None = None) -> dict[str, Any]: ...  # fmt: skip

    def require(self, api_version: str, kind: str) -> Resource: ...

    def apply(self, res: Resource, obj: dict[str, Any], *, force: bool, field_manager: str,
              dry_run: bool = False) -> dict[str, Any]: ...  # fmt: skip


class RunError(McpopError):
    """A backup or restore that cannot proceed; the message says what and where (never a secret)."""


def now_utc() -> dt.datetime:
    text = os.environ.get(NOW_ENV)
    if text:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
    return dt.datetime.now(dt.UTC)


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------- reading


def load_backup(kube: Kube, namespace: str, name: str, env: Mapping[str, str] | None = None
                ) -> tuple[dict[str, Any], Any]:  # fmt: skip
    """The live MCPServerBackup (wire form) and its validated model, with the operator's defaults (the Job's
    MCPOP_BACKUP_DEFAULTS) filled into the model where its spec leaves them unset."""

    obj = kube.get(MCPSERVERBACKUP, namespace, name)
    if obj is None:
        raise RunError(f"MCPServerBackup {name} not found in namespace {namespace}")
    obj = {**obj, "apiVersion": API_VERSION, "kind": "MCPServerBackup"}
    try:
        backup = MCPServerBackup.model_validate(obj)
        defaults = BackupDefaults.from_wire((os.environ if env is None else env).get(ENV_DEFAULTS))
        return obj, backup.model_copy(update={"spec": with_defaults(backup.spec, defaults)})
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RunError(f"MCPServerBackup {namespace}/{name} is invalid: {msg}") from None


def secret_reader(kube: Kube | None, namespace: str) -> Callable[[Any], str]:
    """A function resolving a secretKeyRef from the Secret in `namespace` (values cached, never logged)."""
    cache: dict[tuple[str, str], str] = {}

    def read(ref: Any) -> str:
        hit = cache.get((ref.name, ref.key))
        if hit is not None:
            return hit
        if kube is None:
            raise RunError(f"Secret {ref.name} key {ref.key!r}: no cluster to read it from")
        try:
            secret = kube.get(SECRET, namespace, ref.name)
        except ApiError as exc:
            raise RunError(f"Secret {ref.name} in namespace {namespace}: cannot read: {exc.message}") from None
        if secret is None:
            raise RunError(f"Secret {ref.name} not found in namespace {namespace}")
        raw = (secret.get("data") or {}).get(ref.key)
        if raw is None:
            raise RunError(f"Secret {ref.name} has no key {ref.key!r}")
        value = base64.b64decode(raw).decode()
        cache[(ref.name, ref.key)] = value
        return value

    return read


def _env_secrets(spec: Any, generated: str | None, environ: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """The secretKeyRef values the Job put in the environment, by (Secret, key)."""

    out: dict[tuple[str, str], str] = {}
    for e in credential_env(spec, generated):
        ref = e["valueFrom"]["secretKeyRef"]
        if e["name"] in environ:
            out[(ref["name"], ref["key"])] = environ[e["name"]]
    return out


@dataclass
class Opened:
    """A backup's repository, opened."""

    repo: Any
    url: str


def open_repository(kube: Kube | None, backup: Any, namespace: str, *, local_root: str | None = None,
                    create: bool = True, env: Mapping[str, str] | None = None) -> Opened:  # fmt: skip
    """The repository `backup.spec.storage` names (created when absent and `create`)."""
    from mcpop.backup import Repository, location_for
    from mcpop.backup.errors import BackupError, EncryptionMismatch

    spec = backup.spec
    environ = dict(os.environ if env is None else env)
    generated = generated_key_secret_name(backup.metadata.name) if spec.encryption and not spec.encryption_key else None
    from_env = _env_secrets(spec, generated, environ)
    reader = secret_reader(kube, namespace)

    def secret(ref: Any) -> str:
        hit = from_env.get((ref.name, ref.key))
        return hit if hit is not None else reader(ref)

    key: str | None = None
    if spec.encryption:
        if spec.encryption_key is not None:
            key = secret(spec.encryption_key)
        else:
            assert generated is not None
            try:
                key = secret(SecretKeySelector(name=generated, key=GENERATED_KEY))
            except RunError as exc:
                raise RunError(f"{exc} (the generated encryption key: the operator creates it when it "
                               "reconciles the backup)") from None  # fmt: skip
    try:
        loc = location_for(spec.storage, namespace=namespace, name=backup.metadata.name, secret=secret,
                           local_root=local_root)  # fmt: skip
        repo = Repository.open_location(loc, key=key, compression=spec.compression, create=create)
    except EncryptionMismatch:
        raise RunError(f"{loc.url}: the repository was created unencrypted and spec.encryption is on (it is "
                       "unless set to false): set spec.encryption: false to keep writing it unencrypted, or give "
                       "spec.storage a new prefix for an encrypted one") from None  # fmt: skip
    except BackupError as exc:
        raise RunError(str(exc)) from None
    return Opened(repo, loc.url)


def _server(kube: Kube, backup: Any, namespace: str) -> dict[str, Any]:
    ref = backup.spec.server_ref
    if (ref.namespace or namespace) != namespace:  # never looked up: the answer would tell what exists there
        raise RunError(f"spec.serverRef.namespace {ref.namespace!r}: a backup runs only on a server in its own "
                       f"namespace {namespace!r}")  # fmt: skip
    obj = kube.get(MCPSERVER, namespace, ref.name)
    if obj is None:
        raise RunError(f"MCPServer {ref.name} not found in namespace {namespace}")
    return {**obj, "apiVersion": API_VERSION, "kind": "MCPServer"}


_SERVER_SET = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "deletionTimestamp",
               "deletionGracePeriodSeconds", "ownerReferences", "finalizers", "selfLink")  # fmt: skip


def portable(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` without status and server-set metadata (what can be applied elsewhere)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_SET}
    ann = {k: v for k, v in (meta.get("annotations") or {}).items()
           if not k.startswith("kubectl.kubernetes.io/") and k != "mcp.allbeone.io/applied-hash"}  # fmt: skip
    meta["annotations"] = ann or None
    out = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
    out["metadata"] = {k: v for k, v in meta.items() if v is not None}
    return out


def collect_configuration(kube: Kube, server: dict[str, Any], namespace: str, encrypted: bool
                          ) -> tuple[list[Any], list[str]]:  # fmt: skip
    """The configuration files of a snapshot, and the Secrets left out (an unencrypted backup has none)."""
    from mcpop.backup import MemoryFile

    files = [MemoryFile(f"{CONFIG_DIR}/mcpserver.yaml", dump_yaml([portable(server)]).encode())]
    model = MCPServer.model_validate(server)
    data = server_data(model)
    for name in data.config_maps:
        cm = kube.get(CONFIGMAP, namespace, name)
        if cm is not None:
            body = dump_yaml([portable({**cm, "apiVersion": "v1", "kind": "ConfigMap"})])
            files.append(MemoryFile(f"{CONFIG_DIR}/configmaps/{name}.yaml", body.encode()))
    skipped: list[str] = []
    for name in data.secrets:
        if not encrypted:
            skipped.append(name)
            continue
        secret = kube.get(SECRET, namespace, name)
        if secret is not None:
            body = json_text(portable({**secret, "apiVersion": "v1", "kind": "Secret"}), sort_keys=True)
            files.append(MemoryFile(f"{CONFIG_DIR}/secrets/{name}.json", body.encode()))
    try:
        rendered = render(model, options=RenderOptions(namespace=namespace))
        files.append(MemoryFile(f"{CONFIG_DIR}/rendered.yaml", rendered.to_yaml().encode(), 0o644))
    except (McpopError, ValueError) as exc:  # a registry-backed server renders only in the cluster
        files.append(MemoryFile(f"{CONFIG_DIR}/rendered.txt", f"not rendered offline: {exc}\n".encode(), 0o644))
    return files, skipped


def snapshot_summary(snap: Any) -> dict[str, Any]:
    return {"id": snap.id, "time": rfc3339(snap.time), "type": snap.kind, "size": snap.size, "files": snap.files,
            "uploaded": snap.bytes_uploaded}  # fmt: skip


def _patch_status(kube: Kube | None, namespace: str, name: str, status: dict[str, Any]) -> None:
    if kube is None:
        return
    try:
        kube.merge_patch(MCPSERVERBACKUP, namespace, name, {"status": status}, "status")
    except ApiError as exc:
        log.warning("could not write status of %s/%s: %s", namespace, name, exc.message)


def _run_record(run_id: str, result: str, start: dt.datetime, **fields: Any) -> dict[str, Any]:
    keys = ("completionTime", "durationSeconds", "snapshot", "size", "files", "bytesUploaded", "bytesDeduplicated",
            "verified", "verifyMessage", "secretsSkipped", "removedSnapshots", "error")  # fmt: skip
    out: dict[str, Any] = {"id": run_id, "result": result, "startTime": rfc3339(start)}
    for k in keys:
        out[k] = fields.get(k)  # None deletes a key a previous run wrote
    return out


# ---------------------------------------------------------------------------------------------- backup


def run_backup(kube: Kube, namespace: str, name: str, *, data_dir: str | None = None, run_id: str | None = None,
               local_root: str | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """One backup of MCPServerBackup `namespace/name`: snapshot, retention, verify; the `lastRun` record.

    Raises RunError after recording a failed run (the Job then retries with backoff)."""
    from mcpop.backup import FileTree
    from mcpop.backup.errors import BackupError
    from mcpop.backup.retention import RetentionPolicy

    environ = dict(os.environ if env is None else env)
    started = now_utc()
    t0 = time.monotonic()
    run_id = run_id or environ.get("MCPOP_BACKUP_RUN_ID") or f"local-{started.strftime('%Y%m%dT%H%M%SZ')}"
    _patch_status(kube, namespace, name, {"lastRun": _run_record(run_id, "Running", started)})
    try:
        _, backup = load_backup(kube, namespace, name, environ)
        spec = backup.spec
        server = _server(kube, backup, namespace)
        sources, skipped = collect_configuration(kube, server, namespace, spec.encryption)
        kind = spec.backup_type

        claims = server_data(MCPServer.model_validate(server)).claims
        if kind != "Configuration" and data_dir is None and claims:
            # a workstation run without the volumes: say what the snapshot holds
            log.warning("no --data-dir: only the configuration of %s/%s is backed up", namespace, name)
            kind = "Configuration"
        if kind != "Configuration" and data_dir is not None:
            for vol, _claim in claims:
                path = Path(data_dir) / vol
                if not path.is_dir():
                    raise RunError(f"--data-dir {data_dir}: no directory {vol!r} for volume {vol} "
                                   f"(PersistentVolumeClaim {_claim})")  # fmt: skip
                sources.append(FileTree(str(path), f"data/{vol}"))
        opened = open_repository(kube, backup, namespace, local_root=local_root, env=environ)
        with opened.repo as repo:
            snap = repo.backup(sources, kind=kind, time=started,
                               meta={"backup": name, "namespace": namespace, "server": spec.server_ref.name,
                                     "run": run_id})  # fmt: skip
            removed: list[str] = []
            if spec.retention is not None:
                policy = RetentionPolicy.from_spec(spec.retention)
                if not policy.empty:
                    selection = repo.forget(policy)
                    removed = [s.id for s in selection.remove]
                    if removed:
                        repo.prune()
            verified = verify_message = None
            if spec.verify:
                report = repo.verify(read_data=False)
                verified = report.ok
                verify_message = (f"{report.snapshots} snapshots, {report.chunks} chunks checked" if report.ok else
                                  "; ".join(f"{p.kind} {p.object} (snapshots {', '.join(s[:8] for s in p.snapshots)})"
                                            f": {p.message}" for p in report.problems[:10]))  # fmt: skip
            recent = [snapshot_summary(s) for s in repo.snapshots()[-RECENT:]][::-1]
    except (RunError, BackupError, ApiError, OSError, ValueError) as exc:
        text = exc.message if isinstance(exc, ApiError) else str(exc)
        record = _run_record(run_id, "Failed", started, completionTime=rfc3339(now_utc()),
                             durationSeconds=round(time.monotonic() - t0, 3), error=text)  # fmt: skip
        _patch_status(kube, namespace, name, {"lastRun": record, "lastBackupTime": rfc3339(started)})
        raise RunError(text) from None
    finished = now_utc()
    record = _run_record(
        run_id, "Succeeded", started, completionTime=rfc3339(finished),
        durationSeconds=round(time.monotonic() - t0, 3), snapshot=snap.id, size=snap.size, files=snap.files,
        bytesUploaded=snap.bytes_uploaded, bytesDeduplicated=snap.bytes_deduplicated, verified=verified,
        verifyMessage=verify_message, secretsSkipped=skipped or None, removedSnapshots=removed or None,
    )  # fmt: skip
    _patch_status(kube, namespace, name, {"lastRun": record, "lastBackupTime": rfc3339(started),
                                          "lastSuccessfulBackup": rfc3339(finished), "lastSnapshot": snap.id,
                                          "snapshots": recent})  # fmt: skip
    return record


# ---------------------------------------------------------------------------------------------- restore


def pick_snapshot(repo: Any, snapshot: str | None, at: str | None) -> Any:
    """The snapshot named by id (or prefix), else the newest at or before `at`, else the newest."""
    from mcpop.backup.errors import SnapshotNotFound

    try:
        if snapshot:
            return repo.snapshot(snapshot)
        if at:
            try:
                when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise RunError(f"--at {at!r} is not an RFC 3339 time such as 2026-01-31T02:00:00Z") from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return repo.snapshot_at(when)
        snaps = repo.snapshots()
        if not snaps:
            raise RunError("the repository has no snapshots yet")
        return snaps[-1]
    except SnapshotNotFound as exc:
        raise RunError(str(exc)) from None


def _selector(name: str) -> str:

    return ",".join(f"{k}={v}" for k, v in selector_labels(name).items())


def scale_down(kube: Kube, namespace: str, name: str, timeout: float = 300.0) -> int | None:
    """Scale MCPServer `name` to 0 (its replicas remembered in an annotation); wait until its pods are gone.
    Returns the replicas to restore (None: the server does not exist)."""
    obj = kube.get(MCPSERVER, namespace, name)
    if obj is None:
        return None
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    replicas = int(ann.get(RESTORE_REPLICAS_ANNOTATION) or (obj.get("spec") or {}).get("replicas") or 1)
    kube.merge_patch(MCPSERVER, namespace, name, {"metadata": {"annotations": {RESTORE_REPLICAS_ANNOTATION:
                                                                               str(replicas)}},
                                                  "spec": {"replicas": 0}})  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods, _ = kube.list_objects(POD, namespace, _selector(name))
        if not pods:
            return replicas
        time.sleep(1.0)
    raise RunError(f"MCPServer {name}: its pods did not stop within {timeout:.0f}s; the data was not restored")


def scale_up(kube: Kube, namespace: str, name: str, replicas: int) -> None:
    kube.merge_patch(MCPSERVER, namespace, name, {"metadata": {"annotations": {RESTORE_REPLICAS_ANNOTATION: None}},
                                                  "spec": {"replicas": replicas}})  # fmt: skip


@dataclass
class RestorePlan:
    snapshot: str | None = None
    at: str | None = None
    target_name: str | None = None
    target_namespace: str | None = None
    configuration: bool = True
    data: bool = True


def snapshot_object(files: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The object in the snapshot's configuration file `path` (YAML or JSON), read with the input limits;
    RunError naming the file when it is not one object."""
    try:
        obj = load_value(decode(files[path].data))
    except YAMLInputError as exc:
        raise RunError(f"snapshot file {CONFIG_DIR}/{path}: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        raise RunError(f"snapshot file {CONFIG_DIR}/{path}: expected a Kubernetes object (a mapping with metadata)")
    return obj


#: the Secret types a restore creates: data only (a `service-account-token` Secret would have the cluster mint
#: a token for any ServiceAccount of the namespace)
SECRET_TYPES = frozenset({"Opaque", "kubernetes.io/tls", "kubernetes.io/basic-auth", "kubernetes.io/ssh-auth",
                          "kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"})  # fmt: skip
_REFERENCED = {"configmaps/": ("ConfigMap", ".yaml", ("data", "binaryData", "immutable")),
               "secrets/": ("Secret", ".json", ("data", "stringData", "type", "immutable"))}  # fmt: skip


def _refused(path: str, why: str) -> RunError:
    return RunError(f"snapshot file {CONFIG_DIR}/{path}: {why}; a restore applies only the MCPServer and the "
                    "ConfigMaps and Secrets it references; nothing was restored")  # fmt: skip


def _metadata(obj: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    """Name, namespace, labels and annotations (without ApplySet membership): nothing else of a snapshot's
    metadata (owner references, finalizers) is applied."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    for key in ("labels", "annotations"):
        given = obj["metadata"].get(key)
        items = given.items() if isinstance(given, dict) else ()
        kept = {k: v for k, v in items if isinstance(v, str) and not str(k).startswith("applyset.kubernetes.io/")}
        if kept:
            meta[key] = kept
    return meta


def restore_objects(files: Mapping[str, Any], target_ns: str, target_name: str) -> list[dict[str, Any]]:
    """What a configuration restore applies, in order: the ConfigMaps and Secrets the snapshot's MCPServer
    references, then the MCPServer as `target_ns/target_name`, valid as a new one would have to be (the
    webhook's validation). Any other kind, name or namespace in a file applied is refused before anything is
    written: the snapshot comes from a bucket, and the restore runs with rights in the target namespace."""
    raw = snapshot_object(files, "mcpserver.yaml")
    if (raw.get("apiVersion"), raw.get("kind")) != (API_VERSION, "MCPServer"):
        raise _refused("mcpserver.yaml", f"holds {str(raw.get('kind'))[:64]!r} {str(raw.get('apiVersion'))[:64]!r}, "
                                         f"not an MCPServer {API_VERSION}")  # fmt: skip
    server = {"apiVersion": API_VERSION, "kind": "MCPServer", "metadata": _metadata(raw, target_name, target_ns),
              "spec": raw.get("spec")}  # fmt: skip
    verdict = validate(server, None, RenderOptions(namespace=target_ns))
    if not verdict.ok or not isinstance(verdict.resource, MCPServer):
        problems = "; ".join(str(p) for p in verdict.problems)
        raise RunError(f"snapshot file {CONFIG_DIR}/mcpserver.yaml: the MCPServer is not valid: {problems}; "
                       "nothing was restored")  # fmt: skip
    data = server_data(verdict.resource)
    referenced = {"ConfigMap": set(data.config_maps), "Secret": set(data.secrets)}
    out: list[dict[str, Any]] = []
    for path in sorted(files):
        prefix = next((d for d in _REFERENCED if path.startswith(d)), None)
        if prefix is None:
            continue  # rendered.yaml and the like: a record, never applied
        kind, suffix, fields = _REFERENCED[prefix]
        obj = snapshot_object(files, path)
        name = obj["metadata"].get("name")
        if (obj.get("apiVersion"), obj.get("kind")) != ("v1", kind):
            raise _refused(path, f"holds a {str(obj.get('kind'))[:64]!r} where a {kind} belongs")
        if not isinstance(name, str) or path != f"{prefix}{name}{suffix}":
            raise _refused(path, f"holds the {kind} {str(name)[:64]!r}, not the one the file is named for")
        if name not in referenced[kind]:
            raise _refused(path, f"the {kind} {name!r} is not referenced by the MCPServer")
        if kind == "Secret" and obj.get("type", "Opaque") not in SECRET_TYPES:
            raise _refused(path, f"a Secret of type {str(obj.get('type'))[:64]!r} is not restored")
        body = {k: obj[k] for k in fields if k in obj}
        out.append({"apiVersion": "v1", "kind": kind, "metadata": _metadata(obj, name, target_ns), **body})
    return [*out, server]


def _writable(kube: Kube, obj: dict[str, Any], covered: set[tuple[str, str]]) -> Any:
    """The resource to apply `obj` to, once it is known that the restore may force it: the object is absent,
    was written by a restore, or is one the backup covers (`covered`: restoring in place). Otherwise
    RunError: a restore does not take over an object someone else wrote."""
    res = kube.require(obj["apiVersion"], obj["kind"])
    meta = obj["metadata"]
    live = kube.get(res, meta["namespace"], meta["name"])
    if live is None or (obj["kind"], meta["name"]) in covered:
        return res
    managers = sorted({str(m.get("manager")) for m in (live.get("metadata") or {}).get("managedFields") or ()})
    if RESTORE_FIELD_MANAGER in managers:
        return res
    raise RunError(f"{obj['kind']} {meta['namespace']}/{meta['name']} exists and was not written by a restore "
                   f"(managed by {', '.join(managers) or 'nobody'}): a restore does not overwrite it; delete it or "
                   "restore to another target; nothing was restored")  # fmt: skip


def restore_configuration(kube: Kube, objects: list[dict[str, Any]], covered: set[tuple[str, str]]) -> list[str]:
    """Apply `objects` (from `restore_objects`) as field manager `mcpop-restore`: first all as a server-side
    dry run, which runs admission, so that a refusal leaves everything as it was; the objects written."""
    targets = [(_writable(kube, obj, covered), obj) for obj in objects]
    for dry_run in (True, False):
        for res, obj in targets:
            kube.apply(res, obj, force=True, field_manager=RESTORE_FIELD_MANAGER, dry_run=dry_run)
    return [f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects]


def _covered(kube: Kube, backup: Any, namespace: str, target_ns: str, target_name: str) -> set[tuple[str, str]]:
    """The objects a restore in place may overwrite: the backed-up MCPServer and the ConfigMaps and Secrets it
    references now (what the backup covers); nothing when restoring to another server."""
    ref = backup.spec.server_ref
    if (target_ns, target_name) != (ref.namespace or namespace, ref.name):
        return set()
    out = {("MCPServer", target_name)}
    live = kube.get(MCPSERVER, target_ns, target_name)
    if live is not None:
        data = server_data(MCPServer.model_validate({**live, "apiVersion": API_VERSION, "kind": "MCPServer"}))
        out |= {("ConfigMap", n) for n in data.config_maps} | {("Secret", n) for n in data.secrets}
    return out


def run_restore(kube: Kube, namespace: str, name: str, plan: RestorePlan, *, data_dir: str | None,
                local_root: str | None = None, run_id: str | None = None,
                env: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Restore configuration and/or data from MCPServerBackup `namespace/name`; the `lastRestore` record."""
    from mcpop.backup.errors import BackupError

    environ = dict(os.environ if env is None else env)
    started = now_utc()
    run_id = run_id or environ.get("MCPOP_BACKUP_RUN_ID") or f"local-{started.strftime('%Y%m%dT%H%M%SZ')}"
    _, backup = load_backup(kube, namespace, name, environ)
    target_ns = plan.target_namespace or namespace
    target_name = plan.target_name or backup.spec.server_ref.name
    target = f"{target_ns}/{target_name}"
    record: dict[str, Any] = {"id": run_id, "result": "Running", "snapshot": None, "target": target,
                              "startTime": rfc3339(started), "completionTime": None, "error": None}  # fmt: skip
    _patch_status(kube, namespace, name, {"lastRestore": record})
    replicas: int | None = None
    try:
        opened = open_repository(kube, backup, namespace, local_root=local_root, create=False, env=environ)
        with opened.repo as repo:
            snap = pick_snapshot(repo, plan.snapshot, plan.at)
            record["snapshot"] = snap.id
            files = repo.read_files(snap.id, CONFIG_DIR)
            if "mcpserver.yaml" not in files:
                raise RunError(f"snapshot {snap.short_id} holds no MCPServer configuration")
            objects = restore_objects(files, target_ns, target_name)  # refused here, before anything changes
            covered = _covered(kube, backup, namespace, target_ns, target_name)
            if plan.data:
                if data_dir is None:
                    raise RunError("a data restore needs --data-dir (the target's volumes, one directory each)")
                replicas = scale_down(kube, target_ns, target_name)

                snap_server = MCPServer.model_validate(objects[-1])
                for vol, _claim in server_data(snap_server).claims:
                    repo.restore(snap.id, str(Path(data_dir) / vol), subtree=f"data/{vol}")
            if plan.configuration:
                if replicas is not None:
                    objects[-1]["spec"]["replicas"] = replicas
                restore_configuration(kube, objects, covered)
    except (RunError, BackupError, ApiError, OSError, ValueError) as exc:
        text = exc.message if isinstance(exc, ApiError) else str(exc)
        record.update(result="Failed", completionTime=rfc3339(now_utc()), error=text)
        _patch_status(kube, namespace, name, {"lastRestore": record})
        raise RunError(text) from None
    finally:
        if replicas is not None:  # scaled down for the data: back up, whatever happened
            scale_up(kube, target_ns, target_name, replicas)
    record.update(result="Succeeded", completionTime=rfc3339(now_utc()))
    _patch_status(kube, namespace, name, {"lastRestore": record})
    return record
