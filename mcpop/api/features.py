"""Optional MCPServer features: autoscaling, tenancy, network, Istio, monitoring, disruption budget."""

import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from mcpop.api.base import DNSLabel, DNSSubdomain, FreeForm, Model, Quantity, cel, quantity_value, with_cel
from mcpop.api.core import LabelSelector
from mcpop.api.duration import nanoseconds
from mcpop.api.validation import (
    INT32_MAX,
    Annotations,
    FieldError,
    Int32,
    Int64,
    IntOrPercent,
    Labels,
    PortName,
    PortNumber,
    PortOrName,
    check_cidr,
    check_host,
    percent_over_100,
)

Duration = str
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


class ScalingPolicy(Model):
    type: Literal["Pods", "Percent"]
    value: Int32 = Field(ge=1)
    period_seconds: int = Field(ge=1, le=1800)


class ScalingRules(Model):
    stabilization_window_seconds: int | None = Field(default=None, ge=0, le=3600)
    select_policy: Literal["Max", "Min", "Disabled"] | None = None
    policies: list[ScalingPolicy] | None = None


class HPABehavior(Model):
    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


def _check_metric_name(value: str) -> str:
    if value in (".", "..") or "/" in value or "%" in value:
        raise ValueError(f"{value!r} is not a metric name: it may not be '.' or '..' or contain '/' or '%'")
    return value


def _check_positive(value: str) -> str:
    if quantity_value(value) <= 0:
        raise ValueError(f"{value!r} must be positive")
    return value


PositiveQuantity = Annotated[Quantity, AfterValidator(_check_positive)]


class MetricTarget(Model):
    type: Literal["Utilization", "Value", "AverageValue"]
    value: PositiveQuantity | None = None
    average_value: PositiveQuantity | None = None
    average_utilization: Int32 | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _value_for_type(self) -> Self:
        need = {"Utilization": "averageUtilization", "Value": "value", "AverageValue": "averageValue"}[self.type]
        if getattr(self, re.sub(r"([A-Z])", r"_\1", need).lower()) is None:
            raise FieldError((need,), f"is required when type is {self.type}")
        return self


class MetricIdentifier(Model):
    name: Annotated[str, AfterValidator(_check_metric_name), Field(min_length=1)]
    selector: LabelSelector | None = None


class CrossVersionObjectReference(Model):
    api_version: str | None = None
    kind: str = Field(min_length=1)
    name: DNSSubdomain


class ResourceMetricSource(Model):
    name: str = Field(min_length=1)
    target: MetricTarget


class ContainerResourceMetricSource(Model):
    name: str = Field(min_length=1)
    container: DNSLabel
    target: MetricTarget


class PodsMetricSource(Model):
    metric: MetricIdentifier
    target: MetricTarget


class ObjectMetricSource(Model):
    described_object: CrossVersionObjectReference
    metric: MetricIdentifier
    target: MetricTarget


class ExternalMetricSource(Model):
    metric: MetricIdentifier
    target: MetricTarget


#: The target types the apiserver allows for each metric source.
_TARGET_TYPES = {
    "resource": ("Utilization", "AverageValue"),
    "container_resource": ("Utilization", "AverageValue"),
    "pods": ("AverageValue",),
    "object": ("Value", "AverageValue"),
    "external": ("Value", "AverageValue"),
}


class MetricSpec(Model):
    """An autoscaling/v2 MetricSpec, with the shape the apiserver requires of each source."""

    type: Literal["Resource", "Pods", "Object", "External", "ContainerResource"]
    resource: ResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None

    @model_validator(mode="after")
    def _source_matches_type(self) -> Self:
        key = self.type[0].lower() + self.type[1:]
        field = {"containerResource": "container_resource"}.get(key, key)
        if getattr(self, field) is None:
            raise ValueError(f"metric of type {self.type} needs the {key!r} field")
        others = [n for n, v in self if n not in ("type", field) and v is not None]
        if others:
            raise ValueError(f"metric of type {self.type} must not set {', '.join(sorted(others))}")
        target = getattr(self, field).target
        allowed = _TARGET_TYPES[field]
        if target.type not in allowed:
            raise FieldError((key, "target", "type"), f"must be {' or '.join(allowed)} for a {self.type} metric")
        if target.average_utilization is not None and target.average_value is not None:
            raise FieldError((key, "target", "averageValue"), "may not be set together with averageUtilization")
        return self

    def kube(self) -> dict[str, Any]:
        """The metric as autoscaling/v2 JSON, every field the user set kept (an empty selector too)."""
        out: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return out


