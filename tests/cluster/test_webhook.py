"""The admission webhooks, called by the real kube-apiserver on loopback: what only the Python models catch
is refused at `kubectl apply` time with its field path, defaults are set, a webhook that is down fails closed
for create and update but never blocks delete, and a certificate rotated mid-traffic drops no request.

Each test's webhook configurations select only its own namespace, so other tests are never affected."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubeenv
import pytest
import yaml
from kubernetes import client
from operator_harness import crds  # noqa: F401 - fixture

from mcpop.apply.runtime.client import Kube, KubeError
from mcpop.apply.runtime.tls import ReloadingContext
from mcpop.apply.webhook import certs
from mcpop.apply.webhook.admission import Policy, handlers
from mcpop.apply.webhook.configuration import configurations
from mcpop.apply.webhook.server import WebhookServer
from mcpop.apply.webhook.setup import ClusterAccess

API = "mcp.allbeone.io/v1"
ROOT = Path(__file__).resolve().parents[2]


class Webhook:
    """The operator's webhook server on 127.0.0.1 with its own CA, registered for one namespace."""

    def __init__(self, kube: Kube, namespace: str, cert_dir: Path, policy: Policy | None = None) -> None:
        self.kube, self.namespace, self.cert_dir = kube, namespace, cert_dir
        self.data = certs.desired_secret_data({}, ["127.0.0.1", "localhost"])
        certs.write_files(cert_dir, self.data)
        self.tls = ReloadingContext(cert_dir, "1.2", (), interval=0.1)
        self.server = WebhookServer("127.0.0.1", 0, self.tls, handlers(policy or Policy()))
        self.server.start()
        self.name = f"mcpop-test-{namespace}"
        selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
        for cfg in configurations(url=f"https://127.0.0.1:{self.server.port}", ca=self.data[certs.CA_FILE],
                                  name=self.name, namespace_selector=selector):  # fmt: skip
            kube.apply(kube.require(cfg["apiVersion"], cfg["kind"]), cfg, force=True, field_manager="mcpop-tests")

    def close(self) -> None:
        self.server.close()
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            self.kube.delete(self.kube.require("admissionregistration.k8s.io/v1", kind), None, self.name)


@pytest.fixture
def kube(kube_cluster: kubeenv.KubeCluster, crds: list[str]) -> Kube:  # noqa: F811
    return Kube(kube_cluster.api_client)


@pytest.fixture
def webhook(kube: Kube, namespace: str, tmp_path: Path) -> Iterator[Webhook]:
    yield from _serve(Webhook(kube, namespace, tmp_path / "certs"), kube, namespace)


@pytest.fixture
def access_webhook(kube: Kube, namespace: str, tmp_path: Path) -> Iterator[Webhook]:
    """The webhook as the operator runs it: asking the cluster about existing ServiceAccounts."""
    hook = Webhook(kube, namespace, tmp_path / "certs", Policy(access=ClusterAccess(kube)))
    yield from _serve(hook, kube, namespace)


def _serve(hook: Webhook, kube: Kube, namespace: str) -> Iterator[Webhook]:
    try:
        wait_registered(kube, namespace)
        yield hook
    finally:
        hook.close()


