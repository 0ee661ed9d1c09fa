"""The Kubernetes core/v1 types MCPServer embeds, as pydantic models.

Only the fields users set in an MCPServer are modelled; each keeps its Kubernetes name and meaning, so
a snippet copied from a Pod spec validates here and renders unchanged.
"""

import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from mcpop.api.base import C_IDENTIFIER_ENV, DNSLabel, DNSSubdomain, Model, Quantity, cel, with_cel
from mcpop.api.validation import (
    AbsolutePath,
    ConfigMapKey,
    EnvName,
    FieldError,
    Int32,
    Int64,
    LabelKey,
    Labels,
    PortName,
    PortNumber,
    PortOrName,
    RelativePath,
    UnixID,
    check_label_value,
    check_qualified_name,
    refuse_plain_timestamp,
)

#: The pod fields an env var's fieldRef may name (as the apiserver allows for env, not for volumes).
FIELD_REF_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
_FIELD_REF_SUBSCRIPT = re.compile(r"metadata\.(labels|annotations)\['([^'\]]+)'\]")
RESOURCE_FIELD_REFS = tuple(
    f"{kind}.{res}" for kind in ("limits", "requests") for res in ("cpu", "memory", "ephemeral-storage")
)
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
Mode = Annotated[int, Field(ge=0, le=0o777)]


