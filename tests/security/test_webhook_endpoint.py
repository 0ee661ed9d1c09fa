"""The admission webhook's HTTPS endpoint under hostile clients: a client that connects and never completes the
TLS handshake is dropped after a short timeout, idle kept-alive connections do not stop reviews from being
answered, connections beyond the bound are closed at once instead of each taking a thread, and the listen
backlog holds a burst of the apiserver's connections."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpop.apply.runtime.tls import ReloadingContext
from mcpop.apply.webhook import certs, server
from mcpop.apply.webhook.admission import Policy, handlers
from mcpop.apply.webhook.server import WebhookServer

REVIEW = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "u1", "operation": "CREATE", "kind": {"kind": "MCPServer"}, "namespace": "team",
    "object": {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
               "metadata": {"name": "srv", "namespace": "team"},
               "spec": {"image": "ghcr.io/example/s:1"}}}}  # fmt: skip


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[WebhookServer]:
    data = certs.desired_secret_data({}, ["127.0.0.1"])
    certs.write_files(tmp_path, data)
    hook = WebhookServer("127.0.0.1", 0, ReloadingContext(tmp_path, "1.2", ()), handlers(Policy()))
    hook.start()
    yield hook
    hook.close()


def _client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


def _review(port: int) -> dict[str, object]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=_client_context(), timeout=10)
    try:
        conn.request("POST", "/validate-mcp-allbeone-io-v1", json.dumps(REVIEW), {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        answer: dict[str, object] = json.loads(response.read())
        return answer
    finally:
        conn.close()


def test_a_client_that_never_completes_the_handshake_is_dropped(
    webhook: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "HANDSHAKE_TIMEOUT", 0.5)
    sock = socket.create_connection(("127.0.0.1", webhook.port), timeout=10)
    try:
        start = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, not by our timeout
        assert time.monotonic() - start < 5
    finally:
        sock.close()


def test_two_hundred_idle_connections_do_not_stop_reviews(webhook: WebhookServer) -> None:
    ctx = _client_context()
    idle = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", webhook.port), timeout=10)) for _ in range(200)]
    try:
        start = time.monotonic()
        assert _review(webhook.port)["response"]["allowed"] is True  # type: ignore[index]
        assert time.monotonic() - start < 2
    finally:
        for s in idle:
            s.close()


def test_connections_beyond_the_bound_are_closed_at_once(
    webhook: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "MAX_CONNECTIONS", 5)
    ctx = _client_context()
    held = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", webhook.port), timeout=10)) for _ in range(5)]
    try:
        extra = socket.create_connection(("127.0.0.1", webhook.port), timeout=10)
        try:
            assert extra.recv(1) == b""
        finally:
            extra.close()
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 10  # their threads see the held connections close, and free their places
    while True:
        try:
            assert _review(webhook.port)["response"]["allowed"] is True  # type: ignore[index]
            break
        except (ConnectionError, ssl.SSLError, http.client.HTTPException):
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_the_listen_backlog_holds_a_burst_of_connections() -> None:
    assert server._Server.request_queue_size >= 128