def server(name: str, spec: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "MCPServer", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def create(kube: Kube, obj: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    """POST `obj` as kubectl does (strict field validation: unknown fields are errors, not pruned)."""
    res = kube.require(obj["apiVersion"], obj["kind"])
    query = [("fieldValidation", "Strict"), *([("dryRun", "All")] if dry_run else [])]
    return kube.request("POST", res.path(obj["metadata"]["namespace"]), query, obj)


def wait_registered(kube: Kube, namespace: str) -> None:
    """The apiserver reads webhook configurations from an informer: wait until a bad spec is refused."""
    bad = server("probe", {"image": "x", "volumeMounts": [{"name": "missing", "mountPath": "/data"}]}, namespace)

    def refused() -> bool:
        try:
            create(kube, bad, dry_run=True)
        except KubeError as exc:
            return "is invalid" in exc.message
        return False

    kubeenv.wait_until(refused, timeout=30, message="webhook registered")


# a spec the CRD schema accepts and the models refuse, with the field each problem is about
SCHEMA_PASSES_MODEL_REFUSES = [
    ({"image": "x", "volumeMounts": [{"name": "missing", "mountPath": "/data"}]}, "volumeMounts"),
    ({"image": "x", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}, "resources"),
    ({"image": "x", "env": [{"name": "A", "value": "1"}], "runtime": {"type": "docker", "image": "y"}}, "image"),
]


@pytest.mark.parametrize(("spec", "field"), SCHEMA_PASSES_MODEL_REFUSES)
def test_kubectl_apply_of_a_spec_only_the_models_refuse_fails_naming_the_field(
    kube_cluster: kubeenv.KubeCluster, webhook: Webhook, namespace: str, tmp_path: Path, spec: dict[str, Any],
    field: str,
) -> None:  # fmt: skip
    import json

    path = tmp_path / "server.json"
    path.write_text(json.dumps(server("bad", spec, namespace)))
    out = subprocess.run(["kubectl", "--kubeconfig", kube_cluster.kubeconfig, "apply", "--server-side", "-f",
                          str(path)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode != 0
    # printed as kubectl prints schema errors: `The MCPServer "bad" is invalid: <field>: <message>`
    assert 'The MCPServer "bad" is invalid' in out.stderr and field in out.stderr, out.stderr


def test_defaults_are_set_on_a_server_created_without_them(kube: Kube, webhook: Webhook, namespace: str) -> None:
    out = create(kube, server("plain", {"image": "docker.io/mcp/fetch"}, namespace))
    spec = out["spec"]
    assert spec["port"] == 8080 and spec["replicas"] == 1 and spec["serviceType"] == "ClusterIP"
    assert spec["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                 "limits": {"cpu": "500m", "memory": "512Mi"}}  # fmt: skip
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 1000


def test_webhook_and_crd_schema_defaults_agree(kube: Kube, namespace: str, tmp_path: Path) -> None:
    from mcpop.apply.webhook.defaults import defaulted

    obj = server("plain", {"image": "docker.io/mcp/fetch", "port": 9000}, namespace)
    by_schema = create(kube, obj, dry_run=True)  # no webhook registered for this namespace
    assert defaulted(obj)["spec"] == by_schema["spec"]


def test_registry_form_servers_get_no_port_default(kube: Kube, webhook: Webhook, namespace: str) -> None:
    out = create(kube, server("reg", {"registry": {"name": "filesystem"}}, namespace), dry_run=True)
    assert "port" not in out["spec"]


def test_a_webhook_that_is_down_blocks_create_and_update_but_never_delete(
    kube: Kube, webhook: Webhook, namespace: str
) -> None:
    res = kube.require(API, "MCPServer")
    create(kube, server("kept", {"image": "docker.io/mcp/fetch"}, namespace))
    webhook.server.close()
    with pytest.raises(KubeError) as exc:
        create(kube, server("new", {"image": "docker.io/mcp/fetch"}, namespace))
    assert "failed calling webhook" in exc.value.message
    with pytest.raises(KubeError):
        kube.merge_patch(res, namespace, "kept", {"spec": {"replicas": 2}})
    assert kube.delete(res, namespace, "kept")


def test_the_operators_own_metadata_writes_are_admitted_even_for_a_spec_now_refused(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    res = kube.require(API, "MCPServer")
    # created before the webhook existed (as by an older release), with a spec the webhook refuses
    create(kube, server("old", {"image": "x", "volumeMounts": [{"name": "missing", "mountPath": "/d"}]}, namespace))
    hook = Webhook(kube, namespace, tmp_path / "certs")
    try:
        wait_registered(kube, namespace)
        kube.merge_patch(res, namespace, "old", {"metadata": {"finalizers": ["mcp.allbeone.io/finalizer"]}})
        kube.merge_patch(res, namespace, "old", {"metadata": {"finalizers": None}})
    finally:
        hook.close()


def served_certificate(port: int) -> bytes:
    """The certificate a new TLS connection to 127.0.0.1:`port` is served, as PEM."""
    import ssl

    return ssl.get_server_certificate(("127.0.0.1", port)).encode()


def same_cert(a: bytes, b: bytes) -> bool:
    from cryptography import x509

    return x509.load_pem_x509_certificate(a) == x509.load_pem_x509_certificate(b)


def test_a_certificate_rotated_mid_traffic_drops_no_request(kube: Kube, webhook: Webhook, namespace: str) -> None:
    failures: list[str] = []
    done = threading.Event()
    count = 0

    def traffic() -> None:
        nonlocal count
        while not done.is_set():
            try:
                create(kube, server(f"t{count % 7}", {"image": "docker.io/mcp/fetch"}, namespace), dry_run=True)
            except KubeError as exc:
                failures.append(exc.message)
            count += 1

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        time.sleep(1)
        ca_key = webhook.data[certs.CA_KEY]
        ca = certs._pems(webhook.data[certs.CA_FILE])[-1]
        for _ in range(3):  # re-issue the serving certificate three times while requests flow
            cert, key = certs.serving_cert(ca, ca_key, ["127.0.0.1", "localhost"])
            certs.write_files(webhook.cert_dir, {certs.KEY_FILE: key, certs.CERT_FILE: cert})
            time.sleep(0.3)
            assert same_cert(served_certificate(webhook.server.port), cert)  # new connections get it at once
            time.sleep(0.7)
    finally:
        done.set()
        thread.join()
    assert count > 10 and failures == []


# ---------------------------------------------------------------- served by the operator process

OPERATOR_FLAGS = ("--enable-webhooks", "--webhook-cert-management", "external")


def test_the_operator_serves_the_webhooks_that_webhook_config_registers(
    kube_cluster: kubeenv.KubeCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    from operator_harness import start_operator
    from ports import free_port

    from mcpop.cli.main import app

    port, certs_dir, name = free_port(), tmp_path / "certs", f"mcpop-dev-{namespace}"
    op = start_operator(kube_cluster.kubeconfig, namespace, tmp_path, *OPERATOR_FLAGS, "--webhook-cert-dir",
                        str(certs_dir), "--webhook-port", str(port), wait=False)  # fmt: skip
    try:
        code = app(["operator", "webhook-config", "--url", f"https://127.0.0.1:{port}", "--cert-dir", str(certs_dir),
                    "--name", name, "--namespace", namespace, "--apply", "--kubeconfig", kube_cluster.kubeconfig],
                   result_action="return_value")  # fmt: skip
        assert code == 0
        op.wait_ready()
        wait_registered(kube, namespace)
        assert op.metric("controller_runtime_webhook_requests_total", webhook="/validate-mcp-allbeone-io-v1") > 0
        assert op.metric("mcpop_webhook_denied_total") > 0
    finally:
        op.terminate()
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            kube.delete(kube.require("admissionregistration.k8s.io/v1", kind), None, name)


def test_self_managed_certificates_are_issued_into_a_secret_and_the_ca_injected(
    kube_cluster: kubeenv.KubeCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    import base64

    from operator_harness import operator_identity

    operator_kubeconfig = operator_identity(kube_cluster, tmp_path)
    for doc in yaml.safe_load_all((ROOT / "config" / "rbac" / "webhook_role.yaml").read_text()):
        kube.apply(kube.require(doc["apiVersion"], doc["kind"]), doc, force=True, field_manager="mcpop-tests")

    from operator_harness import OPERATOR_NS, start_operator

    # the configuration exists (as the chart creates it) without a caBundle; it selects no namespace
    selector = {"matchLabels": {"kubernetes.io/metadata.name": "none-" + namespace}}
    cfgs = configurations(service=("mcp-operator-webhook", OPERATOR_NS, 443), name="mcp-operator",
                          namespace_selector=selector)  # fmt: skip
    for cfg in cfgs:
        kube.apply(kube.require(cfg["apiVersion"], cfg["kind"]), cfg, force=True, field_manager="mcpop-tests")
    secret_res = kube.require("v1", "Secret")
    flags = ["--enable-webhooks", "--webhook-cert-dir", str(tmp_path / "certs"), "--webhook-port", "0",
             "--leader-election-namespace", OPERATOR_NS]  # fmt: skip
    op = start_operator(operator_kubeconfig, namespace, tmp_path, *flags)
    try:
        secret = kubeenv.wait_until(lambda: kube.get(secret_res, OPERATOR_NS, "mcp-operator-webhook-tls"),
                                    timeout=30, message="certificate Secret")  # fmt: skip
        ca = secret["data"][certs.CA_FILE]

        def injected() -> bool:
            live = [kube.get(kube.require(c["apiVersion"], c["kind"]), None, "mcp-operator") for c in cfgs]
            return all(h["clientConfig"].get("caBundle") == ca for c in live if c for h in c["webhooks"])

        kubeenv.wait_until(injected, timeout=30, message="caBundle injected")
        kubeenv.wait_until(lambda: (tmp_path / "certs" / certs.CERT_FILE).exists(), timeout=30, message="cert files")
        written = (tmp_path / "certs" / certs.CERT_FILE).read_bytes()
        assert written == base64.b64decode(secret["data"][certs.CERT_FILE])
    finally:
        op.terminate()
        kube.delete(secret_res, OPERATOR_NS, "mcp-operator-webhook-tls")
        for cfg in cfgs:
            kube.delete(kube.require(cfg["apiVersion"], cfg["kind"]), None, "mcp-operator")


def test_every_corpus_case_the_crd_schema_lets_through_is_refused_by_the_webhook_naming_its_field(
    kube: Kube, webhook: Webhook, namespace: str
) -> None:
    """tests/badinput.py, sent to the apiserver as `kubectl apply` would (dry-run): whatever the schema
    alone accepts, the webhook refuses, with the field path the corpus names."""
    from badinput import CASES

    # an entry missing from the embedded catalogue may be in an MCPRegistry: resolved at reconcile time
    reconcile_time = {"mcpserver-registry-unknown-entry", "mcpserver-registry-version-mismatch"}
    by_webhook, missed = 0, []
    for case in CASES:
        if isinstance(case.doc, str) or case.path.startswith("metadata.namespace") or case.id in reconcile_time:
            continue  # YAML-only cases are the reader's; a namespace is the URL's, not the body's
        doc = {**case.doc, "metadata": {**case.doc["metadata"], "namespace": namespace}}
        try:
            create(kube, doc, dry_run=True)
        except KubeError as exc:
            if "denied the request" in exc.message:
                by_webhook += 1
                if case.path.split("[")[0].split(".")[-1] not in exc.message:
                    missed.append(f"{case.id}: field not named: {exc.message}")
            continue
        missed.append(f"{case.id}: accepted")
    assert missed == [], "\n".join(missed)
    assert by_webhook > 50


def _grant(kube_cluster: kubeenv.KubeCluster, namespace: str, user: str, role: str,
           rules: list[dict[str, Any]]) -> None:  # fmt: skip
    rbac = client.RbacAuthorizationV1Api(kube_cluster.api_client)
    rbac.create_namespaced_role(namespace, {"metadata": {"name": role}, "rules": rules})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": f"{role}-{user}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})  # fmt: skip


def _apply_as(kube_cluster: kubeenv.KubeCluster, user: str, obj: dict[str, Any], tmp_path: Path) -> Any:
    import json

    path = tmp_path / f"{user}.json"
    path.write_text(json.dumps(obj))
    return subprocess.run(["kubectl", "--kubeconfig", kube_cluster.kubeconfig, "--as", user, "apply",
                           "--server-side", "-f", str(path)], capture_output=True, text=True, timeout=60)  # fmt: skip


def test_only_an_author_who_may_create_pods_may_run_a_server_as_an_existing_service_account(
    kube_cluster: kubeenv.KubeCluster, kube: Kube, access_webhook: Webhook, namespace: str, tmp_path: Path
) -> None:
    authoring = [{"apiGroups": ["mcp.allbeone.io"], "resources": ["mcpservers"],
                  "verbs": ["get", "list", "create", "patch", "update"]}]  # fmt: skip
    _grant(kube_cluster, namespace, "alice", "mcp-author", authoring)
    _grant(kube_cluster, namespace, "bob", "mcp-author-2", authoring)
    _grant(kube_cluster, namespace, "bob", "pod-runner", [{"apiGroups": [""], "resources": ["pods"],
                                                           "verbs": ["create"]}])  # fmt: skip
    client.CoreV1Api(kube_cluster.api_client).create_namespaced_service_account(
        namespace, {"metadata": {"name": "ci-deployer"}})  # fmt: skip
    spec = {"image": "ghcr.io/example/server", "serviceAccount": {"create": False, "name": "ci-deployer"}}

    refused = _apply_as(kube_cluster, "alice", server("as-alice", spec, namespace), tmp_path)
    assert refused.returncode != 0
    assert "spec.serviceAccount.name" in refused.stderr and "create pods" in refused.stderr, refused.stderr
    assert "alice" in refused.stderr, refused.stderr

    allowed = _apply_as(kube_cluster, "bob", server("as-bob", spec, namespace), tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    # mcpop's own accounts stay refused to bob too
    client.CoreV1Api(kube_cluster.api_client).create_namespaced_service_account(namespace, {"metadata": {
        "name": "nightly-restore", "labels": {"app.kubernetes.io/managed-by": "mcpop"}}})  # fmt: skip
    own = {**spec, "serviceAccount": {"create": False, "name": "nightly-restore"}}
    refused = _apply_as(kube_cluster, "bob", server("as-restore", own, namespace), tmp_path)
    assert refused.returncode != 0 and "created by mcpop" in refused.stderr, refused.stderr
