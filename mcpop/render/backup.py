"""The objects one MCPServerBackup renders to. Pure: no I/O, byte-identical output for the same inputs.

* a ServiceAccount, Role and RoleBinding for the backup pods: read this backup, the server and exactly the
  ConfigMaps and Secrets it references, and write this backup's status (the run reports its result there);
* a CronJob for `spec.schedule` (validated; `suspend` honoured; `concurrencyPolicy: Forbid`; UTC);
* a Job for an on-demand run (`mcp.allbeone.io/backup-requested`), and one for a `spec.restore`.

Every pod runs the operator image (`mcp backup run NAME`), mounts the server's PersistentVolumeClaims
read-only under `/data/<volume>`, takes credentials from the referenced Secrets by `secretKeyRef` (never
inlined) and meets the restricted Pod Security profile.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from mcpop.api.cron import check_schedule
from mcpop.api.mcpserver import MCPServer
from mcpop.api.mcpserverbackup import MCPServerBackup, MCPServerBackupSpec, Retention
from mcpop.render.errors import RenderError
from mcpop.render.names import OPERATOR_VERSION, dns_label, label_value, selector_labels, short_hash
from mcpop.render.objectset import ObjectSet
from mcpop.render.options import Owner

REQUEST_ANNOTATION = "mcp.allbeone.io/backup-requested"
BACKUP_LABEL = "mcp.allbeone.io/backup"
RUN_LABEL = "mcp.allbeone.io/backup-run"
COMPONENT = "backup-controller"  # the original README: `kubectl logs -l app.kubernetes.io/component=backup-controller`
CONTAINER = "backup"
DATA_DIR = "/data"
DEFAULT_IMAGE = f"ghcr.io/allbeone/mcpop:{OPERATOR_VERSION}"
#: the key of the generated encryption key Secret
GENERATED_KEY = "key"
#: environment variables the run reads its credentials from (each from a secretKeyRef)
ENV_S3_ACCESS_KEY = "MCPOP_S3_ACCESS_KEY_ID"
ENV_S3_SECRET_KEY = "MCPOP_S3_SECRET_ACCESS_KEY"
ENV_GCS_CREDENTIALS = "MCPOP_GCS_CREDENTIALS"
ENV_AZURE_CREDENTIALS = "MCPOP_AZURE_CREDENTIALS"
ENV_ENCRYPTION_KEY = "MCPOP_BACKUP_ENCRYPTION_KEY"
ENV_RUN_ID = "MCPOP_BACKUP_RUN_ID"
#: the operator's defaults for what a backup's spec leaves unset (JSON of BackupDefaults.wire())
ENV_DEFAULTS = "MCPOP_BACKUP_DEFAULTS"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: CronJob names longer than this leave no room for the Job suffix the CronJob controller appends
MAX_CRONJOB_NAME = 52


@dataclass(frozen=True)
class BackupDefaults:
    """What the operator fills in when a backup's spec leaves it unset (`--backup-retention-*`,
    `--backup-s3-*`, `--backup-gcs-project`, `--backup-azure-account-name`).

    The retention counts apply only to a backup with no `spec.retention` (`retention: {}` keeps every
    snapshot); 0 turns a rule off, so all four 0 leave such backups unpruned. The storage values fill the
    fields of the backend a backup names that it leaves unset.
    """

    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    s3_region: str | None = None
    s3_endpoint: str | None = None
    gcs_project: str | None = None
    azure_account_name: str | None = None

    def wire(self) -> dict[str, Any]:
        """The set values, as the spec names them (empty: nothing to default)."""
        retention = {
            k: v
            for k, v in (
                ("keepDaily", self.keep_daily),
                ("keepWeekly", self.keep_weekly),
                ("keepMonthly", self.keep_monthly),
                ("keepYearly", self.keep_yearly),
            )
            if v
        }
        storage = {
            "s3": {k: v for k, v in (("region", self.s3_region), ("endpoint", self.s3_endpoint)) if v},
            "gcs": {"project": self.gcs_project} if self.gcs_project else {},
            "azure": {"accountName": self.azure_account_name} if self.azure_account_name else {},
        }
        out: dict[str, Any] = {"retention": retention} if retention else {}
        if any(storage.values()):
            out["storage"] = {k: v for k, v in storage.items() if v}
        return out  # fmt: skip

    @classmethod
    def from_wire(cls, text: str | None) -> BackupDefaults:
        """The defaults a Job's `MCPOP_BACKUP_DEFAULTS` carries (none when unset or empty)."""
        data = json.loads(text) if text else {}
        retention, storage = data.get("retention") or {}, data.get("storage") or {}
        s3, gcs, azure = storage.get("s3") or {}, storage.get("gcs") or {}, storage.get("azure") or {}
        return cls(keep_daily=int(retention.get("keepDaily") or 0), keep_weekly=int(retention.get("keepWeekly") or 0),
                   keep_monthly=int(retention.get("keepMonthly") or 0),
                   keep_yearly=int(retention.get("keepYearly") or 0), s3_region=s3.get("region"),
                   s3_endpoint=s3.get("endpoint"), gcs_project=gcs.get("project"),
                   azure_account_name=azure.get("accountName"))  # fmt: skip


