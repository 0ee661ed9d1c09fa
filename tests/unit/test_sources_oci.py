"""Image configs from a real local OCI registry (crane registry serve, from tools/crane) over the distribution
API: entrypoints of pushed images, a multi-platform index, 404, the Bearer token flow with imagePullSecrets
credentials (a small local token server in front of the registry), and the caches."""

from __future__ import annotations

import base64
import http.server
import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpop.sources.oci import (
    Credential,
    ImageConfigError,
    ImageConfigResolver,
    parse_challenge,
    parse_docker_config,
    parse_ref,
)

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD, TOKEN = "alice", "s3cret-pw", "tok-0123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def crane() -> str:
    if shutil.which("go") is None:
        pytest.skip("Go is needed to build crane (tools/crane path)")
    out = subprocess.run([str(ROOT / "tools/crane"), "path"], check=True, capture_output=True, text=True, timeout=600)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def registry(crane: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`crane registry serve` on loopback; yields host:port."""
    port = _free_port()
    disk = tmp_path_factory.mktemp("registry")
    proc = subprocess.Popen([crane, "registry", "serve", "--address", f"127.0.0.1:{port}", "--disk", str(disk)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    host = f"127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
                break
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("layer") / "layer.tar"
    with tarfile.open(path, "w") as tar:
        data = b"#!/bin/sh\necho server\n"
        info = tarfile.TarInfo("bin/server")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return path


def push(crane: str, layer: Path, ref: str, *, entrypoint: str, cmd: str = "", user: str = "",
         platform: str | None = None) -> str:  # fmt: skip
    """Push a one-layer image with the given config; return its reference."""
    subprocess.run([crane, "append", "--insecure", "--oci-empty-base", "-f", str(layer), "-t", ref],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    args = [crane, "mutate", "--insecure", ref, "-t", ref, "--entrypoint", entrypoint]
    args += ["--cmd", cmd] if cmd else []
    args += ["-u", user] if user else []
    args += ["--set-platform", platform] if platform else []
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return ref


@pytest.fixture(scope="module")
def images(crane: str, registry: str, layer: Path) -> dict[str, str]:
    out = {
        "plain": push(crane, layer, f"{registry}/mcp/stdio-server:1.0", entrypoint="/bin/server",
                      cmd="stdio,--verbose", user="10001", platform="linux/amd64"),
        "amd64": push(crane, layer, f"{registry}/mcp/multi:amd64", entrypoint="/bin/server-amd64",
                      platform="linux/amd64"),
        "arm64": push(crane, layer, f"{registry}/mcp/multi:arm64", entrypoint="/bin/server-arm64",
                      platform="linux/arm64"),
        "private": push(crane, layer, f"{registry}/private/github:2", entrypoint="/server/github-mcp-server",
                        cmd="stdio", platform="linux/amd64"),
    }  # fmt: skip
    out["index"] = f"{registry}/mcp/multi:1"
    subprocess.run([crane, "index", "append", "--insecure", "-m", out["arm64"], "-m", out["amd64"], "-t", out["index"]],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    digest = subprocess.run([crane, "digest", "--insecure", out["plain"]], check=True, capture_output=True,
                            text=True, timeout=60).stdout.strip()  # fmt: skip
    out["by-digest"] = f"{registry}/mcp/stdio-server@{digest}"
    return out


class TokenAuthRegistry(http.server.ThreadingHTTPServer):
    """A registry front that requires a Bearer token from its own token service (the real flow)."""

    upstream: str
    token_requests: int = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: TokenAuthRegistry

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        host = f"127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/token"):
            self.server.token_requests += 1
            good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != good or "service=test-registry" not in self.path:
                self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"Content-Type": "application/json"})
                return
            self._send(200, json.dumps({"token": TOKEN, "expires_in": 300}).encode(),
                       {"Content-Type": "application/json"})  # fmt: skip
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            repo = self.path.split("/v2/", 1)[-1].rsplit("/manifests/", 1)[0].rsplit("/blobs/", 1)[0]
            challenge = f'Bearer realm="http://{host}/token",service="test-registry",scope="repository:{repo}:pull"'
            self._send(401, b"{}", {"WWW-Authenticate": challenge, "Content-Type": "application/json"})
            return
        req = urllib.request.Request(f"http://{self.server.upstream}{self.path}",
                                     headers={"Accept": self.headers.get("Accept", "*/*")})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                self._send(resp.status, resp.read(), {"Content-Type": resp.headers.get("Content-Type", "")})
        except urllib.error.HTTPError as exc:
            self._send(exc.code, exc.read(), {"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def auth_registry(registry: str, images: dict[str, str]) -> Iterator[TokenAuthRegistry]:
    srv = TokenAuthRegistry(("127.0.0.1", 0), _Handler)
    srv.upstream = registry
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _private(auth: TokenAuthRegistry) -> str:
    return f"127.0.0.1:{auth.server_address[1]}/private/github:2"


def _creds(auth: TokenAuthRegistry, password: str = PASSWORD) -> dict[str, Credential]:
    auths = {f"127.0.0.1:{auth.server_address[1]}": {"auth": base64.b64encode(f"{USER}:{password}".encode()).decode()}}
    return parse_docker_config(json.dumps({"auths": auths}))


# --- against the registry ---------------------------------------------------------------------------


def test_resolves_the_entrypoint_cmd_and_user_of_a_pushed_image(images: dict[str, str]) -> None:
    conf = ImageConfigResolver().resolve(images["plain"])
    assert conf.entrypoint == ("/bin/server",) and conf.cmd == ("stdio", "--verbose") and conf.user == "10001"
    assert conf.digest is not None and conf.digest.startswith("sha256:")


def test_an_index_resolves_to_its_linux_amd64_manifest(images: dict[str, str]) -> None:
    assert ImageConfigResolver().resolve(images["index"]).entrypoint == ("/bin/server-amd64",)


def test_another_platform_can_be_asked_for(images: dict[str, str]) -> None:
    conf = ImageConfigResolver(platform=("linux", "arm64")).resolve(images["index"])
    assert conf.entrypoint == ("/bin/server-arm64",)


def test_an_index_without_the_platform_is_no_platform(images: dict[str, str]) -> None:
    with pytest.raises(ImageConfigError) as err:
        ImageConfigResolver(platform=("linux", "s390x")).resolve(images["index"])
    assert err.value.reason == "NoPlatform" and "linux/amd64" in err.value.detail


def test_a_digest_reference_resolves(images: dict[str, str]) -> None:
    assert ImageConfigResolver().resolve(images["by-digest"]).entrypoint == ("/bin/server",)


@pytest.mark.parametrize("path", ["mcp/stdio-server:9.9", "no/such-repo:1"])
def test_an_unknown_tag_or_repository_is_not_found(registry: str, images: dict[str, str], path: str) -> None:
    with pytest.raises(ImageConfigError) as err:
        ImageConfigResolver().resolve(f"{registry}/{path}")
    assert err.value.reason == "NotFound" and err.value.retry
    assert f"image {registry}/{path}: manifest not found" in str(err.value)


def test_a_second_resolve_is_served_from_the_cache(images: dict[str, str]) -> None:
    r = ImageConfigResolver()
    first = r.resolve(images["plain"])
    made = r.requests
    assert r.resolve(images["plain"]) is first and r.requests == made


def test_after_the_tag_ttl_only_the_manifest_is_fetched_again(images: dict[str, str]) -> None:
    now = [0.0]
    r = ImageConfigResolver(tag_ttl=60, clock=lambda: now[0])
    r.resolve(images["plain"])
    made = r.requests
    now[0] = 61.0
    r.resolve(images["plain"])
    assert r.requests == made + 1  # the manifest (tag -> digest); the config is cached by digest


def test_an_unreachable_registry_is_unreachable() -> None:
    with pytest.raises(ImageConfigError) as err:
        ImageConfigResolver().resolve(f"127.0.0.1:{_free_port()}/x/y:1")
    assert err.value.reason == "Unreachable" and err.value.retry


# --- token auth -------------------------------------------------------------------------------------


def test_imagepullsecrets_credentials_get_a_token_and_the_config(auth_registry: TokenAuthRegistry) -> None:
    conf = ImageConfigResolver().resolve(_private(auth_registry), _creds(auth_registry))
    assert conf.entrypoint == ("/server/github-mcp-server",) and conf.cmd == ("stdio",)


def test_the_token_is_reused_for_the_blob_and_later_manifests(auth_registry: TokenAuthRegistry) -> None:
    now = [0.0]
    r = ImageConfigResolver(tag_ttl=1, clock=lambda: now[0])
    before = auth_registry.token_requests
    r.resolve(_private(auth_registry), _creds(auth_registry))
    now[0] = 5.0
    r.resolve(_private(auth_registry), _creds(auth_registry))
    assert auth_registry.token_requests == before + 1


def test_anonymous_access_to_a_private_image_is_unauthorized(auth_registry: TokenAuthRegistry) -> None:
    with pytest.raises(ImageConfigError) as err:
        ImageConfigResolver().resolve(_private(auth_registry))
    assert err.value.reason == "Unauthorized" and "anonymously" in err.value.detail


def test_wrong_credentials_are_unauthorized_and_never_shown(auth_registry: TokenAuthRegistry) -> None:
    with pytest.raises(ImageConfigError) as err:
        ImageConfigResolver().resolve(_private(auth_registry), _creds(auth_registry, "wrong-pw"))
    assert err.value.reason == "Unauthorized" and "imagePullSecrets" in err.value.detail
    assert "wrong-pw" not in str(err.value) and USER not in str(err.value)


def test_a_tag_cached_with_credentials_is_not_served_without_them(auth_registry: TokenAuthRegistry) -> None:
    r = ImageConfigResolver()
    r.resolve(_private(auth_registry), _creds(auth_registry))
    with pytest.raises(ImageConfigError):
        r.resolve(_private(auth_registry))


# --- parsing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "registry", "repository", "tag", "digest"),
    [
        ("ghcr.io/github/github-mcp-server:0.20.2", "ghcr.io", "github/github-mcp-server", "0.20.2", None),
        ("node", "docker.io", "library/node", None, None),
        ("mcp/fetch:1", "docker.io", "mcp/fetch", "1", None),
        ("localhost:5000/a/b", "localhost:5000", "a/b", None, None),
        ("index.docker.io/library/node:22", "docker.io", "library/node", "22", None),
        ("ghcr.io/a/b@sha256:" + "0" * 64, "ghcr.io", "a/b", None, "sha256:" + "0" * 64),
    ],
)
def test_parse_ref(ref: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    r = parse_ref(ref)
    assert (r.registry, r.repository, r.tag, r.digest) == (registry, repository, tag, digest)


@pytest.mark.parametrize("ref", ["ghcr.io/Upper/x:1", "ghcr.io/a/b:bad tag", "ghcr.io/a/b@sha256:short"])
def test_a_malformed_reference_is_a_bad_reference(ref: str) -> None:
    with pytest.raises(ImageConfigError) as err:
        ImageConfigResolver().resolve(ref)
    assert err.value.reason == "BadReference" and not err.value.retry


def test_docker_config_reads_auth_and_username_password_and_docker_hub_keys() -> None:
    doc = {"auths": {
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw1").decode()},
        "ghcr.io": {"username": "gh", "password": "pw2"},
        "https://quay.example.com": {"auth": base64.b64encode(b"q:pw:with:colons").decode()},
    }}  # fmt: skip
    creds = parse_docker_config(json.dumps(doc))
    assert creds["docker.io"] == Credential("hub", "pw1")
    assert creds["ghcr.io"] == Credential("gh", "pw2")
    assert creds["quay.example.com"] == Credential("q", "pw:with:colons")
    assert "pw" not in repr(creds["ghcr.io"])


@pytest.mark.parametrize(
    ("data", "fragment"),
    [("{", "not JSON"), ("[]", "not a JSON object"), ('{"auths": {"x.io": {"auth": "%%%"}}}', "not base64")],
)
def test_a_malformed_docker_config_is_a_clear_error(data: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_docker_config(data)


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"'
    )
    assert scheme == "bearer" and params == {"realm": "https://auth.example/token", "service": "reg",
                                             "scope": "repository:a:pull"}  # fmt: skip
