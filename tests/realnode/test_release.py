"""The release on the real node (issue 22 §1): tools/release publishes two versions to the node's in-house registry
(realnode.REGISTRY, the only registry the node can pull from) with a cosign key; then, with nothing preloaded into the
node (the runtime and server images a cluster pulls besides mcpop's own come from a mirror in that registry, as an
air-gapped cluster points the chart at its mirror):
- `helm install oci://…` runs the operator from the pulled image and a server of every registry class (npm and PyPI
  stdio from the catalogue, a streamable-HTTP image and an OCI stdio image from an in-house MCPRegistry) serves the SDK
  client and is Verified; `helm upgrade` from the first version to the second leaves their pods untouched;
  `helm uninstall` leaves the CRDs and the MCPServers;
- the README's quickstart runs as written against the released chart;
- `kubectl apply --server-side -f install.yaml` installs the same operator again, and every class serves again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubeenv
import oci_registry
import pytest
import realnode
import yaml
from test_e2e import (
    PLACEMENT,
    PLACEMENT_FLAGS,
    deploy_from_registry,
    in_house_registry,
    mcp,
    sdk_client,
    serving_pods,
    wait_serving,
    wait_verified,
)

from mcpop.render.normalize import STDIO_IMAGES

REPO = Path(__file__).resolve().parents[2]
#: V2 is the chart's own version, the one the README's quickstart installs; V1 the release before it
V2 = yaml.safe_load((REPO / "chart/mcp-operator/Chart.yaml").read_text())["version"]
V1 = "0.0.9"
REGISTRY = f"{realnode.REGISTRY}/allbeone"
NAMESPACE = "mcpop-system"
HELM_RELEASE = "mcpop"
OPERATOR_SELECTOR = "app.kubernetes.io/name=mcp-operator"


def run(*cmd: str, timeout: float = 1800, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip
    assert proc.returncode == 0, f"{' '.join(cmd[:4])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def tool(name: str) -> str:
    return run(str(REPO / "tools" / name), "path").strip()


@pytest.fixture(scope="module")
def released(real_cluster: kubeenv.KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """V1 and V2 released to the node's registry, signed with a fresh cosign key."""
    work = tmp_path_factory.mktemp("release")
    run(tool("cosign"), "generate-key-pair", "--output-key-prefix", str(work / "cosign"), env={"COSIGN_PASSWORD": ""})
    out: dict[str, Any] = {"work": work, "key": work / "cosign.key", "pub": work / "cosign.pub"}
    for version in (V1, V2):
        start = time.monotonic()
        run(sys.executable, "tools/release", "--registry", REGISTRY, "--version", version, "--insecure",
            "--sign-key", str(work / "cosign.key"), "--out", str(work / version),
            env={"COSIGN_PASSWORD": ""})  # fmt: skip
        print(f"tools/release {version}: {time.monotonic() - start:.1f} s", file=sys.stderr)
        out[version] = json.loads((work / version / "release.json").read_text())
        out[version]["dir"] = work / version
    return out


def helm(cluster: kubeenv.KubeCluster, *args: str) -> str:
    return run(tool("helm"), *args, "--kubeconfig", cluster.kubeconfig, timeout=600)


def values_file(work: Path, mirror: dict[str, str]) -> Path:
    """Placement, the registry's plain HTTP and the runtime images' mirror: mcpop's own images (operator, bridge)
    come from the released chart's defaults."""
    path = work / "values.yaml"
    path.write_text(yaml.safe_dump({
        "nodeSelector": {realnode.NODE_LABEL[0]: realnode.NODE_LABEL[1]},
        "tolerations": [{**realnode.NODE_TAINT, "operator": "Equal"}],
        # debug: a reconcile's "reconciled in" line says which server the operator has been through
        "operator": {"insecureRegistries": [realnode.REGISTRY], "logLevel": "debug"},
        "stdio": {"nodeImage": mirror["node"], "pythonImage": mirror["python"]},
    }))  # fmt: skip
    return path


