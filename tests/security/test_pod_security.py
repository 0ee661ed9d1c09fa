"""The pod template is a privilege boundary (issue: Trust §1): a spec whose pod would leave the Pod Security
"restricted" level is refused by the renderer — so by `mcp render`, the admission webhook and reconcile alike —
naming the spec field and the cluster admin's opt-in; a namespace an admin allows "baseline" or "privileged"
admits what that level admits, with a warning."""

from __future__ import annotations

from typing import Any

import pytest

from mcpop.api.mcpserver import MCPServer
from mcpop.render import RenderError, RenderOptions, render
from mcpop.render.podsecurity import violations


def server(**spec: Any) -> MCPServer:
    return MCPServer.model_validate(
        {
            "apiVersion": "mcp.allbeone.io/v1",
            "kind": "MCPServer",
            "metadata": {"name": "s", "namespace": "team"},
            "spec": {"image": "x", **spec},
        }
    )


HOST_ROOT = {"volumes": [{"name": "root", "hostPath": {"path": "/"}}],
             "volumeMounts": [{"name": "root", "mountPath": "/host"}]}  # fmt: skip

#: (what the attacker writes, the field named, the level that admits it)
ATTACKS = [
    ({"securityContext": {"privileged": True}}, "spec.securityContext.privileged", "privileged"),
    (HOST_ROOT, "spec.volumes[0].hostPath", "privileged"),
    ({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}, "spec.securityContext.capabilities.add",
     "privileged"),
    ({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, "spec.securityContext.seccompProfile.type",
     "privileged"),
    ({"securityContext": {"runAsUser": 0, "runAsNonRoot": False}}, "spec.securityContext.runAsUser", "baseline"),
    ({"securityContext": {"runAsNonRoot": False}}, "spec.securityContext.runAsNonRoot", "baseline"),
    ({"securityContext": {"allowPrivilegeEscalation": True}}, "spec.securityContext.allowPrivilegeEscalation",
     "baseline"),
    ({"securityContext": {"capabilities": {"add": ["CHOWN"]}}}, "spec.securityContext.capabilities.add",
     "baseline"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "field", "level"), ATTACKS, ids=lambda v: str(v)[:40])
def test_a_pod_outside_restricted_is_refused_by_default_naming_the_field_and_the_opt_in(
    spec: dict[str, Any], field: str, level: str
) -> None:
    with pytest.raises(RenderError) as err:
        render(server(**spec))
    assert err.value.field == field
    assert "'restricted'" in err.value.message and "--pod-security-levels" in err.value.message
    assert f"allow the {level!r} level" in err.value.message


@pytest.mark.parametrize(("spec", "field", "level"), ATTACKS, ids=lambda v: str(v)[:40])
def test_the_level_an_admin_allows_admits_it_with_a_warning(spec: dict[str, Any], field: str, level: str) -> None:
    out = render(server(**spec), options=RenderOptions(namespace="team", pod_security=level))  # type: ignore[arg-type]
    assert any(w.startswith(field) and "outside the Pod Security 'restricted' level" in w for w in out.warnings)


def test_baseline_does_not_admit_what_only_privileged_admits() -> None:
    with pytest.raises(RenderError, match="allow the 'privileged' level"):
        render(server(securityContext={"privileged": True}), options=RenderOptions(pod_security="baseline"))


def test_every_check_of_the_standard_is_made_on_the_rendered_pod() -> None:
    pod = {
        "hostNetwork": True, "hostPID": True, "hostIPC": True,
        "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}],
                            "seLinuxOptions": {"type": "spc_t"}},
        "volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}],
        "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}],
                        "securityContext": {"procMount": "Unmasked",
                                            "appArmorProfile": {"type": "Unconfined"}}}],
    }  # fmt: skip
    paths = {v.path for v in violations(pod)}
    assert {"hostNetwork", "hostPID", "hostIPC", "securityContext.sysctls[0].name",
            "securityContext.seLinuxOptions.type", "volumes[0]", "containers[0].ports[0].hostPort",
            "containers[0].securityContext.procMount", "containers[0].securityContext.appArmorProfile.type",
            "containers[0].securityContext.allowPrivilegeEscalation",
            "containers[0].securityContext.capabilities.drop"} <= paths  # fmt: skip


def test_what_mcpop_renders_by_default_meets_restricted() -> None:
    for spec in ({}, {"config": {"a": 1}}, {"transport": {"type": "stdio"}, "command": ["npx", "-y", "x"]}):
        dep = render(server(**spec)).get("Deployment")
        assert dep is not None and violations(dep["spec"]["template"]["spec"]) == []


