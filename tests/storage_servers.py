"""Real storage servers on 127.0.0.1 for the backup tests and benchmark: moto's S3 server, the GCS emulator,
Azurite (Azure Blob) — each a separate process on a free port, its state in a directory of its own.

`ensure_installed()` installs what is missing from the package registries (pip: the project's dev extra,
which holds moto[server], gcp-storage-emulator and the storage libraries; npm: azurite into
${MCPOP_CACHE_DIR:-~/.cache/mcpop}/npm/azurite). `tools/storage-servers` is the command-line face of this
module.

Azurite checks SharedKey signatures, so wrong credentials really are refused there. Azurite and the GCS
emulator keep their data on disk, so `kill()` + `start()` is a crash and a restart.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ports import free_port

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("MCPOP_CACHE_DIR", Path.home() / ".cache" / "mcpop"))
AZURITE_VERSION = "3.37.0"
AZURITE_DIR = CACHE / "npm" / "azurite"
AZURITE_BIN = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
AZURE_ACCOUNT = "devstoreaccount1"
# Azurite's published development account key (the same for every Azurite installation; not a secret)
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def ensure_installed(quiet: bool = True) -> None:
    """Install the servers (and the storage libraries) that are missing."""
    wanted = {
        "moto": "moto[server]>=5",
        "flask": "moto[server]>=5",
        "gcp_storage_emulator": "gcp-storage-emulator",
        "s3fs": "s3fs",
        "gcsfs": "gcsfs",
        "adlfs": "adlfs",
        "pyfastcdc": "pyfastcdc>=0.3",
        "zstandard": "zstandard",
    }
    missing = sorted({pkg for mod, pkg in wanted.items() if not _have(mod)})
    if missing:
        # the project's own dev extra, in one resolution with everything else it pins: installing these names
        # alone and then `.[dev]` on top sent pip's resolver through hundreds of botocore releases
        subprocess.run([sys.executable, "-m", "pip", "install", *(["-q"] if quiet else []), "-e", f"{ROOT}[dev]"],
                       check=True)  # fmt: skip
    if not AZURITE_BIN.exists():
        if not shutil.which("npm"):
            raise RuntimeError("npm is needed to install Azurite (the Azure Blob test server)")
        AZURITE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", f"azurite@{AZURITE_VERSION}"],
            cwd=AZURITE_DIR, check=True,
        )  # fmt: skip


class Server:
    """A storage server process. Subclasses say how to start it and how to reach it."""

    name = "server"

    def __init__(self, state_dir: str | os.PathLike[str] | None = None) -> None:
        self.state = Path(state_dir or tempfile.mkdtemp(prefix=f"mcpop-{self.name}-"))
        self.state.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self, timeout: float = 60.0) -> Server:
        cmd, env = self.command()
        log = open(self.state / f"{self.name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.state, env={**os.environ, **env},
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.state}/{self.name}.log")
            if self.ready():
                self.after_start()
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready in {timeout}s; see {self.state}/{self.name}.log")

    def after_start(self) -> None:
        """First-start setup (accounts, buckets)."""

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def freeze(self, seconds: float) -> None:
        """SIGSTOP the server for `seconds` (a hung server: connections open, nothing answers)."""
        import threading

        assert self.proc is not None
        pid = self.proc.pid
        os.killpg(pid, signal.SIGSTOP)
        threading.Timer(seconds, lambda: os.killpg(pid, signal.SIGCONT)).start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def options(self) -> dict[str, Any]:
        """fsspec storage options that reach this server with valid credentials."""
        raise NotImplementedError

    def make_bucket(self, bucket: str) -> None:
        raise NotImplementedError

    def url(self, bucket: str, prefix: str) -> str:
        raise NotImplementedError


class S3Server(Server):
    """moto's standalone S3 server. It accepts any well-formed credentials (its optional signature checking
    rejects valid signed listings), so wrong-credential tests run against Azurite, which checks them."""

    name = "moto-s3"
    access_key = "mcpop-test-access-key"
    secret_key = "mcpop-test-secret-key"

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], {}

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                return True
        except (OSError, urllib.error.URLError):
            return False

    def options(self, key: str | None = None, secret: str | None = None, read_timeout: float = 60) -> dict[str, Any]:
        return {
            "key": self.access_key if key is None else key,
            "secret": self.secret_key if secret is None else secret,
            "endpoint_url": self.endpoint,
            "client_kwargs": {"region_name": "us-east-1"},
            "config_kwargs": {
                "s3": {"addressing_style": "path"}, "retries": {"max_attempts": 2}, "connect_timeout": 3,
                "read_timeout": read_timeout,
            },
        }  # fmt: skip

    def make_bucket(self, bucket: str) -> None:
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
        )  # fmt: skip
        s3.create_bucket(Bucket=bucket)

    def url(self, bucket: str, prefix: str) -> str:
        return f"s3://{bucket}/{prefix}"


class GCSServer(Server):
    """gcp-storage-emulator, storing on disk under its state directory."""

    name = "gcs-emulator"

    def command(self) -> tuple[list[str], dict[str, str]]:
        wrapper = str(Path(__file__).with_name("gcs_emulator.py"))  # the emulator, with a multipart fix
        cmd = [sys.executable, wrapper, "start", "--host", "127.0.0.1", "--port", str(self.port), "-q"]
        return cmd, {"STORAGE_BASE": str(self.state)}

    def options(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint, "token": "anon", "project": "test"}

    def make_bucket(self, bucket: str) -> None:
        req = urllib.request.Request(
            f"{self.endpoint}/storage/v1/b?project=test", data=json.dumps({"name": bucket}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=10):
            pass

    def url(self, bucket: str, prefix: str) -> str:
        return f"gs://{bucket}/{prefix}"


class AzureServer(Server):
    """Azurite's Blob service, storing on disk under its state directory."""

    name = "azurite"

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [
            str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location",
            str(self.state / "data"), "--silent", "--skipApiVersionCheck", "--loose",
        ], {}  # fmt: skip

    def connection_string(self, key: str = AZURE_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={self.endpoint}/{AZURE_ACCOUNT};"
        )

    def options(self, key: str = AZURE_KEY) -> dict[str, Any]:
        return {"connection_string": self.connection_string(key)}

    def make_bucket(self, bucket: str) -> None:
        from azure.storage.blob import BlobServiceClient

        client = BlobServiceClient.from_connection_string(self.connection_string())
        client.create_container(bucket)

    def url(self, bucket: str, prefix: str) -> str:
        return f"az://{bucket}/{prefix}"


SERVERS: dict[str, type[Server]] = {"s3": S3Server, "gcs": GCSServer, "azure": AzureServer}
