"""A tenant cannot take the operator down through a registry or an image host it names: every fetch has one
deadline for the whole of it, every body a cap held while reading, every MCPRegistry sync a cap on pages,
entries and bytes; what the operator says about a misbehaving source is the status and a fixed reason,
never the body. Against the hostile servers of tests/hostile_servers.py on loopback; the token flow and the
image-config cache against a scripted registry. In the cluster: tests/cluster/test_hostile_registry.py."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import ValidationError

from mcpop.api.mcpregistry import MCPRegistrySpec
from mcpop.api.validation import strip_userinfo
from mcpop.sources.errors import BudgetExceeded, DeadlineExceeded, ResponseTooLarge
from mcpop.sources.http import HttpResponse, UrllibClient
from mcpop.sources.limits import SyncLimits
from mcpop.sources.oci import Credential, ImageConfigError, ImageConfigResolver
from mcpop.sources.official import fetch_official
from mcpop.sources.retry import RetryConfig, RetryPolicy
from mcpop.sources.sync import sync
from tests.hostile_servers import SECRET_BODY, HostileServer, hostile_server

MiB = 1 << 20
NO_SLEEP = RetryPolicy(sleep=lambda s: None)
T = TypeVar("T")


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as srv:
        yield srv


def peak_bytes(fn: Callable[[], T]) -> tuple[T | BaseException, int]:
    """What `fn` returned or raised, and the peak of memory Python allocated meanwhile."""
    tracemalloc.start()
    try:
        try:
            out: T | BaseException = fn()
        except Exception as exc:
            out = exc
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- time -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/tarpit", "/tarpit-headers"])
def test_a_tarpit_is_cut_off_at_the_whole_fetch_deadline(hostile: HostileServer, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"no complete response within 2s \(--fetch-timeout\)"):
        UrllibClient(timeout=2.0).get(hostile.url + path)
    assert time.monotonic() - started < 3.5


def test_the_client_serves_again_after_a_deadline(hostile: HostileServer) -> None:
    client = UrllibClient(timeout=1.0)
    with pytest.raises(DeadlineExceeded):
        client.get(hostile.url + "/tarpit")
    assert client.get(hostile.url + "/status/404").status == 404


def test_a_tarpit_over_tls_is_cut_off_at_the_deadline_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcpop.apply.webhook.certs import new_ca, serving_cert

    ca, ca_key = new_ca()
    cert, key = serving_cert(ca, ca_key, ["127.0.0.1"])
    (tmp_path / "ca.pem").write_bytes(ca)
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    with hostile_server(tls=(tmp_path / "cert.pem", tmp_path / "key.pem")) as srv:
        client = UrllibClient(timeout=1.5)
        for path in ("/tarpit", "/tarpit-headers"):
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                client.get(srv.url + path)
            assert time.monotonic() - started < 3.0
        assert client.get(srv.url + "/status/404").status == 404


# -- size -----------------------------------------------------------------------------------------------


def test_an_endless_body_stops_at_the_cap_in_bounded_memory(hostile: HostileServer) -> None:
    got, peak = peak_bytes(lambda: UrllibClient(timeout=10, max_bytes=2 * MiB).get(hostile.url + "/huge"))
    assert isinstance(got, ResponseTooLarge) and "larger than the 2 MiB cap" in str(got)
    assert peak < 6 * MiB


def test_a_content_length_past_the_cap_is_refused_unread(hostile: HostileServer) -> None:
    got, peak = peak_bytes(lambda: UrllibClient(timeout=10, max_bytes=2 * MiB).get(hostile.url + "/liar"))
    assert isinstance(got, ResponseTooLarge)
    assert peak < 1 * MiB


def test_a_gzip_bomb_inflates_no_further_than_the_cap(hostile: HostileServer) -> None:
    got, peak = peak_bytes(lambda: UrllibClient(timeout=20, max_bytes=2 * MiB).get(hostile.url + "/bomb"))
    assert isinstance(got, ResponseTooLarge) and "2 MiB cap" in str(got)
    assert peak < 8 * MiB


def test_a_huge_oci_manifest_is_refused_at_the_cap(hostile: HostileServer) -> None:
    resolver = ImageConfigResolver(timeout=10)
    got, peak = peak_bytes(lambda: resolver.resolve(f"{hostile.host}/tenant/huge:1"))
    assert isinstance(got, ImageConfigError) and got.reason == "Malformed"
    assert "larger than the 4 MiB cap" in got.detail
    assert peak < 16 * MiB


# -- what one sync may read ------------------------------------------------------------------------------


def test_endless_pagination_stops_at_the_page_cap(hostile: HostileServer) -> None:
    before = hostile.requests["/v0.1/servers"]
    limits = SyncLimits(max_pages=5)
    with pytest.raises(BudgetExceeded, match=r"more than 5 list pages in one sync \(--registry-max-pages\)"):
        fetch_official(hostile.url, UrllibClient(timeout=5), NO_SLEEP, limits=limits)
    assert hostile.requests["/v0.1/servers"] - before == 5


def test_entries_past_the_cap_fail_the_sync(hostile: HostileServer) -> None:
    with pytest.raises(BudgetExceeded, match=r"more than 250 entries in one sync \(--registry-max-entries\)"):
        fetch_official(hostile.url, UrllibClient(timeout=5), NO_SLEEP, limits=SyncLimits(max_entries=250))


def test_bytes_past_the_cap_fail_the_sync(hostile: HostileServer) -> None:
    with pytest.raises(BudgetExceeded, match=r"more than 64 KiB read in one sync \(--registry-max-bytes\)"):
        fetch_official(hostile.url, UrllibClient(timeout=5), NO_SLEEP, limits=SyncLimits(max_bytes=64 << 10))


def test_a_sync_past_a_cap_keeps_the_previous_catalogue_and_says_which_cap(hostile: HostileServer) -> None:
    spec = MCPRegistrySpec.model_validate({"source": {"mcpRegistry": {"url": hostile.url}}})
    result = sync(spec, UrllibClient(timeout=5), policy=NO_SLEEP, limits=SyncLimits(max_pages=3))
    assert not result.ok and result.entries == []
    assert "--registry-max-pages" in (result.error or "")


# -- what is said about it --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_a_failed_sync_says_the_status_never_the_body(hostile: HostileServer, status: int) -> None:
    spec = MCPRegistrySpec.model_validate({"source": {"mcpRegistry": {"url": f"{hostile.url}/status/{status}"}}})
    no_retries = RetryConfig(max_retries=0, rate_limit_max_retries=0, network_max_retries=0)
    result = sync(spec, UrllibClient(timeout=5), policy=RetryPolicy(sleep=lambda s: None, config=no_retries))
    assert not result.ok
    assert f"HTTP {status}" in (result.error or "")
    assert SECRET_BODY not in (result.error or "")


# -- registry URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:pass@registry.example.com", "must not carry credentials"),
        ("https://token@registry.example.com/api", "must not carry credentials"),
        ("https://registry.example.com/#frag", "must not have a fragment"),
    ],
)
def test_a_registry_url_with_userinfo_or_a_fragment_is_refused(url: str, message: str) -> None:
    for spec in ({"url": url}, {"source": {"mcpRegistry": {"url": url}}}):
        with pytest.raises(ValidationError, match=message) as err:
            MCPRegistrySpec.model_validate(spec)
        messages = " ".join(e["msg"] for e in err.value.errors())
        assert "pass@" not in messages and "token@" not in messages


def test_strip_userinfo_drops_the_credentials_of_a_url() -> None:
    assert strip_userinfo("https://user:pass@host.example:8443/p?q=1") == "https://host.example:8443/p?q=1"
    assert strip_userinfo("https://host.example/a@b") == "https://host.example/a@b"


# -- the OCI token flow and the image-config cache --------------------------------------------------------

CONFIG = json.dumps({"config": {"Entrypoint": ["/bin/server"]}, "os": "linux", "architecture": "amd64"}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(CONFIG), "digest": CONFIG_DIGEST},
    "layers": [],
}).encode()  # fmt: skip
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
ALICE = Credential("alice", "alice-secret")
BOB = Credential("bob", "bob-secret")


class ScriptedRegistry:
    """An `HttpClient` playing a registry at `registry.example.com` whose token service is `realm`: every
    /v2/ request without a Bearer token gets a 401 challenge; tokens are granted to anyone."""

    def __init__(self, realm: str) -> None:
        self.realm = realm
        self.sent: list[tuple[str, dict[str, str]]] = []

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        h = dict(headers or {})
        self.sent.append((url, h))
        if url.startswith(self.realm):
            return HttpResponse(200, url, json.dumps({"token": "t0k", "expires_in": 300}).encode())
        if h.get("Authorization") != "Bearer t0k":
            challenge = f'Bearer realm="{self.realm}",service="reg"'
            return HttpResponse(401, url, b"{}", {"www-authenticate": challenge})
        if "/manifests/" in url:
            return HttpResponse(200, url, MANIFEST, {"content-type": "application/vnd.oci.image.manifest.v1+json"})
        if url.endswith(f"/blobs/{CONFIG_DIGEST}"):
            return HttpResponse(200, url, CONFIG)
        return HttpResponse(404, url)

    def token_requests(self) -> list[dict[str, str]]:
        return [h for url, h in self.sent if url.startswith(self.realm)]


IMAGE = "registry.example.com/team/server:1"
CREDS = {"registry.example.com": ALICE}


def test_an_http_token_realm_is_refused_for_a_registry_spoken_to_over_https() -> None:
    reg = ScriptedRegistry("http://registry.example.com/token")
    with pytest.raises(ImageConfigError, match="token realm is not an https URL") as err:
        ImageConfigResolver(reg).resolve(IMAGE, CREDS)
    assert err.value.reason == "Unauthorized"
    assert reg.token_requests() == []


def test_an_http_token_realm_is_allowed_for_an_insecure_registry() -> None:
    reg = ScriptedRegistry("http://registry.example.com/token")
    resolver = ImageConfigResolver(reg, plain_http=frozenset({"registry.example.com"}))
    assert resolver.resolve(IMAGE, CREDS).entrypoint == ("/bin/server",)


def test_credentials_go_to_a_realm_on_the_registrys_own_host() -> None:
    reg = ScriptedRegistry("https://registry.example.com/token")
    ImageConfigResolver(reg).resolve(IMAGE, CREDS)
    assert [h.get("Authorization") for h in reg.token_requests()] == [ALICE.basic()]


def test_credentials_are_not_sent_to_a_realm_on_another_host() -> None:
    reg = ScriptedRegistry("https://tokens.elsewhere.example/token")
    ImageConfigResolver(reg).resolve(IMAGE, CREDS)  # the realm grants anonymous tokens
    assert reg.token_requests() and all("Authorization" not in h for h in reg.token_requests())


def test_credentials_go_to_a_realm_host_in_trusted_token_realms() -> None:
    reg = ScriptedRegistry("https://tokens.elsewhere.example/token")
    resolver = ImageConfigResolver(reg, trusted_realms=frozenset({"tokens.elsewhere.example"}))
    resolver.resolve(IMAGE, CREDS)
    assert [h.get("Authorization") for h in reg.token_requests()] == [ALICE.basic()]


def test_a_refused_anonymous_token_says_the_credentials_were_withheld() -> None:
    class Refusing(ScriptedRegistry):
        def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
            if url.startswith(self.realm):
                self.sent.append((url, dict(headers or {})))
                return HttpResponse(401, url, b"{}")
            return super().get(url, headers)

    with pytest.raises(ImageConfigError, match="not in --trusted-token-realms") as err:
        ImageConfigResolver(Refusing("https://tokens.elsewhere.example/token")).resolve(IMAGE, CREDS)
    assert "alice-secret" not in str(err.value) and base64.b64encode(b"alice").decode() not in str(err.value)


def test_a_config_read_with_one_namespaces_credentials_does_not_serve_another() -> None:
    reg = ScriptedRegistry("https://registry.example.com/token")
    resolver = ImageConfigResolver(reg)
    by_digest = f"registry.example.com/team/server@{MANIFEST_DIGEST}"
    resolver.resolve(by_digest, {"registry.example.com": ALICE})
    blob_reads = sum(1 for url, _ in reg.sent if "/blobs/" in url)
    resolver.resolve(by_digest, {"registry.example.com": ALICE})
    assert sum(1 for url, _ in reg.sent if "/blobs/" in url) == blob_reads, "the same credentials: cached"
    resolver.resolve(by_digest, {"registry.example.com": BOB})
    assert sum(1 for url, _ in reg.sent if "/blobs/" in url) > blob_reads, "other credentials: read again"
