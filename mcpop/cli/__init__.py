"""The `mcp` command line."""
