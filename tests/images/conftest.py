"""tests/images: every test here runs the test images with runc; marked `images`, skipped (with the
reason) where runc, root or network namespaces are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _missing() -> str | None:
    if shutil.which("runc") is None:
        return "runc is not installed (apt-get install runc; .ci/run does)"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed: the tests put each container in a loopback-only netns"
    if os.geteuid() != 0:
        return "runc and `ip netns` need root"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a network namespace here: {probe.stderr.strip()}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    checked = False
    for item in items:
        if HERE not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.images)
        if not checked:
            reason, checked = _missing(), True
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


_RAN: list[str] = []  # the tests here this process ran (an xdist worker runs some files, not all)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if HERE in Path(str(item.fspath)).parents:
        _RAN.append(item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove what an interrupted test may have left: its runc containers and network namespaces. Only in
    the process that ran tests here: under pytest-xdist another worker may finish while these still run."""
    if not _RAN or shutil.which("runc") is None or os.geteuid() != 0:
        return
    from runc_harness import NETNS_PREFIX, runc

    listed = subprocess.run(runc("list", "--quiet"), capture_output=True, text=True)
    for cid in listed.stdout.split():
        subprocess.run(runc("delete", "--force", cid), capture_output=True)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in netns.stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(NETNS_PREFIX):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
