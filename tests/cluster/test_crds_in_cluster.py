"""The generated CRDs in a real apiserver: established, seed examples accepted and defaulted as the contract
says, and every cross-field rule enforced by the schema or CEL with the field path in the error."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubeenv import install_crds
from kubernetes import client
from kubernetes.client.rest import ApiException
from schedules import INVALID, VALID

from mcpop.api.cron import MAX_LENGTH

ROOT = Path(__file__).resolve().parents[2]
GROUP, VERSION = "mcp.allbeone.io", "v1"
PLURALS = {"MCPServer": "mcpservers", "MCPRegistry": "mcpregistries", "MCPServerBackup": "mcpserverbackups"}
SEEDS = sorted((ROOT / "examples").glob("0*.yaml"))


@pytest.fixture(scope="module")
def crds(kube_cluster: Any) -> list[str]:
    return install_crds(kube_cluster.api_client, sorted((ROOT / "schemas").glob("*.yaml")))


def _create(kube_cluster: Any, namespace: str, doc: dict[str, Any]) -> dict[str, Any]:
    api = client.CustomObjectsApi(kube_cluster.api_client)
    plural = PLURALS[doc["kind"]]
    return api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, doc)  # type: ignore[no-any-return]


def test_the_three_crds_become_established(crds: list[str]) -> None:
    assert sorted(crds) == [f"{p}.{GROUP}" for p in sorted(PLURALS.values())]


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.stem)
def test_seed_example_is_accepted_as_written_and_defaulted(
    kube_cluster: Any, namespace: str, crds: list[str], seed: Path
) -> None:
    doc = yaml.safe_load(seed.read_text())
    created = _create(kube_cluster, namespace, doc)
    for key, value in doc["spec"].items():
        assert created["spec"][key] == value, key
    if doc["kind"] == "MCPServer":
        spec = created["spec"]
        assert spec["replicas"] == doc["spec"].get("replicas", 1)
        assert spec["serviceType"] == "ClusterIP"
        assert spec["tag"] == doc["spec"].get("tag", "latest")
        assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000}
        expected = doc["spec"].get(
            "resources", {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
        )
        assert spec["resources"] == expected
    if doc["kind"] == "MCPServerBackup":
        assert created["spec"]["compression"] == "gzip"


def test_printer_columns_are_served(kube_cluster: Any, namespace: str, crds: list[str]) -> None:
    _create(kube_cluster, namespace, yaml.safe_load((ROOT / "examples/02-mcpserver-basic.yaml").read_text()))
    api = kube_cluster.api_client
    # IMAGE and TAG read the image the operator resolved into the status
    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "mcpservers", "filesystem-server",
        {"status": {"image": "mcp-server-filesystem", "tag": "latest"}},
    )  # fmt: skip
    request = api.param_serialize(
        method="GET",
        resource_path=f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/mcpservers",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    response.read()
    table = json.loads(response.data)
    assert [c["name"] for c in table["columnDefinitions"]][:7] == [
        "Name", "Image", "Tag", "Replicas", "Ready", "Phase", "Age"
    ]  # fmt: skip
    assert table["rows"][0]["cells"][:4] == ["filesystem-server", "mcp-server-filesystem", "latest", 1]


BASE = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "MCPServer", "metadata": {"name": "bad"},
        "spec": {"image": "ghcr.io/example/a", "tag": "1"}}  # fmt: skip

# (id, spec patch, field path the apiserver names, message fragment)
REJECTED = [
    ("no-image-or-registry", {"image": None}, "spec", "one of image, runtime.image or registry.name is required"),
    ("image-conflict", {"runtime": {"image": "other"}}, "spec.runtime.image", "image and runtime.image"),
    ("port-conflict", {"port": 1, "runtime": {"port": 2}}, "spec.runtime.port", "port and runtime.port"),
    ("command-conflict", {"command": ["a"], "runtime": {"command": ["b"]}}, "spec.runtime.command", "command and"),
    ("args-conflict", {"args": ["a"], "runtime": {"args": ["b"]}}, "spec.runtime.args", "args and runtime.args"),
    ("hpa-min-over-max", {"autoscaling": {"hpa": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
     "spec.autoscaling.hpa.minReplicas", "minReplicas must not exceed maxReplicas"),
    ("replicas-negative", {"replicas": -1}, "spec.replicas", "should be greater than or equal to 0"),
    ("service-type", {"serviceType": "Ingress"}, "spec.serviceType", "Unsupported value"),
    ("port-range", {"port": 70000}, "spec.port", "should be less than or equal to 65535"),
    ("quantity", {"resources": {"limits": {"cpu": "lots"}}}, "spec.resources.limits.cpu", "should match"),
    ("env-name", {"env": [{"name": "1X", "value": "a"}]}, "spec.env[0].name", "should match"),
    ("transport-type", {"transport": {"type": "websocket"}}, "spec.transport.type", "Unsupported value"),
    ("volume-name", {"volumes": [{"name": "Bad_Name", "emptyDir": {}}]}, "spec.volumes[0].name", "should match"),
    ("duplicate-env", {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}, "spec.env[1]",
     "Duplicate value"),
    # the constraints the models gained that the schema can express, so the cluster refuses them too
    ("replicas-string", {"replicas": "3"}, "spec.replicas", "must be of type integer"),
    ("privileged-string", {"securityContext": {"privileged": "yes"}}, "spec.securityContext.privileged",
     "must be of type boolean"),
    ("replicas-int32", {"replicas": 2**31}, "spec.replicas", "less than or equal to 2147483647"),
    ("tag-unicode", {"tag": "tàg"}, "spec.tag", "should match"),
    ("image-space", {"image": "a b"}, "spec.image", "should match"),
    ("cpu-negative", {"resources": {"limits": {"cpu": "-1"}}}, "spec.resources.limits.cpu", "should match"),
    ("pod-label-value", {"podLabels": {"a": "b c"}}, "spec.podLabels.a", "should match"),
    ("items-path-traversal", {"volumes": [{"name": "v", "configMap": {"name": "c", "items": [
        {"key": "k", "path": "../x"}]}}]}, "spec.volumes[0].configMap.items[0].path", "should match"),
    ("secret-key", {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a/b"}}}]},
     "spec.env[0].valueFrom.secretKeyRef.key", "should match"),
    ("liveness-success-threshold", {"probes": {"liveness": {"successThreshold": 2}}},
     "spec.probes.liveness.successThreshold", "must be 1"),
    ("seccomp-localhost", {"securityContext": {"seccompProfile": {"type": "Localhost"}}},
     "spec.securityContext.seccompProfile.localhostProfile", "required when type is Localhost"),
]  # fmt: skip


@pytest.mark.parametrize(("patch", "path", "fragment"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_invalid_mcpserver_is_rejected_by_the_apiserver_with_its_field_path(
    kube_cluster: Any, namespace: str, crds: list[str], patch: dict[str, Any], path: str, fragment: str
) -> None:
    doc = copy.deepcopy(BASE)
    for key, value in patch.items():
        if value is None:
            doc["spec"].pop(key)
        else:
            doc["spec"][key] = value
    with pytest.raises(ApiException) as err:
        _create(kube_cluster, namespace, doc)
    assert err.value.status == 422
    body = json.loads(err.value.body)
    causes = [(c.get("field"), c.get("message", "")) for c in body["details"]["causes"]]
    assert any(f == path and fragment in m for f, m in causes), causes


@pytest.mark.parametrize(
    ("doc", "path", "fragment"),
    [
        ({"spec": {"url": "https://a", "source": {"github": {"repo": "o/r"}}}}, "spec", "exactly one source"),
        ({"spec": {}}, "spec", "exactly one source"),
    ],
    ids=["two-sources", "no-source"],
)
def test_registry_with_zero_or_several_sources_is_rejected(
    kube_cluster: Any, namespace: str, crds: list[str], doc: dict[str, Any], path: str, fragment: str
) -> None:
    full = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "MCPRegistry", "metadata": {"name": "r"}, **doc}
    with pytest.raises(ApiException) as err:
        _create(kube_cluster, namespace, full)
    causes = [(c.get("field"), c.get("message", "")) for c in json.loads(err.value.body)["details"]["causes"]]
    assert any(f == path and fragment in m for f, m in causes), causes


def test_registry_refresh_interval_below_the_minimum_is_rejected(
    kube_cluster: Any, namespace: str, crds: list[str]
) -> None:
    doc = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "MCPRegistry", "metadata": {"name": "fast"},
           "spec": {"source": {"github": {"repo": "o/r"}}, "refreshInterval": "10s"}}  # fmt: skip
    with pytest.raises(ApiException) as err:
        _create(kube_cluster, namespace, doc)
    causes = [(c.get("field"), c.get("message", "")) for c in json.loads(err.value.body)["details"]["causes"]]
    assert any(f == "spec.refreshInterval" and "at least 1m" in m for f, m in causes), causes


def test_backup_schedule_with_six_fields_is_rejected(kube_cluster: Any, namespace: str, crds: list[str]) -> None:
    doc = yaml.safe_load((ROOT / "examples/01-mcpserverbackup-s3.yaml").read_text())
    doc["spec"]["schedule"] = "0 0 2 * * *"
    with pytest.raises(ApiException) as err:
        _create(kube_cluster, namespace, doc)
    causes = [(c.get("field"), c.get("message", "")) for c in json.loads(err.value.body)["details"]["causes"]]
    assert any(f == "spec.schedule" and "must be a schedule a CronJob accepts" in m for f, m in causes), causes


def _admitted(create: Callable[[], object]) -> bool:
    try:
        create()
    except ApiException as err:
        if err.status != 422:
            raise
        return False
    return True


@pytest.mark.parametrize("schedule", [*VALID, *(s for s, _ in INVALID if len(s) <= MAX_LENGTH)], ids=repr)
def test_the_crd_admits_a_schedule_exactly_when_the_apiserver_admits_it_in_a_cronjob(
    kube_cluster: Any, namespace: str, crds: list[str], schedule: str
) -> None:
    # the apiserver's own CronJob validation is the reference; the corpus and the model must agree with it
    backup = yaml.safe_load((ROOT / "examples/01-mcpserverbackup-s3.yaml").read_text())
    backup["spec"]["schedule"] = schedule
    pod = {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    job = {"spec": {"template": {"spec": pod}}}
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "probe"},
               "spec": {"schedule": schedule, "timeZone": "Etc/UTC", "jobTemplate": job}}  # fmt: skip
    api = client.CustomObjectsApi(kube_cluster.api_client)
    batch = client.BatchV1Api(kube_cluster.api_client)
    by_cronjob = _admitted(lambda: batch.create_namespaced_cron_job(namespace, cronjob, dry_run="All"))
    by_crd = _admitted(lambda: api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "mcpserverbackups", backup, dry_run="All"))  # fmt: skip
    assert by_cronjob == by_crd == (schedule in VALID)


def test_backup_storage_type_without_its_settings_is_rejected(
    kube_cluster: Any, namespace: str, crds: list[str]
) -> None:
    doc = yaml.safe_load((ROOT / "examples/01-mcpserverbackup-s3.yaml").read_text())
    del doc["spec"]["storage"]["s3"]
    with pytest.raises(ApiException) as err:
        _create(kube_cluster, namespace, doc)
    causes = [(c.get("field"), c.get("message", "")) for c in json.loads(err.value.body)["details"]["causes"]]
    assert any(f == "spec.storage" and "settings are missing" in m for f, m in causes), causes