@pytest.fixture(scope="module")
def mirror(real_cluster: kubeenv.KubeCluster) -> dict[str, str]:
    """The images a cluster pulls besides mcpop's own, in the node's registry as a mirror holds them: the runtime
    images stdio servers run in (with the catalogue's npm and PyPI servers baked in: the node has no package
    registry), a streamable-HTTP server image and an OCI stdio server image."""
    archives = oci_registry.image_archives()

    def push(source: str, repo_tag: str) -> str:
        return oci_registry.push_archive(realnode.REGISTRY, archives[source], f"mirror/{repo_tag}")

    return {"node": push(STDIO_IMAGES["node"], "node-runtime:1"),
            "python": push(STDIO_IMAGES["python"], "python-runtime:1"),
            "http": push(fixture_entry("everything-streamable")["packages"][0]["identifier"], "everything:2026.8.31"),
            "stdio": push("registry.mcpop.test/mcp/go-hello-stdio:1.8.0", "go-hello-stdio:1.8.0")}  # fmt: skip


def fixture_entry(name: str) -> dict[str, Any]:
    return json.loads((REPO / f"tests/fixtures/images/io.example.{name}.server.json").read_text())  # type: ignore[no-any-return]


def operator_pods(cluster: kubeenv.KubeCluster) -> list:
    pods = cluster.core.list_namespaced_pod(NAMESPACE, label_selector=OPERATOR_SELECTOR).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def wait_operator(cluster: kubeenv.KubeCluster, image: str, timeout: float = 300) -> Any:
    """The one operator pod running `image`, Ready on the real node."""

    def ready() -> Any:
        pods = operator_pods(cluster)
        return len(pods) == 1 and pods[0].spec.containers[0].image == image and kubeenv.pod_ready(pods[0]) and pods[0]

    return kubeenv.wait_until(ready, timeout=timeout, message=f"the operator pod running {image}")


def deploy(cluster: kubeenv.KubeCluster, namespace: str, name: str) -> None:
    """`mcp deploy NAME` from the embedded catalogue, placed on the real node."""
    # the first calls may find the webhook Service's endpoint not yet programmed by kube-proxy: retry
    kubeenv.wait_until(lambda: mcp(cluster, "deploy", name, "-n", namespace, *PLACEMENT_FLAGS).returncode == 0,
                       timeout=60, message=f"mcp deploy {name}")  # fmt: skip


def every_class(cluster: kubeenv.KubeCluster, namespace: str, mirror: dict[str, str], bridge: str) -> dict[str, list]:
    """One server of each registry class, deployed at once, each serving the SDK client through its Service and
    Verified: npm stdio (`mcp deploy server-memory`) and PyPI stdio (`mcp deploy server-time`) in the mirrored
    runtime images behind the bridge; server-everything's streamable-HTTP image (no bridge) and the
    go-hello-stdio OCI image (a static binary, no shell; the operator reads its config from the registry to learn
    the command) from an in-house MCPRegistry, the latter behind the bridge image `bridge` pulled by digest.
    Returns each server's pods."""
    http, stdio = fixture_entry("everything-streamable"), fixture_entry("go-hello-stdio")
    http["packages"][0]["identifier"], stdio["packages"][0]["identifier"] = mirror["http"], mirror["stdio"]
    in_house_registry(cluster, namespace, [http, stdio])
    for name in ("server-memory", "server-time"):
        deploy(cluster, namespace, name)
    deploy_from_registry(cluster, namespace, "everything", http["name"])
    deploy_from_registry(cluster, namespace, "greeter", stdio["name"])

    pods = {name: wait_serving(cluster, namespace, name, timeout=400)
            for name in ("server-memory", "server-time", "everything", "greeter")}  # fmt: skip
    images = {name: [c.image for c in p[0].spec.containers] for name, p in pods.items()}
    inits = {name: [c.image for c in p[0].spec.init_containers or []] for name, p in pods.items()}
    assert images == {"server-memory": [mirror["node"]], "server-time": [mirror["python"]],
                      "everything": [mirror["http"]], "greeter": [mirror["stdio"]]}  # fmt: skip
    assert inits == {"server-memory": [bridge], "server-time": [bridge], "everything": [], "greeter": [bridge]}
    # the OCI stdio image runs its own entrypoint, not a runtime the renderer assumed
    assert not pods["greeter"][0].spec.containers[0].command[0].startswith(("node", "python"))

    # the four sessions at once: each waits mostly for its server's first process to start in the pod (one after
    # the other they took 45-49 s of the test)
    calls = {
        "server-memory": ("read_graph", "{}"),
        "server-time": ("get_current_time", '{"timezone": "UTC"}'),
        "everything": ("echo", '{"message": "released"}'),
        "greeter": ("greet", '{"name": "the real node"}'),
    }
    sys.path.insert(0, str(REPO / "tests" / "images"))
    from runc_harness import sdk_python

    sdk_python()  # the SDK's environment installed (when missing) once, not by four sessions at once
    with ThreadPoolExecutor(len(calls)) as pool:
        sessions = {name: pool.submit(sdk_client, cluster, namespace, name, *call) for name, call in calls.items()}
    memory = sessions["server-memory"].result()
    assert memory["serverInfo"]["name"] == "memory-server" and memory["call"]["isError"] is False
    time_ = sessions["server-time"].result()
    assert time_["call"]["isError"] is False and "UTC" in time_["call"]["text"]
    echo = sessions["everything"].result()
    assert "released" in echo["call"]["text"]
    greet = sessions["greeter"].result()
    assert greet["serverInfo"]["name"] == "greeter" and "the real node" in greet["call"]["text"]
    for name in pods:
        assert wait_verified(cluster, namespace, name)["reason"] == "Handshake"
    return pods


