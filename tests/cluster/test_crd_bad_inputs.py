"""Trust §7 against the real kube-apiserver: what the CRD schema can express (maxLength, pattern, minimum, CEL)
it refuses by itself, with no webhook; what only the models know, the admission webhook refuses, naming the
field. tests/security/test_bad_inputs.py attacks every rule offline; this is a sample of them in a cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubeenv
import pytest
from operator_harness import crds  # noqa: F401 - fixture
from test_webhook import Webhook, create, server, wait_registered

from mcpop.apply.runtime.client import Kube, KubeError

_POOL = {"destinationRule": {"trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": -1}}}}}

#: (id, spec, the field the apiserver names): refused by the CRD schema alone
SCHEMA_REFUSES: list[tuple[str, dict[str, Any], str]] = [
    ("port-name-16-characters", {"ports": [{"name": "metrics-endpoint", "port": 9100}]}, "spec.ports[0].name"),
    ("port-name-trailing-hyphen", {"ports": [{"name": "metrics-", "port": 9100}]}, "spec.ports[0].name"),
    ("cpu-fractional-exponent", {"resources": {"limits": {"cpu": "1e1.5"}}}, "spec.resources.limits.cpu"),
    ("retry-on-with-a-space", {"istio": {"enabled": True, "virtualService": {"retries": {"retryOn": "5xx, reset"}}}},
     "spec.istio.virtualService.retries.retryOn"),
    ("pool-negative", {"istio": {"enabled": True, **_POOL}},
     "spec.istio.destinationRule.trafficPolicy.connectionPool.tcp.maxConnections"),
    ("scrape-interval-fraction", {"monitoring": {"enabled": True, "interval": "1.5s"}}, "spec.monitoring.interval"),
    ("non-root-as-root", {"securityContext": {"runAsNonRoot": True, "runAsUser": 0}}, "spec.securityContext.runAsUser"),
    ("egress-to-unrestricted", {"network": {"egress": {"to": [{"ports": [{"port": 443}]}]}}},
     "spec.network.egress.to"),
]  # fmt: skip

#: (id, spec, the field named): the schema lets them through, the webhook refuses them
WEBHOOK_REFUSES: list[tuple[str, dict[str, Any], str]] = [
    ("cpu-1e100", {"resources": {"limits": {"cpu": "1e100"}}}, "spec.resources.limits.cpu"),
    ("memory-8Ei", {"resources": {"limits": {"memory": "8Ei"}}}, "spec.resources.limits.memory"),
    ("retry-on-unknown", {"istio": {"enabled": True, "virtualService": {"retries": {"retryOn": "5xx,bogus"}}}},
     "spec.istio.virtualService.retries.retryOn"),
    ("scrape-timeout-over-interval", {"monitoring": {"enabled": True, "interval": "10s", "scrapeTimeout": "30s"}},
     "spec.monitoring.scrapeTimeout"),
]  # fmt: skip


@pytest.fixture
def kube(kube_cluster: kubeenv.KubeCluster, crds: list[str]) -> Kube:  # noqa: F811
    return Kube(kube_cluster.api_client)


@pytest.fixture
def webhook(kube: Kube, namespace: str, tmp_path: Path) -> Iterator[Webhook]:
    hook = Webhook(kube, namespace, tmp_path / "certs")
    try:
        wait_registered(kube, namespace)
        yield hook
    finally:
        hook.close()


def _refusal(kube: Kube, spec: dict[str, Any], namespace: str) -> str:
    with pytest.raises(KubeError) as exc:
        create(kube, server("bad", {"image": "ghcr.io/example/server", **spec}, namespace), dry_run=True)
    return exc.value.message


@pytest.mark.parametrize(("spec", "field"), [c[1:] for c in SCHEMA_REFUSES], ids=[c[0] for c in SCHEMA_REFUSES])
def test_the_crd_schema_alone_refuses_it(kube: Kube, namespace: str, spec: dict[str, Any], field: str) -> None:
    message = _refusal(kube, spec, namespace)  # no webhook is registered for this namespace
    assert "is invalid" in message and field in message, message


@pytest.mark.parametrize(("spec", "field"), [c[1:] for c in WEBHOOK_REFUSES], ids=[c[0] for c in WEBHOOK_REFUSES])
def test_the_schema_admits_it_and_the_webhook_refuses_it_naming_the_field(
    kube: Kube, namespace: str, webhook: Webhook, spec: dict[str, Any], field: str
) -> None:
    message = _refusal(kube, spec, namespace)
    assert "denied the request" in message and field in message, message


@pytest.mark.parametrize(("spec", "field"), [c[1:] for c in WEBHOOK_REFUSES], ids=[c[0] for c in WEBHOOK_REFUSES])
def test_without_the_webhook_the_schema_admits_it(kube: Kube, namespace: str, spec: dict[str, Any], field: str) -> None:
    """What the webhook case above proves the webhook for: the schema cannot express these rules."""
    create(kube, server("ok", {"image": "ghcr.io/example/server", **spec}, namespace), dry_run=True)
