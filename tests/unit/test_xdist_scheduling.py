"""How the suite's files are handed to pytest-xdist workers (tests/conftest.py's scheduler), driven with
stand-in workers: heaviest first, the real node's files on one worker, the cluster files held back until
the real node's are done."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

COLLECTION = [
    "tests/unit/test_a.py::test_1",
    "tests/unit/test_a.py::test_2",
    "tests/cluster/test_c.py::test_1",
    "tests/cluster/test_c.py::test_2",
    "tests/realnode/test_r.py::test_1",
    "tests/realnode/test_r.py::test_2",
    "tests/images/test_i.py::test_1",
    "tests/images/test_i.py::test_2",
    "tests/backup/test_b.py::test_1",
    "tests/unit/test_d.py::test_1",
]


@dataclass(eq=False)
class Worker:
    """A stand-in for xdist's WorkerController: records what it is asked to run."""

    name: str
    ran: list[str] = field(default_factory=list)
    shutting_down: bool = False

    @property
    def gateway(self) -> Any:
        return type("Gateway", (), {"id": self.name})()

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.ran += [COLLECTION[i] for i in indexes]

    def shutdown(self) -> None:
        self.shutting_down = True


def suite_conftest() -> Any:
    """tests/conftest.py as a module of its own (`import conftest` finds whichever conftest was loaded last)."""
    spec = importlib.util.spec_from_file_location("suite_conftest", ROOT_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def scheduler(pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(pytestconfig.option, "dist", "loadfile", raising=False)
    monkeypatch.setattr(pytestconfig.option, "numprocesses", 2, raising=False)
    monkeypatch.setattr(pytestconfig.option, "tx", ["popen"] * 2, raising=False)
    conftest = suite_conftest()
    monkeypatch.setattr(conftest, "_shared_cluster", lambda: False)
    sched = conftest.pytest_xdist_make_scheduler(pytestconfig, None)
    workers = [Worker("gw0"), Worker("gw1")]
    for w in workers:
        sched.add_node(w)
        sched.add_node_collection(w, COLLECTION)
    sched.schedule()
    return sched, workers


def finish(sched: Any, worker: Worker, prefix: str) -> None:
    for nodeid in [n for n in worker.ran if n.startswith(prefix)]:
        sched.mark_test_complete(worker, COLLECTION.index(nodeid))


def test_the_real_node_and_image_files_go_to_one_worker_first(scheduler: Any) -> None:
    _, (gw0, _) = scheduler
    assert [n.split("::")[0] for n in gw0.ran] == ["tests/realnode/test_r.py"] * 2 + ["tests/images/test_i.py"] * 2


def test_cluster_files_wait_while_the_real_node_runs(scheduler: Any) -> None:
    sched, (gw0, gw1) = scheduler
    finish(sched, gw1, "tests/")  # the other worker runs everything else meanwhile
    finish(sched, gw1, "tests/")
    finish(sched, gw1, "tests/")
    assert not any(n.startswith("tests/cluster/") for n in gw0.ran + gw1.ran)
    assert {n.split("::")[0] for n in gw1.ran} == {"tests/backup/test_b.py", "tests/unit/test_a.py",
                                                   "tests/unit/test_d.py"}  # fmt: skip


def test_cluster_files_start_on_an_idle_worker_once_the_real_node_is_done(scheduler: Any) -> None:
    sched, (gw0, gw1) = scheduler
    for _ in range(3):
        finish(sched, gw1, "tests/")
    finish(sched, gw0, "tests/realnode/")
    finish(sched, gw0, "tests/images/")
    assert "tests/cluster/test_c.py::test_1" in gw0.ran + gw1.ran


def test_the_worker_holding_the_real_nodes_last_test_gets_the_cluster_files(scheduler: Any) -> None:
    """A worker runs its last test only once it is sent another (or shut down): with only that test of the real
    node left, the held-back cluster files are handed out, or the run would wait for ever."""
    sched, (gw0, gw1) = scheduler
    for _ in range(3):
        finish(sched, gw1, "tests/")
    real = [n for n in gw0.ran if n.startswith(("tests/realnode/", "tests/images/"))]
    for nodeid in real[:-1]:
        sched.mark_test_complete(gw0, COLLECTION.index(nodeid))
    assert "tests/cluster/test_c.py::test_1" in gw0.ran + gw1.ran


def test_no_two_test_files_share_a_name() -> None:
    """Test modules are imported by their base name (rootdir-relative, no packages): two files of one name
    in different directories fail collection on a worker that imports both."""
    names = [p.name for p in ROOT_CONFTEST.parent.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
