"""The pod template: container, security defaults, volumes, probes and placement."""

from __future__ import annotations

from typing import Any

from mcpop.api.core import EnvVar, Probe, SecurityContext
from mcpop.api.mcpserver import MCPServerSpec
from mcpop.render.collisions import (
    BRIDGE_METRICS_PORT_NAME,
    BRIDGE_VOLUME,
    CONFIG_DIR,
    CONFIG_PATH_ENV,
    CONFIG_VOLUME,
    PORT_NAME,
    PROXY_CONTAINER,
    check_ports,
    order_env,
    source_volume_name,
)
from mcpop.render.errors import RenderError
from mcpop.render.normalize import BRIDGE_DIR, HEALTH_PATH, READY_PATH, Workload
from mcpop.render.podsecurity import Level, above, violations

CONTAINER = "mcp-server"
TMP_VOLUME = "tmp"
CACHE_VOLUME = "cache"
BRIDGE_INIT = "mcpop-bridge"
#: the name of an HTTP server's own port when mcpop-bridge fronts it (the Service's `http` leads to the bridge)
UPSTREAM_PORT_NAME = "mcp-upstream"
#: Writable places under a read-only root: HOME, npm and uv caches point here.
WRITABLE_ENV = {
    "HOME": "/tmp",
    "XDG_CACHE_HOME": "/cache",
    "npm_config_cache": "/cache/npm",
    "UV_CACHE_DIR": "/cache/uv",
}


def pod_security_context(sc: SecurityContext) -> dict[str, Any]:
    """Pod-level security: non-root, RuntimeDefault seccomp unless the user chose otherwise."""
    out: dict[str, Any] = {
        "runAsNonRoot": sc.run_as_non_root if sc.run_as_non_root is not None else True,
        "runAsUser": sc.run_as_user,
        "runAsGroup": sc.run_as_group,
        "fsGroup": sc.fs_group,
        "supplementalGroups": sc.supplemental_groups,
        "seccompProfile": sc.seccomp_profile.wire() if sc.seccomp_profile else {"type": "RuntimeDefault"},
    }
    return {k: v for k, v in out.items() if v is not None}


def container_security_context(sc: SecurityContext) -> dict[str, Any]:
    """Container security meeting the restricted profile unless a field is set explicitly."""
    caps = sc.capabilities.wire() if sc.capabilities else {}
    caps.setdefault("drop", ["ALL"])
    out: dict[str, Any] = {
        "allowPrivilegeEscalation": bool(sc.allow_privilege_escalation),
        "privileged": sc.privileged,
        "readOnlyRootFilesystem": True if sc.read_only_root_filesystem is None else sc.read_only_root_filesystem,
        "runAsNonRoot": sc.run_as_non_root if sc.run_as_non_root is not None else True,
        "runAsUser": sc.run_as_user,
        "capabilities": caps,
    }
    return {k: v for k, v in out.items() if v is not None}


def _probe(user: Probe | None, default: dict[str, Any]) -> dict[str, Any] | None:
    if user is None:
        return default
    wired = user.wire()
    if not any(k in wired for k in ("httpGet", "tcpSocket", "exec", "grpc")):
        wired = {**{k: v for k, v in default.items() if k in ("httpGet", "tcpSocket")}, **wired}
    return wired


def probes(spec: MCPServerSpec, work: Workload) -> dict[str, Any]:
    """Liveness/readiness (TCP on the serving port; the bridge's /healthz), and a startup probe: the user's, or
    `startup_probe` on the liveness handler unless the user set liveness or readiness probes of their own."""
    # Not an httpGet on the MCP path: the kubelet reads a probe's body until 10 KiB or its timeout, so an
    # SSE stream (GET /sse never ends) always fails it, and a streamable-HTTP endpoint answers a bare GET
    # with 405 or 406 as the MCP spec allows. Only the bridge has a real health endpoint.
    # The bridge's /readyz is 200 only while a server process can start (command found, session cap not hit)
    own = UPSTREAM_PORT_NAME if work.proxy_args is not None else PORT_NAME
    check: dict[str, Any] = (
        {"httpGet": {"path": HEALTH_PATH, "port": PORT_NAME}} if work.bridged else {"tcpSocket": {"port": own}}
    )
    ready: dict[str, Any] = {"httpGet": {"path": READY_PATH, "port": PORT_NAME}} if work.bridged else check
    user = spec.probes
    out = {
        "livenessProbe": _probe(
            user.liveness if user else None,
            {**check, "initialDelaySeconds": 10, "periodSeconds": 20, "timeoutSeconds": 5},
        ),
        "readinessProbe": _probe(
            user.readiness if user else None,
            {**ready, "initialDelaySeconds": 2, "periodSeconds": 10, "timeoutSeconds": 5},
        ),
    }
    if user and user.startup:
        out["startupProbe"] = _probe(user.startup, {**check, "periodSeconds": 5, "failureThreshold": 30})
    elif not (user and (user.liveness or user.readiness)):
        out["startupProbe"] = startup_probe(check)
    return out


