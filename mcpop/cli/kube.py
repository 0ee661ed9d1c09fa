"""The CLI's one Kubernetes API client: kubeconfig loading as kubectl does it, and JSON requests over the
standard library's `http.client` (the official client costs ~440 ms to import; `mcp status` must cost less in
total).

Every CLI command uses it. Kubeconfigs are read as kubectl reads them (`--kubeconfig`, else every file in
`KUBECONFIG` merged, else `~/.kube/config`, else the in-cluster service account). Credentials: client
certificates (files or data), bearer tokens (inline, or `tokenFile` re-read every minute and after a 401, as
client-go does, so a rotated token is picked up), basic auth, and `exec` credential plugins (re-run when their
`expirationTimestamp` has passed or after a 401, cached until then). `auth-provider` is refused with the error
kubectl ≥ 1.26 gives: its in-tree providers are gone, `exec` replaces them. Everything the API server or a
plugin returns is bounded in size and time, and every failure is a one-line `ClusterError`; tokens and keys
are never part of a message.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from mcpop.apply.resources import (
    CLI_FIELD_MANAGER,
    CONFIGMAP,
    CRD,
    DEPLOYMENT,
    EVENT,
    FIELD_MANAGER,
    MCPREGISTRY,
    MCPSERVER,
    MCPSERVERBACKUP,
    POD,
    ApiError,
    Resource,
    preferred_version,
)
from mcpop.codec.reader import OBJECTS, YAMLInputError, decode, load_value

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
USER_AGENT = "mcp-cli"
MiB = 1 << 20
#: the largest response body read into memory (a 500-item list page of large objects fits)
MAX_BODY = 128 * MiB
#: the longest line of a stream (one watch event is one object: etcd stores at most 1.5 MiB)
MAX_LINE = 16 * MiB
#: what an exec credential plugin may print, and how long it may take
MAX_EXEC_OUTPUT = MiB
EXEC_TIMEOUT = 60.0
#: the largest token file (a service-account token is ~1 KiB)
MAX_TOKEN_FILE = MiB
#: how often a `tokenFile` is read again (client-go's cachingTokenSource: every minute)
TOKEN_FILE_TTL = 60.0
#: how long a write is tried again while the apiserver cannot reach an admission webhook because its Service has
#: no ready endpoint yet (an operator just installed or restarting: `helm install --wait` returns when its pod is
#: Ready, a moment before kube-proxy routes to it)
WEBHOOK_STARTING_WAIT = 30.0
#: what the apiserver's "failed calling webhook" says when nothing serves the webhook's Service yet
_WEBHOOK_STARTING = ("connect: connection refused", "no endpoints available for service")

Query = dict[str, Any] | list[tuple[str, Any]] | None


class ClusterError(ApiError):
    """A failed cluster operation, as one line a person can act on (`message`); status 0 when no answer."""

    def __init__(self, message: str, status: int = 0, reason: str = "", body: dict[str, Any] | None = None) -> None:
        self._line = message
        super().__init__(status, reason, body, message)

    @property
    def message(self) -> str:
        return self._line

    @property
    def unreachable(self) -> bool:
        """The API server did not answer (as opposed to answering with an error)."""
        return self.reason == "Unreachable"


KNOWN = {r.api_version + "/" + r.kind: r for r in (MCPSERVER, MCPREGISTRY, MCPSERVERBACKUP, POD, EVENT, DEPLOYMENT,
                                                   CONFIGMAP, CRD)}  # fmt: skip


# ---------------------------------------------------------------------------- kubeconfig


@dataclass
class Credentials:
    """How to reach and authenticate to one cluster."""

    server: str
    context: str = ""
    namespace: str | None = None
    ca_file: str | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    token: str | None = None
    token_file: str | None = None
    basic: tuple[str, str] | None = None
    exec_config: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _files(kubeconfig: str | None) -> list[Path]:
    if kubeconfig:
        return [Path(kubeconfig).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _read_kubeconfig(path: Path, explicit: bool) -> dict[str, Any] | None:
    try:
        with path.open("rb") as f:
            raw = f.read(OBJECTS.max_bytes + 1)
    except FileNotFoundError:
        if explicit:
            raise ClusterError(f"kubeconfig {path} does not exist") from None
        return None
    except OSError as exc:
        raise ClusterError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        doc = load_value(decode(raw)) or {}
    except YAMLInputError as exc:
        raise ClusterError(f"kubeconfig {path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ClusterError(f"kubeconfig {path} is not a kubeconfig (expected a mapping)")
    return doc


def _merged(paths: list[Path], explicit: bool) -> tuple[dict[str, Any], dict[str, Path]]:
    """Merge kubeconfig files as kubectl does: the first file to define a name wins. Also returns, per
    `kind/name`, the file that defined it (relative paths in it are relative to that file)."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": None}
    origin: dict[str, Path] = {}
    for path in paths:
        doc = _read_kubeconfig(path, explicit)
        if doc is None:
            continue
        for kind, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for item in doc.get(kind) or []:
                if not isinstance(item, dict):
                    raise ClusterError(f"kubeconfig {path}: an entry of {kind} is not a mapping")
                name, value = item.get("name"), item.get(key) or {}
                if not isinstance(value, dict):
                    raise ClusterError(f"kubeconfig {path}: {kind} {name!r}: {key} is not a mapping")
                if name is not None and name not in merged[kind]:
                    merged[kind][name] = value
                    origin[f"{kind}/{name}"] = path
        if merged["current-context"] is None and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
    return merged, origin


