"""End to end on the real node (issue #12 §2): the chart installs the operator from its own image, it runs
in-cluster on the real kubelet under its RBAC, the apiserver reaches its webhooks, and servers from the
catalogue run there from the images the renderer names and answer the official MCP SDK client through
their Services."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import kubeenv
import oci_registry
import pytest
import realnode
import yaml
from bridge_process import http_get, post_initialize

from mcpop.render.normalize import BRIDGE_IMAGE, STDIO_IMAGES

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/mcpop:e2e"
RELEASE, NAMESPACE = "mcpop", "mcpop-system"
#: the runtime images stdio servers run in, set through the chart's stdio.* values (see `installed`)
NODE_RUNTIME, PYTHON_RUNTIME = "localhost/mcpop/node-runtime:e2e", "localhost/mcpop/python-runtime:e2e"
#: which tools/test-images archive each of them is built as
RUNTIME_SOURCES = {NODE_RUNTIME: STDIO_IMAGES["node"], PYTHON_RUNTIME: STDIO_IMAGES["python"]}


def tool(*args: str, timeout: float = 1800) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def operator_archive(dest: Path) -> Path:
    """The operator image (tools/image build, cached by content) as an OCI archive."""
    ref = tool("tools/image", "build").strip().splitlines()[-1]
    layout = dest / "layout"
    tool("tools/image", "export", ref, str(layout))
    archive = dest / "operator.tar"
    with tarfile.open(archive, "w") as tf:
        for entry in sorted(layout.iterdir()):
            tf.add(entry, arcname=entry.name)
    return archive


@pytest.fixture(scope="module")
def installed(real_cluster, tmp_path_factory) -> Iterator[kubeenv.KubeCluster]:
    work = tmp_path_factory.mktemp("e2e")
    kubeenv.testenv("load-image", "--state-dir", str(real_cluster.state_dir), str(operator_archive(work)), IMAGE)
    values = {
        "image": {"repository": IMAGE.rsplit(":", 1)[0], "tag": IMAGE.rsplit(":", 1)[1], "pullPolicy": "Never"},
        "nodeSelector": {realnode.NODE_LABEL[0]: realnode.NODE_LABEL[1]},
        "tolerations": [{**realnode.NODE_TAINT, "operator": "Equal"}],
        # the node's in-house registry speaks HTTP; a changed Secret is read again within 2 s, not at a random
        # point of the default 30 s poll (the memory server's test waits for the pod it rolls)
        "operator": {"insecureRegistries": [realnode.REGISTRY], "extraArgs": ["--secret-poll-interval=2s"]},
        # the runtime images built here cannot carry the upstream digests the defaults pin, so the chart points
        # the operator at them by name, as an air-gapped cluster points it at its mirror
        "stdio": {"nodeImage": NODE_RUNTIME, "pythonImage": PYTHON_RUNTIME},
    }
    (work / "values.yaml").write_text(yaml.safe_dump(values))
    helm = subprocess.run(["tools/helm", "path"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    real_cluster.core.create_namespace({"metadata": {"name": NAMESPACE, "labels": dict(kubeenv.RESTRICTED_LABELS)}})
    proc = subprocess.run(
        [helm, "install", RELEASE, "chart/mcp-operator", "-n", NAMESPACE, "-f", str(work / "values.yaml"),
         "--kubeconfig", real_cluster.kubeconfig, "--wait", "--timeout", "180s"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield real_cluster


def operator_pod(cluster):
    pods = cluster.core.list_namespaced_pod(NAMESPACE, label_selector="app.kubernetes.io/name=mcp-operator").items
    assert len(pods) == 1
    return pods[0]


def test_the_chart_runs_the_operator_from_its_image_on_the_real_kubelet(installed):
    pod = operator_pod(installed)
    assert pod.spec.node_name == realnode.NODE_NAME
    assert kubeenv.pod_ready(pod)  # its real readiness probe passed
    assert pod.spec.containers[0].image == IMAGE


def test_the_operator_runs_under_the_restricted_profile_with_a_read_only_root(installed):
    container = operator_pod(installed).spec.containers[0]
    assert container.security_context.read_only_root_filesystem
    assert container.security_context.allow_privilege_escalation is False


def test_the_apiserver_reaches_the_operators_webhooks_and_the_operator_reconciles(installed, namespace):
    """The webhooks fail closed (failurePolicy Fail): an MCPServer is admitted only when the apiserver
    reaches the operator pod through its Service on the real node; the operator (talking to the apiserver
    from the pod) then makes its Deployment."""
    server = {
        "apiVersion": "mcp.allbeone.io/v1",
        "kind": "MCPServer",
        "metadata": {"name": "e2e", "namespace": namespace},
        "spec": {"image": "registry.invalid/mcpop/test", "tag": "1", "port": 8080, "replicas": 1},
    }
    # the first calls may find the webhook Service's endpoint not yet programmed by kube-proxy: retry
    kubeenv.wait_until(
        lambda: kubeenv.apply_object(installed.api_client, server), timeout=60, message="MCPServer e2e admitted"
    )
    kubeenv.wait_until(
        lambda: installed.apps.read_namespaced_deployment("e2e", namespace),
        timeout=60,
        message="the operator to create Deployment e2e",
    )


# ---------------------------------------------------------------- servers from the catalogue, really serving

CLIENT = REPO / "tests" / "images" / "mcp_client.py"


@pytest.fixture(scope="module")
def gateway(installed: kubeenv.KubeCluster) -> str:
    """The node runtime image with the catalogue's npm servers (tools/test-images) and the mcpop-bridge image
    its init container copies the bridge from, loaded under their exact names."""
    load_test_image(installed, NODE_RUNTIME)
    load_bridge_image(installed)
    return NODE_RUNTIME


def mcp(cluster: kubeenv.KubeCluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The mcp CLI against the cluster, as a user runs it."""
    return subprocess.run([sys.executable, "-c", "from mcpop.cli.main import run; run()", *args,
                           "--kubeconfig", cluster.kubeconfig], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def sdk_client(
    cluster: kubeenv.KubeCluster,
    namespace: str,
    name: str,
    tool: str,
    arguments: str = "{}",
    transport: str = "streamable-http",
    then: tuple[tuple[str, str], ...] = (),
) -> dict:
    """The official MCP SDK client (its own venv, see tests/images) against the server's Service: initialize,
    tools/list, one tools/call, then the calls of `then` (tool, arguments JSON) in the same session. An attempt
    may take a minute: a uvx child's first start installs its wheels into the cache (CI saw 20 s run out)."""
    sys.path.insert(0, str(REPO / "tests" / "images"))
    from runc_harness import sdk_python

    url = service_url(cluster, namespace, name)
    calls = [arg for call, args in ((tool, arguments), *then) for arg in ("--call", call, "--arguments", args)]
    proc = subprocess.run([str(sdk_python()), str(CLIENT), transport, url, *calls, "--wait", "120",
                           "--timeout", "60"], capture_output=True, text=True, timeout=300)  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"{proc.stderr[-3000:]}\n{server_logs(cluster, namespace, name)}")
    return json.loads(proc.stdout)