def restarts(pods: list) -> dict[str, list[int]]:
    return {p.metadata.uid: [c.restart_count for c in p.status.container_statuses] for p in pods}


def test_the_release_is_signed_with_the_key_and_pins_its_images(released: dict[str, Any]) -> None:
    rel = released[V2]
    for pinned in (rel["images"]["mcpop"]["pinned"], rel["images"]["mcpop-bridge"]["pinned"],
                   rel["chart"]["ref"].removeprefix("oci://") + "@" + rel["chart"]["digest"]):  # fmt: skip
        run(tool("cosign"), "verify", "--key", str(released["pub"]), "--insecure-ignore-tlog=true",
            "--allow-insecure-registry", "--allow-http-registry", pinned)  # fmt: skip
    install = rel["dir"] / "install.yaml"
    run(tool("cosign"), "verify-blob", "--key", str(released["pub"]), "--insecure-ignore-tlog=true",
        "--signature", str(rel["dir"] / "install.yaml.sig"), str(install))  # fmt: skip
    text = install.read_text()
    assert rel["images"]["mcpop"]["pinned"] in text
    assert rel["images"]["mcpop-bridge"]["pinned"] in text
    for sbom in rel["sboms"]:
        doc = json.loads((rel["dir"] / sbom).read_text())
        assert doc["bomFormat"] == "CycloneDX" and doc["components"]
    operator_sbom = json.loads((rel["dir"] / "sbom/mcpop.cdx.json").read_text())
    purls = {c["purl"].split("@")[0] for c in operator_sbom["components"]}
    assert {"pkg:deb/debian/python3", "pkg:pypi/mcpop", "pkg:pypi/kubernetes", "pkg:pypi/mcp"} <= purls


