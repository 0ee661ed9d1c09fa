"""The options commands share, each defined once: the cluster options (`Cluster`, flattened by cyclopts into
`--kubeconfig`, `--context`, `-n`, `--request-timeout`), `-o/--output` (`Output`), `-A/--all-namespaces`
(`AllNamespaces`) and `--timeout` (`Timeout`, a duration); durations, and the one place cluster errors become one
line on stderr and exit status 1. Imports nothing heavy."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from cyclopts import Parameter

from mcpop.api.duration import non_negative

if TYPE_CHECKING:
    from mcpop.cli.kube import Client

#: every printing command's formats: `table` (what a person reads: a table, or the command's lines), `json`
#: and `yaml` (the objects, through the one emitter, mcpop.codec)
Format = Literal["table", "json", "yaml"]
#: `-o/--output`, the one definition every printing command uses (with its own default)
OUTPUT = Parameter(name=["--output", "-o"], help="Output format: table, json or yaml.")
Output = Annotated[Format, OUTPUT]
#: `-A/--all-namespaces` of every listing command
AllNamespaces = Annotated[
    bool, Parameter(name=["--all-namespaces", "-A"], negative=(), help="List across every namespace (not -n).")
]
#: `--timeout` (also spelt `--wait-timeout`, the original README's) of every command that waits: a duration
Timeout = Annotated[
    str,
    Parameter(name=["--timeout", "--wait-timeout"], help="How long --wait waits: a duration (30s, 5m, 1h30m)."),
]


class UsageError(Exception):
    """A bad flag value or combination: one line, exit status 2."""


def timeout_seconds(text: str, flag: str = "--timeout") -> float:
    """Seconds of a `--timeout` value: a duration greater than 0 (UsageError naming the flag otherwise)."""
    value = parse_duration(text, flag)
    if value <= 0:
        raise UsageError(f"{flag}: must be greater than 0 (a duration such as 30s, 5m, 1h)")
    return value


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
