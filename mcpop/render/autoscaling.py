"""HorizontalPodAutoscaler (`autoscaling/v2`) and VerticalPodAutoscaler (`autoscaling.k8s.io/v1`).

An HPA is rendered only when `autoscaling.hpa.enabled` (the original created one even when disabled);
it then owns the replica count, so the Deployment leaves `replicas` out. HPA and VPA acting on the same
resource are rejected by the API model (`Autoscaling`), not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcpop.render.options import RenderOptions
from mcpop.render.workload import meta

if TYPE_CHECKING:
    from mcpop.api.features import HPA, VPA, Autoscaling

TARGET_API = "apps/v1"


def hpa_active(autoscaling: Autoscaling | None, options: RenderOptions) -> bool:
    """Whether an HPA is rendered (asked for and the feature switched on)."""
    return bool(autoscaling and autoscaling.hpa and autoscaling.hpa.enabled and options.enable_hpa)


def _utilization(resource: str, percent: int) -> dict[str, Any]:
    return {"type": "Resource", "resource": {
        "name": resource, "target": {"type": "Utilization", "averageUtilization": percent}}}  # fmt: skip


def horizontal_pod_autoscaler(name: str, namespace: str, labels: dict[str, str], hpa: HPA) -> dict[str, Any]:
    """An HPA scaling the Deployment `name`; CPU 80% when no target or metric is given."""
    metrics: list[dict[str, Any]] = []
    if hpa.target_cpu_utilization_percentage is not None:
        metrics.append(_utilization("cpu", hpa.target_cpu_utilization_percentage))
    if hpa.target_memory_utilization_percentage is not None:
        metrics.append(_utilization("memory", hpa.target_memory_utilization_percentage))
    metrics += [m.kube() for m in hpa.metrics or []]
    if not metrics:
        metrics.append(_utilization("cpu", 80))
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": TARGET_API, "kind": "Deployment", "name": name},
        "minReplicas": hpa.min_replicas,
        "maxReplicas": hpa.max_replicas,
        "metrics": metrics,
    }
    if hpa.behavior is not None and hpa.behavior.wire():
        spec["behavior"] = hpa.behavior.wire()
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": meta(name, namespace, labels), "spec": spec}  # fmt: skip


def vertical_pod_autoscaler(name: str, namespace: str, labels: dict[str, str], vpa: VPA) -> dict[str, Any]:
    """A VPA for the Deployment `name` with the given update mode and container policies."""
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": TARGET_API, "kind": "Deployment", "name": name},
        "updatePolicy": {"updateMode": vpa.update_mode},
    }
    if vpa.resource_policy is not None and vpa.resource_policy.wire():
        spec["resourcePolicy"] = vpa.resource_policy.wire()
    return {"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
            "metadata": meta(name, namespace, labels), "spec": spec}  # fmt: skip


def autoscalers(
    name: str, namespace: str, labels: dict[str, str], autoscaling: Autoscaling | None, options: RenderOptions
) -> tuple[list[dict[str, Any]], list[str]]:
    """The HPA and VPA asked for, and a warning for each one a feature switch turned off."""
    objects: list[dict[str, Any]] = []
    warnings: list[str] = []
    if autoscaling is None:
        return objects, warnings
    hpa, vpa = autoscaling.hpa, autoscaling.vpa
    if hpa is not None and hpa.enabled:
        if options.enable_hpa:
            objects.append(horizontal_pod_autoscaler(name, namespace, labels, hpa))
        else:
            warnings.append(
                "autoscaling.hpa is enabled but HPA support is switched off (ENABLE_HPA_SUPPORT=false): "
                "no HorizontalPodAutoscaler rendered; the Deployment keeps spec.replicas"
            )
    if vpa is not None and vpa.enabled:
        if options.enable_vpa:
            objects.append(vertical_pod_autoscaler(name, namespace, labels, vpa))
        else:
            warnings.append(
                "autoscaling.vpa is enabled but VPA support is switched off (ENABLE_VPA_SUPPORT=false): "
                "no VerticalPodAutoscaler rendered"
            )
    return objects, warnings
