"""A hostile bucket and a hostile server: snapshots forged with the repository's own encoders (as anyone with
write access to an unencrypted bucket can) whose entries leave the target, climb through symlinks or lie
about sizes; a chunk whose compression header claims more than it holds; a key file whose scrypt
parameters would take minutes; and a server that swaps a file for a symlink while it is being backed up.
Each is refused (or skipped) with a clear error, and nothing is written outside the restore target."""

from __future__ import annotations

import hashlib
import json
import os
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard

from mcpop.backup import BackupError, FileTree, Repository, RepositoryCorrupt, WrongKey
from mcpop.backup.objects import chunk_key
from mcpop.backup.tree import CHUNK_LIMIT, encode_entry

KEY = "the-backup-key"


def _put_chunk(repo: Repository, data: bytes) -> list[Any]:
    cid = repo.codec.chunk_id(data)
    repo.storage.put(chunk_key(cid), repo.codec.encode_chunk(cid, data))
    return [cid, len(data)]


def _entry(path: str, kind: str = "file", **fields: Any) -> dict[str, Any]:
    return {"path": path, "type": kind, "mode": 0o644, "mtime_ns": 0, "uid": 0, "gid": 0, **fields}


def _file(repo: Repository, path: str, data: bytes) -> dict[str, Any]:
    return _entry(path, size=len(data), chunks=[_put_chunk(repo, data)])


def forge(repo: Repository, entries: list[dict[str, Any]]) -> str:
    """A snapshot holding exactly `entries`, written with the repository's own tree and snapshot encoders."""
    tree = _put_chunk(repo, b"".join(encode_entry(e) for e in entries))
    doc = {
        "version": 1, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "kind": "Full", "meta": {},
        "tree": [tree], "files": len(entries), "dirs": 0, "size": 0, "bytes_uploaded": 0,
        "bytes_deduplicated": 0, "duration_seconds": 0.0, "parent": None,
    }  # fmt: skip
    return repo.write_snapshot(doc)[0]


def _stored_chunk(repo: Repository, data: bytes, stored: bytes) -> str:
    """A snapshot of one file `f` holding `data`, whose one chunk is stored as `stored`; its id."""
    cid = repo.codec.chunk_id(data)
    repo.storage.put(chunk_key(cid), stored)
    return forge(repo, [_entry("f", size=len(data), chunks=[[cid, len(data)]])])


def _restore_refused_in_bounded_memory(repo: Repository, sid: str, target: Path, message: str) -> None:
    """The restore fails with `message`, its memory peak staying under 16 MiB."""
    tracemalloc.start()
    try:
        with pytest.raises(RepositoryCorrupt, match=message):
            repo.restore(sid, target)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository.open(f"file://{tmp_path}/repo")


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("path", ["../../escaped", "{tmp}/escaped", "a/../../escaped"])
def test_an_entry_leaving_the_snapshot_is_refused_and_nothing_is_written(
    repo: Repository, tmp_path: Path, path: str
) -> None:
    sid = forge(repo, [_file(repo, path.format(tmp=tmp_path), b"owned\n")])
    with pytest.raises(RepositoryCorrupt, match="invalid entry name"):
        repo.restore(sid, tmp_path / "deep" / "target")
    assert not (tmp_path / "escaped").exists()
    assert _listing(tmp_path / "deep") == []


