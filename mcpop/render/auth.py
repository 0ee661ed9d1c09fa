"""`spec.auth` and `spec.tools`: mcpop-bridge's Bearer-token and tool-policy flags, the JWKS files it reads, and
the exposure rule.

The bridge (tools/bridge-src/auth.go) validates the tokens; this module only says what it is told: the issuer,
the audiences (default: the server's URL), the required scopes, the resource URL of its RFC 9728 metadata, a JWKS
file mounted read-only from a ConfigMap key when the spec names one, and for ServiceAccount tokens (and the
operator's own handshake) the cluster's issuer, the subjects it accepts and the cluster's keys in a ConfigMap
rendered here from what the operator read from the apiserver.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import urlsplit

from mcpop.api.mcpserver import JWTAuth, MCPServerSpec
from mcpop.render.collisions import PROXY_CONTAINER
from mcpop.render.errors import RenderError
from mcpop.render.normalize import BRIDGE_IMAGE, CLUSTER_DOMAIN, HEALTH_PATH, READY_PATH, Workload
from mcpop.render.options import ClusterIssuer

#: the pod volume holding the JWKS ConfigMap key, and where the bridge reads it
JWKS_VOLUME = "mcpop-jwks"
JWKS_DIR = "/etc/mcpop/jwks"
JWKS_FILE = "jwks.json"
#: the pod volume holding the cluster issuer's keys (the operator's ConfigMap), and where the bridge reads them
CLUSTER_JWKS_VOLUME = "mcpop-cluster-jwks"
CLUSTER_JWKS_DIR = "/etc/mcpop/cluster-jwks"
#: the issuer of a cluster's ServiceAccount tokens when the operator has not read it (an offline render)
DEFAULT_CLUSTER_ISSUER = f"https://kubernetes.default.svc.{CLUSTER_DOMAIN}"
EMPTY_JWKS = '{"keys":[]}'


#: the first port mcpop-bridge listens on in front of an HTTP server (the next one the server does not use)
PROXY_PORT = 8000

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
    if auth is None or (not auth.required and not auth.allow_unauthenticated):
        raise RenderError(
            "spec.auth",
            f"{how} exposes the MCP server outside the cluster: set spec.auth.jwt (or serviceAccounts) so callers "
            "need a token, or "
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


def bridge_flags(jwt: JWTAuth) -> list[str]:
    """mcpop-bridge's flags for `jwt` (the audience defaults to --resource-url, which with_auth adds)."""
    return [
        "--jwt-issuer", jwt.issuer,
        *(["--jwt-audience", ",".join(jwt.audiences)] if jwt.audiences else []),
        *(["--required-scopes", ",".join(jwt.required_scopes)] if jwt.required_scopes else []),
        *(["--jwks-file", f"{JWKS_DIR}/{JWKS_FILE}"] if jwt.jwks else []),
    ]  # fmt: skip


def service_account_subjects(spec: MCPServerSpec, namespace: str, operator_subject: str | None) -> list[str]:
    """The ServiceAccount token subjects (globs) the bridge accepts: spec.auth.serviceAccounts' namespaces (default:
    the server's) and names (default: any), and the operator's own (its MCP handshake) whenever auth is on."""
    auth = spec.auth
    if auth is None or not auth.required:
        return []
    sa = auth.service_accounts
    subjects = [] if sa is None else [f"system:serviceaccount:{ns}:{n}" for ns in sa.namespaces or [namespace]
                                      for n in sa.names or ["*"]]  # fmt: skip
    if operator_subject is not None and operator_subject not in subjects:
        subjects.append(operator_subject)
    return subjects


def service_account_flags(spec: MCPServerSpec, subjects: list[str], issuer: ClusterIssuer | None) -> list[str]:
    """mcpop-bridge's flags accepting the cluster's ServiceAccount tokens of `subjects` (none: no flag)."""
    if not subjects:
        return []
    sa = spec.auth.service_accounts if spec.auth else None
    return [
        "--sa-issuer", issuer.url if issuer else DEFAULT_CLUSTER_ISSUER,
        "--sa-jwks-file", f"{CLUSTER_JWKS_DIR}/{JWKS_FILE}",
        "--sa-subjects", ",".join(subjects),
        *(["--sa-audience", sa.audience] if sa is not None and sa.audience else []),
    ]  # fmt: skip


