"""From an MCP registry entry (server.json) to the MCPServer spec fields it implies: a pure mapping.

Rules (see the MCP-REGISTRY contract):

- Package choice is deterministic. `spec.registry.package` (oci, npm or pypi) forces a type. Otherwise a
  package whose type matches `runtime.type` (docker→oci, node→npm, python→pypi) comes first, then oci,
  npm, pypi in that order, except that a stdio oci package ranks after npm and pypi: those run inside the
  runtime image (npx, uvx) behind mcpop-bridge with no more input, while a stdio image runs its own
  entrypoint behind it, which needs the image's config (`image_configs`).
  Types mcpop cannot run (mcpb, nuget, cargo, go) are skipped.
- oci: image = identifier; docker-run runtime arguments `-e NAME=value` / `--env NAME=value` become env,
  package arguments become the container args. npm: a pinned Node image running
  `npx -y <identifier>@<version>`. pypi: a pinned uv image running `uvx <identifier>==<version>`.
- The package transport sets transport type, port and path (stdio is bridged by normalize).
- An entry with no runnable package but with remotes is remote-only: nothing runs; the renderer makes a
  Service of type ExternalName for the remote host.
- User values always win: only fields the user left unset are filled; env merges by name, user first.
- Environment variables marked isSecret always come from a Secret (secretKeyRef), never inlined: from
  the user's `secretRefs`/`env` when they supply the variable, else (optional ones) from the Secret
  `<server>-secrets`. A required variable nobody supplies is a RenderError naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from mcpop.api.core import EnvVar
from mcpop.api.imageconfig import ImageConfig, canonical_ref
from mcpop.api.mcpserver import MCPServerSpec, RegistryRef, Runtime, Transport
from mcpop.api.serverjson import Argument, Input, KeyValueInput, Package, Remote, ServerJSON
from mcpop.api.validation import check_url_port, strip_userinfo
from mcpop.render.errors import ImageConfigNeeded, RenderError
from mcpop.render.normalize import NODE_IMAGE, PYTHON_IMAGE, image_reference

#: npm and PyPI packages run in the same pinned runtime images as stdio servers (normalize)
UV_IMAGE = PYTHON_IMAGE
#: Package types mcpop runs, with the runtime type each implies.
RUNTIME_OF = {"oci": "docker", "npm": "node", "pypi": "python"}
PACKAGE_OF = {v: k for k, v in RUNTIME_OF.items()}
PREFERENCE = ("oci", "npm", "pypi")

ANNOTATION_PREFIX = "mcp.allbeone.io/registry-"
FIELD = "spec.registry"


@dataclass(frozen=True)
class RegistryUsed:
    """What the renderer took from the registry; recorded as annotations and in status."""

    name: str
    version: str
    digest: str
    package: str | None = None
    description: str | None = None
    repository: str | None = None
    remote_url: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: the config of the OCI stdio image whose own entrypoint runs behind the static bridge
    image_config: ImageConfig | None = None
    #: the remote's transport (streamable-http or sse), for remote-only entries
    remote_transport: str | None = None

    def annotations(self) -> dict[str, str]:
        """`mcp.allbeone.io/registry-{name,version,package,digest}` (package omitted for remotes)."""
        out = {"name": self.name, "version": self.version, "package": self.package, "digest": self.digest}
        return {ANNOTATION_PREFIX + k: v for k, v in out.items() if v is not None}


def _secret_env(server: str, name: str) -> EnvVar:
    """An env var read from the server's Secret (`<server>-secrets`, key = the variable's name)."""
    ref = {"name": f"{server}-secrets", "key": name}
    return EnvVar.model_validate({"name": name, "valueFrom": {"secretKeyRef": ref}})


def _env_name(label: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", label.lstrip("-").upper()) or "SECRET"


def _substitute(
    text: str, variables: dict[str, Input] | None, what: str, secrets: list[EnvVar] | None = None, server: str = ""
) -> str:
    """`text` with `{var}` placeholders filled from `variables` (value, then default).

    A secret variable is never inlined: it becomes `$(NAME)`, which Kubernetes expands from an env var that
    `secrets` receives, read from the server's Secret.
    """

    def one(match: re.Match[str]) -> str:
        var = (variables or {}).get(match.group(1))
        if var is not None and var.is_secret and secrets is not None:
            name = _env_name(match.group(1))
            secrets.append(_secret_env(server, name))
            return f"$({name})"
        value = (var.value or var.default) if var is not None else None
        if value is None or (var is not None and var.is_secret):
            raise RenderError(FIELD, f"{what}: no value for placeholder {{{match.group(1)}}}; set it yourself")
        return value

    return re.sub(r"\{([A-Za-z0-9_.-]+)\}", one, text)


def _arguments(args: list[Argument] | None, what: str, secrets: list[EnvVar], server: str) -> list[str]:
    """Command-line arguments; a secret one is passed as `$(NAME)` from the server's Secret, never inlined."""
    out: list[str] = []
    for arg in args or []:
        value = arg.value if arg.value is not None else arg.default
        label = arg.name or arg.value_hint or "argument"
        if arg.is_secret:
            name = _env_name(arg.name or arg.value_hint or "argument")
            secrets.append(_secret_env(server, name))
            out += [arg.name, f"$({name})"] if arg.type == "named" and arg.name else [f"$({name})"]
            continue
        if value is None:
            if arg.is_required:
                raise RenderError(FIELD, f"{what} {label!r} is required and has no value; set args yourself")
            continue
        value = _substitute(value, arg.variables, f"{what} {label!r}", secrets, server)
        out += [arg.name, value] if arg.type == "named" and arg.name else [value]
    return out


