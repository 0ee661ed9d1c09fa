"""The MCPServer resource: one MCP server and all its options."""

from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from mcpop.api.base import (
    DNSLabel,
    DNSSubdomain,
    FreeForm,
    Model,
    Quantity,
    cel,
    deferred,
    quantity_value,
    with_cel,
)
from mcpop.api.cel import MAX_RULE_LENGTH, MAX_RULES, rule_error
from mcpop.api.conditions import Condition, ObjectMeta
from mcpop.api.core import (
    Affinity,
    EnvFromSource,
    EnvVar,
    LocalObjectReference,
    Probes,
    ResourceRequirements,
    SecurityContext,
    Toleration,
    Volume,
    VolumeMount,
    list_map,
)
from mcpop.api.validation import (
    TAG,
    AbsolutePath,
    Annotations,
    ConfigMapKey,
    EnvName,
    FieldError,
    ImageRef,
    Int32,
    Int64,
    IntOrPercent,
    LabelKey,
    Labels,
    PortName,
    PortNumber,
    PortOrName,
    is_zero,
    percent_over_100,
    raise_first,
    refuse_plain_timestamps,
)

if TYPE_CHECKING:
    from mcpop.api.features import Autoscaling, Istio, Monitoring, Network, PodDisruptionBudgetSpec, Tenancy
else:  # the feature models load only when a spec sets them
    Autoscaling = deferred("mcpop.api.features:Autoscaling")
    Istio = deferred("mcpop.api.features:Istio")
    Monitoring = deferred("mcpop.api.features:Monitoring")
    Network = deferred("mcpop.api.features:Network")
    PodDisruptionBudgetSpec = deferred("mcpop.api.features:PodDisruptionBudgetSpec")
    Tenancy = deferred("mcpop.api.features:Tenancy")

DEFAULT_PORT = 8080
DEFAULT_PATH = "/mcp"
#: the path an SSE server serves its event stream on unless `transport.path` says otherwise
DEFAULT_SSE_PATH = "/sse"
Arg = Annotated[str, StringConstraints(max_length=4096)]
#: a host name the bridge accepts in Host and Origin: a DNS name, `.suffix` (every name under it) or `*` (any)
AllowedHost = Annotated[
    str,
    StringConstraints(
        max_length=253,
        pattern=r"^(\*|\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)$",
    ),
]
TransportType = Literal["stdio", "sse", "streamable-http", "http"]


#: per resource: the default request and limit, as the original webhook defaulted
RESOURCE_DEFAULTS = {"cpu": ("100m", "500m"), "memory": ("128Mi", "512Mi")}


def default_resources() -> ResourceRequirements:
    """Requests 100m/128Mi and limits 500m/512Mi, as the original webhook defaulted."""
    req, lim = completed_resources(None, None)
    return ResourceRequirements(requests=req, limits=lim)


def completed_resources(requests: dict[str, str] | None, limits: dict[str, str] | None
                        ) -> tuple[dict[str, str], dict[str, str]]:  # fmt: skip
    """`requests` and `limits` with each absent cpu and memory value defaulted (RESOURCE_DEFAULTS), field by
    field: a given value is kept as given, a defaulted limit is never below the given request (it is the request
    then) and a defaulted request never above the given limit (it is the limit then). Other resources are
    left as they are. ValueError when a given value is not a quantity."""
    req, lim = dict(requests or {}), dict(limits or {})
    for res, (dreq, dlim) in RESOURCE_DEFAULTS.items():
        r, li = req.get(res), lim.get(res)
        if li is None:
            li = r if r is not None and quantity_value(r) > quantity_value(dlim) else dlim
        if r is None:
            r = dreq if quantity_value(dreq) <= quantity_value(li) else li
        req[res], lim[res] = r, li
    return req, lim


class Runtime(Model):
    """What to run, in the registry-driven form."""

    type: Literal["docker", "python", "node", "binary"] | None = None
    image: ImageRef | None = None
    command: list[Arg] | None = Field(default=None, max_length=64)
    args: list[Arg] | None = Field(default=None, max_length=256)
    env: list[EnvVar] | None = Field(default=None, json_schema_extra=list_map("name"))
    port: PortNumber | None = None

    @model_validator(mode="after")
    def _unique_env(self) -> Self:
        raise_first(duplicates(self.env, "env", "name"))
        return self


