"""A local OCI registry for tests: go-containerregistry's `crane registry serve` on loopback.

    with oci_registry() as host:                      # "127.0.0.1:PORT"
        ref = push_archive(host, archive, "mcp/memory-stdio:2026.8.31")
        config = image_config(ref)                    # the image's OCI config, as `crane config` prints it

`archive` is an OCI archive as tools/test-images writes them (`image_archives()` names them). The
registry keeps blobs in memory and speaks plain HTTP; crane is the pinned one `tools/crane path` builds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def crane_path() -> str:
    """The pinned crane binary (built into the cache on first use)."""
    out = subprocess.run([str(ROOT / "tools" / "crane"), "path"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def crane(*args: str) -> str:
    """Run crane; its stdout. Raises RuntimeError with crane's stderr when it fails."""
    out = subprocess.run([crane_path(), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"crane {' '.join(args[:2])} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


@contextmanager
def oci_registry(timeout: float = 30.0, disk: Path | None = None, binary: str | None = None) -> Iterator[str]:
    """Serve an empty registry on 127.0.0.1 for the block (blobs in memory, or under `disk`); yields
    `host:port`."""
    binary = binary or crane_path()
    port = free_port()
    with tempfile.TemporaryFile() as errlog:
        proc = subprocess.Popen([binary, "registry", "serve", "--address", f"127.0.0.1:{port}",
                                 *(["--disk", str(disk)] if disk else [])],
                                stdout=subprocess.DEVNULL, stderr=errlog)  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        errlog.seek(0)
                        detail = errlog.read().decode()[-2000:]
                        raise RuntimeError(f"crane registry serve did not listen: {detail}") from None
                    time.sleep(0.05)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def push_archive(host: str, archive: str | os.PathLike[str], repo_tag: str) -> str:
    """Push the one image of an OCI archive to `host/repo_tag`; returns the pushed reference."""
    ref = f"{host}/{repo_tag}"
    with tempfile.TemporaryDirectory() as layout:
        with tarfile.open(archive) as tar:
            tar.extractall(layout, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))  # type: ignore[arg-type]
        crane("push", "--insecure", layout, ref)
    return ref


def image_config(ref: str) -> dict[str, object]:
    """The image's OCI config (`crane config REF`)."""
    return json.loads(crane("config", "--insecure", ref))  # type: ignore[no-any-return]


def image_archives() -> dict[str, str]:
    """Image name -> OCI archive of the images tools/test-images builds (building them when missing)."""
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "test-images"), "build", "--json"],
                         capture_output=True, text=True)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"tools/test-images build failed: {out.stderr[-3000:]}")
    return {str(e["name"]): str(e["archive"]) for e in json.loads(out.stdout)}


def _serve_all() -> None:
    with oci_registry() as host:
        for name, archive in image_archives().items():
            repo_tag = name.split("/", 1)[1]  # drop the registry host: docker.io/supercorp/... -> supercorp/...
            print(push_archive(host, archive, repo_tag), flush=True)
        print(f"serving on {host}; Ctrl-C stops", file=sys.stderr, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    _serve_all()
