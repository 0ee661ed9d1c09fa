"""Flat and `runtime` forms of an MCPServer, normalised to the one form the renderer uses."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mcpop.api.core import EnvVar
from mcpop.api.mcpserver import DEFAULT_PATH, DEFAULT_PORT, DEFAULT_SSE_PATH, MCPServerSpec
from mcpop.render.errors import RenderError

if TYPE_CHECKING:
    from mcpop.api.imageconfig import ImageConfig

#: The stdio-to-HTTP bridge: supergateway (npm `supergateway`), run from its published images.
#: The node image carries npx, the `-uvx` one uvx, so npm and PyPI stdio servers run inside it.
GATEWAY_VERSION = "4.0.0"
GATEWAY_IMAGES = {
    "node": f"docker.io/supercorp/supergateway:{GATEWAY_VERSION}",
    "python": "docker.io/supercorp/supergateway:uvx",
}
GATEWAY_PORT = 8000
CMD_PLACEHOLDER = "<cmd>"
#: The static bridge (tools/bridge: mcpop-bridge on the official MCP Go SDK) for images without node or
#: python: an init container copies it from its image into an emptyDir, the server's own image runs it.
BRIDGE_VERSION = "0.2.0"
BRIDGE_IMAGE = f"ghcr.io/allbeone/mcpop-bridge:{BRIDGE_VERSION}"
# not the bridge image's own /mcpop-bridge (its binary): a directory mounted over a file fails (runc: "not a
# directory"), which only a real kubelet showed
BRIDGE_DIR = "/mcpop-bin"
BRIDGE_BIN = f"{BRIDGE_DIR}/mcpop-bridge"
HEALTH_PATH = "/healthz"
#: the UID a static-bridged image runs as when its own user is root or a name (distroless `nonroot`)
NONROOT_UID = 65532


def gateway_args(port: int, path: str) -> list[str]:
    """Default bridge arguments: serve the stdio command as streamable HTTP on `port` at `path`."""
    return [
        "--stdio",
        CMD_PLACEHOLDER,
        "--outputTransport",
        "streamableHttp",
        "--port",
        str(port),
        "--streamableHttpPath",
        path,
        "--healthEndpoint",
        "/healthz",
    ]


@dataclass(frozen=True)
class Workload:
    """What the pod runs, after the two spec forms and the bridge are resolved."""

    image: str
    version: str
    runtime_type: str
    command: list[str] | None
    args: list[str] | None
    env: list[EnvVar]
    transport: str
    path: str
    port: int
    bridged: bool
    warnings: list[str] = field(default_factory=list)
    #: the static bridge's image, copied in by an init container (None: no static bridge)
    bridge_image: str | None = None
    #: runAsUser the container needs because its image's user is root or not numeric
    run_as_user: int | None = None


def default_path(transport_type: str) -> str:
    """The MCP endpoint's path when `transport.path` is unset: /sse for SSE, else /mcp."""
    return DEFAULT_SSE_PATH if transport_type == "sse" else DEFAULT_PATH


def unused_gateway(spec: MCPServerSpec, transport_type: str) -> list[str]:
    """A warning when `gateway` settings are given but no bridge runs (not stdio, or gateway.enabled false)."""
    gw = spec.gateway
    if gw is None:
        return []
    given = sorted(k for k, v in gw.wire().items() if k != "enabled" or v is True)
    if not given:
        return []
    fields = ", ".join(f"gateway.{k}" for k in given)
    if transport_type != "stdio":
        return [f"{fields} ignored: the bridge runs only for stdio servers, and transport.type is {transport_type}"]
    return [f"{fields} ignored: gateway.enabled is false, so no bridge runs"]


def image_reference(image: str, tag: str) -> tuple[str, str]:
    """The full image reference and the version it names (tag, or a short digest)."""
    if "@" in image:
        return image, image.rsplit("@", 1)[1].split(":")[-1][:12]
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return image, last.split(":", 1)[1]
    return f"{image}:{tag}", tag