class RegistryRef(Model):
    """Where the server's spec comes from in an MCP registry."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[a-zA-Z0-9._/-]+$")
    registry_ref: DNSSubdomain | None = None
    version: str | None = None
    package: Literal["oci", "npm", "pypi"] | None = None
    description: str | None = None
    repository: str | None = None


class Transport(Model):
    """How clients speak to the server: `path` defaults to /mcp (streamable-http, and the bridge of a stdio
    server) or /sse (sse)."""

    type: TransportType | None = None
    path: str | None = Field(default=None, pattern=r"^/\S*$")
    port: PortNumber | None = None


class ServicePort(Model):
    #: an IANA service name, not just a DNS label: the name is also the container port's, which must be one
    name: PortName
    port: PortNumber
    target_port: PortOrName | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None
    app_protocol: LabelKey | None = None  # an IANA service name or a domain-prefixed name, as the apiserver checks

    @property
    def port_and_protocol(self) -> str:
        """What a Service port must be unique by: its number and protocol."""
        return f"{self.port}/{self.protocol or 'TCP'}"


class Gateway(Model):
    """The stdio-to-HTTP bridge a stdio server runs behind: mcpop-bridge (one server process per MCP session),
    copied into the pod by an init container and run in the server's own runtime image."""

    enabled: bool | None = Field(
        default=None, description="false: no bridge; the image runs as given and must serve HTTP on the port itself."
    )
    image: ImageRef | None = Field(
        default=None,
        description="Formerly the supergateway image. Now the image the server (and the bridge beside it) runs in "
        "when neither image nor runtime.image is set; it must hold the server's command. Prefer runtime.image.",
    )
    port: PortNumber | None = Field(default=None, description="The port the bridge serves MCP on (default 8000).")
    args: list[str] | None = Field(
        default=None,
        description="Ignored, with a render warning: these were supergateway's flags (`<cmd>` the server command), "
        "and supergateway is gone. The server's command and args come from command/args.",
    )
    max_sessions: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Sessions (server processes) one pod runs at most; one more is refused with 503 and a JSON-RPC "
        "error (the bridge's --max-sessions, default 32).",
    )
    allowed_hosts: list[AllowedHost] | None = Field(
        default=None,
        max_length=64,
        description="More host names the bridge accepts in a request's Host and Origin headers (its DNS-rebinding "
        "protection answers 403 to any other): an Ingress's, a route's or a load balancer's name; `.example.com` "
        "accepts every name under example.com; `*` accepts any host. Always accepted: the Service's own names "
        "(`name`, `name.namespace`, `name.namespace.svc`, `name.namespace.svc.cluster.local`), localhost, and "
        "an IP address in Host.",
    )
    env: list[EnvVar] | None = Field(
        default=None,
        description="More environment variables of the server container (the server's own env wins by name).",
        json_schema_extra=list_map("name"),
    )

    @model_validator(mode="after")
    def _unique_env(self) -> Self:
        raise_first(duplicates(self.env, "env", "name"))
        return self


def check_issuer(value: str) -> str:
    """An OAuth issuer URL: https, a host, no userinfo, query or fragment (RFC 8414 / OIDC discovery)."""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{value!r} must be an https URL (the issuer's identifier, as its tokens' iss claim says)")
    if "@" in parts.netloc:
        raise ValueError(f"{value.split('@', 1)[-1]!r}: an issuer URL must not carry userinfo (user@)")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError(f"{value!r}: an issuer URL must have no query or fragment")
    if any(c.isspace() or c == '"' for c in value):
        raise ValueError(f"{value!r}: an issuer URL must have no spaces or quotes")
    return value


