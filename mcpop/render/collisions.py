"""Names the renderer generates, checked against the user's: a clash is refused with both fields named.

The API model already refuses duplicates inside one list (two env vars `X`, two volumes `data`). What
only the renderer knows is what it adds: the `config`, `tmp`, `cache` and `src-*` volumes and their
mount paths, the `MCP_CONFIG_PATH` variable and the env vars `secretRefs` become, and the container
port names cut to 15 characters. Silently dropping one of two would run something other than what
was written, so each clash is a RenderError.
"""

from __future__ import annotations

import re
from typing import Any

from mcpop.api.core import EnvVar
from mcpop.api.mcpserver import MCPServerSpec
from mcpop.render.errors import RenderError
from mcpop.render.names import dns_label
from mcpop.render.normalize import BRIDGE_DIR

CONFIG_PATH_ENV = "MCP_CONFIG_PATH"
PORT_NAME = "http"
#: the name of mcpop-bridge's metrics port with spec.monitoring (not `metrics`: a server may serve metrics of its
#: own on a port of that name)
BRIDGE_METRICS_PORT_NAME = "bridge-metrics"
#: mcpop-bridge's container in front of an HTTP server (reverse-proxy mode)
PROXY_CONTAINER = "mcpop-bridge"
CONFIG_VOLUME = "config"
CONFIG_DIR = "/etc/mcp"
BRIDGE_VOLUME = "mcpop-bridge"
#: Generated emptyDir volumes a user may replace by mounting their own volume at the same path.
WRITABLE_DIRS = {"tmp": "/tmp", "cache": "/cache"}
_REF = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def source_volume_name(source: str) -> str:
    """The volume of config source `source`: `src-<name>`, cut with a hash to stay a DNS label."""
    return dns_label("src", source)


def secret_ref_env_name(key: str, env_name: str | None) -> str:
    """The env var a `secretRefs` entry with a key becomes."""
    return env_name or key.upper().replace("-", "_").replace(".", "_")


def user_env(spec: MCPServerSpec) -> tuple[str, list[EnvVar]]:
    """The field the user's env is written in (flat or runtime form) and its entries."""
    if spec.env is not None:
        return "spec.env", spec.env
    if spec.runtime is not None and spec.runtime.env is not None:
        return "spec.runtime.env", spec.runtime.env
    return "spec.env", []


def check_env(spec: MCPServerSpec, env: list[EnvVar]) -> None:
    """Refuse `MCP_CONFIG_PATH` set by the user when `config` is given, and secretRefs clashing with env."""
    field, written = user_env(spec)
    where = {e.name: f"{field}[{i}].name" for i, e in enumerate(written)}
    names = {e.name for e in env}
    if spec.config and CONFIG_PATH_ENV in names:
        path = where.get(CONFIG_PATH_ENV, "spec.registry")
        raise RenderError(
            path,
            f"{CONFIG_PATH_ENV} is set by mcpop to the file spec.config is mounted as; remove it, or drop "
            "spec.config and mount your own configuration",
        )
    seen: dict[str, str] = {}
    for i, ref in enumerate(spec.secret_refs or []):
        if ref.key is None:
            continue
        name = secret_ref_env_name(ref.key, ref.env_name)
        path = f"spec.secretRefs[{i}]." + ("envName" if ref.env_name else "key")
        if name in where:
            raise RenderError(path, f"becomes env var {name}, which {where[name]} already sets; set one of them")
        if name in seen:
            raise RenderError(path, f"becomes env var {name}, as {seen[name]} does; give one an envName")
        if name == CONFIG_PATH_ENV and spec.config:
            raise RenderError(path, f"becomes {CONFIG_PATH_ENV}, which mcpop sets for spec.config")
        seen[name] = path