class HPA(Model):
    model_config = with_cel(
        cel(
            "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
            "minReplicas must not exceed maxReplicas",
            ".minReplicas",
        )
    )

    enabled: bool = False
    min_replicas: Int32 = Field(default=1, ge=1)
    max_replicas: Int32 = Field(default=10, ge=1)
    target_cpu_utilization_percentage: Int32 | None = Field(default=None, ge=1, alias="targetCPUUtilizationPercentage")
    target_memory_utilization_percentage: Int32 | None = Field(default=None, ge=1)
    metrics: list[MetricSpec] | None = None
    behavior: HPABehavior | None = None

    @model_validator(mode="after")
    def _min_le_max(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) must not exceed maxReplicas ({self.max_replicas})")
        return self


class ContainerResourcePolicy(Model):
    container_name: str = Field(min_length=1)
    mode: Literal["Auto", "Off"] | None = None
    min_allowed: dict[str, Quantity] | None = None
    max_allowed: dict[str, Quantity] | None = None
    controlled_resources: list[Literal["cpu", "memory"]] | None = None
    controlled_values: Literal["RequestsAndLimits", "RequestsOnly"] | None = None

    @model_validator(mode="after")
    def _min_le_max(self) -> Self:
        for res, low in (self.min_allowed or {}).items():
            high = (self.max_allowed or {}).get(res)
            if high is not None and quantity_value(low) > quantity_value(high):
                raise FieldError(("minAllowed", res), f"{low} is more than maxAllowed.{res} ({high})")
        return self


class VPAResourcePolicy(Model):
    container_policies: list[ContainerResourcePolicy] | None = None


class VPA(Model):
    enabled: bool = False
    update_mode: Literal["Off", "Initial", "Recreate", "Auto"] = "Auto"
    resource_policy: VPAResourcePolicy | None = None


def hpa_resources(hpa: HPA) -> dict[str, str]:
    """The resources an HPA scales on, each with the field that asks for it.

    An HPA with no target and no metrics scales on CPU (80%), as Kubernetes defaults it.
    """
    out: dict[str, str] = {}
    if hpa.target_cpu_utilization_percentage is not None:
        out["cpu"] = "autoscaling.hpa.targetCPUUtilizationPercentage"
    if hpa.target_memory_utilization_percentage is not None:
        out["memory"] = "autoscaling.hpa.targetMemoryUtilizationPercentage"
    for i, metric in enumerate(hpa.metrics or []):
        source = metric.resource or metric.container_resource
        resource = source.name if source is not None else None
        if resource in ("cpu", "memory"):
            out.setdefault(resource, f"autoscaling.hpa.metrics[{i}]")
    if not out and not hpa.metrics:
        out["cpu"] = "autoscaling.hpa.targetCPUUtilizationPercentage (default 80%)"
    return out


def vpa_resources(vpa: VPA) -> set[str]:
    """The resources a VPA changes: none in updateMode Off, else the policies' controlledResources."""
    if vpa.update_mode == "Off":
        return set()
    policies = vpa.resource_policy.container_policies if vpa.resource_policy else None
    if not policies:
        return {"cpu", "memory"}
    out: set[str] = set()
    for policy in policies:
        if policy.mode != "Off":
            out |= set(policy.controlled_resources or ("cpu", "memory"))
    return out


class Autoscaling(Model):
    hpa: HPA | None = None
    vpa: VPA | None = None

    @model_validator(mode="after")
    def _hpa_vpa_disjoint(self) -> Self:
        if not (self.hpa and self.hpa.enabled and self.vpa and self.vpa.enabled):
            return self
        vpa_res = vpa_resources(self.vpa)
        clashes = [(res, field) for res, field in sorted(hpa_resources(self.hpa).items()) if res in vpa_res]
        if clashes:
            raise ValueError(
                "; ".join(
                    f"{field} and autoscaling.vpa both act on {res}: limit "
                    "autoscaling.vpa.resourcePolicy.containerPolicies[].controlledResources to resources the "
                    "HPA does not scale on, set autoscaling.vpa.updateMode to Off, or drop the HPA target"
                    for res, field in clashes
                )
            )
        return self


