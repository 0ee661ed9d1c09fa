"""Behaviour of the core object set: forms, transports, bridge, probes, config, names, hashes, owners."""

from __future__ import annotations

from typing import Any

import pytest

from mcpop.api.mcpserver import MCPServer
from mcpop.render import ObjectSet, Owner, RenderError, RenderOptions, render
from mcpop.render.names import dns_label, label_value
from mcpop.render.normalize import BRIDGE_BIN, BRIDGE_IMAGE, NODE_IMAGE, NONROOT_UID, PYTHON_IMAGE
from mcpop.render.objectset import apply_order_key


def server(spec: dict[str, Any], name: str = "demo", namespace: str | None = None) -> MCPServer:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": meta,
                                     "spec": spec})  # fmt: skip


def container(out: ObjectSet) -> dict[str, Any]:
    dep = out.get("Deployment")
    assert dep is not None
    return dep["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_flat_and_runtime_forms_render_the_same_container() -> None:
    flat = render(server({"image": "ghcr.io/a/b", "tag": "1.0", "port": 9000, "args": ["--x"]}))
    runtime = render(server({"runtime": {"image": "ghcr.io/a/b:1.0", "port": 9000, "args": ["--x"]}}))
    assert container(flat) == container(runtime)


def test_defaults_are_port_8080_one_replica_cluster_ip_and_contract_resources() -> None:
    out = render(server({"image": "a"}))
    dep, svc = out.get("Deployment"), out.get("Service")
    assert dep and svc
    assert dep["spec"]["replicas"] == 1
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["ports"][0]["port"] == 8080
    assert container(out)["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                           "limits": {"cpu": "500m", "memory": "512Mi"}}  # fmt: skip
    assert container(out)["image"] == "a:latest"


def test_a_partial_resources_keeps_the_defaults_of_what_it_leaves_out() -> None:
    out = render(server({"image": "a", "resources": {"requests": {"cpu": "50m"}}}))
    assert container(out)["resources"] == {"requests": {"cpu": "50m", "memory": "128Mi"},
                                           "limits": {"cpu": "500m", "memory": "512Mi"}}  # fmt: skip


def test_a_defaulted_limit_is_never_below_the_given_request_nor_a_defaulted_request_above_the_given_limit() -> None:
    out = render(server({"image": "a", "resources": {"requests": {"cpu": "2"}, "limits": {"memory": "64Mi"}}}))
    assert container(out)["resources"] == {"requests": {"cpu": "2", "memory": "64Mi"},
                                           "limits": {"cpu": "2", "memory": "64Mi"}}  # fmt: skip


def test_image_with_tag_or_digest_keeps_it() -> None:
    assert container(render(server({"image": "reg:5000/a:2.0", "tag": "9"})))["image"] == "reg:5000/a:2.0"
    digest = "a@sha256:" + "0" * 64
    assert container(render(server({"image": digest})))["image"] == digest


def test_stdio_runs_behind_mcpop_bridge_in_the_node_image_with_the_command_after_the_flags() -> None:
    out = render(server({"runtime": {"type": "node", "command": ["npx", "-y", "pkg@1"]},
                         "transport": {"type": "stdio"}}))  # fmt: skip
    c = container(out)
    assert c["image"] == NODE_IMAGE
    assert c["command"] == [BRIDGE_BIN]
    assert c["args"][c["args"].index("--") :] == ["--", "npx", "-y", "pkg@1"]
    assert c["ports"][0]["containerPort"] == 8000
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    svc = out.get("Service")
    assert svc and svc["spec"]["ports"][0]["port"] == 8000


def test_python_stdio_server_runs_in_the_uv_image() -> None:
    c = container(render(server({"runtime": {"type": "python", "command": ["uvx", "mcp-server-time"]},
                                 "transport": {"type": "stdio"}})))  # fmt: skip
    assert c["image"] == PYTHON_IMAGE


def test_the_command_picks_the_runtime_image_when_runtime_type_is_unset() -> None:
    c = container(render(server({"command": ["uvx", "mcp-server-time"], "transport": {"type": "stdio"}})))
    assert c["image"] == PYTHON_IMAGE


def test_the_operators_runtime_images_override_the_defaults() -> None:
    opts = RenderOptions(stdio_images={"node": "mirror/node:22", "python": "mirror/uv:3.12"})
    for command, image in ((["npx", "-y", "pkg@1"], "mirror/node:22"), (["uvx", "pkg"], "mirror/uv:3.12")):
        out = render(server({"command": command, "transport": {"type": "stdio"}}), options=opts)
        assert container(out)["image"] == image


def test_the_default_runtime_images_run_as_a_numeric_non_root_user() -> None:
    out = render(server({"command": ["npx", "-y", "pkg@1"], "transport": {"type": "stdio"}}))
    user = container(out)["securityContext"]["runAsUser"]
    assert isinstance(user, int) and user > 0


def test_without_a_default_user_the_default_runtime_images_get_the_nonroot_uid() -> None:
    spec = {"command": ["npx", "-y", "pkg@1"], "transport": {"type": "stdio"}, "securityContext": {"runAsUser": None}}
    out = render(server(spec))
    assert container(out)["securityContext"]["runAsUser"] == NONROOT_UID


def test_a_stdio_servers_own_image_runs_the_bridge_with_its_command() -> None:
    out = render(server({"image": "own:1", "command": ["srv", "--flag value"], "transport": {"type": "stdio"}}))
    c = container(out)
    assert c["image"] == "own:1" and c["command"] == [BRIDGE_BIN]
    assert c["args"][-3:] == ["--", "srv", "--flag value"]
    assert out.get("Deployment")["spec"]["template"]["spec"]["initContainers"][0]["image"] == BRIDGE_IMAGE  # type: ignore[index]


def test_the_operators_bridge_image_is_what_the_init_container_copies_the_bridge_from() -> None:
    mirror = "mirror.example/mcpop-bridge@sha256:" + "ab" * 32
    for spec in ({"image": "own:1", "command": ["srv"]}, {"command": ["npx", "-y", "pkg@1"]}):
        out = render(server({**spec, "transport": {"type": "stdio"}}), options=RenderOptions(bridge_image=mirror))
        assert [c["image"] for c in out.get("Deployment")["spec"]["template"]["spec"]["initContainers"]] == [mirror]  # type: ignore[index]


def test_runtime_image_is_where_the_server_runs() -> None:
    c = container(render(server({"runtime": {"image": "own:2", "command": ["srv"]}, "transport": {"type": "stdio"}})))
    assert c["image"] == "own:2"


def test_gateway_port_is_the_bridges_port() -> None:
    spec = {"command": ["npx", "srv"], "transport": {"type": "stdio"}, "gateway": {"port": 7000}}
    c = container(render(server(spec)))
    assert c["ports"][0]["containerPort"] == 7000 and c["args"][:2] == ["--port", "7000"]


def test_gateway_max_sessions_bounds_the_bridges_sessions() -> None:
    spec = {"command": ["npx", "srv"], "transport": {"type": "stdio"}, "gateway": {"maxSessions": 4}}
    args = container(render(server(spec)))["args"]
    assert args[args.index("--max-sessions") + 1] == "4"


def test_the_bridge_accepts_the_services_names_in_host_and_origin_and_allowed_hosts_adds_more() -> None:
    spec = {"command": ["npx", "srv"], "transport": {"type": "stdio"}}
    args = container(render(server(spec, namespace="tools")))["args"]
    assert args[args.index("--allowed-hosts") + 1] == "demo,demo.tools,demo.tools.svc,demo.tools.svc.cluster.local"
    assert args.index("--allowed-hosts") < args.index("--")
    spec["gateway"] = {"allowedHosts": ["mcp.example.com", ".internal.example", "demo"]}
    out = render(server(spec, namespace="tools"))
    args = container(out)["args"]
    assert args[args.index("--allowed-hosts") + 1] == (
        "demo,demo.tools,demo.tools.svc,demo.tools.svc.cluster.local,mcp.example.com,.internal.example"
    )
    assert not out.warnings


def test_allowed_hosts_star_turns_the_check_off_with_a_warning() -> None:
    spec = {"command": ["npx", "srv"], "transport": {"type": "stdio"}, "gateway": {"allowedHosts": ["*"]}}
    out = render(server(spec))
    args = container(out)["args"]
    assert args[args.index("--allowed-hosts") + 1] == "*"
    assert any("no DNS-rebinding protection" in w for w in out.warnings)


@pytest.mark.parametrize("bad", ["a,b", "evil.com/x", "", "-x.com", "a..b", "*.example.com", "http://x"])
def test_allowed_hosts_are_host_names_only(bad: str) -> None:
    with pytest.raises(ValueError):
        server({"command": ["npx", "srv"], "transport": {"type": "stdio"}, "gateway": {"allowedHosts": [bad]}})


def test_gateway_args_are_ignored_with_a_warning_naming_what_they_were() -> None:
    out = render(server({"command": ["npx", "srv"], "transport": {"type": "stdio"},
                         "gateway": {"args": ["--stdio", "<cmd>"]}}))  # fmt: skip
    assert any(w.startswith("gateway.args ignored: supergateway is gone") for w in out.warnings)
    assert "<cmd>" not in container(out)["args"]


def test_gateway_image_is_the_image_the_server_runs_in_with_a_warning() -> None:
    out = render(server({"command": ["srv"], "transport": {"type": "stdio"}, "gateway": {"image": "both:1"}}))
    assert container(out)["image"] == "both:1"
    assert any("gateway.image both:1 is now the image the server runs in" in w for w in out.warnings)


def test_gateway_env_reaches_the_server_container() -> None:
    out = render(server({"command": ["npx", "srv"], "transport": {"type": "stdio"},
                         "gateway": {"env": [{"name": "DEBUG", "value": "1"}]}}))  # fmt: skip
    assert {"name": "DEBUG", "value": "1"} in container(out)["env"]


def test_an_unknown_command_without_an_image_runs_in_the_node_image_with_a_warning() -> None:
    out = render(server({"command": ["srv"], "transport": {"type": "stdio"}}))
    assert container(out)["image"] == NODE_IMAGE
    assert any("no image for command 'srv'" in w for w in out.warnings)


def test_args_naming_a_variable_are_expanded_by_the_bridge_not_the_kubelet() -> None:
    out = render(server({"command": ["npx", "srv"], "args": ["--token=$(TOKEN)"], "transport": {"type": "stdio"},
                         "secretRefs": [{"name": "s", "key": "token", "envName": "TOKEN"}]}))  # fmt: skip
    c = container(out)
    assert "--expand-env" in c["args"]
    assert c["args"][-1] == "--token=$$(TOKEN)"  # the kubelet turns $$ into $: the bridge sees $(TOKEN)
    assert {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}} in c["env"]


def test_args_without_variables_are_passed_as_written_without_expand_env() -> None:
    c = container(render(server({"command": ["npx", "srv"], "args": ["a$b"], "transport": {"type": "stdio"}})))
    assert "--expand-env" not in c["args"] and c["args"][-1] == "a$b"


def test_no_rendered_object_names_supergateway() -> None:
    for command in (["npx", "-y", "pkg@1"], ["uvx", "pkg"], ["srv"]):
        out = render(server({"command": command, "transport": {"type": "stdio"}}))
        assert "supergateway" not in str(out.objects)


def test_a_bridged_server_on_several_pods_gets_client_ip_session_affinity() -> None:
    out = render(server({"command": ["npx", "srv"], "transport": {"type": "stdio"}, "replicas": 2}))
    assert out.get("Service")["spec"]["sessionAffinity"] == "ClientIP"  # type: ignore[index]


def test_a_bridged_server_on_one_pod_or_an_http_server_gets_no_session_affinity() -> None:
    one = render(server({"command": ["npx", "srv"], "transport": {"type": "stdio"}}))
    http = render(server({"image": "a", "replicas": 3}))
    assert "sessionAffinity" not in one.get("Service")["spec"]  # type: ignore[index]
    assert "sessionAffinity" not in http.get("Service")["spec"]  # type: ignore[index]


def test_sse_transport_serves_its_port() -> None:
    out = render(server({"image": "a", "port": 3001, "transport": {"type": "sse", "path": "/sse"}}))
    assert container(out)["ports"][0]["containerPort"] == 3001
    assert container(out)["livenessProbe"]["tcpSocket"]["port"] == "http"


def test_user_probes_replace_the_defaults() -> None:
    c = container(render(server({"image": "a", "probes": {"readiness": {"httpGet": {"path": "/r", "port": 1}}}})))
    assert c["readinessProbe"] == {"httpGet": {"path": "/r", "port": 1}}
    assert "tcpSocket" in c["livenessProbe"]


def test_a_startup_probe_every_second_on_the_liveness_check_by_default() -> None:
    # the kubelet probes readiness once a startup probe passes: Ready about a second after the pod listens
    http = container(render(server({"image": "a"})))
    assert http["startupProbe"] == {"tcpSocket": {"port": "http"}, "periodSeconds": 1, "failureThreshold": 120}
    bridged = container(render(server({"runtime": {"type": "node", "command": ["npx", "-y", "pkg@1"]},
                                       "transport": {"type": "stdio"}})))  # fmt: skip
    assert bridged["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_own_liveness_or_readiness_probes_get_no_default_startup_probe() -> None:
    for kind in ("liveness", "readiness"):
        c = container(render(server({"image": "a", "probes": {kind: {"httpGet": {"path": "/p", "port": 1}}}})))
        assert "startupProbe" not in c
    own = container(render(server({"image": "a", "probes": {"startup": {"failureThreshold": 9}}})))
    assert own["startupProbe"] == {"tcpSocket": {"port": "http"}, "failureThreshold": 9}


def test_probe_timing_only_keeps_the_default_check() -> None:
    c = container(render(server({"image": "a", "probes": {"liveness": {"periodSeconds": 60}}})))
    assert c["livenessProbe"] == {"tcpSocket": {"port": "http"}, "periodSeconds": 60}


def test_config_renders_a_configmap_mounted_and_hashed() -> None:
    one = render(server({"image": "a", "config": {"k": "v"}}))
    two = render(server({"image": "a", "config": {"k": "w"}}))
    cm = one.get("ConfigMap")
    assert cm and cm["data"]["config.json"] == '{\n  "k": "v"\n}\n'
    ann = lambda o: o.get("Deployment")["spec"]["template"]["metadata"]["annotations"]  # noqa: E731
    assert ann(one)["mcp.allbeone.io/config-hash"] != ann(two)["mcp.allbeone.io/config-hash"]
    assert {"name": "MCP_CONFIG_PATH", "value": "/etc/mcp/config.json"} in container(one)["env"]


def test_referenced_content_hash_rolls_the_pod_template() -> None:
    out = render(server({"image": "a"}), options=RenderOptions(referenced_content_hash="abc"))
    dep = out.get("Deployment")
    assert dep and dep["spec"]["template"]["metadata"]["annotations"]["mcp.allbeone.io/referenced-config-hash"] == "abc"


def test_secret_refs_are_wired_as_references() -> None:
    c = container(render(server({"image": "a", "secretRefs": [{"name": "s", "key": "api-key"}, {"name": "all"}]})))
    assert {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "api-key"}}} in c["env"]
    assert {"secretRef": {"name": "all"}} in c["envFrom"]


