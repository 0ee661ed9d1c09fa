"""Backup → restore round trips against every backend (local directory, moto S3, the GCS emulator, Azurite):
byte-identical trees with modes, symlinks, empty and sparse files and unicode names, for every backup kind,
with and without compression and encryption; configuration files restored in memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backup.conftest import Backend, tree_digest, write_tree
from mcpop.backup import FileTree, MemoryFile, Repository

KEY = "correct horse battery staple"


def _open(b: Backend, *, key: str | None = KEY, compression: str = "zstd") -> Repository:
    return Repository.open(b.url, storage_options=b.options, key=key, compression=compression)  # type: ignore[arg-type]


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain"])
def test_round_trip_is_byte_identical(backend: Backend, tmp_path: Path, compression: str, encrypted: bool) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_tree(src)
    repo = _open(backend, key=KEY if encrypted else None, compression=compression)
    assert repo.encrypted is encrypted
    snap = repo.backup([FileTree(src, "data/pvc")], kind="Full")
    out = tmp_path / "out"
    report = _open(backend, key=KEY if encrypted else None).restore(snap.id, out, subtree="data/pvc")
    assert tree_digest(out) == tree_digest(src)
    assert report.files == len([p for p in src.rglob("*") if p.is_file() and not p.is_symlink()])
    assert report.symlinks == 2


@pytest.mark.parametrize("kind", ["Configuration", "Full", "Incremental"])
def test_every_kind_restores_on_its_own(backend: Backend, tmp_path: Path, kind: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_tree(src)
    repo = _open(backend)
    config = [MemoryFile("config/mcpserver.yaml", b"kind: MCPServer\n", 0o644)]
    sources = config if kind == "Configuration" else [*config, FileTree(src, "data/pvc")]
    first = repo.backup(sources, kind=kind)  # type: ignore[arg-type]
    before = tree_digest(src)
    (src / "notes.md").write_text("changed\n")
    (src / "new.txt").write_text("new\n")
    second = repo.backup(sources, kind=kind)  # type: ignore[arg-type]
    assert second.kind == kind
    if kind == "Incremental":
        assert second.parent == first.id
    if kind != "Configuration":
        for snap, expected in ((first, before), (second, tree_digest(src))):
            out = tmp_path / f"out-{snap.short_id}"
            repo.restore(snap.id, out, subtree="data/pvc")
            assert tree_digest(out) == expected
    files = repo.read_files(first.id, "config")
    assert files["mcpserver.yaml"].data == b"kind: MCPServer\n"
    assert files["mcpserver.yaml"].mode == 0o644


def test_an_empty_source_tree_round_trips(backend: Backend, tmp_path: Path) -> None:
    src = tmp_path / "empty"
    src.mkdir()
    repo = _open(backend)
    snap = repo.backup([FileTree(src, "data/pvc"), MemoryFile("config/empty", b"")], kind="Full")
    assert (snap.files, snap.size) == (1, 0)
    repo.restore(snap.id, tmp_path / "out")
    assert (tmp_path / "out" / "config" / "empty").read_bytes() == b""
    assert list((tmp_path / "out" / "data" / "pvc").iterdir()) == []


def test_restore_keeps_times_and_sparse_files_stay_sparse(tmp_path: Path, servers: object) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_tree(src)
    os.utime(src / "notes.md", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    repo = Repository.open(f"file://{tmp_path}/repo")
    snap = repo.backup([FileTree(src, "d")], kind="Full")
    repo.restore(snap.id, tmp_path / "out", subtree="d")
    assert os.stat(tmp_path / "out" / "notes.md").st_mtime_ns == 1_600_000_000_123_456_789
    sparse = os.stat(tmp_path / "out" / "sparse.img")
    assert sparse.st_size == 12 * 1024 * 1024
    assert sparse.st_blocks * 512 < 2 * 1024 * 1024  # the holes were not written out


def test_restore_into_a_populated_directory_replaces_what_the_snapshot_holds(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("from the snapshot\n")
    (src / "dir").mkdir()
    repo = Repository.open(f"file://{tmp_path}/repo")
    snap = repo.backup([FileTree(src, "d")], kind="Full")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("local edit\n")
    (out / "dir").write_text("a file where the snapshot has a directory\n")
    (out / "other.txt").write_text("untouched\n")
    repo.restore(snap.id, out, subtree="d")
    assert (out / "a.txt").read_text() == "from the snapshot\n"
    assert (out / "dir").is_dir()
    assert (out / "other.txt").read_text() == "untouched\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".mcpop-restore")]


def test_sockets_and_fifos_are_skipped_and_listed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    os.mkfifo(src / "pipe")
    snap = Repository.open(f"file://{tmp_path}/repo").backup([FileTree(src, "d")], kind="Full")
    assert snap.skipped == ("d/pipe",)
    assert snap.to_dict()["skipped"] == ["d/pipe"]