def server_logs(cluster: kubeenv.KubeCluster, namespace: str, name: str, container: str = "mcp-server") -> str:
    """The last log lines of a container of the server's pods (what a failed client call shows beside its
    traceback; `mcpop-bridge`: the bridge in front of an HTTP server)."""
    parts = []
    for pod in server_pods(cluster, namespace, name):
        try:
            log = cluster.core.read_namespaced_pod_log(pod.metadata.name, namespace, container=container,
                                                       tail_lines=40)  # fmt: skip
        except Exception as exc:  # the logs must not hide the failure they explain
            log = str(exc)
        parts.append(f"pod {pod.metadata.name} log:\n{log}")
    return "\n".join(parts)


PLACEMENT = {
    "nodeSelector": {realnode.NODE_LABEL[0]: realnode.NODE_LABEL[1]},
    "tolerations": [{**realnode.NODE_TAINT, "operator": "Equal"}],
}
#: the same placement, as `mcp deploy` takes it
_TAINT = realnode.NODE_TAINT
PLACEMENT_FLAGS = ("--node-selector", "=".join(realnode.NODE_LABEL),
                   "--toleration", f"{_TAINT['key']}={_TAINT['value']}:{_TAINT['effect']}")  # fmt: skip


def server_pods(cluster: kubeenv.KubeCluster, namespace: str, name: str) -> list:
    """The pods of the MCPServer `name` (by its instance label)."""
    return cluster.core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={name}").items


def serving_pods(cluster: kubeenv.KubeCluster, namespace: str, name: str) -> list:
    """The server's pods once its rollout is complete: all on the real node, Ready, none terminating."""
    dep = cluster.apps.read_namespaced_deployment(name, namespace)
    st = dep.status
    want = dep.spec.replicas
    if dep.metadata.generation != st.observed_generation or not (
        st.updated_replicas == st.ready_replicas == st.available_replicas == want and (st.replicas or 0) == want
    ):
        return []
    live = [p for p in server_pods(cluster, namespace, name) if p.metadata.deletion_timestamp is None]
    if len(live) != want or not all(p.spec.node_name == realnode.NODE_NAME and kubeenv.pod_ready(p) for p in live):
        return []
    return live


def diagnosis(cluster: kubeenv.KubeCluster, namespace: str, name: str) -> str:
    """What a failed wait shows: the MCPServer's status, its pods' states, the namespace's events and the
    operator's last log lines."""
    from kubernetes import client

    parts = []
    try:
        obj = client.CustomObjectsApi(cluster.api_client).get_namespaced_custom_object(
            "mcp.allbeone.io", "v1", namespace, "mcpservers", name)  # fmt: skip
        parts.append("status: " + json.dumps(obj.get("status"), indent=1))
    except client.ApiException as exc:
        parts.append(f"MCPServer: HTTP {exc.status}")
    for pod in cluster.core.list_namespaced_pod(namespace).items:
        states = [(c.name, c.ready, c.restart_count, c.state.to_dict()) for c in pod.status.container_statuses or []]
        parts.append(f"pod {pod.metadata.name} on {pod.spec.node_name}: {pod.status.phase} {states}")
    for ev in cluster.core.list_namespaced_event(namespace).items[-25:]:
        parts.append(f"event {ev.involved_object.kind}/{ev.involved_object.name} {ev.reason}: {ev.message}")
    try:
        op = operator_pod(cluster).metadata.name
        parts.append(cluster.core.read_namespaced_pod_log(op, NAMESPACE, tail_lines=40))
    except Exception as exc:  # the diagnosis must not hide the failure it explains
        parts.append(f"operator log: {exc}")
    return "\n".join(parts)


def wait_serving(cluster: kubeenv.KubeCluster, namespace: str, name: str, timeout: float = 300) -> list:
    try:
        return kubeenv.wait_until(lambda: serving_pods(cluster, namespace, name), timeout=timeout,
                                  message=f"{name} Ready on the real node")  # fmt: skip
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{diagnosis(cluster, namespace, name)}") from None


