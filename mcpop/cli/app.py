"""The `mcp` command line as a cyclopts App. Every command is registered by import string, so the App imports
no command module until that command runs (`mcp --help` loads none of them)."""

from __future__ import annotations

from cyclopts import App

from mcpop import __version__

app = App(
    name="mcp",
    help="Run MCP (Model Context Protocol) servers on Kubernetes.",
    version=__version__,
    version_flags=[],
    # help text as written: the markdown renderer loads markdown-it and pygments (~40 % of `mcp --help`)
    help_format="plaintext",
)

#: every command: import string, name, help (what `mcp --help` lists and `mcp CMD --help` heads with; the
#: command's docstring gives its parameters' help when it runs)
COMMANDS = (
    (
        "mcpop.cli.render:render",
        "render",
        "Render MCPServer files to the objects the operator applies, offline.\n\n"
        "No cluster and no network are used: the output is for CI and GitOps diffing.\n"
        "Exits 2 on bad input, printing every problem with its file, document and field.",
    ),
    (
        "mcpop.cli.status:status",
        "status",
        "Show an MCPServer's status (phase, replicas, endpoint, conditions, warnings), or a table of them.",
    ),
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
    (
        "mcpop.cli.tools:tools_app",
        "tools",
        "Review and approve the tools an MCP server exposes: diff, approve (spec.tools.approved).",
    ),
    ("mcpop.cli.delete:delete", "delete", "Delete MCPServers, optionally waiting until all they owned is gone."),
    (
        "mcpop.cli.version:version",
        "version",
        "Print the client version, and the operator's and CRDs' when a cluster is reachable.",
    ),
    ("mcpop.cli.completion:completion", "completion", "Print the shell completion script."),
    ("mcpop.cli.completion:install_completion", "--install-completion", "Install shell completion."),
)
for _target, _name, _help in COMMANDS:
    app.command(_target, name=_name, help=_help)