IssuerURL = Annotated[
    str,
    AfterValidator(check_issuer),
    WithJsonSchema({"type": "string", "maxLength": 2048, "pattern": r'^https://[^/\s?#@"]+(/[^\s?#"]*)?$'}),
]
#: a token audience: any string but a comma (the bridge takes them comma-separated), space or quote
Audience = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r'^[^,\s"]+$')]
#: an OAuth scope token (RFC 6749 §3.3: printable ASCII but space, `"` and `\`), and no comma
Scope = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[!#-+\--\[\]-~]+$")]


class ConfigMapKeyRef(Model):
    name: DNSSubdomain
    key: ConfigMapKey


class JWKSSource(Model):
    """Where the issuer's keys are when not from its OIDC discovery document (an air-gapped cluster)."""

    config_map_key_ref: ConfigMapKeyRef = Field(
        description="A ConfigMap key holding the issuer's JWKS document (RFC 7517), mounted read-only into the "
        "pod; read again when a token names a key it does not hold, so an updated ConfigMap is picked up."
    )


class JWTAuth(Model):
    """Bearer JWTs from one OAuth/OIDC issuer, validated by mcpop-bridge on the MCP endpoint."""

    issuer: IssuerURL = Field(
        description="The issuer (https): tokens' iss; its keys come from its OIDC discovery document "
        "(`/.well-known/openid-configuration` → jwks_uri) unless jwks is set."
    )
    audiences: list[Audience] | None = Field(
        default=None,
        max_length=16,
        description="Audiences a token may name (aud), one is enough. The first one that is a URL is also the "
        "resource in the RFC 9728 metadata. Default: the server's in-cluster URL "
        "(http://NAME.NAMESPACE.svc.cluster.local:PORT/PATH, status.url).",
    )
    jwks: JWKSSource | None = None
    required_scopes: list[Scope] | None = Field(
        default=None,
        max_length=32,
        description="Scopes every token must carry (`scope`, space-separated, or `scp`); one missing: 403 "
        'with WWW-Authenticate error="insufficient_scope".',
    )

    @model_validator(mode="after")
    def _unique(self) -> Self:
        raise_first(repeated(("audiences", self.audiences), ("requiredScopes", self.required_scopes)))
        return self


#: the namespaces, and the names, a serviceAccounts rule lists at most
MAX_SERVICE_ACCOUNTS = 32


class ServiceAccountAuth(Model):
    """Projected ServiceAccount tokens of in-cluster agents (audience-bound, from the cluster's own issuer), checked
    by mcpop-bridge against the cluster's keys, which the operator reads from the apiserver's OIDC discovery
    (`/openid/v1/jwks`) and hands to the pod in a ConfigMap."""

    namespaces: list[DNSLabel] | None = Field(
        default=None, max_length=MAX_SERVICE_ACCOUNTS,
        description="Namespaces whose ServiceAccounts may call (default: the server's own).",
    )  # fmt: skip
    names: list[DNSSubdomain] | None = Field(
        default=None, max_length=MAX_SERVICE_ACCOUNTS,
        description="ServiceAccount names that may call, in those namespaces (default: any).",
    )  # fmt: skip
    audience: Audience | None = Field(
        default=None,
        description="The audience the tokens must name (the projected volume's `audience`). Default: the server's "
        "URL (status.url; `mcp status` prints it).",
    )  # fmt: skip

    @model_validator(mode="after")
    def _unique(self) -> Self:
        raise_first(repeated(("namespaces", self.namespaces), ("names", self.names)))
        return self


class Auth(Model):
    """Who may call the server: mcpop-bridge checks a Bearer token on every request (issue 21): a JWT from an
    OAuth/OIDC issuer (`jwt`), a Kubernetes ServiceAccount token (`serviceAccounts`), or either."""

    jwt: JWTAuth | None = None
    service_accounts: ServiceAccountAuth | None = None
    allow_unauthenticated: bool | None = Field(
        default=None,
        description="true: serviceType NodePort or LoadBalancer without jwt or serviceAccounts is accepted (anyone "
        "who reaches the Service can call every tool). Without it such a server is refused.",
    )

    @property
    def required(self) -> bool:
        """Whether callers need a token."""
        return self.jwt is not None or self.service_accounts is not None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if self.required and self.allow_unauthenticated:
            raise FieldError(("allowUnauthenticated",), "allowUnauthenticated contradicts jwt and serviceAccounts: "
                             "set one of them")  # fmt: skip
        if not self.required and self.allow_unauthenticated is None:
            raise FieldError(("jwt",), "auth needs jwt or serviceAccounts (or allowUnauthenticated: true)")
        return self


#: how many globs one allow or deny list takes
MAX_GLOBS = 64
#: a glob of tool or prompt names (`*` any run of characters, `?` one): the characters MCP names use, no comma
NameGlob = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.*?/:@+-]+$")]
#: a glob of resource URIs or URI templates: no comma or whitespace
UriGlob = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^,\s]+$")]


