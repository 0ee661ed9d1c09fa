"""The `mcp` entry point: the cyclopts App (mcpop.cli.app) parses every command line."""

from __future__ import annotations

import os
import sys

from cyclopts import CycloptsError

from mcpop.cli.app import app

__all__ = ["app", "run"]

# pydantic scans every installed distribution's entry points for plugins on first model build (~10-30 ms);
# the CLI has none to load. Set PYDANTIC_DISABLE_PLUGINS yourself to choose otherwise.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


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
    except CycloptsError:  # already printed
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)