def wait_verified(cluster: kubeenv.KubeCluster, namespace: str, name: str, timeout: float = 120) -> dict:
    """The Verified condition once True for the MCPServer's current generation (the in-cluster operator's MCP
    handshake through the Service, made once the rollout of that generation is complete: a spec change, such
    as an approval, rolls the pods, and the verdict of the generation before says nothing of the new ones)."""
    from kubernetes import client

    def verified() -> dict | None:
        obj = client.CustomObjectsApi(cluster.api_client).get_namespaced_custom_object(
            "mcp.allbeone.io", "v1", namespace, "mcpservers", name)  # fmt: skip
        conds = (obj.get("status") or {}).get("conditions") or []
        c = next((c for c in conds if c["type"] == "Verified"), None)
        current = c is not None and c.get("observedGeneration") == obj["metadata"]["generation"]
        return c if current and c["status"] == "True" else None

    try:
        return kubeenv.wait_until(verified, timeout=timeout, message=f"{name} Verified")  # type: ignore[no-any-return]
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{diagnosis(cluster, namespace, name)}") from None


def service_url(cluster: kubeenv.KubeCluster, namespace: str, name: str) -> str:
    """The Service's MCP endpoint by ClusterIP (the host reaches Services through kube-proxy's rules)."""
    svc = cluster.core.read_namespaced_service(name, namespace)
    path = (svc.metadata.annotations or {}).get("mcp.allbeone.io/path", "/mcp")
    return f"http://{svc.spec.cluster_ip}:{svc.spec.ports[0].port}{path}"


def condition(cluster: kubeenv.KubeCluster, namespace: str, name: str, kind: str) -> dict | None:
    from kubernetes import client

    obj = client.CustomObjectsApi(cluster.api_client).get_namespaced_custom_object(
        "mcp.allbeone.io", "v1", namespace, "mcpservers", name
    )
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def mcp_status(cluster: kubeenv.KubeCluster, namespace: str, name: str) -> dict:
    r = mcp(cluster, "status", name, "-n", namespace, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_the_memory_server_deployed_from_the_catalogue_serves_mcp_on_the_real_node(
    installed: kubeenv.KubeCluster, gateway: str, namespace: str
) -> None:
    """`mcp deploy` from the embedded catalogue; placed on the real node, it serves MCP to the SDK client through
    its Service and keeps an entity between create_entities and read_graph of one session, the operator verifies
    it, `mcp server logs` shows its lines, a Secret change rolls it, and `mcp delete --wait` removes everything."""
    name = "server-memory"
    installed.core.create_namespaced_secret(namespace, {"metadata": {"name": "memory-note"},
                                                        "stringData": {"note": "one"}})  # fmt: skip
    r = mcp(installed, "deploy", name, "-n", namespace, *PLACEMENT_FLAGS,
            "--secret-env", "MEMORY_NOTE=memory-note/note")  # fmt: skip
    assert r.returncode == 0, r.stderr
    pods = wait_serving(installed, namespace, name)
    entity = {"entities": [{"name": "mcpop", "entityType": "project", "observations": ["runs MCP servers"]}]}
    report = sdk_client(installed, namespace, name, "create_entities", json.dumps(entity), then=(("read_graph", "{}"),))
    assert report["serverInfo"]["name"] == "memory-server"
    assert "read_graph" in report["tools"] and not any(c["isError"] for c in report["calls"])
    # the graph is the server process's own: one session, one process, so read_graph sees what create_entities made
    assert [e["name"] for e in json.loads(report["call"]["text"])["entities"]] == ["mcpop"]

    assert wait_verified(installed, namespace, name)["reason"] == "Handshake"
    assert mcp_status(installed, namespace, name)["status"]["mcp"]["serverInfo"]["name"] == "memory-server"

    logs = mcp(installed, "server", "logs", name, "-n", namespace, "--tail", "200")
    assert logs.returncode == 0, logs.stderr
    assert "mcpop-bridge: " in logs.stdout and "session" in logs.stdout

    # a change to the Secret the server reads rolls its pod; the new pod serves
    installed.core.patch_namespaced_secret("memory-note", namespace, {"stringData": {"note": "two"}})
    old = {p.metadata.name for p in pods}
    kubeenv.wait_until(
        lambda: (now := serving_pods(installed, namespace, name)) and not old & {p.metadata.name for p in now},
        timeout=300, message="a new pod after the Secret change",
    )  # fmt: skip
    assert sdk_client(installed, namespace, name, "read_graph")["call"]["isError"] is False

    r = mcp(installed, "delete", name, "-n", namespace, "--wait", "--wait-timeout", "3m")
    assert r.returncode == 0, r.stderr
    assert not installed.apps.list_namespaced_deployment(namespace).items
    assert [s.metadata.name for s in installed.core.list_namespaced_service(namespace).items] == []


def test_the_seeds_registry_enriched_example_serves_mcp_on_the_real_node(
    installed: kubeenv.KubeCluster, gateway: str, namespace: str
) -> None:
    """examples/03 as written (the filesystem server, enriched from the catalogue), placed on the real node."""
    server = yaml.safe_load((REPO / "examples" / "03-mcpserver-registry-enriched.yaml").read_text())
    server["metadata"]["namespace"] = namespace
    server["spec"].update(PLACEMENT)
    kubeenv.apply_object(installed.api_client, server)
    name = server["metadata"]["name"]
    wait_serving(installed, namespace, name)
    report = sdk_client(installed, namespace, name, "list_allowed_directories")
    assert report["serverInfo"]["name"] == "secure-filesystem-server"
    assert report["call"]["isError"] is False
    r = mcp(installed, "delete", name, "-n", namespace, "--wait", "--wait-timeout", "3m")
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- the other registry classes, really serving


@functools.cache
def bridge_archive() -> str:
    """The mcpop-bridge image's archive (tools/bridge image: built once per content, its path names it)."""
    return subprocess.run(["tools/bridge", "image"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


@functools.cache
def built_image_archives() -> dict[str, str]:
    """tools/test-images' archives by image name (built once per content, their paths name it)."""
    return oci_registry.image_archives()


def import_image(cluster: kubeenv.KubeCluster, archive: str, name: str) -> None:
    """The archive imported into the real node's containerd under exactly `name`, once per node: the archive's path
    names its content and the node's image garbage collection is off, so an import done stays (each import copies
    the archive and unpacks it again: seconds, for the bridge image every test of a front door used to import)."""
    imported = cluster.extra.setdefault("imported_images", set())
    if (archive, name) not in imported:
        kubeenv.testenv("load-image", "--state-dir", str(cluster.state_dir), archive, name)
        imported.add((archive, name))


def load_bridge_image(cluster: kubeenv.KubeCluster) -> None:
    """The mcpop-bridge image (tools/bridge image), imported under the name the renderer emits."""
    import_image(cluster, bridge_archive(), BRIDGE_IMAGE)


def load_test_image(cluster: kubeenv.KubeCluster, name: str) -> None:
    """A tools/test-images image, imported into the real node's containerd under exactly `name`."""
    import_image(cluster, built_image_archives()[RUNTIME_SOURCES.get(name, name)], name)


def in_house_registry(cluster: kubeenv.KubeCluster, namespace: str, entries: list[dict]) -> None:
    """An MCPRegistry synced from a ConfigMap of server.json entries, as a platform team publishes its own; Ready
    (a server then resolves from the synced catalogue, not the embedded one)."""
    from kubernetes import client

    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "catalogue"},
                                                          "data": {"servers.json": json.dumps(entries)}})  # fmt: skip
    registry = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPRegistry", "metadata": {"name": "in-house",
                "namespace": namespace}, "spec": {"source": {"configMap": {"name": "catalogue"}},
                                                  "refreshInterval": "1h"}}  # fmt: skip
    # the first calls may find the webhook Service's endpoint not yet programmed by kube-proxy: retry
    kubeenv.wait_until(lambda: kubeenv.apply_object(cluster.api_client, registry), timeout=60,
                       message="MCPRegistry in-house admitted")  # fmt: skip
    custom = client.CustomObjectsApi(cluster.api_client)
    kubeenv.wait_until(
        lambda: (custom.get_namespaced_custom_object("mcp.allbeone.io", "v1", namespace, "mcpregistries", "in-house")
                 .get("status") or {}).get("phase") == "Ready",
        timeout=120, message="MCPRegistry in-house Ready",
    )  # fmt: skip


