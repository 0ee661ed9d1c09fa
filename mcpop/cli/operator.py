"""`mcp operator run`: the operator process. Kubernetes client modules load only when it runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

from cyclopts import App, Parameter

operator_app = App(name="operator", help="Run the mcpop operator (the MCPServer and MCPRegistry controllers).")


@operator_app.command
def run(
    *,
    metrics_bind_address: str | None = None,
    health_probe_bind_address: str | None = None,
    leader_elect: bool | None = None,
    leader_election_id: str | None = None,
    leader_election_namespace: str | None = None,
    lease_duration: str | None = None,
    renew_deadline: str | None = None,
    retry_period: str | None = None,
    kubeconfig: str | None = None,
    watch_namespace: Annotated[str | None, Parameter(name="--namespace", alias="-n")] = None,
    concurrent_reconciles: str | None = None,
    sync_period: str | None = None,
    reconcile_timeout: str | None = None,
    graceful_shutdown_timeout: str | None = None,
    github_max_retries: str | None = None,
    github_initial_delay: str | None = None,
    github_max_delay: str | None = None,
    github_rate_limit_max_retries: str | None = None,
    github_rate_limit_base_delay: str | None = None,
    github_rate_limit_max_delay: str | None = None,
    github_network_max_retries: str | None = None,
    github_network_base_delay: str | None = None,
    github_network_max_delay: str | None = None,
    cache_registry_ttl: str | None = None,
    cache_server_ttl: str | None = None,
    cache_cleanup_interval: str | None = None,
    indexing_enabled: bool | None = None,
    enable_webhooks: bool | None = None,
    webhook_port: str | None = None,
    webhook_cert_dir: str | None = None,
    webhook_tls_min_version: str | None = None,
    webhook_cipher_suites: str | None = None,
    webhook_cert_management: str | None = None,
    webhook_cert_secret: str | None = None,
    webhook_service_name: str | None = None,
    webhook_configuration_name: str | None = None,
    log_level: str | None = None,
    structured_logging: bool | None = None,
    enable_correlation_id: bool | None = None,
    enable_profiling: Annotated[bool | None, Parameter(name="--enable-profiling", alias="--enable-pprof")] = None,
    profiling_bind_address: str | None = None,
    enable_hpa_support: bool | None = None,
    enable_vpa_support: bool | None = None,
    enable_istio_integration: bool | None = None,
    enable_multi_tenancy: bool | None = None,
    enable_backup_controller: bool | None = None,
    verify_interval: str | None = None,
    verify_concurrency: str | None = None,
    verify_timeout: str | None = None,
    insecure_registries: str | None = None,
) -> int:
    """Run the operator: keep MCPServers' objects applied and MCPRegistries synced.

    Every flag is validated before anything starts; a bad value exits 2 naming the flag.

    Parameters
    ----------
    metrics_bind_address
        Address of the /metrics endpoint (host:port, :port, or 0 to disable). Default `:8080`.
    health_probe_bind_address
        Address of /healthz and /readyz (host:port, :port, or 0 to disable). Default `:8081`.
    leader_elect
        Elect a leader on a Lease so only one replica reconciles. Default `False`.
    leader_election_id
        Name of the Lease. Default `mcpop-leader`.
    leader_election_namespace
        Namespace of the Lease (default: the pod's namespace, else --namespace, else default).
    lease_duration
        How long a Lease is valid without renewal. Default `15s`.
    renew_deadline
        How long the leader retries renewing before giving up leadership. Default `10s`.
    retry_period
        Interval between leader election attempts. Default `2s`.
    kubeconfig
        Kubeconfig file (default: in-cluster config, else ~/.kube/config). A bad file exits 2.
    watch_namespace
        Watch only this namespace (env WATCH_NAMESPACE; default all namespaces).
    concurrent_reconciles
        MCPServer reconciles run in parallel (env MAX_CONCURRENT_RECONCILES). Default `5`.
    sync_period
        Reconcile every MCPServer and MCPRegistry at least this often. Default `10m`.
    reconcile_timeout
        Give up one reconcile after this long and retry with backoff (env RECONCILE_TIMEOUT). Default `5m`.
    graceful_shutdown_timeout
        On SIGTERM, wait this long for in-flight reconciles. Default `30s`.
    github_max_retries
        Retries of a failed registry request (GitHub or registry API). Default `5`.
    github_initial_delay
        First retry delay for registry requests. Default `1s`.
    github_max_delay
        Longest retry delay for registry requests. Default `5m`.
    github_rate_limit_max_retries
        Retries after a rate limit. Default `3`.
    github_rate_limit_base_delay
        First wait after a rate limit (Retry-After and reset headers win). A wait over 5s is not slept:
        the sync ends and the registry is requeued after it. Default `15m`.
    github_rate_limit_max_delay
        Longest wait for a rate limit. Default `1h`.
    github_network_max_retries
        Retries after a network error. Default `5`.
    github_network_base_delay
        First retry delay after a network error. Default `2s`.
    github_network_max_delay
        Longest retry delay after a network error. Default `2m`.
    cache_registry_ttl
        How long an MCPRegistry's cached GitHub listings (ETags and contents, for conditional requests)
        are reused; an older cache is dropped and the next sync fetches everything. Default `10m`.
    cache_server_ttl
        How long a catalogue entry parsed from a registry's stored ConfigMap is reused before it is
        parsed again. Default `5m`.
    cache_cleanup_interval
        How often expired catalogue entries are dropped from memory. Default `30m`.
    indexing_enabled
        Keep a namespace index in the operator's watch caches, so reading one namespace does not scan
        every cached object. Default `True`.
    enable_webhooks
        Serve the validating and mutating admission webhooks (env ENABLE_WEBHOOKS). Default `False`.
    webhook_port
        Port of the admission webhooks. Default `9443`.
    webhook_cert_dir
        Directory with tls.crt and tls.key for the webhooks, reloaded when they change. Default: a directory
        under the system temporary directory (self-managed certificates are written there).
    webhook_tls_min_version
        Minimum TLS version of the webhooks: 1.2 or 1.3. Default `1.2`.
    webhook_cipher_suites
        Comma-separated TLS 1.2 cipher suites (Go names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); TLS 1.3
        suites are always on. Default: OpenSSL's.
    webhook_cert_management
        `self`: the leader keeps a CA and serving certificate in --webhook-cert-secret, rotates them before
        expiry and injects the CA into the webhook configurations; `external`: the files in --webhook-cert-dir
        come from elsewhere (cert-manager). Default `self`.
    webhook_cert_secret
        Secret (in the operator's namespace) of the self-managed certificates. Default `mcp-operator-webhook-tls`.
    webhook_service_name
        Service of the webhooks: the self-managed certificate is for `<name>.<namespace>.svc`.
        Default `mcp-operator-webhook`.
    webhook_configuration_name
        Name of the Validating/MutatingWebhookConfiguration whose caBundle is kept current.
        Default `mcp-operator`.
    log_level
        debug, info, warning or error (env LOG_LEVEL). Default `info`.
    structured_logging
        Log JSON lines (env STRUCTURED_LOGGING). Default `False`.
    enable_correlation_id
        Tag each reconcile's log lines with one correlation id (env ENABLE_CORRELATION_ID). Default `True`.
    enable_profiling
        Serve /debug/threads (stack dumps) on --profiling-bind-address. Default `False`.
    profiling_bind_address
        Address of the profiling endpoint. Default `127.0.0.1:6060`.
    enable_hpa_support
        Render HorizontalPodAutoscalers (env ENABLE_HPA_SUPPORT). Default `True`.
    enable_vpa_support
        Render VerticalPodAutoscalers (env ENABLE_VPA_SUPPORT). Default `True`.
    enable_istio_integration
        Render Istio objects (env ENABLE_ISTIO_INTEGRATION). Default `True`.
    enable_multi_tenancy
        Render tenancy objects (env ENABLE_MULTI_TENANCY). Default `True`.
    enable_backup_controller
        Run the MCPServerBackup controller (env ENABLE_BACKUP_CONTROLLER). Default `False`.
    verify_interval
        Speak MCP to each available MCPServer through its Service again this often (the Verified condition
        and status.mcp; a rollout re-verifies at once); 0 verifies only after rollouts. Default `5m`.
    verify_concurrency
        MCP handshakes run at the same time, in threads apart from the reconcile workers; 0 turns
        verification off (no Verified condition). Default `4`.
    verify_timeout
        Give up one MCP handshake (connect, initialize or server/discover, tools/list) after this long:
        Verified False, reason Timeout. Default `30s` (a bridged stdio server starts its command per session).
    insecure_registries
        Comma-separated registry hosts (HOST or HOST:PORT) whose image configs are read over plain HTTP, for
        OCI stdio servers that run their image's entrypoint (env INSECURE_REGISTRIES; loopback hosts always
        are). Default: none.
    """
    flags = dict(locals())
    from mcpop.apply.settings import SettingsError, build_settings

    try:
        settings = build_settings(flags, os.environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from mcpop.apply.manager import run_operator
    from mcpop.apply.runtime.client import KubeconfigError

    try:
        return run_operator(settings)
    except KubeconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if settings.kubeconfig else 1


@operator_app.command(name="webhook-config")
def webhook_config(
    *,
    url: str,
    cert_dir: Path | None = None,
    ca_file: Path | None = None,
    name: str = "mcp-operator",
    namespace: Annotated[str | None, Parameter(name=["--namespace", "-n"])] = None,
    apply: bool = False,
    kubeconfig: str | None = None,
    output: Annotated[Literal["yaml", "json"], Parameter(name=["--output", "-o"])] = "yaml",
) -> int:
    """Print (or with --apply, create) webhook configurations pointing at an operator run on this host.

    For development: `mcp operator webhook-config --url https://127.0.0.1:9443 --cert-dir certs --apply`,
    then `mcp operator run --enable-webhooks --webhook-cert-management external --webhook-cert-dir certs`.

    Parameters
    ----------
    url
        Base URL of the webhook server (https, with a host the apiserver can reach).
    cert_dir
        Directory for tls.crt, tls.key and ca.crt: a CA and a serving certificate for the URL's host are
        made there when missing, and its ca.crt becomes the caBundle.
    ca_file
        PEM file of the CA that signed the webhook's certificate (instead of --cert-dir).
    name
        Name of both configurations.
    namespace
        Admit only in this namespace (a namespaceSelector on its name); default every namespace.
    apply
        Server-side apply them (field manager mcp-cli) instead of printing.
    kubeconfig
        Kubeconfig for --apply (default: $KUBECONFIG, then ~/.kube/config).
    output
        Output format when printing.
    """
    from urllib.parse import urlsplit

    from mcpop.apply.webhook import certs
    from mcpop.apply.webhook.configuration import configurations
    from mcpop.codec.emitter import dump_json, dump_yaml

    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        print(f"error: --url: must be an https URL with a host, got {url!r}", file=sys.stderr)
        return 2
    ca: bytes | None = None
    if cert_dir is not None:
        ca_path = cert_dir / certs.CA_FILE
        if not ca_path.exists():
            data = certs.desired_secret_data({}, [parts.hostname])
            certs.write_files(cert_dir, data)
        ca = ca_path.read_bytes()
    elif ca_file is not None:
        try:
            ca = ca_file.read_bytes()
        except OSError as exc:
            print(f"error: --ca-file: {exc.strerror}: {ca_file}", file=sys.stderr)
            return 2
    selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}} if namespace else None
    objs = configurations(url=url, ca=ca, name=name, namespace_selector=selector)
    if not apply:
        sys.stdout.write(dump_json(objs) if output == "json" else dump_yaml(objs))
        return 0
    from mcpop.apply.runtime.client import Kube, KubeconfigError, KubeError, load_api_client

    try:
        kube = Kube(load_api_client(kubeconfig))
        for obj in objs:
            kube.apply(kube.require(obj["apiVersion"], obj["kind"]), obj, force=True, field_manager="mcp-cli")
            print(f"{obj['kind'].lower()}.admissionregistration.k8s.io/{name} serverside-applied")
    except KubeError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KubeconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
