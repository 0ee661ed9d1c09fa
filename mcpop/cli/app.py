"""The `mcp` command line as a cyclopts App: every command and flag, with its help. Commands are imported
lazily (by import string, or inside the function), so `mcp --help` loads none of them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from cyclopts import App, Parameter

from mcpop import __version__
from mcpop.cli.output import Format
from mcpop.cli.params import Cluster

app = App(
    name="mcp",
    help="Run MCP (Model Context Protocol) servers on Kubernetes.",
    version=__version__,
    version_flags=[],
    # help text as written: the markdown renderer loads markdown-it and pygments (~40 % of `mcp --help`)
    help_format="plaintext",
)


@app.command
def render(
    file: Annotated[
        list[Path],
        Parameter(name=["--file", "-f"], negative=(), consume_multiple=False, allow_leading_hyphen=True),
    ],
    *,
    namespace: Annotated[str | None, Parameter(name=["--namespace", "-n"])] = None,
    output: Annotated[Literal["yaml", "json"], Parameter(name=["--output", "-o"])] = "yaml",
    registry: Annotated[Path | None, Parameter(name=["--registry"])] = None,
    image_config: Annotated[
        list[str] | None, Parameter(name=["--image-config"], negative=(), consume_multiple=False)
    ] = None,
) -> int:
    """Render MCPServer files to the objects the operator applies, offline.

    No cluster and no network are used: the output is for CI and GitOps diffing.
    Exits 2 on bad input, printing every problem with its file, document and field.

    Parameters
    ----------
    file
        MCPServer YAML file (multi-document allowed; `-` for stdin). Repeat for several.
    namespace
        Namespace for objects whose MCPServer names none (default `default`).
    output
        Output format.
    registry
        MCP registry entries for `spec.registry` (a server.json, a JSON list of them, or a registry
        API list response). Default: the embedded catalogue of well-known servers.
    image_config
        REF=FILE: the OCI config of image REF (FILE as `crane config REF` prints it), whose entrypoint
        runs an OCI stdio server that names no command. Repeat for several images.
    """
    from mcpop.cli.render import render_command

    return render_command(file, namespace=namespace, output=output, registry=registry, image_config=image_config)


@app.command
def status(
    name: str | None = None,
    /,
    *,
    output: Annotated[
        Format | None, Parameter(name=["--output", "-o"], help="table, json or yaml (default: the status block).")
    ] = None,
    watch: Annotated[bool, Parameter(name=["--watch", "-w"], negative=(), help="Stream changes until ^C.")] = False,
    all_namespaces: Annotated[
        bool, Parameter(name=["--all-namespaces", "-A"], negative=(), help="List servers in every namespace.")
    ] = False,
    cluster: Cluster = Cluster(),  # noqa: B008 - cyclopts flattens it into --kubeconfig, --context, -n, ...
) -> int:
    """Show an MCPServer's status (phase, replicas, endpoint, conditions, warnings), or a table of them.

    Parameters
    ----------
    name
        The MCPServer. Without it, a table of the servers in the namespace.
    """
    from dataclasses import asdict

    from mcpop.cli.status import status_command

    return status_command(name, output=output, watch=watch, all_namespaces=all_namespaces, **asdict(cluster))


#: the other commands, imported only when run (import string, name, help)
LAZY_COMMANDS = (
    ("mcpop.cli.operator:operator_app", "operator", "Run the mcpop operator (the MCPServer controller)."),
    (
        "mcpop.cli.registry:registry_app",
        "registry",
        "Browse MCP registry catalogues (list, search, inspect) and refresh MCPRegistries.",
    ),
    (
        "mcpop.cli.backup:backup_app",
        "backup",
        "Back up and restore MCP servers: run, now, list, verify, restore (MCPServerBackup).",
    ),
    ("mcpop.cli.deploy:deploy", "deploy", "Deploy an MCP server from the catalogue (or an image)."),
    ("mcpop.cli.apply:apply", "apply", "Server-side apply MCPServer, MCPRegistry and MCPServerBackup files."),
    ("mcpop.cli.apply:diff", "diff", "Diff the full rendered object set of files against the cluster."),
    ("mcpop.cli.logs:server_app", "server", "Work with the pods of an MCP server (logs)."),
    ("mcpop.cli.delete:delete", "delete", "Delete MCPServers, optionally waiting until all they owned is gone."),
    (
        "mcpop.cli.version:version",
        "version",
        "Print the client version, and the operator's and CRDs' when a cluster is reachable.",
    ),
    ("mcpop.cli.completion:completion", "completion", "Print the shell completion script."),
    ("mcpop.cli.completion:install_completion", "--install-completion", "Install shell completion."),
)
for _target, _name, _help in LAZY_COMMANDS:
    app.command(_target, name=_name, help=_help)