def _docker_env(args: list[Argument] | None, warnings: list[str], server: str) -> list[EnvVar]:
    """`-e NAME=value` / `--env NAME=value` runtime arguments of an oci package, as env (secrets by reference)."""
    env: list[EnvVar] = []
    for arg in args or []:
        value = arg.value if arg.value is not None else arg.default
        if arg.type == "named" and arg.name in ("-e", "--env") and value and "=" in value:
            name, _, text = value.partition("=")
            if arg.is_secret:
                env.append(_secret_env(server, name))
                continue
            secrets: list[EnvVar] = []
            env.append(EnvVar(name=name, value=_substitute(text, arg.variables, f"runtime argument {name}", secrets,
                                                            server)))  # fmt: skip
            env += secrets
        elif arg.type == "named" and arg.name in ("-e", "--env") and value:
            continue  # `-e NAME` passes the host's value: supplied through environmentVariables
        else:
            # a secret's value is never shown: name the argument by its name or hint only
            shown = arg.name or arg.value_hint or ("a secret value" if arg.is_secret else value)
            warnings.append(f"docker runtime argument {shown!r} has no Kubernetes equivalent; ignored")
    return env


def choose_package(spec: MCPServerSpec, entry: ServerJSON) -> Package | None:
    """The package to run, by the rules in the module docstring; None when none is runnable."""
    runnable = [p for p in entry.packages or [] if p.registry_type in RUNTIME_OF]
    forced = spec.registry.package if spec.registry else None
    if forced is not None:
        chosen = [p for p in runnable if p.registry_type == forced]
        if not chosen:
            have = ", ".join(sorted({p.registry_type for p in entry.packages or []})) or "none"
            raise RenderError(
                "spec.registry.package", f"{entry.name} {entry.version} has no {forced} package (has: {have})"
            )
        return chosen[0]
    hint = PACKAGE_OF.get(spec.runtime.type or "") if spec.runtime else None

    def rank(item: tuple[int, Package]) -> tuple[int, int, int, int]:
        index, p = item
        stdio_oci = p.registry_type == "oci" and p.transport.type == "stdio"
        return (0 if p.registry_type == hint else 1, int(stdio_oci), PREFERENCE.index(p.registry_type), index)

    ranked = sorted(enumerate(runnable), key=rank)
    return ranked[0][1] if ranked else None


def _transport(pkg: Package) -> tuple[str, int | None, str | None]:
    """Transport type, port and path of a package (port/path from an HTTP transport's URL)."""
    t = pkg.transport
    if t.type == "stdio" or not t.url:
        return t.type, None, None
    hints = {
        a.name.lstrip("-"): a.value or a.default
        for a in [*(pkg.runtime_arguments or []), *(pkg.package_arguments or [])]
        if a.type == "named" and a.name and (a.value or a.default)
    }

    def fill(match: re.Match[str]) -> str:
        value = hints.get(match.group(1))
        return value if value is not None else ("8080" if match.group(1) == "port" else "")

    url = re.sub(r"\{([A-Za-z0-9_.-]+)\}", fill, t.url)
    try:
        check_url_port(url)
    except ValueError as exc:
        raise RenderError(FIELD, f"the package's transport URL, its variables filled in: {exc}") from None
    parts = urlsplit(url)
    return t.type, parts.port, parts.path or None


