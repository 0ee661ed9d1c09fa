"""Run the test images with runc the way a kubelet would run the rendered pod, without a node.

- `rootfs(archive)`: the image's layers unpacked once (cached by archive) into a directory.
- `pod_container(manifest)`: the first container of the Deployment `mcp render` makes of `manifest`.
- `Netns`: a fresh network namespace with only loopback: nothing can leave the machine from it.
- `run_container(...)`: runc with the container's command, env, user, read-only root and emptyDirs
  (tmpfs), in that network namespace.
- `mcp_client(...)`: the official MCP SDK client (its own venv: `sdk_python()`), run inside the netns.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MCPOP_CACHE_DIR") or Path.home() / ".cache" / "mcpop")
CLIENT = Path(__file__).with_name("mcp_client.py")
RUNC_ROOT = Path("/run/mcpop-images-runc")  # runc's state, apart from any containerd's
NETNS_PREFIX = "mcpop-img-"


def sdk_python() -> Path:
    """The python that sees the official MCP SDK (tools/mcp-sdk python: the version the operator pins,
    installed once, outside the main environment, where its `mcp` script would clobber ours)."""
    out = subprocess.run([str(ROOT / "tools" / "mcp-sdk"), "python"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


# --------------------------------------------------------------------------- images


def image_config(archive: Path) -> dict[str, object]:
    """The `config` section of the archive's image config (Entrypoint, Cmd, Env, User, WorkingDir)."""
    with tarfile.open(archive) as tar:
        blob = _blob_reader(tar)
        manifest = json.loads(blob(json.loads(blob("index.json", raw=True))["manifests"][0]["digest"]))
        return json.loads(blob(manifest["config"]["digest"])).get("config", {})  # type: ignore[no-any-return]


def _blob_reader(tar: tarfile.TarFile):  # type: ignore[no-untyped-def]
    def read(digest: str, raw: bool = False) -> bytes:
        name = digest if raw else f"blobs/sha256/{digest.split(':', 1)[1]}"
        f = tar.extractfile(name)
        assert f is not None
        return f.read()

    return read


def rootfs(archive: Path) -> Path:
    """The image's root filesystem, unpacked once per archive (the archive's name carries its key);
    earlier keys' copies are removed. Concurrent sessions serialise on a lock file."""
    base = CACHE / "test-images" / "rootfs"
    base.mkdir(parents=True, exist_ok=True)
    dest = base / archive.stem
    with (base / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / ".complete").exists():
            return dest / "rootfs"
        slug = archive.stem.rsplit("-", 1)[0]
        for old in base.glob(f"{slug}-*"):
            shutil.rmtree(old, ignore_errors=True)
        (dest / "rootfs").mkdir(parents=True)
        with tarfile.open(archive) as tar, tempfile.TemporaryDirectory() as tmp:
            blob = _blob_reader(tar)
            manifest = json.loads(blob(json.loads(blob("index.json", raw=True))["manifests"][0]["digest"]))
            for layer in manifest["layers"]:
                path = Path(tmp) / "layer.tar"
                path.write_bytes(blob(layer["digest"]))
                # GNU tar as root keeps owners and modes; device nodes come from runc's /dev instead
                subprocess.run(["tar", "-xpf", str(path), "-C", str(dest / "rootfs"), "--numeric-owner",
                                "--exclude=./dev/*", "--exclude=dev/*"], check=True)  # fmt: skip
        (dest / ".complete").write_text("")
    return dest / "rootfs"


# --------------------------------------------------------------------------- rendered pod


@dataclass
class Container:
    """What of a rendered pod's container the runtime needs."""

    image: str
    command: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    empty_dirs: list[str]  # mount paths of emptyDir volumes
    run_as_user: int
    read_only_root: bool
    port: int | None
    working_dir: str | None = None
    deployment: dict[str, object] = field(default_factory=dict, repr=False)
    #: read-only bind mounts (mount path -> host directory): an init container's emptyDir, filled beforehand
    binds: dict[str, str] = field(default_factory=dict)


