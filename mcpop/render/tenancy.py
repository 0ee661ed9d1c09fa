"""Multi-tenancy: tenant labels on the pods, a NetworkPolicy, quota, limits and tenant read access.

Rendered when `spec.tenancy` is set and multi-tenancy is switched on. The pods always carry
`mcp.allbeone.io/tenant: <tenantId>` plus `tenancy.labels`. `isolationLevel` means:

- `None`: labels, quota and RBAC only; no NetworkPolicy.
- `Namespace` (default): a NetworkPolicy for this server's pods (selected by the tenant label *and*
  the server's instance label, so the policies of two servers never select each other's pods).
  Ingress defaults to: pods of the same tenant, `allowedNamespaces` (by `kubernetes.io/metadata.name`)
  and `allowedPods`; egress defaults to: pods of the same tenant and cluster DNS (kube-dns, UDP/TCP 53).
  `networkPolicy.ingressRules` / `egressRules` replace the respective default; `networkPolicy.enabled:
  false` leaves the policy out.
- `Node`: as Namespace, and the pods must run on the tenant's nodes: a required node-affinity term
  `mcp.allbeone.io/tenant In [tenantId]` (added to every term of the user's own node affinity) and a
  toleration of the `mcp.allbeone.io/tenant=<tenantId>:NoSchedule` taint.
- `Strict`: as Node, but the default rules cannot be widened: user ingressRules/egressRules and
  `networkPolicy.enabled: false` are ignored (with a warning). Ingress stays limited to the same tenant
  plus the explicit allow lists, egress to the same tenant plus DNS.

Names: every object is named after the server (`<server>-tenant`, `<server>-tenant-quota`, ...), so two
servers of one tenant in one namespace never fight over one object under server-side apply. A
ResourceQuota still limits the whole namespace (Kubernetes quotas cannot select pods by label): with two
servers, the stricter of their quotas wins. A LimitRange gives containers default requests/limits, so
pods without them are still admitted under the quota.

Tenant RBAC: a Role and RoleBinding granting group `mcp:tenant:<tenantId>` get/list/watch on this
MCPServer, its Deployment and its Service by `resourceNames`, and on pods and pods/log of the namespace.
RBAC cannot select by label, and pod names are generated, so pod read access covers every pod of the
namespace; `list`/`watch` with resourceNames only narrows requests that name the object.
"""

from __future__ import annotations

from typing import Any

from mcpop.api.features import Tenancy, kube
from mcpop.api.mcpserver import RESOURCE_DEFAULTS, MCPServerSpec, completed_resources
from mcpop.render.names import TENANT_LABEL, dns_label, selector_labels
from mcpop.render.network import DNS_RULE, namespace_peer
from mcpop.render.workload import meta, name_of

GROUP = "mcp.allbeone.io"
READ = ["get", "list", "watch"]


def tenant_group(tenancy: Tenancy) -> str:
    """The RBAC group of the tenant's users."""
    return f"mcp:tenant:{tenancy.tenant_id}"


def pod_labels(tenancy: Tenancy) -> dict[str, str]:
    """Labels every pod of the tenant carries: `tenancy.labels` and the tenant label (which wins)."""
    return {**(tenancy.labels or {}), TENANT_LABEL: tenancy.tenant_id}


def pod_selector(server: str, tenancy: Tenancy) -> dict[str, str]:
    """The labels the tenant NetworkPolicy selects: this server's pods of this tenant."""
    return {**selector_labels(server), TENANT_LABEL: tenancy.tenant_id}


def isolate_placement(placement: dict[str, Any], tenancy: Tenancy) -> dict[str, Any]:
    """For Node and Strict isolation: pin the pods to the tenant's nodes, merged with user placement."""
    if tenancy.isolation_level not in ("Node", "Strict"):
        return placement
    tid = tenancy.tenant_id
    requirement = {"key": TENANT_LABEL, "operator": "In", "values": [tid]}
    affinity = dict(placement.get("affinity") or {})
    node = dict(affinity.get("nodeAffinity") or {})
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution") or {"nodeSelectorTerms": [{}]}
    terms = [
        {**term, "matchExpressions": [*term.get("matchExpressions", []), requirement]}
        for term in required["nodeSelectorTerms"]
    ]
    node["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": terms}
    affinity["nodeAffinity"] = node
    toleration = {"key": TENANT_LABEL, "operator": "Equal", "value": tid, "effect": "NoSchedule"}
    tolerations = list(placement.get("tolerations") or [])
    if toleration not in tolerations:
        tolerations.append(toleration)
    return {**placement, "affinity": affinity, "tolerations": tolerations}


