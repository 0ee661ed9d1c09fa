"""Errors the renderer reports: always with the field they are about."""

from __future__ import annotations

from mcpop.errors import McpopError


class RenderError(McpopError, ValueError):
    """A spec the renderer cannot turn into objects; `field` is a dotted path such as `spec.registry`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ImageConfigNeeded(RenderError):
    """The image's own config (its entrypoint) is needed to render, and was not given.

    The operator resolves `image` from its registry and renders again; `mcp render` says which
    `--image-config` flag is missing.
    """

    def __init__(self, field: str, image: str, message: str) -> None:
        super().__init__(field, message)
        self.image = image