def test_run_as_non_root_with_user_zero_can_never_start_and_is_refused_at_any_level() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="runAsNonRoot"):
        server(securityContext={"runAsNonRoot": True, "runAsUser": 0})


# -- who may allow more: a cluster admin, through the operator's settings --------------------------------------


def test_the_operator_setting_names_the_namespaces_allowed_more_than_restricted() -> None:
    from mcpop.apply.settings import OperatorSettings

    settings = OperatorSettings(pod_security_levels=("legacy=privileged", "tools=baseline"))
    assert [settings.pod_security(ns) for ns in ("legacy", "tools", "team")] == ["privileged", "baseline", "restricted"]


@pytest.mark.parametrize("item", ["legacy", "legacy=root", "Legacy=baseline", "a=baseline,a=privileged"])
def test_a_bad_pod_security_setting_is_refused_saying_what_is_allowed(item: str) -> None:
    from pydantic import ValidationError

    from mcpop.apply.settings import OperatorSettings

    with pytest.raises(ValidationError, match=r"NAMESPACE=LEVEL|given twice"):
        OperatorSettings(pod_security_levels=tuple(item.split(",")))


def _review(namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    obj = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "s", "namespace": namespace},
           "spec": {"image": "x", **spec}}  # fmt: skip
    return {"request": {"uid": "u", "operation": "CREATE", "kind": {"kind": "MCPServer"}, "object": obj,
                        "namespace": namespace}}  # fmt: skip


def test_the_webhook_admits_a_privileged_pod_only_where_the_admin_allows_it() -> None:
    from mcpop.apply.settings import OperatorSettings
    from mcpop.apply.webhook.admission import validating
    from mcpop.apply.webhook.setup import policy

    allowing = policy(OperatorSettings(pod_security_levels=("legacy=privileged",)))
    spec = {"securityContext": {"privileged": True}}
    allowed = validating(_review("legacy", spec), allowing)["response"]
    assert allowed["allowed"] is True and any("privileged" in w for w in allowed["warnings"])
    assert validating(_review("team", spec), allowing)["response"]["allowed"] is False


def test_the_namespace_enforce_label_lowers_what_the_setting_allows() -> None:
    from fakekube import FakeCache, FakeKube

    from mcpop.apply.mcpserver.reconciler import MCPServerController
    from mcpop.apply.settings import OperatorSettings
    from mcpop.apply.ssa.applyset import PART_OF_LABEL

    kube = FakeKube()
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "legacy", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}},
        }
    )
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "open"}})
    owned = {gk: FakeCache(kube, gk, label=PART_OF_LABEL) for gk in ("Deployment.apps", "Service", "ServiceAccount")}
    settings = OperatorSettings(pod_security_levels=("legacy=privileged", "open=privileged"))
    ctl = MCPServerController(kube, settings, FakeCache(kube, "MCPServer.mcp.allbeone.io"), owned, {}, None,  # type: ignore[arg-type]
                              lambda key: None)  # fmt: skip
    assert ctl._pod_security("legacy") == "baseline"  # the label: pods above it would be rejected anyway
    assert ctl._pod_security("open") == "privileged"  # no label: what the admin allowed
    assert ctl._pod_security("team") == "restricted"  # not listed: never read


@pytest.mark.parametrize("service_type", ["NodePort", "LoadBalancer"])
def test_an_exposed_server_needs_auth_or_an_explicit_allow_unauthenticated(service_type: str) -> None:
    def srv(**spec: Any) -> MCPServer:
        return MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                         "metadata": {"name": "srv", "namespace": "team"},
                                         "spec": {"command": ["npx", "srv"], "transport": {"type": "stdio"},
                                                  "serviceType": service_type, **spec}})  # fmt: skip

    with pytest.raises(RenderError) as err:
        render(srv())
    assert err.value.field == "spec.auth" and f"serviceType {service_type}" in str(err.value)
    assert "allowUnauthenticated" in str(err.value)
    warnings = render(srv(auth={"allowUnauthenticated": True})).warnings
    assert any(f"serviceType {service_type}" in w and "no authentication" in w for w in warnings), warnings
    authed = render(srv(auth={"jwt": {"issuer": "https://idp.example.com"}}))
    assert not any("no authentication" in w for w in authed.warnings)
    internal = srv(serviceType="ClusterIP")
    assert not any("no authentication" in w for w in render(internal).warnings)
