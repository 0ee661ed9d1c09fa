"""Object names and labels: valid, within Kubernetes limits, and stable."""

from __future__ import annotations

import hashlib
import re

from mcpop import __version__

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
SERVER_LABEL = "mcp.allbeone.io/server"
TENANT_LABEL = "mcp.allbeone.io/tenant"
APP_NAME = "mcpserver"
MANAGER = "mcpop"
MAX_LABEL = 63


def short_hash(text: str, length: int = 8) -> str:
    """A short, stable hex digest of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dns_label(base: str, suffix: str = "", limit: int = MAX_LABEL) -> str:
    """`base-suffix` as a DNS-1035 label of at most `limit` characters.

    Dots become dashes, a leading digit gets an `mcp-` prefix, and a name too long is cut and given a
    hash of the full name, so two long names never collide.
    """
    full = f"{base}-{suffix}" if suffix else base
    name = re.sub(r"[^a-z0-9-]", "-", full.lower())
    if not name[:1].isalpha():
        name = f"mcp-{name}"
    if len(name) > limit:
        digest = short_hash(full)
        name = f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"
    return name.strip("-")


def label_value(value: str) -> str:
    """`value` made a valid label value (≤ 63 chars of [A-Za-z0-9._-], alphanumeric at both ends)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", value)
    if len(cleaned) > MAX_LABEL:
        cleaned = f"{cleaned[: MAX_LABEL - 9]}-{short_hash(value)}"
    return cleaned.strip("._-")


def selector_labels(server: str) -> dict[str, str]:
    """The labels a server's pods are selected by; these never change over the server's life."""
    return {NAME_LABEL: APP_NAME, INSTANCE_LABEL: label_value(server)}


def common_labels(server: str, version: str, component: str) -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels plus the server label."""
    labels = {
        **selector_labels(server),
        "app.kubernetes.io/version": label_value(version) or "unknown",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "mcp",
        "app.kubernetes.io/managed-by": MANAGER,
        SERVER_LABEL: label_value(server),
    }
    return labels


OPERATOR_VERSION = __version__