def check_volumes(spec: MCPServerSpec, with_config: bool, with_bridge: bool = False, with_jwks: bool = False,
                  with_cluster_jwks: bool = False) -> None:  # fmt: skip
    """Refuse user volumes and mount paths that clash with the generated ones."""
    mounts = {m.mount_path: f"spec.volumeMounts[{i}].mountPath" for i, m in enumerate(spec.volume_mounts or [])}
    mounted_at = {m.name: m.mount_path for m in spec.volume_mounts or []}
    generated: dict[str, str] = {}
    paths: dict[str, str] = {}
    if with_config:
        generated[CONFIG_VOLUME] = "spec.config"
        paths[CONFIG_DIR] = "spec.config"
    if with_bridge:
        generated[BRIDGE_VOLUME] = "the static stdio bridge"
        paths[BRIDGE_DIR] = "the static stdio bridge"
    if with_jwks:
        from mcpop.render.auth import JWKS_DIR, JWKS_VOLUME

        generated[JWKS_VOLUME] = "spec.auth.jwt.jwks"
        paths[JWKS_DIR] = "spec.auth.jwt.jwks"
    if with_cluster_jwks:
        from mcpop.render.auth import CLUSTER_JWKS_DIR, CLUSTER_JWKS_VOLUME

        generated[CLUSTER_JWKS_VOLUME] = "the cluster's ServiceAccount token keys"
        paths[CLUSTER_JWKS_DIR] = "the cluster's ServiceAccount token keys"
    for i, src in enumerate(spec.config_sources or []):
        name = source_volume_name(src.name)
        if name in generated:
            raise RenderError(f"spec.configSources[{i}].name", f"its volume {name} clashes with {generated[name]}")
        generated[name] = f"spec.configSources[{i}]"
        path = src.mount_path or f"{CONFIG_DIR}/sources/{src.name}"
        at = f"spec.configSources[{i}].mountPath" if src.mount_path else f"spec.configSources[{i}].name"
        if path in paths:
            raise RenderError(at, f"mounts at {path}, where {paths[path]} is mounted")
        paths[path] = at
    for i, vol in enumerate(spec.volumes or []):
        if vol.name in generated:
            raise RenderError(
                f"spec.volumes[{i}].name",
                f"{vol.name!r} is the volume mcpop generates for {generated[vol.name]}; choose another name",
            )
        if vol.name in WRITABLE_DIRS and mounted_at.get(vol.name) != WRITABLE_DIRS[vol.name]:
            raise RenderError(
                f"spec.volumes[{i}].name",
                f"{vol.name!r} is the writable emptyDir mcpop mounts at {WRITABLE_DIRS[vol.name]}; mount this "
                f"volume at {WRITABLE_DIRS[vol.name]} to replace it, or choose another name",
            )
    for path, at in paths.items():
        if path in mounts:
            raise RenderError(mounts[path], f"{path} is where {at} is mounted; choose another path")


def check_service_ports(spec: MCPServerSpec, serving_port: int) -> None:
    """Refuse an extra Service port on the number the serving port (`http`) already has."""
    ports = spec.ports or []
    main = next((p.port for p in ports if p.name == PORT_NAME), serving_port)
    for i, p in enumerate(ports):
        if p.name != PORT_NAME and p.port == main and (p.protocol or "TCP") == "TCP":
            raise RenderError(
                f"spec.ports[{i}].port",
                f"{p.port}/TCP is the Service port of the serving port ({PORT_NAME}); name this entry "
                f"{PORT_NAME!r} to change that port, or choose another number",
            )


#: The apiserver's limit on a ConfigMap's data.
CONFIG_MAP_LIMIT = 1024 * 1024


def check_config_size(config_map: dict[str, Any]) -> None:
    """Refuse a `config` whose ConfigMap would be larger than the apiserver accepts (1 MiB of data)."""
    size = sum(len(k.encode()) + len(v.encode()) for k, v in config_map["data"].items())
    if size > CONFIG_MAP_LIMIT:
        raise RenderError("spec.config", f"is {size} bytes as JSON; a ConfigMap holds at most 1 MiB (1048576 bytes)")


def check_ports(names: list[tuple[str, str]]) -> None:
    """Refuse two container ports given one name (field, name) pairs."""
    seen: dict[str, str] = {}
    for field, name in names:
        if name in seen:
            raise RenderError(field, f"becomes container port name {name!r}, as {seen[name]} does; rename one")
        seen[name] = field


def order_env(env: list[dict[str, object]]) -> list[dict[str, object]]:
    """Env in an order where every `$(NAME)` reference comes after NAME (Kubernetes expands only those).

    Stable: an entry moves only to follow a variable it references; cycles keep their written order.
    """
    index = {str(e["name"]): i for i, e in enumerate(env)}
    out: list[dict[str, object]] = []
    placed: set[int] = set()
    visiting: set[int] = set()

    def place(i: int) -> None:
        if i in placed or i in visiting:
            return
        visiting.add(i)
        value = env[i].get("value")
        for match in _REF.finditer(value if isinstance(value, str) else ""):
            ref = match.group(1)
            if ref is not None and ref in index and index[ref] != i:
                place(index[ref])
        visiting.discard(i)
        placed.add(i)
        out.append(env[i])

    for i in range(len(env)):
        place(i)
    return out