def test_helm_install_from_the_registry_upgrade_keeps_servers_and_uninstall_keeps_crds(
    released: dict[str, Any], mirror: dict[str, str], real_cluster: kubeenv.KubeCluster, namespace: str
) -> None:
    cluster, work = real_cluster, released["work"]
    chart = released[V1]["chart"]["ref"]
    cluster.core.create_namespace({"metadata": {"name": NAMESPACE, "labels": dict(kubeenv.RESTRICTED_LABELS)}})
    helm(cluster, "install", HELM_RELEASE, chart, "--version", V1, "--plain-http", "-n", NAMESPACE,
         "-f", str(values_file(work, mirror)), "--wait", "--timeout", "300s")  # fmt: skip
    operator_image = f"{REGISTRY}/mcpop@{released[V1]['images']['mcpop']['digest']}"
    wait_operator(cluster, operator_image)

    pods = every_class(cluster, namespace, mirror, released[V1]["images"]["mcpop-bridge"]["pinned"])
    before = {name: restarts(p) for name, p in pods.items()}
    generations = {name: cluster.apps.read_namespaced_deployment(name, namespace).metadata.generation
                   for name in pods}  # fmt: skip

    helm(cluster, "upgrade", HELM_RELEASE, chart, "--version", V2, "--plain-http", "-n", NAMESPACE,
         "-f", str(values_file(work, mirror)), "--wait", "--timeout", "300s")  # fmt: skip
    new = kubeenv.wait_until(
        lambda: (p := operator_pods(cluster)) and len(p) == 1 and p[0].metadata.labels.get("helm.sh/chart")
        == f"mcp-operator-{V2}" and kubeenv.pod_ready(p[0]) and p[0],
        timeout=300, message=f"the operator of chart {V2}",
    )  # fmt: skip
    assert new.spec.containers[0].image == operator_image
    reconciled_by(cluster, new.metadata.name, namespace, set(pods))
    after = {name: restarts(serving_pods(cluster, namespace, name)) for name in pods}
    assert after == before
    assert {name: cluster.apps.read_namespaced_deployment(name, namespace).metadata.generation
            for name in pods} == generations  # fmt: skip

    helm(cluster, "uninstall", HELM_RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "120s")
    kubeenv.wait_until(lambda: not operator_pods(cluster), timeout=120, message="the operator pod gone")
    from kubernetes import client

    listed = client.ApiextensionsV1Api(cluster.api_client).list_custom_resource_definition().items
    crds = {c.metadata.name for c in listed}
    assert {"mcpservers.mcp.allbeone.io", "mcpregistries.mcp.allbeone.io", "mcpserverbackups.mcp.allbeone.io"} <= crds
    custom = client.CustomObjectsApi(cluster.api_client)
    for name in pods:
        assert custom.get_namespaced_custom_object("mcp.allbeone.io", "v1", namespace, "mcpservers", name)
        assert {p.metadata.uid for p in serving_pods(cluster, namespace, name)} == set(before[name])


def reconciled_by(cluster: kubeenv.KubeCluster, pod: str, namespace: str, names: set[str]) -> None:
    """Wait until the operator pod `pod` has reconciled each MCPServer of `names` once without an error (its
    debug JSON lines: a reconcile's last line is "reconciled in ..." with the key and the result)."""

    def done() -> bool:
        seen = set()
        for line in cluster.core.read_namespaced_pod_log(pod, NAMESPACE).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            key = str(entry.get("key", ""))
            if (entry.get("controller") == "mcpserver" and str(entry.get("msg", "")).startswith("reconciled in")
                    and "(error)" not in entry["msg"] and key.startswith(f"{namespace}/")):  # fmt: skip
                seen.add(key.split("/", 1)[1])
        return names <= seen

    kubeenv.wait_until(done, timeout=120, interval=1, message=f"{pod} reconciled {sorted(names)}")


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


#: the chart reference the README's quickstart installs (tools/release pushes it to REGISTRY/charts/)
PUBLISHED_CHART = "oci://ghcr.io/allbeone/charts/mcp-operator"


