"""The `mcp` command: a kubectl-style CLI. Heavy modules are imported inside commands, not here."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

# pydantic scans every installed distribution's entry points for plugins on first model build (~10-30 ms);
# the CLI has none to load. Set PYDANTIC_DISABLE_PLUGINS yourself to choose otherwise.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from cyclopts import App, Parameter

from mcpop import __version__

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
    from mcpop.cli.render import run_render

    return run_render(file, namespace, output, registry, image_config)


app.command(
    "mcpop.cli.operator:operator_app", name="operator", help="Run the mcpop operator (the MCPServer controller)."
)
app.command(
    "mcpop.cli.registry:registry_app",
    name="registry",
    help="Browse MCP registry catalogues (list, search, inspect) and refresh MCPRegistries.",
)

app.command(
    "mcpop.cli.backup:backup_app",
    name="backup",
    help="Back up and restore MCP servers: run, now, list, verify, restore (MCPServerBackup).",
)


app.command("mcpop.cli.deploy:deploy", name="deploy", help="Deploy an MCP server from the catalogue (or an image).")
app.command(
    "mcpop.cli.apply:apply", name="apply", help="Server-side apply MCPServer, MCPRegistry and MCPServerBackup files."
)
app.command("mcpop.cli.apply:diff", name="diff", help="Diff the full rendered object set of files against the cluster.")
app.command("mcpop.cli.status:status", name="status", help="Show an MCPServer's status, or a table of MCPServers.")
app.command("mcpop.cli.logs:server_app", name="server", help="Work with the pods of an MCP server (logs).")
app.command(
    "mcpop.cli.delete:delete", name="delete", help="Delete MCPServers, optionally waiting until all they owned is gone."
)
app.command(
    "mcpop.cli.version:version",
    name="version",
    help="Print the client version, and the operator's and CRDs' when a cluster is reachable.",
)
app.command("mcpop.cli.completion:completion", name="completion", help="Print the shell completion script.")
app.command("mcpop.cli.completion:install_completion", name="--install-completion", help="Install shell completion.")


def _argv(args: list[str]) -> list[str]:
    """kubectl spells a bare `--dry-run` as `--dry-run=client`: accept it (cyclopts options take a value)."""
    out = list(args)
    for i, a in enumerate(out):
        if a == "--":
            break
        if a == "--dry-run" and (i + 1 == len(out) or out[i + 1] not in ("client", "server", "none")):
            out[i] = "--dry-run=client"
    return out


def run() -> None:
    """Console entry point: bad usage exits 2, as for bad input."""
    try:
        result = app(_argv(sys.argv[1:]), exit_on_error=False, print_error=True)
    except Exception as exc:  # cyclopts parse errors, already printed
        from cyclopts import CycloptsError

        if isinstance(exc, CycloptsError):
            sys.exit(2)
        raise
    sys.exit(result if isinstance(result, int) else 0)
