"""The mcpop operator process: the controllers it registers with the manager, and `run_operator`.

The machinery (shared informers, work queues, the worker loop, leader election, health, metrics, signals)
is `mcpop.apply.runtime.manager`; this module only says which controllers run and how they are wired.
To add a controller, append a `Registration` to `registrations()`; to add a server that is not a
controller (a webhook), call `Manager.add_runnable` in `new_manager`.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcpop.apply.mcpbackup.controller import BackupController
from mcpop.apply.mcpbackup.kinds import OWNED_KINDS as BACKUP_KINDS
from mcpop.apply.mcpregistry.reconciler import RegistryController
from mcpop.apply.mcpserver.kinds import OWNED_KINDS
from mcpop.apply.mcpserver.reconciler import MCPServerController
from mcpop.apply.mcpserver.refs import content_hash
from mcpop.apply.resources import FIELD_MANAGER, JOB, MCPREGISTRY, MCPSERVER, MCPSERVERBACKUP, REGISTRY_LABEL, Resource
from mcpop.apply.runtime import metrics
from mcpop.apply.runtime.client import Kube, load_api_client
from mcpop.apply.runtime.informer import compact
from mcpop.apply.runtime.logs import setup_logging
from mcpop.apply.runtime.manager import Context, Manager, Registration
from mcpop.apply.settings import OperatorSettings, backup_defaults, split_address
from mcpop.apply.ssa.applyset import PART_OF_LABEL
from mcpop.apply.ssa.fields import applied_view
from mcpop.apply.verify.verifier import Verifier
from mcpop.apply.webhook import certs
from mcpop.apply.webhook.setup import add_webhooks
from mcpop.render.backup import BACKUP_LABEL

log = logging.getLogger("mcpop.manager")
REGISTRY_WORKERS = 2
BACKUP_WORKERS = 2


def _hash_only(obj: dict[str, Any]) -> dict[str, Any]:
    """Keep only identity and a content hash of a ConfigMap (never its data)."""
    meta = obj.get("metadata") or {}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "hash": content_hash(obj),
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                         "resourceVersion": meta.get("resourceVersion")}}  # fmt: skip


def owned_view(obj: dict[str, Any]) -> dict[str, Any]:
    """An object of an ApplySet as its cache keeps it: metadata, status and the fields mcpop applied
    (`ssa.fields`), not the API server's defaults or other managers' fields."""
    return compact(applied_view(obj, FIELD_MANAGER))


def owned_informer(ctx: Context, res: Resource) -> Any:
    """The shared cache of the ApplySet members of kind `res` (both controllers' sets): label-selected,
    kept as `owned_view`, indexed by set."""
    return ctx.informer(res, label_selector=PART_OF_LABEL, transform=owned_view, index_label=PART_OF_LABEL,
                        name=f"owned-{res.plural}")  # fmt: skip


def build_mcpserver(settings: OperatorSettings, verifier: Verifier | None = None) -> Any:
    """The MCPServer controller's build step: its informers, and the registries once they are served."""

    def build(ctx: Context) -> MCPServerController:
        servers = ctx.informer(MCPSERVER, name="mcpservers")
        refs: dict[str, Any] = {}
        res = ctx.kube.resource("v1", "ConfigMap")
        if res is not None:
            refs["ConfigMap"] = ctx.informer(res, transform=_hash_only, name=f"ref-{res.plural}")
        ctl = MCPServerController(ctx.kube, settings, servers, {}, refs, ctx.recorder, ctx.enqueue, verifier=verifier)
        threading.Thread(target=ctl.secrets.run, args=(ctx.manager.stop_event, settings.secret_poll_interval),
                         name="secret-poll", daemon=True).start()  # fmt: skip
        if verifier is not None:
            verifier.enqueue = ctx.enqueue
        servers.handlers.append(ctl.on_server)
        for inf in refs.values():
            inf.handlers.append(ctl.on_ref)

        def owned(res: Resource) -> None:
            ctl.add_owned(res.group_kind, owned_informer(ctx, res))

        for kind, api_version in OWNED_KINDS.items():
            ctx.when_served(api_version, kind, owned)

        def registries(res: Resource) -> None:
            cms = ctx.informer(ctx.kube.require("v1", "ConfigMap"), label_selector=REGISTRY_LABEL,
                               name="registry-catalogue")  # fmt: skip
            ctl.attach_registries(ctx.informer(res, name="mcpregistries"), cms)

        ctx.when_served(MCPREGISTRY.api_version, MCPREGISTRY.kind, registries)
        return ctl

    return build


def build_mcpregistry(settings: OperatorSettings) -> Any:
    def build(ctx: Context) -> RegistryController:
        registries = ctx.informer(ctx.kube.require(MCPREGISTRY.api_version, MCPREGISTRY.kind), name="mcpregistries")
        ctl = RegistryController(ctx.kube, settings, registries, ctx.recorder, ctx.enqueue)
        registries.handlers.append(ctl.on_registry)
        return ctl

    return build


def build_mcpbackup(settings: OperatorSettings) -> Any:
    """The MCPServerBackup controller's build step: backups, their Jobs, and the kinds it renders."""

    def build(ctx: Context) -> Any:
        backups = ctx.informer(MCPSERVERBACKUP, name="mcpserverbackups")
        jobs = ctx.informer(JOB, label_selector=BACKUP_LABEL, name="backup-jobs")
        servers = ctx.informer(MCPSERVER, name="mcpservers")
        ctl = BackupController(ctx.kube, backups, ctx.recorder, ctx.enqueue, jobs=jobs, servers=servers,
                               defaults=backup_defaults(settings), image=settings.backup_image or None)  # fmt: skip
        backups.handlers.append(ctl.on_backup)
        jobs.handlers.append(ctl.on_job)
        servers.handlers.append(ctl.on_server)
        ctl.owned[JOB.group_kind] = jobs

        def owned(res: Resource) -> None:
            ctl.add_owned(res.group_kind, owned_informer(ctx, res))

        for kind, api_version in BACKUP_KINDS.items():
            if kind != "Job":
                ctx.when_served(api_version, kind, owned)
        return ctl

    return build


def registrations(settings: OperatorSettings, verifier: Verifier | None = None) -> list[Registration]:
    """Every controller of the operator, each started once its CRD is served."""
    mcpserver = build_mcpserver(settings, verifier)
    regs = [
        Registration(MCPServerController.name, mcpserver, ((MCPSERVER.api_version, MCPSERVER.kind),),
                     workers=settings.concurrent_reconciles),
        Registration(RegistryController.name, build_mcpregistry(settings),
                     ((MCPREGISTRY.api_version, MCPREGISTRY.kind),), workers=REGISTRY_WORKERS),
    ]  # fmt: skip
    if settings.enable_backup_controller:  # ENABLE_BACKUP_CONTROLLER=false switches it off
        served = ((MCPSERVERBACKUP.api_version, MCPSERVERBACKUP.kind),)
        regs.append(Registration("mcpserverbackup", build_mcpbackup(settings), served, workers=BACKUP_WORKERS))
    return regs


def new_verifier(settings: OperatorSettings, verify_url: Callable[[str], str] | None = None) -> Verifier:
    """The MCP handshakes behind the Verified condition, from `--verify-*`. `verify_url` maps a server's
    in-cluster URL to the URL dialled (default: as is, the Service's DNS name)."""
    return Verifier(settings.verify_concurrency, settings.verify_timeout, settings.verify_interval, resolve=verify_url)


def with_metrics_certificate(settings: OperatorSettings) -> OperatorSettings:
    """`settings` with a self-signed certificate for the secure /metrics endpoint when none is given (as
    controller-runtime does; scrapers skip verification or pin it, and authenticate with a bearer token)."""
    if not settings.metrics_secure or settings.metrics_cert_dir or split_address(settings.metrics_bind_address) is None:
        return settings
    cert_dir = Path(tempfile.mkdtemp(prefix="mcpop-metrics-certs-"))
    certs.write_files(cert_dir, certs.desired_secret_data({}, ["localhost", "127.0.0.1", socket.gethostname()]))
    return settings.model_copy(update={"metrics_cert_dir": str(cert_dir)})


def new_manager(settings: OperatorSettings, kube: Kube | None = None, *,
                verify_url: Callable[[str], str] | None = None) -> Manager:  # fmt: skip
    """A manager with the operator's controllers registered (`verify_url`: see `new_verifier`)."""
    if kube is None:
        api = load_api_client(settings.kubeconfig, pool_size=settings.concurrent_reconciles + 24)
        timeout = min(60.0, max(5.0, settings.reconcile_timeout))
        kube = Kube(api, on_request=metrics.count_request, request_timeout=timeout)
    mgr = Manager(with_metrics_certificate(settings), kube)
    verifier = new_verifier(settings, verify_url)
    for reg in registrations(settings, verifier):
        mgr.add(reg)
    if verifier.enabled:
        mgr.add_runnable("mcp-verifier", verifier.run, leader_only=True)
    if settings.enable_webhooks:
        add_webhooks(mgr, settings, kube)
    return mgr


def run_operator(settings: OperatorSettings, *, verify_url: Callable[[str], str] | None = None) -> int:
    """Entry point of `mcp operator run`. Raises KubeconfigError when no cluster configuration loads."""
    mgr = new_manager(settings, verify_url=verify_url)  # a bad kubeconfig fails here, before any log line
    setup_logging(settings.log_level, settings.structured_logging)
    log.info("mcpop operator starting", extra={"pid": os.getpid(), "namespace": settings.watch_namespace or "*"})
    mgr.install_signal_handlers()
    return mgr.run()
