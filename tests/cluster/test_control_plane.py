"""The test control plane itself: version, PodSecurity, controllers, kwok, CRDs."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import kubeenv
import pytest
from kubernetes import client

VERSIONS_ENV = kubeenv.REPO_ROOT / "tools" / "versions.env"


def pinned_kubernetes_version() -> str:
    m = re.search(r"^KUBERNETES_VERSION=(\S+)", VERSIONS_ENV.read_text(), re.M)
    assert m, f"KUBERNETES_VERSION missing from {VERSIONS_ENV}"
    return m.group(1)


def deployment(name: str, replicas: int = 2) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": kubeenv.restricted_pod_spec(automountServiceAccountToken=False),
            },
        },
    }


def test_apiserver_reports_pinned_version(kube_cluster):
    if not kube_cluster.owned:
        pytest.skip("external cluster: its version is not ours to pin")
    info = client.VersionApi(kube_cluster.api_client).get_code()
    want = pinned_kubernetes_version()
    assert info.git_version == want
    major, minor = want.lstrip("v").split(".")[:2]
    assert (info.major, info.minor) == (major, minor)


def test_fake_nodes_are_ready(kube_cluster):
    nodes = kube_cluster.core.list_node(label_selector="type=kwok").items
    if not kube_cluster.owned and not nodes:
        pytest.skip("external cluster without kwok nodes")
    assert len(nodes) >= 2
    for node in nodes:
        conds = {c.type: c.status for c in node.status.conditions}
        assert conds.get("Ready") == "True", node.metadata.name


def test_deployment_pods_become_ready(kube_cluster, namespace):
    apps, core = kube_cluster.apps, kube_cluster.core
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))

    rs = kubeenv.wait_until(
        lambda: apps.list_namespaced_replica_set(namespace, label_selector="app=web").items,
        timeout=60,
        message="ReplicaSet of Deployment web",
    )
    assert rs[0].metadata.owner_references[0].kind == "Deployment"

    def ready_pods():
        pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
        ready = [p for p in pods if kubeenv.pod_ready(p)]
        return ready if len(ready) == 2 else None

    pods = kubeenv.wait_until(ready_pods, timeout=90, message="2 Ready pods")
    for pod in pods:
        assert pod.spec.node_name in {n.metadata.name for n in core.list_node().items}
        assert pod.status.pod_ip

    kubeenv.wait_until(
        lambda: (apps.read_namespaced_deployment_status("web", namespace).status.ready_replicas or 0) == 2,
        timeout=60,
        message="Deployment web readyReplicas=2",
    )


def test_privileged_pod_rejected_by_pod_security(kube_cluster, namespace):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [{"name": "c", "image": "registry.invalid/x:1", "securityContext": {"privileged": True}}]
        },
    }
    with pytest.raises(client.ApiException) as exc:
        kube_cluster.core.create_namespaced_pod(namespace, pod)
    assert exc.value.status == 403
    assert "violates PodSecurity" in exc.value.body
    assert "restricted:latest" in exc.value.body

    # The same pod spec made compliant is admitted.
    ok = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "compliant"},
        "spec": kubeenv.restricted_pod_spec(),
    }
    kube_cluster.core.create_namespaced_pod(namespace, ok)


def test_deleting_deployment_garbage_collects_dependents(kube_cluster, namespace):
    apps, core = kube_cluster.apps, kube_cluster.core
    apps.create_namespaced_deployment(namespace, deployment("gc", replicas=1))
    kubeenv.wait_until(
        lambda: [p for p in core.list_namespaced_pod(namespace, label_selector="app=gc").items if kubeenv.pod_ready(p)],
        timeout=90,
        message="a Ready pod of Deployment gc",
    )
    assert apps.list_namespaced_replica_set(namespace, label_selector="app=gc").items

    # Background propagation: only the garbage collector removes the dependents.
    apps.delete_namespaced_deployment("gc", namespace, propagation_policy="Background")
    kubeenv.wait_until(
        lambda: not apps.list_namespaced_replica_set(namespace, label_selector="app=gc").items,
        timeout=60,
        message="ReplicaSet garbage-collected",
    )
    kubeenv.wait_until(
        lambda: not core.list_namespaced_pod(namespace, label_selector="app=gc").items,
        timeout=60,
        message="pods garbage-collected",
    )


def test_install_crds_established(kube_cluster, tmp_path: Path):
    group = f"t{uuid.uuid4().hex[:8]}.test.mcp.allbeone.io"
    crd_yaml = tmp_path / "widgets.yaml"
    crd_yaml.write_text(f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer, minimum: 1}}
""")
    names = kubeenv.install_crds(kube_cluster.api_client, [crd_yaml])
    try:
        assert names == [f"widgets.{group}"]
        # Applying again is an idempotent update by the same field manager.
        assert kubeenv.install_crds(kube_cluster.api_client, [crd_yaml]) == names
        crd = client.ApiextensionsV1Api(kube_cluster.api_client).read_custom_resource_definition(names[0])
        assert any(m.manager == kubeenv.FIELD_MANAGER and m.operation == "Apply" for m in crd.metadata.managed_fields)
        # The new type is served, and its schema is enforced.
        custom = client.CustomObjectsApi(kube_cluster.api_client)
        with pytest.raises(client.ApiException) as exc:
            custom.create_namespaced_custom_object(
                group,
                "v1alpha1",
                "default",
                "widgets",
                {
                    "apiVersion": f"{group}/v1alpha1",
                    "kind": "Widget",
                    "metadata": {"name": "w"},
                    "spec": {"size": 0},
                },
            )
        assert exc.value.status == 422
    finally:
        kubeenv.delete_crds(kube_cluster.api_client, names)