def test_env_value_from_kinds_are_kept() -> None:
    env = [{"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "R", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]  # fmt: skip
    c = container(render(server({"image": "a", "env": env})))
    assert c["env"][:2] == env


def test_restricted_security_defaults() -> None:
    out = render(server({"image": "a"}))
    dep = out.get("Deployment")
    assert dep
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(out)["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
    mounts = {m["mountPath"] for m in container(out)["volumeMounts"]}
    assert {"/tmp", "/cache"} <= mounts


def test_weakened_security_is_warned_about_where_an_admin_allows_it() -> None:
    spec = {"image": "a", "securityContext": {"runAsNonRoot": False, "runAsUser": 0}}
    out = render(server(spec), options=RenderOptions(pod_security="baseline"))
    assert any("root" in w for w in out.warnings)


def test_pdb_only_with_several_replicas_or_when_asked() -> None:
    assert render(server({"image": "a"})).get("PodDisruptionBudget") is None
    assert render(server({"image": "a", "replicas": 2})).get("PodDisruptionBudget") is not None
    pdb = render(server({"image": "a", "podDisruptionBudget": {"minAvailable": 1}})).get("PodDisruptionBudget")
    assert pdb and pdb["spec"]["minAvailable"] == 1


def test_long_names_are_trimmed_with_a_hash_and_do_not_collide() -> None:
    a = "x" * 70 + ".one"
    b = "x" * 70 + ".two"
    assert len(dns_label(a)) <= 63 and dns_label(a) != dns_label(b)
    assert dns_label("1abc") == "mcp-1abc"
    assert len(label_value("v" * 100)) <= 63


def test_owner_reference_is_added_when_given() -> None:
    out = render(server({"image": "a"}), options=RenderOptions(owner=Owner(name="demo", uid="u-1")))
    assert all(o["metadata"]["ownerReferences"][0]["uid"] == "u-1" for o in out.objects)


def test_namespace_comes_from_metadata_then_options() -> None:
    assert render(server({"image": "a"}, namespace="ns1")).objects[0]["metadata"]["namespace"] == "ns1"
    out = render(server({"image": "a"}), options=RenderOptions(namespace="ns2"))
    assert out.objects[0]["metadata"]["namespace"] == "ns2"


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [(["Deployment", "ConfigMap", "ServiceAccount"], ["ServiceAccount", "ConfigMap", "Deployment"]),
     (["Service", "Deployment", "Role"], ["Role", "Service", "Deployment"]),
     (["Zebra", "Deployment"], ["Deployment", "Zebra"])],
)  # fmt: skip
def test_apply_order_is_config_then_workloads(kinds: list[str], expected: list[str]) -> None:
    objs = [{"kind": k, "metadata": {"name": "n", "namespace": "d"}} for k in kinds]
    assert [o["kind"] for o in sorted(objs, key=apply_order_key)] == expected


def test_registry_reference_without_registry_data_names_the_field() -> None:
    with pytest.raises(RenderError) as err:
        render(server({"registry": {"name": "nothing-here"}}))
    assert err.value.field == "spec.registry"
