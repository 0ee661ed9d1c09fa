"""Helpers for tests that run against a real Kubernetes control plane.

The control plane comes from ``tools/testenv`` (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok fake nodes on loopback), or
from an existing cluster:

* ``MCPOP_TEST_KUBECONFIG=/path``                 use that kubeconfig;
* ``MCPOP_USE_KUBECONFIG=1`` with ``KUBECONFIG``  use $KUBECONFIG;
* otherwise ``tools/testenv up --state-dir <cache>/testenv/pytest-<id>`` is run
  and ``tools/testenv down --purge`` at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTENV = REPO_ROOT / "tools" / "testenv"
FIELD_MANAGER = "mcpop"

RESTRICTED_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


@dataclass
class KubeCluster:
    kubeconfig: str
    api_client: client.ApiClient
    state_dir: str | None = None  # set when tools/testenv started it
    owned: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)


def cache_dir() -> Path:
    return Path(os.environ.get("MCPOP_CACHE_DIR") or Path.home() / ".cache" / "mcpop")


def existing_kubeconfig() -> str | None:
    """The kubeconfig of a cluster the user asked to test against, if any."""
    explicit = os.environ.get("MCPOP_TEST_KUBECONFIG")
    if explicit:
        return explicit
    if os.environ.get("MCPOP_USE_KUBECONFIG") == "1" and os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"].split(os.pathsep)[0]
    return None


def api_client_for(kubeconfig: str) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    return client.ApiClient(configuration=cfg)


def testenv(*args: str, timeout: float = 3600) -> str:
    """Run tools/testenv; its stderr passes through (progress, errors).
    Returns stdout. Raises RuntimeError with the output on failure."""
    proc = subprocess.run(
        [sys.executable, str(TESTENV), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"tools/testenv {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


def reap_stale_state_dirs() -> None:
    """Stop control planes left behind by killed test sessions: state dirs
    named pytest-<pid>-... whose pytest process is gone."""
    for d in (cache_dir() / "testenv").glob("pytest-*"):
        try:
            pid = int(d.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if Path(f"/proc/{pid}").exists():
            continue
        with suppress(RuntimeError, subprocess.TimeoutExpired):
            testenv("down", "--state-dir", str(d), "--purge", timeout=120)


@contextmanager
def kube_cluster_context(session_id: str | None = None, real_node: bool = False) -> Iterator[KubeCluster]:
    """A cluster for a test session; with ``real_node``, always an own control plane from
    ``tools/testenv up --real-node`` (one real kubelet node beside the kwok nodes)."""
    kubeconfig = None if real_node else existing_kubeconfig()
    if kubeconfig:
        api = api_client_for(kubeconfig)
        try:
            yield KubeCluster(kubeconfig=kubeconfig, api_client=api)
        finally:
            api.close()
        return

    reap_stale_state_dirs()
    sid = session_id or f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    state_dir = cache_dir() / "testenv" / f"pytest-{sid}"
    try:
        out = testenv("up", "--state-dir", str(state_dir), *(["--real-node"] if real_node else []))
        kubeconfig = out.strip().splitlines()[-1]
        api = api_client_for(kubeconfig)
        info = json.loads((state_dir / "state.json").read_text())
        try:
            yield KubeCluster(kubeconfig=kubeconfig, api_client=api, state_dir=str(state_dir), owned=True, extra=info)
        finally:
            api.close()
    finally:
        if os.environ.get("MCPOP_TESTENV_KEEP") == "1":
            print(f"\nkeeping test control plane: tools/testenv down --state-dir {state_dir}", file=sys.stderr)
        else:
            testenv("down", "--state-dir", str(state_dir), "--purge", timeout=120)


# ---------------------------------------------------------------------------- waiting


#: MCPOP_TEST_TRACE_WAITS=1 prints how long each wait_until took (with `pytest -s`): where a slow test waits
TRACE_WAITS = os.environ.get("MCPOP_TEST_TRACE_WAITS") == "1"


def wait_until(predicate, timeout: float = 60, interval: float = 0.25, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value, which is returned."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    start, polls = time.monotonic(), 0
    while True:
        try:
            polls += 1
            value = predicate()
            if value:
                if TRACE_WAITS:
                    print(f"[wait] {time.monotonic() - start:6.1f}s, {polls} polls: {message}", file=sys.stderr)
                return value
        except client.ApiException as e:
            last_exc = e
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {message}" + (f" (last error: {last_exc})" if last_exc else "")
            )
        time.sleep(interval)


# ---------------------------------------------------------------------------- namespaces


def create_namespace(api_client: client.ApiClient, prefix: str = "t", labels: dict[str, str] | None = None) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"[:63].lower()
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={**RESTRICTED_LABELS, **(labels or {})}))
    client.CoreV1Api(api_client).create_namespace(body)
    # Pods need the namespace's default ServiceAccount (made by the controller-manager).
    core = client.CoreV1Api(api_client)
    wait_until(
        lambda: core.read_namespaced_service_account("default", name),
        timeout=60,
        message=f"ServiceAccount default in {name}",
    )
    return name


def delete_namespace(api_client: client.ApiClient, name: str, wait: bool = False, timeout: float = 60) -> None:
    core = client.CoreV1Api(api_client)
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except client.ApiException as e:
        if e.status != 404:
            raise
        return
    if wait:

        def gone() -> bool:
            try:
                core.read_namespace(name)
            except client.ApiException as e:
                if e.status == 404:
                    return True
                raise
            return False

        wait_until(gone, timeout=timeout, message=f"namespace {name} to be deleted")


# ---------------------------------------------------------------------------- CRDs


def _load_crds(paths: Iterable[str | os.PathLike]) -> list[dict]:
    docs: list[dict] = []
    for p in paths:
        with open(p) as f:
            for doc in yaml.safe_load_all(f):
                if not doc:
                    continue
                if doc.get("kind") == "List":
                    docs.extend(i for i in doc.get("items", []) if i)
                else:
                    docs.append(doc)
    crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    return crds


def apply_object(api_client: client.ApiClient, obj: dict, field_manager: str = FIELD_MANAGER) -> Any:
    """Server-side apply one object (force=true) with the given field manager."""
    dyn = DynamicClient(api_client)
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    return dyn.server_side_apply(resource, body=obj, field_manager=field_manager, force_conflicts=True)


def install_crds(api_client: client.ApiClient, paths: Iterable[str | os.PathLike], timeout: float = 60) -> list[str]:
    """Create or update (server-side apply, field manager ``mcpop``) the
    CustomResourceDefinitions in the given YAML files, then wait until each
    has condition Established=True. Returns the CRD names."""
    crds = _load_crds(paths)
    names = []
    for crd in crds:
        name = crd["metadata"]["name"]
        crd = {**crd, "apiVersion": crd.get("apiVersion", "apiextensions.k8s.io/v1")}
        apply_object(api_client, crd)
        names.append(name)

    ext = client.ApiextensionsV1Api(api_client)

    def established(name: str) -> bool:
        obj = ext.read_custom_resource_definition(name)
        return any(c.type == "Established" and c.status == "True" for c in (obj.status.conditions or []))

    for name in names:
        wait_until(lambda n=name: established(n), timeout=timeout, message=f"CRD {name} Established")
    return names


def delete_crds(api_client: client.ApiClient, names: Iterable[str]) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    for name in names:
        try:
            ext.delete_custom_resource_definition(name)
        except client.ApiException as e:
            if e.status != 404:
                raise


# ---------------------------------------------------------------------------- pods


def restricted_container(name: str = "app", image: str = "registry.invalid/mcpop/test:1") -> dict:
    """A container spec that satisfies the `restricted` Pod Security Standard."""
    return {
        "name": name,
        "image": image,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def restricted_pod_spec(**extra: Any) -> dict:
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [restricted_container()],
        **extra,
    }


def pod_ready(pod: client.V1Pod) -> bool:
    if not pod.status or pod.status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
