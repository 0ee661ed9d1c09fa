"""Errors the renderer reports: always with the field they are about."""

from __future__ import annotations

from mcpop.errors import McpopError


class RenderError(McpopError, ValueError):
    """A spec the renderer cannot turn into objects; `field` is a dotted path such as `spec.registry`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
