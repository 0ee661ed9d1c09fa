"""Autoscaling: the HPA only when enabled and owning the replica count, the VPA, the HPA/VPA conflict
rule, the PDB rule under an HPA, feature-switch warnings, and schema validity of both objects."""

from __future__ import annotations

from typing import Any

import pytest
from featurekit import assert_valid, get, server
from pydantic import ValidationError

from mcpop.render import RenderOptions, render

IMAGE = {"image": "ghcr.io/example/mcp", "tag": "1.0.0"}


def hpa_spec(**hpa: Any) -> dict[str, Any]:
    return {**IMAGE, "autoscaling": {"hpa": {"enabled": True, **hpa}}}


def test_no_hpa_unless_enabled() -> None:
    out = render(server({**IMAGE, "autoscaling": {"hpa": {"enabled": False, "maxReplicas": 5}}}))
    assert "HorizontalPodAutoscaler" not in out.kinds()
    assert get(out, "Deployment")["spec"]["replicas"] == 1


def test_deployment_omits_replicas_when_an_hpa_owns_them() -> None:
    out = render(server(hpa_spec(maxReplicas=4)))
    assert "replicas" not in get(out, "Deployment")["spec"]


def test_hpa_targets_the_deployment_with_min_max_and_utilisation() -> None:
    out = render(
        server(
            hpa_spec(
                minReplicas=2, maxReplicas=6, targetCPUUtilizationPercentage=70, targetMemoryUtilizationPercentage=80
            )
        )
    )
    hpa = get(out, "HorizontalPodAutoscaler")
    dep = get(out, "Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": dep["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["spec"]["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}
    assert_valid(out)


def test_hpa_without_targets_scales_on_cpu_80() -> None:
    hpa = get(render(server(hpa_spec())), "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
    ]


def test_custom_metrics_are_passed_through() -> None:
    metrics = [
        {
            "type": "Pods",
            "pods": {"metric": {"name": "inflight"}, "target": {"type": "AverageValue", "averageValue": "10"}},
        },
        {
            "type": "Object",
            "object": {
                "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "x"},
                "metric": {"name": "rps"},
                "target": {"type": "Value", "value": "100"},
            },
        },
        {
            "type": "External",
            "external": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "5"}},
        },
    ]
    out = render(server(hpa_spec(metrics=metrics)))
    assert get(out, "HorizontalPodAutoscaler")["spec"]["metrics"] == metrics
    assert_valid(out)


def test_behavior_policies_and_windows_are_rendered() -> None:
    behavior = {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
        },
    }
    out = render(server(hpa_spec(behavior=behavior)))
    assert get(out, "HorizontalPodAutoscaler")["spec"]["behavior"] == behavior
    assert_valid(out)


def test_pdb_follows_hpa_min_replicas_not_spec_replicas() -> None:
    assert "PodDisruptionBudget" in render(server(hpa_spec(minReplicas=2, maxReplicas=4))).kinds()
    assert "PodDisruptionBudget" not in render(server({**hpa_spec(maxReplicas=4), "replicas": 3})).kinds()


def test_vpa_renders_update_mode_and_container_policies() -> None:
    policy = {
        "containerName": "mcp-server",
        "minAllowed": {"cpu": "50m"},
        "maxAllowed": {"memory": "1Gi"},
        "controlledResources": ["cpu", "memory"],
        "controlledValues": "RequestsOnly",
    }
    out = render(
        server(
            {
                **IMAGE,
                "autoscaling": {
                    "vpa": {"enabled": True, "updateMode": "Initial", "resourcePolicy": {"containerPolicies": [policy]}}
                },
            }
        )
    )
    vpa = get(out, "VerticalPodAutoscaler")
    assert vpa["apiVersion"] == "autoscaling.k8s.io/v1"
    assert vpa["spec"]["targetRef"]["kind"] == "Deployment"
    assert vpa["spec"]["updatePolicy"] == {"updateMode": "Initial"}
    assert vpa["spec"]["resourcePolicy"] == {"containerPolicies": [policy]}
    assert_valid(out)


def test_hpa_and_vpa_on_cpu_is_an_error_naming_both_fields() -> None:
    with pytest.raises(ValidationError) as err:
        server(
            hpa_spec(targetCPUUtilizationPercentage=60)
            | {
                "autoscaling": {
                    "hpa": {"enabled": True, "targetCPUUtilizationPercentage": 60},
                    "vpa": {"enabled": True},
                }
            }
        )
    text = str(err.value)
    assert "autoscaling.hpa.targetCPUUtilizationPercentage and autoscaling.vpa both act on cpu" in text


def test_hpa_memory_and_vpa_memory_is_an_error_naming_memory() -> None:
    with pytest.raises(
        ValidationError, match=r"targetMemoryUtilizationPercentage and autoscaling\.vpa both act on memory"
    ):
        server(
            {
                **IMAGE,
                "autoscaling": {
                    "hpa": {"enabled": True, "targetMemoryUtilizationPercentage": 70},
                    "vpa": {
                        "enabled": True,
                        "resourcePolicy": {
                            "containerPolicies": [{"containerName": "mcp-server", "controlledResources": ["memory"]}]
                        },
                    },
                },
            }
        )


def test_hpa_and_vpa_on_disjoint_resources_are_allowed() -> None:
    out = render(
        server(
            {
                **IMAGE,
                "autoscaling": {
                    "hpa": {"enabled": True, "targetCPUUtilizationPercentage": 60},
                    "vpa": {
                        "enabled": True,
                        "resourcePolicy": {
                            "containerPolicies": [{"containerName": "mcp-server", "controlledResources": ["memory"]}]
                        },
                    },
                },
            }
        )
    )
    assert {"HorizontalPodAutoscaler", "VerticalPodAutoscaler"} <= set(out.kinds())


def test_vpa_in_update_mode_off_may_sit_beside_a_cpu_hpa() -> None:
    server({**IMAGE, "autoscaling": {"hpa": {"enabled": True}, "vpa": {"enabled": True, "updateMode": "Off"}}})


def test_hpa_switched_off_warns_and_keeps_replicas() -> None:
    out = render(server({**hpa_spec(maxReplicas=4), "replicas": 2}), options=RenderOptions(enable_hpa=False))
    assert "HorizontalPodAutoscaler" not in out.kinds()
    assert get(out, "Deployment")["spec"]["replicas"] == 2
    assert any("ENABLE_HPA_SUPPORT" in w for w in out.warnings)


def test_vpa_switched_off_warns() -> None:
    out = render(server({**IMAGE, "autoscaling": {"vpa": {"enabled": True}}}), options=RenderOptions(enable_vpa=False))
    assert "VerticalPodAutoscaler" not in out.kinds()
    assert any("ENABLE_VPA_SUPPORT" in w for w in out.warnings)
