"""The operator process's settings: one validated model built from flags and environment variables.

Pure (no Kubernetes client): the CLI builds it, `mcp operator run` fails fast naming the bad flag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mcpop.api.duration import non_negative
from mcpop.apply.runtime.tls import check_cipher_suites
from mcpop.errors import McpopError
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


Duration = Annotated[float, BeforeValidator(parse_duration)]
Address = Annotated[str, BeforeValidator(parse_address)]
Bool = Annotated[bool, BeforeValidator(parse_bool)]

#: a registry host as it starts an image reference: a DNS name or IPv4 address, an optional port (the chart
#: schema's operator.insecureRegistries pattern is this one; a test keeps them equal)
_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?"
REGISTRY_HOST = re.compile(rf"{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?")

#: field name → the environment variable that can set it (flags win over the environment)
ENV_VARS: dict[str, str] = {
    "log_level": "LOG_LEVEL",
    "structured_logging": "STRUCTURED_LOGGING",
    "enable_correlation_id": "ENABLE_CORRELATION_ID",
    "concurrent_reconciles": "MAX_CONCURRENT_RECONCILES",
    "reconcile_timeout": "RECONCILE_TIMEOUT",
    "enable_hpa_support": "ENABLE_HPA_SUPPORT",
    "enable_vpa_support": "ENABLE_VPA_SUPPORT",
    "enable_istio_integration": "ENABLE_ISTIO_INTEGRATION",
    "enable_multi_tenancy": "ENABLE_MULTI_TENANCY",
    "enable_backup_controller": "ENABLE_BACKUP_CONTROLLER",
    "watch_namespace": "WATCH_NAMESPACE",
    "enable_webhooks": "ENABLE_WEBHOOKS",
    "insecure_registries": "INSECURE_REGISTRIES",
}


def flag_name(field: str) -> str:
    """The command-line flag of a settings field."""
    return "--namespace" if field == "watch_namespace" else "--" + field.replace("_", "-")


class OperatorSettings(BaseModel):
    """Everything `mcp operator run` can be told. Durations are seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics_bind_address: Address = ":8080"
    health_probe_bind_address: Address = ":8081"
    leader_elect: Bool = False
    leader_election_id: str = Field(default="mcpop-leader", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    leader_election_namespace: str | None = None
    lease_duration: Duration = 15.0
    renew_deadline: Duration = 10.0
    retry_period: Duration = 2.0
    kubeconfig: str | None = None
    watch_namespace: str | None = None
    concurrent_reconciles: int = Field(default=5, ge=1, le=1000)
    sync_period: Duration = 600.0
    reconcile_timeout: Duration = 300.0
    graceful_shutdown_timeout: Duration = 30.0
    # registry access (used by the registry controller)
    github_max_retries: int = Field(default=5, ge=0)
    github_initial_delay: Duration = 1.0
    github_max_delay: Duration = 300.0
    github_rate_limit_max_retries: int = Field(default=3, ge=0)
    github_rate_limit_base_delay: Duration = 900.0
    github_rate_limit_max_delay: Duration = 3600.0
    github_network_max_retries: int = Field(default=5, ge=0)
    github_network_base_delay: Duration = 2.0
    github_network_max_delay: Duration = 120.0
    # caches: GitHub listing caches per MCPRegistry, parsed catalogue entries, the informers' namespace index
    cache_registry_ttl: Duration = 600.0
    cache_server_ttl: Duration = 300.0
    cache_cleanup_interval: Duration = 1800.0
    indexing_enabled: Bool = True
    # admission webhooks (mcpop.apply.webhook)
    enable_webhooks: Bool = False
    webhook_port: int = Field(default=9443, ge=0, le=65535)
    webhook_cert_dir: str | None = None
    webhook_tls_min_version: Literal["1.2", "1.3"] = "1.2"
    webhook_cipher_suites: tuple[str, ...] = ()
    webhook_cert_management: Literal["self", "external"] = "self"
    webhook_cert_secret: str = Field(default="mcp-operator-webhook-tls", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    webhook_service_name: str = Field(default="mcp-operator-webhook", pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    webhook_configuration_name: str = Field(default="mcp-operator", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    # logging and diagnostics
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    structured_logging: Bool = False
    enable_correlation_id: Bool = True
    enable_profiling: Bool = False
    profiling_bind_address: Address = "127.0.0.1:6060"
    # feature switches
    enable_hpa_support: Bool = True
    enable_vpa_support: Bool = True
    enable_istio_integration: Bool = True
    enable_multi_tenancy: Bool = True
    enable_backup_controller: Bool = True
    # the Verified condition (mcpop.apply.verify): MCP handshakes with each server through its Service
    verify_interval: Duration = 300.0
    verify_concurrency: int = Field(default=4, ge=0, le=64)
    verify_timeout: Duration = 30.0  # a bridged stdio server starts its child per session: `npx` takes seconds
    # image configs of OCI stdio servers (mcpop.sources.oci): registries spoken to over plain HTTP
    insecure_registries: tuple[str, ...] = ()

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

    @field_validator("webhook_cipher_suites", mode="before")
    @classmethod
    def _ciphers(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]

        check_cipher_suites(tuple(value))
        return tuple(value)

    @field_validator("insecure_registries", mode="before")
    @classmethod
    def _registries(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        for host in value:
            if not REGISTRY_HOST.fullmatch(str(host)):
                raise ValueError(f"{host!r} is not a registry host: use HOST or HOST:PORT, as in an image reference "
                                 "(such as registry.example.com or 10.0.0.5:5000)")  # fmt: skip
        return tuple(value)

    @field_validator("renew_deadline", "verify_timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0")
        return value

    @model_validator(mode="after")
    def _lease_timing(self) -> OperatorSettings:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs retry-period < renew-deadline < lease-duration")
        return self


class SettingsError(McpopError):
    """Bad operator flags; the message names each bad flag (or environment variable)."""


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


def build_settings(flags: Mapping[str, Any], env: Mapping[str, str]) -> OperatorSettings:
    """Settings from flags given on the command line (None = not given) over the environment.

    Raises SettingsError naming the flag or environment variable of every bad value.
    """
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for field, var in ENV_VARS.items():
        if env.get(var) not in (None, ""):
            values[field] = env[var]
            origin[field] = f"{flag_name(field)} (env {var})"
    for field, value in flags.items():
        if value is not None:
            values[field] = value
            origin[field] = flag_name(field)
    try:
        return OperatorSettings(**values)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else ""
            where = origin.get(loc, flag_name(loc)) if loc else "--lease-duration/--renew-deadline/--retry-period"
            msg = err["msg"].removeprefix("Value error, ")
            given = f" (got {values[loc]!r})" if loc in values else ""
            lines.append(f"{where}: {msg}{given}")
        raise SettingsError("; ".join(lines)) from None