class ResourceQuotas(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    storage: Quantity | None = None
    pods: Int64 | None = Field(default=None, ge=0)
    services: Int64 | None = Field(default=None, ge=0)
    persistent_volume_claims: Int64 | None = Field(default=None, ge=0)
    config_maps: Int64 | None = Field(default=None, ge=0)
    secrets: Int64 | None = Field(default=None, ge=0)


CIDR = Annotated[str, AfterValidator(check_cidr)]


class IPBlock(Model):
    cidr: CIDR
    except_: list[CIDR] | None = Field(default=None, alias="except")

    @model_validator(mode="after")
    def _inside(self) -> Self:
        import ipaddress

        outer = ipaddress.ip_network(self.cidr, strict=False)
        for i, text in enumerate(self.except_ or []):
            inner = ipaddress.ip_network(text, strict=False)
            if inner.version != outer.version or not inner.subnet_of(outer) or inner == outer:  # type: ignore[arg-type]
                raise FieldError(("except", i), f"{text!r} must be a strict subset of cidr {self.cidr!r}")
        return self


class NetworkPolicyPeer(Model):
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.ip_block is not None and (self.pod_selector is not None or self.namespace_selector is not None):
            raise FieldError(("ipBlock",), "may not be combined with podSelector or namespaceSelector")
        if self.ip_block is None and self.pod_selector is None and self.namespace_selector is None:
            raise ValueError("a peer must set podSelector, namespaceSelector or ipBlock")
        return self


class NetworkPolicyPort(Model):
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None
    port: PortOrName | None = None
    end_port: PortNumber | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.end_port is not None:
            if not isinstance(self.port, int):
                raise FieldError(("endPort",), "may only be set with a numeric port")
            if self.end_port < self.port:
                raise FieldError(("endPort",), f"must be greater than or equal to port ({self.port})")
        return self


class NetworkPolicyIngressRule(Model):
    from_: list[NetworkPolicyPeer] | None = Field(default=None, alias="from")
    ports: list[NetworkPolicyPort] | None = None


class NetworkPolicyEgressRule(Model):
    ports: list[NetworkPolicyPort] | None = None
    to: list[NetworkPolicyPeer] | None = None


def kube(model: Model) -> dict[str, Any]:
    """A model as Kubernetes JSON keeping every field the user set, empty selectors included."""
    out: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


class TenantNetworkPolicy(Model):
    enabled: bool = True
    allowed_namespaces: list[DNSLabel] | None = None
    allowed_pods: list[LabelSelector] | None = None
    ingress_rules: list[NetworkPolicyIngressRule] | None = None
    egress_rules: list[NetworkPolicyEgressRule] | None = None


#: how many peers or rules `spec.network` takes (a NetworkPolicy the user writes by hand has no such need)
MAX_NETWORK_RULES = 32


class NetworkEgress(Model):
    """Where the server's pods may connect. `restricted`: nowhere but cluster DNS and `to` (NetworkPolicy egress);
    unset or false: anywhere (Kubernetes' default)."""

    model_config = with_cel(cel("!has(self.to) || size(self.to) == 0 || (has(self.restricted) && self.restricted)",
                                "to takes effect only with restricted: true", ".to"))  # fmt: skip

    restricted: bool = False
    #: the destinations allowed besides DNS: peers (CIDRs, namespace/pod selectors) with their ports
    to: list[NetworkPolicyEgressRule] | None = Field(default=None, max_length=MAX_NETWORK_RULES)

    @model_validator(mode="after")
    def _only_when_restricted(self) -> Self:
        if self.to and not self.restricted:
            raise FieldError(("to",), "takes effect only with restricted: true (without it every destination is "
                                      "allowed): set restricted: true, or remove to")  # fmt: skip
        return self


class Network(Model):
    """The server's network policy (a NetworkPolicy named `<server>-network`; enforced only by a CNI that enforces
    NetworkPolicy). Rendered when `spec.network` or `spec.auth` is set."""

    #: who may reach the MCP port (nothing else of the pods is reachable); default: pods of the server's namespace
    #: and of the operator's (its verification), or anyone for a NodePort/LoadBalancer server (its token decides)
    ingress_from: list[NetworkPolicyPeer] | None = Field(default=None, max_length=MAX_NETWORK_RULES)
    egress: NetworkEgress | None = None


class Tenancy(Model):
    tenant_id: DNSLabel
    isolation_level: Literal["None", "Namespace", "Node", "Strict"] = "Namespace"
    resource_quotas: ResourceQuotas | None = None
    network_policy: TenantNetworkPolicy | None = None
    labels: Labels | None = None
    annotations: Annotations | None = None


#: The retry policies Istio accepts in `retryOn` (its validation's list): Envoy's `x-envoy-retry-on` for HTTP
#: and `x-envoy-retry-grpc-on` for gRPC. An HTTP status code (one Go's net/http knows) is accepted too.
RETRY_ON_HTTP = ("5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
                 "refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
                 "http3-post-connect-failure")  # fmt: skip
RETRY_ON_GRPC = ("cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable")
#: the status codes Go's http.StatusText names (Istio's test for a numeric policy)
HTTP_STATUS_CODES = frozenset(
    [100, 101, 102, 103, *range(200, 209), 226, *range(300, 306), 307, 308, *range(400, 419), *range(421, 427),
     428, 429, 431, 451, *range(500, 509), 510, 511]
)  # fmt: skip


def _check_retry_on(value: str) -> str:
    for policy in value.split(","):
        if policy in RETRY_ON_HTTP or policy in RETRY_ON_GRPC:
            continue
        if policy.isascii() and policy.isdigit() and int(policy) in HTTP_STATUS_CODES:
            continue
        raise ValueError(
            f"{policy!r} is not a retry policy Istio accepts: give a comma-separated list (no spaces) of "
            f"{', '.join(RETRY_ON_HTTP)} (HTTP), {', '.join(RETRY_ON_GRPC)} (gRPC) or HTTP status codes such as 503"
        )
    return value


def _check_istio_duration(value: str) -> str:
    """Istio's rule for its durations: at least 1ms, in whole milliseconds."""
    ns = nanoseconds(value)
    if ns < 1_000_000:
        raise ValueError(f"{value!r} is shorter than 1ms; Istio requires a duration of at least 1ms")
    if ns % 1_000_000:
        raise ValueError(f"{value!r} is not a whole number of milliseconds; Istio supports ms precision only")
    return value


IstioDuration = Annotated[str, Field(pattern=DURATION_PATTERN), AfterValidator(_check_istio_duration)]
RetryOn = Annotated[
    str,
    AfterValidator(_check_retry_on),
    WithJsonSchema({"type": "string", "pattern": r"^[a-z0-9-]+(,[a-z0-9-]+)*$"}),
]
_RETRY_OFF = "attempts is 0 (retries disabled), so Istio refuses it set: remove it or set attempts"


class Retries(Model):
    attempts: Int32 = Field(default=3, ge=0)
    per_try_timeout: IstioDuration | None = None
    retry_on: RetryOn | None = None

    @model_validator(mode="after")
    def _nothing_when_disabled(self) -> Self:
        for name, value in (("perTryTimeout", self.per_try_timeout), ("retryOn", self.retry_on)):
            if self.attempts == 0 and value is not None:
                raise FieldError((name,), _RETRY_OFF)
        return self


def _check_gateway(value: str) -> str:
    namespace, slash, name = value.rpartition("/")
    if slash and not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace):
        raise ValueError(f"{value!r}: the namespace part is not a DNS-1123 label; use [namespace/]name")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name) or len(name) > 253:
        raise ValueError(f"{value!r} is not a gateway name; use [namespace/]name of a Gateway (DNS-1123)")
    return value


