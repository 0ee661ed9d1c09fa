"""The webhook configurations pointing the apiserver at the operator's webhooks. Pure."""

from __future__ import annotations

import base64
from typing import Any

from mcpop import GROUP, VERSION
from mcpop.apply.webhook.admission import MUTATE_PATH, VALIDATE_PATH

RESOURCES = ["mcpservers", "mcpregistries", "mcpserverbackups"]
DEFAULT_NAME = "mcp-operator"
TIMEOUT_SECONDS = 5


def _client(url: str | None, service: tuple[str, str, int] | None, path: str, ca: bytes | None) -> dict[str, Any]:
    out: dict[str, Any]
    if url is not None:
        out = {"url": url.rstrip("/") + path}
    elif service is not None:
        name, namespace, port = service
        out = {"service": {"name": name, "namespace": namespace, "path": path, "port": port}}
    else:
        raise ValueError("a webhook configuration needs a URL or a Service")
    if ca:
        out["caBundle"] = base64.b64encode(ca).decode()
    return out


def configurations(*, url: str | None = None, service: tuple[str, str, int] | None = None, ca: bytes | None = None,
                   name: str = DEFAULT_NAME, failure_policy: str = "Fail",
                   namespace_selector: dict[str, Any] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """A ValidatingWebhookConfiguration and a MutatingWebhookConfiguration, both named `name`.

    Create and update of the three kinds only (never delete, never the status subresource), no side
    effects (dry-run safe), a short timeout, and `failurePolicy: Fail` so a webhook that is down blocks
    creates and updates rather than letting an unchecked spec in. `namespace_selector` limits the namespaces
    (the tests use it to keep a webhook to their own namespace)."""
    rules = [{"apiGroups": [GROUP], "apiVersions": [VERSION], "operations": ["CREATE", "UPDATE"],
              "resources": RESOURCES, "scope": "Namespaced"}]  # fmt: skip
    common: dict[str, Any] = {"rules": rules, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                              "failurePolicy": failure_policy, "matchPolicy": "Equivalent",
                              "timeoutSeconds": TIMEOUT_SECONDS}  # fmt: skip
    if namespace_selector is not None:
        common["namespaceSelector"] = namespace_selector
    meta = {
        "name": name,
        "labels": {"app.kubernetes.io/name": "mcp-operator", "app.kubernetes.io/component": "webhook"},
    }
    validating = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": meta,
        "webhooks": [{"name": f"validate.{GROUP}", "clientConfig": _client(url, service, VALIDATE_PATH, ca), **common}],
    }  # fmt: skip
    mutating = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": meta,
        "webhooks": [{"name": f"default.{GROUP}", "clientConfig": _client(url, service, MUTATE_PATH, ca),
                      "reinvocationPolicy": "Never", **common}],
    }  # fmt: skip
    return [validating, mutating]