class PromptPolicy(Model):
    """Which prompts clients may list and get, by name."""

    allow: list[NameGlob] | None = Field(default=None, max_length=MAX_GLOBS)
    deny: list[NameGlob] | None = Field(default=None, max_length=MAX_GLOBS)


class ResourcePolicy(Model):
    """Which resources (and resource templates) clients may list and read, by URI (template)."""

    allow: list[UriGlob] | None = Field(default=None, max_length=MAX_GLOBS)
    deny: list[UriGlob] | None = Field(default=None, max_length=MAX_GLOBS)


#: how many tools status records with their digests, and an approved inventory holds at most
MAX_TOOL_NAMES = 128
#: a tool's name as MCP servers give it (no glob characters)
ToolName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_./:@+-]+$")]


class ApprovedTool(Model):
    """One tool of an approved inventory: its name and the sha256 of its definition (`status.mcp.tools`)."""

    name: ToolName
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 (64 lowercase hex digits) of the tool's "
                        "definition, as status.mcp.tools.definitions[].digest gives it after `sha256:`.")  # fmt: skip


class ToolRule(Model):
    """A CEL rule over the caller's token claims for the tools its globs match: such a tool is exposed to a caller
    only when the `when` of at least one rule that matches it is true for that caller's token."""

    tools: list[NameGlob] = Field(min_length=1, max_length=MAX_GLOBS, description="Tool name globs the rule "
                                  "applies to (`*` any run of characters, `?` one).")  # fmt: skip
    when: str = Field(
        min_length=1, max_length=MAX_RULE_LENGTH,
        description="A CEL expression (the CEL of ValidatingAdmissionPolicy) that must be a bool: `claims` is the "
        "token's claims (map(string, dyn)), `tool` the tool's name, e.g. `\"mcp-writers\" in claims.groups`. An "
        "expression that fails for a caller (a claim its token lacks) counts as false.",
    )  # fmt: skip

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str) -> str:
        if (why := rule_error(value)) is not None:
            raise ValueError(f"not a CEL rule: {why}")
        return value


class ToolPolicy(Model):
    """Which tools clients may list and call, by name glob (issue 21 §2): with `allow`, only the tools it matches;
    `deny` wins over `allow`. mcpop-bridge enforces it: lists lose what is hidden, and a call of a hidden tool is
    answered with a JSON-RPC error naming the policy, never sent to the server."""

    allow: list[NameGlob] | None = Field(default=None, max_length=MAX_GLOBS)
    deny: list[NameGlob] | None = Field(default=None, max_length=MAX_GLOBS)
    rules: list[ToolRule] | None = Field(
        default=None, max_length=MAX_RULES,
        description="CEL over the caller's token claims, per tool glob (needs spec.auth.jwt); allow and deny apply "
        "first.",
    )  # fmt: skip
    approved: list[ApprovedTool] | None = Field(
        default=None, max_length=MAX_TOOL_NAMES, json_schema_extra=list_map("name"),
        description="A pinned inventory (`mcp tools approve` writes it): only these tools are exposed, and each only "
        "while its definition is the one approved; a changed or new tool is hidden and the server gets "
        "ToolsChanged=True. [] exposes no tool.",
    )  # fmt: skip
    prompts: PromptPolicy | None = None
    resources: ResourcePolicy | None = None

    @model_validator(mode="after")
    def _unique(self) -> Self:
        raise_first(duplicates(self.approved, "approved", "name"))
        return self


class GatewayParentRef(Model):
    """The Gateway (Gateway API) the route attaches to; its owner decides which namespaces' routes it admits."""

    name: DNSSubdomain
    namespace: DNSLabel | None = Field(default=None, description="The Gateway's namespace (default: the server's).")
    section_name: DNSSubdomain | None = Field(default=None, description="One listener of the Gateway, by name.")