def _package_env(entry: ServerJSON, pkg: Package, spec: MCPServerSpec, server: str, supplied: set[str]) -> list[EnvVar]:
    """Env of the package's environmentVariables the user did not supply; secrets by reference."""
    out: list[EnvVar] = []
    for var in pkg.environment_variables or []:
        if var.name in supplied:
            continue
        if var.is_secret:
            if var.is_required:
                raise RenderError(
                    FIELD,
                    f"{entry.name} needs the secret environment variable {var.name}: add "
                    f"secretRefs [{{name: {server}-secrets, key: {var.name}}}] (or env {var.name} with "
                    "valueFrom.secretKeyRef) so it comes from a Secret",
                )
            out.append(EnvVar.model_validate({"name": var.name, "valueFrom": {"secretKeyRef": {
                "name": f"{server}-secrets", "key": var.name, "optional": True}}}))  # fmt: skip
            continue
        value = var.value if var.value is not None else var.default
        if value is None:
            if var.is_required:
                raise RenderError(
                    FIELD,
                    f"{entry.name} needs the environment variable {var.name} ({_about(var)}): set it in env",
                )
            continue
        secrets: list[EnvVar] = []
        out.append(EnvVar(name=var.name, value=_substitute(value, var.variables, f"env {var.name}", secrets, server)))
        out += [e for e in secrets if e.name not in supplied]
    return out


def _about(var: KeyValueInput) -> str:
    text = (var.description or "no description").strip().splitlines()[0]
    return text if len(text) <= 80 else text[:77] + "..."


def _supplied_env(spec: MCPServerSpec) -> tuple[list[EnvVar], set[str], bool]:
    """The user's env (flat or runtime), every env name the user supplies, and whether whole Secrets are."""
    rt = spec.runtime
    env = list(spec.env if spec.env is not None else (rt.env or [] if rt else []))
    names = {e.name for e in env}
    whole = False
    for ref in spec.secret_refs or []:
        if ref.key is None:
            whole = True
        else:
            names.add(ref.env_name or ref.key.upper().replace("-", "_").replace(".", "_"))
            names.add(ref.key)
    return env, names, whole or bool(spec.env_from)


def _launcher(pkg: Package, runtime_args: list[str]) -> tuple[str, list[str] | None]:
    version = pkg.version
    if pkg.registry_type == "npm":
        ref = f"{pkg.identifier}@{version}" if version else pkg.identifier
        return NODE_IMAGE, ["npx", "-y", *runtime_args, ref]
    if pkg.registry_type == "pypi":
        ref = f"{pkg.identifier}=={version}" if version else pkg.identifier
        return UV_IMAGE, ["uvx", *runtime_args, ref]
    return pkg.identifier, None


def _remote(entry: ServerJSON) -> Remote | None:
    remotes = sorted(entry.remotes or [], key=lambda r: r.type != "streamable-http")
    return remotes[0] if remotes else None


def _k8s_literal(arg: str) -> str:
    """`arg` as a container arg Kubernetes passes through unchanged (no `$(VAR)` expansion)."""
    return arg.replace("$", "$$")


def find_image_config(configs: Mapping[str, ImageConfig], ref: str) -> ImageConfig | None:
    """The config given for image `ref`, matching references in full form (`node` = docker.io/library/node:latest)."""
    if ref in configs:
        return configs[ref]
    want = canonical_ref(ref)
    return next((c for k, c in configs.items() if canonical_ref(k) == want), None)


def _bridged(spec: MCPServerSpec, transport: Transport) -> bool:
    """Whether the server speaks stdio and runs behind the bridge."""
    eff_type = transport.type or "streamable-http"
    return eff_type == "stdio" and not (spec.gateway is not None and spec.gateway.enabled is False)


