"""The pure renderer: a validated MCPServer (plus registry data) in, a complete object set out.

Nothing here does I/O; the same inputs always give byte-identical output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcpop.api.mcpserver import MCPServer, MCPServerSpec
from mcpop.render.auth import (
    check_exposure,
    cluster_jwks,
    exposed_by,
    mount_jwks,
    service_account_subjects,
    token_audience,
    with_auth,
    with_proxy,
    with_tool_policy,
)
from mcpop.render.autoscaling import autoscalers, hpa_active
from mcpop.render.collisions import PORT_NAME, check_config_size, check_env, check_service_ports, check_volumes
from mcpop.render.errors import RenderError
from mcpop.render.names import common_labels, dns_label
from mcpop.render.normalize import Workload, normalize, service_hosts
from mcpop.render.objectset import ObjectSet
from mcpop.render.options import Owner, RenderOptions
from mcpop.render.pod import pod_security
from mcpop.render.workload import (
    TRANSPORT_ANNOTATION,
    config_map,
    deployment,
    external_service,
    pod_disruption_budget,
    service,
    service_account,
)

if TYPE_CHECKING:
    from mcpop.api.serverjson import ServerJSON
    from mcpop.render.registry import RegistryUsed

__all__ = ["ObjectSet", "Owner", "RenderError", "RenderOptions", "render"]

COMPONENT = "mcp-server"


def _placement(spec: MCPServerSpec) -> dict[str, Any]:
    return {
        "nodeSelector": dict(sorted((spec.node_selector or {}).items())) or None,
        "tolerations": [t.wire() for t in spec.tolerations or []] or None,
        "affinity": spec.affinity.wire() if spec.affinity else None,
    }


def _owned(obj: dict[str, Any], owner: Owner | None) -> dict[str, Any]:
    if owner is not None:
        obj["metadata"]["ownerReferences"] = [{
            "apiVersion": owner.api_version, "kind": owner.kind, "name": owner.name, "uid": owner.uid,
            "controller": True, "blockOwnerDeletion": True,
        }]  # fmt: skip
    return obj


def _switched_off(spec: MCPServerSpec, opts: RenderOptions) -> list[str]:
    out = []
    if spec.tenancy is not None and not opts.enable_multi_tenancy:
        out.append("tenancy is set but multi-tenancy is switched off (ENABLE_MULTI_TENANCY=false): no tenant "
                   "labels, NetworkPolicy, ResourceQuota or tenant RBAC rendered")  # fmt: skip
    if spec.istio is not None and spec.istio.enabled and not opts.enable_istio:
        out.append(
            "istio.enabled is true but Istio integration is switched off (ENABLE_ISTIO_INTEGRATION="
            "false): no VirtualService, DestinationRule, PeerAuthentication or sidecar marker rendered"
        )
    return out  # fmt: skip


def render(
    server: MCPServer, registry_entry: ServerJSON | None = None, options: RenderOptions | None = None
) -> ObjectSet:
    """Render every object one MCPServer needs, in apply order.

    `registry_entry` (the resolved `spec.registry` entry) fills what the user left unset. Raises
    RenderError (with the field path) for a spec that validates but cannot be rendered, such as a
    registry reference without registry data.
    """
    opts = options or RenderOptions()
    spec = server.spec
    name = server.metadata.name
    namespace = server.metadata.namespace or opts.namespace
    obj_name = dns_label(name)
    used: RegistryUsed | None = None
    if registry_entry is not None:
        from mcpop.render.registry import enrich  # server.json models load only when an entry is used

        spec, used = enrich(spec, registry_entry, server_name=obj_name, image_configs=opts.image_configs)
    check_exposure(spec)
    if used is not None and used.remote_url is not None:
        if spec.auth is not None and spec.auth.required:
            raise RenderError("spec.auth", "a remote server is not run by mcpop, so no bridge checks its tokens")
        for field, value in (("spec.tools", spec.tools), ("spec.audit", spec.audit), ("spec.expose", spec.expose)):
            if value is not None:
                raise RenderError(field, "a remote server is not run by mcpop, so no bridge applies it")
        remote = ObjectSet(warnings=list(used.warnings))
        labels = common_labels(name, used.version, COMPONENT)
        annotations = {**used.annotations(), TRANSPORT_ANNOTATION: used.remote_transport or "streamable-http"}
        remote.add(external_service(obj_name, namespace, labels, used.remote_url, annotations))
        return _finish(remote, opts)

    hosts = service_hosts(obj_name, namespace)
    if spec.expose is not None and spec.expose.gateway is not None:
        hosts.append(spec.expose.gateway.hostname)  # the Host header requests through the Gateway carry
    work: Workload = normalize(spec, used.image_config if used else None, opts.stdio_images, hosts, opts.bridge_image)
    service_port = next((p.port for p in spec.ports or [] if p.name == PORT_NAME), work.port)
    work = with_proxy(spec, work, hosts, opts.bridge_image)
    subjects = service_account_subjects(spec, namespace, opts.operator_subject)
    work = with_auth(spec, work, obj_name, namespace, service_port, subjects, opts.cluster_issuer)
    work = with_tool_policy(spec, work)
    fronted = work.bridged or work.proxy_args is not None
    if spec.monitoring is not None and spec.monitoring.enabled and fronted:
        from mcpop.render.monitoring import with_bridge_metrics

        spec, work = with_bridge_metrics(spec, work)
    check_env(spec, work.env)
    check_volumes(spec, with_config=bool(spec.config), with_bridge=work.bridge_image is not None,
                  with_jwks=bool(spec.auth and spec.auth.jwt and spec.auth.jwt.jwks),
                  with_cluster_jwks=bool(subjects))  # fmt: skip
    check_service_ports(spec, work.port)
    labels = common_labels(name, used.version if used else work.version, COMPONENT)
    out = ObjectSet(warnings=[*(used.warnings if used else ()), *work.warnings])
    out.warnings += _switched_off(spec, opts)
    if (how := exposed_by(spec)) is not None and (spec.auth is None or not spec.auth.required):
        # spec.auth.allowUnauthenticated said so (check_exposure refuses it otherwise): say what it means
        out.warnings.append(f"{how} exposes the MCP server outside the cluster with no "
                            "authentication (spec.auth.allowUnauthenticated): anyone who reaches it can call every "
                            "tool; prefer spec.auth.jwt")  # fmt: skip
    cluster_jwks_name = dns_label(name, "cluster-jwks") if subjects else None
    if opts.operator_subject is not None and opts.operator_subject in subjects:
        # the bridge takes ServiceAccount tokens for --sa-audience when the spec names one, else the resource URL
        sa = spec.auth.service_accounts if spec.auth else None
        out.token_audience = (sa.audience if sa is not None and sa.audience else None) or token_audience(
            spec, work, obj_name, namespace, service_port
        )
    if cluster_jwks_name is not None:
        out.add(cluster_jwks(cluster_jwks_name, namespace, labels, opts.cluster_issuer))
        if opts.cluster_issuer is None:
            out.warnings.append("ServiceAccount tokens are checked against the cluster's keys, which the operator "
                                "reads from the apiserver's OIDC discovery: without them (an offline render, or the "
                                "operator could not read them) every such token is refused")  # fmt: skip

    sa_spec = spec.service_account
    sa_name = (sa_spec.name if sa_spec and sa_spec.name else None) or obj_name
    if sa_spec is None or sa_spec.create:
        out.add(service_account(sa_name, namespace, labels, spec))

    cm = None
    cm_name = None
    if spec.config:
        cm_name = dns_label(name, "config")
        cm = config_map(cm_name, namespace, labels, spec.config)
        check_config_size(cm)
        out.add(cm)

    pod_labels: dict[str, str] = {}
    pod_annotations = dict(opts.extra_annotations)
    placement = _placement(spec)
    # feature modules load only when a spec uses them: most of `mcp render`'s start-up is imports
    tenancy = spec.tenancy if opts.enable_multi_tenancy else None
    if tenancy is not None:
        from mcpop.render import tenancy as tenancy_mod

        pod_labels.update(tenancy_mod.pod_labels(tenancy))
        pod_annotations.update(tenancy.annotations or {})
        placement = tenancy_mod.isolate_placement(placement, tenancy)
    istio = spec.istio if spec.istio is not None and spec.istio.enabled and opts.enable_istio else None
    if istio is not None:
        from mcpop.render import istio as istio_mod

        pod_labels.update(istio_mod.sidecar_marker(istio))
        pod_annotations.update(istio_mod.sidecar_marker(istio))
    if used is not None:
        pod_annotations.update(used.annotations())
    with_hpa = hpa_active(spec.autoscaling, opts)
    dep = deployment(
        obj_name, namespace, labels, spec, work,
        service_account_name=sa_name, config_map_name=cm_name, config_object=cm,
        replicas=None if with_hpa else spec.replicas,
        pod_extra_labels={k: v for k, v in pod_labels.items() if k not in labels},
        pod_extra_annotations=pod_annotations,
        referenced_hash=opts.referenced_content_hash, placement=placement,
    )  # fmt: skip
    mount_jwks(spec, dep, cluster_jwks_name)
    if used is not None:
        dep["metadata"]["annotations"] = dict(sorted(used.annotations().items()))
    out.warnings += pod_security(dep["spec"]["template"]["spec"], spec, namespace, opts.pod_security)
    pdb = spec.pod_disruption_budget
    hpa = spec.autoscaling.hpa if with_hpa and spec.autoscaling else None
    # a bridged server keeps each MCP session in one pod's process: more than one pod needs affinity
    affinity = work.bridged and (hpa.max_replicas > 1 if hpa is not None else spec.replicas > 1)
    svc = service(obj_name, namespace, labels, spec, work, session_affinity=affinity)
    out.add(dep)
    out.add(svc)

    several = hpa.min_replicas > 1 if hpa is not None else spec.replicas > 1
    if (pdb is not None and pdb.enabled) or (pdb is None and several):
        out.add(pod_disruption_budget(obj_name, namespace, labels, spec))
    scalers, warnings = autoscalers(obj_name, namespace, labels, spec.autoscaling, opts)
    out.warnings += warnings
    extra = list(scalers)
    if tenancy is not None:
        objs, warnings = tenancy_mod.tenant_objects(
            obj_name, namespace, labels, tenancy, spec, server=name, deployment=obj_name, service=obj_name
        )
        extra += objs
        out.warnings += warnings
    if istio is not None:
        extra += istio_mod.istio_objects(obj_name, namespace, labels, istio, svc)
    if spec.network is not None or (spec.auth is not None and spec.auth.required):  # the front door is on
        from mcpop.render.network import network_policy

        extra.append(network_policy(obj_name, namespace, labels, spec, svc, opts.operator_namespace))
    if spec.expose is not None and spec.expose.gateway is not None:
        from mcpop.render.exposure import http_route

        extra.append(http_route(obj_name, namespace, labels, spec, svc, work.path, work.transport))
    if spec.monitoring is not None and spec.monitoring.enabled:
        from mcpop.render.monitoring import service_monitor

        extra.append(service_monitor(obj_name, namespace, labels, spec.monitoring, svc, bridged=fronted))
    for obj in extra:
        out.add(obj)
    return _finish(out, opts)


def _finish(out: ObjectSet, opts: RenderOptions) -> ObjectSet:
    for obj in out.objects:
        _owned(obj, opts.owner)
    return out.in_apply_order()