def test_a_file_below_a_symlink_entry_is_refused_and_nothing_is_written(repo: Repository, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    sid = forge(repo, [_entry("link", "symlink", target=str(outside)), _file(repo, "link/planted", b"owned\n")])
    with pytest.raises(RepositoryCorrupt, match="below the non-directory 'link'"):
        repo.restore(sid, tmp_path / "target")
    assert _listing(outside) == []
    assert _listing(tmp_path / "target") == []


def test_a_symlink_listed_after_the_file_below_it_is_refused_too(repo: Repository, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    sid = forge(repo, [_file(repo, "link/planted", b"owned\n"), _entry("link", "symlink", target=str(outside))])
    with pytest.raises(RepositoryCorrupt, match="with entries below it"):
        repo.restore(sid, tmp_path / "target")
    assert _listing(outside) == []


def test_a_symlink_already_in_the_target_is_replaced_by_a_directory_not_followed(
    repo: Repository, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "dir").symlink_to(outside)
    sid = forge(repo, [_file(repo, "dir/planted", b"restored\n")])
    repo.restore(sid, target)
    assert _listing(outside) == []
    assert not (target / "dir").is_symlink()
    assert (target / "dir" / "planted").read_bytes() == b"restored\n"


def test_an_entry_whose_size_is_not_the_sum_of_its_chunks_is_refused(repo: Repository, tmp_path: Path) -> None:
    entry = _file(repo, "big", b"four")
    entry["size"] = 1 << 40  # restored as a 1 TiB sparse file before the check
    sid = forge(repo, [entry])
    with pytest.raises(RepositoryCorrupt, match="not the sum of its chunks"):
        repo.restore(sid, tmp_path / "target")
    assert _listing(tmp_path / "target") == []


def test_configuration_files_larger_than_the_limit_are_refused_before_they_are_fetched(repo: Repository) -> None:
    chunk = [repo.codec.chunk_id(b"x"), CHUNK_LIMIT]  # never stored: the refusal must come before any fetch
    huge = _entry("config/huge.yaml", size=100 * CHUNK_LIMIT, chunks=[chunk] * 100)
    sid = forge(repo, [huge])
    with pytest.raises(BackupError, match="hold 838860800 bytes, more than the 67108864 read into memory"):
        repo.read_files(sid, "config")


def test_a_zstd_frame_claiming_more_than_its_recorded_size_is_refused_without_allocating_it(
    repo: Repository, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 64  # 16 KiB recorded: the bomb's stored size fits
    writer = zstandard.ZstdCompressor().compressobj(size=256 << 20)  # a frame header claiming 256 MiB
    zeros = bytes(1 << 20)
    bomb = b"".join(writer.compress(zeros) for _ in range(256)) + writer.flush()
    sid = _stored_chunk(repo, data, b"\x02" + bomb)
    _restore_refused_in_bounded_memory(repo, sid, tmp_path / "target", "larger than recorded")


def test_a_chunk_object_larger_than_its_recorded_size_is_refused_reading_only_what_it_may_hold(
    repo: Repository, tmp_path: Path
) -> None:
    data = b"y" * 100
    sid = _stored_chunk(repo, data, b"\x00" + data + bytes(64 << 20))  # raw: 64 MiB of padding
    message = "stored object is larger than a chunk of 100 bytes can be"
    _restore_refused_in_bounded_memory(repo, sid, tmp_path / "target", message)


def test_a_key_file_with_costly_scrypt_parameters_is_refused_without_deriving(tmp_path: Path) -> None:
    repo = Repository.open(f"file://{tmp_path}/repo", key=KEY)
    (key_obj,) = repo.storage.list("keys")
    doc = json.loads(repo.storage.get(key_obj.key) or b"")
    doc.update(n=2**15, r=8, p=64)  # 64 times the default work: about 20 s per attempt
    forged = json.dumps(doc).encode()
    repo.storage.delete([key_obj.key])
    repo.storage.put(f"keys/{hashlib.sha256(forged).hexdigest()}", forged)
    started = time.monotonic()
    with pytest.raises(WrongKey, match=r"refused keys/[0-9a-f]+: scrypt parameters n=32768 r=8 p=64 exceed"):
        Repository.open(f"file://{tmp_path}/repo", key=KEY)
    assert time.monotonic() - started < 2.0


def test_a_file_swapped_for_a_symlink_after_lstat_is_skipped_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server writes its volume while it is backed up: `token` becomes a symlink to a file that, like
    /proc/self/environ in the backup pod, holds the backup's own credentials."""
    credentials = tmp_path / "environ"
    credentials.write_bytes(b"MCPOP_S3_SECRET_ACCESS_KEY=hunter2\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "token").write_bytes(b"an ordinary file\n")
    real_lstat = os.lstat
    swapped = []

    def lstat_then_swap(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        st = real_lstat(path, *args, **kwargs)
        if os.fsdecode(path).endswith("token") and not swapped:
            swapped.append(path)
            (src / "token").unlink()
            (src / "token").symlink_to(credentials)
        return st

    monkeypatch.setattr(os, "lstat", lstat_then_swap)
    repo = Repository.open(f"file://{tmp_path}/repo")
    snap = repo.backup([FileTree(src, "data/vol")], kind="Full")
    monkeypatch.undo()
    assert swapped
    assert snap.skipped == ("data/vol/token",)
    assert repo.read_files(snap.id, "data") == {}
    for path in (tmp_path / "repo").rglob("*"):
        if path.is_file():
            assert b"hunter2" not in path.read_bytes(), path
