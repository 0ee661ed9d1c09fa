"""`tools/testenv down` removes everything the real node made."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kubeenv
import realnode
from conftest import on_real_node


def host_snapshot() -> dict:
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {
        "sysctl": {k: realnode.read_sysctl(k) for k in realnode.SYSCTLS},
        "bridge": realnode.BRIDGE in links,
        "chains": realnode.leftover_chains(),
    }


def test_down_leaves_no_container_mount_namespace_chain_bridge_or_cgroup(busybox_loaded_cluster):
    cluster, before = busybox_loaded_cluster
    state = Path(cluster.state_dir)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sleeper"},
        "spec": on_real_node(
            kubeenv.restricted_pod_spec(
                containers=[
                    {
                        **kubeenv.restricted_container(image=realnode.BUSYBOX_IMAGE),
                        "command": ["/bin/sleep", "3600"],
                        "imagePullPolicy": "Never",
                    }
                ]
            )
        ),
    }
    ns = kubeenv.create_namespace(cluster.api_client, prefix="rn-down")
    cluster.core.create_namespaced_pod(ns, pod)
    kubeenv.wait_until(
        lambda: kubeenv.pod_ready(cluster.core.read_namespaced_pod("sleeper", ns)), timeout=90, message="sleeper Ready"
    )
    assert realnode.mounts_under(state / "realnode")  # the pod really made mounts (rootfs, netns, volumes)

    kubeenv.testenv("down", "--state-dir", str(state))

    after = host_snapshot()
    assert not after["bridge"]
    assert after["chains"] == []
    assert after["sysctl"] == before["sysctl"]
    assert realnode.mounts_under(state) == []
    assert not (state / "realnode").exists()
    assert not any((m / realnode.CGROUP_ROOT).exists() for m in realnode.cgroup_mounts())
    assert realnode.shim_pids(realnode.Paths(state)) == []
    assert realnode.owner() is None
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _mentions(p, str(state))]


def _mentions(proc: Path, text: str) -> bool:
    try:
        return text.encode() in (proc / "cmdline").read_bytes() and int(proc.name) != os.getpid()
    except OSError:
        return False
