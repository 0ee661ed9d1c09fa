"""What the operator takes from the apiserver's OIDC discovery for servers with spec.auth, bounded and
normalised whatever the answer holds (mcpop.apply.mcpserver.identity); the real apiserver's answers are covered
by tests/cluster/test_verify_cluster.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcpop.apply.mcpserver.identity import ISSUER_RETRY, ISSUER_TTL, MAX_KEYS, ClusterIdentity, normalise_jwks
from mcpop.apply.runtime.client import KubeError

RSA = {"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": "AQAB" * 64, "e": "AQAB"}


class Discovery:
    """The two discovery documents, counted; `fail` makes every request a 403."""

    def __init__(self, issuer: Any = "https://kubernetes.default.svc.cluster.local", keys: Any = None) -> None:
        self.issuer, self.keys = issuer, keys if keys is not None else {"keys": [RSA]}
        self.calls = 0
        self.fail = False

    def request(self, method: str, path: str, body: Any = None, accept: str = "application/json") -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise KubeError(403, "Forbidden", {}, method, path)
        if path == "/openid/v1/jwks":
            assert accept == "application/jwk-set+json"  # the apiserver refuses application/json with 406
            return dict(self.keys)
        return {"issuer": self.issuer}


def identity(disc: Discovery, now: list[float]) -> ClusterIdentity:
    return ClusterIdentity(disc, ("mcpop-system", "mcpop-operator"), clock=lambda: now[0])  # type: ignore[arg-type]


def test_private_and_unknown_key_members_are_dropped_and_the_document_is_canonical() -> None:
    hostile = {"keys": [{**RSA, "d": "PRIVATE", "p": "PRIVATE", "x5u": "http://evil", "extra": {"deep": [1]}},
                        "not a key", {"kid": "no-kty"}]}  # fmt: skip
    doc = normalise_jwks(hostile)
    assert json.loads(doc) == {"keys": [RSA]} and doc == normalise_jwks({"keys": [dict(reversed(RSA.items()))]})


def test_at_most_max_keys_are_kept_and_an_oversize_member_is_dropped() -> None:
    many = {"keys": [{**RSA, "kid": f"k{i}"} for i in range(10_000)]}
    assert len(json.loads(normalise_jwks(many))["keys"]) == MAX_KEYS
    huge = normalise_jwks({"keys": [{**RSA, "n": "A" * 1_000_000}]})
    assert len(huge) < 200 and '"n"' not in huge


@pytest.mark.parametrize("doc", [[], {"keys": "x"}, {"nokeys": []}, "text"])
def test_a_document_that_is_not_a_jwks_is_refused(doc: Any) -> None:
    with pytest.raises(ValueError, match="no keys array"):
        normalise_jwks(doc)


@pytest.mark.parametrize("issuer", ["http://kubernetes.default.svc", None, 7, "https://" + "a" * 3000])
def test_an_issuer_that_is_not_a_bounded_https_url_is_not_used(issuer: Any) -> None:
    assert identity(Discovery(issuer=issuer), [0.0]).issuer() is None


def test_the_issuer_is_read_again_only_after_its_ttl_and_kept_while_a_read_fails() -> None:
    disc, now = Discovery(), [0.0]
    ident = identity(disc, now)
    first = ident.issuer()
    assert first is not None and disc.calls == 2
    now[0] = ISSUER_TTL - 1
    assert ident.issuer() is first and disc.calls == 2
    disc.fail = True
    now[0] = ISSUER_TTL + 1
    assert ident.issuer() is first  # the last keys stay in use
    calls = disc.calls
    now[0] += ISSUER_RETRY - 1
    assert ident.issuer() is first and disc.calls == calls  # not asked again before the retry interval
