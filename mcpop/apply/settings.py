"""The operator process's settings: the one declaration of every `mcp operator run` flag.

Each field carries its flag (the field name, or the `Parameter` name), its environment variable, its help
text and its default; `mcp operator run` binds the model with cyclopts (a flag wins over its environment
variable, which wins over the default), and `Chart` names the chart value that sets a field, so the chart,
the docs' values table (docs/install.md) and `--help` are tested against this one model. Pure: no Kubernetes client.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple

from cyclopts import Parameter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mcpop.api.duration import format_duration, non_negative
from mcpop.apply.runtime.identity import IN_CLUSTER_NAMESPACE, operator_account
from mcpop.apply.runtime.profiling import is_loopback
from mcpop.apply.runtime.tls import check_cipher_suites
from mcpop.errors import McpopError
from mcpop.render.backup import DEFAULT_IMAGE as BACKUP_IMAGE
from mcpop.render.backup import BackupDefaults
from mcpop.render.normalize import BRIDGE_IMAGE, NODE_IMAGE, PYTHON_IMAGE
from mcpop.render.podsecurity import LEVELS, Level
from mcpop.sources.breaker import CircuitBreaker
from mcpop.sources.limits import SyncLimits
from mcpop.sources.retry import RetryConfig


def parse_duration(value: Any) -> float:
    """A flag or env duration in seconds: Go syntax (`500ms`, `5m`, `1h30m`, `0`) and not negative.

    A Python number (a default, or a caller building settings in code) is already seconds.
    """
    if isinstance(value, str):
        return non_negative(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a duration such as 1s, 5m or 1h")
    if value < 0:
        raise ValueError(f"{value!r} is negative: use a duration of 0 or more")
    return float(value)


def parse_address(value: Any) -> str:
    """`host:port`, `:port`, or `0` (disabled). Returns the address unchanged when valid."""
    text = str(value).strip()
    if text == "0":
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not an address: use host:port, :port, or 0 to disable")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host and not re.fullmatch(r"[A-Za-z0-9.:_-]+", host):
        raise ValueError(f"{text!r}: bad host {host!r}")
    return text


def split_address(address: str) -> tuple[str, int] | None:
    """(`host`, `port`) to bind, host `0.0.0.0` for `:port`; None when disabled (`0`)."""
    if address == "0":
        return None
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def parse_bool(value: Any) -> bool:
    """Booleans from flags or env: true/false, 1/0, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "t", "yes", "y", "on"):
        return True
    if text in ("0", "false", "f", "no", "n", "off", ""):
        return False
    raise ValueError(f"{value!r} is not a boolean: use true or false")


