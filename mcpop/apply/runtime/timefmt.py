"""RFC 3339 timestamps as the Kubernetes API writes them (MicroTime) and reads them back."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable


def micro_now(clock: Callable[[], float] = time.time) -> str:
    """Now as RFC 3339 with microseconds, so two writes within one second still differ."""
    return dt.datetime.fromtimestamp(clock(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp, or None when absent or malformed."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
