"""The webhooks' decisions, as pure functions of an AdmissionReview; and the self-managed certificates."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import jsonpatch
import pytest

from mcpop.apply.runtime.tls import check_cipher_suites
from mcpop.apply.webhook import certs
from mcpop.apply.webhook.admission import mutating, validating

API = "mcp.allbeone.io/v1"


def review(obj: dict[str, Any] | None, operation: str = "CREATE", old: dict[str, Any] | None = None,
           sub: str | None = None) -> dict[str, Any]:  # fmt: skip
    req: dict[str, Any] = {"uid": "u-1", "operation": operation, "namespace": "ns",
                           "kind": {"group": "mcp.allbeone.io", "version": "v1", "kind": "MCPServer"}}  # fmt: skip
    if obj is not None:
        req["object"] = obj
    if old is not None:
        req["oldObject"] = old
    if sub:
        req["subResource"] = sub
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def server(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "MCPServer", "metadata": {"name": "s", "namespace": "ns"}, "spec": spec}


BAD = server({"image": "x", "volumeMounts": [{"name": "missing", "mountPath": "/d"}]})


def test_a_bad_spec_is_denied_with_every_problem_as_a_status_cause() -> None:
    resp = validating(review(BAD))["response"]
    assert resp["uid"] == "u-1" and resp["allowed"] is False
    status = resp["status"]
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"].startswith('MCPServer.mcp.allbeone.io "s" is invalid: ')
    assert status["details"]["causes"] and "volumeMounts" in status["details"]["causes"][0]["message"]


def test_a_privileged_spec_is_denied_naming_the_field_and_the_opt_in() -> None:
    resp = validating(review(server({"image": "x", "securityContext": {"privileged": True}})))["response"]
    assert resp["allowed"] is False
    cause = resp["status"]["details"]["causes"][0]
    assert cause["field"] == "spec.securityContext.privileged" and "--pod-security-levels" in cause["message"]


def test_deletes_are_never_blocked() -> None:
    assert validating(review(None, "DELETE", old=BAD))["response"]["allowed"] is True


def test_an_update_that_keeps_the_spec_is_admitted_even_when_the_spec_is_now_refused() -> None:
    moved = {**BAD, "metadata": {**BAD["metadata"], "finalizers": ["mcp.allbeone.io/finalizer"]}}
    assert validating(review(moved, "UPDATE", old=BAD))["response"]["allowed"] is True


def test_an_update_that_changes_a_refused_spec_is_validated() -> None:
    changed = server({**BAD["spec"], "replicas": 2})
    assert validating(review(changed, "UPDATE", old=BAD))["response"]["allowed"] is False


def test_subresource_writes_are_not_examined() -> None:
    assert validating(review(BAD, "UPDATE", old=BAD, sub="status"))["response"]["allowed"] is True


def test_an_object_being_deleted_is_admitted() -> None:
    going = {**BAD, "metadata": {**BAD["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert validating(review(going, "UPDATE", old={**going, "spec": {}}))["response"]["allowed"] is True


def _patched(obj: dict[str, Any]) -> dict[str, Any]:
    resp = mutating(review(obj))["response"]
    assert resp["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(resp["patch"]))
    return jsonpatch.apply_patch(obj, ops)


def test_the_mutating_webhook_sets_the_original_defaults() -> None:
    spec = _patched(server({"image": "x"}))["spec"]
    assert spec["port"] == 8080 and spec["replicas"] == 1 and spec["serviceType"] == "ClusterIP"
    assert spec["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                 "limits": {"cpu": "500m", "memory": "512Mi"}}  # fmt: skip
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000}


def test_the_mutating_webhook_keeps_what_the_user_set() -> None:
    spec = _patched(server({"image": "x", "replicas": 0, "runtime": {"type": "docker", "port": 9000}}))["spec"]
    assert spec["replicas"] == 0 and "port" not in spec


def test_the_mutating_webhook_defaults_a_partial_resources_field_by_field_as_render_does() -> None:
    spec = _patched(server({"image": "x", "resources": {"requests": {"cpu": "50m"}}}))["spec"]
    assert spec["resources"] == {"requests": {"cpu": "50m", "memory": "128Mi"},
                                 "limits": {"cpu": "500m", "memory": "512Mi"}}  # fmt: skip


def test_nothing_to_default_means_no_patch() -> None:
    full = _patched(server({"image": "x"}))
    assert "patch" not in mutating(review(full))["response"]


def test_unknown_cipher_suites_are_refused_naming_the_suite() -> None:
    check_cipher_suites(("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"))
    with pytest.raises(ValueError, match="TLS_RSA_WITH_RC4_128_SHA"):
        check_cipher_suites(("TLS_RSA_WITH_RC4_128_SHA",))


T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_certificates_are_issued_once_and_kept_while_fresh() -> None:
    first = certs.desired_secret_data({}, ["svc.ns.svc"], T0)
    assert set(first) == {certs.CA_FILE, certs.CA_KEY, certs.CERT_FILE, certs.KEY_FILE}
    assert certs.desired_secret_data(first, ["svc.ns.svc"], T0 + dt.timedelta(days=30)) == first


def test_the_serving_certificate_is_reissued_after_two_thirds_of_its_life() -> None:
    first = certs.desired_secret_data({}, ["svc.ns.svc"], T0)
    later = certs.desired_secret_data(first, ["svc.ns.svc"], T0 + dt.timedelta(days=250))
    assert later[certs.CERT_FILE] != first[certs.CERT_FILE] and later[certs.CA_FILE] == first[certs.CA_FILE]


def test_a_rotated_ca_is_published_beside_the_old_one() -> None:
    first = certs.desired_secret_data({}, ["svc.ns.svc"], T0)
    later = certs.desired_secret_data(first, ["svc.ns.svc"], T0 + dt.timedelta(days=int(3650 * 0.7)))
    bundle = certs._pems(later[certs.CA_FILE])
    assert len(bundle) == 2 and bundle[0] == certs._pems(first[certs.CA_FILE])[0]
    assert certs._signed_by(later[certs.CERT_FILE], bundle[-1])


def test_a_bad_cipher_suite_flag_exits_2_naming_the_flag() -> None:
    from mcpop.apply.settings import SettingsError
    from mcpop.cli.operator import settings_from

    with pytest.raises(SettingsError, match="--webhook-cipher-suites"):
        settings_from(["--webhook-cipher-suites", "TLS_FAKE_SUITE"])
    with pytest.raises(SettingsError, match="--webhook-tls-min-version"):
        settings_from(["--webhook-tls-min-version", "1.1"])


def test_webhook_config_prints_configurations_and_makes_a_ca_for_the_url_host(tmp_path: Any, capsys: Any) -> None:
    import yaml

    from mcpop.cli.main import app

    code = app(["operator", "webhook-config", "--url", "https://127.0.0.1:9443", "--cert-dir", str(tmp_path)],
               result_action="return_value")  # fmt: skip
    assert code == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]
    hook = docs[0]["webhooks"][0]
    assert hook["clientConfig"]["url"] == "https://127.0.0.1:9443/validate-mcp-allbeone-io-v1"
    assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == (tmp_path / "ca.crt").read_bytes()
    assert {"CREATE", "UPDATE"} == set(hook["rules"][0]["operations"])


def test_webhook_config_refuses_a_url_that_is_not_https(capsys: Any) -> None:
    from mcpop.cli.main import app

    assert app(["operator", "webhook-config", "--url", "http://x"], result_action="return_value") == 2
    assert "--url" in capsys.readouterr().err