def with_defaults(spec: MCPServerBackupSpec, defaults: BackupDefaults) -> MCPServerBackupSpec:
    """`spec` with the operator's defaults filled in where it leaves them unset (see BackupDefaults)."""
    update: dict[str, Any] = {}
    wire = defaults.wire()
    if spec.retention is None and "retention" in wire:
        update["retention"] = Retention.model_validate(wire["retention"])
    st = spec.storage
    fill: dict[str, Any] = {}
    if st.s3 is not None:
        fill["s3"] = st.s3.model_copy(update={k: v for k, v in (("region", defaults.s3_region),
                                                               ("endpoint", defaults.s3_endpoint))
                                              if v and getattr(st.s3, k) is None})  # fmt: skip
    if st.gcs is not None and st.gcs.project is None and defaults.gcs_project:
        fill["gcs"] = st.gcs.model_copy(update={"project": defaults.gcs_project})
    if st.azure is not None and st.azure.account_name is None and defaults.azure_account_name:
        fill["azure"] = st.azure.model_copy(update={"account_name": defaults.azure_account_name})
    if fill:
        update["storage"] = st.model_copy(update=fill)
    return spec.model_copy(update=update) if update else spec


@dataclass(frozen=True)
class BackupRenderOptions:
    """What the renderer cannot know from the two specs."""

    namespace: str = "default"
    image: str = DEFAULT_IMAGE
    owner: Owner | None = None
    #: the `backup-requested` value to run a Job for (None: no on-demand Job)
    request: str | None = None
    #: the restore request (hash of spec.restore) to run a restore Job for
    restore_request: str | None = None
    #: the generated encryption key Secret, when `encryption` is on and no key is named
    generated_key_secret: str | None = None
    #: the MCPServer a restore writes to, when not the backed-up one (its PVCs are mounted writable)
    restore_target: ServerData | None = None
    #: the restore Job has finished: its identity (ServiceAccount, Role, RoleBinding) is no longer rendered,
    #: so the ApplySet prune deletes it while the Job itself stays for its logs
    restore_finished: bool = False
    #: the operator's defaults, passed to every run in MCPOP_BACKUP_DEFAULTS (mcpop.apply.mcpbackup.run)
    defaults: BackupDefaults | None = None


# ---------------------------------------------------------------------------------------------- names


def restore_hash(restore: dict[str, Any] | None) -> str | None:
    """A stable id of a `spec.restore` value (its wire form): a new value is a new restore."""
    if not restore:
        return None
    return hashlib.sha256(json.dumps(restore, sort_keys=True).encode()).hexdigest()[:16]


def _backup_name(backup: str, limit: int = 63) -> str:
    """`<backup>-backup`, or the backup's own name when it already says so."""
    return dns_label(backup, limit=limit) if backup.endswith("backup") else dns_label(backup, "backup", limit=limit)


def service_account_name(backup: str) -> str:
    return _backup_name(backup)


def cronjob_name(backup: str) -> str:
    return _backup_name(backup, MAX_CRONJOB_NAME)


def request_job_name(backup: str, request: str) -> str:
    """The on-demand Job for one `backup-requested` value (a new value is a new Job)."""
    return dns_label(f"{dns_label(backup, limit=45)}-now", short_hash(request))


def restore_job_name(backup: str, request: str) -> str:
    return dns_label(f"{dns_label(backup, limit=41)}-restore", short_hash(request))


