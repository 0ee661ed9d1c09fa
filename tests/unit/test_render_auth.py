"""`spec.auth` rendered: mcpop-bridge's JWT flags (issuer, audiences with the in-cluster URL as default,
scopes, resource URL), the JWKS ConfigMap key mounted read-only, the refusals (an HTTP server no bridge
fronts, a volume clash), the model's field-naming validation errors, and the CRD schema carrying `auth`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from mcpop.api.mcpserver import MCPServer
from mcpop.render import ObjectSet, RenderError, render
from mcpop.render.auth import JWKS_DIR

ROOT_CRD = "schemas/mcpservers.mcp.allbeone.io.yaml"
ISSUER = "https://idp.example.com/realms/agents"


def server(spec: dict[str, Any], **auth: Any) -> MCPServer:
    full = {"command": ["npx", "srv"], "transport": {"type": "stdio"}, **spec}
    if auth:
        full["auth"] = auth
    return MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                     "metadata": {"name": "files", "namespace": "tools"}, "spec": full})  # fmt: skip


def pod(out: ObjectSet) -> dict[str, Any]:
    dep = out.get("Deployment")
    assert dep is not None
    return dep["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def flags(out: ObjectSet) -> dict[str, str]:
    args = pod(out)["containers"][0]["args"]
    own = args[: args.index("--")]
    return {a: own[i + 1] for i, a in enumerate(own) if a.startswith("--jwt") or a in ("--required-scopes",
            "--jwks-file", "--resource-url")}  # fmt: skip


def test_the_bridge_gets_the_issuer_and_the_in_cluster_url_as_default_audience_and_resource() -> None:
    out = render(server({}, jwt={"issuer": ISSUER, "requiredScopes": ["mcp:tools", "files:read"]}))
    url = "http://files.tools.svc.cluster.local:8000/mcp"
    assert flags(out) == {"--jwt-issuer": ISSUER, "--jwt-audience": url, "--required-scopes": "mcp:tools,files:read",
                          "--resource-url": url}  # fmt: skip
    args = pod(out)["containers"][0]["args"]
    assert args[args.index("--") :] == ["--", "npx", "srv"]  # the server's own command is untouched
    assert not any(v.get("name") == "mcpop-jwks" for v in pod(out)["volumes"])


def test_the_service_port_and_path_make_the_default_audience() -> None:
    out = render(server({"transport": {"type": "stdio", "path": "/rpc"}, "ports": [{"name": "http", "port": 80}]},
                        jwt={"issuer": ISSUER}))  # fmt: skip
    assert flags(out)["--jwt-audience"] == "http://files.tools.svc.cluster.local:80/rpc"


def test_given_audiences_are_passed_and_the_first_url_among_them_is_the_resource() -> None:
    out = render(server({}, jwt={"issuer": ISSUER, "audiences": ["files-api", "https://mcp.example.com/files"]}))
    got = flags(out)
    assert got["--jwt-audience"] == "files-api,https://mcp.example.com/files"
    assert got["--resource-url"] == "https://mcp.example.com/files"
    args = pod(out)["containers"][0]["args"]
    hosts = args[args.index("--allowed-hosts") + 1].split(",")
    assert hosts[-1] == "mcp.example.com" and "files.tools.svc.cluster.local" in hosts  # clients use that name


def test_the_resource_host_is_not_added_twice_nor_beside_a_star() -> None:
    for allowed in (["mcp.example.com"], ["*"]):
        spec = {"gateway": {"allowedHosts": allowed}}
        out = render(server(spec, jwt={"issuer": ISSUER, "audiences": ["https://mcp.example.com/files"]}))
        args = pod(out)["containers"][0]["args"]
        hosts = args[args.index("--allowed-hosts") + 1].split(",")
        assert hosts.count("mcp.example.com") == (0 if allowed == ["*"] else 1)


def test_the_jwks_configmap_key_is_mounted_read_only_where_the_bridge_reads_it() -> None:
    out = render(server({}, jwt={"issuer": ISSUER, "jwks": {"configMapKeyRef": {"name": "idp-jwks", "key": "k.json"}}}))
    assert flags(out)["--jwks-file"] == f"{JWKS_DIR}/jwks.json"
    vol = next(v for v in pod(out)["volumes"] if v["name"] == "mcpop-jwks")
    items = [{"key": "k.json", "path": "jwks.json"}]
    assert vol == {"name": "mcpop-jwks", "configMap": {"name": "idp-jwks", "items": items}}
    mount = next(m for m in pod(out)["containers"][0]["volumeMounts"] if m["name"] == "mcpop-jwks")
    assert mount == {"name": "mcpop-jwks", "mountPath": JWKS_DIR, "readOnly": True}


def test_a_user_volume_named_like_the_jwks_volume_is_refused_naming_the_field() -> None:
    spec = {"volumes": [{"name": "mcpop-jwks", "emptyDir": {}}]}
    with pytest.raises(RenderError) as err:
        render(server(spec, jwt={"issuer": ISSUER, "jwks": {"configMapKeyRef": {"name": "j", "key": "k"}}}))
    assert err.value.field == "spec.volumes[0].name"


def test_an_http_server_with_jwt_is_refused_since_no_bridge_would_check_tokens() -> None:
    spec = {"image": "ghcr.io/example/http-mcp:1", "transport": {"type": "streamable-http"}, "command": None}
    with pytest.raises(RenderError) as err:
        render(server(spec, jwt={"issuer": ISSUER}))
    assert err.value.field == "spec.auth.jwt" and "stdio servers only" in str(err.value)


@pytest.mark.parametrize(
    ("auth", "field", "says"),
    [
        ({"jwt": {"issuer": "http://idp.example.com"}}, "auth.jwt.issuer", "https"),
        ({"jwt": {"issuer": "https://alice:pw@idp.example.com"}}, "auth.jwt.issuer", "userinfo"),
        ({"jwt": {"issuer": "https://idp.example.com/?tenant=a"}}, "auth.jwt.issuer", "query"),
        ({"jwt": {"issuer": ISSUER, "requiredScopes": ["a b"]}}, "auth.jwt.requiredScopes.0", "pattern"),
        ({"jwt": {"issuer": ISSUER, "audiences": ["a,b"]}}, "auth.jwt.audiences.0", "pattern"),
        ({"jwt": {"issuer": ISSUER, "audiences": ["a", "a"]}}, "auth.jwt", "audiences[1]: duplicate"),
        (
            {"jwt": {"issuer": ISSUER, "jwks": {"configMapKeyRef": {"name": "x"}}}},
            "auth.jwt.jwks.configMapKeyRef.key",
            "required",
        ),
        ({}, "auth", "needs jwt"),
        ({"jwt": {"issuer": ISSUER}, "allowUnauthenticated": True}, "auth", "contradicts"),
    ],
)
def test_bad_auth_is_refused_naming_the_field(auth: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        server({"auth": auth})
    (e,) = err.value.errors()
    assert ".".join(str(p) for p in e["loc"]).startswith("spec." + field), e
    assert says in e["msg"] or says in str(err.value), e


def test_the_crd_carries_auth_with_the_issuer_pattern() -> None:
    crd = yaml.safe_load((Path(__file__).resolve().parents[2] / ROOT_CRD).read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    jwt = spec["auth"]["properties"]["jwt"]
    assert jwt["required"] == ["issuer"]
    assert jwt["properties"]["issuer"]["pattern"].startswith("^https://")
    assert set(jwt["properties"]) == {"issuer", "audiences", "jwks", "requiredScopes"}
    assert spec["auth"]["properties"]["allowUnauthenticated"]["type"] == "boolean"
