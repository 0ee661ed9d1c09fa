"""Bad input for the feature fields (hpa, vpa, tenancy, istio, monitoring, registry references): each
case is rejected with the exact field path, at load time (`load_text`) or at render time
(`RenderError.field`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from featurekit import server

from mcpop.api.serverjson import ServerJSON
from mcpop.cli.load import load_text
from mcpop.cli.render import render_files
from mcpop.render import RenderError, render

HEAD = "apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: bad}\n"
IMAGE = {"image": "ghcr.io/example/mcp", "tag": "1.0.0"}


def hpa(**kw: Any) -> dict[str, Any]:
    return {"autoscaling": {"hpa": {"enabled": True, **kw}}}


def vpa_policy(**kw: Any) -> dict[str, Any]:
    return {
        "autoscaling": {
            "vpa": {"enabled": True, "resourcePolicy": {"containerPolicies": [{"containerName": "mcp-server", **kw}]}}
        }
    }


def tenancy(**kw: Any) -> dict[str, Any]:
    return {"tenancy": {"tenantId": "acme", **kw}}


def istio(**kw: Any) -> dict[str, Any]:
    return {"istio": {"enabled": True, **kw}}


def vs(**kw: Any) -> dict[str, Any]:
    return istio(virtualService=kw)


LOAD_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("hpa-min-zero", hpa(minReplicas=0), "spec.autoscaling.hpa.minReplicas", "greater than or equal to 1"),
    ("hpa-max-zero", hpa(maxReplicas=0), "spec.autoscaling.hpa.maxReplicas", "greater than or equal to 1"),
    ("hpa-min-above-max", hpa(minReplicas=5, maxReplicas=2), "spec.autoscaling.hpa", "must not exceed"),
    (
        "hpa-cpu-zero",
        hpa(targetCPUUtilizationPercentage=0),
        "spec.autoscaling.hpa.targetCPUUtilizationPercentage",
        "greater than or equal to 1",
    ),
    (
        "hpa-memory-text",
        hpa(targetMemoryUtilizationPercentage="high"),
        "spec.autoscaling.hpa.targetMemoryUtilizationPercentage",
        "integer",
    ),
    ("hpa-metric-type", hpa(metrics=[{"type": "Bogus"}]), "spec.autoscaling.hpa.metrics[0].type", "Resource"),
    ("hpa-metric-source-missing", hpa(metrics=[{"type": "Pods"}]), "spec.autoscaling.hpa.metrics[0]", "'pods'"),
    (
        "hpa-metric-two-sources",
        hpa(
            metrics=[
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                    "pods": {"metric": {"name": "m"}, "target": {"type": "AverageValue", "averageValue": "1"}},
                }
            ]
        ),
        "spec.autoscaling.hpa.metrics[0]",
        "must not set pods",
    ),
    (
        "hpa-policy-type",
        hpa(behavior={"scaleUp": {"policies": [{"type": "Bad", "value": 1, "periodSeconds": 1}]}}),
        "spec.autoscaling.hpa.behavior.scaleUp.policies[0].type",
        "Pods",
    ),
    (
        "hpa-window-too-long",
        hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 4000}}),
        "spec.autoscaling.hpa.behavior.scaleDown.stabilizationWindowSeconds",
        "3600",
    ),
    (
        "hpa-select-policy",
        hpa(behavior={"scaleUp": {"selectPolicy": "Sometimes"}}),
        "spec.autoscaling.hpa.behavior.scaleUp.selectPolicy",
        "Max",
    ),
    (
        "hpa-period-zero",
        hpa(behavior={"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 0}]}}),
        "spec.autoscaling.hpa.behavior.scaleUp.policies[0].periodSeconds",
        "greater than or equal to 1",
    ),
    ("hpa-unknown-field", hpa(targetCpu=50), "spec.autoscaling.hpa.targetCpu", "unknown field"),
    (
        "vpa-update-mode",
        {"autoscaling": {"vpa": {"enabled": True, "updateMode": "Sometimes"}}},
        "spec.autoscaling.vpa.updateMode",
        "Recreate",
    ),
    (
        "vpa-controlled-gpu",
        vpa_policy(controlledResources=["gpu"]),
        "spec.autoscaling.vpa.resourcePolicy.containerPolicies[0].controlledResources[0]",
        "cpu",
    ),
    (
        "vpa-no-container-name",
        {"autoscaling": {"vpa": {"enabled": True, "resourcePolicy": {"containerPolicies": [{"mode": "Auto"}]}}}},
        "spec.autoscaling.vpa.resourcePolicy.containerPolicies[0].containerName",
        "required",
    ),
    (
        "vpa-min-allowed-quantity",
        vpa_policy(minAllowed={"cpu": "lots"}),
        "spec.autoscaling.vpa.resourcePolicy.containerPolicies[0].minAllowed.cpu",
        "quantity",
    ),
    (
        "hpa-vpa-both-on-cpu",
        {"autoscaling": {"hpa": {"enabled": True, "targetCPUUtilizationPercentage": 50}, "vpa": {"enabled": True}}},
        "spec.autoscaling",
        "autoscaling.hpa.targetCPUUtilizationPercentage and autoscaling.vpa both act on cpu",
    ),
    ("tenant-id-missing", {"tenancy": {"isolationLevel": "Node"}}, "spec.tenancy.tenantId", "required"),
    ("tenant-id-not-dns", {"tenancy": {"tenantId": "Acme_Corp"}}, "spec.tenancy.tenantId", "DNS-1123"),
    ("tenant-isolation-level", tenancy(isolationLevel="Total"), "spec.tenancy.isolationLevel", "Strict"),
    ("tenant-quota-cpu", tenancy(resourceQuotas={"cpu": "lots"}), "spec.tenancy.resourceQuotas.cpu", "quantity"),
    (
        "tenant-quota-pods-negative",
        tenancy(resourceQuotas={"pods": -1}),
        "spec.tenancy.resourceQuotas.pods",
        "greater than or equal to 0",
    ),
    (
        "tenant-allowed-namespace",
        tenancy(networkPolicy={"allowedNamespaces": ["Bad NS"]}),
        "spec.tenancy.networkPolicy.allowedNamespaces[0]",
        "DNS-1123",
    ),
    (
        "tenant-allowed-pods-operator",
        tenancy(networkPolicy={"allowedPods": [{"matchExpressions": [{"key": "a", "operator": "Like"}]}]}),
        "spec.tenancy.networkPolicy.allowedPods[0].matchExpressions[0].operator",
        "In",
    ),
    ("tenant-unknown-field", tenancy(quota={"cpu": "1"}), "spec.tenancy.quota", "unknown field"),
    ("istio-path-relative", vs(path="mcp"), "spec.istio.virtualService.path", "pattern"),
    ("istio-timeout-words", vs(timeout="30 seconds"), "spec.istio.virtualService.timeout", "pattern"),
    (
        "istio-per-try-no-unit",
        vs(retries={"perTryTimeout": "2"}),
        "spec.istio.virtualService.retries.perTryTimeout",
        "pattern",
    ),
    (
        "istio-attempts-negative",
        vs(retries={"attempts": -1}),
        "spec.istio.virtualService.retries.attempts",
        "greater than or equal to 0",
    ),
    (
        "istio-tls-mode",
        istio(destinationRule={"trafficPolicy": {"tls": {"mode": "ON"}}}),
        "spec.istio.destinationRule.trafficPolicy.tls.mode",
        "ISTIO_MUTUAL",
    ),
    ("istio-mtls-mode", istio(mtls={"enabled": True, "mode": "REQUIRED"}), "spec.istio.mtls.mode", "STRICT"),
    ("istio-sidecar-inject", istio(sidecarInject="maybe"), "spec.istio.sidecarInject", "boolean"),
    (
        "monitoring-path-relative",
        {"monitoring": {"enabled": True, "path": "metrics"}},
        "spec.monitoring.path",
        "pattern",
    ),
    (
        "monitoring-interval",
        {"monitoring": {"enabled": True, "interval": "often"}},
        "spec.monitoring.interval",
        "not a Prometheus duration",
    ),
    (
        "monitoring-unknown-field",
        {"monitoring": {"enabled": True, "scheme": "https"}},
        "spec.monitoring.scheme",
        "unknown field",
    ),
    ("registry-name-space", {"registry": {"name": "has space"}}, "spec.registry.name", "pattern"),
    ("registry-name-empty", {"registry": {"name": ""}}, "spec.registry.name", "at least 1"),
    ("registry-package-nuget", {"registry": {"name": "x", "package": "nuget"}}, "spec.registry.package", "oci"),
    (
        "registry-ref-not-dns",
        {"registry": {"name": "x", "registryRef": "Bad_Ref"}},
        "spec.registry.registryRef",
        "DNS-1123",
    ),
]


@pytest.mark.parametrize(("spec", "path", "fragment"), [c[1:] for c in LOAD_CASES], ids=[c[0] for c in LOAD_CASES])
def test_load_rejects_with_the_exact_field_path(spec: dict[str, Any], path: str, fragment: str) -> None:
    text = HEAD + "spec: " + json.dumps({**IMAGE, **spec}) + "\n"
    loaded = load_text(text, "f.yaml")
    assert [p.path for p in loaded.problems] == [path], [str(p) for p in loaded.problems]
    assert fragment in loaded.problems[0].message
    assert str(loaded.problems[0]).startswith("f.yaml: document 0")


def npm_entry(**pkg: Any) -> ServerJSON:
    return ServerJSON.model_validate(
        {
            "name": "io.github.example/demo",
            "description": "d",
            "version": "1.0.0",
            "packages": [
                {"registryType": "npm", "identifier": "demo", "version": "1.0.0", "transport": {"type": "stdio"}, **pkg}
            ],
        }
    )


OCI_STDIO = ServerJSON.model_validate(
    {
        "name": "io.github.example/demo",
        "description": "d",
        "version": "1.0.0",
        "packages": [{"registryType": "oci", "identifier": "ghcr.io/x/y:1", "transport": {"type": "stdio"}}],
    }
)
SECRET = [{"name": "TOKEN", "isSecret": True, "isRequired": True}]
RENDER_CASES: list[tuple[str, dict[str, Any], ServerJSON | None, str, str]] = [
    (
        "monitoring-port-unknown",
        {**IMAGE, "monitoring": {"enabled": True, "port": "nope"}},
        None,
        "spec.monitoring.port",
        "nope",
    ),
    (
        "registry-required-secret",
        {"registry": {"name": "demo"}},
        npm_entry(environmentVariables=SECRET),
        "spec.registry",
        "TOKEN",
    ),
    (
        "registry-required-variable",
        {"registry": {"name": "demo"}},
        npm_entry(environmentVariables=[{"name": "REGION", "isRequired": True}]),
        "spec.registry",
        "REGION",
    ),
    (
        "registry-required-argument",
        {"registry": {"name": "demo"}},
        npm_entry(packageArguments=[{"type": "positional", "valueHint": "dir", "isRequired": True}]),
        "spec.registry",
        "dir",
    ),
    (
        "registry-forced-package-missing",
        {"registry": {"name": "demo", "package": "pypi"}},
        npm_entry(),
        "spec.registry.package",
        "no pypi package",
    ),
    (
        "registry-version-mismatch",
        {"registry": {"name": "demo", "version": "2.0.0"}},
        npm_entry(),
        "spec.registry.version",
        "2.0.0",
    ),
    (
        "registry-oci-stdio-no-command-no-image-config",
        {"registry": {"name": "demo"}},
        OCI_STDIO,
        "spec.registry",
        "--image-config ghcr.io/x/y:1=FILE",
    ),
    (
        "registry-oci-stdio-gateway-image-no-command",
        {"registry": {"name": "demo"}, "gateway": {"image": "ghcr.io/x/bridge:1"}},
        OCI_STDIO,
        "spec.command",
        "inside ghcr.io/x/bridge:1",
    ),
]


@pytest.mark.parametrize(
    ("spec", "entry", "field", "fragment"), [c[1:] for c in RENDER_CASES], ids=[c[0] for c in RENDER_CASES]
)
def test_render_rejects_with_the_exact_field(
    spec: dict[str, Any], entry: ServerJSON | None, field: str, fragment: str
) -> None:
    with pytest.raises(RenderError) as err:
        render(server(spec), entry)
    assert err.value.field == field
    assert fragment in err.value.message


@pytest.mark.parametrize(
    ("registry", "field"),
    [
        ({"name": "no-such-server"}, "spec.registry.name"),
        ({"name": "filesystem", "version": "0.0.1"}, "spec.registry.version"),
    ],
)
def test_cli_reports_catalogue_lookup_errors_by_field(tmp_path: Path, registry: dict[str, Any], field: str) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(HEAD + "spec: " + json.dumps({"registry": registry}) + "\n")
    _, problems, _ = render_files([f])
    assert len(problems) == 1 and f": {field}: " in problems[0]