def deploy_from_registry(cluster: kubeenv.KubeCluster, namespace: str, name: str, entry: str) -> None:
    server = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
              "metadata": {"name": name, "namespace": namespace},
              "spec": {"registry": {"name": entry, "registryRef": "in-house"}, **PLACEMENT}}  # fmt: skip
    kubeenv.wait_until(lambda: kubeenv.apply_object(cluster.api_client, server), timeout=60,
                       message=f"MCPServer {name} admitted")  # fmt: skip


def test_an_sse_server_image_from_a_configmap_registry_serves_mcp_on_the_real_node(
    installed: kubeenv.KubeCluster, namespace: str
) -> None:
    """OCI SSE: server-everything's image serving the transport itself (no bridge), from an MCPRegistry synced
    from a ConfigMap (the other classes: tests/realnode/test_release.py, from the released chart)."""
    kind = "sse"
    entry = json.loads((REPO / "tests/fixtures/images" / f"io.example.everything-{kind}.server.json").read_text())
    load_test_image(installed, entry["packages"][0]["identifier"])
    in_house_registry(installed, namespace, [entry])
    name = f"everything-{kind}"
    deploy_from_registry(installed, namespace, name, entry["name"])
    wait_serving(installed, namespace, name)
    transport = entry["packages"][0]["transport"]["type"]
    report = sdk_client(installed, namespace, name, "echo", '{"message": "on the real node"}',
                        transport=transport)  # fmt: skip
    assert "echo" in report["tools"] and "on the real node" in report["call"]["text"]
    assert wait_verified(installed, namespace, name)["reason"] == "Handshake"
    r = mcp(installed, "delete", name, "-n", namespace, "--wait", "--wait-timeout", "3m")
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- stdio sessions behind mcpop-bridge

#: a stateful stdio MCP server in plain python (the runtime image has no SDK): `whoami` returns its pid
#: and how many times it ran in this process
STATEFUL_SERVER = """
import json, os, sys
calls = 0
for line in sys.stdin:
    msg = json.loads(line)
    method, ident = msg.get("method"), msg.get("id")
    if ident is None:
        continue  # a notification, or a response
    if method == "initialize":
        result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
                  "serverInfo": {"name": "stateful", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": [{"name": "whoami", "description": "pid and call count",
                             "inputSchema": {"type": "object", "properties": {}}}]}
    elif method == "tools/call":
        calls += 1
        text = json.dumps({"pid": os.getpid(), "count": calls})
        result = {"content": [{"type": "text", "text": text}], "isError": False}
    elif method == "ping":
        result = {}
    else:
        error = {"code": -32601, "message": "method not found: " + str(method)}
        print(json.dumps({"jsonrpc": "2.0", "id": ident, "error": error}), flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": ident, "result": result}), flush=True)
"""

