"""Faults: a storage server killed in the middle of an upload (no partial snapshot, old snapshots intact, the
retried run succeeds and reuses what was uploaded), a short outage ridden out by retries, an interrupted run,
corrupted and missing chunks (verify reports them by object and snapshot, restore refuses and writes
nothing), wrong and missing keys and credentials (clear errors, no secret in any message or log line)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import storage_servers

from backup.conftest import BUCKET, Backend, Servers, make_backend, tree_digest
from mcpop.backup import (
    CredentialsError,
    EncryptionMismatch,
    FileTree,
    KeyRequired,
    MemoryFile,
    Repository,
    RepositoryCorrupt,
    RetryPolicy,
    StorageError,
    WrongKey,
)
from mcpop.backup.objects import chunk_key

KEY = "the-backup-key"


def _random_tree(root: Path, files: int, size: int, seed: int) -> None:
    rnd = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (root / f"f{i:03}.bin").write_bytes(rnd.randbytes(size))


@pytest.fixture
def azurite(tmp_path: Path) -> Iterator[storage_servers.AzureServer]:
    """An Azurite of this test's own (it gets killed), its data on disk."""
    storage_servers.ensure_installed()
    srv = storage_servers.AzureServer(tmp_path / "azurite").start()
    srv.make_bucket(BUCKET)
    yield srv
    srv.stop()


# Azurite saves its metadata every 5 s, so a SIGKILL forgets what it acknowledged in the last 5 s (no real
# service does that): the crash test lets the state it relies on (bucket, older snapshot) settle first.
AZURITE_FLUSH = 6.0


@pytest.mark.slow
def test_a_server_killed_mid_upload_leaves_no_partial_snapshot_and_the_retried_run_succeeds(
    azurite: storage_servers.AzureServer, tmp_path: Path
) -> None:
    url, opts = azurite.url(BUCKET, "crash"), azurite.options()
    fast_fail = RetryPolicy(attempts=2, initial_delay=0.1, max_delay=0.2, deadline=5)
    old_src = tmp_path / "old"
    _random_tree(old_src, 3, 100_000, seed=1)
    repo = Repository.open(url, storage_options=opts, key=KEY, retry=fast_fail)
    old = repo.backup([FileTree(old_src, "data/pvc")], kind="Full")
    time.sleep(AZURITE_FLUSH)

    src = tmp_path / "src"
    _random_tree(src, 40, 1_000_000, seed=2)
    seen = 0

    def kill_half_way(n: int) -> None:
        nonlocal seen
        seen += n
        if seen > 20_000_000 and azurite.proc is not None:
            azurite.kill()

    with pytest.raises(StorageError) as failed:
        repo.backup([FileTree(src, "data/pvc")], kind="Full", progress=kill_half_way)
    assert "az://mcpop-test/crash" in str(failed.value) and storage_servers.AZURE_KEY not in str(failed.value)

    azurite.start()
    again = Repository.open(url, storage_options=opts, key=KEY)
    assert [s.id for s in again.snapshots()] == [old.id]  # nothing half-written is visible
    assert again.verify(read_data=True).ok
    new = again.backup([FileTree(src, "data/pvc")], kind="Full")
    assert [s.id for s in again.snapshots()] == [old.id, new.id]
    again.restore(new.id, tmp_path / "out-new", subtree="data/pvc")
    again.restore(old.id, tmp_path / "out-old", subtree="data/pvc")
    assert tree_digest(tmp_path / "out-new") == tree_digest(src)
    assert tree_digest(tmp_path / "out-old") == tree_digest(old_src)


@pytest.mark.slow
def test_a_hung_server_is_ridden_out_by_retries(tmp_path: Path) -> None:
    storage_servers.ensure_installed()
    srv = storage_servers.S3Server(tmp_path / "s3").start()
    try:
        srv.make_bucket(BUCKET)
        src = tmp_path / "src"
        _random_tree(src, 20, 500_000, seed=3)
        patient = RetryPolicy(attempts=30, initial_delay=0.2, max_delay=1.0, deadline=60)
        opts = srv.options(read_timeout=1)
        repo = Repository.open(srv.url(BUCKET, "hang"), storage_options=opts, retry=patient)
        seen = 0
        frozen = False

        def hang(n: int) -> None:
            nonlocal seen, frozen
            seen += n
            if seen > 3_000_000 and not frozen:
                frozen = True
                srv.freeze(3.0)

        snap = repo.backup([FileTree(src, "d")], kind="Full", progress=hang)
        assert frozen
        repo.restore(snap.id, tmp_path / "out", subtree="d")
        assert tree_digest(tmp_path / "out") == tree_digest(src)
        assert repo.verify(read_data=True).ok
    finally:
        srv.stop()


