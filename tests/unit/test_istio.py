"""Istio: VirtualService routing, DestinationRule traffic policy, PeerAuthentication mTLS, the sidecar
marker, the feature switch, and CRD-schema validity of the Istio objects."""

from __future__ import annotations

from typing import Any

from featurekit import assert_valid, get, pod_template, server

from mcpop.render import ObjectSet, RenderOptions, render
from mcpop.render.names import selector_labels

IMAGE = {"image": "ghcr.io/example/mcp", "tag": "1.0.0"}


def meshed(name: str = "demo", **istio: Any) -> ObjectSet:
    return render(server({**IMAGE, "istio": {"enabled": True, **istio}}, name=name))


def test_virtual_service_defaults_to_the_service_fqdn() -> None:
    vs = get(meshed(), "VirtualService")
    assert vs["apiVersion"] == "networking.istio.io/v1"
    assert vs["spec"]["hosts"] == ["demo.tools.svc.cluster.local"]
    assert vs["spec"]["http"][0]["route"] == [
        {"destination": {"host": "demo.tools.svc.cluster.local", "port": {"number": 8080}}}
    ]


def test_virtual_service_has_host_gateway_path_timeout_retries_headers() -> None:
    headers = {"request": {"set": {"x-server": "demo"}}}
    out = meshed(
        gateway="istio-system/gw",
        virtualService={
            "host": "mcp.example.com",
            "path": "/mcp",
            "timeout": "30s",
            "retries": {"attempts": 2, "perTryTimeout": "5s", "retryOn": "5xx"},
            "headers": headers,
        },
    )
    spec = get(out, "VirtualService")["spec"]
    assert spec["hosts"] == ["mcp.example.com"]
    assert spec["gateways"] == ["istio-system/gw", "mesh"]
    route = spec["http"][0]
    assert route["match"] == [{"uri": {"prefix": "/mcp"}}]
    assert route["timeout"] == "30s"
    assert route["retries"] == {"attempts": 2, "perTryTimeout": "5s", "retryOn": "5xx"}
    assert route["headers"] == headers
    assert_valid(out)


def test_destination_rule_defaults_to_istio_mutual() -> None:
    dr = get(meshed(), "DestinationRule")
    assert dr["spec"] == {"host": "demo.tools.svc.cluster.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}


def test_destination_rule_carries_pools_balancing_and_outlier_detection() -> None:
    policy = {
        "tls": {"mode": "SIMPLE"},
        "connectionPool": {"tcp": {"maxConnections": 10}, "http": {"maxRetries": 2}},
        "loadBalancer": {"simple": "ROUND_ROBIN"},
        "outlierDetection": {"consecutive5xxErrors": 3, "interval": "10s", "baseEjectionTime": "30s"},
    }
    out = meshed(destinationRule={"trafficPolicy": policy})
    assert get(out, "DestinationRule")["spec"]["trafficPolicy"] == policy
    assert_valid(out)


def test_peer_authentication_only_with_mtls_enabled() -> None:
    assert "PeerAuthentication" not in meshed().kinds()
    pa = get(meshed(mtls={"enabled": True, "mode": "PERMISSIVE"}), "PeerAuthentication")
    assert pa["spec"] == {"selector": {"matchLabels": selector_labels("demo")}, "mtls": {"mode": "PERMISSIVE"}}


def test_peer_authentication_selects_the_servers_pods() -> None:
    out = meshed(mtls={"enabled": True})
    selector = get(out, "PeerAuthentication")["spec"]["selector"]["matchLabels"]
    labels = pod_template(out)["metadata"]["labels"]
    assert all(labels[k] == v for k, v in selector.items())
    assert_valid(out)


def test_sidecar_injection_marker_on_pod_template() -> None:
    meta = pod_template(meshed())["metadata"]
    assert meta["annotations"]["sidecar.istio.io/inject"] == "true"
    assert meta["labels"]["sidecar.istio.io/inject"] == "true"
    off = pod_template(meshed(sidecarInject=False))["metadata"]
    assert off["annotations"]["sidecar.istio.io/inject"] == "false"


def test_istio_disabled_in_spec_renders_nothing() -> None:
    out = render(server({**IMAGE, "istio": {"enabled": False}}))
    assert not {"VirtualService", "DestinationRule"} & set(out.kinds())


def test_istio_switched_off_warns_and_renders_nothing() -> None:
    out = render(server({**IMAGE, "istio": {"enabled": True}}), options=RenderOptions(enable_istio=False))
    assert not {"VirtualService", "DestinationRule", "PeerAuthentication"} & set(out.kinds())
    assert "sidecar.istio.io/inject" not in pod_template(out)["metadata"].get("annotations", {})
    assert any("ENABLE_ISTIO_INTEGRATION" in w for w in out.warnings)
