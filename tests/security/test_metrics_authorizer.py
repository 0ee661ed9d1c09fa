"""The secure /metrics endpoint's decision per request: no or malformed bearer token → 401 without asking the
apiserver; an oversized token is refused unread; an authenticated user the SubjectAccessReview denies → 403;
answers are cached briefly by the token's hash (never the token), with a bound on entries; an apiserver failure
is not cached. Against the real apiserver: tests/cluster/test_metrics_auth.py."""

from __future__ import annotations

from typing import Any

import pytest

from mcpop.apply.resources import ApiError, Resource
from mcpop.apply.runtime.authn import MAX_TOKEN, RequestAuthorizer


class Apiserver:
    """Answers TokenReviews from a token → user table and SubjectAccessReviews from an allowed-user set."""

    def __init__(self, users: dict[str, str], allowed: set[str], fail: ApiError | None = None) -> None:
        self.users, self.allowed, self.fail = users, allowed, fail
        self.calls: list[str] = []

    def create(self, res: Resource, namespace: str | None, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(res.kind)
        if self.fail is not None:
            raise self.fail
        if res.kind == "TokenReview":
            user = self.users.get(obj["spec"]["token"])
            return {"status": {"authenticated": user is not None, "user": {"username": user} if user else {}}}
        assert obj["spec"]["nonResourceAttributes"] == {"path": "/metrics", "verb": "get"}
        return {"status": {"allowed": obj["spec"].get("user") in self.allowed}}


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer " + "x" * (MAX_TOKEN + 1)])
def test_a_request_without_a_usable_bearer_token_is_401_without_asking(header: str | None) -> None:
    api = Apiserver({}, set())
    assert RequestAuthorizer(api)(header) == 401
    assert api.calls == []


def test_a_token_the_apiserver_does_not_authenticate_is_401() -> None:
    assert RequestAuthorizer(Apiserver({}, set()))("Bearer forged") == 401


def test_an_authenticated_user_without_get_on_metrics_is_403() -> None:
    assert RequestAuthorizer(Apiserver({"t": "system:serviceaccount:a:b"}, set()))("Bearer t") == 403


def test_an_authorized_user_is_served_and_the_answer_cached() -> None:
    api = Apiserver({"t": "prom"}, {"prom"})
    auth = RequestAuthorizer(api)
    assert auth("Bearer t") == 200 and auth("bearer t") == 200
    assert api.calls == ["TokenReview", "SubjectAccessReview"]
    assert "t" not in auth._cache and all(len(k) == 64 for k in auth._cache)  # keyed by hash


def test_the_cache_is_bounded() -> None:
    auth = RequestAuthorizer(Apiserver({}, set()), max_entries=3)
    for i in range(10):
        auth(f"Bearer token-{i}")
    assert len(auth._cache) == 3


def test_an_apiserver_failure_is_not_cached() -> None:
    api = Apiserver({"t": "prom"}, {"prom"}, fail=ApiError(500, "InternalError"))
    auth = RequestAuthorizer(api)
    assert auth("Bearer t") == 503
    api.fail = None
    assert auth("Bearer t") == 200