def network_policy(
    name: str, namespace: str, labels: dict[str, str], tenancy: Tenancy
) -> tuple[dict[str, Any] | None, list[str]]:
    """The tenant NetworkPolicy of one server (None for isolation None or a disabled policy)."""
    warnings: list[str] = []
    level = tenancy.isolation_level
    np = tenancy.network_policy
    if level == "None":
        return None, warnings
    strict = level == "Strict"
    if np is not None and not np.enabled:
        if not strict:
            return None, warnings
        warnings.append("tenancy.networkPolicy.enabled is false but isolationLevel Strict always renders it")
    same_tenant = {"podSelector": {"matchLabels": {TENANT_LABEL: tenancy.tenant_id}}}
    peers: list[dict[str, Any]] = [same_tenant]
    for ns in (np.allowed_namespaces if np else None) or []:
        peers.append(namespace_peer(ns))
    for sel in (np.allowed_pods if np else None) or []:
        peers.append({"podSelector": kube(sel)})
    ingress: list[dict[str, Any]] = [{"from": peers}]
    egress: list[dict[str, Any]] = [{"to": [same_tenant]}, DNS_RULE]
    if np is not None and (np.ingress_rules or np.egress_rules):
        if strict:
            warnings.append("tenancy.networkPolicy.ingressRules/egressRules are ignored under isolationLevel Strict")
        else:
            ingress = [kube(r) for r in np.ingress_rules] if np.ingress_rules else ingress
            egress = [kube(r) for r in np.egress_rules] if np.egress_rules else egress
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(dns_label(name, "tenant"), namespace, labels, tenancy.annotations),
        "spec": {
            "podSelector": {"matchLabels": pod_selector(name_of(labels), tenancy)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }
    return policy, warnings


_QUOTA_KEYS = {"pods": "pods", "services": "services", "persistent_volume_claims": "persistentvolumeclaims",
               "config_maps": "configmaps", "secrets": "secrets"}  # fmt: skip


def quota_objects(
    name: str, namespace: str, labels: dict[str, str], tenancy: Tenancy, spec: MCPServerSpec
) -> list[dict[str, Any]]:
    """ResourceQuota from `tenancy.resourceQuotas` plus a LimitRange with default requests/limits."""
    rq = tenancy.resource_quotas
    if rq is None:
        return []
    hard: dict[str, Any] = {}
    for res in ("cpu", "memory"):
        value = getattr(rq, res)
        if value is not None:
            hard[f"requests.{res}"] = value
            hard[f"limits.{res}"] = value
    if rq.storage is not None:
        hard["requests.storage"] = rq.storage
    for attr, key in _QUOTA_KEYS.items():
        value = getattr(rq, attr)
        if value is not None:
            hard[key] = str(value)
    if not hard:
        return []
    quota = {"apiVersion": "v1", "kind": "ResourceQuota",
             "metadata": meta(dns_label(name, "tenant-quota"), namespace, labels, tenancy.annotations),
             "spec": {"hard": dict(sorted(hard.items()))}}  # fmt: skip
    requests, limits = _container_defaults(spec)
    item = {
        "type": "Container",
        "default": {k: v for k, v in sorted(limits.items()) if k in ("cpu", "memory")},
        "defaultRequest": {k: v for k, v in sorted(requests.items()) if k in ("cpu", "memory")},
    }
    limit_range = {"apiVersion": "v1", "kind": "LimitRange",
                   "metadata": meta(dns_label(name, "tenant-limits"), namespace, labels, tenancy.annotations),
                   "spec": {"limits": [{k: v for k, v in item.items() if v}]}}  # fmt: skip
    return [quota, limit_range]


def _container_defaults(spec: MCPServerSpec) -> tuple[dict[str, str], dict[str, str]]:
    """Default requests and limits for the LimitRange: the server's own cpu and memory, defaulted field by field
    as the server's are (mcpop.api.mcpserver.completed_resources)."""
    req, lim = completed_resources(spec.resources.requests, spec.resources.limits)
    return {k: req[k] for k in RESOURCE_DEFAULTS}, {k: lim[k] for k in RESOURCE_DEFAULTS}


def rbac_objects(
    name: str, namespace: str, labels: dict[str, str], tenancy: Tenancy, *, server: str,
    deployment: str | None, service: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """The tenant's read-only Role on this server's objects, and its binding to the tenant group."""
    role_name = dns_label(name, "tenant-read")
    rules: list[dict[str, Any]] = [
        {"apiGroups": [GROUP], "resources": ["mcpservers", "mcpservers/status"], "resourceNames": [server],
         "verbs": READ},
        {"apiGroups": [""], "resources": ["services"], "resourceNames": [service], "verbs": READ},
    ]  # fmt: skip
    if deployment is not None:
        rules.append({"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": [deployment],
                      "verbs": READ})  # fmt: skip
        rules.append({"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": READ})
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": meta(role_name, namespace, labels, tenancy.annotations), "rules": rules}  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta(role_name, namespace, labels, tenancy.annotations),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": tenant_group(tenancy)}],
    }
    return [role, binding]


def tenant_objects(
    name: str, namespace: str, labels: dict[str, str], tenancy: Tenancy, spec: MCPServerSpec, *,
    server: str, deployment: str | None, service: str,
) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """Every tenant object of one server (NetworkPolicy, quota, limits, RBAC) and warnings."""
    tenant_labels = {**labels, TENANT_LABEL: tenancy.tenant_id}
    objects: list[dict[str, Any]] = []
    policy, warnings = network_policy(name, namespace, tenant_labels, tenancy)
    if policy is not None:
        objects.append(policy)
    objects += quota_objects(name, namespace, tenant_labels, tenancy, spec)
    objects += rbac_objects(name, namespace, tenant_labels, tenancy, server=server, deployment=deployment,
                            service=service)  # fmt: skip
    return objects, warnings