def generated_key_secret_name(backup: str) -> str:
    return dns_label(_backup_name(backup, 59), "key")


def labels(backup: str, server: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mcpserver-backup",
        "app.kubernetes.io/instance": label_value(backup),
        "app.kubernetes.io/version": label_value(OPERATOR_VERSION),
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/part-of": "mcp",
        "app.kubernetes.io/managed-by": "mcpop",
        "mcp.allbeone.io/server": label_value(server),
        BACKUP_LABEL: label_value(backup),
    }


# ---------------------------------------------------------------------------------------------- server


@dataclass(frozen=True)
class ServerData:
    """What a backup needs to know about its server: PVC volumes and the objects it references."""

    claims: tuple[tuple[str, str], ...] = ()  # (volume name, claim name)
    config_maps: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    run_as_user: int | None = 1000
    run_as_group: int | None = None
    fs_group: int | None = None


_CM_KEYS = ("configMapKeyRef", "configMapRef", "configMap")
_SECRET_KEYS = ("secretKeyRef", "secretRef")


def server_data(server: MCPServer | None) -> ServerData:
    """The PVCs and referenced ConfigMaps/Secrets of `server` (None: not found, nothing known)."""
    if server is None:
        return ServerData()
    spec = server.spec
    claims = tuple(
        (v.name, v.persistent_volume_claim.claim_name) for v in spec.volumes or [] if v.persistent_volume_claim
    )
    cms: set[str] = set()
    secrets: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, dict):
                    if key in _CM_KEYS and value.get("name"):
                        cms.add(str(value["name"]))
                    elif key in _SECRET_KEYS and value.get("name"):
                        secrets.add(str(value["name"]))
                    elif key == "secret" and (value.get("secretName") or value.get("name")):
                        secrets.add(str(value.get("secretName") or value.get("name")))
                elif key == "secretRefs" and isinstance(value, list):
                    secrets.update(str(r["name"]) for r in value if isinstance(r, dict) and r.get("name"))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec.wire())
    sc = spec.security_context
    return ServerData(claims, tuple(sorted(cms)), tuple(sorted(secrets)), sc.run_as_user, sc.run_as_group,
                      sc.fs_group)  # fmt: skip


# ---------------------------------------------------------------------------------------------- pods


def _secret_env(name: str, ref: Any) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def credential_env(spec: MCPServerBackupSpec, generated_key_secret: str | None) -> list[dict[str, Any]]:
    """The environment the run takes its credentials from: every value a `secretKeyRef`."""
    env: list[dict[str, Any]] = []
    st = spec.storage
    if st.type == "S3" and st.s3 is not None and st.s3.credentials is not None:
        env.append(_secret_env(ENV_S3_ACCESS_KEY, st.s3.credentials.access_key_id.secret_key_ref))
        env.append(_secret_env(ENV_S3_SECRET_KEY, st.s3.credentials.secret_access_key.secret_key_ref))
    elif st.type == "GCS" and st.gcs is not None and st.gcs.credentials is not None:
        env.append(_secret_env(ENV_GCS_CREDENTIALS, st.gcs.credentials.secret_key_ref))
    elif st.type == "Azure" and st.azure is not None and st.azure.credentials is not None:
        env.append(_secret_env(ENV_AZURE_CREDENTIALS, st.azure.credentials.secret_key_ref))
    if spec.encryption:
        if spec.encryption_key is not None:
            env.append(_secret_env(ENV_ENCRYPTION_KEY, spec.encryption_key))
        elif generated_key_secret is not None:
            ref = {"name": generated_key_secret, "key": GENERATED_KEY}
            env.append({"name": ENV_ENCRYPTION_KEY, "valueFrom": {"secretKeyRef": ref}})
    return env


def _local_volume(spec: MCPServerBackupSpec) -> dict[str, Any] | None:
    st = spec.storage
    if st.type != "Local":
        return None
    local = st.local
    if local is None or (local.persistent_volume_claim is None and local.host_path is None):
        source: dict[str, Any] = {"emptyDir": local.empty_dir.wire() if local and local.empty_dir else {}}
    elif local.persistent_volume_claim is not None:
        source = {"persistentVolumeClaim": local.persistent_volume_claim.wire()}
    else:
        assert local.host_path is not None
        source = {"hostPath": local.host_path.wire()}
    return {"name": "repository", **source}


