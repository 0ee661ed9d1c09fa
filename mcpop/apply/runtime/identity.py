"""The operator's own ServiceAccount, read from the token the kubelet mounts into its pod."""

from __future__ import annotations

import base64
import json
from pathlib import Path

TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
#: the namespace of the pod the operator runs in (the kubelet's mount, beside the token)
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
MAX_TOKEN = 64 * 1024
SUBJECT_PREFIX = "system:serviceaccount:"


def account_of_token(token: str) -> tuple[str, str] | None:
    """(namespace, name) from a ServiceAccount token's `sub` claim; None when it is not one. The token is the
    kubelet's own mount, so its claims are read, not verified."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(sub, str) or not sub.startswith(SUBJECT_PREFIX):
        return None
    ns, _, name = sub[len(SUBJECT_PREFIX) :].partition(":")
    return (ns, name) if ns and name else None


def operator_account(token_file: Path = TOKEN_FILE) -> tuple[str, str] | None:
    """The ServiceAccount the operator runs as in its pod; None outside a cluster."""
    try:
        with token_file.open("rb") as f:
            token = f.read(MAX_TOKEN + 1)
    except OSError:
        return None
    if len(token) > MAX_TOKEN:
        return None
    return account_of_token(token.decode("utf-8", "replace"))
