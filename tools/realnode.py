"""The real node of `tools/testenv up --real-node`: one kubelet beside the kwok nodes.

Used only by tools/testenv (imported from its directory). Pieces, all on this machine:

- kubelet + kube-proxy (tools/kube-node: the same k8s.io/kubernetes version as the control plane),
  containerd 2.x + containerd-shim-runc-v2 + ctr (Go modules), crictl (for a clean teardown) and
  CoreDNS (Go modules), built into ${MCPOP_CACHE_DIR:-~/.cache/mcpop}/realnode/<inputs hash>/;
- Debian's runc and containernetworking-plugins (bridge, host-local, portmap, loopback);
- a `pause` sandbox image built here from Kubernetes' own pause.c (nothing can be pulled).

Network: pods live in network namespaces containerd creates (mounted under this state dir) on the
bridge BRIDGE with addresses from POD_CIDR (distinct from kwok's fake 10.244.0.0/16). Chains
MCPOP-RN-FWD / MCPOP-RN-IN reject (fast: TCP reset / ICMP) every packet from a pod that is not for
the pod or Service ranges, the apiserver port or CoreDNS on the bridge address: nothing leaves the
machine. Only one real node can exist per machine (LOCK_DIR guards it).

Registry: `crane registry serve` on REGISTRY (the bridge address, port REGISTRY_PORT; the one other port
pods may open on the host) holds images the way an in-house registry would: containerd pulls from it
over plain HTTP (hosts.toml), and an operator pod reads image configs from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOOLS_DIR = Path(__file__).resolve().parent
MODULE_DIR = TOOLS_DIR / "kube-node"
PAUSE_C = "build/pause/linux/pause.c"  # inside the k8s.io/kubernetes module

NODE_NAME = "mcpop-real-node"
NODE_LABEL = ("mcpop.allbeone.io/real-node", "true")
NODE_TAINT = {"key": "mcpop.allbeone.io/real-node", "value": "true", "effect": "NoSchedule"}
BRIDGE = "mcpopbr0"
POD_CIDR = "10.245.0.0/24"
GATEWAY = "10.245.0.1"  # the bridge's address: CoreDNS and the apiserver listen here for pods
CLUSTER_DNS = GATEWAY
CGROUP_ROOT = "mcpop-realnode"
PAUSE_IMAGE = "mcpop.local/pause:3.10"
BUSYBOX_IMAGE = "mcpop.local/busybox:1.35"
REGISTRY_PORT = 5000
REGISTRY = f"{GATEWAY}:{REGISTRY_PORT}"  # pods and containerd reach it; nothing else listens there
LOCK_DIR = Path("/run/mcpop-realnode")
CHAIN_FWD = "MCPOP-RN-FWD"
CHAIN_IN = "MCPOP-RN-IN"

# Processes, in start order; stopped in reverse.
COMPONENTS = ("containerd", "registry", "coredns", "kubelet", "kube-proxy")

# Kernel settings the node changes (forwarding, bridge netfilter for Services) or the kubelet
# sets (its "kernel defaults"); `down` puts back what `up` found.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)

RECIPE = "realnode 1: CGO_ENABLED=0 -trimpath -ldflags=-s -w"

Log = Callable[[str], None]


class RealNodeError(Exception):
    """Something about the real node is wrong; the message says what."""


# --------------------------------------------------------------------------- build


def go_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env["GOTOOLCHAIN"] = "local"
    env["GOFLAGS"] = ""
    return env


def _run(cmd: list[str], log: Log, **kw: Any) -> subprocess.CompletedProcess:
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


def inputs_hash(versions: dict[str, str]) -> str:
    h = hashlib.sha256()
    for key in sorted(versions):
        h.update(f"{key}={versions[key]}\n".encode())
    for name in ("go.mod", "go.sum", "main.go"):
        h.update(name.encode() + b"\0" + (MODULE_DIR / name).read_bytes() + b"\0")
    h.update(RECIPE.encode())
    return h.hexdigest()[:16]


BINARIES = ("kube-node", "containerd", "containerd-shim-runc-v2", "ctr", "crictl", "coredns", "pause.tar")


def build(versions: dict[str, str], cache: Path, ldflags: str, log: Log) -> Path:
    """Build (once per inputs hash) everything the real node runs; return the directory."""
    for key in ("CONTAINERD_VERSION", "CRICTL_VERSION", "COREDNS_VERSION"):
        if not versions.get(key):
            raise RealNodeError(f"tools/versions.env: {key} is not set")
    bdir = cache / "realnode" / inputs_hash(versions)
    bdir.mkdir(parents=True, exist_ok=True)
    stamp = bdir / ".done"
    if stamp.exists() and all((bdir / b).exists() for b in BINARIES):
        return bdir
    import fcntl

    with open(bdir / ".build.lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if stamp.exists() and all((bdir / b).exists() for b in BINARIES):
            return bdir
        t0 = time.monotonic()
        env = go_env(cache)
        if not (bdir / "kube-node").exists():
            env_ro = dict(env, GOFLAGS="-mod=readonly")
            _run(
                ["go", "build", "-trimpath", "-ldflags", f"-s -w {ldflags}", "-o", str(bdir / "kube-node.tmp"), "."],
                log,
                cwd=MODULE_DIR,
                env=env_ro,
            )
            (bdir / "kube-node.tmp").replace(bdir / "kube-node")
        ctrd = versions["CONTAINERD_VERSION"]
        ver_flag = f"-X github.com/containerd/containerd/v2/version.Version={ctrd}"
        installs = [
            (
                "containerd",
                f"github.com/containerd/containerd/v2/cmd/containerd@{ctrd}",
                "no_btrfs no_devmapper no_zfs urfave_cli_no_docs",
                ver_flag,
            ),
            (
                "containerd-shim-runc-v2",
                f"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@{ctrd}",
                "no_grpc urfave_cli_no_docs",
                ver_flag,
            ),
            (
                "ctr",
                f"github.com/containerd/containerd/v2/cmd/ctr@{ctrd}",
                "no_btrfs no_devmapper no_zfs urfave_cli_no_docs",
                ver_flag,
            ),
            ("crictl", f"sigs.k8s.io/cri-tools/cmd/crictl@{versions['CRICTL_VERSION']}", "", ""),
            ("coredns", f"github.com/coredns/coredns@{versions['COREDNS_VERSION']}", "", ""),
        ]
        for name, pkg, tags, extra in installs:
            if (bdir / name).exists():
                continue
            ienv = dict(env, GOBIN=str(bdir))
            cmd = ["go", "install", "-trimpath", "-ldflags", f"-s -w {extra}".strip()]
            if tags:
                cmd += ["-tags", tags]
            _run([*cmd, pkg], log, cwd="/", env=ienv)
        if not (bdir / "pause.tar").exists():
            build_pause_image(versions, bdir, env, log)
        stamp.write_text("ok\n")
        log(f"real node binaries built into {bdir} in {time.monotonic() - t0:.0f}s")
    return bdir


def build_pause_image(versions: dict[str, str], bdir: Path, env: dict[str, str], log: Log) -> None:
    """Kubernetes' pause.c (from the k8s.io/kubernetes module) compiled statically, in a one-layer image."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{versions['KUBERNETES_VERSION']}"],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
    )
    if out.returncode != 0:
        raise RealNodeError(f"go mod download k8s.io/kubernetes failed: {out.stderr.strip()}")
    src = Path(json.loads(out.stdout)["Dir"]) / PAUSE_C
    binary = bdir / "pause"
    _run(["gcc", "-Os", "-static", "-Wall", "-Werror", "-DVERSION=v3.10-mcpop", "-o", str(binary), str(src)], log)
    _run(["strip", str(binary)], log)
    write_oci_archive(bdir / "pause.tar", PAUSE_IMAGE, {"pause": (binary.read_bytes(), 0o755)}, ["/pause"])


