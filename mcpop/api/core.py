"""The Kubernetes core/v1 types MCPServer embeds, as pydantic models.

Only the fields users set in an MCPServer are modelled; each keeps its Kubernetes name and meaning, so
a snippet copied from a Pod spec validates here and renders unchanged.
"""

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from mcpop.api.base import C_IDENTIFIER_ENV, DNSLabel, DNSSubdomain, IntOrString, Model, Quantity


def list_map(*keys: str) -> dict[str, Any]:
    """Schema markers for a list merged by key under server-side apply."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


class LocalObjectReference(Model):
    name: DNSSubdomain


class SecretKeySelector(Model):
    name: DNSSubdomain
    key: str = Field(min_length=1, max_length=253)
    optional: bool | None = None


class ConfigMapKeySelector(Model):
    name: DNSSubdomain
    key: str = Field(min_length=1, max_length=253)
    optional: bool | None = None


class ObjectFieldSelector(Model):
    api_version: str | None = None
    field_path: str = Field(min_length=1)


class ResourceFieldSelector(Model):
    container_name: str | None = None
    resource: str = Field(min_length=1)
    divisor: Quantity | None = None


class EnvVarSource(Model):
    secret_key_ref: SecretKeySelector | None = None
    config_map_key_ref: ConfigMapKeySelector | None = None
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [n for n, v in self if v is not None]
        if len(chosen) != 1:
            raise ValueError(
                "valueFrom must set exactly one of secretKeyRef, configMapKeyRef, fieldRef, "
                f"resourceFieldRef (got {len(chosen)})"
            )
        return self


class EnvVar(Model):
    name: str = Field(min_length=1, pattern=C_IDENTIFIER_ENV)
    value: str | None = None
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _value_or_source(self) -> Self:
        if self.value is not None and self.value_from is not None:
            raise ValueError(f"env {self.name!r}: set either value or valueFrom, not both")
        return self


class ConfigMapEnvSource(Model):
    name: DNSSubdomain
    optional: bool | None = None


class SecretEnvSource(Model):
    name: DNSSubdomain
    optional: bool | None = None


class EnvFromSource(Model):
    prefix: str | None = None
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.config_map_ref is None) == (self.secret_ref is None):
            raise ValueError("envFrom entry must set exactly one of configMapRef, secretRef")
        return self


class ResourceRequirements(Model):
    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None


class KeyToPath(Model):
    key: str = Field(min_length=1)
    path: str = Field(min_length=1)
    mode: int | None = Field(default=None, ge=0, le=0o777)


class ConfigMapVolumeSource(Model):
    name: DNSSubdomain
    items: list[KeyToPath] | None = None
    default_mode: int | None = Field(default=None, ge=0, le=0o777)
    optional: bool | None = None


class SecretVolumeSource(Model):
    secret_name: DNSSubdomain
    items: list[KeyToPath] | None = None
    default_mode: int | None = Field(default=None, ge=0, le=0o777)
    optional: bool | None = None


class EmptyDirVolumeSource(Model):
    medium: Literal["", "Memory"] | None = None
    size_limit: Quantity | None = None


class PersistentVolumeClaimVolumeSource(Model):
    claim_name: DNSSubdomain
    read_only: bool | None = None


class HostPathVolumeSource(Model):
    path: str = Field(min_length=1, pattern=r"^/")
    type: (
        Literal[
            "",
            "DirectoryOrCreate",
            "Directory",
            "FileOrCreate",
            "File",
            "Socket",
            "CharDevice",
            "BlockDevice",
        ]
        | None
    ) = None


class ServiceAccountTokenProjection(Model):
    audience: str | None = None
    expiration_seconds: int | None = Field(default=None, ge=600)
    path: str = Field(min_length=1)


class ConfigMapProjection(Model):
    name: DNSSubdomain
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class SecretProjection(Model):
    name: DNSSubdomain
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class VolumeProjection(Model):
    service_account_token: ServiceAccountTokenProjection | None = None
    config_map: ConfigMapProjection | None = None
    secret: SecretProjection | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if sum(v is not None for _, v in self) != 1:
            raise ValueError("a projected source must set exactly one of serviceAccountToken, configMap, secret")
        return self


class ProjectedVolumeSource(Model):
    sources: list[VolumeProjection] = Field(min_length=1)
    default_mode: int | None = Field(default=None, ge=0, le=0o777)


class Volume(Model):
    name: DNSLabel
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    projected: ProjectedVolumeSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        kinds = [n for n, v in self if n != "name" and v is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"volume {self.name!r} must set exactly one of configMap, secret, emptyDir, "
                f"persistentVolumeClaim, hostPath, projected (got {len(kinds)})"
            )
        return self


class VolumeMount(Model):
    name: DNSLabel
    mount_path: str = Field(min_length=1, pattern=r"^/")
    sub_path: str | None = None
    read_only: bool | None = None


class ContainerPort(Model):
    name: str | None = Field(default=None, max_length=15, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    container_port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None


class HTTPHeader(Model):
    name: str = Field(min_length=1)
    value: str


class HTTPGetAction(Model):
    path: str | None = None
    port: IntOrString
    scheme: Literal["HTTP", "HTTPS"] | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(Model):
    port: IntOrString


class ExecAction(Model):
    command: list[str] = Field(min_length=1)


class GRPCAction(Model):
    port: int = Field(ge=1, le=65535)
    service: str | None = None


class Probe(Model):
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec: ExecAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int | None = Field(default=None, ge=0)
    period_seconds: int | None = Field(default=None, ge=1)
    timeout_seconds: int | None = Field(default=None, ge=1)
    success_threshold: int | None = Field(default=None, ge=1)
    failure_threshold: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_handler(self) -> Self:
        handlers = [self.http_get, self.tcp_socket, self.exec, self.grpc]
        if sum(h is not None for h in handlers) > 1:
            raise ValueError("a probe sets at most one of httpGet, tcpSocket, exec, grpc")
        return self


class Probes(Model):
    """Liveness, readiness and startup probes; each replaces the default of its kind."""

    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None


class Toleration(Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class LabelSelectorRequirement(Model):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(Model):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class NodeSelectorRequirement(Model):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = None


class NodeSelectorTerm(Model):
    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeSelectorRequirement] | None = None


class NodeSelector(Model):
    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1)


class PreferredSchedulingTerm(Model):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = None


class PodAffinityTerm(Model):
    label_selector: LabelSelector | None = None
    namespaces: list[str] | None = None
    namespace_selector: LabelSelector | None = None
    topology_key: str = Field(min_length=1)


class WeightedPodAffinityTerm(Model):
    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(Model):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = None


class Affinity(Model):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


class Capabilities(Model):
    add: list[str] | None = None
    drop: list[str] | None = None


class SeccompProfile(Model):
    type: Literal["RuntimeDefault", "Localhost", "Unconfined"]
    localhost_profile: str | None = None


class SecurityContext(Model):
    """Container and pod security settings in one object, as the original API had it.

    Pod-level fields (fsGroup, supplementalGroups) go to the pod; the rest to each container.
    """

    run_as_non_root: bool | None = True
    run_as_user: int | None = Field(default=1000, ge=0)
    run_as_group: int | None = Field(default=None, ge=0)
    fs_group: int | None = Field(default=None, ge=0)
    supplemental_groups: list[int] | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    privileged: bool | None = None
    capabilities: Capabilities | None = None
    seccomp_profile: SeccompProfile | None = None
