"""The `mcp` entry point: the cyclopts App (mcpop.cli.app) parses every command line."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading
from typing import NoReturn

from cyclopts import CycloptsError

from mcpop.cli.app import app

__all__ = ["app", "long_running", "run"]

# pydantic scans every installed distribution's entry points for plugins on first model build (~10-30 ms);
# the CLI has none to load. Set PYDANTIC_DISABLE_PLUGINS yourself to choose otherwise.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

#: the collector's thresholds as the interpreter set them
_GC_THRESHOLDS = gc.get_threshold()
#: a command's first generation holds this many objects before a collection (see run)
_COMMAND_GC_THRESHOLD = 100_000


def _argv(args: list[str]) -> list[str]:
    """kubectl spells a bare `--dry-run` as `--dry-run=client`: accept it (cyclopts options take a value)."""
    out = list(args)
    for i, a in enumerate(out):
        if a == "--":
            break
        if a == "--dry-run" and (i + 1 == len(out) or out[i + 1] not in ("client", "server", "none")):
            out[i] = "--dry-run=client"
    return out


def long_running() -> None:
    """A command that runs until stopped (the operator) collects garbage as the interpreter's defaults say."""
    gc.set_threshold(*_GC_THRESHOLDS)


def run() -> None:
    """Console entry point: bad usage exits 2, as for bad input."""
    # A cold command creates ~150,000 objects while it imports and keeps nearly all of them: at the default
    # threshold (700) the collector ran ~50 times in a cold `mcp status`, 6 % of its time, and freed nothing. A
    # command still collects, every _COMMAND_GC_THRESHOLD new objects; the operator restores the default.
    gc.set_threshold(_COMMAND_GC_THRESHOLD, *_GC_THRESHOLDS[1:])
    try:
        # every command returns its exit status; --help and --version return None
        result = app(_argv(sys.argv[1:]), exit_on_error=False, print_error=True, result_action="return_value")
    except CycloptsError:  # already printed
        _exit(2)
    except BrokenPipeError:  # the reader stopped early (`mcp render ... | head`): nothing more to write
        _exit(0)
    _exit(result if isinstance(result, int) else 0)


def _exit(code: int) -> NoReturn:
    """Exit with `code` once the atexit handlers have run and the output is flushed, skipping the interpreter's
    teardown (freeing every module and object: ~7 % of a cold `mcp status`), which a process about to end does
    not need. With other threads still running, the interpreter's own exit waits for them as usual."""
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (`mcp status | head`) or stream: nothing more to write
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