#: the default startup probe's budget: a server that does not answer within it is restarted (liveness alone,
#: initialDelaySeconds 10 and 3 failures 20 s apart, allowed ~70 s before)
STARTUP_SECONDS = 120


def startup_probe(check: dict[str, Any]) -> dict[str, Any]:
    """A startup probe every second on `check`. The kubelet runs the readiness probe as soon as a startup probe
    passes; without one, the first readiness probe waits for the readiness period's next tick, counted from
    the pod's admission, so a pod listening after 2 s was Ready after ~12 s (measured on the real node)."""
    return {**check, "periodSeconds": 1, "failureThreshold": STARTUP_SECONDS}


def _env(spec: MCPServerSpec, work: Workload) -> list[dict[str, Any]]:
    env: list[EnvVar] = list(work.env)
    names = {e.name for e in env}
    for ref in spec.secret_refs or []:
        if ref.key is None:
            continue
        name = ref.env_name or ref.key.upper().replace("-", "_").replace(".", "_")
        if name not in names:
            env.append(
                EnvVar.model_validate({"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
            )
            names.add(name)
    if spec.config:
        env.append(EnvVar(name=CONFIG_PATH_ENV, value=f"{CONFIG_DIR}/config.json"))
        names.add(CONFIG_PATH_ENV)
    out = [e.wire() for e in env]
    out += [{"name": k, "value": v} for k, v in WRITABLE_ENV.items() if k not in names]
    return order_env(out)


def _env_from(spec: MCPServerSpec) -> list[dict[str, Any]]:
    out = [e.wire() for e in spec.env_from or []]
    out += [{"secretRef": {"name": r.name}} for r in spec.secret_refs or [] if r.key is None]
    return out


#: how an operator admin allows a namespace more than "restricted" (the refusal names it)
POD_SECURITY_OPT_IN = "the operator's --pod-security-levels NAMESPACE=LEVEL (chart operator.podSecurityLevels)"


def _spec_field(path: str, pod: dict[str, Any], spec: MCPServerSpec) -> str:
    """The MCPServer field a pod template path comes from (`containers[0].securityContext.privileged` →
    `spec.securityContext.privileged`; `volumes[2].hostPath` → the spec volume of that name)."""
    head, _, rest = path.partition(".")
    if head.startswith(("containers[", "initContainers[")) and rest.startswith("securityContext."):
        return "spec." + rest
    if head == "securityContext":
        return "spec." + path
    if head.startswith("volumes["):
        name = (pod.get("volumes") or [])[int(head[8:-1])].get("name")
        for j, v in enumerate(spec.volumes or []):
            if v.name == name:
                return f"spec.volumes[{j}]" + (f".{rest}" if rest else "")
    return "spec"


def pod_security(pod: dict[str, Any], spec: MCPServerSpec, namespace: str, allowed: Level) -> list[str]:
    """Check the rendered pod against the Pod Security level `allowed` in `namespace`: RenderError naming the
    spec field and the opt-in for a pod above it; warnings for what the level allows beyond "restricted"."""
    found = violations(pod)
    refused = above(found, allowed)
    if refused:
        first = refused[0]
        needed = "privileged" if any(v.level == "baseline" for v in refused) else "baseline"
        rest = {f"{_spec_field(v.path, pod, spec)}: {v.message}": None for v in refused[1:]}
        rest.pop(f"{_spec_field(first.path, pod, spec)}: {first.message}", None)
        more = "; ".join(rest)
        raise RenderError(
            _spec_field(first.path, pod, spec),
            f"{first.message}: the pod would be outside the Pod Security {allowed!r} level allowed in namespace "
            f"{namespace!r}" + (f" (also {more})" if more else "") + f"; a cluster admin can allow the {needed!r} "
            f"level there with {POD_SECURITY_OPT_IN}",
        )
    warnings = {f"{_spec_field(v.path, pod, spec)}: {v.message}: outside the Pod Security 'restricted' level "
                f"(allowed in namespace {namespace!r} at {allowed!r})": None for v in found}  # fmt: skip
    return list(warnings)


def volumes(spec: MCPServerSpec, config_map: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pod volumes and container mounts: the user's, config sources, the config map, and /tmp + cache."""
    vols = [v.wire() for v in spec.volumes or []]
    mounts = [m.wire() for m in spec.volume_mounts or []]
    taken = {v["name"] for v in vols}
    mounted = {m["mountPath"] for m in mounts}
    for src in spec.config_sources or []:
        vol_name = source_volume_name(src.name)
        if src.config_map:
            vols.append({"name": vol_name, "configMap": {"name": src.config_map.name}})
        elif src.secret:
            vols.append({"name": vol_name, "secret": {"secretName": src.secret.name}})
        mounts.append(
            {
                "name": vol_name,
                "mountPath": src.mount_path or f"{CONFIG_DIR}/sources/{src.name}",
                "readOnly": True,
            }
        )
    if config_map:
        vols.append({"name": CONFIG_VOLUME, "configMap": {"name": config_map}})
        mounts.append({"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True})
    for name, path in ((TMP_VOLUME, "/tmp"), (CACHE_VOLUME, "/cache")):
        if name not in taken and path not in mounted:
            vols.append({"name": name, "emptyDir": {"sizeLimit": "1Gi"}})
            mounts.append({"name": name, "mountPath": path})
    return vols, mounts


def container(spec: MCPServerSpec, work: Workload, mounts: list[dict[str, Any]]) -> dict[str, Any]:
    """The MCP server container."""
    proxied = work.proxy_args is not None
    serving = UPSTREAM_PORT_NAME if proxied else PORT_NAME
    ports: list[dict[str, Any]] = [{"name": serving, "containerPort": work.port, "protocol": "TCP"}]
    named = [("the serving port", serving), *([("mcpop-bridge's port", PORT_NAME)] if proxied else [])]
    exposed = {(work.port, "TCP"), *([(work.proxy_port, "TCP")] if proxied else [])}
    for i, p in enumerate(spec.ports or []):
        target = p.target_port if isinstance(p.target_port, int) else p.port
        if p.name == PORT_NAME or (target, p.protocol or "TCP") in exposed:
            continue
        if proxied and p.name == BRIDGE_METRICS_PORT_NAME:
            continue  # the bridge's container declares it
        if isinstance(p.target_port, str) and any(n == p.target_port for _, n in named):
            continue  # routes to a port the container already exposes
        exposed.add((target, p.protocol or "TCP"))
        # a named targetPort must name the container port, or the Service routes nowhere
        name = p.target_port if isinstance(p.target_port, str) else p.name
        named.append((f"spec.ports[{i}].name", name))
        ports.append({"name": name, "containerPort": target, "protocol": p.protocol or "TCP"})
    check_ports(named)
    out: dict[str, Any] = {
        "name": CONTAINER,
        "image": work.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": work.command,
        "args": work.args,
        "ports": ports,
        "env": _env(spec, work),
        "envFrom": _env_from(spec),
        "resources": spec.resources.wire(),
        **probes(spec, work),
        "securityContext": container_security_context(spec.security_context),
        "volumeMounts": mounts,
    }
    if work.run_as_user is not None:
        out["securityContext"] = {**out["securityContext"], "runAsUser": work.run_as_user}
    if work.bridge_image is not None:
        out["volumeMounts"] = [*mounts, {"name": BRIDGE_VOLUME, "mountPath": BRIDGE_DIR, "readOnly": True}]
    if spec.pre_stop_sleep_seconds:
        out["lifecycle"] = {"preStop": {"sleep": {"seconds": spec.pre_stop_sleep_seconds}}}
    return {k: v for k, v in out.items() if v not in (None, [], {})}


def bridge_init_container(spec: MCPServerSpec, work: Workload) -> dict[str, Any]:
    """The init container that copies the static bridge binary into the shared emptyDir."""
    assert work.bridge_image is not None
    return {
        "name": BRIDGE_INIT,
        "image": work.bridge_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/mcpop-bridge", "--copy-to", BRIDGE_DIR],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": container_security_context(spec.security_context),
        "volumeMounts": [{"name": BRIDGE_VOLUME, "mountPath": BRIDGE_DIR}],
    }


def proxy_container(work: Workload, metrics_port: int | None) -> dict[str, Any]:
    """mcpop-bridge in front of an HTTP server (reverse-proxy mode): its own image, restricted, on the port the
    Service's `http` leads to, with its health and readiness endpoints (ready while the server answers)."""
    assert work.proxy_image is not None and work.proxy_port is not None and work.proxy_args is not None
    ports = [{"name": PORT_NAME, "containerPort": work.proxy_port, "protocol": "TCP"}]
    if metrics_port is not None:
        ports.append({"name": BRIDGE_METRICS_PORT_NAME, "containerPort": metrics_port, "protocol": "TCP"})
    health = {"httpGet": {"path": HEALTH_PATH, "port": PORT_NAME}}
    return {
        "name": PROXY_CONTAINER,
        "image": work.proxy_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/mcpop-bridge"],
        "args": work.proxy_args,
        "ports": ports,
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
        "livenessProbe": {**health, "periodSeconds": 20, "timeoutSeconds": 5},
        "readinessProbe": {"httpGet": {"path": READY_PATH, "port": PORT_NAME}, "periodSeconds": 10,
                           "timeoutSeconds": 5},
        "startupProbe": startup_probe(health),
        "securityContext": container_security_context(SecurityContext()),
    }  # fmt: skip


def bridge_volume() -> dict[str, Any]:
    """The emptyDir the static bridge binary is copied into."""
    return {"name": BRIDGE_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}}
