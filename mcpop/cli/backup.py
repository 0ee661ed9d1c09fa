"""`mcp backup`: run a backup, request one, list snapshots, verify the repository, restore.

`run` is the backup Job's command and works from a workstation too (PVC data from `--data-dir`). `list`,
`verify` and `restore` open the storage the MCPServerBackup names, with its credentials read from the
referenced Secrets. Every command talks to the cluster with the CLI's client (mcpop.cli.kube). Bad input and
failures exit non-zero with one clear line; secrets are never printed. The repository library is imported only
inside the commands.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import App, Parameter

from mcpop.cli.options import Cluster, Output, Timeout, UsageError, timeout_seconds

if TYPE_CHECKING:
    from mcpop.cli.kube import Client

backup_app = App(name="backup", help="Back up and restore MCP servers (MCPServerBackup).")

LocalRoot = Annotated[
    str | None,
    Parameter(name=["--local-root"], help="For `storage.type: Local`: the directory standing in for `local.path`."),
]


#: the `storage` extra (pyproject.toml): what opening a backup repository imports
STORAGE_EXTRA = "pip install 'mcpop[storage]'"
#: the extra's modules (top-level names), and what they pull in
STORAGE_MODULES = frozenset({"fsspec", "s3fs", "gcsfs", "adlfs", "pyfastcdc", "zstandard", "cryptography", "dateutil",
                             "aiobotocore", "botocore", "azure", "google", "aiohttp"})  # fmt: skip
#: imported before a command that opens a repository contacts anything: the backends import their own on use
STORAGE_CORE = ("fsspec", "pyfastcdc", "zstandard", "cryptography")


def _missing_storage(exc: ModuleNotFoundError) -> int:
    return _fail(f"this command needs the storage extra, which is not installed (no module {exc.name!r}): "
                 f"{STORAGE_EXTRA}")  # fmt: skip


def needs_storage(fn: Callable[..., int]) -> Callable[..., int]:
    """A command that opens a backup repository: without the storage extra, one line naming it (exit 1), never
    a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        import importlib

        try:
            for module in STORAGE_CORE:
                importlib.import_module(module)
            return fn(*args, **kwargs)
        except ModuleNotFoundError as exc:
            if (exc.name or "").partition(".")[0] not in STORAGE_MODULES:
                raise
            return _missing_storage(exc)

    return wrapper


def _connect(cluster: Cluster) -> tuple[Client, str]:
    """The client and the namespace (`-n`, else the context's): nothing is sent yet."""
    client = cluster.client()
    return client, cluster.ns(client)


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _errors() -> tuple[type[BaseException], ...]:
    """What a command reports as one line (anything else is a bug and shows its traceback)."""
    from mcpop.errors import McpopError

    return (McpopError, UsageError, OSError, ValueError)


def _failed(what: str, exc: BaseException) -> int:
    """`error: WHAT: one line` on stderr; exit status 2 for a bad flag value, else 1."""
    from mcpop.apply.resources import ApiError

    if isinstance(exc, ApiError):
        text = exc.message
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _fail(f"{what}: {text}" if what else text, 2 if isinstance(exc, UsageError) else 1)