class VirtualServiceSpec(Model):
    host: Annotated[str, AfterValidator(check_host)] | None = None
    path: str | None = Field(default=None, pattern=r"^/")
    timeout: Duration | None = Field(default=None, pattern=DURATION_PATTERN)
    retries: Retries | None = None
    headers: FreeForm | None = None


class IstioTLS(Model):
    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] = "ISTIO_MUTUAL"


#: a connection-pool count: Istio's fields are int32 and its validation refuses negatives
PoolCount = Annotated[int, Field(ge=0, le=INT32_MAX)]


class TCPKeepalive(Model):
    probes: int | None = Field(default=None, ge=0, le=2**32 - 1)  # uint32
    time: IstioDuration | None = None
    interval: IstioDuration | None = None


def _check_idle_timeout(value: str) -> str:
    return value if nanoseconds(value) == 0 else _check_istio_duration(value)  # 0s turns the timeout off


class TCPSettings(Model):
    max_connections: PoolCount | None = None
    connect_timeout: IstioDuration | None = None
    tcp_keepalive: TCPKeepalive | None = None
    max_connection_duration: IstioDuration | None = None
    idle_timeout: Annotated[str, Field(pattern=DURATION_PATTERN), AfterValidator(_check_idle_timeout)] | None = None


class HTTPSettings(Model):
    http1_max_pending_requests: PoolCount | None = None
    http2_max_requests: PoolCount | None = None
    max_requests_per_connection: PoolCount | None = None
    max_retries: PoolCount | None = None
    idle_timeout: IstioDuration | None = None
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    use_client_protocol: bool | None = None
    max_concurrent_streams: PoolCount | None = None

    @model_validator(mode="after")
    def _upgrade_or_client_protocol(self) -> Self:
        if self.h2_upgrade_policy == "UPGRADE" and self.use_client_protocol:
            raise FieldError(
                ("useClientProtocol",), "must not be true when h2UpgradePolicy is UPGRADE (Istio refuses it)"
            )
        return self