def pod_spec(backup: MCPServerBackup, server: ServerData, opts: BackupRenderOptions, *, args: list[str],
             writable_data: bool = False, data: bool = True,
             server_name: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The pod of a backup (or restore) run; `server_name`: the MCPServer whose volumes it mounts."""
    spec = backup.spec
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if data:
        for vol, claim in server.claims:
            name = dns_label("data", vol)
            volumes.append({"name": name, "persistentVolumeClaim": {"claimName": claim, "readOnly": not writable_data}})
            mounts.append({"name": name, "mountPath": f"{DATA_DIR}/{vol}", "readOnly": not writable_data})
    repo = _local_volume(spec)
    if repo is not None:
        volumes.append(repo)
        assert spec.storage.local is not None or spec.storage.type == "Local"
        path = spec.storage.local.path if spec.storage.local is not None else "/backups"
        mounts.append({"name": "repository", "mountPath": path})
    volumes.append({"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}})
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    env = [
        {"name": ENV_RUN_ID, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{JOB_NAME_LABEL}']"}}},
        {"name": "HOME", "value": "/tmp"},
        *credential_env(spec, opts.generated_key_secret),
    ]
    if opts.defaults is not None and opts.defaults.wire():
        env.append({"name": ENV_DEFAULTS, "value": json.dumps(opts.defaults.wire(), sort_keys=True)})
    pod_sc: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": server.run_as_user or 1000,
                              "runAsGroup": server.run_as_group, "fsGroup": server.fs_group,
                              "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip
    container = {
        "name": CONTAINER,
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["mcp"],
        "args": args,
        "env": env,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    out: dict[str, Any] = {
        "serviceAccountName": service_account_name(backup.metadata.name),
        "automountServiceAccountToken": True,
        "restartPolicy": "Never",
        "securityContext": {k: v for k, v in pod_sc.items() if v is not None},
        "containers": [container],
        "volumes": volumes,
    }
    if data and server.claims:
        # a ReadWriteOnce volume mounts only on the node that has it: prefer the server's node
        selector = {"matchLabels": selector_labels(server_name or backup.spec.server_ref.name)}
        term = {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}
        out["affinity"] = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": term}]}}  # fmt: skip
    return out


def run_args(backup: MCPServerBackup, namespace: str) -> list[str]:
    """`mcp backup run NAME -n NS [--data-dir /data]`: the Job's command line."""
    args = ["backup", "run", backup.metadata.name, "-n", namespace]
    if backup.spec.backup_type != "Configuration":
        args += ["--data-dir", DATA_DIR]
    return args


def _job_spec(pod: dict[str, Any], pod_labels: dict[str, str], ttl: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"backoffLimit": 3, "template": {"metadata": {"labels": pod_labels}, "spec": pod}}
    if ttl is not None:
        out["ttlSecondsAfterFinished"] = ttl
    return out


def _meta(name: str, namespace: str, lbl: dict[str, str], annotations: dict[str, str] | None = None
          ) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(lbl)}
    if annotations:
        meta["annotations"] = annotations
    return meta


# ---------------------------------------------------------------------------------------------- render


def _rbac(backup: MCPServerBackup, server_name: str, data: ServerData, namespace: str, lbl: dict[str, str],
          with_secrets: bool, extra_secrets: tuple[str, ...]) -> list[dict[str, Any]]:  # fmt: skip
    name = service_account_name(backup.metadata.name)
    rules: list[dict[str, Any]] = [
        {"apiGroups": ["mcp.allbeone.io"], "resources": ["mcpserverbackups"], "verbs": ["get"],
         "resourceNames": [backup.metadata.name]},
        {"apiGroups": ["mcp.allbeone.io"], "resources": ["mcpserverbackups/status"], "verbs": ["get", "patch"],
         "resourceNames": [backup.metadata.name]},
        {"apiGroups": ["mcp.allbeone.io"], "resources": ["mcpservers"], "verbs": ["get"],
         "resourceNames": [server_name]},
    ]  # fmt: skip
    if data.config_maps:
        rules.append({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"],
                      "resourceNames": list(data.config_maps)})  # fmt: skip
    secrets = sorted(set(data.secrets if with_secrets else ()) | set(extra_secrets))
    if secrets:
        rules.append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": secrets})
    return _identity(name, namespace, lbl, rules)


