"""The real node of ``tools/testenv up --real-node``: pods really run, probe, resolve and stay inside."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import uuid
from pathlib import Path

import kubeenv
import oci_registry
import pytest
import realnode
from conftest import on_real_node
from kubernetes import client

WEB_PORT = 8080


def restricted(image: str, command: list[str], **extra) -> dict:
    container = {
        **kubeenv.restricted_container(image=image),
        "command": command,
        "imagePullPolicy": "Never",  # nothing can be pulled here: the image was loaded
        **extra,
    }
    container["securityContext"] = {**container["securityContext"], "readOnlyRootFilesystem": True}
    return kubeenv.restricted_pod_spec(containers=[container])


def create_pod(cluster, namespace: str, name: str, spec: dict, labels: dict | None = None) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}
    cluster.core.create_namespaced_pod(namespace, body)


def web_pod(cluster, namespace: str, image: str, name: str = "web") -> client.V1Pod:
    spec = restricted(
        image,
        ["/bin/httpd", "-f", "-p", str(WEB_PORT), "-h", "/www"],
        ports=[{"containerPort": WEB_PORT, "name": "http"}],
        readinessProbe={"httpGet": {"path": "/index.html", "port": WEB_PORT}, "periodSeconds": 1},
    )
    create_pod(cluster, namespace, name, on_real_node(spec), labels={"app": name})
    return kubeenv.wait_until(
        lambda: (p := cluster.core.read_namespaced_pod(name, namespace)) and kubeenv.pod_ready(p) and p,
        timeout=90,
        message=f"pod {name} Ready on the real node",
    )


def run_to_completion(cluster, namespace: str, image: str, script: str, timeout: float = 90) -> tuple[str, str]:
    """Run `sh -c script` in a restricted pod on the real node; return (phase, log)."""
    name = f"job-{uuid.uuid4().hex[:6]}"
    spec = on_real_node({**restricted(image, ["/bin/sh", "-c", script]), "restartPolicy": "Never"})
    create_pod(cluster, namespace, name, spec)
    try:
        pod = kubeenv.wait_until(
            lambda: (
                (p := cluster.core.read_namespaced_pod(name, namespace)).status.phase in ("Succeeded", "Failed") and p
            ),
            timeout=timeout,
            message=f"pod {name} to finish",
        )
    except TimeoutError as exc:
        pod = cluster.core.read_namespaced_pod(name, namespace)
        events = [f"{e.reason}: {e.message}" for e in cluster.core.list_namespaced_event(namespace).items
                  if e.involved_object.name == name]  # fmt: skip
        raise AssertionError(f"{exc}: {pod.status.phase} {pod.status.container_statuses} {events}") from None
    return pod.status.phase, cluster.core.read_namespaced_pod_log(name, namespace)


def test_the_real_node_is_ready_tainted_and_labelled(real_cluster):
    node = real_cluster.core.read_node(realnode.NODE_NAME)
    ready = {c.type: c.status for c in node.status.conditions}["Ready"]
    taints = [(t.key, t.value, t.effect) for t in node.spec.taints or []]
    assert ready == "True"
    assert (realnode.NODE_TAINT["key"], realnode.NODE_TAINT["value"], realnode.NODE_TAINT["effect"]) in taints
    assert node.metadata.labels[realnode.NODE_LABEL[0]] == realnode.NODE_LABEL[1]


def test_the_real_node_runs_the_control_planes_kubelet_and_is_not_kwoks(real_cluster):
    node = real_cluster.core.read_node(realnode.NODE_NAME)
    assert node.status.node_info.kubelet_version == real_cluster.extra["kubernetes_version"]
    assert node.status.node_info.container_runtime_version.startswith("containerd://2.")
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})


def test_kwok_nodes_stay_as_they_are(real_cluster):
    kwok = [n for n in real_cluster.core.list_node().items if n.metadata.name != realnode.NODE_NAME]
    assert len(kwok) == 2
    assert all((n.metadata.annotations or {}).get("kwok.x-k8s.io/node") == "fake" for n in kwok)
    assert all(not n.spec.taints for n in kwok)


def test_a_pod_without_the_toleration_does_not_land_on_the_real_node(real_cluster, namespace, busybox):
    create_pod(real_cluster, namespace, "plain", restricted(busybox, ["/bin/sleep", "3600"]))
    pod = kubeenv.wait_until(
        lambda: (p := real_cluster.core.read_namespaced_pod("plain", namespace)).spec.node_name and p,
        timeout=30,
        message="pod plain scheduled",
    )
    assert pod.spec.node_name != realnode.NODE_NAME


def test_a_restricted_read_only_pod_runs_and_passes_a_real_readiness_probe(real_cluster, namespace, busybox):
    pod = web_pod(real_cluster, namespace, busybox)
    assert pod.spec.node_name == realnode.NODE_NAME
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(realnode.POD_CIDR)
    assert pod.status.container_statuses[0].ready


def test_a_read_only_root_filesystem_is_really_read_only(real_cluster, namespace, busybox):
    phase, log = run_to_completion(real_cluster, namespace, busybox, "touch /tmp/x 2>&1; echo done")
    assert phase == "Succeeded", log
    assert "Read-only file system" in log


def ready_endpoints(cluster, namespace: str, service: str) -> list[str]:
    """The ready addresses of a Service's EndpointSlices."""
    slices = client.DiscoveryV1Api(cluster.api_client).list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}"
    )
    return [
        address
        for s in slices.items
        for e in s.endpoints or []
        if e.conditions and e.conditions.ready
        for address in e.addresses
    ]