def quickstart() -> list[str]:
    """The commands of the README's quickstart block, continuation lines joined."""
    text = (REPO / "README.md").read_text()
    block = text.split("## Quickstart", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_readme_quickstart_runs_as_written_against_the_released_chart(
    released: dict[str, Any],
    mirror: dict[str, str],
    real_cluster: kubeenv.KubeCluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The quickstart's commands as the README writes them, with only what this node needs changed: the chart
    comes from the node's registry (plain HTTP) with the placement and the mirror as values, `mcp deploy` places
    the server on the tainted node, and the forwarded port is a free one. helm, mcp, kubectl and curl are the
    real commands on PATH; the kubeconfig's context namespace is the test's (a user's is `default`)."""
    from ports import free_port

    cluster, commands = real_cluster, quickstart()
    assert commands[0].startswith(f"helm install mcpop {PUBLISHED_CHART} --version {V2} ")
    assert shutil.which("kubectl") and shutil.which("curl"), "the quickstart needs kubectl and curl on PATH"
    port = free_port()
    chart = released[V2]["chart"]["ref"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(tool("helm"))
    (bin_dir / "mcp").write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -c "
                                 "'from mcpop.cli.main import run; run()' \"$@\"\n")  # fmt: skip
    (bin_dir / "mcp").chmod(0o755)
    kubeconfig = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    for ctx in kubeconfig["contexts"]:
        ctx["context"]["namespace"] = namespace
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "KUBECONFIG": str(tmp_path / "kubeconfig"),
           "HELM_CACHE_HOME": str(tmp_path / "helm"), "HELM_CONFIG_HOME": str(tmp_path / "helm")}  # fmt: skip
    edits = [
        (PUBLISHED_CHART, chart),
        ("--wait", f"--wait --plain-http -f {values_file(released['work'], mirror)}"),
    ]
    forward = None
    outputs = []
    try:
        for line in commands:
            if line.startswith("helm install"):
                for old, new in edits:
                    line = line.replace(old, new, 1)
            elif line.startswith("mcp deploy"):
                line += " " + " ".join(PLACEMENT_FLAGS)
            line = line.replace("8000:8000", f"{port}:8000").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            if line.endswith("&"):
                log = tmp_path / "port-forward.log"
                with log.open("w") as out:
                    forward = subprocess.Popen(["bash", "-c", line.removesuffix("&")], env=env, stdout=out,
                                               stderr=subprocess.STDOUT)  # fmt: skip
                try:  # what a user does between two commands: wait until it says it forwards
                    kubeenv.wait_until(lambda p=forward: listening(port) or p.poll() is not None, timeout=60,
                                       message=f"kubectl port-forward on {port}")  # fmt: skip
                except TimeoutError as exc:
                    raise AssertionError(f"{exc}: {log.read_text()[-2000:]}") from None
                assert forward.poll() is None, f"{line}\n{log.read_text()[-2000:]}"
                continue
            proc = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, f"{line}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            outputs.append(proc.stdout)
        assert "server-memory" in outputs[2] and "Ready: True" in outputs[2]  # mcp status
        assert '"memory-server"' in outputs[-1] and '"protocolVersion"' in outputs[-1]  # curl: initialize answered
        assert wait_verified(cluster, namespace, "server-memory")["reason"] == "Handshake"
    finally:
        if forward:
            forward.kill()
            forward.wait()
        helm(cluster, "uninstall", HELM_RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "120s")
        kubeenv.wait_until(lambda: not operator_pods(cluster), timeout=120, message="the operator pod gone")


def server_side_apply(cluster: kubeenv.KubeCluster, manifest: Path) -> str:
    """`kubectl apply --server-side -f manifest`, or the same through the Python client without kubectl."""
    if shutil.which("kubectl"):
        return run("kubectl", "apply", "--server-side", "-f", str(manifest), "--kubeconfig", cluster.kubeconfig)
    for doc in yaml.safe_load_all(manifest.read_text()):
        if doc:
            kubeenv.apply_object(cluster.api_client, doc, field_manager="kubectl")
    return "applied with the Python client"


def test_kubectl_apply_server_side_of_install_yaml_runs_the_operator(
    released: dict[str, Any], mirror: dict[str, str], real_cluster: kubeenv.KubeCluster, namespace: str
) -> None:
    """install.yaml as released, with the placement, the mirror and the registry's plain HTTP a user of this node
    adds (kustomize would): the operator runs from the pulled image, makes its own webhook certificate, and
    admits, deploys and verifies a server of every class."""
    cluster, rel = real_cluster, released[V2]
    docs = [d for d in yaml.safe_load_all((rel["dir"] / "install.yaml").read_text()) if d]
    settings = {"--stdio-node-image": mirror["node"], "--stdio-python-image": mirror["python"]}
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["spec"].update(PLACEMENT)
            container = doc["spec"]["template"]["spec"]["containers"][0]
            container["args"] = [a for a in container["args"] if a.split("=", 1)[0] not in settings]
            container["args"] += [f"{k}={v}" for k, v in settings.items()]
            container["args"].append(f"--insecure-registries={realnode.REGISTRY}")
    manifest = released["work"] / "install-placed.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    server_side_apply(cluster, manifest)
    wait_operator(cluster, f"{REGISTRY}/mcpop@{rel['images']['mcpop']['digest']}")
    secret = kubeenv.wait_until(lambda: cluster.core.read_namespaced_secret("mcp-operator-webhook-tls", NAMESPACE),
                                timeout=120, message="the self-managed webhook certificate")  # fmt: skip
    assert secret.data
    every_class(cluster, namespace, mirror, rel["images"]["mcpop-bridge"]["pinned"])