def _tar_layer(
    files: dict[str, tuple[bytes, int]], symlinks: dict[str, str] | None = None, dirs: dict[str, int] | None = None
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        modes = dict.fromkeys({str(Path(p).parent) for p in [*files, *(symlinks or {})]} - {"."}, 0o755)
        modes.update(dirs or {})
        for d, mode in sorted(modes.items()):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, mode
            tf.addfile(ti)
        for path, (data, mode) in sorted(files.items()):
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode = len(data), mode
            tf.addfile(ti, io.BytesIO(data))
        for path, target in sorted((symlinks or {}).items()):
            ti = tarfile.TarInfo(path)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tf.addfile(ti)
    return buf.getvalue()


def write_oci_archive(
    dest: Path,
    name: str,
    files: dict[str, tuple[bytes, int]],
    entrypoint: list[str],
    symlinks: dict[str, str] | None = None,
    cmd: list[str] | None = None,
    dirs: dict[str, int] | None = None,
) -> None:
    """A one-layer OCI image archive (image layout in a tar) named `name`; reproducible (no timestamps)."""
    layer = _tar_layer(files, symlinks, dirs)
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    layer_digest = blob(layer)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, **({"Cmd": cmd} if cmd else {}), "User": "65532:65532"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }
    cfg = json.dumps(config, sort_keys=True).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(cfg), "size": len(cfg)},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer)}
            ],
        },
        sort_keys=True,
    ).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": blob(manifest),
                "size": len(manifest),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name},
            }
        ],
    }
    tmp = dest.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tf:
        entries = {
            "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
            "index.json": json.dumps(index, sort_keys=True).encode(),
        }
        for digest, data in blobs.items():
            entries[f"blobs/sha256/{digest.split(':', 1)[1]}"] = data
        for path, data in entries.items():
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode = len(data), 0o644
            tf.addfile(ti, io.BytesIO(data))
    tmp.replace(dest)


