"""`spec.auth` and `spec.tools`: mcpop-bridge's Bearer-JWT and tool-policy flags, the JWKS ConfigMap key it reads,
and the exposure rule.

The bridge (tools/bridge-src/auth.go) validates the tokens; this module only says what it is told: the issuer,
the audiences (default: the server's in-cluster URL), the required scopes, the resource URL of its RFC 9728
metadata, and a JWKS file mounted read-only from a ConfigMap key when the spec names one.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

from mcpop.api.mcpserver import JWTAuth, MCPServerSpec
from mcpop.render.errors import RenderError
from mcpop.render.normalize import CLUSTER_DOMAIN, Workload

#: the pod volume holding the JWKS ConfigMap key, and where the bridge reads it
JWKS_VOLUME = "mcpop-jwks"
JWKS_DIR = "/etc/mcpop/jwks"
JWKS_FILE = "jwks.json"


#: where mcpop-bridge serves the RFC 9728 protected-resource metadata (then the MCP path)
METADATA_PREFIX = "/.well-known/oauth-protected-resource"


def exposed_by(spec: MCPServerSpec) -> str | None:
    """What exposes the server outside the cluster (`serviceType NodePort`, `spec.expose.gateway`), or None."""
    if spec.service_type != "ClusterIP":
        return f"serviceType {spec.service_type}"
    if spec.expose is not None and spec.expose.gateway is not None:
        return "spec.expose.gateway"
    return None


def check_exposure(spec: MCPServerSpec) -> None:
    """Refuse a server exposed outside the cluster (NodePort, LoadBalancer, a Gateway) without authentication,
    unless `spec.auth.allowUnauthenticated` says so."""
    how = exposed_by(spec)
    if how is None:
        return
    auth = spec.auth
    if auth is None or (auth.jwt is None and not auth.allow_unauthenticated):
        raise RenderError(
            "spec.auth",
            f"{how} exposes the MCP server outside the cluster: set spec.auth.jwt so callers need a token, or "
            "spec.auth.allowUnauthenticated: true to let anyone who reaches it call every tool",
        )


def external_url(spec: MCPServerSpec, server_path: str) -> str | None:
    """The URL clients outside the cluster use through spec.expose.gateway (None without one)."""
    gw = spec.expose.gateway if spec.expose else None
    if gw is None:
        return None
    return f"{gw.scheme}://{gw.hostname}{gw.path or server_path}"


def in_cluster_url(service: str, namespace: str, port: int, path: str) -> str:
    """The URL clients in the cluster reach the server by (status.url): the default audience."""
    return f"http://{service}.{namespace}.svc.{CLUSTER_DOMAIN}:{port}{path}"


def resource_url(jwt: JWTAuth, default: str) -> str:
    """The protected resource's URL in its metadata: the first audience that is an http(s) URL, else `default`."""
    return next((a for a in jwt.audiences or [] if a.startswith(("https://", "http://"))), default)


def bridge_flags(jwt: JWTAuth, default_audience: str) -> list[str]:
    """mcpop-bridge's authentication flags for `jwt`."""
    audiences = jwt.audiences or [default_audience]
    return [
        "--jwt-issuer", jwt.issuer,
        "--jwt-audience", ",".join(audiences),
        *(["--required-scopes", ",".join(jwt.required_scopes)] if jwt.required_scopes else []),
        *(["--jwks-file", f"{JWKS_DIR}/{JWKS_FILE}"] if jwt.jwks else []),
        "--resource-url", resource_url(jwt, default_audience),
    ]  # fmt: skip


def bridge_cut(work: Workload, field: str, what: str) -> int:
    """Where the bridge's own flags end in `work.args` (its `--`); a server no bridge fronts (an HTTP server: the
    bridge's reverse-proxy mode is not built yet) is refused, naming `field`."""
    if not work.bridged or work.args is None:
        raise RenderError(
            field,
            f"{what} runs in mcpop-bridge, which fronts stdio servers only for now; transport {work.transport} is "
            "served by the image itself, so nothing would enforce it",
        )
    return work.args.index("--")


def with_tool_policy(spec: MCPServerSpec, work: Workload) -> Workload:
    """`work` with the bridge's tool-policy flags (--allow-tools, --deny-tools, -prompts, -resources; an approved
    inventory as --approved-tools-only and one --approved-tool NAME=sha256:HEX per tool, by name) and audit flags
    (--audit-log - [--audit-arguments]) before its `--`, when `spec.tools` or `spec.audit` asks for them."""
    pol, audit = spec.tools, spec.audit
    flags: list[str] = []
    if pol is not None:
        lists = {"tools": (pol.allow, pol.deny),
                 "prompts": (pol.prompts.allow, pol.prompts.deny) if pol.prompts else (None, None),
                 "resources": (pol.resources.allow, pol.resources.deny) if pol.resources else (None, None)}  # fmt: skip
        flags += [arg for kind, (allow, deny) in lists.items() for verb, globs in (("allow", allow), ("deny", deny))
                  if globs for arg in (f"--{verb}-{kind}", ",".join(globs))]  # fmt: skip
        if pol.approved is not None:
            flags.append("--approved-tools-only")
            flags += [f"--approved-tool={t.name}=sha256:{t.sha256}" for t in sorted(pol.approved, key=lambda t: t.name)]
    field = "spec.tools" if flags else "spec.audit"
    if audit is not None:
        flags += ["--audit-log", "-", *(["--audit-arguments"] if audit.include_arguments else [])]
    if not flags:
        return work
    cut = bridge_cut(work, field, "the tool policy" if field == "spec.tools" else "the audit")
    assert work.args is not None
    return dataclasses.replace(work, args=[*work.args[:cut], *flags, *work.args[cut:]])


def with_auth(spec: MCPServerSpec, work: Workload, service: str, namespace: str, service_port: int) -> Workload:
    """`work` with the bridge's authentication flags before its `--`, when `spec.auth.jwt` is set, and the resource
    URL's host among its allowed hosts; a server no bridge fronts is refused."""
    jwt = spec.auth.jwt if spec.auth else None
    if jwt is None:
        return work
    cut = bridge_cut(work, "spec.auth.jwt", "authentication")
    assert work.args is not None
    default = external_url(spec, work.path) or in_cluster_url(service, namespace, service_port, work.path)
    args = [*work.args[:cut], *bridge_flags(jwt, default), *work.args[cut:]]
    # the resource URL's host is a name clients use: the bridge's DNS-rebinding check must accept it
    host = urlsplit(resource_url(jwt, default)).hostname
    if host and "--allowed-hosts" in args[:cut]:
        at = args.index("--allowed-hosts") + 1
        hosts = args[at].split(",")
        if "*" not in hosts and host not in hosts:
            args[at] = ",".join([*hosts, host])
    return dataclasses.replace(work, args=args)


def mount_jwks(spec: MCPServerSpec, deployment: dict[str, Any]) -> None:
    """Mount `spec.auth.jwt.jwks`'s ConfigMap key read-only where --jwks-file points, in the server container
    (the bridge runs there)."""
    jwt = spec.auth.jwt if spec.auth else None
    if jwt is None or jwt.jwks is None:
        return
    ref = jwt.jwks.config_map_key_ref
    pod = deployment["spec"]["template"]["spec"]
    pod.setdefault("volumes", []).append(
        {"name": JWKS_VOLUME, "configMap": {"name": ref.name, "items": [{"key": ref.key, "path": JWKS_FILE}]}}
    )
    pod["containers"][0].setdefault("volumeMounts", []).append(
        {"name": JWKS_VOLUME, "mountPath": JWKS_DIR, "readOnly": True}
    )
