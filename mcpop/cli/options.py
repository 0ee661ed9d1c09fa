"""The cluster options every cluster command shares (`Cluster`, flattened by cyclopts into `--kubeconfig`,
`--context`, `-n`, `--request-timeout`), durations, and the one place cluster errors become one line on stderr
and exit status 1. Imports nothing heavy."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from cyclopts import Parameter

from mcpop.api.duration import non_negative

if TYPE_CHECKING:
    from mcpop.cli.kube import Client

Output = Literal["table", "json", "yaml"]


class UsageError(Exception):
    """A bad flag value or combination: one line, exit status 2."""


def parse_duration(text: str, flag: str) -> float:
    """Seconds in `text`, a Go duration (`30s`, `5m`, `1h30m`, `500ms`, as kubectl's flags take) of 0 or more."""
    try:
        return non_negative(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: invalid duration: {exc}") from None


@Parameter(name="*")
@dataclass
class Cluster:
    """Where the cluster is and how to talk to it."""

    kubeconfig: Annotated[str | None, Parameter(name="--kubeconfig", help="Path to the kubeconfig file.")] = None
    context: Annotated[str | None, Parameter(name="--context", help="The kubeconfig context to use.")] = None
    namespace: Annotated[
        str | None, Parameter(name=["--namespace", "-n"], help="Namespace (default: the context's, else `default`).")
    ] = None
    request_timeout: Annotated[
        str,
        Parameter(name="--request-timeout", help="How long to wait for the API server to answer a request."),
    ] = "10s"

    def client(self) -> Client:
        """A client for the cluster (nothing is sent yet; ClusterError when the kubeconfig is unusable)."""
        from mcpop.cli.kube import connect

        timeout = parse_duration(self.request_timeout, "--request-timeout")
        if timeout <= 0:
            raise UsageError("--request-timeout: must be greater than 0")
        return connect(self.kubeconfig, self.context, timeout)

    def ns(self, client: Client) -> str:
        return self.namespace or client.namespace


def guarded(fn: Callable[[], int]) -> int:
    """Run a command body: a ClusterError prints one line and exits 1, a UsageError exits 2, ^C exits 130."""
    from mcpop.cli.kube import ClusterError

    try:
        return fn()
    except ClusterError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
