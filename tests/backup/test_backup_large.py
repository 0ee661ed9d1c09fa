"""Large data against the local storage servers: a file over 200 MB streams through backup and restore within
200 MiB of peak memory (measured in a child process) on S3, GCS and Azure, and after changing 1 % of a 1 GiB
data set the next incremental backup uploads at most 3 % of it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup.conftest import BUCKET, Servers
from backup.datasets import change_one_percent, digest, make_dataset, write_file
from mcpop.backup import FileTree, Repository

pytestmark = pytest.mark.slow
MIB = 1 << 20
REPO_ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, sys
    from mcpop.backup import FileTree, Repository
    args = json.loads(sys.argv[1])
    repo = Repository.open(args["url"], storage_options=args["options"], key="k", compression="zstd")
    if args["op"] == "backup":
        snap = repo.backup([FileTree(args["path"], "data")], kind="Full")
        out = {"id": snap.id, "size": snap.size}
    else:
        report = repo.restore(args["id"], args["path"], subtree="data")
        out = {"bytes": report.bytes}
    # VmHWM: this process's own peak (ru_maxrss would include the parent's peak before exec)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    out["maxrss_mib"] = int(hwm.split()[1]) / 1024
    print(json.dumps(out))
    """
)


def _child(**args: object) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true",
             "HOME": str(Path.home())},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)  # gigabytes: do not leave them for pytest's keep-3 policy


@pytest.mark.parametrize("name", ["s3", "gcs", "azure"])
def test_a_file_over_200_mb_streams_within_200_mib_of_memory(name: str, servers: Servers, scratch: Path) -> None:
    srv = servers.get(name)
    src = scratch / "src"
    write_file(src / "large.bin", 256 * MIB, seed=7)
    write_file(src / "large.log", 8 * MIB, seed=8, compressible=True)
    url = srv.url(BUCKET, f"large-{name}")
    backup = _child(op="backup", url=url, options=srv.options(), path=str(src))
    assert backup["size"] == 264 * MIB
    out = scratch / "out"
    restore = _child(op="restore", url=url, options=srv.options(), path=str(out), id=backup["id"])
    assert restore["bytes"] == 264 * MIB
    assert digest(out) == digest(src)
    assert float(backup["maxrss_mib"]) < 200, backup  # type: ignore[arg-type]
    assert float(restore["maxrss_mib"]) < 200, restore  # type: ignore[arg-type]
    repo = Repository.open(url, storage_options=srv.options(), key="k")
    repo.storage.delete([o.key for o in repo.storage.list("")])  # free the server's disk


def test_changing_one_percent_of_1_gib_uploads_at_most_three_percent(servers: Servers, scratch: Path) -> None:
    srv = servers.get("s3")
    total = 1 << 30
    src = scratch / "src"
    make_dataset(src, total)
    repo = Repository.open(srv.url(BUCKET, "incremental"), storage_options=srv.options(), key="k")
    first = repo.backup([FileTree(src, "data/pvc")], kind="Incremental")
    assert first.size == total
    before = {o.key: o.size for o in repo.storage.list("")}

    changed = change_one_percent(src, total)
    assert total // 100 <= changed < total // 100 + MIB
    second = repo.backup([FileTree(src, "data/pvc")], kind="Incremental")
    new_objects = {
        o.key: o.size for o in repo.storage.list("") if o.key not in before and not o.key.startswith("locks/")
    }
    uploaded = sum(new_objects.values())
    assert uploaded <= 0.03 * total, f"uploaded {uploaded / MIB:.1f} MiB of {total / MIB:.0f} MiB"
    assert second.bytes_uploaded <= uploaded
    # repetitive data has no content-defined cut points (its chunks are all max-size), so an overwrite re-cuts
    # the rest of that file: more plaintext is new than changed, but it compresses to almost nothing
    assert second.dedup_ratio > 0.85

    out = scratch / "out"
    repo.restore(second.id, out, subtree="data/pvc")
    assert digest(out) == digest(src)