class GatewayExposure(Model):
    """An HTTPRoute (gateway.networking.k8s.io/v1) from `hostname` + `path` on a Gateway to the server's Service;
    `status.url` becomes the external URL once the route is Accepted, and with spec.auth.jwt the RFC 9728 resource
    (and the default audience) is that URL."""

    parent_ref: GatewayParentRef
    hostname: DNSSubdomain = Field(description="The host name clients use (no wildcard).")
    path: str | None = Field(
        default=None, max_length=1024, pattern=r"^/[A-Za-z0-9/_.~%!$&'()*+,;=:@-]*$",
        description="The path prefix on the Gateway (default: the server's MCP path); another prefix is rewritten "
        "to the server's path.",
    )  # fmt: skip
    scheme: Literal["https", "http"] = Field(default="https", description="The scheme the Gateway's listener "
                                             "serves (for status.url and the RFC 9728 resource).")  # fmt: skip


class Expose(Model):
    """How the server is reached from outside the cluster, besides spec.serviceType."""

    gateway: GatewayExposure | None = None


class Audit(Model):
    """mcpop-bridge writes one JSON line per client request to its stdout (the pod's log): time, the caller's
    subject and issuer, session, method, tool, the policy's decision, latency and outcome (issue 21 §3)."""

    include_arguments: bool = Field(
        default=False, description="true: tools/call arguments are written too (they may hold what callers send in "
        "confidence)."
    )  # fmt: skip


class ServiceAccountSpec(Model):
    create: bool = True
    name: DNSSubdomain | None = None
    annotations: Annotations | None = None
    automount_token: bool = False


class ConfigSource(Model):
    """A ConfigMap or Secret mounted as files; its content is hashed so a change rolls the pods."""

    name: DNSLabel
    config_map: LocalObjectReference | None = None
    secret: LocalObjectReference | None = None
    mount_path: AbsolutePath | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.config_map is None) == (self.secret is None):
            raise ValueError(f"configSource {self.name!r} must set exactly one of configMap, secret")
        return self


class SecretRef(Model):
    """A Secret key exposed as an env var (by reference), or a whole Secret as env vars."""

    name: DNSSubdomain
    key: ConfigMapKey | None = None
    env_name: EnvName | None = None

    @model_validator(mode="after")
    def _env_name_needs_key(self) -> Self:
        if self.env_name is not None and self.key is None:
            raise ValueError(f"secretRef {self.name!r}: envName needs key")
        return self


class RollingUpdate(Model):
    max_unavailable: IntOrPercent | None = None
    max_surge: IntOrPercent | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if percent_over_100(self.max_unavailable):
            raise FieldError(("maxUnavailable",), "must not be greater than 100%")
        both = self.max_unavailable is not None and self.max_surge is not None
        if both and is_zero(self.max_unavailable) and is_zero(self.max_surge):
            raise FieldError(("maxUnavailable",), "may not be 0 when maxSurge is 0 (the rollout could not progress)")
        return self


class DeploymentStrategy(Model):
    type: Literal["Recreate", "RollingUpdate"] = "RollingUpdate"
    rolling_update: RollingUpdate | None = None

    @model_validator(mode="after")
    def _recreate_has_no_rolling(self) -> Self:
        if self.type == "Recreate" and self.rolling_update is not None:
            raise ValueError("rollingUpdate may only be set when type is RollingUpdate")
        return self


def _same_if_both(f: str) -> dict[str, str]:
    return cel(
        f"!has(self.runtime) || !has(self.runtime.{f}) || !has(self.{f}) || self.{f} == self.runtime.{f}",
        f"{f} and runtime.{f} are both set and differ; set one of them",
        f".runtime.{f}",
    )


_SPEC_RULES = [
    cel(
        "has(self.image) || (has(self.runtime) && has(self.runtime.image)) || has(self.registry) || "
        "(has(self.transport) && has(self.transport.type) && self.transport.type == 'stdio' && "
        "(has(self.command) || (has(self.runtime) && has(self.runtime.command))))",
        "one of image, runtime.image or registry.name is required (a stdio server may give only "
        "a command, run inside the bridge image)",
        reason="FieldValueRequired",
    ),
    *(_same_if_both(f) for f in ("image", "port", "command", "args")),
]


