"""Helpers for the MCPRegistry cluster tests: quick retry flags for the operator, MCPRegistry helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client
from operator_harness import OperatorProcess, start_operator, stop_operator, wait

from mcpop.apply.mcpregistry.reconciler import REFRESH_ANNOTATION
from mcpop.apply.resources import REGISTRY_LABEL

GROUP, VERSION, PLURAL = "mcp.allbeone.io", "v1", "mcpregistries"
FAST_RETRIES = [
    "--github-max-retries", "1", "--github-initial-delay", "100ms", "--github-max-delay", "200ms",
    "--github-network-max-retries", "2", "--github-network-base-delay", "100ms", "--github-network-max-delay", "200ms",
    "--github-rate-limit-max-retries", "1", "--github-rate-limit-max-delay", "2s",
]  # fmt: skip


@contextmanager
def registry_operator_process(
    api: client.ApiClient, kubeconfig: str, namespace: str, tmp_path: Path, sync_period: str
) -> Iterator[OperatorProcess]:
    """The operator with quick registry retries; servers deleted and its log tail printed afterwards."""
    op = start_operator(kubeconfig, namespace, tmp_path, "--sync-period", sync_period, "--log-level", "debug",
                        *FAST_RETRIES)  # fmt: skip
    try:
        yield op
    finally:
        stop_operator(api, op, namespace, tail=4000)


class Registries:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.ns = namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def create(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "MCPRegistry", "metadata": {"name": name}, "spec": spec}
        return dict(self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, body))

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name))

    def refresh(self, name: str, stamp: str) -> None:
        patch = {"metadata": {"annotations": {REFRESH_ANNOTATION: stamp}}}
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name, patch)

    def conditions(self, name: str) -> dict[str, dict[str, Any]]:
        return {c["type"]: c for c in (self.get(name).get("status") or {}).get("conditions") or []}

    def stored(self, name: str) -> list[client.V1ConfigMap]:
        return list(self.core.list_namespaced_config_map(self.ns, label_selector=f"{REGISTRY_LABEL}={name}").items)

    def wait_synced(self, name: str, servers: int, timeout: float = 60) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            obj = self.get(name)
            st = obj.get("status") or {}
            ok = st.get("serversDiscovered") == servers and st.get("phase") == "Ready"
            return obj if ok and st.get("observedGeneration") == obj["metadata"]["generation"] else None

        return dict(wait(done, timeout=timeout, message=f"MCPRegistry {name} with {servers} servers"))
