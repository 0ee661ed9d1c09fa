"""Which version of an API group to use, decided once (`mcpop.apply.resources.preferred_version`) for the
operator's client and the CLI's: the core group is v1, a group discovery does not know (404) is not served,
and a 403 or an outage is an error, never "not served"."""

from __future__ import annotations

from typing import Any

import pytest

from mcpop.apply.resources import ApiError, preferred_version
from mcpop.apply.runtime.client import Kube
from mcpop.cli.kube import Client


def _get(answer: dict[str, Any] | ApiError) -> Any:
    def get(path: str) -> dict[str, Any]:
        assert path == "/apis/monitoring.coreos.com"
        if isinstance(answer, ApiError):
            raise answer
        return answer

    return get


def test_the_core_group_is_v1_without_asking() -> None:
    assert preferred_version(_get(ApiError(500, "x")), "") == "v1"


def test_the_version_discovery_prefers_is_used() -> None:
    body = {"preferredVersion": {"groupVersion": "monitoring.coreos.com/v1", "version": "v1"}}
    assert preferred_version(_get(body), "monitoring.coreos.com") == "v1"


def test_a_group_discovery_does_not_know_is_not_served() -> None:
    assert preferred_version(_get(ApiError(404, "NotFound")), "monitoring.coreos.com") is None


@pytest.mark.parametrize("status", [403, 503])
def test_a_refusal_or_an_outage_is_raised_not_taken_for_not_served(status: int) -> None:
    with pytest.raises(ApiError):
        preferred_version(_get(ApiError(status, "x")), "monitoring.coreos.com")


def test_both_clients_decide_with_the_one_function() -> None:
    for cls in (Kube, Client):
        assert "preferred_version" in cls.preferred_version.__code__.co_names