def _identity(name: str, namespace: str, lbl: dict[str, str], rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A pod identity: its ServiceAccount (no automounted token), a Role with `rules`, and the binding."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace, lbl),
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(name, namespace, lbl),
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(name, namespace, lbl),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
    ]  # fmt: skip


def restore_account_name(backup: str) -> str:
    return dns_label(backup, "restore")


def _restore_rbac(backup: MCPServerBackup, namespace: str, lbl: dict[str, str], target_name: str,
                  written: ServerData, creds: tuple[str, ...], data: bool) -> list[dict[str, Any]]:  # fmt: skip
    """The restore pods' identity, in this namespace only: read this backup and its credentials, write its
    status, and write by name the target MCPServer and the ConfigMaps/Secrets in `written` (what the
    backed-up and the target server reference); list pods to wait for a scaled-down target (data only).

    Every write rule names its objects, `create` included: RBAC cannot limit a POST by name, but the restore
    writes by server-side apply, a PATCH to the object's URL, and the API server authorises the create that
    such an apply makes with the object's name. A snapshot that references anything else is refused by the
    API server before anything is written (the restore dry-runs every object first)."""
    name = restore_account_name(backup.metadata.name)
    write = ["get", "create", "patch"]
    rules: list[dict[str, Any]] = [
        {"apiGroups": ["mcp.allbeone.io"], "resources": ["mcpserverbackups"], "verbs": ["get"],
         "resourceNames": [backup.metadata.name]},
        {"apiGroups": ["mcp.allbeone.io"], "resources": ["mcpserverbackups/status"], "verbs": ["get", "patch"],
         "resourceNames": [backup.metadata.name]},
        {"apiGroups": ["mcp.allbeone.io"], "resources": ["mcpservers"], "verbs": write, "resourceNames": [target_name]},
    ]  # fmt: skip
    if written.config_maps:
        rules.append({"apiGroups": [""], "resources": ["configmaps"], "verbs": write,
                      "resourceNames": list(written.config_maps)})  # fmt: skip
    if written.secrets:
        rules.append({"apiGroups": [""], "resources": ["secrets"], "verbs": write,
                      "resourceNames": list(written.secrets)})  # fmt: skip
    read_only = sorted(set(creds) - set(written.secrets))
    if read_only:
        rules.append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": read_only})
    if data:
        rules.append({"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]})  # read only: cannot be named
    return _identity(name, namespace, lbl, rules)


def credential_secrets(spec: MCPServerBackupSpec, generated_key_secret: str | None) -> tuple[str, ...]:
    """The Secrets the credentials come from (the run may read them when not given in the environment)."""
    names = {e["valueFrom"]["secretKeyRef"]["name"] for e in credential_env(spec, generated_key_secret)}
    return tuple(sorted(names))


def server_namespace(backup: MCPServerBackup, namespace: str) -> str:
    return backup.spec.server_ref.namespace or namespace


def render_backup(backup: MCPServerBackup, server: MCPServer | None,
                  options: BackupRenderOptions | None = None) -> ObjectSet:  # fmt: skip
    """Every object `backup` needs, in apply order. RenderError (with the field) for a spec that cannot run."""
    opts = options or BackupRenderOptions()
    spec = backup.spec
    ns = backup.metadata.namespace or opts.namespace
    name = backup.metadata.name
    server_name = spec.server_ref.name
    if server_namespace(backup, ns) != ns:
        raise RenderError(
            "spec.serverRef.namespace",
            f"the server is in namespace {spec.server_ref.namespace!r} but this backup is in {ns!r}: a backup "
            "runs beside the server's volumes and Secrets, so create the MCPServerBackup in the server's namespace",
        )
    if spec.schedule is not None:
        try:
            check_schedule(spec.schedule)  # the model's check, for a spec changed after validation
        except ValueError as exc:
            raise RenderError("spec.schedule", str(exc)) from None
    if spec.encryption and spec.encryption_key is None and opts.generated_key_secret is None:
        raise RenderError("spec.encryptionKey", "encryption is on and no key is named: the operator generates one")
    out = ObjectSet()
    data = server_data(server)
    lbl = labels(name, server_name)
    with_data = spec.backup_type != "Configuration"
    if with_data and server is not None and not data.claims:
        out.warnings.append(f"backupType {spec.backup_type}: MCPServer {server_name} mounts no PersistentVolumeClaim; "
                            "only its configuration is backed up")  # fmt: skip
    if not spec.encryption and data.secrets:
        out.warnings.append("encryption is off: the Secrets the server references are not backed up ("
                            + ", ".join(data.secrets) + ")")  # fmt: skip
    creds = credential_secrets(spec, opts.generated_key_secret)
    for obj in _rbac(backup, server_name, data, ns, lbl, spec.encryption, creds):
        out.add(obj)
    pod_labels = {**lbl, RUN_LABEL: "backup"}
    if spec.schedule is not None:
        pod = pod_spec(backup, data, opts, args=run_args(backup, ns), data=with_data)
        out.add({
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(cronjob_name(name), ns, lbl),
            "spec": {
                "schedule": spec.schedule, "timeZone": "Etc/UTC", "suspend": spec.suspend,
                "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                "jobTemplate": {"metadata": {"labels": pod_labels}, "spec": _job_spec(pod, pod_labels, None)},
            },
        })  # fmt: skip
    if opts.request is not None:
        pod = pod_spec(backup, data, opts, args=run_args(backup, ns), data=with_data)
        job_name = request_job_name(name, opts.request)
        out.add({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": _meta(job_name, ns, pod_labels, {REQUEST_ANNOTATION: opts.request}),
            "spec": _job_spec(pod, pod_labels, 86400),
        })  # fmt: skip
    if opts.restore_request is not None and spec.restore is not None:
        r = spec.restore
        target_ns = (r.target.namespace if r.target else None) or ns
        if target_ns != ns:
            raise RenderError("spec.restore.target.namespace", f"a restore Job writes only in its own namespace "
                              f"({ns!r}), never in another one; restore to namespace {target_ns!r} with `mcp backup "
                              f"restore {name} --target-namespace {target_ns}` from a workstation, with your own "
                              "rights there")  # fmt: skip
        restore_labels = {**lbl, RUN_LABEL: "restore"}
        args = ["backup", "restore", name, "-n", ns, "--from-spec"]
        if r.data:
            args += ["--data-dir", DATA_DIR]
        target = opts.restore_target or data
        target_name = (r.target.name if r.target else None) or server_name
        pod = pod_spec(backup, target, opts, args=args, writable_data=True, data=r.data, server_name=target_name)
        pod["serviceAccountName"] = restore_account_name(name)
        if not opts.restore_finished:
            # the snapshot's server is the backed-up one: what it references now, and what the target does
            written = ServerData(config_maps=tuple(sorted({*data.config_maps, *target.config_maps})),
                                 secrets=tuple(sorted({*data.secrets, *target.secrets})))  # fmt: skip
            for obj in _restore_rbac(backup, ns, lbl, target_name, written, creds, r.data):
                out.add(obj)
        out.add({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": _meta(restore_job_name(name, opts.restore_request), ns, restore_labels),
            "spec": {**_job_spec(pod, restore_labels, 86400), "backoffLimit": 0},
        })  # fmt: skip
    for obj in out.objects:
        if opts.owner is not None:
            obj["metadata"]["ownerReferences"] = [{
                "apiVersion": opts.owner.api_version, "kind": opts.owner.kind, "name": opts.owner.name,
                "uid": opts.owner.uid, "controller": True, "blockOwnerDeletion": True,
            }]  # fmt: skip
    return out.in_apply_order()


def generated_key_secret(backup: MCPServerBackup, namespace: str, key_b64: str) -> dict[str, Any]:
    """The Secret holding a generated repository key (`key_b64`: base64 of the random key).

    It has no owner reference on purpose: deleting the MCPServerBackup must not destroy the only key
    to its backups.
    """
    name = backup.metadata.name
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {**_meta(generated_key_secret_name(name), namespace, labels(name, backup.spec.server_ref.name)),
                     "annotations": {"mcp.allbeone.io/warning": "the only copy of the key to this backup's "
                                     "repository: copy it out of the cluster; losing it loses the backups"}},
        "data": {GENERATED_KEY: key_b64},
    }  # fmt: skip