def _static_bridge(
    spec: MCPServerSpec,
    ref: str,
    version: str,
    runtime_type: str,
    server: list[str],
    env: list[EnvVar],
    path: str,
    config: ImageConfig,
    warnings: list[str],
) -> Workload:
    """The server's own image running the static bridge, which spawns `server` (the image's entrypoint)."""
    gw = spec.gateway
    port = (gw.port if gw else None) or GATEWAY_PORT
    if gw and gw.args:
        warnings.append("gateway.args ignored: the static bridge runs the image's own entrypoint")
    args = ["--port", str(port), "--path", path, "--health", HEALTH_PATH, "--", *server]
    env += [e for e in (gw.env or []) if all(e.name != x.name for x in env)] if gw else []
    uid = config.numeric_user()
    run_as = None
    if (uid is None or uid == 0) and spec.security_context.run_as_user is None:
        run_as = NONROOT_UID
        warnings.append(
            f"image {ref} runs as user {config.user or 'root'!r}: the pod sets runAsUser {NONROOT_UID} so the "
            "restricted profile holds; set securityContext.runAsUser to choose another"
        )
    return Workload(ref, version, runtime_type, [BRIDGE_BIN], args, env, "stdio", path, port, True, warnings,
                    bridge_image=BRIDGE_IMAGE, run_as_user=run_as)  # fmt: skip


def normalize(spec: MCPServerSpec, image_config: ImageConfig | None = None) -> Workload:
    """Resolve the effective image, command, args, env, transport and port of a validated spec.

    With `image_config` (an OCI stdio image whose own entrypoint is the command) a stdio server runs in
    its own image behind the static bridge instead of inside the supergateway image.
    """
    rt = spec.runtime
    image = spec.image or (rt.image if rt else None)
    transport_type = (spec.transport.type if spec.transport else None) or "streamable-http"
    if image is None and transport_type != "stdio":
        raise RenderError(
            "spec.registry",
            f"{spec.registry.name if spec.registry else '?'!r} needs registry data to render; "
            "pass --registry FILE or install an MCPRegistry",
        )
    command = spec.command if spec.command is not None else (rt.command if rt else None)
    args = spec.args if spec.args is not None else (rt.args if rt else None)
    env = list(spec.env if spec.env is not None else (rt.env or [] if rt else []))
    if transport_type == "http":
        transport_type = "streamable-http"
    path = (spec.transport.path if spec.transport else None) or default_path(transport_type)
    port = next(
        (p for p in (spec.port, rt.port if rt else None, spec.transport.port if spec.transport else None) if p),
        DEFAULT_PORT,
    )
    runtime_type = (rt.type if rt else None) or "docker"
    gw = spec.gateway
    bridged = transport_type == "stdio" and (gw is None or gw.enabled is not False)
    warnings: list[str] = [] if bridged else unused_gateway(spec, transport_type)
    if image is None and not bridged:
        raise RenderError("spec.image", "a stdio server with gateway.enabled false needs an image")
    ref, version = image_reference(image, spec.tag) if image else ("", GATEWAY_VERSION)
    if not bridged:
        return Workload(ref, version, runtime_type, command, args, env, transport_type, path, port, False, warnings)

    if not command and not args:
        raise RenderError("spec.command", "a stdio server behind the bridge needs command (or args) to run")
    if image_config is not None and image:
        server = [*(command or []), *(args or [])]
        return _static_bridge(spec, ref, version, runtime_type, server, env, path, image_config, warnings)
    server_cmd = shlex.join([*(command or []), *(args or [])])
    gw_port = (gw.port if gw else None) or GATEWAY_PORT
    gw_image = (gw.image if gw else None) or GATEWAY_IMAGES.get(runtime_type)
    if gw_image is None:
        gw_image = GATEWAY_IMAGES["node"]
    if image and ref != gw_image and not (gw and gw.image):
        warnings.append(
            f"stdio server runs inside the bridge image {gw_image}: image {ref} is not used; "
            "set gateway.image to an image holding both the bridge and the server"
        )
    template = (gw.args if gw and gw.args else None) or gateway_args(gw_port, path)
    bridge_args = [a.replace(CMD_PLACEHOLDER, server_cmd) for a in template]
    if not any(CMD_PLACEHOLDER in a for a in template):
        warnings.append("gateway.args has no <cmd> placeholder: the server command is not passed")
    env += [e for e in (gw.env or []) if all(e.name != x.name for x in env)] if gw else []
    return Workload(gw_image, version, runtime_type, None, bridge_args, env, "stdio", path, gw_port, True, warnings)
