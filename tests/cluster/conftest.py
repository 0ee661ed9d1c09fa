"""Fixtures for tests against a real control plane (see tests/kubeenv.py).

Every test under tests/cluster/ is marked ``cluster``; run the fast suite
alone with ``pytest -m "not cluster"``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for `kubeenv`
import kubeenv

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def kube_cluster(worker_id_safe):
    """The cluster for this test session: an existing one
    (MCPOP_TEST_KUBECONFIG, or KUBECONFIG with MCPOP_USE_KUBECONFIG=1) or a
    fresh control plane from tools/testenv, stopped at session end."""
    with kubeenv.kube_cluster_context(f"{os.getpid()}-{worker_id_safe}") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def worker_id_safe(request):
    # pytest-xdist's worker id when present ("gw0"), else "main".
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture
def namespace(kube_cluster):
    """A fresh namespace enforcing the `restricted` Pod Security Standard,
    deleted after the test."""
    name = kubeenv.create_namespace(kube_cluster.api_client)
    try:
        yield name
    finally:
        kubeenv.delete_namespace(kube_cluster.api_client, name)


@pytest.fixture
def registry_operator(kube_cluster, operator_kubeconfig, namespace, tmp_path):
    """The operator for the MCPRegistry tests (tests/cluster/registry_harness.py), syncing every 30 s; a
    module that needs another period defines its own."""
    from registry_harness import registry_operator_process

    with registry_operator_process(kube_cluster.api_client, operator_kubeconfig, namespace, tmp_path, "30s") as op:
        yield op
