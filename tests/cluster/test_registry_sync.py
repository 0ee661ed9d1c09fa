"""The MCPRegistry controller against a real control plane, with the operator as a subprocess (its
least-privilege ServiceAccount) and the local registry HTTP server on 127.0.0.1.

Covers: the official-seed sync (4 valid entries stored as ConfigMaps with versionPolicy all, 1 invalid
reported in status and as an Event); an incremental sync on `mcp registry refresh --wait`; an outage keeps
the last catalogue (Reachable=False, Ready stays True); the retry metrics on /metrics; `mcp registry list`
reading the stored catalogue from the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kubeenv
import pytest
from cli_process import MCP
from operator_harness import *  # noqa: F403
from operator_harness import OperatorProcess, wait
from registry_harness import Registries, registry_operator_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from registry_server import Fault, RegistryServer, registry_item

from mcpop.apply.catalog_store import DATA_KEY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry_operator(
    kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    with registry_operator_process(kube_cluster.api_client, operator_kubeconfig, namespace, tmp_path, "5s") as op:
        yield op


@pytest.fixture
def registry_srv() -> Iterator[RegistryServer]:
    with RegistryServer() as srv:
        yield srv


@pytest.fixture
def registries(kube_cluster: kubeenv.KubeCluster, namespace: str) -> Registries:
    return Registries(kube_cluster.api_client, namespace)


def mcp(kubeconfig: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MCP, *args, "--kubeconfig", kubeconfig],
        capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=dict(os.environ),
    )  # fmt: skip


def test_official_seed_sync_incremental_outage_and_metrics(
    kube_cluster: kubeenv.KubeCluster,
    registry_operator: OperatorProcess,
    registry_srv: RegistryServer,
    registries: Registries,
    namespace: str,
) -> None:
    srv = registry_srv
    registries.create("seed", {"source": {"mcpRegistry": {"url": srv.url, "versionPolicy": "all"}},
                               "refreshInterval": "1h"})  # fmt: skip
    obj = registries.wait_synced("seed", 4)
    st = obj["status"]
    conds = registries.conditions("seed")
    want = {"Ready": "True", "Synced": "True", "Reachable": "True", "RateLimited": "False", "AuthFailed": "False"}
    assert {t: conds[t]["status"] for t in want} == want
    assert "kbag" in conds["Synced"]["message"] and "invalid" in conds["Synced"]["message"]
    assert len(st["servers"]) == 4 and st["lastSyncTime"]
    # one ConfigMap per entry, owned by the registry, holding the server.json
    cms = registries.stored("seed")
    assert len(cms) == 4
    uid = obj["metadata"]["uid"]
    stored = sorted((json.loads(cm.data[DATA_KEY])["name"], json.loads(cm.data[DATA_KEY])["version"]) for cm in cms)
    assert stored == [
        ("io.github.domdomegg/airtable-mcp-server", "1.7.2"), ("io.github.domdomegg/airtable-mcp-server", "1.7.3"),
        ("io.github.domdomegg/time-mcp-nuget", "1.0.8"), ("io.github.domdomegg/time-mcp-pypi", "1.0.6"),
    ]  # fmt: skip
    assert all(cm.metadata.owner_references[0].uid == uid for cm in cms)

    # the invalid entry is reported as an Event
    def invalid_event() -> bool:
        evs = registries.core.list_namespaced_event(namespace, field_selector="involvedObject.name=seed").items
        return any(e.reason == "InvalidEntries" and "kbag" in (e.message or "") for e in evs)

    wait(invalid_event, timeout=20, message="InvalidEntries event")

    # incremental: a new version appears; `mcp registry refresh --wait` syncs with updated_since
    new = json.loads(json.dumps(srv.state.items[1]["server"]))
    new["version"] = "1.7.4"
    srv.state.items.append(registry_item(new, updated_at="2099-01-01T00:00:00Z"))
    srv.state.requests.clear()
    r = mcp(kube_cluster.kubeconfig, "registry", "refresh", "--name", "seed", "-n", namespace, "--wait",
            "--timeout", "60s")  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    assert "synced" in r.stdout
    registries.wait_synced("seed", 5)
    assert any("updated_since" in q.query for q in srv.state.requests if q.path == "/v0.1/servers")
    assert "(incremental)" in registries.conditions("seed")["Synced"]["message"]
    cms_before = {cm.metadata.name: cm.metadata.resource_version for cm in registries.stored("seed")}
    assert len(cms_before) == 5

    # `mcp registry list` reads the stored catalogue from the cluster
    r = mcp(kube_cluster.kubeconfig, "registry", "list", "-n", namespace, "--registry", "seed", "-o", "json")
    assert r.returncode == 0 and "embedded" not in r.stderr, r.stderr
    assert len(json.loads(r.stdout)) == 5

    # outage: every request dropped; the last catalogue stays, Reachable=False, Ready stays True
    srv.state.faults.append(Fault("drop", times=-1))
    registries.refresh("seed", "outage")

    def unreachable() -> bool:
        c = registries.conditions("seed")
        return c["Reachable"]["status"] == "False"

    wait(unreachable, timeout=60, message="Reachable=False")
    conds = registries.conditions("seed")
    assert conds["Ready"]["status"] == "True" and conds["Ready"]["reason"] == "StaleCatalogue"
    assert conds["Synced"]["status"] == "False" and conds["Synced"]["reason"] == "Unreachable"
    st = registries.get("seed")["status"]
    assert st["serversDiscovered"] == 5 and st["phase"] == "Ready"
    assert {cm.metadata.name: cm.metadata.resource_version for cm in registries.stored("seed")} == cms_before

    # retry metrics on the operator's /metrics
    text = registry_operator.metrics()
    assert "mcpop_registry_retries_total" in text
    assert registry_operator.metric("mcpop_registry_retries_total", result="retry") >= 1
    assert registry_operator.metric("mcpop_registry_retries_total", result="exhausted") >= 1

    # the source is back: the next refresh recovers
    srv.state.faults.clear()
    registries.refresh("seed", "back")
    wait(lambda: registries.conditions("seed")["Reachable"]["status"] == "True", timeout=60, message="Reachable")
    assert registries.conditions("seed")["Ready"]["reason"] == "Ready"


def test_registry_list_forbidden_by_rbac_is_an_error_not_the_embedded_catalogue(
    kube_cluster: kubeenv.KubeCluster, namespace: str, tmp_path: Path
) -> None:
    """A 403 means the cluster is there and said no: it is reported, never silently replaced by the
    embedded catalogue (which is for "no cluster" only)."""
    import yaml
    from kubernetes import client

    core = client.CoreV1Api(kube_cluster.api_client)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody"))
    )
    token = core.create_namespaced_service_account_token(
        "nobody", namespace, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    ).status.token
    admin = yaml.safe_load(Path(kube_cluster.kubeconfig).read_text())
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "t", "cluster": admin["clusters"][0]["cluster"]}],
           "users": [{"name": "nobody", "user": {"token": token}}],
           "contexts": [{"name": "c", "context": {"cluster": "t", "user": "nobody"}}]}  # fmt: skip
    path = tmp_path / "nobody.kubeconfig"
    path.write_text(json.dumps(cfg))
    r = mcp(str(path), "registry", "list", "-n", namespace)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == "" and "forbidden" in r.stderr and "embedded" not in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
