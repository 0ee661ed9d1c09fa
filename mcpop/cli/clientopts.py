"""What `mcp registry` and `mcp backup` share: they talk to the cluster through the operator's client
(mcpop.apply.runtime.client), with the same `--kubeconfig`, `--context` and `-n` flags, and take the
namespace as kubectl does. The client itself is imported only when a command connects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

if TYPE_CHECKING:
    from mcpop.apply.runtime.client import Kube

Kubeconfig = Annotated[str | None, Parameter(name=["--kubeconfig"], help="Path to the kubeconfig file.")]
Context = Annotated[str | None, Parameter(name=["--context"], help="The kubeconfig context to use.")]
Namespace = Annotated[
    str | None, Parameter(name=["--namespace", "-n"], help="Namespace (default: the context's, else `default`).")
]


def connect(kubeconfig: str | None, context: str | None, timeout: float, retries: int | None = None) -> Kube:
    """The operator's client for the kubeconfig and context (`retries=0`: fail fast, no urllib3 retries)."""
    from mcpop.apply.runtime.client import Kube, load_api_client

    api = load_api_client(kubeconfig, context, pool_size=4)
    if retries is not None:
        api.configuration.retries = retries
    return Kube(api, request_timeout=timeout)


def namespace_of(kubeconfig: str | None, context: str | None, namespace: str | None) -> str:
    """`-n`, else the kubeconfig context's namespace, else `default` (as kubectl)."""
    if namespace:
        return namespace
    from kubernetes import config

    try:
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except Exception:  # no or unreadable kubeconfig: the command reports that when it connects
        return "default"
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else active
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")
