"""A small, fast Kubernetes API client for the CLI: kubeconfig loading and JSON requests over a plain HTTP/1.1
connection (`ssl` + `socket`).

The official client costs ~440 ms to import; a status check should cost less than that in total. This client
reads kubeconfig files as kubectl does (`--kubeconfig`, else every file in `KUBECONFIG` merged, else
`~/.kube/config`, else the in-cluster service account), authenticates with client certificates (files or
data), bearer tokens (inline or `tokenFile`), basic auth or an `exec` credential plugin, and turns every
failure (unreachable, refused, TLS, 4xx/5xx) into a one-line `ClusterError`.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from mcpop.apply.resources import (
    CONFIGMAP,
    CRD,
    DEPLOYMENT,
    EVENT,
    MCPREGISTRY,
    MCPSERVER,
    MCPSERVERBACKUP,
    POD,
    Resource,
)
from mcpop.codec.reader import YAMLInputError, load_value

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
USER_AGENT = "mcp-cli"


class ClusterError(Exception):
    """A failed cluster operation, as one line a person can act on."""

    def __init__(self, message: str, status: int = 0, reason: str = "", body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404


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


def _merged(paths: list[Path], explicit: bool) -> tuple[dict[str, Any], dict[str, Path]]:
    """Merge kubeconfig files as kubectl does: the first file to define a name wins. Also returns, per
    `kind/name`, the file that defined it (relative paths in it are relative to that file)."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": None}
    origin: dict[str, Path] = {}
    for path in paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            if explicit:
                raise ClusterError(f"kubeconfig {path} does not exist") from None
            continue
        except OSError as exc:
            raise ClusterError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
        try:
            doc = load_value(text) or {}
        except YAMLInputError as exc:
            raise ClusterError(f"kubeconfig {path} is not valid YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise ClusterError(f"kubeconfig {path} is not a kubeconfig (expected a mapping)")
        for kind, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for item in doc.get(kind) or []:
                name = item.get("name")
                if name is not None and name not in merged[kind]:
                    merged[kind][name] = item.get(key) or {}
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
    if not server:
        raise ClusterError(f"cluster {ctx.get('cluster')!r} has no server in the kubeconfig")
    if user.get("auth-provider"):
        provider = (user["auth-provider"] or {}).get("name", "?")
        raise ClusterError(f"user {ctx.get('user')!r} uses auth-provider {provider!r}, which is not supported: "
                           "use an exec credential plugin")  # fmt: skip
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


def _run_exec(spec: dict[str, Any], server: str) -> dict[str, Any]:
    """Run an exec credential plugin; its ExecCredential status (token or client certificate)."""
    import subprocess

    cmd = [str(spec.get("command") or ""), *[str(a) for a in spec.get("args") or []]]
    env = dict(os.environ)
    for item in spec.get("env") or []:
        env[str(item.get("name"))] = str(item.get("value") or "")
    api_version = spec.get("apiVersion") or "client.authentication.k8s.io/v1"
    exec_spec: dict[str, Any] = {"interactive": False}
    if spec.get("provideClusterInfo"):
        exec_spec["cluster"] = {"server": server}
    info = {"apiVersion": api_version, "kind": "ExecCredential", "spec": exec_spec}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterError(f"exec credential plugin {cmd[0]!r} failed: {exc}") from None
    if proc.returncode != 0:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClusterError(f"exec credential plugin {cmd[0]!r} exited {proc.returncode}: {err}")
    try:
        status = dict(json.loads(proc.stdout).get("status") or {})
    except (ValueError, AttributeError):
        raise ClusterError(f"exec credential plugin {cmd[0]!r} did not print an ExecCredential") from None
    return status


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
    # ssl only loads certificates from files: write the data to a private directory, load, remove
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mcp-") as d:
        cert, key = Path(d) / "c.pem", Path(d) / "k.pem"
        cert.write_bytes(creds.cert_data or b"")
        key_bytes = creds.key_data if creds.key_data is not None else Path(str(creds.key_file)).read_bytes()
        fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_bytes)
        ctx.load_cert_chain(str(cert), str(key))


class ProtocolError(OSError):
    """The server's answer is not HTTP/1.1 as expected."""


