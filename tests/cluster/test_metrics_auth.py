"""The operator's /metrics as it runs by default (--metrics-secure): HTTPS, and only to bearer tokens the real
apiserver authenticates (TokenReview) for a user it authorizes for `get` on /metrics (SubjectAccessReview), as
controller-runtime's WithAuthenticationAndAuthorization. The scraper's role is the chart's metrics-reader."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path

import kubeenv
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import apply_as, start_operator


def _token(api: client.ApiClient, namespace: str, name: str) -> str:
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    spec = client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    token: str = core.create_namespaced_service_account_token(
        name, namespace, client.AuthenticationV1TokenRequest(spec=spec)).status.token  # fmt: skip
    return token


def _scrape(port: int, token: str | None) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the operator's self-signed certificate
    req = urllib.request.Request(f"https://127.0.0.1:{port}/metrics")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_secure_metrics_serve_only_tokens_allowed_to_get_metrics(
    kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str, tmp_path: Path
) -> None:
    api = kube_cluster.api_client
    reader, stranger = _token(api, namespace, "prometheus"), _token(api, namespace, "stranger")
    role = f"metrics-reader-{namespace}"
    apply_as(api, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
                   "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]})  # fmt: skip
    apply_as(api, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": role},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                   "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": namespace}]})  # fmt: skip
    op = start_operator(operator_kubeconfig, namespace, tmp_path, "--metrics-secure=true")
    try:
        assert _scrape(op.metrics_port, None)[0] == 401
        assert _scrape(op.metrics_port, "not-a-token")[0] == 401
        assert _scrape(op.metrics_port, stranger)[0] == 403
        body = kubeenv.wait_until(lambda: (r := _scrape(op.metrics_port, reader))[0] == 200 and r[1],
                                          timeout=30, message="the reader's scrape")  # fmt: skip
        assert "controller_runtime_reconcile_total" in body
        plain = urllib.request.Request(f"http://127.0.0.1:{op.metrics_port}/metrics")
        try:
            urllib.request.urlopen(plain, timeout=5)
            raise AssertionError("plain HTTP was answered")
        except (urllib.error.URLError, ConnectionError):
            pass
    finally:
        op.terminate()
        rbac = client.RbacAuthorizationV1Api(api)
        rbac.delete_cluster_role_binding(role)
        rbac.delete_cluster_role(role)