SESSIONS_CLIENT = """
import asyncio, json, sys
from mcp import Client


async def whoami(c):
    return json.loads((await c.call_tool("whoami", {})).content[0].text)


async def main() -> None:
    # sessions (initialize), not the stateless protocol's one shared process (mode="auto" probes server/discover)
    async with Client(sys.argv[1], mode="legacy") as a:
        first = [await whoami(a), await whoami(a), await whoami(a)]
    async with Client(sys.argv[1], mode="legacy") as b:
        second = [await whoami(b)]
    print(json.dumps({"first": first, "second": second}))


asyncio.run(main())
"""


def test_a_stdio_server_keeps_one_process_per_session_and_the_cap_refuses_clearly_on_the_real_node(
    installed: kubeenv.KubeCluster, namespace: str, tmp_path: Path
) -> None:
    """A flat `command` stdio server (python3 in the python runtime image, its script from a ConfigMap)
    behind mcpop-bridge: three calls of one session reach one process (its counter 1, 2, 3), a new session
    gets a new process, and with gateway.maxSessions 2 a third open session is refused with 503 and a
    JSON-RPC error naming the cap."""
    load_test_image(installed, PYTHON_RUNTIME)
    load_bridge_image(installed)
    installed.core.create_namespaced_config_map(namespace, {"metadata": {"name": "stateful"},
                                                            "data": {"server.py": STATEFUL_SERVER}})  # fmt: skip
    name = "stateful"
    server = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
              "metadata": {"name": name, "namespace": namespace},
              "spec": {"command": ["python3", "/srv/stateful/server.py"], "transport": {"type": "stdio"},
                       "configSources": [{"name": "script", "configMap": {"name": "stateful"},
                                          "mountPath": "/srv/stateful"}],
                       "gateway": {"maxSessions": 2}, **PLACEMENT}}  # fmt: skip
    kubeenv.wait_until(lambda: kubeenv.apply_object(installed.api_client, server), timeout=60,
                       message=f"MCPServer {name} admitted")  # fmt: skip
    pods = wait_serving(installed, namespace, name)
    assert pods[0].spec.containers[0].image == PYTHON_RUNTIME
    assert pods[0].spec.containers[0].command == ["/mcpop-bin/mcpop-bridge"]

    sys.path.insert(0, str(REPO / "tests" / "images"))
    from runc_harness import sdk_python

    script = tmp_path / "sessions.py"
    script.write_text(SESSIONS_CLIENT)
    url = service_url(installed, namespace, name)
    got = kubeenv.wait_until(  # the Service's endpoint may not be programmed at once
        lambda: (p := subprocess.run([str(sdk_python()), str(script), url], capture_output=True, text=True,
                                     timeout=120)).returncode == 0 and json.loads(p.stdout.strip().splitlines()[-1]),
        timeout=120, message="the SDK client's two sessions",
    )  # fmt: skip
    first, second = got["first"], got["second"]
    assert [c["count"] for c in first] == [1, 2, 3] and len({c["pid"] for c in first}) == 1
    assert second[0]["count"] == 1 and second[0]["pid"] != first[0]["pid"]

    assert post_initialize(url)[0] == 200  # each session is left open (no DELETE)
    assert post_initialize(url)[0] == 200
    status, _, body = post_initialize(url)
    assert status == 503
    assert "too many sessions (--max-sessions 2)" in json.loads(body)["error"]["message"]
    r = mcp(installed, "delete", name, "-n", namespace, "--wait", "--wait-timeout", "3m")
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- the front door (issue 21)

#: the front-door test server (tests/images/front_door_server.py) in two releases: read_file's description changes
#: in the second
FRONT_DOOR_IMAGE = "registry.mcpop.test/mcp/front-door"

#: the official SDK client, a session, with the Bearer token in TOKEN when set: the tools it is shown and what
#: calling each tool of argv[2] ({name: arguments}) gives
FRONT_CLIENT = """
import asyncio, contextlib, json, os, sys
import httpx2
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client


async def outcome(c, name):
    try:
        return (await c.call_tool(name, json.loads(sys.argv[2])[name])).content[0].text
    except Exception as exc:
        return "refused: " + str(exc)


async def main() -> None:
    headers = {"Authorization": "Bearer " + os.environ["TOKEN"]} if os.environ.get("TOKEN") else {}
    async with contextlib.AsyncExitStack() as stack:
        if sys.argv[3] == "sse":
            streams = await stack.enter_async_context(sse_client(sys.argv[1], headers=headers))
        else:
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=30))
            streams = await stack.enter_async_context(streamable_http_client(sys.argv[1], http_client=http))
        async with ClientSession(streams[0], streams[1]) as c:
            await c.initialize()
            out = {"tools": sorted(t.name for t in (await c.list_tools()).tools)}
            for name in json.loads(sys.argv[2]):
                out[name] = await outcome(c, name)
    print(json.dumps(out))


asyncio.run(main())
"""


def front_door_server(cluster: kubeenv.KubeCluster, namespace: str, name: str, version: str, **spec: object) -> None:
    """The front-door test server, release `version` of its image, as the stdio MCPServer `name` with `spec`."""
    load_test_image(cluster, f"{FRONT_DOOR_IMAGE}:{version}")
    load_bridge_image(cluster)
    server = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
              "metadata": {"name": name, "namespace": namespace},
              "spec": {"image": FRONT_DOOR_IMAGE, "tag": version, "command": ["python3", "/srv/front/server.py"],
                       "transport": {"type": "stdio"}, **spec, **PLACEMENT}}  # fmt: skip
    kubeenv.wait_until(lambda: kubeenv.apply_object(cluster.api_client, server), timeout=60,
                       message=f"MCPServer {name} admitted")  # fmt: skip


