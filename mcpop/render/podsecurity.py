"""The Pod Security Standards (baseline and restricted), checked on a rendered pod template. Pure.

The checks are the ones `pod-security.kubernetes.io/enforce` runs (kubernetes.io/docs/concepts/security/
pod-security-standards), over the pod mcpop would create rather than the spec that asked for it, so a field
the renderer derives is held to the same rules as one the user wrote. mcpop renders for the level a cluster
admin allowed in the namespace (`restricted` unless the operator says otherwise); a pod above that level is
refused at render time, in `mcp render`, the admission webhook and reconcile alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["restricted", "baseline", "privileged"]
LEVELS: tuple[Level, ...] = ("restricted", "baseline", "privileged")

BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})  # fmt: skip
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})  # fmt: skip
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                                "projected", "secret"})  # fmt: skip


@dataclass(frozen=True)
class Violation:
    """One check the pod fails: the level it belongs to, the pod field and what is wrong."""

    level: Level  # the lowest level that forbids it: "baseline" (so "restricted" too) or "restricted"
    path: str  # the field in the pod template: `containers[0].securityContext.privileged`
    message: str


def _containers(pod: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(pod.get(kind) or []):
            yield f"{kind}[{i}]", c


def violations(pod: dict[str, Any]) -> list[Violation]:
    """Every Pod Security check `pod` (a PodSpec) fails, baseline and restricted."""
    out: list[Violation] = []

    def bad(level: Level, path: str, message: str) -> None:
        out.append(Violation(level, path, message))

    psc = pod.get("securityContext") or {}
    for ns in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(ns):
            bad("baseline", ns, "host namespaces are forbidden")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        bad("baseline", "securityContext.windowsOptions.hostProcess", "host processes are forbidden")
    for i, s in enumerate(psc.get("sysctls") or []):
        if s.get("name") not in SAFE_SYSCTLS:
            bad("baseline", f"securityContext.sysctls[{i}].name", f"sysctl {s.get('name')!r} is not a safe sysctl")
    _check_selinux(psc.get("seLinuxOptions"), "securityContext.seLinuxOptions", bad)
    _check_seccomp(psc.get("seccompProfile"), "securityContext.seccompProfile", bad)
    _check_apparmor(psc.get("appArmorProfile"), "securityContext.appArmorProfile", bad)
    for i, v in enumerate(pod.get("volumes") or []):
        kinds = [k for k in v if k != "name"]
        if "hostPath" in kinds:
            bad("baseline", f"volumes[{i}].hostPath", f"volume {v.get('name')!r}: hostPath volumes are forbidden")
        elif any(k not in RESTRICTED_VOLUMES for k in kinds):
            bad("restricted", f"volumes[{i}]", f"volume {v.get('name')!r}: {'/'.join(kinds)} volumes are not allowed "
                f"(allowed: {', '.join(sorted(RESTRICTED_VOLUMES))})")  # fmt: skip
    pod_non_root = psc.get("runAsNonRoot") is True
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")
    if psc.get("runAsUser") == 0:
        bad("restricted", "securityContext.runAsUser", "running as user 0 (root) is forbidden")
    for where, c in _containers(pod):
        sc = c.get("securityContext") or {}
        path = f"{where}.securityContext"
        if sc.get("privileged"):
            bad("baseline", f"{path}.privileged", "privileged containers are forbidden")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            bad("baseline", f"{path}.windowsOptions.hostProcess", "host processes are forbidden")
        added = set((sc.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            bad("baseline", f"{path}.capabilities.add", f"capabilities {sorted(added - BASELINE_CAPABILITIES)} may not "
                "be added")  # fmt: skip
        elif added - {"NET_BIND_SERVICE"}:
            bad("restricted", f"{path}.capabilities.add", f"capabilities {sorted(added - {'NET_BIND_SERVICE'})} may "
                "not be added (only NET_BIND_SERVICE)")  # fmt: skip
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            bad("restricted", f"{path}.capabilities.drop", "must drop ALL capabilities")
        if sc.get("procMount") not in (None, "Default"):
            bad("baseline", f"{path}.procMount", f"procMount {sc.get('procMount')!r} is forbidden (only Default)")
        _check_selinux(sc.get("seLinuxOptions"), f"{path}.seLinuxOptions", bad)
        _check_seccomp(sc.get("seccompProfile"), f"{path}.seccompProfile", bad)
        _check_apparmor(sc.get("appArmorProfile"), f"{path}.appArmorProfile", bad)
        for j, p in enumerate(c.get("ports") or []):
            if p.get("hostPort"):
                bad("baseline", f"{where}.ports[{j}].hostPort", "host ports are forbidden")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad("restricted", f"{path}.allowPrivilegeEscalation", "must be false")
        non_root = sc.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            bad("restricted", f"{path}.runAsNonRoot", "must be true (here or for the pod)")
        if sc.get("runAsUser") == 0:
            bad("restricted", f"{path}.runAsUser", "running as user 0 (root) is forbidden")
        if not pod_seccomp and (sc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            bad("restricted", f"{path}.seccompProfile", "must be RuntimeDefault or Localhost (here or for the pod)")
    return out


def _check_selinux(opts: dict[str, Any] | None, path: str, bad: Any) -> None:
    if not opts:
        return
    if opts.get("type", "") not in SELINUX_TYPES:
        bad("baseline", f"{path}.type", f"SELinux type {opts.get('type')!r} is forbidden")
    for key in ("user", "role"):
        if opts.get(key):
            bad("baseline", f"{path}.{key}", f"a custom SELinux {key} is forbidden")


def _check_seccomp(profile: dict[str, Any] | None, path: str, bad: Any) -> None:
    if (profile or {}).get("type") == "Unconfined":
        bad("baseline", f"{path}.type", "seccomp Unconfined is forbidden")


def _check_apparmor(profile: dict[str, Any] | None, path: str, bad: Any) -> None:
    if (profile or {}).get("type") == "Unconfined":
        bad("baseline", f"{path}.type", "AppArmor Unconfined is forbidden")


def above(found: list[Violation], allowed: Level) -> list[Violation]:
    """The violations a namespace at level `allowed` does not admit."""
    if allowed == "privileged":
        return []
    if allowed == "baseline":
        return [v for v in found if v.level == "baseline"]
    return list(found)