def test_a_service_resolves_by_dns_name_and_answers_from_another_pod(real_cluster, namespace, busybox):
    pod = web_pod(real_cluster, namespace, busybox)
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": WEB_PORT}]},
    }
    real_cluster.core.create_namespaced_service(namespace, svc)
    kubeenv.wait_until(
        lambda: pod.status.pod_ip in ready_endpoints(real_cluster, namespace, "web"),
        timeout=30,
        message="the web pod among Service web's ready endpoints",
    )
    host = f"web.{namespace}.svc.cluster.local"
    # busybox's nslookup asks the pod's nameserver (cluster DNS); nc then speaks HTTP to the address
    # (busybox-static's wget segfaults without NSS modules, so it is not used). kube-proxy may program
    # the endpoint a moment after the EndpointSlice shows it (until then the connection is refused), so
    # the client retries; everything goes to stdout so the log keeps the order it was written in.
    phase, log = run_to_completion(
        real_cluster,
        namespace,
        busybox,
        f"i=0; while [ $i -lt 20 ]; do i=$((i + 1)); ip=$(nslookup {host} | awk '/^Address: /{{print $2}}' | tail -1); "
        f'if [ -n "$ip" ]; then echo "resolved $ip"; printf \'GET /index.html HTTP/1.0\\r\\n\\r\\n\' '
        "| nc -w 3 $ip 80 2>&1 && exit 0; fi; sleep 1; done; exit 1",
    )
    assert phase == "Succeeded", log
    service_ip = real_cluster.core.read_namespaced_service("web", namespace).spec.cluster_ip
    assert {line for line in log.splitlines() if line.startswith("resolved ")} == {f"resolved {service_ip}"}
    assert "hello from the real node" in log


CONNECT = (
    # prints "<nc exit code> <seconds> <nc's message>" for a TCP connect to $1:$2
    "s=$(cat /proc/uptime); s=${{s%%.*}}; out=$(nc -w 10 {host} {port} </dev/null 2>&1); rc=$?; "
    'e=$(cat /proc/uptime); e=${{e%%.*}}; echo "$rc $((e - s)) $out"'
)


def connect_from_pod(cluster, namespace: str, image: str, host: str, port: int) -> tuple[int, int, str]:
    phase, log = run_to_completion(cluster, namespace, image, CONNECT.format(host=host, port=port))
    assert phase == "Succeeded", log
    rc, seconds, message = ([*log.strip().split(" ", 2), ""])[:3]
    return int(rc), int(seconds), message