def cluster_jwks(name: str, namespace: str, labels: dict[str, str], issuer: ClusterIssuer | None) -> dict[str, Any]:
    """The ConfigMap holding the cluster issuer's keys for --sa-jwks-file (the operator refreshes it; the bridge
    reads it again when a token names a key it does not hold)."""
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "data": {JWKS_FILE: issuer.jwks if issuer else EMPTY_JWKS},
    }  # fmt: skip


def front_door(spec: MCPServerSpec) -> bool:
    """Whether the spec asks for something mcpop-bridge enforces: a token, a tool policy or the audit."""
    pol = spec.tools
    tools = pol is not None and bool(
        pol.allow or pol.deny or pol.rules or pol.approved is not None
        or (pol.prompts and (pol.prompts.allow or pol.prompts.deny))
        or (pol.resources and (pol.resources.allow or pol.resources.deny))
    )  # fmt: skip
    return tools or spec.audit is not None or (spec.auth is not None and spec.auth.required)


def with_proxy(spec: MCPServerSpec, work: Workload, hosts: list[str], bridge_image: str | None) -> Workload:
    """An HTTP server (streamable-http or sse) with a front-door feature: mcpop-bridge in front of it as a reverse proxy
    (`--upstream`), in a container of its own on the first port from PROXY_PORT the server does not use; the
    Service's `http` port leads to the bridge, and the server's own port is reached only from inside the pod."""
    if work.bridged or work.transport not in ("streamable-http", "sse") or not front_door(spec):
        return work
    used = {work.port, *(p.port for p in spec.ports or []),
            *(p.target_port for p in spec.ports or [] if isinstance(p.target_port, int))}  # fmt: skip
    port = next(n for n in range(PROXY_PORT, 65536) if n not in used)
    args = [
        "--port", str(port), "--path", work.path, "--health", HEALTH_PATH, "--ready", READY_PATH,
        "--allowed-hosts", ",".join(dict.fromkeys(hosts)),
        "--upstream", f"http://127.0.0.1:{work.port}{work.path}",
        *(["--upstream-transport", "sse"] if work.transport == "sse" else []),
    ]  # fmt: skip
    return dataclasses.replace(work, proxy_image=bridge_image or BRIDGE_IMAGE, proxy_port=port, proxy_args=args)


def bridge_flags_of(work: Workload, field: str, what: str) -> list[str]:
    """mcpop-bridge's own flags (a stdio server's before its `--`, a proxy's all of them); a server no bridge
    fronts (a stdio server with gateway.enabled false) is refused, naming `field`."""
    if work.proxy_args is not None:
        return list(work.proxy_args)
    if not work.bridged or work.args is None:
        raise RenderError(
            field,
            f"{what} runs in mcpop-bridge, and gateway.enabled: false runs this stdio server without it, so nothing "
            "would enforce it",
        )
    return work.args[: work.args.index("--")]


def with_bridge_flags(work: Workload, flags: list[str]) -> Workload:
    """`work` with mcpop-bridge's own flags replaced by `flags` (bridge_flags_of's, changed)."""
    if work.proxy_args is not None:
        return dataclasses.replace(work, proxy_args=flags)
    assert work.args is not None
    return dataclasses.replace(work, args=[*flags, *work.args[work.args.index("--") :]])