def _rel(path: str | None, base: Path | None) -> str | None:
    if not path:
        return None
    p = Path(path).expanduser()
    if not p.is_absolute() and base is not None:
        p = base.parent / p
    return str(p)


def _b64(value: str | None, what: str) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(value)
    except ValueError:
        raise ClusterError(f"kubeconfig: {what} is not valid base64") from None


def in_cluster() -> Credentials | None:
    """The pod's service account, when running in a cluster."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (SA_DIR / "token").exists():
        return None
    ns_file = SA_DIR / "namespace"
    ns = ns_file.read_text().strip() if ns_file.exists() else None
    host = f"[{host}]" if ":" in host else host
    return Credentials(f"https://{host}:{port}", "in-cluster", ns, ca_file=str(SA_DIR / "ca.crt"),
                       token_file=str(SA_DIR / "token"))  # fmt: skip


def load_credentials(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """The credentials of `context` (default: the current context) from the kubeconfig files."""
    paths = _files(kubeconfig)
    explicit = kubeconfig is not None or bool(os.environ.get("KUBECONFIG"))
    merged, origin = _merged(paths, explicit=kubeconfig is not None)
    if not merged["contexts"] and context is None:
        creds = in_cluster()
        if creds is not None:
            return creds
        where = ", ".join(str(p) for p in paths)
        hint = "" if explicit else " (set --kubeconfig or KUBECONFIG)"
        raise ClusterError(f"no cluster configured: no context in {where}{hint}")
    name = context or merged["current-context"]
    if not name:
        raise ClusterError("no current context in the kubeconfig: pass --context")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        raise ClusterError(f"context {name!r} does not exist in the kubeconfig")
    cluster = merged["clusters"].get(ctx.get("cluster"))
    if cluster is None:
        raise ClusterError(f"context {name!r} names cluster {ctx.get('cluster')!r}, which the kubeconfig lacks")
    user = merged["users"].get(ctx.get("user")) or {}
    cbase, ubase = origin.get(f"clusters/{ctx.get('cluster')}"), origin.get(f"users/{ctx.get('user')}")
    server = cluster.get("server")
    if not server or not isinstance(server, str):
        raise ClusterError(f"cluster {ctx.get('cluster')!r} has no server in the kubeconfig")
    if not isinstance(user.get("exec") or {}, dict):
        raise ClusterError(f"user {ctx.get('user')!r}: exec is not a mapping in the kubeconfig")
    if user.get("auth-provider"):
        provider = (user["auth-provider"] or {}).get("name", "?")
        raise ClusterError(f"user {ctx.get('user')!r} uses auth-provider {provider!r}, which kubectl removed in 1.26: "
                           "configure an exec credential plugin (users[].user.exec) instead")  # fmt: skip
    basic = (user["username"], user.get("password") or "") if user.get("username") else None
    return Credentials(
        server=server.rstrip("/"), context=name, namespace=ctx.get("namespace"),
        ca_file=_rel(cluster.get("certificate-authority"), cbase),
        ca_data=_b64(cluster.get("certificate-authority-data"), "certificate-authority-data"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")), tls_server_name=cluster.get("tls-server-name"),
        cert_file=_rel(user.get("client-certificate"), ubase), key_file=_rel(user.get("client-key"), ubase),
        cert_data=_b64(user.get("client-certificate-data"), "client-certificate-data"),
        key_data=_b64(user.get("client-key-data"), "client-key-data"),
        token=user.get("token"), token_file=_rel(user.get("tokenFile"), ubase), basic=basic,
        exec_config=user.get("exec"), headers={},
    )  # fmt: skip


# ---------------------------------------------------------------------------- credentials


def _bounded_run(cmd: list[str], env: dict[str, str], timeout: float, limit: int) -> tuple[int, bytes, bytes]:
    """Run `cmd` (no stdin); its exit status, stdout and stderr. ClusterError past `timeout` or `limit` bytes."""
    import selectors
    import subprocess

    try:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)  # fmt: skip
    except OSError as exc:
        raise ClusterError(f"exec credential plugin {cmd[0]!r} cannot run: {exc.strerror or exc}") from None
    assert proc.stdout is not None and proc.stderr is not None
    stdout_fd, stderr_fd = proc.stdout.fileno(), proc.stderr.fileno()
    out = {stdout_fd: bytearray(), stderr_fd: bytearray()}
    deadline = time.monotonic() + timeout
    try:
        with selectors.DefaultSelector() as sel:
            for fd in out:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ClusterError(f"exec credential plugin {cmd[0]!r} did not finish within {timeout:g}s")
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fd)
                    out[key.fd] += chunk
                    if len(out[key.fd]) > limit:
                        raise ClusterError(f"exec credential plugin {cmd[0]!r} printed more than {limit} bytes")
        code = proc.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise ClusterError(f"exec credential plugin {cmd[0]!r} did not finish within {timeout:g}s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return code, bytes(out[stdout_fd]), bytes(out[stderr_fd])


def run_exec_plugin(spec: dict[str, Any], server: str, timeout: float = EXEC_TIMEOUT,
                    limit: int = MAX_EXEC_OUTPUT) -> dict[str, Any]:  # fmt: skip
    """Run an exec credential plugin (non-interactive); the `status` of the ExecCredential it prints."""
    cmd = [str(spec.get("command") or ""), *[str(a) for a in spec.get("args") or []]]
    env = dict(os.environ)
    for item in spec.get("env") or []:
        if isinstance(item, dict) and item.get("name"):
            env[str(item["name"])] = str(item.get("value") or "")
    api_version = spec.get("apiVersion") or "client.authentication.k8s.io/v1"
    exec_spec: dict[str, Any] = {"interactive": False}
    if spec.get("provideClusterInfo"):
        exec_spec["cluster"] = {"server": server}
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "spec": exec_spec})
    code, stdout, stderr = _bounded_run(cmd, env, timeout, limit)
    if code != 0:
        err = (stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1][:300]
        raise ClusterError(f"exec credential plugin {cmd[0]!r} exited {code}: {err}")
    try:
        doc = json.loads(stdout)
        status = doc.get("status")
    except (ValueError, RecursionError, AttributeError):
        status = None
    if not isinstance(status, dict) or not (status.get("token") or status.get("clientCertificateData")):
        raise ClusterError(f"exec credential plugin {cmd[0]!r} did not print an ExecCredential with a token or a "
                           "client certificate")  # fmt: skip
    return status


def _expiry(status: dict[str, Any], plugin: str) -> float | None:
    text = status.get("expirationTimestamp")
    if not text:
        return None
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ClusterError(f"exec credential plugin {plugin!r}: expirationTimestamp {str(text)[:40]!r} is not "
                           "RFC 3339") from None  # fmt: skip


class Auth:
    """The credentials one kubeconfig user sends, kept fresh as client-go keeps them: a `tokenFile` is read
    again once a minute, an exec plugin's credential is reused until its `expirationTimestamp`, and a 401 makes
    both be fetched again (`refresh`). Thread-safe (`mcp logs` streams from several threads)."""

    def __init__(self, creds: Credentials, clock: Callable[[], float] = time.time) -> None:
        self.creds = creds
        self.clock = clock
        self.generation = 0  # bumped when the client certificate changes: the TLS context must be made again
        self._lock = threading.Lock()
        self._token = creds.token
        self._fetched_at: float | None = None
        self._expires: float | None = None

    def _stale(self) -> bool:
        if self._fetched_at is None:
            return True
        if self.creds.exec_config:
            return self._expires is not None and self.clock() >= self._expires
        return self.creds.token_file is not None and self.clock() - self._fetched_at >= TOKEN_FILE_TTL

    def _fetch(self) -> None:
        c = self.creds
        if c.exec_config:
            status = run_exec_plugin(c.exec_config, c.server)
            self._expires = _expiry(status, str(c.exec_config.get("command")))
            self._token = str(status["token"]) if status.get("token") else c.token
            if status.get("clientCertificateData"):
                cert = str(status["clientCertificateData"]).encode()
                key = str(status.get("clientKeyData") or "").encode()
                if (cert, key) != (c.cert_data, c.key_data):
                    c.cert_data, c.key_data = cert, key
                    self.generation += 1
        elif c.token_file:
            try:
                with open(c.token_file, "rb") as f:
                    raw = f.read(MAX_TOKEN_FILE + 1)
            except OSError as exc:
                raise ClusterError(f"cannot read tokenFile {c.token_file}: {exc.strerror or exc}") from None
            if len(raw) > MAX_TOKEN_FILE:
                raise ClusterError(f"tokenFile {c.token_file} is larger than {MAX_TOKEN_FILE} bytes")
            self._token = raw.decode(errors="replace").strip()
        self._fetched_at = self.clock()

    def header(self) -> str | None:
        """The Authorization header's value (None: no token and no basic auth; a client certificate, maybe)."""
        with self._lock:
            if self._stale():
                self._fetch()
            if self._token:
                return f"Bearer {self._token}"
        if self.creds.basic:
            raw = f"{self.creds.basic[0]}:{self.creds.basic[1]}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        return None

    def refresh(self) -> bool:
        """After a 401: fetch the credential again; False when nothing can change (a retry would not help)."""
        if not (self.creds.exec_config or self.creds.token_file):
            return False
        with self._lock:
            self._fetch()
        return True


