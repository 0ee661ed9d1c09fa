"""The `mcp` CLI against a real control plane with the operator running, as the cli-user ClusterRole.

Covers: deploy from the embedded catalogue and from an MCPRegistry, `--dry-run=client|server` applies
nothing, `--wait` returns when Ready and times out with the blocking message; apply (created, unchanged,
server dry-run change set); diff exit codes 0/1 and its content after a spec change; status in every
format, `--watch` seeing a scale change and resuming after an API server restart without duplicates;
delete `--wait` returning only when the owned objects are gone, `--all` with confirmation; version;
`kubectl mcp` as a plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubeenv
import pytest
import yaml
from cli_harness import *  # noqa: F403
from cli_harness import mcp, no_traceback, one_line_error, server_file
from kubernetes import client
from operator_harness import *  # noqa: F403
from operator_harness import ROOT, OperatorProcess, Servers, wait
from registry_harness import Registries, registry_operator_process


def _exists(fn: Any) -> bool:
    try:
        fn()
    except client.ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


# ---------------------------------------------------------------------------- deploy


def test_deploy_from_the_embedded_catalogue_waits_until_ready(
    operator: OperatorProcess, servers: Servers, cli_kubeconfig: str
) -> None:
    r = mcp(cli_kubeconfig, "deploy", "filesystem-server", "--wait", "--wait-timeout", "90s").ok()
    assert "mcpservers.mcp.allbeone.io/filesystem-server created" in r.stdout
    assert "mcpserver/filesystem-server is Ready: 1/1 replicas" in r.stdout
    obj = servers.get("filesystem-server")
    assert obj["spec"]["registry"] == {"name": "filesystem-server"}
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"]["conditions"])
    fetched = servers.condition("filesystem-server", "RegistryFetched")
    assert fetched is not None and "embedded catalogue" in fetched["message"]
    managers = {m["manager"] for m in obj["metadata"]["managedFields"]}
    assert "mcp-cli" in managers


def test_deploy_flags_become_the_spec(operator: OperatorProcess, servers: Servers, cli_kubeconfig: str) -> None:
    mcp(cli_kubeconfig, "deploy", "io.github.modelcontextprotocol/server-fetch", "--name", "web", "--replicas", "2",
        "--env", "LOG=debug", "--secret-env", "TOKEN=fetch-secrets/token", "--version", "2026.10.24",
        "--wait", "--wait-timeout", "90s").ok()  # fmt: skip
    spec = servers.get("web")["spec"]
    assert spec["replicas"] == 2
    assert spec["registry"] == {"name": "io.github.modelcontextprotocol/server-fetch", "version": "2026.10.24"}
    assert {"name": "LOG", "value": "debug"} in spec["env"]
    assert {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "fetch-secrets", "key": "token"}}} in spec["env"]
    dep = servers.deployment("web")
    assert dep is not None and dep.spec.replicas == 2


def test_deploy_an_image_in_no_registry(operator: OperatorProcess, servers: Servers, cli_kubeconfig: str) -> None:
    mcp(cli_kubeconfig, "deploy", "custom", "--image", "ghcr.io/example/mcp:1.2", "--port", "9000",
        "--transport", "streamable-http", "--wait", "--wait-timeout", "90s").ok()  # fmt: skip
    spec = servers.get("custom")["spec"]
    assert (spec["image"], spec["tag"], spec["port"], spec["transport"]["type"]) == (
        "ghcr.io/example/mcp", "1.2", 9000, "streamable-http")  # fmt: skip
    dep = servers.deployment("custom")
    assert dep is not None and dep.spec.template.spec.containers[0].image == "ghcr.io/example/mcp:1.2"


def test_deploy_from_an_mcpregistry(
    kube_cluster: kubeenv.KubeCluster, operator_kubeconfig: str, namespace: str, tmp_path: Path, servers: Servers,
    cli_kubeconfig: str,
) -> None:  # fmt: skip
    from mcpop.sources.catalog import load_embedded

    entry = load_embedded().resolve("io.github.modelcontextprotocol/server-time").wire()
    entry["version"] = "9.9.9"
    for p in entry.get("packages") or []:
        p["version"] = "9.9.9"
    core = client.CoreV1Api(kube_cluster.api_client)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="team-catalogue"), data={"servers.json": json.dumps([entry])}))  # fmt: skip
    registries = Registries(kube_cluster.api_client, namespace)
    with registry_operator_process(kube_cluster.api_client, operator_kubeconfig, namespace, tmp_path, "30s"):
        registries.create("team", {"source": {"configMap": {"name": "team-catalogue"}}, "refreshInterval": "1h"})
        registries.wait_synced("team", 1)
        r = mcp(cli_kubeconfig, "deploy", "time", "--registry-ref", "team", "--wait", "--wait-timeout", "90s").ok()
        assert "mcpserver/time is Ready" in r.stdout
        fetched = servers.condition("time", "RegistryFetched")
        assert fetched is not None and "9.9.9 from MCPRegistry team" in fetched["message"], fetched
        assert servers.get("time")["spec"]["registry"] == {"name": "time", "registryRef": "team"}
        # a name the registry does not have: an error naming the registry, nothing applied
        r = mcp(cli_kubeconfig, "deploy", "filesystem", "--registry-ref", "team")
        assert "not in the MCPRegistry team" in one_line_error(r) and r.returncode == 1
        assert not servers.exists("filesystem")
        r = mcp(cli_kubeconfig, "deploy", "time", "--registry-ref", "missing")
        assert 'MCPRegistry "missing" not found' in one_line_error(r)


def test_deploy_dry_run_applies_nothing(operator: OperatorProcess, servers: Servers, cli_kubeconfig: str) -> None:
    r = mcp(cli_kubeconfig, "deploy", "filesystem-server", "--dry-run").ok()
    kinds = [d["kind"] for d in yaml.safe_load_all(r.stdout)]
    assert kinds[0] == "MCPServer" and "Deployment" in kinds and "Service" in kinds
    r = mcp(cli_kubeconfig, "deploy", "filesystem-server", "--dry-run=client", "-o", "json").ok()
    assert json.loads(r.stdout)["kind"] == "List"
    r = mcp(cli_kubeconfig, "deploy", "filesystem-server", "--dry-run=server").ok()
    lines = r.stdout.splitlines()
    assert "MCPServer/filesystem-server created (server dry run)" in lines
    assert "Deployment/filesystem-server created (server dry run)" in lines
    # the CLI role may not write Deployments, so their dry run is refused (403) and compared client-side
    assert "was forbidden (403): compared client-side with what is live" in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if "client-side" in ln]) == 1
    r = mcp(cli_kubeconfig, "deploy", "filesystem-server", "--dry-run=server", "-o", "yaml").ok()
    merged = list(yaml.safe_load_all(r.stdout))
    # the MCPServer, which the role may write, was really asked: a field only the API server fills in
    assert next(d for d in merged if d["kind"] == "MCPServer")["metadata"]["creationTimestamp"]
    assert next(d for d in merged if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"]
    assert not servers.exists("filesystem-server")
    assert servers.deployment("filesystem-server") is None


def test_deploy_without_a_required_variable_names_it_and_the_flag(servers: Servers, cli_kubeconfig: str) -> None:
    r = mcp(cli_kubeconfig, "deploy", "postgres")
    line = one_line_error(r)
    assert r.returncode == 1 and "DATABASE_URL" in line and "--secret-env DATABASE_URL=SECRET/KEY" in line
    assert not servers.exists("postgres")
    mcp(cli_kubeconfig, "deploy", "postgres", "--secret-env", "DATABASE_URL=db/url", "--dry-run=server").ok()


def test_deploy_wait_times_out_with_the_blocking_condition(
    operator: OperatorProcess, kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str
) -> None:
    # no pod may be created in the namespace: the server can never become Ready
    client.CoreV1Api(kube_cluster.api_client).create_namespaced_resource_quota(namespace, client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="no-pods"), spec=client.V1ResourceQuotaSpec(hard={"pods": "0"})))  # fmt: skip
    r = mcp(cli_kubeconfig, "deploy", "fetch", "--wait", "--wait-timeout", "8s")
    no_traceback(r)
    assert r.returncode == 1
    *progress, line = r.stderr.splitlines()
    assert line.startswith("error: timed out after 8s waiting for mcpserver/fetch to become Ready: "), line
    assert "0/1 replicas ready" in line
    assert progress and all(p.startswith("Waiting for mcpserver/fetch: 0/1 replicas ready") for p in progress)
    r2 = mcp(cli_kubeconfig, "status", "fetch").ok()
    assert "✗ Ready: False - Unavailable: 0/1 replicas ready" in r2.stdout


# ---------------------------------------------------------------------------- apply / diff


def test_apply_creates_then_reports_unchanged(operator: OperatorProcess, servers: Servers, cli_kubeconfig: str,
                                              tmp_path: Path) -> None:  # fmt: skip
    f = server_file(tmp_path, "applied", {"registry": {"name": "time"}})
    r = mcp(cli_kubeconfig, "apply", "-f", str(f), "--dry-run=server").ok()
    assert r.stdout.strip() == "MCPServer/applied created (server dry run)"
    assert not servers.exists("applied")
    assert (
        mcp(cli_kubeconfig, "apply", "-f", str(f)).ok().stdout.strip() == "mcpservers.mcp.allbeone.io/applied created"
    )
    obj = servers.get("applied")
    assert next(m["manager"] for m in obj["metadata"]["managedFields"] if m["operation"] == "Apply") == "mcp-cli"
    assert "applied unchanged" in mcp(cli_kubeconfig, "apply", "-f", str(f)).ok().stdout
    f2 = server_file(tmp_path, "applied", {"registry": {"name": "time"}, "replicas": 2}, "applied-2.yaml")
    r = mcp(cli_kubeconfig, "apply", "-f", str(f2), "--dry-run=server").ok()
    assert r.stdout.strip() == "MCPServer/applied configured (spec.replicas) (server dry run)"
    assert "applied configured" in mcp(cli_kubeconfig, "apply", "-f", str(f2)).ok().stdout


def test_apply_registries_and_backups(kube_cluster: kubeenv.KubeCluster, cli_kubeconfig: str, namespace: str,
                                      tmp_path: Path) -> None:  # fmt: skip
    backup = (ROOT / "examples" / "01-mcpserverbackup-s3.yaml").read_text()
    registry = "apiVersion: mcp.allbeone.io/v1\nkind: MCPRegistry\nmetadata: {name: team}\n" \
               "spec: {source: {configMap: {name: team-catalogue}}}\n"  # fmt: skip
    f = tmp_path / "both.yaml"
    f.write_text(registry + "---\n" + backup)
    r = mcp(cli_kubeconfig, "apply", "-f", str(f)).ok()
    assert r.stdout.splitlines() == ["mcpregistries.mcp.allbeone.io/team created",
                                     "mcpserverbackups.mcp.allbeone.io/filesystem-server-backup created"]  # fmt: skip
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    got = custom.get_namespaced_custom_object("mcp.allbeone.io", "v1", namespace, "mcpserverbackups",
                                              "filesystem-server-backup")  # fmt: skip
    assert got["spec"]["storage"]["s3"]["bucket"] == "mcp-backups"
    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(registry.replace("name: team}", f"name: team, namespace: {namespace}}}"))
    r = mcp(cli_kubeconfig, "apply", "-f", str(pinned), "-n", "elsewhere")
    assert r.returncode == 2 and f'("{namespace}") does not match --namespace "elsewhere"' in one_line_error(r)
    assert mcp(cli_kubeconfig, "diff", "-f", str(f)).returncode == 0


def test_apply_rejects_bad_files_before_applying_any(servers: Servers, cli_kubeconfig: str, tmp_path: Path) -> None:
    good = server_file(tmp_path, "good", {"registry": {"name": "time"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: bad}\nspec: {replicas: -1}\n")
    r = mcp(cli_kubeconfig, "apply", "-f", str(good), "-f", str(bad))
    no_traceback(r)
    assert r.returncode == 2 and "spec.replicas" in r.stderr
    assert not servers.exists("good")


def test_diff_exit_codes_and_content_after_a_spec_change(
    operator: OperatorProcess, servers: Servers, cli_kubeconfig: str, tmp_path: Path
) -> None:
    f = server_file(tmp_path, "differ", {"registry": {"name": "time"}})
    r = mcp(cli_kubeconfig, "diff", "-f", str(f))
    assert r.returncode == 1, r.stderr
    assert "+kind: Deployment" in r.stdout and "diff -u -N live/apps.v1.Deployment." in r.stdout
    assert "Deployment/differ created" in r.stderr
    mcp(cli_kubeconfig, "apply", "-f", str(f)).ok()
    servers.wait_ready("differ")
    r = mcp(cli_kubeconfig, "diff", "-f", str(f))
    assert (r.returncode, r.stdout) == (0, ""), r.stdout + r.stderr
    assert {"MCPServer/differ unchanged", "Deployment/differ unchanged", "Service/differ unchanged"} <= set(
        r.stderr.splitlines()
    )

    f2 = server_file(tmp_path, "differ", {"registry": {"name": "time"}, "replicas": 3}, "differ-3.yaml")
    r = mcp(cli_kubeconfig, "diff", "-f", str(f2))
    assert r.returncode == 1, r.stderr
    assert "-  replicas: 1\n+  replicas: 3\n" in r.stdout  # the MCPServer and the Deployment
    assert r.stdout.count("diff -u -N") >= 2
    summary = r.stderr.splitlines()
    assert "MCPServer/differ configured (spec.replicas)" in summary
    assert "Deployment/differ configured (spec.replicas)" in summary
    assert "PodDisruptionBudget/differ created" in summary  # more than one replica: a PDB is rendered
    assert servers.get("differ")["spec"].get("replicas") == 1  # nothing applied

    # a member no longer rendered shows as pruned: back to one replica after three
    mcp(cli_kubeconfig, "apply", "-f", str(f2)).ok()
    servers.wait_ready("differ")
    wait(lambda: "PodDisruptionBudget/differ unchanged" in mcp(cli_kubeconfig, "diff", "-f", str(f2)).stderr,
         timeout=60, message="the PDB applied")  # fmt: skip
    r = mcp(cli_kubeconfig, "diff", "-f", str(f))
    assert r.returncode == 1 and "PodDisruptionBudget/differ would be pruned" in r.stderr.splitlines()


def test_diff_error_exits_2(cli_kubeconfig: str, tmp_path: Path) -> None:
    r = mcp(cli_kubeconfig, "diff", "-f", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "cannot read" in one_line_error(r)


# ---------------------------------------------------------------------------- status


def test_status_in_every_format(operator: OperatorProcess, servers: Servers, cli_kubeconfig: str,
                                namespace: str) -> None:  # fmt: skip
    mcp(cli_kubeconfig, "deploy", "filesystem-server", "--wait").ok()
    r = mcp(cli_kubeconfig, "status", "filesystem-server").ok()
    lines = r.stdout.splitlines()
    assert lines[:4] == ["Name: filesystem-server", f"Namespace: {namespace}", "Phase: Running", "Replicas: 1/1"]
    assert lines[4] == f"Endpoint: filesystem-server.{namespace}.svc.cluster.local:8000"
    assert lines[5].startswith("Age: ") and lines[6] == "Registry: filesystem-server"
    assert lines[7:9] == ["", "Conditions:"] and "  ✓ Ready: True - 1/1 replicas ready" in lines
    assert "  ✓ RegistryFetched: True - io.github.modelcontextprotocol/server-filesystem" in r.stdout
    as_json = json.loads(mcp(cli_kubeconfig, "status", "filesystem-server", "--output", "json").ok().stdout)
    assert as_json["kind"] == "MCPServer" and as_json["status"]["phase"] == "Running"
    as_yaml = yaml.safe_load(mcp(cli_kubeconfig, "status", "filesystem-server", "-o", "yaml").ok().stdout)
    assert as_yaml == as_json | {"metadata": as_yaml["metadata"]} and as_yaml["metadata"]["name"] == "filesystem-server"
    table = mcp(cli_kubeconfig, "status").ok().stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "READY", "ENDPOINT", "REGISTRY", "AGE"]
    assert table[1].split()[:3] == ["filesystem-server", "Running", "1/1"]
    wide = mcp(cli_kubeconfig, "status", "-A").ok().stdout.splitlines()
    assert wide[0].split()[0] == "NAMESPACE" and any(ln.split()[:2] == [namespace, "filesystem-server"] for ln in wide)
    listed = json.loads(mcp(cli_kubeconfig, "status", "-o", "json").ok().stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["filesystem-server"]


def test_status_shows_recent_warning_events(operator: OperatorProcess, kube_cluster: kubeenv.KubeCluster,
                                            servers: Servers, cli_kubeconfig: str) -> None:  # fmt: skip
    servers.create({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "broken"},
                    "spec": {"registry": {"name": "no-such-server"}}})  # fmt: skip
    servers.wait_condition("broken", "Stalled", "True")

    def with_events() -> str | None:
        out = mcp(cli_kubeconfig, "status", "broken").stdout
        return out if "Events:" in out else None

    r = wait(with_events, timeout=30, message="the InvalidSpec event")
    assert "✗ Ready: False - InvalidSpec: spec.registry.name: " in r
    assert "✗ Stalled: True - InvalidSpec: " in r
    events = r.split("Events:\n", 1)[1].splitlines()
    assert events[0].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert events[1].split()[:2] == ["Warning", "InvalidSpec"] and "mcpop" in events[1]


def test_status_watch_sees_a_scale_change(operator: OperatorProcess, servers: Servers, cli_kubeconfig: str,
                                          background: Any) -> None:  # fmt: skip
    mcp(cli_kubeconfig, "deploy", "watched", "--image", "ghcr.io/example/mcp:1", "--wait").ok()
    bg = background(cli_kubeconfig, "status", "watched", "--watch")
    bg.wait_for("Replicas: 1/1")
    servers.patch("watched", {"spec": {"replicas": 2}})
    bg.wait_for("Replicas: 2/2", timeout=60)
    table = background(cli_kubeconfig, "status", "--watch")
    table.wait_for("watched")
    servers.patch("watched", {"spec": {"replicas": 3}})
    out = table.wait_for("3/3", timeout=60)
    r = bg.stop()
    no_traceback(r)
    assert r.returncode == 130
    rows = out.splitlines()
    assert rows[0].split()[0] == "NAME" and len(rows) == len(set(rows))  # no row printed twice


def test_status_watch_resumes_after_an_api_server_restart_without_duplicates(
    operator: OperatorProcess, kube_cluster: kubeenv.KubeCluster, servers: Servers, cli_kubeconfig: str,
    background: Any,
) -> None:  # fmt: skip
    if not kube_cluster.state_dir:
        pytest.skip("needs the control plane tools/testenv started (to restart its API server)")
    mcp(cli_kubeconfig, "deploy", "resumed", "--image", "ghcr.io/example/mcp:1", "--wait").ok()
    bg = background(cli_kubeconfig, "status", "--watch", "-o", "json")
    bg.wait_for('"resumed"')
    restart = [sys.executable, str(ROOT / "tools" / "testenv"), "restart-apiserver", "--state-dir",
               kube_cluster.state_dir, "--downtime", "2"]  # fmt: skip
    subprocess.run(restart, check=True, capture_output=True, timeout=180)
    servers.patch("resumed", {"spec": {"replicas": 2}})
    try:
        wait(lambda: '"replicas": 2' in bg.stdout(), timeout=120, message="the scale change after the restart")
    except TimeoutError:
        raise AssertionError(f"not seen; stderr:\n{bg.stderr()}") from None
    r = bg.stop()
    docs = [json.loads(d) for d in _json_docs(r.stdout)]
    versions = [(d["metadata"]["uid"], d["metadata"]["resourceVersion"]) for d in docs if d.get("kind") == "MCPServer"]
    assert len(versions) == len(set(versions)), "an object version was printed twice"
    assert "resuming" in r.stderr


def _json_docs(text: str) -> list[str]:
    """Split concatenated pretty-printed JSON documents."""
    decoder = json.JSONDecoder()
    out, i = [], 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, end = decoder.raw_decode(text, i)
        out.append(json.dumps(obj))
        i = end
    return out


# ---------------------------------------------------------------------------- delete


def test_delete_wait_returns_only_when_owned_objects_are_gone(
    operator: OperatorProcess, kube_cluster: kubeenv.KubeCluster, servers: Servers, cli_kubeconfig: str,
    namespace: str,
) -> None:  # fmt: skip
    mcp(cli_kubeconfig, "deploy", "doomed", "--image", "ghcr.io/example/mcp:1", "--replicas", "2", "--wait").ok()
    assert servers.deployment("doomed") is not None
    r = mcp(cli_kubeconfig, "delete", "doomed", "--wait", "--wait-timeout", "90s").ok()
    assert "mcpservers.mcp.allbeone.io/doomed deleted" in r.stdout and "Waiting for deletion" in r.stderr
    core, policy = client.CoreV1Api(kube_cluster.api_client), client.PolicyV1Api(kube_cluster.api_client)
    assert not servers.exists("doomed") and servers.deployment("doomed") is None
    assert not _exists(lambda: core.read_namespaced_service("doomed", namespace))
    assert not _exists(lambda: core.read_namespaced_service_account("doomed", namespace))
    assert not _exists(lambda: policy.read_namespaced_pod_disruption_budget("doomed", namespace))


def test_delete_wait_times_out_naming_what_is_left(
    operator: OperatorProcess, kube_cluster: kubeenv.KubeCluster, servers: Servers, cli_kubeconfig: str,
    namespace: str,
) -> None:  # fmt: skip
    mcp(cli_kubeconfig, "deploy", "stuck", "--image", "ghcr.io/example/mcp:1", "--wait").ok()
    apps = client.AppsV1Api(kube_cluster.api_client)
    apps.patch_namespaced_deployment("stuck", namespace, {"metadata": {"finalizers": ["example.com/hold"]}})
    try:
        r = mcp(cli_kubeconfig, "delete", "stuck", "--wait", "--wait-timeout", "6s")
        no_traceback(r)
        last = r.stderr.splitlines()[-1]
        assert r.returncode == 1 and last.startswith(
            "error: timed out after 6s waiting for the deletion; still present:"
        )
        assert "Deployment/stuck" in last
    finally:
        apps.patch_namespaced_deployment("stuck", namespace, {"metadata": {"finalizers": None}})


def test_delete_all_asks_for_confirmation(servers: Servers, cli_kubeconfig: str) -> None:
    for name in ("a1", "a2"):
        servers.create({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": name},
                        "spec": {"image": "ghcr.io/example/mcp"}})  # fmt: skip
    r = mcp(cli_kubeconfig, "delete", "--all", stdin="n\n")
    assert r.returncode == 1 and "Delete 2 MCPServer(s)" in r.stderr and "a1, a2" in r.stderr
    assert servers.exists("a1") and servers.exists("a2")
    r = mcp(cli_kubeconfig, "delete", "--all", stdin="y\n").ok()
    assert "a1 deleted" in r.stdout and "a2 deleted" in r.stdout


def test_delete_all_with_yes_does_not_ask(servers: Servers, cli_kubeconfig: str) -> None:
    servers.create({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "b1"},
                    "spec": {"image": "ghcr.io/example/mcp"}})  # fmt: skip
    r = mcp(cli_kubeconfig, "delete", "--all", "--yes").ok()
    assert "[y/N]" not in r.stderr and "b1 deleted" in r.stdout


def test_delete_server_dry_run_is_checked_by_the_apiserver_and_deletes_nothing(
    servers: Servers, cli_kubeconfig: str
) -> None:
    servers.create({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "kept"},
                    "spec": {"image": "ghcr.io/example/mcp"}})  # fmt: skip
    r = mcp(cli_kubeconfig, "delete", "kept", "--dry-run=server", "-o", "json").ok()
    assert json.loads(r.stdout)["items"][0]["metadata"]["name"] == "kept"
    assert servers.exists("kept")


def test_delete_dry_run_prints_what_would_be_deleted_and_deletes_nothing(servers: Servers, cli_kubeconfig: str) -> None:
    servers.create({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "kept2"},
                    "spec": {"image": "ghcr.io/example/mcp"}})  # fmt: skip
    r = mcp(cli_kubeconfig, "delete", "kept2", "--dry-run").ok()
    assert r.stdout == "mcpservers.mcp.allbeone.io/kept2 deleted (dry run)\n"
    assert servers.exists("kept2")


# ---------------------------------------------------------------------------- version, plugin


def test_version_reports_client_server_operator_and_crds(
    kube_cluster: kubeenv.KubeCluster, namespace: str, cli_kubeconfig: str
) -> None:
    apps = client.AppsV1Api(kube_cluster.api_client)
    # the labels `helm template chart/mcp-operator` gives the Deployment
    labels = {"app.kubernetes.io/name": "mcp-operator", "app.kubernetes.io/instance": "mcp-operator",
              "app.kubernetes.io/part-of": "mcpop", "app.kubernetes.io/component": "operator",
              "app.kubernetes.io/version": "0.1.0"}  # fmt: skip
    apps.create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mcpop-operator", "labels": labels},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "op"}}, "template": {
            "metadata": {"labels": {"app": "op"}}, "spec": {"containers": [kubeenv.restricted_container(
                "manager", "ghcr.io/example/mcpop:0.1.0")]}}},
    })  # fmt: skip
    r = mcp(cli_kubeconfig, "version").ok()
    assert r.stdout.splitlines()[0] == "Client Version: 0.1.0"
    assert "Server Version: v1." in r.stdout
    assert f"Operator Version: 0.1.0 ({namespace}/mcpop-operator)" in r.stdout
    assert "CRD mcpservers.mcp.allbeone.io: served v1, storage v1" in r.stdout
    info = json.loads(mcp(cli_kubeconfig, "version", "-o", "json").ok().stdout)
    assert info["clientVersion"]["version"] == "0.1.0" and info["serverVersion"]["gitVersion"].startswith("v1.")
    assert {c["name"] for c in info["crds"] if c["installed"]} >= {"mcpservers.mcp.allbeone.io"}
    assert yaml.safe_load(mcp(cli_kubeconfig, "version", "-o", "yaml").ok().stdout) == info


def test_kubectl_mcp_works_as_a_plugin(servers: Servers, cli_kubeconfig: str, tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    servers.create({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": "plugged"},
                    "spec": {"image": "ghcr.io/example/mcp"}})  # fmt: skip
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "kubectl-mcp"  # what `pip install` puts on PATH, pointing at this checkout
    shim.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                    "from mcpop.cli.main import run\nrun()\n")  # fmt: skip
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "KUBECONFIG": cli_kubeconfig}
    p = subprocess.run(["kubectl", "mcp", "status", "plugged"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "Name: plugged"


def test_the_cli_role_writes_no_workload_and_nothing_outside_its_namespaces(
    kube_cluster: kubeenv.KubeCluster, cli_kubeconfig: str, namespace: str
) -> None:
    """The attack: the CLI user creating a Deployment (a pod as any ServiceAccount of the namespace), a Secret,
    a Role, or an MCPServer in a namespace it is not bound in. The API server refuses each."""
    from kubernetes import config

    api = config.new_client_from_config(cli_kubeconfig)
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    dep = {"metadata": {"name": "escape"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
        "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}  # fmt: skip
    attempts = {
        "deployment": lambda: apps.create_namespaced_deployment(namespace, dep, dry_run="All"),
        "secret": lambda: core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}}, dry_run="All"),
        "service account": lambda: core.create_namespaced_service_account(namespace, {"metadata": {"name": "s"}},
                                                                          dry_run="All"),
        "role": lambda: client.RbacAuthorizationV1Api(api).create_namespaced_role(
            namespace, {"metadata": {"name": "r"}, "rules": []}, dry_run="All"),
        "mcpserver elsewhere": lambda: client.CustomObjectsApi(api).create_namespaced_custom_object(
            "mcp.allbeone.io", "v1", "default", "mcpservers", {"apiVersion": "mcp.allbeone.io/v1",
            "kind": "MCPServer", "metadata": {"name": "x"}, "spec": {"image": "x"}}, dry_run="All"),
    }  # fmt: skip
    for what, call in attempts.items():
        with pytest.raises(client.ApiException) as err:
            call()
        assert err.value.status == 403, what