def with_tool_policy(spec: MCPServerSpec, work: Workload) -> Workload:
    """`work` with the bridge's tool-policy flags (--allow-tools, --deny-tools, -prompts, -resources; one --tool-rule
    JSON object per CEL rule, which needs spec.auth.jwt; an approved
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
        if pol.rules:
            if spec.auth is None or not spec.auth.required:
                raise RenderError("spec.tools.rules", "the rules read the caller's token claims: set spec.auth.jwt "
                                  "(or serviceAccounts) so callers need a token")  # fmt: skip
            flags += [f"--tool-rule={json.dumps({'tools': r.tools, 'when': r.when}, separators=(',', ':'))}"
                      for r in pol.rules]  # fmt: skip
        if pol.approved is not None:
            flags.append("--approved-tools-only")
            flags += [f"--approved-tool={t.name}=sha256:{t.sha256}" for t in sorted(pol.approved, key=lambda t: t.name)]
    field = "spec.tools" if flags else "spec.audit"
    if audit is not None:
        flags += ["--audit-log", "-", *(["--audit-arguments"] if audit.include_arguments else [])]
    if not flags:
        return work
    own = bridge_flags_of(work, field, "the tool policy" if field == "spec.tools" else "the audit")
    return with_bridge_flags(work, [*own, *flags])


def with_auth(spec: MCPServerSpec, work: Workload, service: str, namespace: str, service_port: int,
              subjects: list[str], issuer: ClusterIssuer | None) -> Workload:  # fmt: skip
    """`work` with the bridge's authentication flags before its `--` when spec.auth asks for a token (the JWT
    issuer's, and ServiceAccount tokens of `subjects`), and the resource URL's host among its allowed hosts; a server
    no bridge fronts is refused."""
    auth = spec.auth
    if auth is None or not auth.required:
        return work
    own = bridge_flags_of(work, "spec.auth.jwt" if auth.jwt else "spec.auth.serviceAccounts", "authentication")
    resource = token_audience(spec, work, service, namespace, service_port)
    # the resource URL's host is a name clients use: the bridge's DNS-rebinding check must accept it
    host = urlsplit(resource).hostname
    if host and "--allowed-hosts" in own:
        at = own.index("--allowed-hosts") + 1
        hosts = own[at].split(",")
        if "*" not in hosts and host not in hosts:
            own[at] = ",".join([*hosts, host])
    flags = [*(bridge_flags(auth.jwt) if auth.jwt else []), *service_account_flags(spec, subjects, issuer),
             "--resource-url", resource]  # fmt: skip
    return with_bridge_flags(work, [*own, *flags])


def token_audience(spec: MCPServerSpec, work: Workload, service: str, namespace: str, service_port: int) -> str:
    """The protected resource's URL: the RFC 9728 resource, the default audience of both kinds of token, and the
    audience of the operator's own handshake token (the first jwt audience that is a URL, else the Gateway's
    external URL, else the in-cluster URL)."""
    default = external_url(spec, work.path) or in_cluster_url(service, namespace, service_port, work.path)
    jwt = spec.auth.jwt if spec.auth else None
    return resource_url(jwt, default) if jwt is not None else default


def mount_jwks(spec: MCPServerSpec, deployment: dict[str, Any], cluster_jwks_name: str | None) -> None:
    """Mount `spec.auth.jwt.jwks`'s ConfigMap key, and the cluster issuer's keys (ConfigMap `cluster_jwks_name`),
    read-only where --jwks-file and --sa-jwks-file point, in the bridge's container."""
    jwt = spec.auth.jwt if spec.auth else None
    mounts: list[tuple[str, str, str, str]] = []
    if jwt is not None and jwt.jwks is not None:
        ref = jwt.jwks.config_map_key_ref
        mounts.append((JWKS_VOLUME, JWKS_DIR, ref.name, ref.key))
    if cluster_jwks_name is not None:
        mounts.append((CLUSTER_JWKS_VOLUME, CLUSTER_JWKS_DIR, cluster_jwks_name, JWKS_FILE))
    pod = deployment["spec"]["template"]["spec"]
    # the bridge's container: its own in front of an HTTP server, else the stdio server's, which runs it
    bridge = next((c for c in pod["containers"] if c["name"] == PROXY_CONTAINER), pod["containers"][0])
    for volume, directory, config_map, key in mounts:
        pod.setdefault("volumes", []).append(
            {"name": volume, "configMap": {"name": config_map, "items": [{"key": key, "path": JWKS_FILE}]}}
        )
        bridge.setdefault("volumeMounts", []).append({"name": volume, "mountPath": directory, "readOnly": True})
