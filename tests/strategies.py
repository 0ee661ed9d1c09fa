"""Hand-written hypothesis strategies for valid MCPServer documents (hypothesis ignores pydantic patterns)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


@st.composite
def dns_label(draw: st.DrawFn, max_size: int = 63) -> str:
    """A DNS-1123 label."""
    body = draw(st.text(_ALNUM + "-", min_size=0, max_size=max_size - 2))
    first = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz"))
    last = draw(st.sampled_from(_ALNUM))
    return (first + body + last)[:max_size].rstrip("-") or first


@st.composite
def dns_subdomain(draw: st.DrawFn) -> str:
    """A DNS-1123 subdomain of one to three labels (up to ~190 characters, to exercise trimming)."""
    return ".".join(draw(st.lists(dns_label(), min_size=1, max_size=3)))


env_name = st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,20}\Z")
quantity_cpu = st.sampled_from(["50m", "100m", "250m", "1", "2"])
quantity_mem = st.sampled_from(["64Mi", "128Mi", "1Gi", "256M"])
printable = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"), max_size=30)


@st.composite
def env_var(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(env_name)
    kind = draw(st.sampled_from(["value", "secret", "configmap", "field", "resource"]))
    if kind == "value":
        return {"name": name, "value": draw(printable)}
    if kind == "secret":
        return {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": draw(dns_label()), "key": draw(dns_label())}},
        }
    if kind == "configmap":
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": draw(dns_label()), "key": "k"}}}
    if kind == "field":
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    return {"name": name, "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}


@st.composite
def volumes(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    vols, mounts = [], []
    for i, kind in enumerate(draw(st.lists(st.sampled_from(["cm", "secret", "empty", "pvc", "projected"]),
                                           max_size=4))):  # fmt: skip
        name = f"v{i}"
        source: dict[str, Any] = {
            "cm": {"configMap": {"name": "cm"}},
            "secret": {"secret": {"secretName": "sec", "defaultMode": 0o400}},
            "empty": {"emptyDir": {"sizeLimit": "64Mi"}},
            "pvc": {"persistentVolumeClaim": {"claimName": "data"}},
            "projected": {"projected": {"sources": [{"serviceAccountToken": {"path": "t", "audience": "mcp"}}]}},
        }[kind]
        vols.append({"name": name, **source})
        mounts.append({"name": name, "mountPath": f"/mnt/{name}"})
    return vols, mounts


@st.composite
def mcpserver(draw: st.DrawFn) -> dict[str, Any]:
    """A valid MCPServer document exercising the core features."""
    spec: dict[str, Any] = {}
    form = draw(st.sampled_from(["flat", "runtime", "stdio"]))
    image = f"ghcr.io/{draw(dns_label(20))}/{draw(dns_label(20))}"
    if form == "flat":
        spec["image"] = image
        spec["tag"] = draw(st.sampled_from(["latest", "1.0.0", "1.10", "on", "v2"]))
        spec["port"] = draw(st.integers(1024, 65535))
    elif form == "runtime":
        spec["runtime"] = {
            "type": "docker",
            "image": f"{image}:1.2.3",
            "port": draw(st.integers(1024, 65535)),
        }
    else:
        spec["runtime"] = {
            "type": draw(st.sampled_from(["node", "python"])),
            "command": ["srv", draw(printable)],
        }
        spec["transport"] = {"type": "stdio"}
    if draw(st.booleans()):
        spec["command"] = ["run", draw(printable)] if form != "stdio" else None
        spec = {k: v for k, v in spec.items() if v is not None}
    if draw(st.booleans()):
        spec["env"] = draw(st.lists(env_var(), max_size=5, unique_by=lambda e: e["name"]))
    if draw(st.booleans()):
        spec["resources"] = {"requests": {"cpu": "50m", "memory": draw(quantity_mem)},
                             "limits": {"cpu": "2", "memory": "2Gi"}}  # fmt: skip
    spec["replicas"] = draw(st.integers(0, 5))
    spec["serviceType"] = draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]))
    if spec["serviceType"] != "ClusterIP":  # exposed without spec.auth.jwt is refused unless said so
        spec["auth"] = {"allowUnauthenticated": True}
    if draw(st.booleans()):
        vols, mounts = draw(volumes())
        spec["volumes"], spec["volumeMounts"] = vols, mounts
    if draw(st.booleans()):
        spec["config"] = draw(st.dictionaries(env_name, st.one_of(printable, st.integers(), st.booleans()), max_size=4))
    if draw(st.booleans()):
        spec["secretRefs"] = [{"name": draw(dns_label(30)), "key": "token", "envName": "SECRET_TOKEN"}]
    if draw(st.booleans()):
        spec["nodeSelector"] = {"disktype": "ssd"}
        spec["tolerations"] = [{"key": "mcp", "operator": "Exists", "effect": "NoSchedule"}]
    if draw(st.booleans()):
        spec["ports"] = [{"name": "metrics", "port": 9100}]
    if draw(st.booleans()):
        spec["deploymentStrategy"] = draw(st.sampled_from([
            {"type": "Recreate"}, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        ]))  # fmt: skip
    meta: dict[str, Any] = {"name": draw(dns_subdomain())}
    if draw(st.booleans()):
        meta["namespace"] = draw(dns_label(30))
    return {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": meta, "spec": spec}


@st.composite
def features(draw: st.DrawFn) -> dict[str, Any]:
    """Optional features (autoscaling, tenancy, Istio, monitoring) for a spec, each on or off."""
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        hpa: dict[str, Any] = {"enabled": True, "minReplicas": draw(st.integers(1, 3)), "maxReplicas": 10}
        hpa[draw(st.sampled_from(["targetCPUUtilizationPercentage", "targetMemoryUtilizationPercentage"]))] = 70
        spec["autoscaling"] = {"hpa": hpa}
        if draw(st.booleans()):
            other = "memory" if "targetCPUUtilizationPercentage" in hpa else "cpu"
            policy = {"containerName": "mcp-server", "controlledResources": [other]}
            spec["autoscaling"]["vpa"] = {"enabled": True, "resourcePolicy": {"containerPolicies": [policy]}}
    elif draw(st.booleans()):
        spec["autoscaling"] = {"vpa": {"enabled": True, "updateMode": draw(st.sampled_from(["Off", "Auto"]))}}
    if draw(st.booleans()):
        spec["tenancy"] = {
            "tenantId": draw(dns_label(20)),
            "isolationLevel": draw(st.sampled_from(["None", "Namespace", "Node", "Strict"])),
            "resourceQuotas": {"cpu": "4", "memory": "8Gi", "pods": 10},
            "networkPolicy": {"allowedNamespaces": [draw(dns_label(20))]},
        }
    if draw(st.booleans()):
        spec["istio"] = {
            "enabled": True,
            "sidecarInject": draw(st.booleans()),
            "virtualService": {"timeout": "30s", "retries": {"attempts": 2, "perTryTimeout": "5s"}},
            "mtls": {"enabled": draw(st.booleans())},
        }
    if draw(st.booleans()):
        spec["monitoring"] = {"enabled": True, "interval": "30s"}
    return spec


@st.composite
def mcpserver_with_features(draw: st.DrawFn) -> dict[str, Any]:
    """A valid MCPServer with the core options and any mix of features."""
    doc = draw(mcpserver())
    doc["spec"].update(draw(features()))
    return doc


SECRET = st.from_regex(r"\Asecret-[A-Za-z0-9]{16}\Z")


@st.composite
def registry_entry_with_secret(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A server.json entry whose secret variables carry a value that must never be rendered."""
    secret = draw(SECRET)
    var = {"name": "API_KEY", "isSecret": True, "isRequired": draw(st.booleans()), "default": secret}
    kind = draw(st.sampled_from(["npm", "pypi", "oci"]))
    package: dict[str, Any] = {
        "npm": {"registryType": "npm", "identifier": "example-mcp", "version": "1.2.3"},
        "pypi": {"registryType": "pypi", "identifier": "example-mcp", "version": "1.2.3"},
        "oci": {"registryType": "oci", "identifier": "ghcr.io/example/mcp:1.2.3"},
    }[kind]
    transport = draw(st.sampled_from(["stdio", "streamable-http"]))
    package["transport"] = {"type": transport, **({"url": "http://localhost:8080/mcp"} if transport != "stdio" else {})}
    package["environmentVariables"] = [var, {"name": "PLAIN", "value": "visible"}]
    if kind == "oci":
        package["runtimeArguments"] = [{"type": "named", "name": "-e", "value": f"TOKEN={secret}", "isSecret": True}]
    entry = {"name": "io.example/mcp", "description": "example", "version": "1.2.3", "packages": [package]}
    return entry, secret
