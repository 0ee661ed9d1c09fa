"""Fixtures for tests on the real kubelet node of ``tools/testenv up --real-node``.

Every test here is marked ``realnode`` and ``cluster``. They run by default where a real node can: as root,
with Debian's runc, CNI plugins and busybox-static installed (``.ci/run`` installs them; the first run builds
the node's binaries from Go modules, as the control plane's). Elsewhere they are skipped, saying what is
missing; ``MCPOP_REAL_NODE_TESTS=0`` skips them too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for `kubeenv`
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))  # tools/ for `realnode`
import kubeenv
import realnode

_HERE = Path(__file__).resolve().parent


def _missing() -> str | None:
    """Why this host cannot run the real node, or None."""
    import shutil

    if os.environ.get("MCPOP_REAL_NODE_TESTS") == "0":
        return "MCPOP_REAL_NODE_TESTS=0"
    if os.geteuid() != 0:
        return "the real node needs root"
    for what, present in (("runc", shutil.which("runc")), ("busybox-static", Path("/bin/busybox").exists()),
                          ("containernetworking-plugins", Path("/usr/lib/cni/bridge").exists()),
                          ("iptables", shutil.which("iptables"))):  # fmt: skip
        if not present:
            return f"{what} is not installed (apt-get install runc containernetworking-plugins busybox-static iptables)"
    return None


def pytest_collection_modifyitems(config, items):
    ours = [item for item in items if _HERE in Path(str(item.fspath)).resolve().parents]
    missing = _missing() if ours else None
    for item in ours:
        item.add_marker(pytest.mark.realnode)
        item.add_marker(pytest.mark.cluster)
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"no real node here: {missing}"))


@pytest.fixture(scope="module")
def real_cluster() -> Iterator[kubeenv.KubeCluster]:
    """An own control plane with the real node, for this module only (one real node per machine)."""
    with kubeenv.kube_cluster_context(f"{os.getpid()}-rn-{uuid_suffix()}", real_node=True) as cluster:
        yield cluster


def uuid_suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def busybox(real_cluster: kubeenv.KubeCluster) -> str:
    """Debian's busybox-static as a one-layer image, loaded into the real node; returns its name."""
    bdir = Path(real_cluster.extra["real_node"]["bin_dir"])
    archive = realnode.busybox_image(bdir)
    kubeenv.testenv("load-image", "--state-dir", str(real_cluster.state_dir), str(archive), realnode.BUSYBOX_IMAGE)
    return realnode.BUSYBOX_IMAGE


@pytest.fixture
def namespace(real_cluster: kubeenv.KubeCluster) -> Iterator[str]:
    name = kubeenv.create_namespace(real_cluster.api_client, prefix="rn")
    try:
        yield name
    finally:
        kubeenv.delete_namespace(real_cluster.api_client, name)


def on_real_node(spec: dict) -> dict:
    """The pod spec, placed on the real node: select it and tolerate its taint."""
    return {
        **spec,
        "nodeSelector": {realnode.NODE_LABEL[0]: realnode.NODE_LABEL[1]},
        "tolerations": [{**realnode.NODE_TAINT, "operator": "Equal"}],
    }


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


@pytest.fixture(scope="module")
def busybox_loaded_cluster():
    """Like real_cluster + busybox, and what the host looked like before `up` (for the teardown test)."""
    from test_teardown import host_snapshot

    before = host_snapshot()
    with kubeenv.kube_cluster_context(f"{os.getpid()}-rn-{uuid_suffix()}", real_node=True) as cluster:
        bdir = Path(cluster.extra["real_node"]["bin_dir"])
        kubeenv.testenv("load-image", "--state-dir", str(cluster.state_dir), str(realnode.busybox_image(bdir)))
        yield cluster, before
