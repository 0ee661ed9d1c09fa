"""The project's root exception. Every error mcpop raises on purpose is an `McpopError` subclass, so callers
catch exactly what they mean (a bad spec, an unreachable source, a cluster error) and let bugs surface."""

from __future__ import annotations


class McpopError(Exception):
    """The root of every exception mcpop raises deliberately."""