#: FRONT_CLIENT's calls of the front-door stdio server's two tools
FILE_CALLS = {"read_file": {"path": "/a"}, "delete_file": {"path": "/a"}}


def front_client(url: str, tmp_path: Path, token: str | None = None, calls: dict | None = None,
                 transport: str = "streamable-http") -> dict:  # fmt: skip
    """FRONT_CLIENT against `url` over `transport`, calling each tool of `calls` (default: FILE_CALLS) with its
    arguments (retried while the Service's endpoint is being programmed)."""
    sys.path.insert(0, str(REPO / "tests" / "images"))
    from runc_harness import sdk_python

    script = tmp_path / "front_client.py"
    script.write_text(FRONT_CLIENT)
    env = {**os.environ, **({"TOKEN": token} if token else {})}
    last: list[str] = []

    def run() -> dict | None:
        argv = [str(sdk_python()), str(script), url, json.dumps(calls or FILE_CALLS), transport]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
        last[:] = [p.stderr[-2000:]]
        return json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else None

    try:
        return kubeenv.wait_until(run, timeout=120, message="the SDK client through the bridge")  # type: ignore[no-any-return]
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {last}") from None


#: an in-cluster agent: initialize with the projected ServiceAccount token its pod mounts, printing the status
AGENT = """
import json, sys, urllib.error, urllib.request
token = open("/var/run/secrets/mcp/token").read().strip()
params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "agent", "version": "1"}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}).encode()
headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "Authorization": "Bearer " + token}
try:
    with urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=body, headers=headers), timeout=30) as r:
        print("status", r.status, "front-door" in r.read().decode())
except urllib.error.HTTPError as exc:
    print("status", exc.code, exc.headers.get("WWW-Authenticate"))
"""


def agent_initialize(cluster: kubeenv.KubeCluster, namespace: str, account: str, audience: str, url: str) -> str:
    """AGENT in a restricted pod of ServiceAccount `account` on the real node, its token projected for
    `audience`; its output once it has run."""
    load_test_image(cluster, PYTHON_RUNTIME)
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    mount = {"name": "mcp-token", "mountPath": "/var/run/secrets/mcp", "readOnly": True}
    container = {**kubeenv.restricted_container(image=PYTHON_RUNTIME), "imagePullPolicy": "Never",
                 "command": ["python3", "-c", AGENT, url], "volumeMounts": [mount]}  # fmt: skip
    token = {"serviceAccountToken": {"audience": audience, "expirationSeconds": 600, "path": "token"}}
    spec = kubeenv.restricted_pod_spec(containers=[container], serviceAccountName=account, restartPolicy="Never",
                                       automountServiceAccountToken=False,
                                       volumes=[{"name": "mcp-token", "projected": {"sources": [token]}}])  # fmt: skip
    name = f"agent-{account}"
    cluster.core.create_namespaced_pod(namespace, {"metadata": {"name": name}, "spec": {**spec, **PLACEMENT}})
    done = ("Succeeded", "Failed")
    try:
        kubeenv.wait_until(lambda: cluster.core.read_namespaced_pod(name, namespace).status.phase in done,
                           timeout=120, message=f"pod {name} done")  # fmt: skip
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {cluster.core.read_namespaced_pod(name, namespace).status}") from None
    return str(cluster.core.read_namespaced_pod_log(name, namespace))