def _oci_stdio_need(spec: MCPServerSpec, entry: ServerJSON, pkg: Package, transport: Transport
                    ) -> ImageConfigNeeded | None:  # fmt: skip
    """What rendering needs of the image's own config: an OCI stdio package that names no command runs the
    image's entrypoint behind the bridge. None when no config is needed."""
    rt = spec.runtime or Runtime()
    if not _bridged(spec, transport) or pkg.registry_type != "oci" or (spec.command or rt.command or spec.args
                                                                       or rt.args):  # fmt: skip
        return None
    if spec.gateway is not None and spec.gateway.image:
        raise RenderError(
            "spec.command",
            f"the oci package {pkg.identifier} of {entry.name} speaks stdio and gateway.image is set: "
            f"set command to what runs the server inside {spec.gateway.image}",
        )
    ref = image_reference(spec.image or rt.image or _launcher(pkg, [])[0], spec.tag)[0]
    return ImageConfigNeeded(
        "spec.registry",
        ref,
        f"the oci package {pkg.identifier} of {entry.name} speaks stdio and names no command: the "
        f"image's own entrypoint runs behind the bridge, so its config is needed (offline: "
        f"--image-config {ref}=FILE, FILE from `crane config {ref}`; or set command)",
    )


def image_configs_needed(spec: MCPServerSpec, entry: ServerJSON | None) -> list[ImageConfigNeeded]:
    """The image configs rendering `spec` from `entry` needs (each names its image and field); the caller
    reads them and passes them in `RenderOptions.image_configs`. Raises RenderError for a spec enrich refuses."""
    if entry is None:
        return []
    pkg = choose_package(spec, entry)
    if pkg is None:
        return []
    t_type = _transport(pkg)[0]
    user_t = spec.transport
    transport = user_t if user_t is not None and user_t.type is not None else Transport.model_validate({"type": t_type})
    need = _oci_stdio_need(spec, entry, pkg, transport)
    return [need] if need is not None else []


