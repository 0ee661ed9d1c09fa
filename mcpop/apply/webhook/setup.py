"""Wire the webhooks into the operator process: the server on every replica, and (self-managed
certificates) the leader's rotation and every replica's copy of the certificate into its cert dir."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpop.apply.resources import SERVICEACCOUNT, SUBJECTACCESSREVIEW, ApiError
from mcpop.apply.runtime.tls import CERT_FILE, KEY_FILE, ReloadingContext
from mcpop.apply.webhook import metrics
from mcpop.apply.webhook.admission import Handler, Policy, handlers
from mcpop.apply.webhook.certs import CertManager
from mcpop.apply.webhook.server import WebhookServer
from mcpop.render.options import RenderOptions

if TYPE_CHECKING:
    from mcpop.apply.runtime.client import Kube
    from mcpop.apply.runtime.manager import Manager
    from mcpop.apply.settings import OperatorSettings

log = logging.getLogger("mcpop.webhook")


class ClusterAccess:
    """`admission.Access` against the apiserver: SubjectAccessReviews and ServiceAccount reads."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def may_create_pods(self, user: Mapping[str, Any], namespace: str) -> tuple[bool, str]:
        spec: dict[str, Any] = {"resourceAttributes": {"namespace": namespace, "verb": "create", "resource": "pods"}}
        for src, dst in (("username", "user"), ("uid", "uid"), ("groups", "groups"), ("extra", "extra")):
            if user.get(src):
                spec[dst] = user[src]
        review = {"apiVersion": SUBJECTACCESSREVIEW.api_version, "kind": SUBJECTACCESSREVIEW.kind, "spec": spec}
        try:
            status = self.kube.create(SUBJECTACCESSREVIEW, None, review).get("status") or {}
        except ApiError as exc:  # denied, not admitted on faith: the author can retry
            return False, f"the SubjectAccessReview failed: {exc.status} {exc.reason}"
        return bool(status.get("allowed")) and not status.get("denied"), str(status.get("reason") or "")

    def account(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(SERVICEACCOUNT, namespace, name)


def policy(settings: OperatorSettings, kube: Kube | None = None) -> Policy:
    """The validating webhook's policy: the operator's feature switches, so warnings match reconcile's, and
    (given a client) the access checks of `serviceAccount.create: false`."""
    levels = {item.partition("=")[0]: settings.pod_security(item.partition("=")[0])
              for item in settings.pod_security_levels}  # fmt: skip
    options = RenderOptions(enable_hpa=settings.enable_hpa_support, enable_vpa=settings.enable_vpa_support,
                            enable_istio=settings.enable_istio_integration,
                            enable_multi_tenancy=settings.enable_multi_tenancy,
                            stdio_images=settings.stdio_images(),
                            bridge_image=settings.bridge_image)  # fmt: skip
    access = ClusterAccess(kube) if kube is not None else None
    return Policy(options, levels, access, settings.operator_account())


def warm_up(routes: dict[str, Handler]) -> None:
    """Answer one review of each kind before serving, so the first real request does not pay for imports."""
    for kind in ("MCPServer", "MCPRegistry", "MCPServerBackup"):
        obj = {"apiVersion": "mcp.allbeone.io/v1", "kind": kind, "metadata": {"name": "warm-up", "namespace": "x"},
               "spec": {"image": "x"} if kind == "MCPServer" else {}}  # fmt: skip
        review = {"request": {"uid": "", "operation": "CREATE", "kind": {"kind": kind}, "object": obj}}
        for route in routes.values():
            route(review)


def add_webhooks(mgr: Manager, settings: OperatorSettings, kube: Kube) -> None:
    """Register the webhook runnables with the manager."""
    cert_dir = Path(settings.webhook_cert_dir or Path(tempfile.gettempdir()) / "mcpop-webhook-certs")
    if settings.webhook_cert_management == "self":
        ns, svc = settings.own_namespace(), settings.webhook_service_name
        hosts = [f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local", svc]
        certs = CertManager(kube, ns, settings.webhook_cert_secret, hosts, cert_dir,
                            [settings.webhook_configuration_name])  # fmt: skip
        mgr.add_runnable("webhook-cert-rotation", certs.run_leader, leader_only=True)
        mgr.add_runnable("webhook-cert-sync", certs.run_replica, leader_only=False)
    routes = handlers(policy(settings, kube))
    warm_up(routes)

    def serve(stop: threading.Event) -> None:
        while not ((cert_dir / CERT_FILE).exists() and (cert_dir / KEY_FILE).exists()):
            if stop.wait(1.0):
                return
        tls = ReloadingContext(cert_dir, settings.webhook_tls_min_version, settings.webhook_cipher_suites)
        server = WebhookServer("", settings.webhook_port, tls, routes, metrics.observe)
        log.info("serving admission webhooks", extra={"port": server.port})
        server.serve(stop)

    mgr.add_runnable("webhook-server", serve, leader_only=False)
