"""Flat and `runtime` forms of an MCPServer, normalised to the one form the renderer uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mcpop.api.core import EnvVar
from mcpop.api.mcpserver import DEFAULT_PATH, DEFAULT_PORT, DEFAULT_SSE_PATH, MCPServerSpec
from mcpop.render.errors import RenderError

if TYPE_CHECKING:
    from mcpop.api.imageconfig import ImageConfig

#: The image a stdio server without its own image runs in, by runtime: the server's runtime (npx, uvx) with
#: mcpop-bridge copied in beside it. Official images pinned by tag and digest (Renovate keeps them current);
#: the operator's --stdio-node-image / --stdio-python-image override them.
NODE_IMAGE = (
    "docker.io/library/node:22-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c"
)
PYTHON_IMAGE = (
    "ghcr.io/astral-sh/uv:python3.12-bookworm-slim"
    "@sha256:e5b65587bce7de595f299855d7385fe7fca39b8a74baa261ba1b7147afa78e58"
)
STDIO_IMAGES = {"node": NODE_IMAGE, "python": PYTHON_IMAGE}
#: the command (its base name) that says which runtime image a server without an image needs
RUNTIME_OF_COMMAND = {"npx": "node", "node": "node", "npm": "node", "uvx": "python", "uv": "python",
                      "python": "python", "python3": "python", "pip": "python"}  # fmt: skip
GATEWAY_PORT = 8000
#: the cluster DNS domain of a Service's full name (as mcpop.render.istio and the status' serviceEndpoint use)
CLUSTER_DOMAIN = "cluster.local"
#: The static bridge (tools/bridge: mcpop-bridge on the official MCP Go SDK) for images without node or
#: python: an init container copies it from its image into an emptyDir, the server's own image runs it. The
#: operator's --bridge-image (chart value bridge.image) overrides the image; tools/release pins it by digest.
BRIDGE_VERSION = "0.7.0"
BRIDGE_IMAGE = f"ghcr.io/allbeone/mcpop-bridge:{BRIDGE_VERSION}"
# not the bridge image's own /mcpop-bridge (its binary): a directory mounted over a file fails (runc: "not a
# directory"), which only a real kubelet showed
BRIDGE_DIR = "/mcpop-bin"
BRIDGE_BIN = f"{BRIDGE_DIR}/mcpop-bridge"
HEALTH_PATH = "/healthz"
#: the UID a static-bridged image runs as when its own user is root or a name (distroless `nonroot`)
NONROOT_UID = 65532


READY_PATH = "/readyz"


def _references(arg: str) -> bool:
    """Whether the kubelet would expand something in `arg`: a `$(NAME)` not escaped as `$$(NAME)`."""
    i = 0
    while i < len(arg) - 1:
        if arg[i] == "$" and arg[i + 1] == "$":
            i += 2
        elif arg[i] == "$" and arg[i + 1] == "(" and ")" in arg[i + 2 :] and arg.index(")", i + 2) > i + 2:
            return True
        else:
            i += 1
    return False


def service_hosts(service: str, namespace: str) -> list[str]:
    """The names a Service is reached by inside the cluster (the bridge's --allowed-hosts)."""
    svc = f"{service}.{namespace}.svc"
    return [service, f"{service}.{namespace}", svc, f"{svc}.{CLUSTER_DOMAIN}"]


def bridge_args(
    port: int, path: str, server: list[str], max_sessions: int | None = None, allowed_hosts: Sequence[str] = ()
) -> list[str]:
    """mcpop-bridge's arguments serving `server` (Kubernetes arg syntax: `$(VAR)` and `$$`) on `port` at
    `path`, accepting `allowed_hosts` in Host and Origin besides localhost (its DNS-rebinding protection). A
    server arg naming a variable is expanded by the bridge (--expand-env) from its environment, not by the
    kubelet: every `$` is doubled so the kubelet passes the args through as written."""
    expand = any(_references(a) for a in server)
    hosts = ["*"] if "*" in allowed_hosts else list(dict.fromkeys(allowed_hosts))
    return [
        "--port", str(port), "--path", path, "--health", HEALTH_PATH, "--ready", READY_PATH,
        *(["--max-sessions", str(max_sessions)] if max_sessions else []),
        *(["--allowed-hosts", ",".join(hosts)] if hosts else []),
        *(["--expand-env"] if expand else []),
        "--",
        *([a.replace("$", "$$") for a in server] if expand else server),
    ]  # fmt: skip


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
    #: mcpop-bridge fronting an HTTP server as a reverse proxy, in a container of its own: its image, port and
    #: arguments (None: no proxy; mcpop.render.auth.with_proxy)
    proxy_image: str | None = None
    proxy_port: int | None = None
    proxy_args: list[str] | None = None


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


def _runtime_image(
    spec: MCPServerSpec,
    image: str | None,
    runtime_type: str,
    server: list[str],
    images: Mapping[str, str],
    warnings: list[str],
) -> tuple[str, bool]:
    """The image a bridged stdio server runs in, and whether it is one of the default runtime images:
    gateway.image (as before, where the server ran), else the spec's image, else the runtime image its
    command or runtime.type calls for."""
    gw = spec.gateway
    if gw and gw.image:
        warnings.append(
            f"gateway.image {gw.image} is now the image the server runs in (with mcpop-bridge copied in beside "
            "it; supergateway is gone): it must hold the server's command"
            + (f"; image {image} is not used" if image and image != gw.image else "; prefer runtime.image")
        )
        return gw.image, False
    if image:
        return image, False
    runtime = RUNTIME_OF_COMMAND.get(server[0].rsplit("/", 1)[-1]) if server else None
    runtime = runtime or (runtime_type if runtime_type in images else None)
    if runtime is None:
        runtime = "node"
        warnings.append(
            f"no image for command {server[0]!r}: it runs in the Node.js runtime image {images['node']}; set image "
            "(or runtime.image) to an image that holds it"
        )
    return images[runtime], True


def _bridged(
    spec: MCPServerSpec,
    ref: str,
    version: str,
    runtime_type: str,
    server: list[str],
    env: list[EnvVar],
    path: str,
    run_as: int | None,
    warnings: list[str],
    user: str = "root",
    hosts: Sequence[str] = (),
    bridge_image: str = BRIDGE_IMAGE,
) -> Workload:
    """The server's image running mcpop-bridge (copied in by an init container), which spawns `server` once per
    MCP session."""
    gw = spec.gateway
    port = (gw.port if gw else None) or GATEWAY_PORT
    if gw and gw.args:
        warnings.append(
            "gateway.args ignored: supergateway is gone and its flags with it; the server runs behind mcpop-bridge, "
            "one process per MCP session, and the server's own command and args come from command/args"
        )
    env += [e for e in (gw.env or []) if all(e.name != x.name for x in env)] if gw else []
    if run_as is not None and spec.security_context.run_as_user is None:
        warnings.append(
            f"image {ref} runs as user {user!r}: the pod sets runAsUser {run_as} so the restricted profile holds; "
            "set securityContext.runAsUser to choose another"
        )
    else:
        run_as = None
    allowed = [*hosts, *((gw.allowed_hosts or []) if gw else [])]
    if "*" in allowed:
        warnings.append("gateway.allowedHosts '*': the bridge accepts any Host and Origin, so it has no DNS-rebinding "
                        "protection; name the hosts clients use instead")  # fmt: skip
    args = bridge_args(port, path, server, gw.max_sessions if gw else None, allowed)
    return Workload(ref, version, runtime_type, [BRIDGE_BIN], args, env, "stdio", path, port, True, warnings,
                    bridge_image=bridge_image, run_as_user=run_as)  # fmt: skip


def _tag(ref: str) -> str:
    """An image's tag for the version label (`node:22-slim@sha256:...` → 22-slim), else its short digest."""
    name = ref.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if ":" in name else image_reference(ref, "latest")[1]


def normalize(
    spec: MCPServerSpec,
    image_config: ImageConfig | None = None,
    stdio_images: Mapping[str, str] | None = None,
    hosts: Sequence[str] = (),
    bridge_image: str | None = None,
) -> Workload:
    """Resolve the effective image, command, args, env, transport and port of a validated spec.

    Every bridged stdio server runs behind mcpop-bridge in an image that holds its command: its own image
    (with `image_config`, an OCI stdio image whose own entrypoint is the command), else the runtime image
    (`stdio_images`: node for npx, python for uvx) its command calls for; the init container copies the
    bridge from `bridge_image` (default BRIDGE_IMAGE). `hosts`: the names clients reach it by (its Service's),
    which the bridge accepts in Host and Origin.
    """
    bridge = bridge_image or BRIDGE_IMAGE
    images = {**STDIO_IMAGES, **(stdio_images or {})}
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
    if not bridged:
        assert image is not None
        ref, version = image_reference(image, spec.tag)
        return Workload(ref, version, runtime_type, command, args, env, transport_type, path, port, False, warnings)

    if not command and not args:
        raise RenderError("spec.command", "a stdio server behind the bridge needs command (or args) to run")
    server = [*(command or []), *(args or [])]
    if image_config is not None and image:
        ref, version = image_reference(image, spec.tag)
        uid = image_config.numeric_user()
        run_as = NONROOT_UID if uid is None or uid == 0 else None
        user = image_config.user or "root"
        return _bridged(spec, ref, version, runtime_type, server, env, path, run_as, warnings, user, hosts, bridge)
    chosen, default = _runtime_image(spec, image, runtime_type, server, images, warnings)
    ref, version = image_reference(chosen, spec.tag) if not default else (chosen, _tag(chosen))
    # the official node and uv images run as root: the restricted profile needs a numeric non-root user
    run_as = NONROOT_UID if default else None
    return _bridged(spec, ref, version, runtime_type, server, env, path, run_as, warnings, hosts=hosts,
                    bridge_image=bridge)  # fmt: skip