def enrich(
    spec: MCPServerSpec,
    entry: ServerJSON,
    server_name: str = "mcp-server",
    image_configs: Mapping[str, ImageConfig] | None = None,
) -> tuple[MCPServerSpec, RegistryUsed]:
    """The spec with unset fields filled from `entry`, and a record of what was used.

    `server_name` names the default Secret (`<server>-secrets`) optional secret variables come from.
    `image_configs` (image reference -> its OCI config) give the entrypoint of an OCI stdio package that
    names no command: it then runs unchanged behind the static bridge; a missing one is ImageConfigNeeded.
    """
    warnings: list[str] = []
    reg = spec.registry
    if reg and reg.version and reg.version.removeprefix("v") != entry.version.removeprefix("v"):
        raise RenderError(
            "spec.registry.version", f"asks for {reg.version!r} but the entry is {entry.name} {entry.version}"
        )
    repository = entry.repository.url if entry.repository else None
    registry = (reg or RegistryRef(name=entry.name)).model_copy(update={
        "version": entry.version,
        "description": reg.description if reg and reg.description else entry.description,
        "repository": reg.repository if reg and reg.repository else repository,
    })  # fmt: skip
    base = RegistryUsed(entry.name, entry.version, entry.digest(), None, entry.description, repository)
    pkg = choose_package(spec, entry)
    rt = spec.runtime or Runtime()
    user_image = spec.image or rt.image
    if pkg is None:
        kinds = ", ".join(f"{p.registry_type} {p.identifier}" for p in entry.packages or []) or "no packages"
        remote = _remote(entry)
        user_command = spec.command or rt.command
        if user_image is not None or user_command:
            what = f"image {user_image}" if user_image else f"command {' '.join(user_command or [])}"
            warnings.append(f"{entry.name} has no package mcpop can run ({kinds}); using your {what}")
            fill: dict[str, object] = {"registry": registry}
            first = entry.packages[0] if entry.packages else None
            if first is not None and (spec.transport is None or spec.transport.type is None):
                fill["transport"] = (spec.transport or Transport()).model_copy(update={"type": first.transport.type})
            return spec.model_copy(update=fill), replace(base, warnings=tuple(warnings))
        if remote is None:
            raise RenderError(
                FIELD, f"{entry.name} {entry.version} has no package mcpop can run ({kinds}; supported: "
                "oci, npm, pypi) and no remotes; set image yourself",
            )  # fmt: skip
        url = _substitute(remote.url, remote.variables, f"remote {remote.url}")
        if not urlsplit(url).hostname:
            raise RenderError(FIELD, f"{entry.name}: remote URL {strip_userinfo(url)!r} has no host")
        warnings.append(
            f"{entry.name} is remote-only: nothing runs in the cluster; {strip_userinfo(url)} is reached directly"
        )
        used = replace(base, remote_url=url, warnings=tuple(warnings), remote_transport=remote.type)
        return spec.model_copy(update={"registry": registry}), used

    hint = rt.type
    pkg_runtime = RUNTIME_OF[pkg.registry_type]
    if hint is not None and hint != pkg_runtime:
        warnings.append(
            f"runtime.type {hint}: {entry.name} has no {PACKAGE_OF.get(hint, hint)} package; "
            f"using the {pkg.registry_type} package {pkg.identifier} (runtime {pkg_runtime})"
        )
    docker_env = _docker_env(pkg.runtime_arguments, warnings, server_name) if pkg.registry_type == "oci" else []
    arg_secrets: list[EnvVar] = []
    runtime_args = (
        [] if pkg.registry_type == "oci"
        else _arguments(pkg.runtime_arguments, "runtime argument", arg_secrets, server_name)
    )  # fmt: skip
    image, command = _launcher(pkg, runtime_args)
    package_args = _arguments(pkg.package_arguments, "package argument", arg_secrets, server_name)
    docker_env += arg_secrets

    user_env, supplied, whole_secrets = _supplied_env(spec)
    extra = list({e.name: e for e in reversed(docker_env) if e.name not in supplied}.values())[::-1]
    supplied |= {e.name for e in extra}
    if whole_secrets:
        secret_names = {v.name for v in pkg.environment_variables or [] if v.is_secret}
        supplied |= secret_names  # a whole Secret (envFrom/secretRefs without key) may carry them
    extra += _package_env(entry, pkg, spec, server_name, supplied)
    merged = user_env + extra

    t_type, t_port, t_path = _transport(pkg)
    user_t = spec.transport
    transport_update: dict[str, object] = {}
    if user_t is None or user_t.type is None:
        transport_update["type"] = t_type
    if t_path and (user_t is None or "path" not in user_t.model_fields_set):
        transport_update["path"] = t_path
    transport = (user_t or Transport()).model_copy(update=transport_update)

    update: dict[str, object] = {"registry": registry, "transport": transport}
    rt_update: dict[str, object] = {"type": pkg_runtime}
    bridged = _bridged(spec, transport)
    image_config: ImageConfig | None = None
    need = _oci_stdio_need(spec, entry, pkg, transport)
    if need is not None:
        image_config = find_image_config(image_configs or {}, need.image)
        if image_config is None:
            raise need
        # the image's argv is literal: Kubernetes expands `$(VAR)` and `$$` in args, so every `$` is doubled
        # (package arguments keep theirs: a secret argument is passed as `$(NAME)` on purpose)
        literal = ImageConfig(tuple(_k8s_literal(a) for a in image_config.entrypoint),
                              tuple(_k8s_literal(a) for a in image_config.cmd))  # fmt: skip
        command = literal.command(package_args)
        if not command:
            raise RenderError(
                "spec.command",
                f"the image {need.image} of {entry.name} has neither Entrypoint nor Cmd: set command to what runs it",
            )
        package_args = []
    if user_image is None and not (bridged and pkg.registry_type in ("npm", "pypi")):
        rt_update["image"] = image  # npm/pypi stdio servers: normalize picks the operator's runtime image
    if spec.command is None and rt.command is None and command is not None:
        rt_update["command"] = command
    if spec.args is None and rt.args is None and package_args:
        rt_update["args"] = package_args
    has_port = spec.port is not None or rt.port is not None or (user_t is not None and user_t.port is not None)
    if not has_port and t_port is not None:
        rt_update["port"] = t_port
    if spec.env is not None:
        update["env"] = merged
    elif merged:
        rt_update["env"] = merged
    update["runtime"] = rt.model_copy(update=rt_update)
    package = f"{pkg.registry_type}:{pkg.identifier}" + (f"@{pkg.version}" if pkg.version else "")
    used = replace(base, package=package, warnings=tuple(warnings), image_config=image_config)
    return spec.model_copy(update=update), used