def bridge_dir() -> str:
    """A directory holding mcpop-bridge (tools/bridge path): what the bridge init container leaves in its
    emptyDir for the server container."""
    out = subprocess.run([str(ROOT / "tools" / "bridge"), "path"], capture_output=True, text=True, check=True)
    return str(Path(out.stdout.strip().splitlines()[-1]).parent)


def render(manifest: str, registry: Path | None = None) -> list[dict[str, object]]:
    """`mcp render` of `manifest` (YAML text), as the objects."""
    cmd = [sys.executable, "-c", "from mcpop.cli.main import run; run()", "render", "-f", "-"]
    if registry is not None:
        cmd += ["--registry", str(registry)]
    out = subprocess.run(cmd, input=manifest, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise AssertionError(f"mcp render failed: {out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def pod_container(manifest: str, registry: Path | None = None) -> Container:
    """The first container of the Deployment the renderer makes of `manifest`."""
    deployment = next(o for o in render(manifest, registry) if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]  # type: ignore[index]
    c = pod["containers"][0]
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    # the bridge init container copies mcpop-bridge into its emptyDir: here a bind of the built binary's dir
    filled = {m["name"] for i in pod.get("initContainers") or [] if i["name"] == "mcpop-bridge"
              for m in i.get("volumeMounts") or []}  # fmt: skip
    binds = {m["mountPath"]: bridge_dir() for m in c.get("volumeMounts") or [] if m["name"] in filled}
    empty = [m["mountPath"] for m in c.get("volumeMounts") or []
             if "emptyDir" in volumes.get(m["name"], {}) and m["name"] not in filled]  # fmt: skip
    others = [m["mountPath"] for m in c.get("volumeMounts") or [] if "emptyDir" not in volumes.get(m["name"], {})]
    if others:
        raise AssertionError(f"only emptyDir volumes are supported here, not {others}")
    sc = {**(pod.get("securityContext") or {}), **(c.get("securityContext") or {})}
    ports = c.get("ports") or []
    return Container(
        image=c["image"],
        command=c.get("command"),
        args=c.get("args"),
        env={e["name"]: e["value"] for e in c.get("env") or [] if "value" in e},
        empty_dirs=empty,
        run_as_user=int(sc.get("runAsUser", 0)),
        read_only_root=bool(sc.get("readOnlyRootFilesystem")),
        port=int(ports[0]["containerPort"]) if ports else None,
        working_dir=c.get("workingDir"),
        deployment=deployment,
        binds=binds,
    )


def process_of(container: Container, config: dict[str, object]) -> tuple[list[str], list[str], str]:
    """argv, env and cwd as Kubernetes combines the container with the image config."""
    entrypoint = list(config.get("Entrypoint") or [])  # type: ignore[call-overload]
    cmd = list(config.get("Cmd") or [])  # type: ignore[call-overload]
    if container.command is not None:
        argv = container.command + (container.args or [])
    else:
        argv = entrypoint + (container.args if container.args is not None else cmd)
    env = dict(e.split("=", 1) for e in config.get("Env") or [])  # type: ignore[attr-defined]
    env.update(container.env)
    cwd = container.working_dir or str(config.get("WorkingDir") or "/")
    return argv, [f"{k}={v}" for k, v in env.items()], cwd


# --------------------------------------------------------------------------- runtime


class Netns:
    """A named network namespace with only loopback, up (no interface to anywhere else)."""

    def __init__(self) -> None:
        self.name = f"{NETNS_PREFIX}{secrets.token_hex(4)}"
        self.path = f"/var/run/netns/{self.name}"

    def __enter__(self) -> Netns:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"], check=True)
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False)

    def exec(self, *argv: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True,
                              timeout=timeout, input=input)  # fmt: skip


def bundle_config(
    root: Path, argv: list[str], env: list[str], cwd: str, uid: int, read_only: bool,
    empty_dirs: list[str], netns: str | None, binds: dict[str, str] | None = None,
) -> dict[str, object]:  # fmt: skip
    """An OCI runtime config like a restricted pod's: no capabilities, no new privileges, the
    emptyDirs as tmpfs (world-writable like an emptyDir), its own pid/ipc/uts/mount namespaces."""
    tmpfs = ["nosuid", "nodev", "mode=1777", "size=1g"]
    dev = ["nosuid", "noexec", "nodev"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": [*dev, "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": dev},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*dev, "ro"]},
        *[{"destination": d, "type": "tmpfs", "source": "tmpfs", "options": tmpfs} for d in empty_dirs],
        *[{"destination": d, "type": "bind", "source": src, "options": ["rbind", "ro"]}
          for d, src in (binds or {}).items()],
    ]  # fmt: skip
    namespaces: list[dict[str, str]] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    namespaces.append({"type": "network", "path": netns} if netns else {"type": "network"})
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": uid},
            "args": argv,
            "env": env,
            "cwd": cwd,
            "capabilities": {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(root), "readonly": read_only},
        "hostname": "mcp-server",
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


@dataclass
class Running:
    id: str
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def status(self) -> str:
        out = subprocess.run(runc("state", self.id), capture_output=True, text=True)
        return str(json.loads(out.stdout)["status"]) if out.returncode == 0 else "gone"


@contextmanager
def runc_bundle(archive: Path, container: Container, netns: str | None) -> Iterator[tuple[str, Path]]:
    """A bundle directory for `container` of the image in `archive`; yields (container id, bundle)."""
    root = rootfs(archive)
    for mount in container.binds:
        (root / mount.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for mount in container.empty_dirs:
        # runc gives a tmpfs the mode of the directory it covers; an emptyDir is world-writable
        point = root / mount.lstrip("/")
        point.mkdir(parents=True, exist_ok=True)
        point.chmod(0o1777)
    argv, env, cwd = process_of(container, image_config(archive))
    with tempfile.TemporaryDirectory(prefix="mcpop-bundle-") as bundle:
        config = bundle_config(root, argv, env, cwd, container.run_as_user, container.read_only_root,
                               container.empty_dirs, netns, container.binds)  # fmt: skip
        (Path(bundle) / "config.json").write_text(json.dumps(config, indent=2))
        yield f"mcpop-img-{secrets.token_hex(4)}", Path(bundle)


def runc(*args: str) -> list[str]:
    return ["runc", "--root", str(RUNC_ROOT), *args]


@contextmanager
def run_container(archive: Path, container: Container, netns: Netns) -> Iterator[Running]:
    """The container running for the block: `runc run --detach` with stdin /dev/null and stdout/stderr
    to a log file, the way containerd's shim starts a container that asked for no stdin."""
    with (
        runc_bundle(archive, container, netns.path) as (cid, bundle),
        tempfile.NamedTemporaryFile(prefix="mcpop-ctr-", suffix=".log") as log,
    ):
        running = Running(cid, Path(log.name))
        try:
            subprocess.run(runc("run", "--detach", "--bundle", str(bundle), cid), stdin=subprocess.DEVNULL,
                           stdout=log, stderr=subprocess.STDOUT, check=True, timeout=60)  # fmt: skip
            yield running
        finally:
            subprocess.run(runc("kill", cid, "KILL"), capture_output=True)
            deadline = time.monotonic() + 20
            while running.status() == "running" and time.monotonic() < deadline:
                time.sleep(0.1)
            subprocess.run(runc("delete", "--force", cid), capture_output=True)


def mcp_client(netns: Netns | None, *args: str, timeout: float = 120) -> dict[str, object]:
    """Run tests/images/mcp_client.py (the SDK client) inside `netns` (None: on the host, e.g. for stdio
    through `runc run`, which `ip netns exec` would break: it remounts /sys, hiding the cgroup mounts);
    its JSON report."""
    argv = [str(sdk_python()), str(CLIENT), *args]
    if netns is None:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    else:
        out = netns.exec(*argv, timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"MCP client failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def wait_port(netns: Netns, port: int, running: Running, timeout: float = 90) -> None:
    """Until something listens on 127.0.0.1:`port` in the netns (or the container exits)."""
    deadline = time.monotonic() + timeout
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1).close()"
    while time.monotonic() < deadline:
        if running.status() != "running":
            raise AssertionError(f"the container is not running:\n{running.logs()[-4000:]}")
        if netns.exec(sys.executable, "-c", probe, timeout=10).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s:\n{running.logs()[-4000:]}")