class ConnectionPool(Model):
    """Istio's ConnectionPoolSettings, held to Istio's validation: at least one of tcp, http; counts 0 to 2^31-1."""

    model_config = with_cel(cel("has(self.tcp) || has(self.http)", "set tcp or http (Istio refuses an empty pool)"))

    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.tcp is None and self.http is None:
            raise ValueError("set tcp or http: Istio refuses a connection pool with neither")
        return self


class TrafficPolicy(Model):
    tls: IstioTLS | None = None
    connection_pool: ConnectionPool | None = None
    load_balancer: FreeForm | None = None
    outlier_detection: FreeForm | None = None


class DestinationRuleSpec(Model):
    traffic_policy: TrafficPolicy | None = None


class MTLS(Model):
    enabled: bool = False
    mode: Literal["STRICT", "PERMISSIVE"] = "STRICT"


class Istio(Model):
    enabled: bool = False
    sidecar_inject: bool = True
    gateway: Annotated[str, AfterValidator(_check_gateway)] | None = None
    virtual_service: VirtualServiceSpec | None = None
    destination_rule: DestinationRuleSpec | None = None
    mtls: MTLS | None = None


#: A Prometheus duration (`model.Duration`, the Prometheus operator's CRD pattern): whole numbers with units,
#: largest first, such as 30s, 1m or 1h30m; no fractions, no repeated unit
PROMETHEUS_DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
_PROMETHEUS_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_PROMETHEUS_PART = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")


def _check_prometheus_duration(value: str) -> str:
    if not value or not re.fullmatch(PROMETHEUS_DURATION[1:-1], value):
        raise ValueError(
            f"{value!r} is not a Prometheus duration: use whole numbers with units y, w, d, h, m, s or ms, "
            "largest first, such as 30s, 1m or 1h30m"
        )
    return value


def prometheus_seconds(value: str) -> float:
    """The length of a validated Prometheus duration, in seconds."""
    return sum(int(n) * _PROMETHEUS_UNITS[u] for n, u in _PROMETHEUS_PART.findall(value))


PrometheusDuration = Annotated[
    str,
    AfterValidator(_check_prometheus_duration),
    WithJsonSchema({"type": "string", "pattern": PROMETHEUS_DURATION}),
]


class Monitoring(Model):
    """A Prometheus-operator ServiceMonitor for the server's metrics endpoint."""

    enabled: bool = False
    path: str = Field(default="/metrics", pattern=r"^/\S*$")
    port: PortName | None = None
    interval: PrometheusDuration | None = None
    scrape_timeout: PrometheusDuration | None = None
    labels: Labels | None = None

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> Self:
        timeout, interval = self.scrape_timeout, self.interval
        if timeout is not None and interval is not None and prometheus_seconds(timeout) > prometheus_seconds(interval):
            raise FieldError(
                ("scrapeTimeout",),
                f"{timeout} is longer than interval {interval}; the Prometheus operator refuses a scrape timeout "
                "longer than its interval: use at most the interval",
            )
        return self


class PodDisruptionBudgetSpec(Model):
    enabled: bool = True
    min_available: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Self:
        if self.min_available is not None and self.max_unavailable is not None:
            raise ValueError("set minAvailable or maxUnavailable, not both")
        for name, value in (("minAvailable", self.min_available), ("maxUnavailable", self.max_unavailable)):
            if percent_over_100(value):
                raise FieldError((name,), "must not be greater than 100%")
        return self