def busybox_image(bdir: Path) -> Path:
    """A tiny test image from Debian's busybox-static: /bin/busybox, applet links, a page under /www, a
    world-writable /tmp (so a failed write there shows the read-only root, not permissions). Its wget and
    nslookup resolve with busybox's own resolver only when given a server: glibc's static getaddrinfo
    needs NSS modules the image does not have (it segfaults), so tests resolve with nslookup."""
    dest = bdir / "busybox-2.tar"  # bump with the content
    if dest.exists():
        return dest
    src = Path("/bin/busybox")
    if not src.exists():
        raise RealNodeError("/bin/busybox is missing: install Debian's busybox-static (apt-get install busybox-static)")
    applets = (
        "sh",
        "httpd",
        "wget",
        "nslookup",
        "nc",
        "cat",
        "echo",
        "sleep",
        "ls",
        "ip",
        "hostname",
        "env",
        "awk",
        "grep",
        "tail",
        "touch",
    )
    write_oci_archive(
        dest,
        BUSYBOX_IMAGE,
        {"bin/busybox": (src.read_bytes(), 0o755), "www/index.html": (b"hello from the real node\n", 0o644)},
        ["/bin/busybox"],
        symlinks={f"bin/{a}": "busybox" for a in applets},
        cmd=["sh"],
        dirs={"tmp": 0o1777},
    )
    return dest


# --------------------------------------------------------------------------- paths and lock


class Paths:
    def __init__(self, state_root: Path):
        self.root = state_root / "realnode"
        self.containerd = self.root / "containerd"
        self.sock = self.containerd / "containerd.sock"
        self.kubelet = self.root / "kubelet"
        self.cni_conf = self.root / "cni" / "net.d"
        self.cni_ipam = self.root / "cni" / "ipam"
        self.registry_hosts = self.containerd / "certs.d"
        self.registry_disk = self.root / "registry"
        self.saved = self.root / "saved.json"


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def claim(state_root: Path, owner_alive: Callable[[Path], bool], clean: Callable[[Path], list[str]]) -> None:
    """Take the machine's one real node for this state dir, or fail naming the holder. A holder whose
    processes are gone (a killed session) is cleaned up with `clean` first."""
    import fcntl

    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_DIR / "lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        owner_file = LOCK_DIR / "owner"
        if owner_file.exists():
            holder = Path(owner_file.read_text().strip())
            if holder != state_root and holder.exists() and owner_alive(holder):
                raise RealNodeError(
                    f"a real node already runs on this machine for state dir {holder}; only one can exist at a time "
                    f"(stop it with `tools/testenv down --state-dir {holder}`)"
                )
            if holder != state_root and holder.exists():
                problems = clean(holder)
                if problems:
                    raise RealNodeError(
                        f"state dir {holder} left a real node behind that could not be removed: {'; '.join(problems)}"
                    )
        owner_file.write_text(f"{state_root}\n")


def release(state_root: Path) -> None:
    owner_file = LOCK_DIR / "owner"
    try:
        if Path(owner_file.read_text().strip()) == state_root:
            owner_file.unlink()
    except OSError:
        pass


