"""Every golden object set server-side-applies (field manager `mcpop`) into a restricted namespace, and the
pods of every Deployment pass PodSecurity admission.

Kinds whose CRDs a bare cluster lacks (Istio, VPA, ServiceMonitor) get a stand-in CRD that keeps every
field, and are applied with dryRun=All: that exercises server-side apply, names and metadata; their field
schemas are checked offline in the unit tests.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubeenv import delete_crds, install_crds
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

ROOT = Path(__file__).resolve().parents[2]
# the object sets mcpop renders (golden/install holds the chart's renders: tests/cluster/test_chart_install.py)
GOLDENS = sorted(p for p in (ROOT / "golden").rglob("*.yaml") if p.parent.name != "install")
NOT_RESTRICTED = {"volume-hostpath.yaml"}  # hostPath is outside the restricted profile: rejection expected


def _stand_in_crd(api_version: str, kind: str) -> dict[str, Any]:
    group, version = api_version.split("/")
    plural = kind.lower() + ("es" if kind.endswith("s") else "s")
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            # groups under k8s.io are protected; the upstream VPA CRD carries this approval too
            "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes/kubernetes/pull/78458"},
        },
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "scope": "Namespaced",
            "versions": [{"name": version, "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }


@pytest.fixture(scope="module")
def dynamic(kube_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamicClient]:
    """A dynamic client that knows every kind the goldens use (stand-in CRDs installed where absent)."""
    dyn = DynamicClient(kube_cluster.api_client)
    missing = {}
    for golden in GOLDENS:
        for obj in yaml.safe_load_all(golden.read_text()):
            try:
                dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            except ResourceNotFoundError:
                missing[(obj["apiVersion"], obj["kind"])] = _stand_in_crd(obj["apiVersion"], obj["kind"])
    if missing:
        path = tmp_path_factory.mktemp("crds") / "stand-ins.yaml"
        path.write_text(yaml.safe_dump_all(list(missing.values())))
        install_crds(kube_cluster.api_client, [path])
        dyn = DynamicClient(kube_cluster.api_client)
        dyn.resources.invalidate_cache()
    dyn.stand_ins = set(missing)  # type: ignore[attr-defined]
    yield dyn
    # the cluster is shared by the session: later tests rely on these APIs being absent
    delete_crds(kube_cluster.api_client, [crd["metadata"]["name"] for crd in missing.values()])


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_object_set_applies_and_its_pods_pass_pod_security(
    kube_cluster: Any, namespace: str, dynamic: DynamicClient, golden: Path
) -> None:
    core = client.CoreV1Api(kube_cluster.api_client)
    for obj in yaml.safe_load_all(golden.read_text()):
        obj = copy.deepcopy(obj)
        obj["metadata"]["namespace"] = namespace
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        dry_run = "All" if (obj["apiVersion"], obj["kind"]) in dynamic.stand_ins else None  # type: ignore[attr-defined]
        applied = dynamic.server_side_apply(
            resource, body=obj, namespace=namespace, field_manager="mcpop", force_conflicts=True, dry_run=dry_run
        )
        managers = {m["manager"] for m in applied.to_dict()["metadata"]["managedFields"]}
        assert "mcpop" in managers, (obj["kind"], managers)
        if obj["kind"] != "Deployment":
            continue
        template = obj["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "psa-", **template["metadata"]},
               "spec": template["spec"]}  # fmt: skip
        if golden.name in NOT_RESTRICTED:
            with pytest.raises(ApiException) as err:
                core.create_namespaced_pod(namespace, pod, dry_run="All")
            assert err.value.status == 403 and "PodSecurity" in err.value.body
        else:
            core.create_namespaced_pod(namespace, pod, dry_run="All")
