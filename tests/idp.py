"""A tiny identity provider for tests: an RSA key generated in the test, its JWKS, and tokens signed with the key
(RS256). The bridge tests serve its discovery document on loopback; the real-node tests hand its JWKS to the
bridge in a ConfigMap."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64(data: bytes) -> str:
    """base64url without padding, as JWTs use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Issuer:
    """A tiny identity provider: one RSA key, its JWKS, an OIDC discovery document, and signed tokens."""

    def __init__(self, kid: str = "test-key") -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.url = ""

    def jwks(self) -> dict[str, Any]:
        pub = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": _int(pub.n),
                          "e": _int(pub.e)}]}  # fmt: skip

    def unsigned(self, audience: str) -> str:
        """A token with `alg: none` and no signature (what no validator may accept)."""
        return ".".join([b64(b'{"alg":"none","typ":"JWT"}'), self.token(audience).split(".")[1], ""])

    def token(self, audience: str, scope: str = "mcp:tools", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": audience, "sub": "alice", "iat": now, "exp": now + 300, "scope": scope,
                **claims}  # fmt: skip
        head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.kid}).encode())
        signing = f"{head}.{b64(json.dumps(body).encode())}".encode()
        return f"{signing.decode()}.{b64(self.key.sign(signing, padding.PKCS1v15(), hashes.SHA256()))}"
