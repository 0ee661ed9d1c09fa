"""The `mcp` entry point. `mcp render` and `mcp status`, the commands people run many times an hour, take a
fast path that skips cyclopts (mcpop.cli.fast, tables generated from the App); everything else, and anything
the fast path is unsure of, goes through the cyclopts App (mcpop.cli.app)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

# pydantic scans every installed distribution's entry points for plugins on first model build (~10-30 ms);
# the CLI has none to load. Set PYDANTIC_DISABLE_PLUGINS yourself to choose otherwise.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

if TYPE_CHECKING:
    from cyclopts import App


def __getattr__(name: str) -> Any:
    if name == "app":  # `from mcpop.cli.main import app` keeps working, importing cyclopts only then
        from mcpop.cli.app import app

        return app
    raise AttributeError(name)


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
    args = _argv(sys.argv[1:])
    from mcpop.cli.fast import dispatch

    fast = dispatch(args)
    if fast is not None:
        sys.exit(fast)
    app: App = __getattr__("app")
    try:
        result = app(args, exit_on_error=False, print_error=True)
    except Exception as exc:  # cyclopts parse errors, already printed
        from cyclopts import CycloptsError

        if isinstance(exc, CycloptsError):
            sys.exit(2)
        raise
    sys.exit(result if isinstance(result, int) else 0)