class MCPServerSpec(Model):
    """Desired state of an MCP server. Flat (README) and `runtime` forms normalise to one."""

    model_config = with_cel(*_SPEC_RULES)

    # flat form
    image: ImageRef | None = None
    tag: str = Field(default="latest", min_length=1, max_length=128, pattern=TAG)
    port: PortNumber | None = None
    command: list[Arg] | None = Field(default=None, max_length=64)
    args: list[Arg] | None = Field(default=None, max_length=256)
    env: list[EnvVar] | None = Field(default=None, json_schema_extra=list_map("name"))
    resources: ResourceRequirements = Field(default_factory=default_resources)
    replicas: Int32 = Field(default=1, ge=0)
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    # runtime / registry form
    runtime: Runtime | None = None
    registry: RegistryRef | None = None
    transport: Transport | None = None
    ports: list[ServicePort] | None = Field(default=None, json_schema_extra=list_map("name"))
    gateway: Gateway | None = None
    expose: Expose | None = None
    auth: Auth | None = None
    tools: ToolPolicy | None = None
    audit: Audit | None = None
    network: Network | None = None
    # pod
    node_selector: Labels | None = None
    tolerations: list[Toleration] | None = None
    affinity: Affinity | None = None
    security_context: SecurityContext = Field(default_factory=SecurityContext)
    service_account: ServiceAccountSpec | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = Field(default=None, json_schema_extra=list_map("name"))
    pod_labels: Labels | None = None
    pod_annotations: Annotations | None = None
    probes: Probes | None = None
    config: Annotated[FreeForm, BeforeValidator(refuse_plain_timestamps)] | None = None
    volumes: list[Volume] | None = Field(default=None, json_schema_extra=list_map("name"))
    volume_mounts: list[VolumeMount] | None = Field(default=None, json_schema_extra=list_map("mountPath"))
    config_sources: list[ConfigSource] | None = Field(default=None, json_schema_extra=list_map("name"))
    env_from: list[EnvFromSource] | None = None
    secret_refs: list[SecretRef] | None = None
    deployment_strategy: DeploymentStrategy | None = None
    termination_grace_period_seconds: Int64 | None = Field(default=None, ge=0)
    pre_stop_sleep_seconds: Int64 | None = Field(default=None, ge=1)
    # features
    autoscaling: Autoscaling | None = None
    tenancy: Tenancy | None = None
    istio: Istio | None = None
    monitoring: Monitoring | None = None
    pod_disruption_budget: PodDisruptionBudgetSpec | None = None

    @field_validator("resources", mode="after")
    @classmethod
    def _per_field_defaults(cls, value: ResourceRequirements) -> ResourceRequirements:
        """A partial `resources` keeps the defaults of what it leaves out (`requests.cpu` alone still gets the
        memory request and both limits)."""
        req, lim = completed_resources(value.requests, value.limits)
        return value.model_copy(update={"requests": req, "limits": lim})

    @model_validator(mode="after")
    def _unique(self) -> Self:
        raise_first(
            [
                *duplicates(self.env, "env", "name"),
                *duplicates(self.ports, "ports", "name"),
                *duplicates(self.ports, "ports", "port_and_protocol", "port"),
                *duplicates(self.volumes, "volumes", "name"),
                *duplicates(self.volume_mounts, "volumeMounts", "mount_path", "mountPath"),
                *duplicates(self.config_sources, "configSources", "name"),
                *duplicates(self.image_pull_secrets, "imagePullSecrets", "name"),
            ]
        )
        return self

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        problems: list[str] = []
        rt = self.runtime
        if rt is not None:
            for field in ("image", "command", "args", "env", "port"):
                flat, nested = getattr(self, field), getattr(rt, field)
                if flat is not None and nested is not None and flat != nested:
                    problems.append(f"{field} and runtime.{field} are both set and differ; set one of them")
        if self.transport is not None and self.transport.port is not None:
            other = self.port if self.port is not None else (rt.port if rt else None)
            if other is not None and other != self.transport.port:
                problems.append("transport.port differs from port/runtime.port; set one of them")
        stdio_command = (self.transport is not None and self.transport.type == "stdio") and (
            self.command is not None or (rt is not None and rt.command is not None)
        )
        if self.image is None and (rt is None or rt.image is None) and self.registry is None and not stdio_command:
            problems.append(
                "one of image, runtime.image or registry.name is required (a stdio server may give only "
                "a command, run inside the bridge image)"
            )
        if self.resources.requests and self.resources.limits:
            for res, req in self.resources.requests.items():
                lim = self.resources.limits.get(res)
                if lim is not None and quantity_value(req) > quantity_value(lim):
                    problems.append(f"resources.requests.{res} ({req}) exceeds resources.limits.{res} ({lim})")
        if self.volume_mounts:
            declared = {v.name for v in self.volumes or []}
            for m in self.volume_mounts:
                if m.name not in declared:
                    problems.append(f"volumeMounts: {m.name!r} names no entry of volumes")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def repeated(*lists: tuple[str, list[str] | None]) -> list[FieldError]:
    """A FieldError for each value of the named lists that an earlier entry of the same list already has."""
    return [FieldError((name, i), f"duplicate {v!r}") for name, values in lists
            for i, v in enumerate(values or []) if v in (values or [])[:i]]  # fmt: skip


