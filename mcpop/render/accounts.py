"""Which existing ServiceAccount an MCPServer may run as (`serviceAccount.create: false`). Pure.

Kubernetes lets anyone who may create pods in a namespace run them as any ServiceAccount there; mcpop creates
pods for the MCPServer's author, so an author must hold that right themselves (the validating webhook asks a
SubjectAccessReview, `create pods` in the namespace, for the requesting user) and may never borrow an account
mcpop made for itself: the restore Job's and the backup Job's accounts hold Roles a server must not have, and
the operator's own account holds the operator's cluster-wide rights. Those carry mcpop's managed-by label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcpop.api.mcpserver import MCPServerSpec
from mcpop.render.names import MANAGER

FIELD = "spec.serviceAccount.name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"


def existing_account(spec: MCPServerSpec, server_name: str) -> str | None:
    """The name of the existing ServiceAccount the server asks to run as; None when mcpop creates one."""
    sa = spec.service_account
    if sa is None or sa.create:
        return None
    return sa.name or server_name


def account_refusal(namespace: str, name: str, account: Mapping[str, Any] | None,
                    operator_account: tuple[str, str] | None) -> str | None:  # fmt: skip
    """Why the MCPServer may not run as ServiceAccount `namespace/name` (`account` is the live object, None if
    it does not exist yet), or None when it may."""
    if operator_account is not None and (namespace, name) == operator_account:
        return f"{FIELD}: {name!r} is the mcpop operator's own ServiceAccount; an MCPServer may never run as it"
    labels = ((account or {}).get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) == MANAGER:
        component = labels.get("app.kubernetes.io/component") or "another object"
        return (f"{FIELD}: ServiceAccount {name!r} was created by mcpop for its own use ({component}); with "
                "serviceAccount.create: false an MCPServer may run only as an account mcpop did not "
                "create")  # fmt: skip
    return None


def pods_forbidden(namespace: str, name: str, username: str, reason: str) -> str:
    """The webhook's message when the requester may not create pods in `namespace`."""
    why = f" ({reason})" if reason else ""
    return (f"{FIELD}: running as the existing ServiceAccount {name!r} (serviceAccount.create: false) needs the "
            f"right to create pods in namespace {namespace!r}, which {username or 'the requester'} does not have"
            f"{why}; leave serviceAccount.create at true to let mcpop create a dedicated account")  # fmt: skip