_SIZE = re.compile(r"([0-9]+)(Ki|Mi|Gi)?")
_UNITS = {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def parse_size(value: Any) -> int:
    """A flag or env size in bytes: a whole number, or one with a Ki, Mi or Gi suffix (`64Mi`); more than 0."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 8Mi or 1048576")
    if isinstance(value, int):
        number = value
    else:
        match = _SIZE.fullmatch(str(value).strip())
        if match is None:
            raise ValueError(f"{value!r} is not a size: use bytes, or Ki, Mi or Gi (such as 64Mi)")
        number = int(match.group(1)) * _UNITS[match.group(2)]
    if number <= 0:
        raise ValueError("must be more than 0")
    return number


def format_size(value: int) -> str:
    for unit in ("Gi", "Mi", "Ki"):
        if value % _UNITS[unit] == 0:
            return f"{value // _UNITS[unit]}{unit}"
    return str(value)


Size = Annotated[int, BeforeValidator(parse_size), Parameter(metavar="SIZE", show_default=format_size)]
Duration = Annotated[
    float, BeforeValidator(parse_duration), Parameter(metavar="DURATION", show_default=format_duration)
]
Address = Annotated[str, BeforeValidator(parse_address), Parameter(metavar="ADDRESS")]
Bool = Annotated[bool, BeforeValidator(parse_bool)]

#: a registry host as it starts an image reference: a DNS name or IPv4 address, an optional port (the chart
#: schema's operator.insecureRegistries pattern is this one; a test keeps them equal)
_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?"
REGISTRY_HOST = re.compile(rf"{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?")


def split_commas(value: Any) -> Any:
    """A comma-separated flag or env value (`a,b`), or a list of them, as a tuple of its non-empty parts."""
    parts = [value] if isinstance(value, str) else list(value)
    return tuple(p for part in parts for p in (s.strip() for s in str(part).split(",")) if p)


def _whole(_type: Any, value: str, delimiter: str | None = None) -> list[str]:
    """An environment variable is one value (commas split it, as on the command line, not whitespace); an
    empty one is not set."""
    return [value] if value else []


def _none_if_empty(value: Any) -> Any:
    return None if value == "" else value


@dataclass(frozen=True)
class Chart:
    """The chart value (a dotted path in values.yaml) that sets this field."""

    path: str


def env(name: str) -> Parameter:
    """The environment variable that sets a field when its flag is not given."""
    return Parameter(env_var=name, env_var_split=_whole)


DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
Count = Annotated[int, Field(ge=0)]
CommaList = Annotated[tuple[str, ...], BeforeValidator(split_commas), Parameter(show_default=False)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
#: an empty value (as a chart leaves an unset variable) is no value
NoneIfEmpty = Annotated[str | None, BeforeValidator(_none_if_empty)]
ImageName = Annotated[str, Field(min_length=1, pattern=r"^[^\s]+$")]
OptionalImageName = Annotated[str, Field(pattern=r"^[^\s]*$")]


@Parameter(name="*", negative=())
class OperatorSettings(BaseModel):
    """Everything `mcp operator run` can be told. Durations are given in Go syntax and kept in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics_bind_address: Address = Field(
        ":8080", description="Address of the /metrics endpoint (host:port, :port, or 0 to disable)."
    )
    metrics_secure: Annotated[Bool, Chart("metrics.secure")] = Field(
        True,
        description="Serve /metrics over HTTPS to bearer tokens the apiserver authenticates (TokenReview) and "
        "authorizes for `get` on the non-resource URL /metrics (SubjectAccessReview); false: plain HTTP to anyone.",
    )
    metrics_cert_dir: NoneIfEmpty = Field(
        None, description="tls.crt/tls.key of the secure /metrics endpoint (default: a self-signed certificate)."
    )
    health_probe_bind_address: Address = Field(
        ":8081", description="Address of /healthz and /readyz (host:port, :port, or 0 to disable)."
    )
    leader_elect: Bool = Field(False, description="Elect a leader on a Lease so only one replica reconciles.")
    leader_election_id: Name = Field("mcpop-leader", description="Name of the Lease.")
    leader_election_namespace: NoneIfEmpty = Field(
        None, description="Namespace of the Lease (default: the pod's namespace, else --namespace, else default)."
    )
    lease_duration: Duration = Field(15.0, description="How long a Lease is valid without renewal.")
    renew_deadline: Duration = Field(
        10.0, description="How long the leader retries renewing before giving up leadership."
    )
    retry_period: Duration = Field(2.0, description="Interval between leader election attempts.")
    service_account: NoneIfEmpty = Field(
        None,
        description="The operator's own ServiceAccount as NAMESPACE/NAME, which no MCPServer may run as "
        "(default: read from the pod's token; set it when the operator runs outside a pod with that account).",
    )
    kubeconfig: str | None = Field(
        None, description="Kubeconfig file (default: in-cluster config, else ~/.kube/config). A bad file exits 2."
    )
    watch_namespace: Annotated[
        NoneIfEmpty,
        Parameter(name="--namespace", alias="-n"),
        env("WATCH_NAMESPACE"),
        Chart("operator.watchNamespace"),
    ] = Field(None, description="Watch only this namespace (default all namespaces).")
    concurrent_reconciles: Annotated[
        int, Field(ge=1, le=1000), env("MAX_CONCURRENT_RECONCILES"), Chart("operator.concurrentReconciles")
    ] = Field(5, description="MCPServer reconciles run in parallel.")
    sync_period: Annotated[Duration, Chart("operator.syncPeriod")] = Field(
        600.0, description="Reconcile every MCPServer and MCPRegistry at least this often."
    )
    secret_poll_interval: Duration = Field(
        30.0,
        description="How often the Secrets MCPServers reference are read again (by name: the operator neither "
        "lists nor watches Secrets), so a changed Secret rolls its servers' pods.",
    )
    finalizer_timeout: Duration = Field(
        300.0,
        description="How long a deleted MCPServer waits for its objects to go when they cannot be deleted (403, an "
        "API gone); then its finalizer is released with a Warning event and owner-referenced objects are left to "
        "garbage collection.",
    )
    reconcile_timeout: Annotated[Duration, env("RECONCILE_TIMEOUT"), Chart("operator.reconcileTimeout")] = Field(
        300.0, description="Give up one reconcile after this long and retry with backoff."
    )
    graceful_shutdown_timeout: Annotated[Duration, Chart("operator.gracefulShutdownTimeout")] = Field(
        30.0, description="On SIGTERM, wait this long for in-flight reconciles."
    )
    # registry access (used by the registry controller)
    github_max_retries: Annotated[Count, Chart("github.retry.maxRetries")] = Field(
        5, description="Retries of a failed registry request (GitHub or registry API)."
    )
    github_initial_delay: Annotated[Duration, Chart("github.retry.initialDelay")] = Field(
        1.0, description="First retry delay for registry requests."
    )
    github_max_delay: Annotated[Duration, Chart("github.retry.maxDelay")] = Field(
        300.0, description="Longest retry delay for registry requests."
    )
    github_rate_limit_max_retries: Annotated[Count, Chart("github.retry.rateLimitMaxRetries")] = Field(
        3, description="Retries after a rate limit."
    )
    github_rate_limit_base_delay: Annotated[Duration, Chart("github.retry.rateLimitBaseDelay")] = Field(
        900.0,
        description=(
            "First wait after a rate limit (Retry-After and reset headers win). A wait over 5s is not slept: the sync "
            "ends and the registry is requeued after it."
        ),
    )
    github_rate_limit_max_delay: Annotated[Duration, Chart("github.retry.rateLimitMaxDelay")] = Field(
        3600.0, description="Longest wait for a rate limit."
    )
    github_network_max_retries: Annotated[Count, Chart("github.retry.networkMaxRetries")] = Field(
        5, description="Retries after a network error."
    )
    github_network_base_delay: Annotated[Duration, Chart("github.retry.networkBaseDelay")] = Field(
        2.0, description="First retry delay after a network error."
    )
    github_network_max_delay: Annotated[Duration, Chart("github.retry.networkMaxDelay")] = Field(
        120.0, description="Longest retry delay after a network error."
    )
    # caches: GitHub listing caches per MCPRegistry, parsed catalogue entries, the informers' namespace index
    cache_registry_ttl: Annotated[Duration, Chart("cache.registryTTL")] = Field(
        600.0,
        description=(
            "How long an MCPRegistry's cached GitHub listings (ETags and contents, for conditional requests) are "
            "reused; an older cache is dropped and the next sync fetches everything."
        ),
    )
    cache_server_ttl: Annotated[Duration, Chart("cache.serverTTL")] = Field(
        300.0,
        description=(
            "How long a catalogue entry parsed from a registry's stored ConfigMap is reused before it is parsed again."
        ),
    )
    cache_cleanup_interval: Annotated[Duration, Chart("cache.cleanupInterval")] = Field(
        1800.0, description="How often expired catalogue entries are dropped from memory."
    )
    indexing_enabled: Annotated[Bool, Chart("indexing.enabled")] = Field(
        True,
        description=(
            "Keep a namespace index in the operator's watch caches, so reading one namespace does not scan every "
            "cached object."
        ),
    )
    # admission webhooks (mcpop.apply.webhook)
    enable_webhooks: Annotated[Bool, env("ENABLE_WEBHOOKS")] = Field(
        False, description="Serve the validating and mutating admission webhooks."
    )
    webhook_port: Annotated[int, Field(ge=0, le=65535), Chart("webhook.port")] = Field(
        9443, description="Port of the admission webhooks."
    )
    webhook_cert_dir: str | None = Field(
        None,
        description=(
            "Directory with tls.crt and tls.key for the webhooks, reloaded when they change. Default: a directory "
            "under the system temporary directory (self-managed certificates are written there)."
        ),
    )
    webhook_tls_min_version: Annotated[Literal["1.2", "1.3"], Chart("webhook.tlsMinVersion")] = Field(
        "1.2", description="Minimum TLS version of the webhooks: 1.2 or 1.3."
    )
    webhook_cipher_suites: Annotated[CommaList, Parameter(metavar="SUITES"), Chart("webhook.cipherSuites")] = Field(
        (),
        description=(
            "Comma-separated TLS 1.2 cipher suites (Go names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); TLS 1.3 "
            "suites are always on. Default: OpenSSL's."
        ),
    )
    webhook_cert_management: Literal["self", "external"] = Field(
        "self",
        description=(
            "`self`: the leader keeps a CA and serving certificate in --webhook-cert-secret, rotates them before "
            "expiry and injects the CA into the webhook configurations; `external`: the files in --webhook-cert-dir "
            "come from elsewhere (cert-manager)."
        ),
    )
    webhook_cert_secret: Name = Field(
        "mcp-operator-webhook-tls", description="Secret (in the operator's namespace) of the self-managed certificates."
    )
    webhook_service_name: Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$")] = Field(
        "mcp-operator-webhook",
        description="Service of the webhooks: the self-managed certificate is for `<name>.<namespace>.svc`.",
    )
    webhook_configuration_name: Name = Field(
        "mcp-operator",
        description="Name of the Validating/MutatingWebhookConfiguration whose caBundle is kept current.",
    )
    # logging and diagnostics
    log_level: Annotated[Literal["debug", "info", "warning", "error"], env("LOG_LEVEL"), Chart("operator.logLevel")] = (
        Field("info", description="debug, info, warning or error.")
    )
    structured_logging: Annotated[Bool, env("STRUCTURED_LOGGING"), Chart("operator.structuredLogging")] = Field(
        False, description="Log JSON lines."
    )
    enable_correlation_id: Annotated[Bool, env("ENABLE_CORRELATION_ID"), Chart("operator.enableCorrelationId")] = Field(
        True, description="Tag each reconcile's log lines with one correlation id."
    )
    enable_profiling: Annotated[
        Bool, Parameter(alias="--enable-pprof"), env("ENABLE_PPROF"), Chart("profiling.enabled")
    ] = Field(
        False,
        description="Serve pprof's Python equivalents on --profiling-bind-address: /debug/pprof/goroutine (every "
        "thread's stack), /debug/pprof/heap?top=N (tracemalloc, started only then), /debug/pprof/profile?seconds=N "
        "(a sampling profile as folded stacks, N at most 60).",
    )
    profiling_bind_address: Annotated[
        Address, Parameter(alias="--pprof-addr"), env("PPROF_ADDR"), Chart("profiling.address")
    ] = Field(
        "127.0.0.1:6060",
        description="Address of the profiling endpoint: loopback only (kubectl port-forward reaches it) unless "
        "--profiling-allow-remote.",
    )
    profiling_allow_remote: Bool = Field(
        False, description="Let the profiling endpoint (no authentication) listen on an address that is not loopback."
    )
    # feature switches
    enable_hpa_support: Annotated[Bool, env("ENABLE_HPA_SUPPORT"), Chart("operator.features.hpa")] = Field(
        True, description="Render HorizontalPodAutoscalers."
    )
    enable_vpa_support: Annotated[Bool, env("ENABLE_VPA_SUPPORT"), Chart("operator.features.vpa")] = Field(
        True, description="Render VerticalPodAutoscalers."
    )
    enable_istio_integration: Annotated[Bool, env("ENABLE_ISTIO_INTEGRATION"), Chart("operator.features.istio")] = (
        Field(True, description="Render Istio objects.")
    )
    enable_multi_tenancy: Annotated[Bool, env("ENABLE_MULTI_TENANCY"), Chart("operator.features.multiTenancy")] = Field(
        True, description="Render tenancy objects."
    )
    enable_backup_controller: Annotated[Bool, env("ENABLE_BACKUP_CONTROLLER"), Chart("backup.enabled")] = Field(
        True, description="Run the MCPServerBackup controller."
    )
    # what an MCPServerBackup leaves unset (mcpop.render.backup.BackupDefaults; passed to its Jobs)
    backup_retention_daily: Annotated[
        Count, env("MCPOP_BACKUP_RETENTION_DAILY"), Chart("backup.retentionPolicies.daily")
    ] = Field(7, description="Daily snapshots kept of a backup with no spec.retention (0: no daily rule).")
    backup_retention_weekly: Annotated[
        Count, env("MCPOP_BACKUP_RETENTION_WEEKLY"), Chart("backup.retentionPolicies.weekly")
    ] = Field(4, description="Weekly snapshots kept of a backup with no spec.retention (0: no weekly rule).")
    backup_retention_monthly: Annotated[
        Count, env("MCPOP_BACKUP_RETENTION_MONTHLY"), Chart("backup.retentionPolicies.monthly")
    ] = Field(12, description="Monthly snapshots kept of a backup with no spec.retention (0: no monthly rule).")
    backup_retention_yearly: Annotated[
        Count, env("MCPOP_BACKUP_RETENTION_YEARLY"), Chart("backup.retentionPolicies.yearly")
    ] = Field(
        5,
        description="Yearly snapshots kept of a backup with no spec.retention (0: no yearly rule; all four 0: such "
        "backups keep every snapshot, as `retention: {}` does).",
    )
    backup_s3_region: Annotated[NoneIfEmpty, env("MCPOP_BACKUP_S3_REGION"), Chart("backup.s3.region")] = Field(
        None, description="S3 region of a backup whose storage.s3 sets none."
    )
    backup_s3_endpoint: Annotated[NoneIfEmpty, env("MCPOP_BACKUP_S3_ENDPOINT"), Chart("backup.s3.endpoint")] = Field(
        None, description="S3 endpoint (host[:port] or URL) of a backup whose storage.s3 sets none."
    )
    backup_gcs_project: Annotated[NoneIfEmpty, env("MCPOP_BACKUP_GCS_PROJECT_ID"), Chart("backup.gcs.projectId")] = (
        Field(None, description="GCS project of a backup whose storage.gcs sets none.")
    )
    backup_azure_account_name: Annotated[
        NoneIfEmpty, env("MCPOP_BACKUP_AZURE_ACCOUNT_NAME"), Chart("backup.azure.accountName")
    ] = Field(None, description="Azure storage account of a backup whose storage.azure sets none.")
    # the Verified condition (mcpop.apply.verify): MCP handshakes with each server through its Service
    verify_interval: Duration = Field(
        300.0,
        description=(
            "Speak MCP to each available MCPServer through its Service again this often (the Verified condition and "
            "status.mcp; a rollout re-verifies at once); 0 verifies only after rollouts."
        ),
    )
    verify_concurrency: Annotated[int, Field(ge=0, le=64)] = Field(
        4,
        description=(
            "MCP handshakes run at the same time, in threads apart from the reconcile workers; 0 turns verification "
            "off (no Verified condition)."
        ),
    )
    # a bridged stdio server starts its child per session: `npx` takes seconds
    verify_timeout: Duration = Field(
        30.0,
        description=(
            "Give up one MCP handshake (connect, initialize or server/discover, tools/list) after this long: Verified "
            "False, reason Timeout."
        ),
    )
    # the runtime images stdio servers without an image run in, behind mcpop-bridge (mcpop.render.normalize)
    stdio_node_image: Annotated[ImageName, env("STDIO_NODE_IMAGE"), Chart("stdio.nodeImage")] = Field(
        NODE_IMAGE,
        description="Image (with node and npx) that npm and `npx` stdio servers without an image run in, behind "
        "mcpop-bridge.",
    )
    stdio_python_image: Annotated[ImageName, env("STDIO_PYTHON_IMAGE"), Chart("stdio.pythonImage")] = Field(
        PYTHON_IMAGE,
        description="Image (with python and uvx) that PyPI and `uvx` stdio servers without an image run in, behind "
        "mcpop-bridge.",
    )
    # the bridge's own image: an init container copies mcpop-bridge from it into every bridged server's pod
    bridge_image: Annotated[ImageName, env("MCPOP_BRIDGE_IMAGE"), Chart("bridge.image")] = Field(
        BRIDGE_IMAGE,
        description="Image the init container of every bridged stdio server copies mcpop-bridge from (a mirror's "
        "copy, or the released image pinned by digest).",
    )
    # the image backup and restore Jobs run (`mcp backup run`): the operator's own unless set
    backup_image: Annotated[OptionalImageName, env("MCPOP_BACKUP_IMAGE"), Chart("backup.image")] = Field(
        "",
        description=f"Image backup and restore Jobs run (it holds `mcp backup run`). Default: {BACKUP_IMAGE}; the "
        "chart passes the operator's own image.",
    )
    # image configs of OCI stdio servers (mcpop.sources.oci): registries spoken to over plain HTTP
    insecure_registries: Annotated[
        CommaList, Parameter(metavar="HOSTS"), env("INSECURE_REGISTRIES"), Chart("operator.insecureRegistries")
    ] = Field(
        (),
        description=(
            "Comma-separated registry hosts (HOST or HOST:PORT) whose image configs are read over plain HTTP, for OCI "
            "stdio servers that run their image's entrypoint (loopback hosts always are). Default: none."
        ),
    )
    # what a tenant's source may cost the operator (mcpop.sources.http, mcpop.sources.limits; docs/fetch-bounds.md)
    fetch_timeout: Annotated[Duration, Chart("fetch.timeout")] = Field(
        30.0,
        description=(
            "The whole of one HTTP fetch from a registry, GitHub or an image registry (connect, redirects, headers "
            "and body together, not one read): past it the fetch is cut off and only that object's status says so."
        ),
    )
    circuit_breaker_failures: Annotated[Count, Chart("circuitBreaker.failureThreshold")] = Field(
        5,
        description="Consecutive failures (connection errors, timeouts, HTTP 5xx) of one host (a registry API, "
        "GitHub, an image registry) that open its circuit: fetches to it are then refused at once until "
        "--circuit-breaker-cool-down has passed and a probe succeeds; 0 turns the breaker off.",
    )
    circuit_breaker_cool_down: Annotated[Duration, Chart("circuitBreaker.coolDown")] = Field(
        60.0, description="How long an open circuit refuses fetches before one probe is let through (half-open)."
    )
    registry_max_pages: Annotated[int, Field(ge=1), Chart("registry.maxPages")] = Field(
        100,
        description="List pages (registry API pages, GitHub directory listings) one MCPRegistry sync may read; past "
        "it the sync fails and the last catalogue stays.",
    )
    registry_max_entries: Annotated[int, Field(ge=1), Chart("registry.maxEntries")] = Field(
        10_000,
        description="Entries (server.json items, valid or not; GitHub files) one MCPRegistry sync may read; past it "
        "the sync fails and the last catalogue stays.",
    )
    registry_max_bytes: Annotated[Size, Chart("registry.maxBytes")] = Field(
        64 << 20,
        description="Bytes of response bodies (after decompression) one MCPRegistry sync may read, such as 64Mi; "
        "past it the sync fails and the last catalogue stays. One body is capped at 8Mi in any case.",
    )
    trusted_token_realms: Annotated[
        CommaList, Parameter(metavar="HOSTS"), Chart("operator.trustedTokenRealms")
    ] = Field(
        (),
        description=(
            "Comma-separated token-service hosts (HOST or HOST:PORT) an image registry's WWW-Authenticate realm may "
            "name to receive the imagePullSecrets credentials, besides the registry's own host. A realm elsewhere is "
            "asked anonymously. Default: none."
        ),
    )  # fmt: skip

    pod_security_levels: Annotated[
        CommaList, Parameter(metavar="NAMESPACE=LEVEL,..."), env("POD_SECURITY_LEVELS"),
        Chart("operator.podSecurityLevels"),
    ] = Field(
        (),
        description=(
            "Namespaces where a cluster admin allows MCPServer pods beyond the Pod Security \"restricted\" level: "
            "NAMESPACE=baseline or NAMESPACE=privileged, comma-separated. A spec whose pod needs more than its "
            "namespace allows is refused (render, webhook, reconcile); the namespace's own "
            "pod-security.kubernetes.io/enforce label can only lower the level. Default: restricted everywhere."
        ),
    )  # fmt: skip

    @model_validator(mode="after")
    def _backup_storage(self) -> OperatorSettings:
        # the same checks as the fields they fill (a bad default would fail every backup that takes it)
        from mcpop.api.mcpserverbackup import AzureStorage, S3Storage

        S3Storage(bucket="check", region=self.backup_s3_region, endpoint=self.backup_s3_endpoint)
        AzureStorage(container="check", account_name=self.backup_azure_account_name)
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        return {"warn": "warning", "err": "error"}.get(text, text)

    @field_validator("webhook_tls_min_version", mode="before")
    @classmethod
    def _tls(cls, value: Any) -> Any:
        text = str(value).strip().removeprefix("VersionTLS").removeprefix("TLS").removeprefix("v")
        return {"12": "1.2", "13": "1.3"}.get(text, text)

    @field_validator("webhook_cipher_suites")
    @classmethod
    def _ciphers(cls, value: tuple[str, ...]) -> tuple[str, ...]:

        check_cipher_suites(value)
        return value

    def stdio_images(self) -> dict[str, str]:
        """The runtime images for RenderOptions.stdio_images."""
        return {"node": self.stdio_node_image, "python": self.stdio_python_image}

    @field_validator("insecure_registries", "trusted_token_realms")
    @classmethod
    def _registries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            if not REGISTRY_HOST.fullmatch(host):
                raise ValueError(f"{host!r} is not a registry host: use HOST or HOST:PORT, as in an image reference "
                                 "(such as registry.example.com or 10.0.0.5:5000)")  # fmt: skip
        return value

    @field_validator("pod_security_levels")
    @classmethod
    def _pod_security(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for item in value:
            ns, sep, level = item.partition("=")
            if not sep or not DNS_LABEL.fullmatch(ns) or level not in LEVELS:
                raise ValueError(f"{item!r} is not NAMESPACE=LEVEL with LEVEL one of {', '.join(LEVELS)} (such as "
                                 "team-a=baseline)")  # fmt: skip
            if ns in seen:
                raise ValueError(f"namespace {ns!r} is given twice")
            seen.add(ns)
        return value

    @field_validator("service_account")
    @classmethod
    def _namespace_name(cls, value: str | None) -> str | None:
        if value is not None:
            ns, sep, name = value.partition("/")
            if not sep or not DNS_LABEL.fullmatch(ns) or not name or "/" in name:
                raise ValueError(f"{value!r} is not NAMESPACE/NAME (such as mcp-system/mcp-operator)")
        return value

    def operator_account(self) -> tuple[str, str] | None:
        """The operator's own ServiceAccount: `--service-account`, else the one its pod's token names."""
        if self.service_account:
            ns, _, name = self.service_account.partition("/")
            return ns, name
        return operator_account()

    def own_namespace(self) -> str:
        """The namespace the operator keeps its Lease and webhook objects in: `--leader-election-namespace`, else
        its pod's, else the watched namespace, else `default` (a host run)."""
        if self.leader_election_namespace:
            return self.leader_election_namespace
        if IN_CLUSTER_NAMESPACE.exists():
            return IN_CLUSTER_NAMESPACE.read_text().strip()
        return self.watch_namespace or "default"

    def pod_security(self, namespace: str) -> Level:
        """The Pod Security level `--pod-security-levels` allows in `namespace` (restricted when not listed)."""
        for item in self.pod_security_levels:
            ns, _, level = item.partition("=")
            if ns == namespace:
                return level  # type: ignore[return-value]  # checked against LEVELS above
        return "restricted"

    @field_validator("renew_deadline", "verify_timeout", "fetch_timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0")
        return value

    @model_validator(mode="after")
    def _profiling_on_loopback(self) -> OperatorSettings:
        addr = split_address(self.profiling_bind_address)
        if self.enable_profiling and addr is not None and not self.profiling_allow_remote and not is_loopback(addr[0]):
            raise ValueError(f"profiling-bind-address {self.profiling_bind_address!r} is not loopback and the "
                             "profiling endpoint has no authentication: bind 127.0.0.1 (kubectl port-forward reaches "
                             "it) or set --profiling-allow-remote")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _lease_timing(self) -> OperatorSettings:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs retry-period < renew-deadline < lease-duration")
        return self


class Option(NamedTuple):
    """One field as the command line, the environment and the chart know it."""

    field: str
    flags: tuple[str, ...]
    env: str | None
    chart: str | None


def options() -> dict[str, Option]:
    """Every field's flags (the first is the flag's name, the rest aliases), environment variable and chart value."""
    out = {}
    for field, info in OperatorSettings.model_fields.items():
        names: tuple[str, ...] = ()
        aliases: tuple[str, ...] = ()
        var: str | None = None
        chart: str | None = None
        for meta in info.metadata:
            if isinstance(meta, Parameter):
                names = tuple(meta.name or names)
                aliases = tuple(meta.alias or aliases)
                var = next(iter(meta.env_var or ()), var)
            elif isinstance(meta, Chart):
                chart = meta.path
        flags = names or ("--" + field.replace("_", "-"),)
        out[field] = Option(field, (*flags, *aliases), var, chart)
    return out


class SettingsError(McpopError):
    """Bad operator settings: one line naming each bad value's flag and environment variable."""


def sync_limits(settings: OperatorSettings) -> SyncLimits:
    """One MCPRegistry sync's caps: `--registry-max-pages`, `--registry-max-entries`, `--registry-max-bytes`."""
    return SyncLimits(
        max_pages=settings.registry_max_pages,
        max_entries=settings.registry_max_entries,
        max_bytes=settings.registry_max_bytes,
    )


def github_retry(settings: OperatorSettings) -> RetryConfig:
    """The registry sources' retry budgets from `--github-max-retries`, `--github-initial-delay`, ..."""

    return RetryConfig(
        max_retries=settings.github_max_retries,
        initial_delay=settings.github_initial_delay,
        max_delay=settings.github_max_delay,
        rate_limit_max_retries=settings.github_rate_limit_max_retries,
        rate_limit_base_delay=settings.github_rate_limit_base_delay,
        rate_limit_max_delay=settings.github_rate_limit_max_delay,
        network_max_retries=settings.github_network_max_retries,
        network_base_delay=settings.github_network_base_delay,
        network_max_delay=settings.github_network_max_delay,
    )


def backup_defaults(settings: OperatorSettings) -> BackupDefaults:
    """What MCPServerBackups leave unset: `--backup-retention-*`, `--backup-s3-*`, `--backup-gcs-project`, ..."""
    return BackupDefaults(
        keep_daily=settings.backup_retention_daily,
        keep_weekly=settings.backup_retention_weekly,
        keep_monthly=settings.backup_retention_monthly,
        keep_yearly=settings.backup_retention_yearly,
        s3_region=settings.backup_s3_region,
        s3_endpoint=settings.backup_s3_endpoint,
        gcs_project=settings.backup_gcs_project,
        azure_account_name=settings.backup_azure_account_name,
    )


@functools.cache
def _breaker(failures: int, cool_down: float) -> CircuitBreaker:
    return CircuitBreaker(failures, cool_down)


def circuit_breaker(settings: OperatorSettings) -> CircuitBreaker:
    """The process's circuit breaker of `--circuit-breaker-failures` and `--circuit-breaker-cool-down`: one for
    the registry syncs and the image config reads, so a host has one state."""
    return _breaker(settings.circuit_breaker_failures, settings.circuit_breaker_cool_down)
