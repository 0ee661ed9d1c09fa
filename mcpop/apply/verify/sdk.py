"""Where the official MCP Python SDK (PyPI `mcp`) is found.

It is installed with `pip install --target DIR` (its console script `mcp` would clobber ours), and DIR is
appended to the END of `sys.path` on first use, so the operator's own packages (pydantic, ...) win.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

#: the SDK release the operator is tested with (tools/mcp-sdk installs it; the image carries it)
MCP_SDK_VERSION = "2.3.0"
#: where the operator image installs it (tools/image/Containerfile)
IMAGE_PATH = "/opt/mcpop/mcp-sdk"
ENV_VAR = "MCPOP_MCP_SDK_PATH"

_lock = threading.Lock()
_result: str | None = None  # None: not tried yet; "": loaded; else why not
_tried = False


def candidate_paths(env: dict[str, str] | None = None) -> list[str]:
    """The directories searched, in order: `$MCPOP_MCP_SDK_PATH` (os.pathsep-separated), the image path,
    then `${MCPOP_CACHE_DIR:-~/.cache/mcpop}/mcp-sdk/<version>` (dev and CI)."""
    env = dict(os.environ) if env is None else env
    out = [p for p in (env.get(ENV_VAR) or "").split(os.pathsep) if p]
    cache = env.get("MCPOP_CACHE_DIR") or str(Path.home() / ".cache" / "mcpop")
    out += [IMAGE_PATH, str(Path(cache) / "mcp-sdk" / MCP_SDK_VERSION)]
    return out


def ensure_sdk() -> str | None:
    """Make `import mcp` the SDK; None when it loads, else why it does not (for the condition message)."""
    global _result, _tried
    with _lock:
        if _tried:
            return _result or None
        _tried = True
        for path in candidate_paths():
            if Path(path, "mcp", "__init__.py").is_file() and path not in sys.path:
                sys.path.append(path)
        try:
            import mcp.client.client  # noqa: F401
        except Exception as exc:  # an absent or broken SDK must never crash the operator
            searched = ", ".join(candidate_paths())
            _result = f"the MCP Python SDK (mcp=={MCP_SDK_VERSION}) cannot be imported ({exc}); searched {searched}"
        else:
            _result = ""
            # the SDK logs each transport failure with a traceback; the Verified condition already says it
            for name in ("mcp", "httpx2", "httpcore2"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        return _result or None


def reset() -> None:
    """Forget the last attempt (tests)."""
    global _result, _tried
    with _lock:
        _result, _tried = None, False
