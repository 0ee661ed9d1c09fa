"""The pure renderer: a validated MCPServer (plus registry data) in, a complete object set out.

Nothing here does I/O; the same inputs always give byte-identical output.
"""

from __future__ import annotations

from typing import Any

from mcpop.api.mcpserver import MCPServer
from mcpop.render.errors import RenderError
from mcpop.render.names import common_labels, dns_label
from mcpop.render.normalize import Workload, normalize
from mcpop.render.objectset import ObjectSet
from mcpop.render.options import Owner, RenderOptions
from mcpop.render.workload import config_map, deployment, pod_disruption_budget, service, service_account

__all__ = ["ObjectSet", "Owner", "RenderError", "RenderOptions", "render"]

COMPONENT = "mcp-server"


def _placement(server: MCPServer) -> dict[str, Any]:
    spec = server.spec
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


def render(server: MCPServer, registry_entry: Any = None, options: RenderOptions | None = None) -> ObjectSet:
    """Render every object one MCPServer needs, in apply order.

    Raises RenderError (with the field path) for a spec that validates but cannot be rendered, such as
    a registry reference without registry data.
    """
    opts = options or RenderOptions()
    if registry_entry is not None:
        raise RenderError("spec.registry", "registry entries are not supported yet")
    spec = server.spec
    name = server.metadata.name
    namespace = server.metadata.namespace or opts.namespace
    work: Workload = normalize(spec)
    labels = common_labels(name, work.version, COMPONENT)
    out = ObjectSet(warnings=list(work.warnings))
    obj_name = dns_label(name)

    sa_spec = spec.service_account
    sa_name = (sa_spec.name if sa_spec and sa_spec.name else None) or obj_name
    if sa_spec is None or sa_spec.create:
        out.add(service_account(sa_name, namespace, labels, spec))

    cm = None
    cm_name = None
    if spec.config:
        cm_name = dns_label(name, "config")
        cm = config_map(cm_name, namespace, labels, spec.config)
        out.add(cm)

    replicas: int | None = spec.replicas
    out.add(
        deployment(
            obj_name, namespace, labels, spec, work,
            service_account_name=sa_name, config_map_name=cm_name, config_object=cm, replicas=replicas,
            pod_extra_labels={}, pod_extra_annotations=dict(opts.extra_annotations),
            referenced_hash=opts.referenced_content_hash, placement=_placement(server),
        )
    )  # fmt: skip
    out.add(service(obj_name, namespace, labels, spec, work))
    pdb = spec.pod_disruption_budget
    if (pdb is not None and pdb.enabled) or (pdb is None and spec.replicas > 1):
        out.add(pod_disruption_budget(obj_name, namespace, labels, spec))
    for obj in out.objects:
        _owned(obj, opts.owner)
    return out