class _Response:
    """One HTTP/1.1 response read from a buffered socket file: status, headers, and the body by
    Content-Length, chunked transfer encoding, or up to the connection's end."""

    def __init__(self, rfile: Any, head: bool = False) -> None:
        self._rfile = rfile
        line = rfile.readline(65537)
        if not line:
            raise ConnectionResetError("the server closed the connection")
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ProtocolError(f"not an HTTP response: {line[:60]!r}")
        self.status = int(parts[1])
        self.reason = parts[2].strip() if len(parts) > 2 else ""
        self.headers: dict[str, str] = {}
        while True:
            h = rfile.readline(65537)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self.length = int(length) if length is not None and not self.chunked else None
        self.will_close = self.headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0"
        self._left = 0  # bytes left in the current chunk
        self._done = head or self.status in (204, 304) or self.length == 0

    def _chunk(self) -> bytes:
        """The next chunk's data (b'' at the end)."""
        size_line = self._rfile.readline(1024)
        if not size_line:
            raise ConnectionResetError("the connection ended inside a chunked body")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while self._rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            self._done = True
            return b""
        data = self._rfile.read(size)
        self._rfile.readline(3)  # CRLF after the chunk
        return bytes(data)

    def read(self) -> bytes:
        """The whole body."""
        if self._done:
            return b""
        self._done = True
        if self.chunked:
            self._done = False
            out = []
            while not self._done:
                out.append(self._chunk())
            return b"".join(out)
        if self.length is not None:
            return bytes(self._rfile.read(self.length))
        self.will_close = True
        return bytes(self._rfile.read())

    def lines(self) -> Iterator[bytes]:
        """The body line by line as it arrives (watch events, followed logs)."""
        if not self.chunked:
            while True:
                line = self._rfile.readline()
                if not line:
                    return
                yield line
        buf = b""
        while not self._done:
            buf += self._chunk()
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line + b"\n"
        if buf:
            yield buf


