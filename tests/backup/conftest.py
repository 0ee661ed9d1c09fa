"""Fixtures for the backup repository tests: the real storage servers (started once per session, on
loopback), a fresh repository location per test on each backend, and deterministic source trees."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import storage_servers

BUCKET = "mcpop-test"
BACKENDS = ["local", "s3", "gcs", "azure"]


@pytest.fixture(scope="session", autouse=True)
def _no_cloud_credentials_from_the_machine() -> Iterator[None]:
    """Nothing may reach a real cloud: no ambient AWS credentials, no instance-metadata lookups."""
    mp = pytest.MonkeyPatch()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        mp.delenv(var, raising=False)
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    mp.setenv("AWS_CONFIG_FILE", os.devnull)
    mp.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    yield
    mp.undo()


class Servers:
    """Starts each server on first use and keeps it for the session."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.running: dict[str, storage_servers.Server] = {}

    def get(self, name: str) -> storage_servers.Server:
        if name not in self.running:
            storage_servers.ensure_installed()
            srv = storage_servers.SERVERS[name](self.base / name).start()
            srv.make_bucket(BUCKET)
            self.running[name] = srv
        return self.running[name]

    def stop(self) -> None:
        for srv in self.running.values():
            srv.stop()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    s = Servers(tmp_path_factory.mktemp("storage-servers"))
    yield s
    s.stop()


@dataclass
class Backend:
    name: str
    url: str
    options: dict[str, Any]
    server: storage_servers.Server | None


def make_backend(name: str, servers: Servers, tmp_path: Path) -> Backend:
    prefix = f"t/{uuid.uuid4().hex[:10]}"
    if name == "local":
        return Backend(name, f"file://{tmp_path}/repo", {}, None)
    srv = servers.get(name)
    return Backend(name, srv.url(BUCKET, prefix), srv.options(), srv)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, servers: Servers, tmp_path: Path) -> Backend:
    return make_backend(request.param, servers, tmp_path)


def write_tree(root: Path) -> None:
    """A small tree with every kind of thing a PVC holds: nested dirs, an empty dir, empty and unicode-named
    files, a sparse file, a symlink (dangling too), odd permissions, compressible and incompressible data."""
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "empty.txt").write_bytes(b"")
    (root / "notes.md").write_text("# notes\n" * 500)
    (root / "Ünïcödé — 名前 🚀.txt").write_text("unicode name\n")
    (root / "nested" / "deeper" / "random.bin").write_bytes(_det_bytes(700_000, 1))
    (root / "nested" / "settings.json").write_text('{"a": 1}\n')
    (root / "nested" / "secret.key").write_bytes(b"k" * 100)
    os.chmod(root / "nested" / "secret.key", 0o400)
    os.chmod(root / "notes.md", 0o751)
    with open(root / "sparse.img", "wb") as f:
        f.seek(6 * 1024 * 1024)
        f.write(b"end of sparse file")
        f.seek(12 * 1024 * 1024 - 1)
        f.write(b"\0")
    os.symlink("notes.md", root / "link-to-notes")
    os.symlink("does/not/exist", root / "dangling")
    os.chmod(root / "empty-dir", 0o710)


def _det_bytes(n: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


def tree_digest(root: Path) -> dict[str, tuple[str, int, str]]:
    """path → (type, mode, sha256 or link target) for every entry under root."""
    import hashlib
    import stat

    out: dict[str, tuple[str, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = str(full.relative_to(root))
            st = os.lstat(full)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode, "")
            else:
                out[rel] = ("file", mode, hashlib.sha256(full.read_bytes()).hexdigest())
    return out