def test_a_server_behind_the_front_door_checks_tokens_policy_audit_and_metrics_on_the_real_node(
    installed: kubeenv.KubeCluster, namespace: str, tmp_path: Path
) -> None:
    """spec.auth.jwt with the JWKS of an issuer made here (its key generated in the test, the JWKS in a ConfigMap)
    and spec.auth.serviceAccounts, spec.tools denying delete_* with a CEL rule giving read_file to the readers
    group and to ServiceAccounts, spec.audit and spec.monitoring on a stdio server: no token, a wrong audience, an
    expired token, `alg: none` and another key's token get 401, a missing scope 403, the metadata document is
    served; with a valid token of the group the SDK client is shown and can call only read_file, one without the
    group neither; an agent pod's projected ServiceAccount token is accepted, another ServiceAccount's refused;
    the pod's log has the audit lines, the bridge's metrics port counts the calls and the refusals, and the
    operator's own handshake authenticates (Verified)."""
    from idp import Issuer

    idp, audience, agents = Issuer(), "https://mcp.example.test/front", "front-door-agents"
    idp.url = "https://idp.example.test"  # never contacted: the bridge reads the JWKS from the ConfigMap
    installed.core.create_namespaced_config_map(namespace, {"metadata": {"name": "idp-jwks"},
                                                            "data": {"jwks.json": json.dumps(idp.jwks())}})  # fmt: skip
    name = "front-door"
    readers = '"readers" in claims.groups || claims.sub.startsWith("system:serviceaccount:")'
    front_door_server(installed, namespace, name, "1", auth={
        "jwt": {"issuer": idp.url, "audiences": [audience], "requiredScopes": ["mcp:tools"],
                "jwks": {"configMapKeyRef": {"name": "idp-jwks", "key": "jwks.json"}}},
        "serviceAccounts": {"names": ["agent"], "audience": agents}},
        tools={"deny": ["delete_*"], "rules": [{"tools": ["read_file"], "when": readers}]}, audit={},
        monitoring={"enabled": True})  # fmt: skip
    wait_serving(installed, namespace, name)
    url = service_url(installed, namespace, name)
    status, headers, _ = kubeenv.wait_until(lambda: (r := post_initialize(url))[0] == 401 and r, timeout=60,
                                            message="401 without a token")  # fmt: skip
    assert "resource_metadata=" in headers["www-authenticate"]
    base = url.rsplit("/mcp", 1)[0]
    meta_status, meta = http_get(base + "/.well-known/oauth-protected-resource/mcp")
    assert meta_status == 200 and json.loads(meta)["authorization_servers"] == [idp.url]
    for bad in (idp.token("https://elsewhere.example.test"), idp.token(audience, exp=int(time.time()) - 600),
                idp.unsigned(audience), Issuer(idp.kid).token(audience, iss=idp.url)):  # fmt: skip
        assert post_initialize(url, bad)[0] == 401
    status, headers, _ = post_initialize(url, idp.token(audience, scope="openid"))
    assert status == 403 and 'error="insufficient_scope"' in headers["www-authenticate"]

    seen = front_client(url, tmp_path, idp.token(audience, groups=["readers"]))
    assert seen["tools"] == ["read_file"] and seen["read_file"] == "called read_file"
    assert "is not allowed by this server's policy (--deny-tools)" in seen["delete_file"]
    outsider = front_client(url, tmp_path, idp.token(audience, sub="bob", groups=["writers"]))
    assert outsider["tools"] == [] and "--tool-rule 0" in outsider["read_file"]

    in_cluster = f"http://{name}.{namespace}.svc.cluster.local:8000/mcp"
    assert agent_initialize(installed, namespace, "agent", agents, in_cluster).split()[:3] == ["status", "200", "True"]
    intruder = installed.core.create_namespaced_service_account(namespace, {"metadata": {"name": "intruder"}})
    token = installed.core.create_namespaced_service_account_token(intruder.metadata.name, namespace, {
        "spec": {"audiences": [agents], "expirationSeconds": 600}}).status.token  # fmt: skip
    assert post_initialize(url, token)[0] == 403  # a valid token of a ServiceAccount the spec does not list

    logs = server_logs(installed, namespace, name)
    audit = [json.loads(line) for line in logs.splitlines() if line.startswith('{"time"')]
    calls = {(a["subject"], a["target"], a["decision"]) for a in audit if a["method"] == "tools/call"}
    assert {("alice", "read_file", "allow"), ("alice", "delete_file", "deny"), ("bob", "read_file", "deny")} <= calls
    assert {a["issuer"] for a in audit if a["subject"] in ("alice", "bob")} == {idp.url}
    assert f"system:serviceaccount:{namespace}:agent" in {a["subject"] for a in audit}
    assert "called delete_file" not in logs  # the server process never saw the denied call

    pod_ip = serving_pods(installed, namespace, name)[0].status.pod_ip
    metrics_status, metrics = http_get(f"http://{pod_ip}:9090/metrics")
    assert metrics_status == 200
    assert (
        'mcpop_bridge_requests_total{method="tools/call",tool="read_file",decision="allow",outcome="ok"} 1' in metrics
    )
    assert 'mcpop_bridge_auth_failures_total{reason="insufficient_scope"} 1' in metrics
    assert 'mcpop_bridge_auth_failures_total{reason="invalid_token"} 4' in metrics
    assert 'mcpop_bridge_auth_failures_total{reason="subject_not_allowed"} 1' in metrics
    verified = wait_verified(installed, namespace, name)  # the operator's ServiceAccount token, TokenRequest
    assert verified["reason"] == "Handshake" and "front-door" in verified["message"]