@backup_app.command
@needs_storage
def run(
    name: str,
    *,
    data_dir: Annotated[
        str | None, Parameter(name=["--data-dir"], help="One directory per PVC volume of the server.")
    ] = None,
    local_root: LocalRoot = None,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Perform one backup now, in this process (the backup Job's command).

    Parameters
    ----------
    name
        The MCPServerBackup.
    """
    from mcpop.apply.mcpbackup.run import run_backup

    ns = cluster.namespace
    try:
        client, ns = _connect(cluster)
        record = run_backup(client, ns, name, data_dir=data_dir, local_root=local_root)
    except _errors() as exc:
        return _failed(f"backup {_where(ns, name)}", exc)
    from mcpop.apply.mcpbackup.status import describe_run

    print(f"backup {ns}/{name}: {describe_run(record)}")
    return 0


@backup_app.command
def now(
    name: str,
    *,
    wait: Annotated[bool, Parameter(name=["--wait"], negative=(), help="Wait for the run to finish.")] = False,
    timeout: Timeout = "10m",
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Request a backup now: the controller runs a Job for it (annotation mcp.allbeone.io/backup-requested).

    Parameters
    ----------
    name
        The MCPServerBackup.
    """
    from mcpop.apply.resources import MCPSERVERBACKUP
    from mcpop.apply.runtime.timefmt import micro_now
    from mcpop.render.backup import REQUEST_ANNOTATION

    stamp = micro_now()
    try:
        seconds = timeout_seconds(timeout)
        client, ns = _connect(cluster)
        if client.get(MCPSERVERBACKUP, ns, name) is None:
            return _fail(f"MCPServerBackup {name} not found in namespace {ns}")
        client.merge_patch(MCPSERVERBACKUP, ns, name, {"metadata": {"annotations": {REQUEST_ANNOTATION: stamp}}})
    except _errors() as exc:
        return _failed("", exc)
    print(f"mcpserverbackup.mcp.allbeone.io/{name} backup requested ({stamp})")
    if not wait:
        return 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            obj = client.get(MCPSERVERBACKUP, ns, name) or {}
        except _errors() as exc:
            return _failed("", exc)
        st = obj.get("status") or {}
        run_ = st.get("lastRun") or {}
        if st.get("lastRequest") == stamp and run_.get("result") in ("Succeeded", "Failed") and \
                (run_.get("completionTime") or "") >= stamp[:19]:  # fmt: skip
            from mcpop.apply.mcpbackup.status import describe_run

            print(describe_run(run_))
            return 0 if run_["result"] == "Succeeded" else 1
        time.sleep(2.0)
    from mcpop.cli.output import human_duration

    return _fail(f"the requested backup did not finish within {human_duration(seconds)}")


def _open(client: Client, ns: str, name: str, local_root: str | None) -> Any:
    from mcpop.apply.mcpbackup.run import load_backup, open_repository

    _, backup = load_backup(client, ns, name)
    return open_repository(client, backup, ns, local_root=local_root, create=False, env={})


def _where(ns: str | None, name: str) -> str:
    return f"{ns}/{name}" if ns else name


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


@backup_app.command(name="list")
@needs_storage
def list_(
    name: str,
    *,
    output: Output = "table",
    local_root: LocalRoot = None,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """List the snapshots in the backup's repository (id, time, type, size, files, dedup ratio), oldest first.

    Parameters
    ----------
    name
        The MCPServerBackup.
    """
    ns = cluster.namespace
    try:
        client, ns = _connect(cluster)
        with _open(client, ns, name, local_root).repo as repo:
            snaps = repo.snapshots()
    except _errors() as exc:
        return _failed(f"backup {_where(ns, name)}", exc)
    rows = [s.to_dict() for s in snaps]
    if output == "json":
        from mcpop.codec.emitter import json_text

        sys.stdout.write(json_text(rows, sort_keys=True))
    elif output == "yaml":
        from mcpop.codec.emitter import dump_yaml

        sys.stdout.write(dump_yaml(rows) if rows else "[]\n")
    else:
        table = [["ID", "TIME", "TYPE", "SIZE", "FILES", "DEDUP"]]
        for s in snaps:
            table.append([s.short_id, s.time.strftime("%Y-%m-%dT%H:%M:%SZ"), s.kind, _size(s.size), str(s.files),
                          f"{s.dedup_ratio * 100:.0f}%"])  # fmt: skip
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        for r in table:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


@backup_app.command
@needs_storage
def verify(
    name: str,
    *,
    read_data: Annotated[
        bool, Parameter(name=["--read-data"], negative=(), help="Read and hash every chunk (restic check --read-data).")
    ] = False,
    local_root: LocalRoot = None,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Check the repository: every snapshot and the chunks it references (with --read-data, their content).

    Parameters
    ----------
    name
        The MCPServerBackup.
    """
    ns = cluster.namespace
    try:
        client, ns = _connect(cluster)
        with _open(client, ns, name, local_root).repo as repo:
            report = repo.verify(read_data=read_data)
    except _errors() as exc:
        return _failed(f"backup {_where(ns, name)}", exc)
    if report.ok:
        what = "read and hashed" if read_data else "present"
        print(
            f"no errors: {report.snapshots} snapshots, {report.chunks} chunks {what} ({_size(report.bytes_read)} read)"
        )
        return 0
    for p in report.problems:
        snaps = ", ".join(s[:8] for s in p.snapshots) or "none"
        print(f"{p.kind}: {p.object} (snapshots {snaps}): {p.message}", file=sys.stderr)
    print(f"{len(report.problems)} problem(s) found", file=sys.stderr)
    return 1


@backup_app.command
@needs_storage
def restore(
    name: str,
    *,
    snapshot: Annotated[str | None, Parameter(name=["--snapshot"], help="Snapshot id (or unique prefix).")] = None,
    at: Annotated[str | None, Parameter(name=["--at"], help="RFC 3339: the newest snapshot at or before.")] = None,
    target: Annotated[
        str | None, Parameter(name=["--target"], help="MCPServer to restore to (default: the backed-up one).")
    ] = None,
    target_namespace: Annotated[str | None, Parameter(name=["--target-namespace"], help="Its namespace.")] = None,
    configuration_only: Annotated[bool, Parameter(name=["--configuration-only"], negative=())] = False,
    data_only: Annotated[bool, Parameter(name=["--data-only"], negative=())] = False,
    data_dir: Annotated[
        str | None, Parameter(name=["--data-dir"], help="Restore PVC data into these directories (one per volume).")
    ] = None,
    from_spec: Annotated[
        bool, Parameter(name=["--from-spec"], negative=(), help="Take the request from spec.restore (the restore Job).")
    ] = False,
    local_root: LocalRoot = None,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it
) -> int:
    """Restore configuration and/or PVC data from a snapshot, to the same or another MCPServer/namespace.

    Every hash is checked before anything is written. A data restore scales the target server to 0 and back.
    Without --data-dir, a data restore is handed to the controller (spec.restore), which runs it as a Job
    beside the target's volumes.

    Parameters
    ----------
    name
        The MCPServerBackup.
    """
    from mcpop.apply.mcpbackup.run import RestorePlan, run_restore

    if snapshot and at:
        return _fail("--snapshot and --at name one snapshot two ways: give one of them", 2)
    if configuration_only and data_only:
        return _fail("--configuration-only and --data-only exclude each other", 2)
    ns = cluster.namespace
    try:
        client, ns = _connect(cluster)
        if from_spec:
            from mcpop.apply.mcpbackup.run import load_backup

            _, backup = load_backup(client, ns, name)
            r = backup.spec.restore
            if r is None:
                return _fail(f"MCPServerBackup {ns}/{name} has no spec.restore", 2)
            plan = RestorePlan(r.snapshot or r.backup_name, r.point_in_time, r.target.name if r.target else None,
                               r.target.namespace if r.target else None, r.configuration, r.data)  # fmt: skip
            if (plan.target_namespace or ns) != ns:  # the Job's rights are in its own namespace only
                return _fail(f"spec.restore.target.namespace {plan.target_namespace!r}: a restore Job writes only "
                             f"in its own namespace {ns!r}", 2)  # fmt: skip
        else:
            plan = RestorePlan(snapshot, at, target, target_namespace, not data_only, not configuration_only)
            if plan.data and data_dir is None:
                return _request_restore(client, ns, name, plan)
        record = run_restore(client, ns, name, plan, data_dir=data_dir, local_root=local_root)
    except _errors() as exc:
        return _failed(f"restore from {_where(ns, name)}", exc)
    print(f"restored snapshot {str(record['snapshot'])[:8]} to {record['target']}")
    return 0


def _request_restore(client: Client, ns: str, name: str, plan: Any) -> int:
    from mcpop.apply.resources import MCPSERVERBACKUP

    body: dict[str, Any] = {"configuration": plan.configuration, "data": plan.data,
                            "snapshot": plan.snapshot, "pointInTime": plan.at, "backupName": None}  # fmt: skip
    if plan.target_name or plan.target_namespace:
        body["target"] = {"name": plan.target_name, "namespace": plan.target_namespace}
    client.merge_patch(MCPSERVERBACKUP, ns, name, {"spec": {"restore": body}})
    print(f"mcpserverbackup.mcp.allbeone.io/{name} restore requested (spec.restore): the controller runs it as a Job")
    return 0