@pytest.mark.parametrize("address", ["203.0.113.7", "192.0.2.1", "8.8.8.8", "1.1.1.1"])
def test_a_pod_cannot_reach_an_outside_address_and_fails_fast(real_cluster, namespace, busybox, address):
    rc, seconds, message = connect_from_pod(real_cluster, namespace, busybox, address, 80)
    assert rc != 0
    assert "refused" in message.lower()  # rejected by the node's chain (a TCP reset)...
    assert seconds <= 2  # ...at once, not a timeout


def test_a_pod_reaches_the_apiserver_but_not_the_kubelet_on_the_bridge_address(real_cluster, namespace, busybox):
    """The kubelet listens on the bridge address too; only the apiserver port and DNS are open to pods."""
    kubelet_port = real_cluster.extra["ports"]["kubelet"]
    assert connect_from_pod(real_cluster, namespace, busybox, "10.0.0.1", 443)[0] == 0  # the kubernetes Service
    rc, _seconds, message = connect_from_pod(real_cluster, namespace, busybox, realnode.GATEWAY, kubelet_port)
    assert rc != 0
    assert "refused" in message.lower()


def test_the_kubelet_pulls_from_the_nodes_registry_which_pods_reach(real_cluster, namespace, busybox):
    """The node's in-house registry (plain HTTP on the bridge address): the image below is pushed there, not
    loaded, so the pod starts only if containerd really pulls it; a pod can open the registry's port."""
    bdir = real_cluster.extra["real_node"]["bin_dir"]
    pushed = oci_registry.push_archive(realnode.REGISTRY, str(realnode.busybox_image(Path(bdir))), "mcpop/pulled:1")
    # another config, so another image ID: when the kubelet pulled the loaded busybox's own image ID under this
    # second name, later pods of the loaded name failed with ErrImageNeverPull (seen with containerd 2.4.2)
    oci_registry.crane("mutate", "--insecure", pushed, "--label", "mcpop.test/pulled=true")
    image = pushed
    name = "pulled"
    spec = on_real_node({**restricted(image, ["/bin/sh", "-c", "echo pulled from the registry"],
                                      imagePullPolicy="Always"), "restartPolicy": "Never"})  # fmt: skip
    create_pod(real_cluster, namespace, name, spec)
    pod = kubeenv.wait_until(
        lambda: (
            (p := real_cluster.core.read_namespaced_pod(name, namespace)).status.phase in ("Succeeded", "Failed") and p
        ),
        timeout=90,
        message="the pulled pod to finish",
    )
    assert pod.status.phase == "Succeeded"
    assert "pulled from the registry" in real_cluster.core.read_namespaced_pod_log(name, namespace)
    assert pod.status.container_statuses[0].image_id.startswith(f"{realnode.REGISTRY}/mcpop/pulled@sha256:")
    host, port = realnode.REGISTRY.split(":")
    phase, log = run_to_completion(real_cluster, namespace, busybox,
                                   f"printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {host} {port}")  # fmt: skip
    assert phase == "Succeeded" and log.startswith("HTTP/1.0 200"), log


def test_names_outside_the_cluster_do_not_resolve(real_cluster, namespace, busybox):
    phase, log = run_to_completion(
        real_cluster, namespace, busybox, "nslookup example.com >/dev/null 2>&1 && echo resolved || echo unresolved"
    )
    assert phase == "Succeeded", log
    assert re.search(r"\bunresolved\b", log)


def test_a_second_real_node_on_the_machine_is_refused_clearly(real_cluster, tmp_path):
    cluster = real_cluster
    proc = subprocess.run(
        ["python3", str(kubeenv.TESTENV), "up", "--real-node", "--state-dir", str(tmp_path / "second")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "a real node already runs on this machine" in proc.stderr
    assert cluster.core.read_node(realnode.NODE_NAME)  # the first one is untouched
    subprocess.run(
        ["python3", str(kubeenv.TESTENV), "down", "--state-dir", str(tmp_path / "second"), "--purge"],
        capture_output=True,
        timeout=120,
    )