@pytest.mark.parametrize("kind", ["streamable", "sse"])
def test_an_http_server_gets_the_front_door_as_a_reverse_proxy_on_the_real_node(
    installed: kubeenv.KubeCluster, namespace: str, tmp_path: Path, kind: str
) -> None:
    """server-everything's streamable-HTTP and SSE images with spec.auth.jwt, spec.tools allowing echo only and
    spec.audit: mcpop-bridge runs beside it (--upstream) and the Service leads to the bridge: no token gets 401, a
    valid one the SDK client, shown and able to call only echo, while add is refused without reaching the server;
    the bridge's log has the audit lines; the operator's handshake authenticates through it (Verified)."""
    from idp import Issuer

    entry = json.loads((REPO / f"tests/fixtures/images/io.example.everything-{kind}.server.json").read_text())
    image = entry["packages"][0]["identifier"]
    load_test_image(installed, image)
    load_bridge_image(installed)
    idp, audience = Issuer(), "https://mcp.example.test/everything"
    idp.url = "https://idp.example.test"
    installed.core.create_namespaced_config_map(namespace, {"metadata": {"name": "idp-jwks"},
                                                            "data": {"jwks.json": json.dumps(idp.jwks())}})  # fmt: skip
    name, (repository, tag) = f"everything-{kind}-front", image.rsplit(":", 1)
    transport = entry["packages"][0]["transport"]["type"]
    meta = {"name": name, "namespace": namespace}
    server = {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": meta,
              "spec": {"image": repository, "tag": tag, "port": 3001, "transport": {"type": transport},
                       "auth": {"jwt": {"issuer": idp.url, "audiences": [audience],
                                        "jwks": {"configMapKeyRef": {"name": "idp-jwks", "key": "jwks.json"}}}},
                       "tools": {"allow": ["echo"]}, "audit": {}, **PLACEMENT}}  # fmt: skip
    kubeenv.wait_until(lambda: kubeenv.apply_object(installed.api_client, server), timeout=60,
                       message=f"MCPServer {name} admitted")  # fmt: skip
    pods = wait_serving(installed, namespace, name)
    assert [c.name for c in pods[0].spec.containers] == ["mcp-server", "mcpop-bridge"]
    url = service_url(installed, namespace, name)

    def refused() -> tuple[int, dict[str, str], str] | None:
        try:
            r = post_initialize(url)
        except OSError:  # kube-proxy has not programmed the new Service's endpoint yet
            return None
        return r if r[0] == 401 else None

    try:
        _, headers, _ = kubeenv.wait_until(refused, timeout=60, message="401 without a token")
    except TimeoutError as exc:
        bridge_log = server_logs(installed, namespace, name, container="mcpop-bridge")
        raise AssertionError(f"{exc}\n{diagnosis(installed, namespace, name)}\n{bridge_log}") from None
    assert "resource_metadata=" in headers["www-authenticate"]

    calls = {"echo": {"message": "through the proxy"}, "add": {"a": 1, "b": 2}}
    try:
        seen = front_client(url, tmp_path, idp.token(audience), calls, transport)
    except AssertionError as exc:
        bridge_log = server_logs(installed, namespace, name, container="mcpop-bridge")
        raise AssertionError(f"{exc}\n{bridge_log}\n{server_logs(installed, namespace, name)}") from None
    assert seen["tools"] == ["echo"] and "through the proxy" in seen["echo"]
    assert "is not allowed by this server's policy (--allow-tools)" in seen["add"]

    logs = server_logs(installed, namespace, name, container="mcpop-bridge")
    audit = [json.loads(line) for line in logs.splitlines() if line.startswith('{"time"')]
    calls = {(a["subject"], a["target"], a["decision"]) for a in audit if a["method"] == "tools/call"}
    assert {("alice", "echo", "allow"), ("alice", "add", "deny")} <= calls
    verified = wait_verified(installed, namespace, name)  # the operator's ServiceAccount token through the proxy
    assert verified["reason"] == "Handshake"


def wait_tools_changed(cluster: kubeenv.KubeCluster, namespace: str, name: str, status: str) -> dict:
    """The ToolsChanged condition once it is `status` for the MCPServer's current generation."""

    def ready() -> dict | None:
        obj = mcp_status(cluster, namespace, name)
        c = condition(cluster, namespace, name, "ToolsChanged")
        current = c is not None and c.get("observedGeneration") == obj["metadata"]["generation"]
        return c if current and c["status"] == status else None

    try:
        return kubeenv.wait_until(ready, timeout=240, message=f"{name} ToolsChanged={status}")  # type: ignore[no-any-return]
    except TimeoutError as exc:
        raise AssertionError(
            f"{exc}: {condition(cluster, namespace, name, 'ToolsChanged')}\n{diagnosis(cluster, namespace, name)}"
        ) from None


def test_an_approved_inventory_hides_a_tool_that_changed_until_it_is_approved_again_on_the_real_node(
    installed: kubeenv.KubeCluster, namespace: str, tmp_path: Path
) -> None:
    """`mcp tools approve` pins the tools a verified server lists; when a new version changes read_file's
    description, the bridge hides and refuses it, the MCPServer has ToolsChanged=True naming it (and a
    ToolsNotApproved event), `mcp tools diff` shows it, and approving again exposes it."""
    name = "rug-pull"
    front_door_server(installed, namespace, name, "1")
    wait_serving(installed, namespace, name)
    wait_verified(installed, namespace, name)
    r = mcp(installed, "tools", "approve", name, "-n", namespace)
    assert r.returncode == 0 and "approved: 2 tools" in r.stdout, r.stderr
    assert wait_tools_changed(installed, namespace, name, "False")["reason"] == "Approved"
    # the approval rolls the pods (mcpop-bridge takes the inventory as flags): a client session on the pod being
    # stopped would be cut, and hang until its timeout, so the client speaks once the new pod is verified
    wait_verified(installed, namespace, name)
    url = service_url(installed, namespace, name)
    assert front_client(url, tmp_path)["tools"] == ["delete_file", "read_file"]

    front_door_server(installed, namespace, name, "2")  # a new release rewrites read_file's description
    changed = wait_tools_changed(installed, namespace, name, "True")
    assert changed["reason"] == "NotApproved" and "changed read_file" in changed["message"]
    seen = front_client(url, tmp_path)
    assert seen["tools"] == ["delete_file"] and 'tool "read_file" changed since it was approved' in seen["read_file"]
    assert "called read_file" not in server_logs(installed, namespace, name)
    diff = mcp(installed, "tools", "diff", name, "-n", namespace)
    assert diff.returncode == 1 and diff.stdout.startswith("~ read_file  sha256:"), diff.stderr
    events = installed.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    assert any(e.reason == "ToolsNotApproved" and "read_file" in e.message for e in events)

    assert mcp(installed, "tools", "approve", name, "-n", namespace).returncode == 0
    assert wait_tools_changed(installed, namespace, name, "False")["reason"] == "Approved"
    wait_verified(installed, namespace, name)  # the pod with the new approval serves
    # kube-proxy may still send the first connection to the pod just stopped: front_client retries it
    last: dict = {}

    def shown() -> bool:
        last.update(front_client(url, tmp_path))
        return bool(last["tools"] == ["delete_file", "read_file"])

    try:
        kubeenv.wait_until(
            shown, timeout=180, message="read_file shown again once the pod with the new approval serves"
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: the client saw {last}") from None
