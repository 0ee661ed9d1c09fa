"""The MCPRegistry resource: a catalogue of MCP server specs kept in the cluster."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from mcpop.api.base import DNSSubdomain, Model, cel, with_cel
from mcpop.api.conditions import Condition, ObjectMeta
from mcpop.api.core import list_map
from mcpop.api.duration import DURATION_PATTERN, parse_duration
from mcpop.api.validation import ConfigMapKey, RegistryURL, RelativePath

#: Syncing more often than this only burns the source's rate limit.
MIN_REFRESH_SECONDS = 60


def _check_refresh(value: str) -> str:
    if parse_duration(value) < MIN_REFRESH_SECONDS:
        raise ValueError(f"{value!r} is shorter than the minimum refresh interval of 1m")
    return value


def _check_branch(value: str) -> str:
    if any(c.isspace() or c in "~^:?*[\\" for c in value) or ".." in value or value.startswith(("/", "-")):
        raise ValueError(f"{value!r} is not a git branch name")
    return value


class OfficialRegistrySource(Model):
    """The official MCP registry API; `url` is the base that serves /v0.1/servers."""

    url: RegistryURL
    search: str | None = None
    version_policy: Literal["latest", "all"] = "latest"


class GitHubSource(Model):
    repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    branch: Annotated[str, AfterValidator(_check_branch), Field(min_length=1, max_length=255)] = "main"
    path: RelativePath = "servers"


class ConfigMapSource(Model):
    name: DNSSubdomain
    key: ConfigMapKey | None = None


class RegistrySource(Model):
    type: Literal["mcp-registry", "github", "configmap"] | None = None
    mcp_registry: OfficialRegistrySource | None = None
    github: GitHubSource | None = None
    config_map: ConfigMapSource | None = None


class SecretKeyRef(Model):
    name: DNSSubdomain
    key: ConfigMapKey


class RegistryAuth(Model):
    secret_ref: SecretKeyRef


class RegistryFilters(Model):
    include: list[str] | None = None
    exclude: list[str] | None = None


class MCPRegistrySpec(Model):
    """Where the catalogue comes from, how often to sync, and which entries to keep."""

    model_config = with_cel(
        cel(
            "[has(self.url), has(self.source) && has(self.source.mcpRegistry), "
            "has(self.source) && has(self.source.github), "
            "has(self.source) && has(self.source.configMap)].filter(x, x).size() == 1",
            "exactly one source is required: url, source.mcpRegistry, source.github or source.configMap",
        ),
        cel(
            "!has(self.refreshInterval) || duration(self.refreshInterval) >= duration('1m')",
            "refreshInterval must be at least 1m",
            ".refreshInterval",
        ),
    )

    url: RegistryURL | None = None
    source: RegistrySource | None = None
    auth: RegistryAuth | None = None
    # the pattern goes to the CRD only: here `_check_refresh` parses and says what is wrong
    refresh_interval: Annotated[str, AfterValidator(_check_refresh)] = Field(
        default="15m", max_length=32, json_schema_extra={"pattern": DURATION_PATTERN}
    )
    filters: RegistryFilters | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> MCPRegistrySpec:
        src = self.source
        given = [] if src is None else [n for n in ("mcp_registry", "github", "config_map") if getattr(src, n)]
        total = len(given) + (self.url is not None)
        if total != 1:
            raise ValueError(
                "exactly one source is required: url, source.mcpRegistry, source.github or "
                f"source.configMap (got {total})"
            )
        if src is not None and src.type is not None and given:
            expected = {"mcp_registry": "mcp-registry", "github": "github", "config_map": "configmap"}[given[0]]
            if src.type != expected:
                raise ValueError(f"source.type is {src.type!r} but the source given is {expected!r}")
        return self


class ServerSummary(Model):
    name: str
    version: str | None = None
    description: str | None = None


class MCPRegistryStatus(Model):
    phase: Literal["Pending", "Syncing", "Ready", "Failed"] | None = None
    servers_discovered: int | None = None
    last_sync_time: str | None = None
    observed_generation: int | None = None
    servers: list[ServerSummary] | None = Field(default=None, max_length=100)
    conditions: list[Condition] | None = Field(default=None, json_schema_extra=list_map("type"))


class MCPRegistry(Model):
    """A catalogue of MCP server specs."""

    api_version: Literal["mcp.allbeone.io/v1"] = "mcp.allbeone.io/v1"
    kind: Literal["MCPRegistry"] = "MCPRegistry"
    metadata: ObjectMeta
    spec: MCPRegistrySpec
    status: MCPRegistryStatus | None = None
