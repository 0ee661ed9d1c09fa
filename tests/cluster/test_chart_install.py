"""The Helm chart in the real control plane: install (kwok runs the operator pod Ready), upgrade with changed
values, uninstall leaving only the CRDs, and every feature-rich object accepted by the apiserver with strict
field validation. Each test installs its own release (cluster-scoped names differ by release)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from chartkit import ADDON_APIS, CHART, FEATURE_RICH, helm, objects, render, third_party_crd_paths
from kubeenv import delete_crds, install_crds, wait_until
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

CRDS = ["mcpservers.mcp.allbeone.io", "mcpregistries.mcp.allbeone.io", "mcpserverbackups.mcp.allbeone.io"]


def _helm(cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([helm(), "--kubeconfig", cluster.kubeconfig, *args],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, f"helm {' '.join(args[:2])}: {result.stdout}{result.stderr}"
    return result


@contextlib.contextmanager
def _release(cluster: Any, name: str, namespace: str, *sets: str) -> Iterator[str]:
    args = [a for s in sets for a in ("--set", s)]
    _helm(cluster, "install", name, str(CHART), "-n", namespace, "--wait", "--timeout", "120s", *args)
    try:
        yield name
    finally:
        subprocess.run([helm(), "--kubeconfig", cluster.kubeconfig, "uninstall", name, "-n", namespace, "--wait"],
                       capture_output=True, timeout=300)  # fmt: skip


def _deployment(cluster: Any, name: str, namespace: str) -> client.V1Deployment:
    return client.AppsV1Api(cluster.api_client).read_namespaced_deployment(name, namespace)


def _ready_pods(cluster: Any, release: str, namespace: str) -> list[client.V1Pod]:
    pods = client.CoreV1Api(cluster.api_client).list_namespaced_pod(
        namespace, label_selector=f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator"
    )
    return [
        p for p in pods.items
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]  # fmt: skip


def _args(dep: client.V1Deployment) -> dict[str, str]:
    args = dep.spec.template.spec.containers[0].args
    return dict(a.removeprefix("--").split("=", 1) for a in args)


def test_helm_install_runs_the_operator_pod_ready(kube_cluster: Any, namespace: str) -> None:
    with _release(kube_cluster, "mcp-operator", namespace) as release:
        dep = _deployment(kube_cluster, release, namespace)
        assert dep.status.available_replicas == 1
        assert len(_ready_pods(kube_cluster, release, namespace)) == 1
        ext = client.ApiextensionsV1Api(kube_cluster.api_client)
        for crd in CRDS:
            conditions = {c.type: c.status for c in ext.read_custom_resource_definition(crd).status.conditions}
            assert conditions["Established"] == "True"
        adm = client.AdmissionregistrationV1Api(kube_cluster.api_client)
        assert adm.read_validating_webhook_configuration(release).webhooks[0].failure_policy == "Fail"
        rbac = client.RbacAuthorizationV1Api(kube_cluster.api_client)
        binding = rbac.read_cluster_role_binding(release)
        assert (binding.subjects[0].name, binding.subjects[0].namespace) == (release, namespace)


def test_helm_upgrade_with_changed_values_rolls_the_operator(kube_cluster: Any, namespace: str) -> None:
    with _release(kube_cluster, "mcpop-up", namespace) as release:
        name = f"{release}-mcp-operator"
        assert _args(_deployment(kube_cluster, name, namespace))["leader-elect"] == "false"
        _helm(kube_cluster, "upgrade", release, str(CHART), "-n", namespace, "--wait", "--timeout", "120s",
              "--set", "replicaCount=2", "--set", "github.retry.maxRetries=2", "--set", "operator.logLevel=debug",
              "--set", "webhook.enabled=false")  # fmt: skip
        dep = _deployment(kube_cluster, name, namespace)
        args = _args(dep)
        assert (args["leader-elect"], args["github-max-retries"], args["webhook-port"]) == ("true", "2", "0")
        env = {e.name: e.value for e in dep.spec.template.spec.containers[0].env}
        assert env["LOG_LEVEL"] == "debug"
        wait_until(lambda: len(_ready_pods(kube_cluster, release, namespace)) == 2, timeout=90, message="2 pods")
        policy = client.PolicyV1Api(kube_cluster.api_client)
        assert policy.read_namespaced_pod_disruption_budget(name, namespace).spec.min_available == 1
        adm = client.AdmissionregistrationV1Api(kube_cluster.api_client)
        with pytest.raises(ApiException) as gone:
            adm.read_validating_webhook_configuration(name)
        assert gone.value.status == 404, "webhook.enabled=false removes the webhook configurations"
        _helm(kube_cluster, "upgrade", release, str(CHART), "-n", namespace, "--wait", "--reuse-values",
              "--set", "replicaCount=1")  # fmt: skip
        with pytest.raises(ApiException) as pdb_gone:
            policy.read_namespaced_pod_disruption_budget(name, namespace)
        assert pdb_gone.value.status == 404


def _leftovers(cluster: Any, release: str, namespace: str) -> list[str]:
    """Objects labelled as the release's, of every kind the chart makes."""
    dyn = dynamic.DynamicClient(cluster.api_client)
    selector = f"app.kubernetes.io/instance={release}"
    kinds = [("v1", "ServiceAccount"), ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "Secret"),
             ("apps/v1", "Deployment"), ("v1", "Pod"), ("policy/v1", "PodDisruptionBudget"),
             ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
             ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
             ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
             ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")]  # fmt: skip
    found = []
    for api_version, kind in kinds:
        res = dyn.resources.get(api_version=api_version, kind=kind)
        items = res.get(namespace=namespace, label_selector=selector) if res.namespaced else res.get(
            label_selector=selector)  # fmt: skip
        found += [f"{kind}/{i.metadata.name}" for i in items.items if i.metadata.deletionTimestamp is None]
    return found


