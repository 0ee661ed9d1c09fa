"""The official MCP conformance suite with authentication on (issue 21): every server scenario, as in
test_conformance.py, against the bridge run as an OAuth resource server (--jwt-issuer with the JWKS of an
issuer made here, --jwt-audience, --required-scopes). The suite's CLI sends no Authorization header, so it
speaks to tests/token_proxy.py, which adds a valid token (the right issuer, audience and scope, an hour to
live) to every request on its way to the bridge.

Covers: each scenario passes or is in tests/fixtures/conformance-baseline.yml, the same baseline as without
authentication (a stale entry fails too); every scenario the suite lists ran; the proxy's token is what lets
the suite in (the bridge itself answers 401 to an initialize without it, 200 through the proxy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from bridge_process import post_initialize
from conformance_suite import BASELINE, Run, stale_entries, suite_behind_bridge, unexpected_failures
from idp import Issuer
from ports import free_port
from token_proxy import running_token_proxy

#: never fetched: with --jwks-file the bridge reads the keys from the file, not from OIDC discovery
ISSUER = "https://idp.test"
SCOPE = "mcp:tools"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("conformance-auth")
    port = free_port()
    audience = f"http://127.0.0.1:{port}/mcp"
    issuer = Issuer()
    issuer.url = ISSUER
    (tmp / "jwks.json").write_text(json.dumps(issuer.jwks()))
    token = issuer.token(audience, scope=SCOPE, exp=int(time.time()) + 3600)
    flags = ["--jwt-issuer", ISSUER, "--jwt-audience", audience, "--jwks-file", str(tmp / "jwks.json"),
             "--resource-url", audience, "--required-scopes", SCOPE]  # fmt: skip
    with suite_behind_bridge(tmp, *flags, port=port, front=lambda base: running_token_proxy(base, token)) as run:
        yield run


def test_every_server_scenario_passes_or_is_an_expected_failure_with_authentication_on(run: Run) -> None:
    unexpected = unexpected_failures(run)
    assert not unexpected, f"conformance failures with authentication on: {unexpected}\n{run.output[-6000:]}"


def test_a_baseline_entry_whose_scenario_passes_with_authentication_on_fails_the_test(run: Run) -> None:
    stale = stale_entries(run)
    assert not stale, f"these pass with authentication on: {stale} (in {BASELINE.name})"


def test_every_scenario_the_suite_lists_ran_with_authentication_on(run: Run) -> None:
    assert len(run.listed) >= 30, run.listed
    assert sorted(run.failed) == sorted(run.listed)


def test_the_bridge_answers_401_to_an_initialize_without_the_proxys_token(run: Run) -> None:
    status, headers, _ = post_initialize(run.bridge + "/mcp")
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer resource_metadata=")


def test_an_initialize_through_the_proxy_is_let_in(run: Run) -> None:
    status, headers, body = post_initialize(run.url)
    assert status == 200, body
    assert headers["mcp-session-id"]
