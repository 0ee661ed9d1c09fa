"""The cluster's ServiceAccount token issuer, and the operator's own tokens.

- `issuer()`: the issuer URL and public keys of the cluster's ServiceAccount tokens, from the apiserver's OIDC
  discovery (`/.well-known/openid-configuration`, `/openid/v1/jwks`; readable by every ServiceAccount through
  the default `system:service-account-issuer-discovery` binding, and granted in the operator's ClusterRole).
  Rendered into each authenticating server's `<name>-cluster-jwks` ConfigMap, whose pod cannot read them itself
  (it holds no credential). Read again every ISSUER_TTL seconds, so rotated keys reach the pods.
- `token(audience)`: a short-lived token for the operator's own ServiceAccount bound to one server's audience
  (TokenRequest), for the MCP handshake behind `Verified` when the server asks for a token. Never logged.

What the apiserver returns is bounded and normalised (public key members only, at most MAX_KEYS keys), so the
ConfigMap is deterministic and small whatever the answer held.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from mcpop.apply.runtime.client import Kube, KubeError
from mcpop.render.options import ClusterIssuer

log = logging.getLogger("mcpop.identity")

#: seconds the issuer's keys are kept before they are read again
ISSUER_TTL = 600.0
#: seconds before a failed read of the issuer is tried again
ISSUER_RETRY = 30.0
#: keys kept from the cluster's JWKS (a cluster has one or two: the current key and the one rotated out)
MAX_KEYS = 16
#: the public members of a JWK kept (RFC 7517/7518): nothing private, nothing unknown
PUBLIC_MEMBERS = ("kty", "kid", "use", "alg", "n", "e", "crv", "x", "y")
#: a JWK member's longest value (an RSA-8192 modulus is 1,366 base64url characters)
MAX_MEMBER = 2048
#: seconds a handshake token lives (the apiserver's minimum is 600), and how long before its expiry a new one is
#: asked for
TOKEN_SECONDS = 600
TOKEN_RENEW = 120.0
#: audiences whose tokens are kept at once (one per authenticating server)
MAX_TOKENS = 4096


def normalise_jwks(doc: Any) -> str:
    """The public keys of a JWKS document as compact JSON (sorted members, at most MAX_KEYS keys); raises
    ValueError for a document that is not a JWKS."""
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise ValueError("the JWKS has no keys array")
    out = []
    for key in keys[:MAX_KEYS]:
        if not isinstance(key, dict):
            continue
        kept = {m: key[m] for m in PUBLIC_MEMBERS if isinstance(key.get(m), str) and len(key[m]) <= MAX_MEMBER}
        if "kty" in kept:
            out.append(kept)
    return json.dumps({"keys": out}, sort_keys=True, separators=(",", ":"))


class ClusterIdentity:
    """The cluster's issuer (cached) and the operator's handshake tokens (cached per audience)."""

    def __init__(self, kube: Kube, account: tuple[str, str] | None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.kube = kube
        self.account = account
        self._clock = clock
        self._lock = threading.Lock()
        self._issuer: ClusterIssuer | None = None
        self._issuer_until = 0.0
        self._tokens: dict[str, tuple[str, float]] = {}

    @property
    def subject(self) -> str | None:
        """The operator's ServiceAccount as a token subject, or None when it is not known."""
        return f"system:serviceaccount:{self.account[0]}:{self.account[1]}" if self.account else None

    def issuer(self) -> ClusterIssuer | None:
        """The cluster's issuer and keys; None while they cannot be read (logged, tried again soon)."""
        now = self._clock()
        with self._lock:
            if now < self._issuer_until:
                return self._issuer
        try:
            url = self.kube.request("GET", "/.well-known/openid-configuration").get("issuer")
            if not isinstance(url, str) or not url.startswith("https://") or len(url) > 2048:
                raise ValueError(f"the discovery document names no https issuer: {str(url)[:200]!r}")
            keys = self.kube.request("GET", "/openid/v1/jwks", accept="application/jwk-set+json")
            found: ClusterIssuer | None = ClusterIssuer(url, normalise_jwks(keys))
            until = now + ISSUER_TTL
        except (KubeError, ValueError, OSError) as exc:
            log.warning("cannot read the cluster's ServiceAccount issuer (OIDC discovery): %s", exc)
            with self._lock:
                found = self._issuer  # the last keys read stay in use
            until = now + ISSUER_RETRY
        with self._lock:
            self._issuer, self._issuer_until = found, until
        return found

    def token(self, audience: str) -> str | None:
        """A token of the operator's ServiceAccount for `audience`; None when it cannot be had (logged)."""
        if self.account is None:
            return None
        now = self._clock()
        with self._lock:
            cached = self._tokens.get(audience)
            if cached is not None and now < cached[1]:
                return cached[0]
        ns, name = self.account
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": [audience], "expirationSeconds": TOKEN_SECONDS}}  # fmt: skip
        try:
            answer = self.kube.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token", body=body)
        except (KubeError, OSError) as exc:
            log.warning("cannot get a token of ServiceAccount %s/%s for the MCP handshake: %s", ns, name, exc)
            return None
        token = (answer.get("status") or {}).get("token")
        if not isinstance(token, str) or not token:
            return None
        with self._lock:
            if len(self._tokens) >= MAX_TOKENS:
                self._tokens = {a: t for a, t in self._tokens.items() if now < t[1]}
                if len(self._tokens) >= MAX_TOKENS:
                    self._tokens.clear()
            self._tokens[audience] = (token, now + TOKEN_SECONDS - TOKEN_RENEW)
        return token