def ssl_context(creds: Credentials) -> ssl.SSLContext:
    """A TLS context trusting the cluster's CA and presenting the client certificate, if any."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if creds.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif creds.ca_data:
            ctx.load_verify_locations(cadata=creds.ca_data.decode())
        elif creds.ca_file:
            ctx.load_verify_locations(cafile=creds.ca_file)
        else:
            ctx.load_default_certs()
        if creds.cert_data or creds.cert_file:
            _load_client_cert(ctx, creds)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ClusterError(f"kubeconfig context {creds.context!r}: bad TLS material: {exc}") from None
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, creds: Credentials) -> None:
    if creds.cert_file and not creds.cert_data:
        ctx.load_cert_chain(creds.cert_file, creds.key_file)
        return
    cert = creds.cert_data or b""
    key = creds.key_data if creds.key_data is not None else Path(str(creds.key_file)).read_bytes()
    # ssl loads certificates from files only: memory files where there are (the key never reaches a file system,
    # and tempfile's import is ~10 % of a cold `mcp status`), else a private temporary directory
    fds = _memory_files(cert, key)
    if fds is not None:
        try:
            ctx.load_cert_chain(f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}")
        finally:
            for fd in fds:
                os.close(fd)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mcp-") as d:
        cert_path, key_path = Path(d) / "c.pem", Path(d) / "k.pem"
        cert_path.write_bytes(cert)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        ctx.load_cert_chain(str(cert_path), str(key_path))


def _memory_files(*contents: bytes) -> list[int] | None:
    """Anonymous memory files (memfd) holding `contents`, each readable at /proc/self/fd/N; None where there are
    none: not Linux, no /proc, or memfd_create refused (a seccomp profile, an old kernel)."""
    if not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"):
        return None
    fds: list[int] = []
    try:
        for data in contents:
            fds.append(os.memfd_create("mcp-tls", os.MFD_CLOEXEC))
            with open(fds[-1], "wb", closefd=False) as f:
                f.write(data)
    except OSError:
        for fd in fds:
            os.close(fd)
        return None
    return fds


# ---------------------------------------------------------------------------- client


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS that verifies the certificate for kubeconfig's `tls-server-name` when set, not the host dialled."""

    def __init__(self, host: str, port: int, *, timeout: float | None, context: ssl.SSLContext,
                 server_name: str | None) -> None:  # fmt: skip
        super().__init__(host, port, timeout=timeout, context=context)
        self._tls, self._server_name = context, server_name or host

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._server_name)


