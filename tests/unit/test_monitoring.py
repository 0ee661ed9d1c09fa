"""Monitoring: the ServiceMonitor selects the server's Service, scrapes the right port and path, and
validates against the ServiceMonitor CRD schema."""

from __future__ import annotations

from typing import Any

import pytest
from featurekit import assert_valid, get, server

from mcpop.render import RenderError, render

IMAGE = {"image": "ghcr.io/example/mcp", "tag": "1.0.0"}


def monitored(**monitoring: Any) -> dict[str, Any]:
    return {**IMAGE, "monitoring": {"enabled": True, **monitoring}}


def test_no_service_monitor_unless_enabled() -> None:
    assert "ServiceMonitor" not in render(server({**IMAGE, "monitoring": {"enabled": False}})).kinds()


def test_service_monitor_selects_the_service_by_its_labels() -> None:
    out = render(server(monitored()))
    sm, svc = get(out, "ServiceMonitor"), get(out, "Service")
    assert sm["spec"]["namespaceSelector"] == {"matchNames": ["tools"]}
    assert all(svc["metadata"]["labels"][k] == v for k, v in sm["spec"]["selector"]["matchLabels"].items())


def test_default_endpoint_is_the_http_port_at_metrics() -> None:
    sm = get(render(server(monitored())), "ServiceMonitor")
    assert sm["spec"]["endpoints"] == [{"port": "http", "path": "/metrics"}]


def test_endpoint_port_path_interval_timeout_and_labels() -> None:
    out = render(
        server(
            {
                **monitored(
                    port="metrics", path="/stats", interval="30s", scrapeTimeout="10s", labels={"release": "prom"}
                ),
                "ports": [{"name": "metrics", "port": 9090}],
            }
        )
    )
    sm = get(out, "ServiceMonitor")
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/stats", "interval": "30s", "scrapeTimeout": "10s"}]
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert_valid(out)


def test_unknown_port_name_is_an_error_naming_the_field() -> None:
    with pytest.raises(RenderError) as err:
        render(server(monitored(port="nope")))
    assert err.value.field == "spec.monitoring.port"
