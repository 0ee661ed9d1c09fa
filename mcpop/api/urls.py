"""URLs as mcpop shows them: never with their credentials. Pure and light (no pydantic), so the CLI's fast
paths (`mcp status`) use it too; `mcpop.api.validation` re-exports it."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def strip_userinfo(value: str) -> str:
    """`value` without any `user:password@` (the whole userinfo dropped): what a log line, an event, a status
    or the CLI's output may show of a URL."""
    return _USERINFO.sub(r"\1", value)


__all__ = ["strip_userinfo"]
