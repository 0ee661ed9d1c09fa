"""mcpop: run MCP servers on Kubernetes."""

__version__ = "0.1.0"

GROUP = "mcp.allbeone.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
