"""The backup metrics (served on the operator's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter("mcpop_backup_runs_total", "Backup runs finished, by result", ["result"])
DURATION = Histogram(
    "mcpop_backup_duration_seconds", "Duration of backup runs",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)  # fmt: skip
BYTES = Counter("mcpop_backup_bytes_total", "Bytes backed up: uploaded, or already stored (deduplicated)", ["kind"])
LAST_SUCCESS = Gauge(
    "mcpop_backup_last_success_timestamp_seconds", "When the last successful backup finished",
    ["namespace", "name"],
)  # fmt: skip


def init() -> None:
    """Create the label sets, so the series show (as 0) before the first run."""
    for result in ("succeeded", "failed"):
        RUNS.labels(result)
    for kind in ("uploaded", "deduplicated"):
        BYTES.labels(kind)
