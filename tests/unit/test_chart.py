"""The Helm chart offline: lint, golden renders, strict schemas, the values schema, and values reaching the
operator's flags (as `mcp operator run` parses them). The install itself: tests/cluster/test_chart_install.py."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
import restricted
import yaml
from chartkit import (
    ADDON_APIS,
    CHART,
    FEATURE_RICH,
    ROOT,
    by_kind,
    container_args,
    container_env,
    objects,
    one,
    promql_errors,
    render,
    run_helm,
    schema_errors,
    template_args,
)

from mcpop.apply.settings import REGISTRY_HOST, OperatorSettings, options
from mcpop.cli.operator import settings_from
from mcpop.render.backup import DEFAULT_IMAGE as BACKUP_DEFAULT_IMAGE
from mcpop.render.normalize import BRIDGE_IMAGE

CHART_APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]

RENDERS = {
    "default": ([], ()),
    "feature-rich": ([FEATURE_RICH], ADDON_APIS),
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: objects(render(values, apis=apis)) for name, (values, apis) in RENDERS.items()}


def _settings(objs: list[dict[str, Any]]) -> OperatorSettings:
    """The operator settings the rendered Deployment starts with: its args and env, read as the process reads them."""
    argv = [f"--{flag}={value}" for flag, value in container_args(objs).items()]
    env = container_env(objs)
    with mock.patch.dict(os.environ, env):
        for var in {opt.env for opt in options().values() if opt.env} - env.keys():
            os.environ.pop(var, None)
        return settings_from(argv)


# -- lint and golden files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_helm_lint_strict_passes(name: str) -> None:
    values, _ = RENDERS[name]  # lint has no --api-versions: it renders what a bare cluster gets
    result = run_helm("lint", "--strict", str(CHART), *template_args(values), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", RENDERS)
def test_renders_to_its_golden_file(name: str, golden: Callable[[str, str], None]) -> None:
    values, apis = RENDERS[name]
    golden(f"install/{name}.yaml", render(values, apis=apis))


def test_rendering_is_byte_identical_twice() -> None:
    assert render([FEATURE_RICH], apis=ADDON_APIS) == render([FEATURE_RICH], apis=ADDON_APIS)


# -- every object valid ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_every_rendered_object_passes_strict_schema_validation(name: str, rendered: dict[str, Any]) -> None:
    problems = {f"{o['kind']}/{o['metadata']['name']}": schema_errors(o) for o in rendered[name]}
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.parametrize("kind", ["Deployment", "ServiceMonitor", "PrometheusRule", "Certificate"])
def test_strict_validation_refuses_an_unknown_field(kind: str, rendered: dict[str, Any]) -> None:
    obj = copy.deepcopy(one(rendered["feature-rich"], kind))
    obj["spec"]["replicaz"] = 1
    assert schema_errors(obj) == ["spec: Additional properties are not allowed ('replicaz' was unexpected)"]


def test_the_feature_rich_render_has_every_kind_the_chart_can_make(rendered: dict[str, Any]) -> None:
    kinds = {o["kind"] for o in rendered["feature-rich"]}
    assert kinds == {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "NetworkPolicy", "Deployment",
        "PodDisruptionBudget", "Service",
        "ServiceMonitor", "PrometheusRule", "ConfigMap", "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration", "Certificate", "MCPRegistry",
    }  # fmt: skip


@pytest.mark.parametrize("name", RENDERS)
def test_the_operator_pod_meets_the_restricted_pod_security_standard(name: str, rendered: dict[str, Any]) -> None:
    pod = one(rendered[name], "Deployment")["spec"]["template"]["spec"]
    assert restricted.violations(pod) == []
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_probes_check_healthz_and_readyz_on_the_health_port(rendered: dict[str, Any]) -> None:
    container = one(rendered["default"], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    # the kubelet probes readiness as soon as the startup probe passes, not on the readiness period's next tick
    assert container["startupProbe"] == {"httpGet": {"path": "/healthz", "port": "health"}, "periodSeconds": 1,
                                         "failureThreshold": 60}  # fmt: skip
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    assert container_args(rendered["default"])["health-probe-bind-address"] == ":8081"


# -- CRDs and RBAC from their one source -------------------------------------------------------------


def test_generated_chart_files_match_their_sources() -> None:
    result = subprocess.run([str(ROOT / "tools" / "gen-chart"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_chart_app_version_is_the_project_version() -> None:
    import tomllib

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_mcp_version_finds_the_chart_installed_operator_by_its_labels() -> None:
    from mcpop.apply.resources import OPERATOR_LABELS

    for sets in ([], ["nameOverride=renamed"]):
        labels = one(objects(render(sets=sets)), "Deployment")["metadata"]["labels"]
        assert labels | OPERATOR_LABELS == labels, sets


def test_the_chart_crds_are_the_schemas_byte_for_byte() -> None:
    schemas = {p.name: p.read_text() for p in (ROOT / "schemas").glob("*.yaml")}
    crds = {p.name: p.read_text() for p in (CHART / "crds").glob("*.yaml")}
    assert crds == schemas


def test_the_cluster_role_grants_exactly_config_rbac(rendered: dict[str, Any]) -> None:
    source = yaml.safe_load((ROOT / "config" / "rbac" / "role.yaml").read_text())
    role = [r for r in by_kind(rendered["default"], "ClusterRole") if r["metadata"]["name"] == "mcp-operator"]
    assert len(role) == 1 and sorted(map(str, role[0]["rules"])) == sorted(map(str, source["rules"]))


def test_watching_one_namespace_grants_namespaced_rules_only_there(rendered: dict[str, Any]) -> None:
    """operator.watchNamespace: the rules of namespaced resources in a Role (and its RoleBinding) in that
    namespace; the ClusterRole keeps only what is cluster-scoped; the webhooks see that namespace only."""
    source = yaml.safe_load((ROOT / "config" / "rbac" / "role.yaml").read_text())["rules"]
    objs = rendered["feature-rich"]
    role = next(r for r in by_kind(objs, "Role") if r["metadata"]["namespace"] == "mcp-servers")
    cluster = next(r for r in by_kind(objs, "ClusterRole") if r["metadata"]["name"] == role["metadata"]["name"])
    assert sorted(map(str, cluster["rules"] + role["rules"])) == sorted(map(str, source))
    assert {res for r in cluster["rules"] for res in r.get("resources") or r["nonResourceURLs"]} == {
        "namespaces", "subjectaccessreviews", "tokenreviews", "/.well-known/openid-configuration",
        "/openid/v1/jwks"}  # fmt: skip
    binding = next(b for b in by_kind(objs, "RoleBinding") if b["metadata"]["namespace"] == "mcp-servers")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}  # fmt: skip
    for cfg in (*by_kind(objs, "MutatingWebhookConfiguration"), *by_kind(objs, "ValidatingWebhookConfiguration")):
        for hook in cfg["webhooks"]:
            assert hook["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "mcp-servers"}}
    for cfg in by_kind(rendered["default"], "ValidatingWebhookConfiguration"):
        assert all("namespaceSelector" not in hook for hook in cfg["webhooks"])


def test_without_cert_manager_the_operator_may_write_only_its_own_certificate_secret(
    rendered: dict[str, Any],
) -> None:
    roles = {o["metadata"]["name"]: o for o in by_kind(rendered["default"], "Role")}
    rules = roles["mcp-operator-webhook-certs"]["rules"]
    assert {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["mcp-operator-webhook-tls"],
            "verbs": ["get", "update", "patch"]} in rules  # fmt: skip
    ca = next(o for o in by_kind(rendered["default"], "ClusterRole") if o["metadata"]["name"].endswith("-webhook-ca"))
    assert ca["rules"][0]["resourceNames"] == ["mcp-operator"]


# -- values reach the operator -----------------------------------------------------------------------


def test_default_values_start_the_operator_with_the_original_defaults(rendered: dict[str, Any]) -> None:
    s = _settings(rendered["default"])
    assert (s.metrics_bind_address, s.health_probe_bind_address, s.leader_elect) == (":8080", ":8081", False)
    assert (s.github_max_retries, s.github_initial_delay, s.github_max_delay) == (5, 1.0, 300.0)
    assert (s.github_rate_limit_max_retries, s.github_rate_limit_base_delay, s.github_rate_limit_max_delay) == (
        3, 900.0, 3600.0)  # fmt: skip
    assert (s.github_network_max_retries, s.github_network_base_delay, s.github_network_max_delay) == (5, 2.0, 120.0)
    assert (s.cache_registry_ttl, s.cache_server_ttl, s.cache_cleanup_interval) == (600.0, 300.0, 1800.0)
    assert s.indexing_enabled is True
    assert (s.webhook_port, s.webhook_cert_dir, s.webhook_tls_min_version) == (
        9443, "/tmp/k8s-webhook-server/serving-certs", "1.2")  # fmt: skip
    assert s.enable_backup_controller is True
    assert s.leader_election_namespace == "mcpop-system"
    # every image the operator puts into pods is named by the chart: the published ones by default
    assert s.backup_image == BACKUP_DEFAULT_IMAGE == f"ghcr.io/allbeone/mcpop:{CHART_APP_VERSION}"
    assert s.bridge_image == BRIDGE_IMAGE
    (dep,) = by_kind(rendered["default"], "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == s.backup_image


def test_feature_rich_values_reach_every_flag_and_variable(rendered: dict[str, Any]) -> None:
    s = _settings(rendered["feature-rich"])
    assert (s.metrics_bind_address, s.leader_elect, s.lease_duration) == (":9090", True, 30.0)
    assert (s.github_max_retries, s.github_initial_delay, s.github_max_delay) == (3, 2.0, 60.0)
    assert (s.github_rate_limit_max_retries, s.github_rate_limit_base_delay, s.github_rate_limit_max_delay) == (
        1, 300.0, 7200.0)  # fmt: skip
    assert (s.github_network_max_retries, s.github_network_base_delay, s.github_network_max_delay) == (10, 0.5, 30.0)
    assert (s.cache_registry_ttl, s.cache_server_ttl) == (0.0, 0.0)
    assert s.indexing_enabled is False
    assert (s.webhook_port, s.webhook_tls_min_version, s.webhook_cipher_suites) == (
        10443, "1.3", ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"))  # fmt: skip
    assert (s.log_level, s.structured_logging, s.enable_correlation_id) == ("debug", False, False)
    assert (s.concurrent_reconciles, s.reconcile_timeout, s.sync_period) == (10, 1800.0, 3600.0)
    assert s.watch_namespace == "mcp-servers"
    assert s.insecure_registries == ("registry.internal:5000", "10.0.0.5")
    assert (s.enable_hpa_support, s.enable_vpa_support, s.enable_istio_integration, s.enable_multi_tenancy) == (
        False, False, False, False)  # fmt: skip
    env = container_env(rendered["feature-rich"])
    assert s.backup_image == "registry.example.com/mcpop/backup:1"
    assert s.bridge_image == "registry.example.com/mcpop/mcpop-bridge:0.7.0"
    assert "MCPOP_BACKUP_IMAGE" not in env  # the flag, from the one declaration
    assert env["MCPOP_GITHUB_API_URL"] == "https://github.example.com/api/v3"
    # the backup defaults (retention of backups without spec.retention, unset storage fields)
    assert (s.backup_retention_daily, s.backup_retention_weekly, s.backup_retention_monthly,
            s.backup_retention_yearly) == (14, 8, 6, 2)  # fmt: skip
    assert (s.backup_s3_region, s.backup_s3_endpoint) == ("eu-central-1", "minio.storage.svc:9000")
    assert (s.backup_gcs_project, s.backup_azure_account_name) == ("platform-prod", "platformbackups")


def test_retry_and_cache_switched_off_mean_no_retries_and_no_cache() -> None:
    s = _settings(objects(render(sets=["github.retry.enabled=false", "cache.enabled=false"])))
    assert (s.github_max_retries, s.github_rate_limit_max_retries, s.github_network_max_retries) == (0, 0, 0)
    assert (s.cache_registry_ttl, s.cache_server_ttl) == (0.0, 0.0)


def test_more_than_one_replica_elects_a_leader_and_gets_a_disruption_budget(rendered: dict[str, Any]) -> None:
    assert by_kind(rendered["default"], "PodDisruptionBudget") == []
    two = objects(render(sets=["replicaCount=2"]))
    assert container_args(two)["leader-elect"] == "true"
    assert one(two, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_placement_and_resources_come_from_values(rendered: dict[str, Any]) -> None:
    values = yaml.safe_load(FEATURE_RICH.read_text())
    pod = one(rendered["feature-rich"], "Deployment")["spec"]["template"]["spec"]
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "priorityClassName"):
        assert pod[key] == values[key]
    assert pod["containers"][0]["resources"] == values["resources"]
    default = one(rendered["default"], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert default["resources"] == {"limits": {"cpu": "500m", "memory": "512Mi"},
                                    "requests": {"cpu": "100m", "memory": "128Mi"}}  # fmt: skip
    assert default["image"] == f"ghcr.io/allbeone/mcpop:{CHART_APP_VERSION}"  # the published image


def test_metrics_switched_off_leave_no_endpoint_service_or_monitor() -> None:
    objs = objects(render(sets=["metrics.enabled=false"], apis=ADDON_APIS))
    assert container_args(objs)["metrics-bind-address"] == "0"
    assert [o["metadata"]["name"] for o in by_kind(objs, "Service")] == ["mcp-operator-webhook"]
    assert by_kind(objs, "ServiceMonitor") == []


def test_webhook_switched_off_leaves_no_webhook_objects_and_no_listener() -> None:
    objs = objects(render(sets=["webhook.enabled=false"], apis=ADDON_APIS))
    kinds = {o["kind"] for o in objs}
    assert not kinds & {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Certificate", "Issuer"}
    assert container_args(objs)["webhook-port"] == "0"
    assert "webhook-certs" not in json.dumps(one(objs, "Deployment"))


def test_webhooks_validate_all_three_kinds_and_default_mcpservers(rendered: dict[str, Any]) -> None:
    objs = rendered["default"]
    validating = one(objs, "ValidatingWebhookConfiguration")["webhooks"]
    assert [w["rules"][0]["resources"] for w in validating] == [["mcpservers"], ["mcpregistries"], ["mcpserverbackups"]]
    mutating = one(objs, "MutatingWebhookConfiguration")["webhooks"]
    assert [w["rules"][0]["resources"] for w in mutating] == [["mcpservers"]]
    for hook in [*validating, *mutating]:
        assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None" and hook["timeoutSeconds"] == 5
        assert hook["rules"][0]["operations"] == ["CREATE", "UPDATE"], "deletes are never sent to a webhook"
        assert hook["clientConfig"]["service"]["name"] == "mcp-operator-webhook"


def test_with_cert_manager_a_certificate_serves_the_webhook_and_its_ca_is_injected() -> None:
    objs = objects(render(apis=("cert-manager.io/v1",)))
    cert = one(objs, "Certificate")
    assert cert["spec"]["secretName"] == "mcp-operator-webhook-tls"
    assert cert["spec"]["issuerRef"] == {"name": "selfsigned-issuer", "kind": "Issuer", "group": "cert-manager.io"}
    assert "mcp-operator-webhook.mcpop-system.svc" in cert["spec"]["dnsNames"]
    assert one(objs, "Issuer")["spec"] == {"selfSigned": {}}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        annotations = one(objs, kind)["metadata"]["annotations"]
        assert annotations["cert-manager.io/inject-ca-from"] == "mcpop-system/mcp-operator-webhook"
    roles = [r for r in by_kind(objs, "Role") if any("secrets" in rule["resources"] for rule in r["rules"])]
    assert roles == [], "no Secret-writing Role when cert-manager makes the certificate"


def test_the_lease_and_the_operators_own_tokens_are_granted_in_the_release_namespace_only() -> None:
    objs = objects(render())
    assert not any("leases" in rule.get("resources", []) for r in by_kind(objs, "ClusterRole") for rule in r["rules"])
    (role,) = [r for r in by_kind(objs, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    assert role["metadata"]["namespace"] == "mcpop-system"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["mcpop-leader"],
            "verbs": ["get", "update"],
        },
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": ["mcp-operator"],
         "verbs": ["create"]},
    ]  # fmt: skip


def test_monitoring_objects_are_made_only_where_their_api_is_served(rendered: dict[str, Any]) -> None:
    assert by_kind(rendered["default"], "ServiceMonitor") == by_kind(rendered["default"], "PrometheusRule") == []
    monitor = one(rendered["feature-rich"], "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"


def test_the_official_registry_is_created_only_when_asked_and_is_the_example(rendered: dict[str, Any]) -> None:
    from mcpop.api.mcpregistry import MCPRegistry

    assert by_kind(rendered["default"], "MCPRegistry") == []
    example = yaml.safe_load((ROOT / "examples" / "08-mcpregistry-official.yaml").read_text())
    MCPRegistry.model_validate(example)
    (made,) = by_kind(objects(render(sets=["registry.default.enabled=true"])), "MCPRegistry")
    assert made["metadata"]["namespace"] == "mcpop-system"  # the release namespace
    same = ("apiVersion", "kind", "spec")
    assert {k: made[k] for k in same} == {k: example[k] for k in same}
    assert made["metadata"]["name"] == example["metadata"]["name"] == "default"
    assert made["spec"]["source"]["mcpRegistry"]["url"] == "https://registry.modelcontextprotocol.io"
    MCPRegistry.model_validate(made)
    (rich,) = by_kind(rendered["feature-rich"], "MCPRegistry")
    assert (rich["metadata"]["namespace"], rich["metadata"]["name"]) == ("mcpop-system", "official")
    assert rich["spec"]["refreshInterval"] == "6h"
    sets = ["registry.default.enabled=true", "registry.default.namespaces={team-a,team-b}"]
    listed = by_kind(objects(render(sets=sets)), "MCPRegistry")
    assert [(r["metadata"]["namespace"], r["metadata"]["name"]) for r in listed] == [
        ("team-a", "default"),
        ("team-b", "default"),
    ]


def test_the_registry_is_created_before_the_webhooks_that_would_refuse_it_while_the_operator_starts() -> None:
    kinds = [o["kind"] for o in objects(render(sets=["registry.default.enabled=true"]))]
    assert kinds.index("MCPRegistry") < kinds.index("MutatingWebhookConfiguration")
    assert kinds.index("MCPRegistry") < kinds.index("ValidatingWebhookConfiguration")


# -- alerts and dashboard ----------------------------------------------------------------------------


def _alerts(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    rule = one(objs, "PrometheusRule")
    return {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}


def test_the_alerts_cover_errors_readiness_registries_and_backups(rendered: dict[str, Any]) -> None:
    alerts = _alerts(rendered["feature-rich"])
    assert set(alerts) == {
        "MCPOperatorDown", "MCPOperatorReconcileErrorsRising", "MCPServerNotReady", "MCPRegistrySyncFailing",
        "MCPServerBackupFailing", "MCPServerBackupMissed",
    }  # fmt: skip
    assert alerts["MCPServerNotReady"]["for"] == "10m"
    assert alerts["MCPServerBackupMissed"]["expr"].endswith("> 180000")
    assert "mcpop_backup_runs_total" in alerts["MCPServerBackupFailing"]["expr"]
    assert 'job="mcpop-metrics"' in alerts["MCPOperatorReconcileErrorsRising"]["expr"]


def test_every_alert_expression_parses_as_promql(rendered: dict[str, Any]) -> None:
    alerts = _alerts(rendered["feature-rich"])
    assert promql_errors([(name, a["expr"]) for name, a in alerts.items()]) == ""


def test_a_broken_expression_is_caught_by_the_checker() -> None:
    assert "unclosed left parenthesis" in promql_errors([("broken", "sum(rate(x[5m])")])


def test_the_dashboard_queries_parse_and_cover_the_operator(rendered: dict[str, Any]) -> None:
    dashboard = json.loads(one(rendered["default"], "ConfigMap")["data"]["mcpop-operator.json"])
    exprs = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    # Grafana's variables, as Grafana substitutes them
    concrete = [(n, e.replace("$__rate_interval", "1m").replace("$job", ".*")) for n, e in exprs]
    assert promql_errors(concrete) == ""
    text = " ".join(e for _, e in exprs)
    for metric in ("controller_runtime_reconcile_total", "workqueue_depth", "mcpop_registry_synced",
                   "mcpop_backup_runs_total", "controller_runtime_webhook_latency_seconds_bucket",
                   "mcpop_mcpserver_tools_changed"):  # fmt: skip
        assert metric in text
    # mcpop-bridge's own metrics (tools/bridge-src/metrics.go), scraped per server by its ServiceMonitor
    bridge = (ROOT / "tools" / "bridge-src" / "metrics.go").read_text()
    for metric in ("mcpop_bridge_requests_total", "mcpop_bridge_request_duration_seconds",
                   "mcpop_bridge_auth_failures_total"):  # fmt: skip
        assert metric in text and metric in bridge


# -- bad values --------------------------------------------------------------------------------------

BAD_VALUES = {
    "webhook.failurePolicy=Sometimes": "/webhook/failurePolicy",
    "replicaCount=-1": "/replicaCount",
    "github.retry.maxDelay=soon": "/github/retry/maxDelay",
    "cache.registryTTL=10": "/cache/registryTTL",
    "metrics.port=70000": "/metrics/port",
    "image.pullPolicy=Sometimes": "/image/pullPolicy",
    "image.digest=latest": "/image/digest",
    "webhook.tlsMinVersion=1.1": "/webhook/tlsMinVersion",
    "operator.logLevel=loud": "/operator/logLevel",
    "operator.insecureRegistries={https://registry.internal}": "/operator/insecureRegistries/0",
    "backup.retentionPolicies.daily=-3": "/backup/retentionPolicies/daily",
    "webhook.certManager.issuerKind=Vault": "/webhook/certManager/issuerKind",
    "metrics.serviceMonitor.enabledd=true": "/metrics/serviceMonitor",
    "resources.limits.cpu=lots": "/resources/limits/cpu",
}


@pytest.mark.parametrize("value", BAD_VALUES)
def test_a_wrong_value_is_rejected_with_its_path(value: str) -> None:
    with pytest.raises(subprocess.CalledProcessError) as info:
        render(sets=[value])
    assert f"at '{BAD_VALUES[value]}'" in info.value.stderr


# -- the values table (docs/install.md) ------------------------------------------------------------


def _leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if (
            isinstance(value, dict)
            and value
            and key not in ("resources", "nodeSelector", "affinity", "metricsNamespaceSelector")
        ):
            out += _leaves(value, path + ".")
        else:
            out.append(path)
    return out


#: the page that documents every chart value (it was the README's table)
VALUES_PAGE = ROOT / "docs" / "install.md"


def test_the_docs_values_table_lists_every_value() -> None:
    readme = VALUES_PAGE.read_text()
    table = set(re.findall(r"^\| `([^`]+)` \|", readme, re.M))
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [leaf for leaf in _leaves(values) if leaf not in table]
    assert missing == []


def test_the_values_schema_knows_every_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], val: Any, path: str) -> list[str]:
        if not isinstance(val, dict) or "properties" not in node:
            return []
        unknown = [f"{path}.{k}" for k in val if k not in node["properties"]]
        return unknown + [e for k, v in val.items() if k in node["properties"]
                          for e in walk(node["properties"][k], v, f"{path}.{k}")]  # fmt: skip

    assert walk(schema, values, "") == []


def test_helm_fails_clearly_on_a_kubernetes_older_than_the_crds_need() -> None:
    result = run_helm("template", "x", str(CHART), "--kube-version", "1.24.0", check=False)
    assert result.returncode != 0 and "kubeVersion: >=1.25.0-0" in result.stderr


def test_the_insecure_registries_pattern_is_the_operators_own() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    items = schema["properties"]["operator"]["properties"]["insecureRegistries"]["items"]
    assert items["pattern"] == f"^{REGISTRY_HOST.pattern}$"


# -- the operator's settings model is the one source of flags, variables and defaults ----------------


def _at(values: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        values = values[key]
    return values


def _merged(*files: Any) -> dict[str, Any]:
    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        return {**base, **{k: merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                           for k, v in over.items()}}  # fmt: skip

    out: dict[str, Any] = {}
    for f in files:
        out = merge(out, yaml.safe_load(f.read_text()))
    return out


def _paths(file: Any) -> set[str]:
    return set(_leaves(yaml.safe_load(file.read_text())))


CHARTED = {field: opt for field, opt in options().items() if opt.chart}
#: where the chart's default is the cluster's, not the process's: a log collector wants JSON lines
CHART_OWN_DEFAULTS = {"structured_logging"}


@pytest.mark.parametrize("name", RENDERS)
def test_every_flag_and_variable_the_chart_passes_is_an_operator_setting(name: str, rendered: dict[str, Any]) -> None:
    flags = {flag for opt in options().values() for flag in opt.flags}
    env = {opt.env for opt in options().values() if opt.env}
    objs = rendered[name]
    assert {f"--{flag}" for flag in container_args(objs)} - flags == set()
    assert {v for v in container_env(objs) if not v.startswith(("POD_", "MCPOP_"))} - env == set()


#: on top of the feature-rich values, so that every value of a setting differs from its default in values.yaml
AWAY = {"cache.enabled": True, "cache.registryTTL": "1m", "cache.serverTTL": "2m", "cache.cleanupInterval": "3m",
        "backup.enabled": False}  # fmt: skip


@pytest.fixture(scope="module")
def away_settings() -> OperatorSettings:
    """What the feature-rich values plus AWAY start the operator with."""
    return _settings(objects(render([FEATURE_RICH], sets=[f"{k}={str(v).lower()}" for k, v in AWAY.items()])))


@pytest.mark.parametrize("field", sorted(CHARTED))
def test_each_chart_value_of_a_setting_reaches_it(field: str, away_settings: OperatorSettings) -> None:
    path = CHARTED[field].chart or ""
    given = AWAY.get(path, _at(_merged(FEATURE_RICH), path) if path in _paths(FEATURE_RICH) else None)
    default = _at(_merged(CHART / "values.yaml"), path)
    assert given is not None and given != default, f"set {path} away from its default in the feature-rich values"
    assert getattr(away_settings, field) == getattr(OperatorSettings.model_validate({field: given}), field)


def test_the_chart_defaults_are_the_operators(rendered: dict[str, Any]) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = {field: _at(values, opt.chart or "") for field, opt in CHARTED.items()}
    differ = {
        field for field, value in chart.items() if OperatorSettings.model_validate({field: value}) != OperatorSettings()
    }
    assert differ == CHART_OWN_DEFAULTS


def test_the_docs_values_table_names_the_flag_or_variable_of_each_setting() -> None:
    readme = VALUES_PAGE.read_text()
    rows = dict(re.findall(r"^\| `([^`]+)` \| [^|]* \| ([^\n]*)\|$", readme, re.M))
    names = {opt.chart or "": [f"`{name}`" for name in (*opt.flags, opt.env) if name] for opt in CHARTED.values()}
    wrong = {path: rows.get(path) for path, named in names.items() if not any(n in rows.get(path, "") for n in named)}
    assert wrong == {}


def test_the_operator_network_policy_lets_only_the_selected_namespaces_scrape_metrics() -> None:
    (policy,) = by_kind(objects(render()), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    rules = {tuple(p["port"] for p in rule["ports"]): rule.get("from") for rule in policy["spec"]["ingress"]}
    assert rules[("webhook",)] is None and rules[("health",)] is None  # the apiserver and the kubelet
    assert rules[("metrics",)] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert by_kind(objects(render(sets=["networkPolicy.enabled=false"])), "NetworkPolicy") == []


def test_secure_metrics_are_scraped_over_https_with_the_scrapers_token() -> None:
    objs = objects(render(apis=("monitoring.coreos.com/v1",)))
    assert "--metrics-secure=true" in one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    (endpoint,) = one(objs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https" and endpoint["tlsConfig"] == {"insecureSkipVerify": True}
    assert endpoint["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    (reader,) = [r for r in by_kind(objs, "ClusterRole") if r["metadata"]["name"].endswith("-metrics-reader")]
    assert reader["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
