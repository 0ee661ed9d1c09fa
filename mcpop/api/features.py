"""Optional MCPServer features: autoscaling, tenancy, Istio, monitoring, disruption budget."""

from typing import Literal, Self

from pydantic import Field, model_validator

from mcpop.api.base import DNSLabel, FreeForm, IntOrString, Model, Quantity, cel, with_cel
from mcpop.api.core import LabelSelector

Duration = str
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


class ScalingPolicy(Model):
    type: Literal["Pods", "Percent"]
    value: int = Field(ge=1)
    period_seconds: int = Field(ge=1, le=1800)


class ScalingRules(Model):
    stabilization_window_seconds: int | None = Field(default=None, ge=0, le=3600)
    select_policy: Literal["Max", "Min", "Disabled"] | None = None
    policies: list[ScalingPolicy] | None = None


class HPABehavior(Model):
    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


class MetricSpec(Model):
    """An autoscaling/v2 MetricSpec; the source object is passed through as written."""

    type: Literal["Resource", "Pods", "Object", "External", "ContainerResource"]
    resource: FreeForm | None = None
    pods: FreeForm | None = None
    object: FreeForm | None = None
    external: FreeForm | None = None
    container_resource: FreeForm | None = None

    @model_validator(mode="after")
    def _source_matches_type(self) -> Self:
        key = self.type[0].lower() + self.type[1:]
        field = {"containerResource": "container_resource"}.get(key, key)
        if getattr(self, field) is None:
            raise ValueError(f"metric of type {self.type} needs the {key!r} field")
        others = [n for n, v in self if n not in ("type", field) and v is not None]
        if others:
            raise ValueError(f"metric of type {self.type} must not set {', '.join(sorted(others))}")
        return self


class HPA(Model):
    model_config = with_cel(
        cel(
            "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
            "minReplicas must not exceed maxReplicas",
            ".minReplicas",
        )
    )

    enabled: bool = False
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=10, ge=1)
    target_cpu_utilization_percentage: int | None = Field(default=None, ge=1, alias="targetCPUUtilizationPercentage")
    target_memory_utilization_percentage: int | None = Field(default=None, ge=1)
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
        source = metric.resource or metric.container_resource or {}
        resource = source.get("name")
        if isinstance(resource, str) and resource in ("cpu", "memory"):
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
    pods: int | None = Field(default=None, ge=0)
    services: int | None = Field(default=None, ge=0)
    persistent_volume_claims: int | None = Field(default=None, ge=0)
    config_maps: int | None = Field(default=None, ge=0)
    secrets: int | None = Field(default=None, ge=0)


class TenantNetworkPolicy(Model):
    enabled: bool = True
    allowed_namespaces: list[DNSLabel] | None = None
    allowed_pods: list[LabelSelector] | None = None
    ingress_rules: list[FreeForm] | None = None
    egress_rules: list[FreeForm] | None = None


class Tenancy(Model):
    tenant_id: DNSLabel
    isolation_level: Literal["None", "Namespace", "Node", "Strict"] = "Namespace"
    resource_quotas: ResourceQuotas | None = None
    network_policy: TenantNetworkPolicy | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class Retries(Model):
    attempts: int = Field(default=3, ge=0)
    per_try_timeout: Duration | None = Field(default=None, pattern=DURATION_PATTERN)
    retry_on: str | None = None


class VirtualServiceSpec(Model):
    host: str | None = None
    path: str | None = Field(default=None, pattern=r"^/")
    timeout: Duration | None = Field(default=None, pattern=DURATION_PATTERN)
    retries: Retries | None = None
    headers: FreeForm | None = None


class IstioTLS(Model):
    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] = "ISTIO_MUTUAL"


class ConnectionPool(Model):
    tcp: FreeForm | None = None
    http: FreeForm | None = None


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
    gateway: str | None = None
    virtual_service: VirtualServiceSpec | None = None
    destination_rule: DestinationRuleSpec | None = None
    mtls: MTLS | None = None


class Monitoring(Model):
    """A Prometheus-operator ServiceMonitor for the server's metrics endpoint."""

    enabled: bool = False
    path: str = Field(default="/metrics", pattern=r"^/")
    port: str | None = None
    interval: Duration | None = Field(default=None, pattern=DURATION_PATTERN)
    scrape_timeout: Duration | None = Field(default=None, pattern=DURATION_PATTERN)
    labels: dict[str, str] | None = None


class PodDisruptionBudgetSpec(Model):
    enabled: bool = True
    min_available: IntOrString | None = None
    max_unavailable: IntOrString | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Self:
        if self.min_available is not None and self.max_unavailable is not None:
            raise ValueError("set minAvailable or maxUnavailable, not both")
        return self