class _Conn:
    """One HTTP/1.1 connection (TLS unless the server is http://), kept alive between requests.

    Not `http.client`: importing it (and the email parser it uses) is a large part of a status check."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext | None, timeout: float | None,
                 server_name: str | None) -> None:  # fmt: skip
        self.host, self.port, self.timeout = host, port, timeout
        sock = socket.create_connection((host, port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ctx is not None:
                sock = ctx.wrap_socket(sock, server_hostname=server_name or host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.broken = False

    def send(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> _Response:
        host = f"[{self.host}]" if ":" in self.host else self.host
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}" if body is not None else "Content-Length: 0")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.sock.sendall(head + (body or b""))
        return _Response(self.rfile, head=method == "HEAD")

    def close(self) -> None:
        try:
            self.rfile.close()
        finally:
            self.sock.close()


# ---------------------------------------------------------------------------- client


def _status_message(status: int, reason: str, body: dict[str, Any]) -> str:
    msg = " ".join(str(body.get("message") or reason or f"HTTP {status}").split())
    kind = str(body.get("reason") or reason or status)
    return f"{kind}: {msg}" if not msg.startswith(kind) else msg


class Client:
    """JSON requests to one API server. Not thread-safe: use `stream()` (own connection) from threads."""

    def __init__(self, creds: Credentials, timeout: float = 10.0) -> None:
        self.creds = creds
        self.timeout = timeout
        url = urlsplit(creds.server)
        if url.scheme not in ("https", "http"):
            raise ClusterError(f"cluster server {creds.server!r} is not an http(s) URL")
        self.scheme = url.scheme
        self.host = url.hostname or ""
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self._ctx: ssl.SSLContext | None = None
        self._auth: dict[str, str] | None = None
        self._conn: _Conn | None = None
        self._resources: dict[str, dict[str, Resource] | None] = {}

    @property
    def namespace(self) -> str:
        return self.creds.namespace or "default"

    def _headers(self) -> dict[str, str]:
        if self._auth is None:
            c = self.creds
            auth: dict[str, str] = {}
            token = c.token
            if c.token_file:
                try:
                    token = Path(c.token_file).read_text().strip()
                except OSError as exc:
                    raise ClusterError(f"cannot read tokenFile {c.token_file}: {exc.strerror or exc}") from None
            if c.exec_config:
                st = _run_exec(c.exec_config, c.server)
                token = st.get("token") or token
                if st.get("clientCertificateData"):
                    c.cert_data = str(st["clientCertificateData"]).encode()
                    c.key_data = str(st.get("clientKeyData") or "").encode()
                    self._ctx = None
            if token:
                auth["Authorization"] = f"Bearer {token}"
            elif c.basic:
                raw = f"{c.basic[0]}:{c.basic[1]}".encode()
                auth["Authorization"] = "Basic " + base64.b64encode(raw).decode()
            self._auth = auth
        return {"User-Agent": USER_AGENT, "Accept": "application/json", **self._auth}

    def _connect(self, timeout: float | None) -> _Conn:
        self._headers()  # an exec plugin may supply a client certificate: before the TLS context is made
        if self.scheme == "https" and self._ctx is None:
            self._ctx = ssl_context(self.creds)
        ctx = self._ctx if self.scheme == "https" else None
        return _Conn(self.host, self.port, ctx, timeout, self.creds.tls_server_name)

    def _unreachable(self, exc: BaseException) -> ClusterError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            why = f"TLS verification failed: {exc.verify_message or exc}"
        elif isinstance(exc, TimeoutError | socket.timeout):
            why = f"no answer within {self.timeout:g}s (--request-timeout)"
        elif isinstance(exc, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(exc, socket.gaierror):
            why = f"cannot resolve {self.host}"
        else:
            why = str(exc) or type(exc).__name__
        ctx = f" (context {self.creds.context})" if self.creds.context else ""
        return ClusterError(f"cannot reach the cluster at {self.creds.server}{ctx}: {why}", 0, "Unreachable")

    def url(self, path: str, query: dict[str, Any] | list[tuple[str, Any]] | None = None) -> str:
        items = query.items() if isinstance(query, dict) else (query or [])
        q = urlencode([(k, str(v).lower() if isinstance(v, bool) else v) for k, v in items if v is not None])
        return self.prefix + path + (f"?{q}" if q else "")

    def _open(self, method: str, path: str, query: Any, body: Any, content_type: str, conn: _Conn) -> _Response:
        headers = self._headers()
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type
        return conn.send(method, self.url(path, query), headers, data)

    def request(self, method: str, path: str, query: Any = None, body: Any = None,
                content_type: str = "application/json") -> dict[str, Any]:  # fmt: skip
        """One request; the decoded JSON body. Raises ClusterError for any failure."""
        for attempt in (0, 1):
            fresh = self._conn is None
            try:
                if self._conn is None:
                    self._conn = self._connect(self.timeout)
                resp = self._open(method, path, query, body, content_type, self._conn)
                data = resp.read()
                if resp.will_close:
                    self.close()
                break
            except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
                self.close()
                if fresh or attempt:  # a kept-alive connection the server closed: retry once on a new one
                    raise self._unreachable(exc) from None
            except (OSError, ValueError) as exc:
                self.close()
                raise self._unreachable(exc) from None
        return self._decode(resp.status, resp.reason, data)

    def _decode(self, status: int, reason: str, data: bytes) -> dict[str, Any]:
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
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

    def stream(self, path: str, query: Any = None) -> Iterator[bytes]:
        """A streaming GET (watch, log follow) on its own connection: its lines, as they arrive."""
        try:
            conn = self._connect(self.timeout)
        except (OSError, ValueError) as exc:
            raise self._unreachable(exc) from None
        try:
            resp = self._open("GET", path, query, None, "", conn)
            if not 200 <= resp.status < 300:
                self._decode(resp.status, resp.reason, resp.read())
            conn.sock.settimeout(None)  # a quiet log or watch is not a dead one
            yield from resp.lines()
        except (OSError, ValueError) as exc:
            raise self._unreachable(exc) from None
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ verbs

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", res.path(namespace, name))
        except ClusterError as exc:
            if exc.status == 404 and (exc.body.get("details") or {}).get("name") == name:
                return None
            if exc.status == 404 and not exc.body.get("details"):
                raise self._not_served(res) from None
            if exc.status == 404:
                return None
            raise

    @staticmethod
    def _not_served(res: Resource) -> ClusterError:
        hint = ": are the mcpop CRDs installed?" if res.group == MCPSERVER.group else ""
        return ClusterError(f"the server does not serve {res.resource_name} ({res.api_version}){hint}", 404, "NotFound")

    def list(self, res: Resource, namespace: str | None, label_selector: str | None = None,
             field_selector: str | None = None) -> dict[str, Any]:  # fmt: skip
        """The list response (all pages joined)."""
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
            cont = (body.get("metadata") or {}).get("continue")
            if not cont:
                body["items"] = items
                return body

    def apply(self, res: Resource, obj: dict[str, Any], field_manager: str, *, force: bool = False,
              dry_run: bool = False) -> dict[str, Any]:  # fmt: skip
        """Server-side apply `obj` as `field_manager` (optionally as a server-side dry run)."""
        meta = obj.get("metadata") or {}
        query = {"fieldManager": field_manager, "force": True if force else None, "dryRun": "All" if dry_run else None}
        body = json.dumps(obj, separators=(",", ":")).encode()
        return self.request("PATCH", res.path(meta.get("namespace"), meta["name"]), query, body,
                            "application/apply-patch+yaml")  # fmt: skip

    def delete(self, res: Resource, namespace: str | None, name: str) -> bool:
        """Delete (background propagation); False when it did not exist."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            self.request("DELETE", res.path(namespace, name), body=body)
        except ClusterError as exc:
            if exc.status == 404:
                return False
            raise
        return True

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


def connect(kubeconfig: str | None = None, context: str | None = None, timeout: float = 10.0) -> Client:
    """A client for the kubeconfig's context (see the module docstring for the lookup order)."""
    return Client(load_credentials(kubeconfig, context), timeout)
