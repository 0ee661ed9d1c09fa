"""Image configs from a real local OCI registry (crane registry serve, from tools/crane) over the distribution
API: entrypoints of pushed images, a multi-platform index, 404, the Bearer token flow with imagePullSecrets
credentials (a small local token server in front of the registry), and the caches."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mcpop.api.serverjson import ServerJSON
from mcpop.sources.oci import (
    Credential,
    ImageConfigError,
    ImageConfigResolver,
    parse_challenge,
    parse_docker_config,
    parse_ref,
)
from tests.ocikit import (
    PASSWORD,
    USER,
    TokenAuthRegistry,
    crane_path,
    digest,
    docker_config,
    index,
    layer_tar,
    local_registry,
    push,
    token_auth_registry,
)
from tests.ports import free_port


@pytest.fixture(scope="module")
def crane() -> str:
    path = crane_path()
    if path is None:
        pytest.skip("Go is needed to build crane (tools/crane path)")
    return path


@pytest.fixture(scope="module")
def registry(crane: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_registry(crane, tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture(scope="module")
def images(crane: str, registry: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    layer = layer_tar(tmp_path_factory.mktemp("layer") / "layer.tar")
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
    out["index"] = index(crane, f"{registry}/mcp/multi:1", out["arm64"], out["amd64"])
    out["by-digest"] = f"{registry}/mcp/stdio-server@{digest(crane, out['plain'])}"
    return out


@pytest.fixture(scope="module")
def auth_registry(registry: str, images: dict[str, str]) -> Iterator[TokenAuthRegistry]:
    with token_auth_registry(registry) as srv:
        yield srv


def _private(auth: TokenAuthRegistry) -> str:
    return f"{auth.host}/private/github:2"


def _creds(auth: TokenAuthRegistry, password: str = PASSWORD) -> dict[str, Credential]:
    return parse_docker_config(docker_config(auth.host, password=password))


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
        ImageConfigResolver().resolve(f"127.0.0.1:{free_port()}/x/y:1")
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


# --- the cluster CLI (mcp diff / apply) renders as the operator does --------------------------------


def _oci_stdio(image: str) -> tuple[dict[str, Any], ServerJSON]:
    entry = ServerJSON.model_validate({"name": "io.github.example/s", "description": "d", "version": "1",
                                       "packages": [{"registryType": "oci", "identifier": image,
                                                     "transport": {"type": "stdio"}}]})  # fmt: skip
    obj = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "s", "namespace": "ns"},
           "spec": {"registry": {"name": "io.github.example/s"}}}  # fmt: skip
    return obj, entry


def test_the_cli_plan_reads_the_image_config_from_the_registry(images: dict[str, str]) -> None:
    from mcpop.cli.plan import render_server

    obj, entry = _oci_stdio(images["plain"])
    objs, _ = render_server(obj, entry, None)
    (dep,) = [o for o in objs if o["kind"] == "Deployment"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"][-3:] == ["/bin/server", "stdio", "--verbose"]


def test_the_cli_plan_reports_an_unreadable_image_config(registry: str) -> None:
    from mcpop.cli.plan import PlanError, render_server

    obj, entry = _oci_stdio(f"{registry}/no/such:1")
    with pytest.raises(PlanError, match=r"cannot read the image config the operator needs: image .* not found"):
        render_server(obj, entry, None)


# --- the operator's side ----------------------------------------------------------------------------


def test_the_operator_counts_failed_image_config_reads_by_reason() -> None:
    from mcpop.api.mcpserver import MCPServerSpec
    from mcpop.apply.mcpserver.images import IMAGE_CONFIG_FAILURES, ImageConfigs

    before = IMAGE_CONFIG_FAILURES.labels("Unreachable")._value.get()
    configs = ImageConfigs(None, ImageConfigResolver())  # type: ignore[arg-type]  # no imagePullSecrets: no API call
    spec = MCPServerSpec.model_validate({"image": "x/y", "tag": "1"})
    with pytest.raises(ImageConfigError):
        configs.resolve("ns", spec, f"127.0.0.1:{free_port()}/x/y:1")
    assert IMAGE_CONFIG_FAILURES.labels("Unreachable")._value.get() == before + 1
    assert IMAGE_CONFIG_FAILURES.labels("NotFound")._value.get() >= 0  # every reason is exported from the start


def test_insecure_registries_are_read_over_plain_http() -> None:
    from mcpop.apply.mcpserver.images import ImageConfigs

    configs = ImageConfigs(None, plain_http=frozenset({"registry.internal:5000"}))  # type: ignore[arg-type]
    url = configs.resolver._url(parse_ref("registry.internal:5000/mcp/x:1"), "manifests/1")
    assert url == "http://registry.internal:5000/v2/mcp/x/manifests/1"
    assert configs.resolver._url(parse_ref("registry.example/mcp/x:1"), "manifests/1").startswith("https://")
