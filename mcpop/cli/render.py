"""`mcp render`: offline rendering of MCPServer files to the object set the operator would apply. pydantic, the
models and the renderer are imported inside the functions, so resolving the command (`mcp render --help`)
loads none of them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from cyclopts import Parameter

from mcpop.cli.options import Format, Output

if TYPE_CHECKING:
    from mcpop.api.imageconfig import ImageConfig
    from mcpop.api.mcpserver import MCPServer
    from mcpop.api.mcpserverbackup import MCPServerBackup
    from mcpop.render.catalog import Catalog
    from mcpop.render.objectset import ObjectSet

IMAGE_CONFIG_FLAG = "--image-config"
#: the Pod Security Standards levels (mcpop.render.podsecurity.Level; not imported: `--help` loads no renderer)
PodSecurityLevel = Literal["restricted", "baseline", "privileged"]


def load_image_configs(items: list[str]) -> tuple[dict[str, ImageConfig], list[str]]:
    """`REF=FILE` flag values (FILE: the image's OCI config JSON, as `crane config REF` prints it) -> configs.

    Returns the configs by image reference and a problem per bad value.
    """
    from mcpop.api.imageconfig import load_image_config

    configs: dict[str, ImageConfig] = {}
    problems: list[str] = []
    for item in items:
        ref, sep, file = item.partition("=")
        if not sep or not ref or not file:
            problems.append(f"{IMAGE_CONFIG_FLAG} {item!r}: expected REF=FILE (FILE from `crane config REF`)")
            continue
        try:
            text = Path(file).read_bytes()
        except OSError as exc:
            problems.append(f"{IMAGE_CONFIG_FLAG} {ref}={file}: cannot read {file}: {exc.strerror or exc}")
            continue
        try:
            configs[ref] = load_image_config(text)
        except ValueError as exc:
            problems.append(f"{IMAGE_CONFIG_FLAG} {ref}={file}: not an OCI image config: {exc}")
    return configs, problems


def load_catalog(registry: Path | None) -> tuple[Catalog, list[str]]:
    """The registry file's catalogue (or the embedded one) and a warning per entry skipped."""
    from mcpop.sources.catalog import load_embedded, load_registry_file

    if registry is None:
        return load_embedded(), []
    return load_registry_file(registry)


def _render_backup(backup: MCPServerBackup, namespace: str, servers: dict[tuple[str, str], MCPServer]) -> ObjectSet:
    """The objects the operator applies for `backup` (CronJob, Job, ServiceAccount, Role, RoleBinding): with the
    backed-up MCPServer when the files define it (its volumes and Secrets), an on-demand Job when the
    `backup-requested` annotation is set, a restore Job when `spec.restore` is, and the generated key's Secret
    named (not created: the operator generates the key) when encryption names no key."""
    from mcpop.render.backup import (
        REQUEST_ANNOTATION,
        BackupRenderOptions,
        generated_key_secret_name,
        render_backup,
        restore_hash,
        server_namespace,
    )

    spec = backup.spec
    name = backup.metadata.name
    server = servers.get((server_namespace(backup, namespace), spec.server_ref.name))
    restore = backup.wire().get("spec", {}).get("restore")
    opts = BackupRenderOptions(
        namespace=namespace,
        request=(backup.metadata.annotations or {}).get(REQUEST_ANNOTATION),
        restore_request=restore_hash(restore),
        generated_key_secret=generated_key_secret_name(name) if spec.encryption and not spec.encryption_key else None,
    )
    return render_backup(backup, server, opts)


def render_files(
    files: list[Path],
    namespace: str | None = None,
    output: Format = "yaml",
    registry: Path | None = None,
    image_configs: list[str] | None = None,
    pod_security: PodSecurityLevel = "restricted",
) -> tuple[str, list[str], list[str]]:
    """Render the servers in `files`: (output text, problems, warnings). Output is empty on any problem.

    `image_configs` are `REF=FILE` values of `--image-config`; `pod_security` the Pod Security level the
    namespace allows (a pod above it is a problem).
    """
    from pydantic import ValidationError

    from mcpop.api.base import check_dns_label
    from mcpop.api.explain import explain
    from mcpop.api.mcpserver import MCPServer
    from mcpop.api.mcpserverbackup import MCPServerBackup
    from mcpop.cli.load import Problem, format_loc, load_files
    from mcpop.codec.emitter import dump_json, dump_yaml
    from mcpop.render import RenderError, RenderOptions, render

    if namespace is not None:
        try:
            check_dns_label(namespace)
        except ValueError as exc:
            return "", [f"--namespace: {exc}"], []
    configs, config_problems = load_image_configs(image_configs or [])
    if config_problems:
        return "", config_problems, []
    catalog: Catalog | None = None
    warnings: list[str] = []
    if registry is not None:  # a file named is read whether or not a server uses it: a typo is an error
        try:
            catalog, warnings = load_catalog(registry)
        except OSError as exc:
            return "", [f"--registry {registry}: cannot read it: {exc.strerror or exc}"], []
        except ValueError as exc:
            return "", [f"--registry {registry}: cannot load: {exc}"], []
    loaded = load_files(files, ("MCPServer", "MCPServerBackup"))
    problems: list[Problem] = list(loaded.problems)
    warnings += [f"skipped {s} (not an MCPServer or MCPServerBackup)" for s in loaded.skipped]
    objects = []
    seen: dict[tuple[str, str, str], str] = {}
    servers = {(namespace or r.metadata.namespace or "default", r.metadata.name): r
               for _, _, r in loaded.resources if isinstance(r, MCPServer)}  # fmt: skip
    for source, index, resource in loaded.resources:
        assert isinstance(resource, MCPServer | MCPServerBackup)
        kind = type(resource).__name__
        ns = namespace or resource.metadata.namespace or "default"
        key = (kind, ns, resource.metadata.name)
        if key in seen:
            problems.append(Problem(source, index, "metadata.name",
                                    f"{kind} {ns}/{key[2]} is also defined in {seen[key]}; names must be unique "
                                    "per namespace", loaded.line_of(source, index, "metadata.name")))  # fmt: skip
            continue
        seen[key] = f"{source}: document {index}"
        if isinstance(resource, MCPServerBackup):
            try:
                rendered = _render_backup(resource, ns, servers)
            except RenderError as exc:
                problems.append(Problem(source, index, exc.field, exc.message,
                                        loaded.line_of(source, index, exc.field)))  # fmt: skip
                continue
            objects += rendered.objects
            warnings += [f"{source}: document {index}: {w}" for w in rendered.warnings]
            continue
        reg = resource.spec.registry
        try:
            entry = None
            if reg is not None:
                if catalog is None:
                    try:
                        catalog, skipped = load_catalog(registry)
                    except (OSError, ValueError) as exc:
                        return "", [f"--registry {registry}: cannot load: {exc}"], warnings
                    warnings += skipped
                entry = catalog.resolve(reg.name, reg.version)
                if reg.registry_ref:
                    warnings.append(
                        f"{source}: document {index}: registry.registryRef {reg.registry_ref!r} is not "
                        f"consulted offline; used the {catalog.source}"
                    )
            opts = RenderOptions(namespace=ns, image_configs=configs, pod_security=pod_security)
            rendered = render(resource, entry, opts)
        except RenderError as exc:
            problems.append(Problem(source, index, exc.field, exc.message, loaded.line_of(source, index, exc.field)))
            continue
        except ValidationError as exc:  # a value taken from registry data that the API model refuses
            for err in exc.errors(include_url=False):
                loc, msg = explain(err, MCPServer)
                problems.append(Problem(source, index, "spec.registry", f"{format_loc(loc)}: {msg}"))
            continue
        objects += rendered.objects
        warnings += [f"{source}: document {index}: {w}" for w in rendered.warnings]
    if problems:
        return "", [str(p) for p in problems], warnings
    if output == "table":
        from mcpop.cli.output import object_table

        text = object_table(objects)
    else:
        text = dump_json(objects) if output == "json" else dump_yaml(objects)
    return text, [], warnings


def run_render(
    files: list[Path],
    namespace: str | None,
    output: Format,
    registry: Path | None = None,
    image_configs: list[str] | None = None,
    pod_security: PodSecurityLevel = "restricted",
) -> int:
    """Print the object set; on bad input print every problem to stderr and return 2."""
    text, problems, warnings = render_files(files, namespace, output, registry, image_configs, pod_security)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def render(
    file: Annotated[
        list[Path],
        Parameter(name=["--file", "-f"], negative=(), consume_multiple=False, allow_leading_hyphen=True),
    ],
    *,
    namespace: Annotated[str | None, Parameter(name=["--namespace", "-n"])] = None,
    output: Output = "yaml",
    registry: Annotated[Path | None, Parameter(name=["--registry"])] = None,
    image_config: Annotated[
        list[str] | None, Parameter(name=["--image-config"], negative=(), consume_multiple=False)
    ] = None,
    pod_security: Annotated[PodSecurityLevel, Parameter(name=["--pod-security"])] = "restricted",
) -> int:
    """Render MCPServer files to the objects the operator applies, offline.

    Parameters
    ----------
    file
        MCPServer YAML file (multi-document allowed; `-` for stdin). Repeat for several.
    namespace
        Namespace for objects whose MCPServer names none (default `default`).
    output
        Output format: yaml (default), json, or table (the objects' kind, namespace and name).
    registry
        MCP registry entries for `spec.registry` (a server.json, a JSON list of them, or a registry
        API list response). Default: the embedded catalogue of well-known servers.
    image_config
        REF=FILE: the OCI config of image REF (FILE as `crane config REF` prints it), whose entrypoint
        runs an OCI stdio server that names no command. Repeat for several images.
    pod_security
        The Pod Security level the target namespace allows (as the operator's --pod-security-levels says
        for it): a pod above it is refused, naming the field.
    """
    return run_render(file, namespace, output, registry, image_config, pod_security)
