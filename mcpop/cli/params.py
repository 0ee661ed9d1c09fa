"""The cluster options every cluster command shares, declared for cyclopts (flattened into `--kubeconfig`,
`--context`, `-n`, `--request-timeout`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cyclopts import Parameter

from mcpop.cli.options import Connection


@Parameter(name="*")
@dataclass
class Cluster(Connection):
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