def test_an_interrupted_run_leaves_no_snapshot_and_no_lock(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _random_tree(src, 5, 300_000, seed=4)
    repo = Repository.open(f"file://{tmp_path}/repo", lock_wait=0)

    def interrupt(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        repo.backup([FileTree(src, "d")], kind="Full", progress=interrupt)
    assert repo.snapshots() == []
    assert repo.storage.list("locks") == []
    assert repo.prune().chunks_kept == 0  # a prune may run right away and drops the orphans


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain"])
@pytest.mark.parametrize("name", ["local", "s3"])
def test_a_corrupted_chunk_is_reported_by_verify_and_refused_by_restore(
    name: str, encrypted: bool, servers: Servers, tmp_path: Path
) -> None:
    b = make_backend(name, servers, tmp_path)
    key = KEY if encrypted else None
    src = tmp_path / "src"
    _random_tree(src, 3, 200_000, seed=5)
    repo = Repository.open(b.url, storage_options=b.options, key=key)
    first = repo.backup([FileTree(src, "d")], kind="Full")
    second = repo.backup([FileTree(src, "d"), MemoryFile("config/x", b"x")], kind="Full")
    victim = next(e for e in repo.tree(first) if e["path"] == "d/f001.bin")["chunks"][0][0]
    stored = repo.storage.get(chunk_key(victim))
    assert stored is not None
    flipped = bytearray(stored)
    flipped[len(flipped) // 2] ^= 0x01
    repo.storage.put(chunk_key(victim), bytes(flipped))

    assert repo.verify(read_data=False).ok  # presence alone cannot see it
    report = repo.verify(read_data=True)
    assert not report.ok
    assert [(p.kind, p.object) for p in report.problems] == [("corrupt_chunk", chunk_key(victim))]
    assert report.problems[0].snapshots == sorted([first.id, second.id])

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    with pytest.raises(RepositoryCorrupt, match="nothing was restored") as refused:
        repo.restore(first.id, out, subtree="d")
    assert refused.value.problems[0].object == chunk_key(victim)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_a_missing_chunk_is_reported_without_reading_data(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _random_tree(src, 2, 100_000, seed=6)
    repo = Repository.open(f"file://{tmp_path}/repo")
    snap = repo.backup([FileTree(src, "d")], kind="Full")
    victim = next(e for e in repo.tree(snap) if e["path"] == "d/f000.bin")["chunks"][0][0]
    repo.storage.delete([chunk_key(victim)])
    report = repo.verify()
    assert [(p.kind, p.object, p.snapshots) for p in report.problems] == [
        ("missing_chunk", chunk_key(victim), [snap.id])
    ]


def test_a_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    Repository.open(f"file://{tmp_path}/repo", key=KEY).backup([MemoryFile("config/a", b"a")], kind="Configuration")
    with pytest.raises(WrongKey, match="does not open this repository"):
        Repository.open(f"file://{tmp_path}/repo", key="not-the-key")
    with pytest.raises(KeyRequired, match="encrypted"):
        Repository.open(f"file://{tmp_path}/repo")
    # a key written by `echo` (trailing newline) is the same key
    assert Repository.open(f"file://{tmp_path}/repo", key=KEY + "\n").encrypted


def test_a_key_for_an_unencrypted_repository_is_refused(tmp_path: Path) -> None:
    Repository.open(f"file://{tmp_path}/repo")
    with pytest.raises(EncryptionMismatch, match="created unencrypted"):
        Repository.open(f"file://{tmp_path}/repo", key=KEY)


def test_encrypted_chunks_and_snapshots_do_not_contain_the_plaintext(tmp_path: Path) -> None:
    secret = b"password: hunter2-very-secret-value\n" * 100
    repo = Repository.open(f"file://{tmp_path}/repo", key=KEY, compression="none")
    repo.backup([MemoryFile("config/secrets/db.yaml", secret)], kind="Configuration")
    for path in (tmp_path / "repo").rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert b"hunter2" not in blob and b"db.yaml" not in blob, path


def test_wrong_credentials_are_refused_at_once_and_never_logged(
    servers: Servers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    srv = servers.get("azure")
    assert isinstance(srv, storage_servers.AzureServer)
    wrong = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc" + "=="
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(CredentialsError, match="check the storage credentials") as refused:
        Repository.open(srv.url(BUCKET, "creds"), storage_options=srv.options(key=wrong))
    assert time.monotonic() - started < 10  # not retried
    assert wrong not in str(refused.value)
    assert wrong not in caplog.text
    assert wrong[:20] not in caplog.text


def test_missing_s3_credentials_are_a_clear_error(servers: Servers) -> None:
    srv = servers.get("s3")
    opts = {k: v for k, v in srv.options().items() if k not in ("key", "secret")}
    with pytest.raises(CredentialsError, match="credentials"):
        Repository.open(srv.url(BUCKET, "nocreds"), storage_options=opts)


def test_an_unreachable_server_is_a_storage_error_naming_the_url(tmp_path: Path) -> None:
    port = storage_servers.free_port()
    opts = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "k", "secret": "s3cr3t-value", "config_kwargs": {
        "retries": {"max_attempts": 1}, "connect_timeout": 1}}  # fmt: skip
    quick = RetryPolicy(attempts=2, initial_delay=0.05, max_delay=0.1, deadline=5)
    with pytest.raises(StorageError, match=r"s3://nowhere/x: read config failed after 2 attempts") as e:
        Repository.open("s3://nowhere/x", storage_options=opts, retry=quick)
    assert "s3cr3t-value" not in str(e.value)


def test_backend_fixture_smoke(backend: Backend) -> None:
    """Every backend opens, and reopening finds the same repository."""
    a = Repository.open(backend.url, storage_options=backend.options)
    b = Repository.open(backend.url, storage_options=backend.options, create=False)
    assert a.config["id"] == b.config["id"]


def test_a_bad_compression_or_an_unknown_protocol_is_a_clear_error(tmp_path: Path) -> None:
    from mcpop.backup import BackupError

    with pytest.raises(BackupError, match="compression 'lz4': expected one of none, gzip, zstd"):
        Repository.open(f"file://{tmp_path}/repo", compression="lz4")  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="nosuch://b/p: cannot use this storage"):
        Repository.open("nosuch://b/p")