def owner() -> str | None:
    try:
        return (LOCK_DIR / "owner").read_text().strip() or None
    except OSError:
        return None


# --------------------------------------------------------------------------- host network


def sh(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RealNodeError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc


def read_sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", key).read_text().strip()
    except OSError:
        return None


def write_sysctl(key: str, value: str) -> None:
    Path("/proc/sys", key).write_text(value + "\n")


def save_host_state(p: Paths) -> dict:
    if p.saved.exists():  # a half-done earlier `up`: keep what the host had before that
        return json.loads(p.saved.read_text())
    saved = {"sysctl": {k: read_sysctl(k) for k in SYSCTLS}, "run_containerd": Path("/run/containerd").exists()}
    p.root.mkdir(parents=True, exist_ok=True)
    p.saved.write_text(json.dumps(saved, indent=2) + "\n")
    return saved


def setup_network(p: Paths, apiserver_port: int) -> None:
    """The bridge (with the gateway address, so CoreDNS and the apiserver can bind it before any pod
    exists), forwarding, and the chains that keep pod traffic on this machine."""
    saved = save_host_state(p)
    if not Path("/proc/sys/net/bridge").exists():
        sh(["modprobe", "br_netfilter"])
    if sh(["ip", "link", "show", BRIDGE], check=False).returncode != 0:
        sh(["ip", "link", "add", BRIDGE, "type", "bridge"])
    sh(["ip", "addr", "replace", f"{GATEWAY}/24", "dev", BRIDGE])
    sh(["ip", "link", "set", BRIDGE, "up"])
    write_sysctl("net/bridge/bridge-nf-call-iptables", "1")
    write_sysctl("net/ipv4/ip_forward", "1")
    remove_chains()
    for chain in (CHAIN_FWD, CHAIN_IN):
        sh(["iptables", "-w", "-N", chain])
    fwd = [
        ["-i", BRIDGE, "-d", POD_CIDR, "-j", "RETURN"],
        ["-i", BRIDGE, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ["-i", BRIDGE, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
        # into pods only from pods (the host's own traffic to pods is OUTPUT, not FORWARD)
        ["-o", BRIDGE, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
    ]
    if saved["sysctl"].get("net/ipv4/ip_forward") == "0":
        # forwarding was off: keep it off for everything but the bridge
        fwd.append(["-j", "REJECT", "--reject-with", "icmp-net-prohibited"])
    for rule in fwd:
        sh(["iptables", "-w", "-A", CHAIN_FWD, *rule])
    for rule in (
        ["-i", BRIDGE, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-i", BRIDGE, "-d", GATEWAY, "-p", "udp", "--dport", "53", "-j", "RETURN"],
        ["-i", BRIDGE, "-d", GATEWAY, "-p", "tcp", "--dport", "53", "-j", "RETURN"],
        ["-i", BRIDGE, "-d", GATEWAY, "-p", "tcp", "--dport", str(apiserver_port), "-j", "RETURN"],
        ["-i", BRIDGE, "-d", GATEWAY, "-p", "tcp", "--dport", str(REGISTRY_PORT), "-j", "RETURN"],
        ["-i", BRIDGE, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ["-i", BRIDGE, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
    ):
        sh(["iptables", "-w", "-A", CHAIN_IN, *rule])
    jump_first()


def jump_first() -> None:
    """Our jumps go first in FORWARD and INPUT (kube-proxy prepends its own; it does not move rules that
    exist, so re-inserting ours once after its first sync keeps them first)."""
    for parent, chain in (("FORWARD", CHAIN_FWD), ("INPUT", CHAIN_IN)):
        while sh(["iptables", "-w", "-D", parent, "-j", chain], check=False).returncode == 0:
            pass
        sh(["iptables", "-w", "-I", parent, "1", "-j", chain])


def remove_chains() -> None:
    for parent, chain in (("FORWARD", CHAIN_FWD), ("INPUT", CHAIN_IN)):
        while sh(["iptables", "-w", "-D", parent, "-j", chain], check=False).returncode == 0:
            pass
        sh(["iptables", "-w", "-F", chain], check=False)
        sh(["iptables", "-w", "-X", chain], check=False)


LEFTOVER_PREFIXES = ("MCPOP-RN", "KUBE-", "CNI-")


def leftover_chains() -> list[str]:
    """iptables chains the real node (or kube-proxy, the kubelet's canaries, the CNI plugins) leaves behind."""
    out: list[str] = []
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            save = sh([f"{tool}-save", "-t", table], check=False).stdout
            out += [
                f"{tool}/{table}/{m}" for m in re.findall(r"^:(\S+)", save, re.M) if m.startswith(LEFTOVER_PREFIXES)
            ]
    return out


def remove_foreign_chains() -> None:
    """Unhook and delete the KUBE-* and CNI-* chains (kube-proxy --cleanup leaves the kubelet's canaries and
    the portmap plugin's chains), in iptables and ip6tables."""
    import shlex

    for tool in ("iptables", "ip6tables"):
        for table in ("nat", "filter", "mangle", "raw"):
            save = sh([f"{tool}-save", "-t", table], check=False).stdout
            chains = [c for c in re.findall(r"^:(\S+)", save, re.M) if c.startswith(("KUBE-", "CNI-"))]
            if not chains:
                continue
            for line in save.splitlines():
                m = re.match(r"^-A (\S+) (.*)$", line)
                if m and not m.group(1).startswith(("KUBE-", "CNI-")):
                    args = shlex.split(m.group(2))
                    if "-j" in args and args[args.index("-j") + 1].startswith(("KUBE-", "CNI-")):
                        sh([tool, "-w", "-t", table, "-D", m.group(1), *args], check=False)
            for c in chains:
                sh([tool, "-w", "-t", table, "-F", c], check=False)
            for c in chains:
                sh([tool, "-w", "-t", table, "-X", c], check=False)


def write_cni_config(p: Paths) -> None:
    p.cni_conf.mkdir(parents=True, exist_ok=True)
    conf = {
        "cniVersion": "1.0.0",
        "name": "mcpop-realnode",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,  # nothing is NATed out of the machine
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(p.cni_ipam),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (p.cni_conf / "10-mcpop-realnode.conflist").write_text(json.dumps(conf, indent=2) + "\n")


# --------------------------------------------------------------------------- cgroups


def cgroup_mounts() -> list[Path]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        parts = line.split()
        sep = parts.index("-")
        if parts[sep + 1] == "cgroup" or (
            parts[sep + 1] == "cgroup2" and not any(x for x in out if x == Path(parts[4]))
        ):
            out.append(Path(parts[4]))
    return out


def make_cgroup_root() -> None:
    for mnt in cgroup_mounts():
        d = mnt / CGROUP_ROOT
        d.mkdir(exist_ok=True)
        if (mnt / "cpuset.cpus").exists():  # cgroup v1 cpuset: a child starts empty
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not (d / f).read_text().strip():
                    (d / f).write_text((mnt / f).read_text())


def remove_cgroups() -> list[str]:
    """Kill what is left in our cgroup tree, then remove it deepest first; returns what stayed."""
    stayed = []
    for mnt in cgroup_mounts():
        top = mnt / CGROUP_ROOT
        if not top.exists():
            continue
        for procs in top.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        dirs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True)
        for d in [*dirs, top]:
            for _ in range(20):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            if d.exists():
                stayed.append(str(d))
    return stayed


# --------------------------------------------------------------------------- mounts


def mounts_under(root: Path) -> list[str]:
    out = []
    prefix = str(root) + "/"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].replace("\\040", " ")
        if mp == str(root) or mp.startswith(prefix):
            out.append(mp)
    return out


def unmount_all(root: Path) -> list[str]:
    for _ in range(3):
        mps = sorted(set(mounts_under(root)), key=lambda m: m.count("/"), reverse=True)
        if not mps:
            return []
        for mp in mps:
            if sh(["umount", mp], check=False).returncode != 0:
                sh(["umount", "-l", mp], check=False)
    return mounts_under(root)


# --------------------------------------------------------------------------- configs


def containerd_config(p: Paths) -> str:
    c = p.containerd
    return f"""version = 3
root = "{c / "root"}"
state = "{c / "state"}"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{p.sock}"
[ttrpc]
  address = "{p.sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{c / "opt"}"

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # this machine withholds CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj (-998 for sandboxes):
  # keep every container's at or above containerd's own
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{shutil.which("runc") or "/usr/sbin/runc"}"
        Root = "{c / "runc"}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{p.cni_conf}"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{p.registry_hosts}"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def write_registry_hosts(p: Paths) -> None:
    """containerd's hosts.toml for the node's registry: plain HTTP, pull and resolve. No other registry is
    configured, and none is reachable: an image that is not loaded or in REGISTRY cannot be pulled."""
    d = p.registry_hosts / REGISTRY
    d.mkdir(parents=True, exist_ok=True)
    (d / "hosts.toml").write_text(
        f'server = "http://{REGISTRY}"\n\n[host."http://{REGISTRY}"]\n  capabilities = ["pull", "resolve"]\n'
    )


def kubelet_config(p: Paths, ca_file: Path, port: int, healthz_port: int) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # This host is cgroup v1; since 1.35 the kubelet refuses it unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "containerRuntimeEndpoint": f"unix://{p.sock}",
        "address": GATEWAY,  # the node's InternalIP (the kubelet refuses a loopback one)
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDNS": [CLUSTER_DNS],
        "clusterDomain": "cluster.local",
        "resolvConf": str(p.root / "resolv.conf"),
        "registerWithTaints": [NODE_TAINT],
        "failSwapOn": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "serializeImagePulls": False,
        "maxPods": 50,
        "podPidsLimit": 4096,
        "volumePluginDir": str(p.root / "volume-plugins"),
        "staticPodPath": "",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "shutdownGracePeriod": "0s",
        "oomScoreAdj": 0,  # lowering it needs CAP_SYS_RESOURCE, which this machine withholds
    }


def corefile(kubeconfig: Path) -> str:
    # No `forward`: names outside the cluster are not resolved (nothing leaves the machine).
    return f""".:53 {{
    bind {CLUSTER_DNS}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""


# --------------------------------------------------------------------------- images


def ctr(bdir: Path, p: Paths, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bdir / "ctr"), "--address", str(p.sock), "-n", "k8s.io", *args], capture_output=True, text=True
    )


def load_image(bdir: Path, p: Paths, archive: Path, name: str | None) -> list[str]:
    """Import an OCI or docker archive into containerd's k8s.io namespace; with `name`, under exactly that
    name. Returns the names now pointing at it."""
    if not archive.is_file():
        raise RealNodeError(f"{archive}: no such file (want an OCI or docker image archive)")
    if not p.sock.exists():
        raise RealNodeError("the real node is not running (start it with `tools/testenv up --real-node`)")
    name = normalize_name(name) if name else None
    before = set(image_names(bdir, p))
    source = archive
    if name and name not in archive_names(archive):
        # Give the image its name inside a copy of the archive: ctr would otherwise also record names like
        # import-<date>:latest, which the CRI plugin normalizes and then cannot find (CreateContainerError).
        source = p.root / "import.tar"
        renamed_archive(archive, source, name)
    try:
        proc = ctr(bdir, p, "images", "import", str(source))
    finally:
        if source != archive:
            source.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RealNodeError(f"importing {archive}: {proc.stderr.strip() or proc.stdout.strip()}")
    names = sorted(set(image_names(bdir, p)) - before)
    return sorted(set(names) | ({name} if name else set()))


def renamed_archive(src: Path, dest: Path, name: str) -> None:
    """Copy an OCI or docker archive, naming its (first linux/amd64, else first) image `name`."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w") as tout:
        for member in tin:
            f = tin.extractfile(member) if member.isfile() else None
            if f and member.name.lstrip("./") == "index.json":
                doc = json.load(f)
                entries = doc.get("manifests", [])
                pick = next(
                    (m for m in entries if (m.get("platform") or {}).get("architecture") == "amd64"),
                    entries[0] if entries else None,
                )
                if pick is None:
                    raise RealNodeError(f"{src}: index.json lists no image")
                for m in entries:
                    (m.get("annotations") or {}).pop("io.containerd.image.name", None)
                pick.setdefault("annotations", {})["io.containerd.image.name"] = name
                data = json.dumps(doc).encode()
            elif f and member.name.lstrip("./") == "manifest.json":
                doc = json.load(f)
                doc[0]["RepoTags"] = [name]
                data = json.dumps(doc).encode()
            else:
                tout.addfile(member, f)
                continue
            member.size = len(data)
            tout.addfile(member, io.BytesIO(data))


def normalize_name(name: str) -> str:
    """The name as the CRI plugin (and the kubelet) spells it: docker.io/library/x:latest for x."""
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + ("library/" + name if not rest else name)
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def archive_names(archive: Path) -> set[str]:
    """The image names an OCI archive (index.json annotations) or docker archive (RepoTags) carries."""
    names: set[str] = set()
    try:
        with tarfile.open(archive) as tf:
            for member in ("index.json", "manifest.json"):
                try:
                    f = tf.extractfile(member)
                except KeyError:
                    continue
                doc = json.load(f) if f else None
                if isinstance(doc, dict):
                    for m in doc.get("manifests", []):
                        ann = m.get("annotations") or {}
                        names |= {v for k, v in ann.items() if k == "io.containerd.image.name"}
                elif isinstance(doc, list):
                    for m in doc:
                        names |= set(m.get("RepoTags") or [])
    except (tarfile.TarError, OSError, ValueError) as e:
        raise RealNodeError(f"{archive}: not a readable image archive ({e})") from e
    return names


def image_names(bdir: Path, p: Paths) -> list[str]:
    proc = ctr(bdir, p, "images", "list", "-q")
    # the CRI plugin adds an image-ID reference (sha256:...) beside each name
    return [ln.strip() for ln in proc.stdout.splitlines() if ln.strip() and not ln.startswith("sha256:")]


# --------------------------------------------------------------------------- teardown


def shim_pids(p: Paths) -> list[int]:
    """containerd-shim-runc-v2 processes of our containerd (they outlive it by design)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and str(p.sock).encode() in b" ".join(cmd):
            out.append(int(d.name))
    return out


def teardown(bdir: Path | None, p: Paths, stop: Callable[[str], None], log: Log) -> list[str]:
    """Remove every pod sandbox, process, mount, namespace, chain, bridge and cgroup the node made; put
    back the sysctls. Returns what could not be removed (empty when clean)."""
    problems: list[str] = []
    if bdir and p.sock.exists() and (bdir / "crictl").exists():
        stop("kubelet")  # first, so it does not restart what we remove
        crictl = [str(bdir / "crictl"), "--runtime-endpoint", f"unix://{p.sock}", "--timeout", "20s"]
        subprocess.run([*crictl, "rmp", "--all", "--force"], capture_output=True, text=True)
    for name in reversed(COMPONENTS):
        stop(name)
    for pid in shim_pids(p):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if bdir and (bdir / "kube-node").exists():
        subprocess.run(
            [str(bdir / "kube-node"), "kube-proxy", "--cleanup", "--proxy-mode=iptables"],
            capture_output=True,
            text=True,
        )
    problems += [f"cgroup {c}" for c in remove_cgroups()]
    problems += [f"mount {m}" for m in unmount_all(p.root)]
    remove_chains()
    remove_foreign_chains()
    if sh(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
        sh(["ip", "link", "del", BRIDGE], check=False)
    if sh(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
        problems.append(f"bridge {BRIDGE}")
    if p.saved.exists():
        saved = json.loads(p.saved.read_text())
        for key, value in saved.get("sysctl", {}).items():
            if value is not None and read_sysctl(key) != value:
                try:
                    write_sysctl(key, value)
                except OSError as e:
                    problems.append(f"sysctl {key}: {e}")
        if not saved.get("run_containerd"):
            shutil.rmtree("/run/containerd", ignore_errors=True)
        p.saved.unlink()
    problems += [f"iptables chain {c}" for c in leftover_chains()]
    return problems


def wait(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise RealNodeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    return _pid_alive(pid)


def dns_query_a(server: str, name: str, timeout: float = 2.0) -> list[str]:
    """A records for `name` from `server`:53 (a minimal UDP query; enough to see CoreDNS answer)."""
    import socket
    import struct

    qid = os.getpid() & 0xFFFF
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(part)]) + part.encode() for part in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, 53))
        data, _ = s.recvfrom(4096)
    ancount = struct.unpack(">H", data[6:8])[0]
    pos = len(q)
    out = []
    for _ in range(ancount):
        while data[pos] != 0 and data[pos] & 0xC0 != 0xC0:
            pos += data[pos] + 1
        pos += 2 if data[pos] & 0xC0 == 0xC0 else 1
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            out.append(".".join(str(b) for b in data[pos : pos + 4]))
        pos += rdlen
    return out