def test_helm_uninstall_leaves_nothing_but_the_crds(kube_cluster: Any, namespace: str) -> None:
    release = "mcpop-gone"
    with _release(kube_cluster, release, namespace, "replicaCount=2"):
        assert len(_leftovers(kube_cluster, release, namespace)) >= 10
    wait_until(lambda: _leftovers(kube_cluster, release, namespace) == [], timeout=60, message="nothing left")
    ext = client.ApiextensionsV1Api(kube_cluster.api_client)
    assert {c.metadata.name for c in ext.list_custom_resource_definition().items} >= set(CRDS)


def test_every_feature_rich_object_is_accepted_by_the_apiserver_with_strict_field_validation(
    kube_cluster: Any, namespace: str
) -> None:
    added = install_crds(kube_cluster.api_client, third_party_crd_paths())
    try:
        text = render([FEATURE_RICH], apis=ADDON_APIS, release="rich", namespace=namespace)
        dyn = dynamic.DynamicClient(kube_cluster.api_client)
        refused = {}
        core = client.CoreV1Api(kube_cluster.api_client)
        for obj in objects(text):
            res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            # objects for the watched namespace (operator.watchNamespace: its Role and RoleBinding) name their own
            own = obj["metadata"].get("namespace") or namespace
            if (
                res.namespaced
                and own != namespace
                and own not in {n.metadata.name for n in core.list_namespace().items}
            ):
                core.create_namespace({"metadata": {"name": own}})
            kw = {"namespace": own} if res.namespaced else {}
            try:
                res.create(body=obj, query_params=[("dryRun", "All"), ("fieldValidation", "Strict")], **kw)
            except ApiException as exc:
                refused[f"{obj['kind']}/{obj['metadata']['name']}"] = exc.body
        assert refused == {}
    finally:
        # gone before the next module runs: other tests expect no ServiceMonitor API in the cluster
        delete_crds(kube_cluster.api_client, added)
        ext = client.ApiextensionsV1Api(kube_cluster.api_client)
        wait_until(lambda: not {c.metadata.name for c in ext.list_custom_resource_definition().items} & set(added),
                   timeout=60, message="third-party CRDs deleted")  # fmt: skip


def test_watching_one_namespace_grants_the_operator_nothing_namespaced_elsewhere(kube_cluster: Any,
                                                                                 namespace: str) -> None:  # fmt: skip
    """The attack: an operator installed for one namespace (operator.watchNamespace) reading Secrets or
    writing workloads in another. The API server's own authorizer (SubjectAccessReview) says no; it says yes
    in the watched namespace and for the cluster-scoped reads the operator needs."""
    core = client.CoreV1Api(kube_cluster.api_client)
    watched = f"{namespace}-w"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=watched)))
    authz = client.AuthorizationV1Api(kube_cluster.api_client)
    user = f"system:serviceaccount:{namespace}:mcpop-ns-mcp-operator"

    def allowed(verb: str, resource: str, ns: str | None, group: str = "") -> bool:
        attrs = client.V1ResourceAttributes(verb=verb, resource=resource, group=group, namespace=ns)
        review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
            user=user, groups=["system:serviceaccounts"], resource_attributes=attrs))  # fmt: skip
        return bool(authz.create_subject_access_review(review).status.allowed)

    try:
        with _release(kube_cluster, "mcpop-ns", namespace, f"operator.watchNamespace={watched}"):
            assert allowed("get", "secrets", watched)
            assert allowed("create", "deployments", watched, "apps")
            assert allowed("list", "mcpservers", watched, "mcp.allbeone.io")
            assert allowed("get", "namespaces", None)
            assert allowed("create", "subjectaccessreviews", None, "authorization.k8s.io")
            for ns in ("default", "kube-system", None):
                assert not allowed("get", "secrets", ns), ns
                assert not allowed("create", "deployments", ns, "apps"), ns
                assert not allowed("list", "mcpservers", ns, "mcp.allbeone.io"), ns
                assert not allowed("create", "rolebindings", ns, "rbac.authorization.k8s.io"), ns
            hooks = client.AdmissionregistrationV1Api(kube_cluster.api_client).read_validating_webhook_configuration(
                "mcpop-ns-mcp-operator").webhooks  # fmt: skip
            assert all(h.namespace_selector.match_labels == {"kubernetes.io/metadata.name": watched} for h in hooks)
    finally:
        core.delete_namespace(watched)
