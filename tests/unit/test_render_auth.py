"""`spec.auth` rendered: mcpop-bridge's JWT flags (issuer, audiences with the in-cluster URL as default,
scopes, resource URL), the JWKS ConfigMap key mounted read-only, ServiceAccount tokens (the subjects, the
cluster's issuer and keys in a ConfigMap, the operator's own subject and handshake audience), the refusals (an HTTP
server no bridge fronts, a volume clash), the model's field-naming validation errors, and the CRD schema carrying
`auth`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from test_render_proxy import NO_BRIDGE

from mcpop.api.mcpserver import MCPServer
from mcpop.render import ObjectSet, RenderError, RenderOptions, render
from mcpop.render.auth import CLUSTER_JWKS_DIR, DEFAULT_CLUSTER_ISSUER, EMPTY_JWKS, JWKS_DIR
from mcpop.render.options import ClusterIssuer

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


def test_the_bridge_gets_the_issuer_and_the_in_cluster_url_as_resource_which_is_the_default_audience() -> None:
    out = render(server({}, jwt={"issuer": ISSUER, "requiredScopes": ["mcp:tools", "files:read"]}))
    url = "http://files.tools.svc.cluster.local:8000/mcp"
    # no --jwt-audience: the bridge's default audience is --resource-url
    assert flags(out) == {"--jwt-issuer": ISSUER, "--required-scopes": "mcp:tools,files:read", "--resource-url": url}
    args = pod(out)["containers"][0]["args"]
    assert args[args.index("--") :] == ["--", "npx", "srv"]  # the server's own command is untouched
    assert not any(v.get("name") == "mcpop-jwks" for v in pod(out)["volumes"])


def test_the_service_port_and_path_make_the_default_audience() -> None:
    out = render(server({"transport": {"type": "stdio", "path": "/rpc"}, "ports": [{"name": "http", "port": 80}]},
                        jwt={"issuer": ISSUER}))  # fmt: skip
    assert flags(out)["--resource-url"] == "http://files.tools.svc.cluster.local:80/rpc"


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


def test_an_sse_server_with_jwt_is_refused_since_no_bridge_would_check_tokens() -> None:
    spec = {
        "image": "ghcr.io/example/http-mcp:1",
        "transport": {"type": "stdio"},
        "gateway": {"enabled": False},
        "command": None,
    }
    with pytest.raises(RenderError) as err:
        render(server(spec, jwt={"issuer": ISSUER}))
    assert err.value.field == "spec.auth.jwt" and "gateway.enabled: false" in str(err.value)


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
        ({}, "auth", "needs jwt or serviceAccounts"),
        ({"serviceAccounts": {"namespaces": ["a", "a"]}}, "auth.serviceAccounts", "namespaces[1]: duplicate"),
        ({"serviceAccounts": {"names": ["Not_A_Name"]}}, "auth.serviceAccounts.names.0", "DNS-1123"),
        (
            {"serviceAccounts": {"namespaces": [f"n{i}" for i in range(33)]}},
            "auth.serviceAccounts.namespaces",
            "at most 32",
        ),
        ({"serviceAccounts": {}, "allowUnauthenticated": True}, "auth", "contradicts"),
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
    assert set(spec["auth"]["properties"]["serviceAccounts"]["properties"]) == {"namespaces", "names", "audience"}
    assert spec["auth"]["properties"]["allowUnauthenticated"]["type"] == "boolean"


CLUSTER = ClusterIssuer("https://kubernetes.default.svc.cluster.local", '{"keys":[{"kid":"k1","kty":"RSA"}]}')
OPERATOR = "system:serviceaccount:mcpop-system:mcpop-operator"


def sa_flags(out: ObjectSet) -> dict[str, str]:
    args = pod(out)["containers"][0]["args"]
    own = args[: args.index("--")]
    return {a: own[i + 1] for i, a in enumerate(own) if a.startswith("--sa-")}


def test_service_accounts_of_the_servers_namespace_are_accepted_by_default() -> None:
    out = render(server({}, serviceAccounts={}), options=RenderOptions(namespace="tools", cluster_issuer=CLUSTER))
    assert sa_flags(out) == {"--sa-issuer": CLUSTER.url, "--sa-jwks-file": f"{CLUSTER_JWKS_DIR}/jwks.json",
                             "--sa-subjects": "system:serviceaccount:tools:*"}  # fmt: skip
    assert flags(out) == {"--resource-url": "http://files.tools.svc.cluster.local:8000/mcp"}  # the audience


def test_listed_namespaces_and_names_become_subjects_and_the_audience_a_flag() -> None:
    sa = {"namespaces": ["agents", "ci"], "names": ["planner"], "audience": "files-agents"}
    got = sa_flags(render(server({}, serviceAccounts=sa)))
    assert got["--sa-subjects"] == "system:serviceaccount:agents:planner,system:serviceaccount:ci:planner"
    assert got["--sa-audience"] == "files-agents"


def test_the_cluster_keys_are_a_configmap_mounted_read_only_where_the_bridge_reads_them() -> None:
    out = render(server({}, serviceAccounts={}), options=RenderOptions(namespace="tools", cluster_issuer=CLUSTER))
    cm = out.get("ConfigMap", "files-cluster-jwks")
    assert cm is not None and cm["data"] == {"jwks.json": CLUSTER.jwks}
    (mount,) = [m for m in pod(out)["containers"][0]["volumeMounts"] if m["mountPath"] == CLUSTER_JWKS_DIR]
    assert mount["readOnly"] is True
    (vol,) = [v for v in pod(out)["volumes"] if v["name"] == mount["name"]]
    assert vol["configMap"]["name"] == "files-cluster-jwks"


def test_offline_the_cluster_keys_are_empty_and_a_warning_says_why() -> None:
    out = render(server({}, serviceAccounts={}))
    cm = out.get("ConfigMap", "files-cluster-jwks")
    assert cm is not None and cm["data"]["jwks.json"] == EMPTY_JWKS
    assert sa_flags(out)["--sa-issuer"] == DEFAULT_CLUSTER_ISSUER
    assert any("every such token is refused" in w for w in out.warnings)


def test_with_auth_the_operators_own_service_account_is_accepted_for_its_handshake() -> None:
    opts = RenderOptions(namespace="tools", cluster_issuer=CLUSTER, operator_subject=OPERATOR)
    out = render(server({}, jwt={"issuer": ISSUER}), options=opts)
    assert sa_flags(out)["--sa-subjects"] == OPERATOR
    assert out.token_audience == "http://files.tools.svc.cluster.local:8000/mcp" == flags(out)["--resource-url"]
    both = render(server({}, jwt={"issuer": ISSUER}, serviceAccounts={"namespaces": ["agents"]}), options=opts)
    assert sa_flags(both)["--sa-subjects"] == f"system:serviceaccount:agents:*,{OPERATOR}"
    # the bridge takes ServiceAccount tokens for --sa-audience: the operator's names it too
    own = render(server({}, jwt={"issuer": ISSUER}, serviceAccounts={"audience": "files-agents"}), options=opts)
    assert own.token_audience == "files-agents" == sa_flags(own)["--sa-audience"]


def test_without_auth_nothing_accepts_tokens_and_the_handshake_sends_none() -> None:
    out = render(
        server({}), options=RenderOptions(namespace="tools", cluster_issuer=CLUSTER, operator_subject=OPERATOR)
    )
    assert out.token_audience is None and out.get("ConfigMap", "files-cluster-jwks") is None
    assert sa_flags(out) == {}


def test_a_stdio_server_without_its_bridge_is_refused_with_service_accounts_naming_the_field() -> None:
    srv = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                    "metadata": {"name": "web", "namespace": "tools"},
                                    "spec": {**NO_BRIDGE,
                                             "auth": {"serviceAccounts": {}}}})  # fmt: skip
    with pytest.raises(RenderError) as err:
        render(srv)
    assert err.value.field == "spec.auth.serviceAccounts"


def test_the_namespaces_whose_service_accounts_may_call_may_reach_the_server() -> None:
    out = render(server({}, serviceAccounts={"namespaces": ["agents"]}), options=RenderOptions(namespace="tools"))
    policy = out.get("NetworkPolicy")
    assert policy is not None
    peers = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in policy["spec"]["ingress"][0]["from"]
    ]
    assert peers == ["agents", "tools"]
