"""Fixtures for tests on the real kubelet node of ``tools/testenv up --real-node``.

Every test here is marked ``realnode`` and ``cluster``. They need root, runc, the CNI plugins and
busybox-static, and only one real node can exist per machine, so they are opt-in: they run when
``MCPOP_REAL_NODE_TESTS=1`` (``.ci/run`` sets it) and are skipped otherwise.
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


def pytest_collection_modifyitems(config, items):
    enabled = os.environ.get("MCPOP_REAL_NODE_TESTS") == "1"
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.realnode)
            item.add_marker(pytest.mark.cluster)
            if not enabled:
                item.add_marker(pytest.mark.skip(reason="real-node tests are opt-in: set MCPOP_REAL_NODE_TESTS=1"))


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