def duplicates(items: list[Any] | None, field: str, attr: str, wire: str | None = None) -> list[FieldError]:
    """A FieldError for each entry of `items` whose `attr` an earlier entry already has."""
    out: list[FieldError] = []
    seen: dict[object, int] = {}
    for i, item in enumerate(items or []):
        value = getattr(item, attr)
        if value in seen:
            name = wire or attr
            out.append(FieldError((field, i, name), f"duplicate {name} {value!r} (also {field}[{seen[value]}].{name})"))
        else:
            seen[value] = i
    return out


class RegistryStatus(Model):
    name: str | None = None
    version: str | None = None
    package: str | None = None
    digest: str | None = None
    description: str | None = None
    repository: str | None = None


class MCPImplementation(Model):
    """The `serverInfo` an MCP server reports in its handshake."""

    name: str | None = None
    version: str | None = None


class MCPToolDigest(Model):
    """One tool and the digest of its definition (name, title, description, input and output schema,
    annotations; canonical JSON, sha256)."""

    name: str
    digest: str


class MCPTools(Model):
    """The tools an MCP server lists: how many, the first 128 names (sorted) with their definitions' digests,
    and one digest over all of them, so a changed description or schema shows in status."""

    count: int = Field(ge=0)
    names: list[str] | None = Field(default=None, max_length=MAX_TOOL_NAMES)
    #: sha256 over every tool's name and definition digest (all tools, not only the first 50)
    digest: str | None = None
    definitions: list[MCPToolDigest] | None = Field(default=None, max_length=MAX_TOOL_NAMES)


class MCPHandshake(Model):
    """What the operator learnt speaking MCP to the server through its Service (the `Verified` condition)."""

    protocol_version: str | None = None
    server_info: MCPImplementation | None = None
    #: the capabilities the server announced, as it sent them
    capabilities: FreeForm | None = None
    #: present when the server announced the tools capability
    tools: MCPTools | None = None


class MCPServerStatus(Model):
    #: Remote: a remote-only registry entry; nothing runs in the cluster, `url` is the remote endpoint
    phase: Literal["Pending", "Running", "Remote", "Failed", "Terminating"] | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    selector: str | None = None
    image: str | None = None
    #: the tag or digest of `image` (what the TAG column shows)
    tag: str | None = None
    service_endpoint: str | None = None
    #: the in-cluster URL of the MCP endpoint, with the transport's path (a remote-only server: the remote's URL)
    url: str | None = None
    #: the transport the Service speaks: streamable-http or sse (a stdio server is served by the bridge)
    transport: str | None = None
    observed_generation: int | None = None
    registry: RegistryStatus | None = None
    #: the last successful MCP handshake through the Service (see the `Verified` condition)
    mcp: MCPHandshake | None = None
    conditions: list[Condition] | None = Field(default=None, json_schema_extra=list_map("type"))


class MCPServer(Model):
    """An MCP server on Kubernetes."""

    api_version: Literal["mcp.allbeone.io/v1"] = "mcp.allbeone.io/v1"
    kind: Literal["MCPServer"] = "MCPServer"
    metadata: ObjectMeta
    spec: MCPServerSpec
    status: MCPServerStatus | None = None


__all__ = ["DEFAULT_PATH", "DEFAULT_PORT", "DEFAULT_SSE_PATH", "MCPServer", "MCPServerSpec", "Quantity"]