#: a kept-alive connection the server closed while idle: the request is sent again once, on a new connection
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError,
          ssl.SSLZeroReturnError)  # fmt: skip


def webhook_starting(exc: ClusterError) -> bool:
    """Whether the apiserver refused a write only because an admission webhook's Service has no ready endpoint."""
    message = exc.message
    return exc.status == 500 and "failed calling webhook" in message and any(s in message for s in _WEBHOOK_STARTING)


def _status_message(status: int, reason: str, body: dict[str, Any]) -> str:
    msg = " ".join(str(body.get("message") or reason or f"HTTP {status}").split())
    kind = str(body.get("reason") or reason or status)
    return f"{kind}: {msg}" if not msg.startswith(kind) else msg


class Client:
    """JSON requests to one API server. `request` keeps one connection alive and is not thread-safe; `stream`
    opens its own connection and may be used from threads."""

    def __init__(self, creds: Credentials, timeout: float = 10.0, max_body: int = MAX_BODY,
                 max_line: int = MAX_LINE) -> None:  # fmt: skip
        self.creds = creds
        self.timeout = timeout
        self.max_body, self.max_line = max_body, max_line
        url = urlsplit(creds.server)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ClusterError(f"cluster server {creds.server!r} is not an http(s) URL")
        self.scheme = url.scheme
        self.host = url.hostname
        try:
            self.port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            raise ClusterError(f"cluster server {creds.server!r} has an invalid port") from None
        self.prefix = url.path.rstrip("/")
        self.auth = Auth(creds)
        self._ctx: ssl.SSLContext | None = None
        self._ctx_generation = -1
        self._conn: http.client.HTTPConnection | None = None
        self._resources: dict[str, dict[str, Resource] | None] = {}

    @property
    def namespace(self) -> str:
        return self.creds.namespace or "default"

    # ------------------------------------------------------------------ transport

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        auth = self.auth.header()  # first: an exec plugin may supply a new client certificate
        if auth:
            headers["Authorization"] = auth
        if content_type:
            headers["Content-Type"] = content_type
        if self.auth.generation != self._ctx_generation:
            self._ctx, self._ctx_generation = None, self.auth.generation
            self.close()  # the connection presented the previous certificate
        return headers

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self.scheme == "http":
            return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        if self._ctx is None:
            self._ctx = ssl_context(self.creds)
        return _HTTPSConnection(self.host, self.port, timeout=timeout, context=self._ctx,
                                server_name=self.creds.tls_server_name)  # fmt: skip

    def _unreachable(self, exc: BaseException) -> ClusterError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            why = f"TLS verification failed: {exc.verify_message or exc}"
        elif isinstance(exc, TimeoutError):
            why = f"no answer within {self.timeout:g}s (--request-timeout)"
        elif isinstance(exc, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(exc, OSError) and type(exc).__name__ == "gaierror":
            why = f"cannot resolve {self.host}"
        elif isinstance(exc, http.client.HTTPException):
            why = f"not an HTTP answer ({type(exc).__name__}: {str(exc)[:80]})"
        else:
            why = str(exc) or type(exc).__name__
        ctx = f" (context {self.creds.context})" if self.creds.context else ""
        return ClusterError(f"cannot reach the cluster at {self.creds.server}{ctx}: {why}", 0, "Unreachable")

    def url(self, path: str, query: Query = None) -> str:
        items = query.items() if isinstance(query, dict) else (query or [])
        q = urlencode([(k, str(v).lower() if isinstance(v, bool) else v) for k, v in items if v is not None])
        return self.prefix + path + (f"?{q}" if q else "")

    def _body(self, resp: http.client.HTTPResponse, what: str) -> bytes:
        """The whole body, at most `max_body` bytes."""
        too_big = ClusterError(f"the answer to {what} is larger than {self.max_body} bytes", 0, "TooLarge")
        if resp.length is not None and resp.length > self.max_body:
            raise too_big
        data = resp.read(self.max_body + 1)
        if len(data) > self.max_body:
            raise too_big
        return data

    def _exchange(self, method: str, target: str, data: bytes | None, content_type: str | None
                  ) -> tuple[int, str, bytes]:  # fmt: skip
        what = f"{method} {target.split('?')[0]}"
        for attempt in (0, 1):
            headers = self._headers(content_type)
            reused = self._conn is not None and self._conn.sock is not None
            try:
                if self._conn is None:
                    self._conn = self._connection(self.timeout)
                self._conn.request(method, target, body=data, headers=headers)
                resp = self._conn.getresponse()
                payload = self._body(resp, what)
                if resp.will_close or not resp.isclosed():
                    self.close()
                return resp.status, resp.reason, payload
            except _STALE as exc:
                self.close()
                if not reused or attempt:
                    raise self._unreachable(exc) from None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.close()
                raise self._unreachable(exc) from None
            except ClusterError:
                self.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def request(self, method: str, path: str, query: Query = None, body: Any = None,
                content_type: str = "application/json") -> dict[str, Any]:  # fmt: skip
        """One request; the decoded JSON body. Raises ClusterError for any failure. A 401 fetches refreshable
        credentials (tokenFile, exec plugin) again and retries once."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        target = self.url(path, query)
        deadline, delay, told = time.monotonic() + WEBHOOK_STARTING_WAIT, 0.5, False
        while True:
            status, reason, payload = self._exchange(method, target, data, content_type if data is not None else None)
            if status == 401 and self.auth.refresh():
                status, reason, payload = self._exchange(method, target, data,
                                                         content_type if data is not None else None)  # fmt: skip
            try:
                return self._decode(status, reason, payload)
            except ClusterError as exc:
                # refused at admission, so nothing was written: the same write again is safe
                if method == "GET" or not webhook_starting(exc) or time.monotonic() + delay > deadline:
                    raise
                if not told:
                    told = True
                    import sys

                    sys.stderr.write(f"waiting for the cluster's admission webhook to be reachable ({exc.message}); "
                                     f"trying again for up to {WEBHOOK_STARTING_WAIT:.0f}s\n")  # fmt: skip
                time.sleep(delay)
                delay = min(delay * 2, 4.0)

    def _decode(self, status: int, reason: str, data: bytes) -> dict[str, Any]:
        try:
            decoded = json.loads(data) if data else {}
        except (ValueError, RecursionError):
            decoded = {"message": data[:300].decode(errors="replace").strip()}
        if not isinstance(decoded, dict):
            decoded = {"items": decoded}
        if not 200 <= status < 300:
            if status == 401:
                ctx = f" (context {self.creds.context})" if self.creds.context else ""
                raise ClusterError(f"Unauthorized: the cluster rejected the credentials{ctx}", status, "Unauthorized")
            raise ClusterError(_status_message(status, reason, decoded), status, str(decoded.get("reason") or reason),
                               decoded)  # fmt: skip
        return decoded

    def stream(self, path: str, query: Query = None) -> Iterator[bytes]:
        """A streaming GET (watch, log follow) on its own connection: its lines as they arrive, each at most
        `max_line` bytes. Waits for the answer `timeout`, then as long as the stream lasts."""
        target = self.url(path, query)
        conn: http.client.HTTPConnection | None = None
        try:
            for attempt in (0, 1):
                headers = self._headers(None)
                conn = self._connection(self.timeout)
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
                if resp.status == 401 and not attempt and self.auth.refresh():
                    conn.close()
                    continue
                if not 200 <= resp.status < 300:
                    self._decode(resp.status, resp.reason, self._body(resp, f"GET {path}"))
                break
            assert conn is not None and conn.sock is not None
            conn.sock.settimeout(None)  # a quiet log or watch is not a dead one
            while True:
                line = resp.readline(self.max_line + 1)
                if not line:
                    return
                if len(line) > self.max_line:
                    raise ClusterError(f"a line of GET {path} is longer than {self.max_line} bytes", 0, "TooLarge")
                yield line
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise self._unreachable(exc) from None
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ discovery

    @staticmethod
    def _not_served(res: Resource) -> ClusterError:
        hint = ": are the mcpop CRDs installed?" if res.group == MCPSERVER.group else ""
        return ClusterError(f"the server does not serve {res.resource_name} ({res.api_version}){hint}", 404, "NotFound")

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """The resource serving `kind` in `api_version` (discovery, cached), or None when not served."""
        known = KNOWN.get(f"{api_version}/{kind}")
        if known is not None:
            return known
        if api_version not in self._resources:
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            try:
                body = self.request("GET", path)
            except ClusterError as exc:
                if exc.status not in (404, 503):
                    raise
                self._resources[api_version] = None
            else:
                group, _, version = api_version.rpartition("/")
                self._resources[api_version] = {
                    r["kind"]: Resource(group, version, r["kind"], r["name"], bool(r.get("namespaced")))
                    for r in body.get("resources") or [] if "/" not in r.get("name", "")
                }  # fmt: skip
        kinds = self._resources[api_version]
        return kinds.get(kind) if kinds else None

    def require(self, api_version: str, kind: str) -> Resource:
        res = self.resource(api_version, kind)
        if res is None:
            raise ClusterError(f"the server does not serve {kind} ({api_version})", 404, "NotFound")
        return res

    def preferred_version(self, group: str) -> str | None:
        """The version discovery prefers for API `group` (`v1` for the core group); None when not served."""
        return preferred_version(lambda path: self.request("GET", path), group)

    # ------------------------------------------------------------------ verbs

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", res.path(namespace, name))
        except ClusterError as exc:
            if exc.status == 404 and not exc.body.get("details"):
                raise self._not_served(res) from None
            if exc.status == 404:
                return None
            raise

    def list_objects(self, res: Resource, namespace: str | None = None, label_selector: str | None = None,
                     field_selector: str | None = None) -> tuple[list[dict[str, Any]], str]:  # fmt: skip
        """Every item (all pages joined, each with apiVersion and kind) and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        cont = None
        while True:
            query = {"labelSelector": label_selector, "fieldSelector": field_selector, "limit": 500, "continue": cont}
            try:
                body = self.request("GET", res.path(namespace), query)
            except ClusterError as exc:
                if exc.status == 404 and not exc.body.get("details"):
                    raise self._not_served(res) from None
                raise
            for item in body.get("items") or []:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                items.append(item)
            meta = body.get("metadata") or {}
            cont = meta.get("continue")
            if not cont:
                return items, str(meta.get("resourceVersion") or "")

    def apply(self, res: Resource, obj: dict[str, Any], *, force: bool = False,
              field_manager: str = CLI_FIELD_MANAGER, subresource: str | None = None,
              dry_run: bool = False) -> dict[str, Any]:  # fmt: skip
        """Server-side apply `obj` as `field_manager` (optionally as a server-side dry run)."""
        meta = obj.get("metadata") or {}
        query = {"fieldManager": field_manager, "force": True if force else None, "dryRun": "All" if dry_run else None}
        body = json.dumps(obj, separators=(",", ":")).encode()
        return self.request("PATCH", res.path(meta.get("namespace"), meta["name"], subresource), query, body,
                            "application/apply-patch+yaml")  # fmt: skip

    def merge_patch(self, res: Resource, namespace: str | None, name: str, patch: dict[str, Any],
                    subresource: str | None = None, field_manager: str = FIELD_MANAGER,
                    dry_run: bool = False) -> dict[str, Any]:  # fmt: skip
        """A JSON merge patch (`None` values remove keys), optionally as a server-side dry run."""
        query = {"fieldManager": field_manager, "dryRun": "All" if dry_run else None}
        return self.request("PATCH", res.path(namespace, name, subresource), query, patch,
                            "application/merge-patch+json")  # fmt: skip

    def delete(self, res: Resource, namespace: str | None, name: str, uid: str | None = None) -> bool:
        """Delete (background propagation; only the object with `uid`, when given); False when it was gone."""
        return self.delete_object(res, namespace, name, uid) is not None

    def delete_object(self, res: Resource, namespace: str | None, name: str, uid: str | None = None, *,
                      dry_run: bool = False) -> dict[str, Any] | None:  # fmt: skip
        """Delete as `delete` does (with `dry_run` the apiserver checks the delete and deletes nothing,
        `dryRun=All`): the apiserver's answer (the object, or a Status), None when it was gone."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        if dry_run:
            body["dryRun"] = ["All"]
        try:
            return self.request("DELETE", res.path(namespace, name), body=body)
        except ClusterError as exc:
            if exc.status == 404 or (exc.status == 409 and uid):
                return None
            raise


def connect(kubeconfig: str | None = None, context: str | None = None, timeout: float = 10.0) -> Client:
    """A client for the kubeconfig's context (see the module docstring for the lookup order). Nothing is sent
    until the first request."""
    return Client(load_credentials(kubeconfig, context), timeout)
