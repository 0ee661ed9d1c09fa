"""Shared pytest options and the suite's configuration.

- `--update-golden` rewrites every file under golden/ instead of comparing against it, and runs only the
  tests that own one (`python3 -m pytest --update-golden`, then review `git diff golden/`).
- Hypothesis profiles: `ci` (the default) and `thorough` (`HYPOTHESIS_PROFILE=thorough`, for local runs).
- pytest-xdist (`-n auto --dist loadfile` in pyproject's addopts): how many workers, and which files must
  share one (see `pytest_xdist_make_scheduler`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# ---------------------------------------------------------------------------- hypothesis

# `ci`, the default: what every run of the suite does, with Hypothesis' default 100 examples (a test that sets
# its own max_examples keeps it). No deadline and no "too slow" health check: both measure wall time, which on
# a loaded CI machine says nothing about the code, and a flaky failure costs a whole run. A failure prints the
# blob that reproduces it (`@reproduce_failure`). Property tests take ~1 min of the suite's CPU in all.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
# `thorough` (HYPOTHESIS_PROFILE=thorough): 1,000 examples for every property test that does not set its own
# max_examples, for a local run before a change to the renderer, the readers or the CLI.
settings.register_profile("thorough", parent=settings.get_profile("ci"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden/ from the current code, running only the tests that compare against it",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--update-golden"):
        return
    kept = [item for item in items if "golden" in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """`golden(path, text)`: `text` is golden/<path> exactly; with `--update-golden` the file is rewritten first."""
    update = bool(request.config.getoption("--update-golden"))

    def check(path: str, text: str) -> None:
        file = GOLDEN / path
        if update:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text)
        assert file.exists(), f"no golden file golden/{path}: run with --update-golden"
        assert file.read_text() == text, f"golden/{path} differs: review, then --update-golden"

    return check


# ---------------------------------------------------------------------------- pytest-xdist

# Units of work, heaviest first (a long unit started last would run alone at the end). Every test file is one
# unit (`--dist loadfile`): module fixtures (a module's operator, a real node) are set up once, and the tests
# of a file run in order on one worker, as without xdist. Each worker that runs cluster tests starts its own
# control plane (tests/cluster/conftest.py's `kube_cluster`), so workers share no Kubernetes state.
#
# One unit for all of tests/realnode/ and tests/images/: there is one real node per machine (each realnode
# module starts its own, and a second `up --real-node` fails), and both run real containers.
SERIAL_UNITS = {
    "tests/realnode/": "tests/realnode/ + tests/images/",
    "tests/images/": "tests/realnode/ + tests/images/",
}
REAL_NODE_UNIT = "tests/realnode/ + tests/images/"
HEAVY_FIRST = (
    "tests/realnode/", "tests/images/", "tests/cluster/", "tests/backup/", "tests/install/",
    "tests/conformance/",  # two files, ~30 s each: the conformance suite's 32 scenarios, without and with auth
    "tests/",
)  # fmt: skip
#: units that never run beside the real node: a control plane started while the real node sets up its
#: network (CNI, kube-proxy's iptables) failed cluster tests in a full run (2026-12-06). Run beside it again on
#: 2026-12-07 (after the testenv port fix), `mcp logs` against the fake nodes failed with the apiserver's
#: "no preferred addresses found; known addresses: []" (the kwok nodes had no address). They wait until the
#: real node's unit has finished; the other worker runs everything else meanwhile.
APART_FROM_REAL_NODE = ("tests/cluster/",)


def work_unit(path: str) -> str:
    """The xdist unit of work of a test file (a path relative to the rootdir)."""
    for prefix, unit in SERIAL_UNITS.items():
        if path.startswith(prefix):
            return unit
    if path.startswith("tests/cluster/") and _shared_cluster():
        return "tests/cluster/"  # one existing cluster for every worker: its cluster-wide objects are shared
    return path


def _shared_cluster() -> bool:
    from kubeenv import existing_kubeconfig

    return existing_kubeconfig() is not None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per CPU this process may use, at most 4 (each worker running cluster tests
    starts a control plane of ~700 MiB); PYTEST_XDIST_AUTO_NUM_WORKERS overrides it, as in xdist."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    return max(1, min(4, len(os.sched_getaffinity(0))))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, with the units of `work_unit` handed out heaviest directory first, and the units of
    APART_FROM_REAL_NODE held back while the real node's unit is queued or running."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    def rank(unit: str) -> int:
        return next((i for i, d in enumerate(HEAVY_FIRST) if unit.startswith(d)), len(HEAVY_FIRST))

    class Scheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid.split("::", 1)[0])

        def _real_node_pending(self) -> bool:
            if REAL_NODE_UNIT in self.workqueue:
                return True
            # An xdist worker runs its last test only once it has a next one (pytest needs `nextitem`) or is
            # shut down: waiting for the real node's last test to complete as well would hold everything back
            # for ever (a full run hung so on 2026-12-07). Its network is long set up by then.
            return any(sum(not done for done in unit.get(REAL_NODE_UNIT, {}).values()) > 1
                       for unit in self.assigned_work.values())  # fmt: skip

        def _eligible(self, unit: str) -> bool:
            return not (unit.startswith(APART_FROM_REAL_NODE) and self._real_node_pending())

        def _assign_work_unit(self, node: Any) -> None:
            # the queue is built in collection order; hand out the heaviest eligible unit first
            for unit in sorted(self.workqueue, key=rank):
                self.workqueue.move_to_end(unit)
            eligible = [u for u in self.workqueue if self._eligible(u)]
            if not eligible:
                return  # this worker waits; mark_test_complete wakes it when the real node's unit is done
            for unit in [u for u in self.workqueue if u not in eligible]:
                self.workqueue.move_to_end(unit)
            super()._assign_work_unit(node)

        def mark_test_complete(self, node: Any, item_index: int | str, duration: float = 0) -> None:
            waiting = self._real_node_pending()
            super().mark_test_complete(node, item_index, duration)
            if waiting and not self._real_node_pending():
                for other in self.nodes:
                    if other is not node and not other.shutting_down and self.workqueue:
                        self._reschedule(other)

    return Scheduling(config, log)
