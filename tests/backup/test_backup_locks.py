"""Locks keep prune and backup apart (restic's lock files): a prune waits for a running backup and never
deletes what it is about to reference; a stale lock (its holder died) is ignored; forget and prune work."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC
from pathlib import Path

import pytest

from mcpop.backup import FileTree, MemoryFile, Repository, RepositoryLocked, RetentionPolicy
from mcpop.backup.locks import STALE


def _tree(root: Path, n: int, seed: int) -> None:
    import random

    rnd = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"f{i}").write_bytes(rnd.randbytes(300_000))


def test_prune_refuses_while_a_backup_holds_its_lock(tmp_path: Path) -> None:
    repo = Repository.open(f"file://{tmp_path}/repo", lock_wait=0)
    with repo.lock(exclusive=False), pytest.raises(RepositoryLocked, match=r"shared lock by .* pid"):
        repo.prune()
    assert repo.prune().chunks_deleted == 0  # and runs once the backup is done


def test_a_backup_refuses_while_a_prune_holds_the_exclusive_lock(tmp_path: Path) -> None:
    repo = Repository.open(f"file://{tmp_path}/repo", lock_wait=0)
    with repo.lock(exclusive=True), pytest.raises(RepositoryLocked, match="exclusive lock"):
        repo.backup([MemoryFile("config/a", b"a")], kind="Configuration")


def test_two_backups_may_run_at_once(tmp_path: Path) -> None:
    repo = Repository.open(f"file://{tmp_path}/repo", lock_wait=0)
    with repo.lock(exclusive=False):
        repo.backup([MemoryFile("config/a", b"a")], kind="Configuration")


def test_a_stale_lock_is_ignored_and_cleared_by_prune(tmp_path: Path) -> None:
    repo = Repository.open(f"file://{tmp_path}/repo", lock_wait=0)
    dead = {"time": time.time() - STALE - 60, "exclusive": True, "hostname": "gone", "pid": 1}
    repo.storage.put("locks/deadbeef", json.dumps(dead).encode())
    repo.backup([MemoryFile("config/a", b"a")], kind="Configuration")
    repo.prune()
    assert repo.storage.list("locks") == []


def test_a_prune_during_a_backup_waits_and_the_snapshot_stays_whole(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, 12, seed=1)
    repo = Repository.open(f"file://{tmp_path}/repo", lock_wait=30)
    # orphans from an earlier interrupted run that the new backup will reuse
    orphan_run = Repository.open(f"file://{tmp_path}/repo")
    with pytest.raises(KeyboardInterrupt):
        orphan_run.backup(
            [FileTree(src, "d")], kind="Full", progress=lambda n: (_ for _ in ()).throw(KeyboardInterrupt)
        )
    started = threading.Event()
    result: dict[str, object] = {}

    def slow(_: int) -> None:
        started.set()
        time.sleep(0.05)

    def run_backup() -> None:
        result["snap"] = repo.backup([FileTree(src, "d")], kind="Full", progress=slow)

    t = threading.Thread(target=run_backup)
    t.start()
    started.wait(10)
    pruner = Repository.open(f"file://{tmp_path}/repo", lock_wait=30)
    pruner.prune()  # waits for the backup's lock
    t.join()
    snap = result["snap"]
    assert pruner.verify(read_data=True).ok
    repo.restore(snap.id, tmp_path / "out", subtree="d")  # type: ignore[attr-defined]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in src.iterdir())


def test_forget_then_prune_frees_only_what_no_snapshot_needs(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    src = tmp_path / "src"
    _tree(src, 3, seed=2)
    repo = Repository.open(f"file://{tmp_path}/repo", key="k")
    t0 = datetime(2027, 1, 1, tzinfo=UTC)
    snaps = []
    for day in range(5):
        (src / "changing").write_bytes(bytes([day]) * 200_000)
        snaps.append(repo.backup([FileTree(src, "d")], kind="Incremental", time=t0 + timedelta(days=day)))
    chosen = repo.forget(RetentionPolicy(keep_last=2), now=t0 + timedelta(days=10))
    assert [s.id for s in chosen.keep] == [snaps[4].id, snaps[3].id]
    assert [s.id for s in repo.snapshots()] == [snaps[3].id, snaps[4].id]
    report = repo.prune()
    assert report.chunks_deleted >= 3  # the three forgotten versions of "changing" (and their trees)
    assert repo.verify(read_data=True).ok
    repo.restore(snaps[3].id, tmp_path / "out", subtree="d")
    assert (tmp_path / "out" / "changing").read_bytes() == bytes([3]) * 200_000


def test_forget_dry_run_removes_nothing(tmp_path: Path) -> None:
    repo = Repository.open(f"file://{tmp_path}/repo")
    for i in range(3):
        repo.backup([MemoryFile("config/a", bytes([i]))], kind="Configuration")
    chosen = repo.forget(RetentionPolicy(keep_last=1), dry_run=True)
    assert len(chosen.remove) == 2 and len(repo.snapshots()) == 3
