"""Fixtures shared by the unit tests that run mcpop-bridge (tests/unit/test_bridge*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bridge_process import tool


@pytest.fixture(scope="module")
def bridge_bin() -> Path:
    """The mcpop-bridge binary (tools/bridge path: built from tools/bridge-src, cached by content)."""
    return Path(tool("bridge", "path"))


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    """The official SDK's python (tools/mcp-sdk python: the one install, outside this environment)."""
    return Path(tool("mcp-sdk", "python"))
