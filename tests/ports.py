"""A free TCP port on loopback, for the servers the tests and benchmarks start (one definition for all)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on at the moment of asking (the kernel picks it; a server binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
