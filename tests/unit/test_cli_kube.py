"""The CLI's one Kubernetes client: kubeconfig loading as kubectl does it, and requests over TLS to a local
HTTPS server (Python's http.server, a certificate made by `cryptography`) that asks for a client certificate:
a real TLS handshake and real HTTP/1.1, not a mock.

Covers: KUBECONFIG merging (first file wins), relative paths, context namespace, a missing context/file,
auth-provider refused naming `exec`; client certificate from data and from files, bearer token, tokenFile
(re-read after a minute and after a 401), an exec credential plugin (cached until its expirationTimestamp,
re-run after it and after a 401; its output and time bounded); chunked bodies; response and line size
bounds; Status bodies and 401s become one-line errors that never show the token; a refused port is
"unreachable"; the read-only path imports neither the official client nor pydantic, and no cluster command
(registry and backup included) imports the official client.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mcpop.apply.resources import MCPSERVER
from mcpop.cli.kube import Client, ClusterError, connect, load_credentials, run_exec_plugin

ROOT = Path(__file__).resolve().parents[2]


def _cert(cn: str, issuer: tuple[Any, Any] | None, *, ca: bool = False, ip: bool = False) -> tuple[Any, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer[0].subject if issuer else name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))  # fmt: skip
    if ip:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False)  # fmt: skip
    cert = b.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert, key


def _pem(cert: Any) -> bytes:
    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def _key_pem(key: Any) -> bytes:
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))  # fmt: skip


#: the bearer tokens /secure accepts
ACCEPTED = {"Bearer fresh", "Bearer new"}


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        subject = dict(x[0] for x in peer["subject"]) if peer else {}
        _Handler.seen.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "cn": subject.get("commonName")}
        )
        if self.path.startswith("/stream"):
            self._chunked([b'{"type":"ADDED"}\n{"ty', b'pe":"MODIFIED"}\n', b"partial"])
        elif self.path.startswith("/chunked"):
            self._chunked([b'{"kind":"Status",', b'"items":', b"[1,2,3]}"])
        elif self.path.startswith("/big-chunked"):
            self._chunked([b"x" * 1000] * 5)
        elif self.path.startswith("/big"):
            self._send(200, {"data": "x" * 5000})
        elif self.path.startswith("/secure"):
            if self.headers.get("Authorization") in ACCEPTED:
                self._send(200, {"ok": True})
            else:
                self._send(401, {"kind": "Status", "reason": "Unauthorized", "message": "Unauthorized"})
        else:
            self._route()

    #: per path: how many PATCHes the webhook-starting routes have refused
    refused: dict[str, int] = {}

    def do_PATCH(self) -> None:
        """/webhook-starting/N: refused N times as the apiserver refuses a write whose webhook has no endpoint yet,
        then applied; /webhook-denied: the webhook itself said no."""
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        if path.startswith("/webhook-starting/"):
            times = int(path.rsplit("/", 1)[1])
            done = _Handler.refused.get(path, 0)
            if done < times:
                _Handler.refused[path] = done + 1
                self._send(500, {"kind": "Status", "reason": "InternalError", "code": 500, "message": (
                    'Internal error occurred: failed calling webhook "mcpserver.defaults.mcp.allbeone.io": failed to '
                    'call webhook: Post "https://mcpop-webhook.mcpop-system.svc:443/mutate?timeout=5s": dial tcp '
                    "10.0.78.61:443: connect: connection refused")})  # fmt: skip
                return
            self._send(200, {"kind": "MCPServer", "metadata": {"name": "applied"}})
        else:
            denied = 'admission webhook "mcpserver.validate.mcp.allbeone.io" denied the request: spec.port: bad'
            self._send(400, {"kind": "Status", "reason": "BadRequest", "code": 400, "message": denied})

    def _chunked(self, pieces: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _route(self) -> None:
        if self.path.startswith("/apis/mcp.allbeone.io/v1/namespaces/default/mcpservers/there"):
            self._send(200, {"kind": "MCPServer", "metadata": {"name": "there"}})
            if "drop" in self.path:
                self.close_connection = True  # close without saying so, as an idle timeout does
        elif "/mcpservers/" in self.path:
            self._send(404, {"kind": "Status", "reason": "NotFound", "message": 'mcpservers "x" not found',
                             "details": {"name": self.path.rsplit("/", 1)[-1]}})  # fmt: skip
        else:
            self._send(403, {"kind": "Status", "reason": "Forbidden",
                             "message": 'mcpservers is forbidden: User "u"\ncannot list resource'})  # fmt: skip

    protocol_version = "HTTP/1.1"  # keep-alive and chunked transfer encoding, as the API server speaks

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ca = _cert("test-ca", None, ca=True)
    server = _cert("127.0.0.1", ca, ip=True)
    user = _cert("alice", ca)
    d = tmp_path_factory.mktemp("pki")
    for name, (c, k) in {"ca": ca, "server": server, "user": user}.items():
        (d / f"{name}.crt").write_bytes(_pem(c))
        (d / f"{name}.key").write_bytes(_key_pem(k))
    return {"dir": d, "ca": ca, "user": user}


@pytest.fixture(scope="module")
def server(pki: dict[str, Any]) -> Iterator[str]:
    d = pki["dir"]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "server.crt", d / "server.key")
    ctx.load_verify_locations(d / "ca.crt")
    ctx.verify_mode = ssl.CERT_OPTIONAL
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _kubeconfig(path: Path, server: str, user: dict[str, Any], namespace: str | None = None,
                cluster: dict[str, Any] | None = None, name: str = "test") -> Path:  # fmt: skip
    ctx: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        ctx["namespace"] = namespace
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": name,
           "clusters": [{"name": name, "cluster": {"server": server, **(cluster or {})}}],
           "users": [{"name": name, "user": user}], "contexts": [{"name": name, "context": ctx}]}  # fmt: skip
    path.write_text(yaml.safe_dump(cfg))
    return path


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_client_certificate_data_over_verified_tls(pki: dict[str, Any], server: str, tmp_path: Path) -> None:
    d = pki["dir"]
    kc = _kubeconfig(tmp_path / "kc", server,
                     {"client-certificate-data": _b64((d / "user.crt").read_bytes()),
                      "client-key-data": _b64((d / "user.key").read_bytes())},
                     cluster={"certificate-authority-data": _b64((d / "ca.crt").read_bytes())})  # fmt: skip
    client = connect(str(kc))
    assert client.get(MCPSERVER, "default", "there") == {"kind": "MCPServer", "metadata": {"name": "there"}}
    assert client.get(MCPSERVER, "default", "absent") is None
    assert _Handler.seen[-1]["cn"] == "alice"


def _cert_data_kubeconfig(pki: dict[str, Any], server: str, tmp_path: Path) -> Path:
    d = pki["dir"]
    return _kubeconfig(tmp_path / "kc", server,
                       {"client-certificate-data": _b64((d / "user.crt").read_bytes()),
                        "client-key-data": _b64((d / "user.key").read_bytes())},
                       cluster={"certificate-authority-data": _b64((d / "ca.crt").read_bytes())})  # fmt: skip


def test_client_key_data_never_reaches_a_file_system(pki: dict[str, Any], server: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    def no_files(*_a: object, **_k: object) -> None:
        raise AssertionError("the client key was written to a temporary file")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_files)
    connect(str(_cert_data_kubeconfig(pki, server, tmp_path))).get(MCPSERVER, "default", "there")
    assert _Handler.seen[-1]["cn"] == "alice"


def test_client_key_data_that_is_no_key_is_one_line_naming_the_context(pki: dict[str, Any], server: str,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    d = pki["dir"]
    kc = _kubeconfig(tmp_path / "kc", server,
                     {"client-certificate-data": _b64((d / "user.crt").read_bytes()),
                      "client-key-data": _b64(b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW5vdC1hLWtleQ==\n")})  # fmt: skip
    with pytest.raises(ClusterError) as err:
        connect(str(kc)).get(MCPSERVER, "default", "there")
    assert err.value.message.startswith("kubeconfig context 'test': bad TLS material:"), err.value.message
    assert "c2VjcmV0" not in err.value.message and "\n" not in err.value.message


def _refused(*_a: object) -> int:
    raise OSError(38, "Function not implemented")


@pytest.mark.parametrize("memfd", ["absent", "refused"])
def test_client_certificate_data_without_memory_files(pki: dict[str, Any], server: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, memfd: str) -> None:  # fmt: skip
    # not Linux, or a seccomp profile refusing memfd_create: a private temporary directory, removed after
    if memfd == "absent":
        monkeypatch.delattr(os, "memfd_create")
    else:
        monkeypatch.setattr(os, "memfd_create", _refused)
    before = set(Path(tempfile.gettempdir()).glob("mcp-*"))
    connect(str(_cert_data_kubeconfig(pki, server, tmp_path))).get(MCPSERVER, "default", "there")
    assert _Handler.seen[-1]["cn"] == "alice"
    assert set(Path(tempfile.gettempdir()).glob("mcp-*")) == before


def test_files_relative_to_the_kubeconfig_and_a_bearer_token(pki: dict[str, Any], server: str,
                                                              tmp_path: Path) -> None:  # fmt: skip
    (tmp_path / "ca.crt").write_bytes((pki["dir"] / "ca.crt").read_bytes())
    (tmp_path / "tok").write_text("from-file\n")
    kc = _kubeconfig(tmp_path / "kc", server, {"tokenFile": "tok"}, cluster={"certificate-authority": "ca.crt"})
    connect(str(kc)).get(MCPSERVER, "default", "there")
    assert _Handler.seen[-1]["auth"] == "Bearer from-file"
    kc2 = _kubeconfig(tmp_path / "kc2", server, {"token": "inline"}, cluster={"insecure-skip-tls-verify": True})
    connect(str(kc2)).get(MCPSERVER, "default", "there")
    assert _Handler.seen[-1]["auth"] == "Bearer inline"


def test_an_exec_credential_plugin(server: str, tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import json, os\ninfo = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
                      "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',"
                      " 'status': {'token': 'exec-' + os.environ['EXTRA']}}))\n")  # fmt: skip
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": [str(plugin)], "env": [{"name": "EXTRA", "value": "42"}]}}  # fmt: skip
    kc = _kubeconfig(tmp_path / "kc", server, user, cluster={"insecure-skip-tls-verify": True})
    connect(str(kc)).get(MCPSERVER, "default", "there")
    assert _Handler.seen[-1]["auth"] == "Bearer exec-42"


def test_a_status_body_becomes_one_line(server: str, tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path / "kc", server, {"token": "t"}, cluster={"insecure-skip-tls-verify": True})
    with pytest.raises(ClusterError) as err:
        connect(str(kc)).list_objects(MCPSERVER, None)
    assert err.value.status == 403
    assert err.value.message == 'Forbidden: mcpservers is forbidden: User "u" cannot list resource'


def test_an_untrusted_server_certificate_is_refused(server: str, tmp_path: Path) -> None:
    other = _cert("other-ca", None, ca=True)
    kc = _kubeconfig(tmp_path / "kc", server, {"token": "t"},
                     cluster={"certificate-authority-data": _b64(_pem(other[0]))})  # fmt: skip
    with pytest.raises(ClusterError, match="TLS verification failed"):
        connect(str(kc)).get(MCPSERVER, "default", "there")


def test_a_refused_port_is_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kc = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{port}", {"token": "t"})
    with pytest.raises(ClusterError) as err:
        Client(load_credentials(str(kc)), timeout=2).get(MCPSERVER, "default", "x")
    assert (
        err.value.message == f"cannot reach the cluster at https://127.0.0.1:{port} (context test): connection refused"
    )


def test_kubeconfig_files_merge_first_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _kubeconfig(tmp_path / "a", "https://a.example:6443", {"token": "a"}, namespace="team-a", name="a")
    b = _kubeconfig(tmp_path / "b", "https://b.example:6443", {"token": "b"}, name="b")
    monkeypatch.setenv("KUBECONFIG", f"{a}:{tmp_path / 'missing'}:{b}")
    creds = load_credentials()
    assert (creds.server, creds.namespace, creds.context) == ("https://a.example:6443", "team-a", "a")
    assert load_credentials(context="b").server == "https://b.example:6443"
    with pytest.raises(ClusterError, match="context 'c' does not exist"):
        load_credentials(context="c")


def test_unusable_kubeconfigs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="does not exist"):
        load_credentials(str(tmp_path / "nope"))
    kc = _kubeconfig(tmp_path / "kc", "https://x:1", {"auth-provider": {"name": "gcp"}})
    with pytest.raises(ClusterError, match=r"auth-provider 'gcp', which kubectl removed in 1.26: configure an exec "):
        load_credentials(str(kc))
    kc = _kubeconfig(tmp_path / "kc", "https://x:1", {"exec": "gke-gcloud-auth-plugin"})
    with pytest.raises(ClusterError, match=r"^user 'test': exec is not a mapping in the kubeconfig$"):
        load_credentials(str(kc))
    kc.write_text("contexts: [{name: c, context: [not, a, mapping]}]\ncurrent-context: c\n")
    with pytest.raises(ClusterError, match=r"contexts 'c': context is not a mapping$"):
        load_credentials(str(kc))
    empty = tmp_path / "empty"
    empty.write_text("apiVersion: v1\nkind: Config\n")
    with pytest.raises(ClusterError, match="no cluster configured"):
        load_credentials(str(empty))


def test_the_read_only_path_imports_neither_the_official_client_nor_pydantic() -> None:
    code = ("import sys\nimport mcpop.cli.main, mcpop.cli.status, mcpop.cli.kube, mcpop.cli.output\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'urllib3', 'pydantic', 'deepdiff')]\n"
            "print(','.join(bad))")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_no_cluster_command_but_the_operator_loads_the_official_client() -> None:
    modules = ["mcpop.cli." + m for m in ("apply", "backup", "delete", "deploy", "logs", "plan", "registry", "status",
                                           "version", "wait")]  # fmt: skip
    modules += ["mcpop.apply.mcpbackup.run", "mcpop.apply.catalog_store", "mcpop.apply.mcpserver.kinds"]
    code = (f"import sys\nimport {', '.join(modules)}\n"
            "print(','.join(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'urllib3')))")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_chunked_streams_are_read_line_by_line_and_connections_kept_alive(server: str, tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path / "kc", server, {"token": "t"}, cluster={"insecure-skip-tls-verify": True})
    client = connect(str(kc))
    assert list(client.stream("/stream")) == [b'{"type":"ADDED"}\n', b'{"type":"MODIFIED"}\n', b"partial"]
    client.get(MCPSERVER, "default", "there")
    conn = client._conn
    client.get(MCPSERVER, "default", "there")
    assert client._conn is conn and conn is not None  # the second request reused the connection
    client.request("GET", MCPSERVER.path("default", "there"), {"drop": "1"})  # the server then closes it
    assert client.get(MCPSERVER, "default", "there") == {"kind": "MCPServer", "metadata": {"name": "there"}}
    assert client._conn is not conn  # reconnected once, transparently


def _insecure(tmp_path: Path, server: str, user: dict[str, Any]) -> Client:
    return connect(str(_kubeconfig(tmp_path / "kc", server, user, cluster={"insecure-skip-tls-verify": True})))


def _counting_plugin(tmp_path: Path, script: str) -> dict[str, Any]:
    """An exec user whose plugin counts its runs in `runs` (N is the run number) and runs `script`."""
    plugin = tmp_path / "plugin.py"
    count = "c = pathlib.Path(sys.argv[1])\nN = int(c.read_text()) + 1 if c.exists() else 1\nc.write_text(str(N))\n"
    plugin.write_text("import json, pathlib, sys\n" + count + script)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": [str(plugin), str(tmp_path / "runs")]}}  # fmt: skip


def _credential(token: str, expires: str | None = None) -> str:
    status = {"token": token} | ({"expirationTimestamp": expires} if expires else {})
    return json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status})


def test_a_chunked_response_body_is_decoded(server: str, tmp_path: Path) -> None:
    assert _insecure(tmp_path, server, {"token": "t"}).request("GET", "/chunked") == {"kind": "Status",
                                                                                      "items": [1, 2, 3]}  # fmt: skip


def test_an_exec_credential_is_reused_until_it_expires_then_fetched_again(server: str, tmp_path: Path) -> None:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    user = _counting_plugin(tmp_path, f"print({_credential('fresh', later)!r}.replace('fresh', f'fresh{{N}}'))")
    client = _insecure(tmp_path, server, user)
    client.get(MCPSERVER, "default", "there")
    client.get(MCPSERVER, "default", "there")
    assert (tmp_path / "runs").read_text() == "1" and _Handler.seen[-1]["auth"] == "Bearer fresh1"
    client.auth.clock = lambda: time.time() + 7200  # past expirationTimestamp
    client.get(MCPSERVER, "default", "there")
    assert (tmp_path / "runs").read_text() == "2" and _Handler.seen[-1]["auth"] == "Bearer fresh2"


def test_a_401_runs_the_exec_plugin_again_and_retries_once(server: str, tmp_path: Path) -> None:
    user = _counting_plugin(tmp_path, f"print({_credential('stale')!r} if N == 1 else {_credential('fresh')!r})")
    assert _insecure(tmp_path, server, user).request("GET", "/secure") == {"ok": True}
    assert (tmp_path / "runs").read_text() == "2"
    assert [s["auth"] for s in _Handler.seen[-2:]] == ["Bearer stale", "Bearer fresh"]


def _rotated(tmp_path: Path, server: str, first: str, then: str) -> Client:
    """A client that sent `first` from its tokenFile, which now holds `then`."""
    token = tmp_path / "token"
    token.write_text(first + "\n")
    client = _insecure(tmp_path, server, {"tokenFile": str(token)})
    client.get(MCPSERVER, "default", "there")
    token.write_text(then + "\n")
    return client


def test_a_rotated_token_file_is_read_again_after_a_minute(server: str, tmp_path: Path) -> None:
    client = _rotated(tmp_path, server, "one", "two")
    client.get(MCPSERVER, "default", "there")
    assert _Handler.seen[-1]["auth"] == "Bearer one"  # cached within the minute, as client-go does
    client.auth.clock = lambda: time.time() + 61
    client.get(MCPSERVER, "default", "there")
    assert _Handler.seen[-1]["auth"] == "Bearer two"


def test_a_401_reads_a_rotated_token_file_again_at_once(server: str, tmp_path: Path) -> None:
    client = _rotated(tmp_path, server, "old", "new")
    assert client.request("GET", "/secure") == {"ok": True}
    assert [s["auth"] for s in _Handler.seen[-2:]] == ["Bearer old", "Bearer new"]


def test_a_401_that_persists_is_one_line_without_the_token(server: str, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token")
    with pytest.raises(ClusterError) as err:
        _insecure(tmp_path, server, {"tokenFile": str(token)}).request("GET", "/secure")
    assert err.value.status == 401
    assert err.value.message == "Unauthorized: the cluster rejected the credentials (context test)"
    assert [s["auth"] for s in _Handler.seen[-2:]] == ["Bearer s3cret-token"] * 2  # retried once, no more


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_a_response_body_over_the_limit_is_refused(server: str, tmp_path: Path, path: str) -> None:
    kc = _kubeconfig(tmp_path / "kc", server, {"token": "t"}, cluster={"insecure-skip-tls-verify": True})
    client = Client(load_credentials(str(kc)), max_body=4096)
    with pytest.raises(ClusterError, match=f"^the answer to GET {path} is larger than 4096 bytes$"):
        client.request("GET", path)
    assert client.get(MCPSERVER, "default", "there") is not None  # the client stays usable


def test_a_stream_line_over_the_limit_is_refused(server: str, tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path / "kc", server, {"token": "t"}, cluster={"insecure-skip-tls-verify": True})
    client = Client(load_credentials(str(kc)), max_line=10)
    with pytest.raises(ClusterError, match=r"^a line of GET /stream is longer than 10 bytes$"):
        list(client.stream("/stream"))


def test_an_exec_plugin_that_prints_too_much_is_stopped(tmp_path: Path) -> None:
    spec = {"command": sys.executable, "args": ["-c", "import sys; sys.stdout.write('x' * 100000)"]}
    with pytest.raises(ClusterError, match=r"printed more than 1000 bytes$"):
        run_exec_plugin(spec, "https://x", limit=1000)


def test_an_exec_plugin_that_hangs_is_stopped(tmp_path: Path) -> None:
    spec = {"command": sys.executable, "args": ["-c", "import time; time.sleep(30)"]}
    started = time.monotonic()
    with pytest.raises(ClusterError, match=r"did not finish within 0.5s$"):
        run_exec_plugin(spec, "https://x", timeout=0.5)
    assert time.monotonic() - started < 10


def test_an_exec_plugin_that_fails_is_one_line_naming_it(tmp_path: Path) -> None:
    spec = {"command": sys.executable, "args": ["-c", "import sys; print('log in first', file=sys.stderr); exit(3)"]}
    with pytest.raises(ClusterError, match=r"^exec credential plugin '.*python.*' exited 3: log in first$"):
        run_exec_plugin(spec, "https://x")
    spec = {"command": sys.executable, "args": ["-c", "print('{}')"]}
    with pytest.raises(ClusterError, match="did not print an ExecCredential with a token or a client certificate"):
        run_exec_plugin(spec, "https://x")


def test_a_write_refused_because_the_webhook_has_no_endpoint_yet_is_tried_again(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Right after `helm install --wait` the apiserver may not reach the operator's webhook yet (kube-proxy has no
    ready endpoint for its Service): the write, refused at admission so never made, is sent again."""
    client = _insecure(tmp_path, server, {"token": "t"})
    assert client.request("PATCH", "/webhook-starting/2", body={})["metadata"]["name"] == "applied"
    assert _Handler.refused["/webhook-starting/2"] == 2
    assert "waiting for the cluster's admission webhook" in capsys.readouterr().err


def test_a_webhook_that_stays_unreachable_fails_after_the_wait_with_the_apiservers_message(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mcpop.cli.kube as kube

    monkeypatch.setattr(kube, "WEBHOOK_STARTING_WAIT", 1.0)
    with pytest.raises(ClusterError) as exc:
        _insecure(tmp_path, server, {"token": "t"}).request("PATCH", "/webhook-starting/1000", body={})
    assert "connect: connection refused" in exc.value.message and 1 <= _Handler.refused["/webhook-starting/1000"] <= 3


def test_a_webhook_that_denies_the_request_is_not_asked_again(server: str, tmp_path: Path) -> None:
    with pytest.raises(ClusterError) as exc:
        _insecure(tmp_path, server, {"token": "t"}).request("PATCH", "/webhook-denied", body={})
    assert "denied the request" in exc.value.message and exc.value.status == 400
