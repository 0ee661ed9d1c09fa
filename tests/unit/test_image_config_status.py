"""When the operator cannot read an OCI stdio image's config: Rendered False (ImageConfigUnavailable), Ready
False with the same reason, retried (Reconciling True, not Stalled), nothing applied; never InvalidSpec."""

from __future__ import annotations

from typing import Any

from changesets import changes

from mcpop.api.mcpserver import MCPServerStatus
from mcpop.apply.mcpserver.status import IMAGE_CONFIG_UNAVAILABLE, Outcome, compute_status

MESSAGE = "image 127.0.0.1:5000/x/y:1: manifest not found in the registry (HTTP 404)"


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def test_an_unreadable_image_config_is_rendered_false_with_the_reason() -> None:
    c = conds(compute_status(Outcome(generation=3, image_error=MESSAGE), None))
    assert c["Rendered"] == ("False", IMAGE_CONFIG_UNAVAILABLE, MESSAGE)
    assert c["Applied"][:2] == ("False", IMAGE_CONFIG_UNAVAILABLE)
    assert c["Ready"] == ("False", IMAGE_CONFIG_UNAVAILABLE, MESSAGE)


def test_it_is_retried_not_stalled_and_pending() -> None:
    status = compute_status(Outcome(generation=3, image_error=MESSAGE), None)
    c = conds(status)
    assert c["Reconciling"][:2] == ("True", IMAGE_CONFIG_UNAVAILABLE) and c["Stalled"][0] == "False"
    assert status["phase"] == "Pending"
    assert MCPServerStatus.model_validate(status).observed_generation == 3


def test_once_readable_the_condition_clears() -> None:
    old = compute_status(Outcome(generation=3, image_error=MESSAGE), None)
    c = conds(compute_status(Outcome(generation=3, changes=changes(4)), old))
    assert c["Rendered"][:2] == ("True", "Rendered")