def list_map(*keys: str) -> dict[str, Any]:
    """Schema markers for a list merged by key under server-side apply."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


class LocalObjectReference(Model):
    name: DNSSubdomain


class SecretKeySelector(Model):
    name: DNSSubdomain
    key: ConfigMapKey
    optional: bool | None = None


class ConfigMapKeySelector(Model):
    name: DNSSubdomain
    key: ConfigMapKey
    optional: bool | None = None


def _check_field_path(value: str) -> str:
    subscript = _FIELD_REF_SUBSCRIPT.fullmatch(value)
    if subscript is not None:
        check_qualified_name(subscript.group(2))
        return value
    if value not in FIELD_REF_PATHS:
        raise ValueError(
            f"{value!r} is not a supported field path; use one of {', '.join(FIELD_REF_PATHS)}, "
            "metadata.labels['KEY'] or metadata.annotations['KEY']"
        )
    return value


class ObjectFieldSelector(Model):
    api_version: Literal["v1"] | None = None
    field_path: Annotated[str, AfterValidator(_check_field_path), Field(min_length=1)]


class ResourceFieldSelector(Model):
    container_name: DNSLabel | None = None
    resource: Literal[RESOURCE_FIELD_REFS]  # type: ignore[valid-type]
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
    name: EnvName
    value: Annotated[str, BeforeValidator(refuse_plain_timestamp)] | None = None
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
    prefix: str | None = Field(default=None, pattern=C_IDENTIFIER_ENV)
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.config_map_ref is None) == (self.secret_ref is None):
            raise ValueError("envFrom entry must set exactly one of configMapRef, secretRef")
        return self


def _check_resource_name(value: str) -> str:
    check_qualified_name(value, "resource name")
    if "/" not in value and value not in STANDARD_CONTAINER_RESOURCES and not value.startswith("hugepages-"):
        raise ValueError(
            f"{value!r} is not a container resource: use cpu, memory, ephemeral-storage, hugepages-<size> "
            "or a domain-prefixed extended resource (such as 'nvidia.com/gpu')"
        )
    return value


ResourceName = Annotated[str, AfterValidator(_check_resource_name)]


class ResourceRequirements(Model):
    requests: dict[ResourceName, Quantity] | None = None
    limits: dict[ResourceName, Quantity] | None = None


class KeyToPath(Model):
    key: ConfigMapKey
    path: RelativePath = Field(max_length=4096)
    mode: Mode | None = None


def _unique_paths(items: list[KeyToPath] | None) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items or []):
        if item.path in seen:
            raise FieldError(("items", i, "path"), f"duplicate path {item.path!r} (also items[{seen[item.path]}])")
        seen[item.path] = i


class ConfigMapVolumeSource(Model):
    name: DNSSubdomain
    items: list[KeyToPath] | None = None
    default_mode: Mode | None = None
    optional: bool | None = None

    @model_validator(mode="after")
    def _unique(self) -> Self:
        _unique_paths(self.items)
        return self


class SecretVolumeSource(Model):
    secret_name: DNSSubdomain
    items: list[KeyToPath] | None = None
    default_mode: Mode | None = None
    optional: bool | None = None

    @model_validator(mode="after")
    def _unique(self) -> Self:
        _unique_paths(self.items)
        return self


class EmptyDirVolumeSource(Model):
    medium: Literal["", "Memory"] | None = None
    size_limit: Quantity | None = None


class PersistentVolumeClaimVolumeSource(Model):
    claim_name: DNSSubdomain
    read_only: bool | None = None


class HostPathVolumeSource(Model):
    path: AbsolutePath
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
    expiration_seconds: int | None = Field(default=None, ge=600, le=2**32)
    path: RelativePath


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
    default_mode: Mode | None = None


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
    sub_path: RelativePath | None = None
    read_only: bool | None = None


class ContainerPort(Model):
    name: PortName | None = None
    container_port: PortNumber
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None


HTTP_TOKEN = r"^[-A-Za-z0-9!#$%&'*+.^_`|~]+$"


class HTTPHeader(Model):
    name: str = Field(min_length=1, pattern=HTTP_TOKEN)
    value: str


class HTTPGetAction(Model):
    path: str | None = None
    port: PortOrName
    scheme: Literal["HTTP", "HTTPS"] | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(Model):
    port: PortOrName


class ExecAction(Model):
    command: list[str] = Field(min_length=1)


class GRPCAction(Model):
    port: PortNumber
    service: str | None = None


class Probe(Model):
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec: ExecAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: Int32 | None = Field(default=None, ge=0)
    period_seconds: Int32 | None = Field(default=None, ge=1)
    timeout_seconds: Int32 | None = Field(default=None, ge=1)
    success_threshold: Int32 | None = Field(default=None, ge=1)
    failure_threshold: Int32 | None = Field(default=None, ge=1)
    termination_grace_period_seconds: Int64 | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_handler(self) -> Self:
        handlers = [self.http_get, self.tcp_socket, self.exec, self.grpc]
        if sum(h is not None for h in handlers) > 1:
            raise ValueError("a probe sets at most one of httpGet, tcpSocket, exec, grpc")
        return self


class Probes(Model):
    """Liveness, readiness and startup probes; each replaces the default of its kind."""

    model_config = with_cel(
        *(
            cel(
                f"!has(self.{kind}) || !has(self.{kind}.successThreshold) || self.{kind}.successThreshold == 1",
                f"{kind}.successThreshold must be 1",
                f".{kind}.successThreshold",
            )
            for kind in ("liveness", "startup")
        )
    )

    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None

    @model_validator(mode="after")
    def _thresholds(self) -> Self:
        for kind, probe in (("liveness", self.liveness), ("startup", self.startup)):
            if probe is not None and probe.success_threshold not in (None, 1):
                raise FieldError((kind, "successThreshold"), f"must be 1 for a {kind} probe")
        if self.readiness is not None and self.readiness.termination_grace_period_seconds is not None:
            raise FieldError(("readiness", "terminationGracePeriodSeconds"), "must not be set for a readiness probe")
        return self


class Toleration(Model):
    key: LabelKey | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: Int64 | None = None

    @model_validator(mode="after")
    def _combination(self) -> Self:
        if not self.key and self.operator != "Exists":
            raise FieldError(("operator",), "must be Exists when key is empty (a toleration matching every taint)")
        if self.operator == "Exists" and self.value:
            raise FieldError(("value",), "must be empty when operator is Exists")
        if self.operator != "Exists" and self.value:
            try:
                check_label_value(self.value)
            except ValueError as exc:
                raise FieldError(("value",), str(exc)) from None
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise FieldError(("effect",), "must be NoExecute when tolerationSeconds is set")
        return self


def _values_for(operator: str, values: list[str] | None, extra: tuple[str, ...] = ()) -> None:
    if operator in ("In", "NotIn") and not values:
        raise FieldError(("values",), f"must be non-empty when operator is {operator}")
    if operator in ("Exists", "DoesNotExist") and values:
        raise FieldError(("values",), f"must be empty when operator is {operator}")
    if operator in ("Gt", "Lt") and (len(values or []) != 1 or not re.fullmatch(r"-?[0-9]+", (values or [""])[0])):
        raise FieldError(("values",), f"must be a single integer when operator is {operator}")
    for i, value in enumerate(values or []):
        try:
            check_label_value(value)
        except ValueError as exc:
            raise FieldError(("values", i), str(exc)) from None


class LabelSelectorRequirement(Model):
    key: LabelKey
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None

    @model_validator(mode="after")
    def _values(self) -> Self:
        _values_for(self.operator, self.values)
        return self


class LabelSelector(Model):
    match_labels: Labels | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class NodeSelectorRequirement(Model):
    key: LabelKey
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = None

    @model_validator(mode="after")
    def _values(self) -> Self:
        _values_for(self.operator, self.values)
        return self


class NodeFieldSelectorRequirement(Model):
    """A matchFields entry: the apiserver supports only `metadata.name In|NotIn [one name]`."""

    key: Literal["metadata.name"]
    operator: Literal["In", "NotIn"]
    values: list[str] = Field(min_length=1, max_length=1)


class NodeSelectorTerm(Model):
    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeFieldSelectorRequirement] | None = None


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
    namespaces: list[DNSLabel] | None = None
    namespace_selector: LabelSelector | None = None
    topology_key: LabelKey


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
    model_config = with_cel(
        cel(
            "self.type == 'Localhost' ? has(self.localhostProfile) : !has(self.localhostProfile)",
            "localhostProfile is required when type is Localhost, and must not be set otherwise",
            ".localhostProfile",
        )
    )

    type: Literal["RuntimeDefault", "Localhost", "Unconfined"]
    localhost_profile: RelativePath | None = None

    @model_validator(mode="after")
    def _profile_for_localhost(self) -> Self:
        if self.type == "Localhost" and not self.localhost_profile:
            raise FieldError(("localhostProfile",), "is required when type is Localhost")
        if self.type != "Localhost" and self.localhost_profile is not None:
            raise FieldError(("localhostProfile",), f"must not be set when type is {self.type}")
        return self


class SecurityContext(Model):
    """Container and pod security settings in one object, as the original API had it.

    Pod-level fields (fsGroup, supplementalGroups) go to the pod; the rest to each container.
    """

    model_config = with_cel(
        cel("!(has(self.runAsNonRoot) && self.runAsNonRoot && has(self.runAsUser) && self.runAsUser == 0)",
            "runAsNonRoot: true with runAsUser: 0 can never start (the kubelet refuses to run it as root): set "
            "runAsUser to a non-zero id or clear runAsNonRoot", ".runAsUser"),
    )  # fmt: skip

    run_as_non_root: bool | None = True
    run_as_user: UnixID | None = 1000
    run_as_group: UnixID | None = None
    fs_group: UnixID | None = None
    supplemental_groups: list[UnixID] | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    privileged: bool | None = None
    capabilities: Capabilities | None = None
    seccomp_profile: SeccompProfile | None = None

    @model_validator(mode="after")
    def _root_with_non_root(self) -> Self:
        if self.run_as_non_root and self.run_as_user == 0:
            raise FieldError(
                ("runAsUser",),
                "runAsNonRoot: true with runAsUser: 0 can never start (the kubelet "
                "refuses to run it as root): set runAsUser to a non-zero id or clear runAsNonRoot",
            )
        return self
