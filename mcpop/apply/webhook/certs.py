"""Self-managed webhook certificates: a CA and a serving certificate kept in a Secret, rotated before expiry.

Without cert-manager the operator manages them itself. The leader keeps the Secret current (creating the CA
and serving certificate, re-issuing the serving certificate when two thirds of its life has passed, and the
CA likewise) and injects the CA bundle into the webhook configurations; every replica copies the Secret's
certificate into its `--webhook-cert-dir`, where the server picks it up without a restart. During a CA
rotation the bundle holds the old and the new CA, so no request fails while replicas catch up.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcpop.apply.resources import SECRET, Resource
from mcpop.apply.runtime.client import Kube, KubeError
from mcpop.apply.runtime.tls import CERT_FILE, KEY_FILE

# cryptography comes with the `storage` extra: it is imported only where a certificate is made or read, so an
# operator whose certificates come from elsewhere (cert-manager) runs without it.

log = logging.getLogger("mcpop.webhook")
CA_FILE = "ca.crt"
CA_KEY = "ca.key"
VALIDATING = Resource("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
                      "validatingwebhookconfigurations", False)  # fmt: skip
MUTATING = Resource("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
                    "mutatingwebhookconfigurations", False)  # fmt: skip
CA_DAYS = 3650
SERVING_DAYS = 365


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))  # fmt: skip


def new_ca(now: dt.datetime | None = None, days: int = CA_DAYS) -> tuple[bytes, bytes]:
    """A self-signed CA: (certificate PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    now = now or _now()
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcpop webhook CA")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def serving_cert(ca_cert: bytes, ca_key: bytes, hosts: list[str], now: dt.datetime | None = None,
                 days: int = SERVING_DAYS) -> tuple[bytes, bytes]:  # fmt: skip
    """A serving certificate for `hosts` (DNS names or IP addresses) signed by the CA: (cert PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or _now()
    ca = x509.load_pem_x509_certificate(ca_cert)
    signer = serialization.load_pem_private_key(ca_key, None)
    key = _key()
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def due(cert_pem: bytes, now: dt.datetime | None = None, fraction: float = 2 / 3) -> bool:
    """Whether `fraction` of the certificate's validity has passed (time to rotate it)."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return (now or _now()) >= start + (end - start) * fraction


def _pems(bundle: bytes) -> list[bytes]:
    marker = b"-----END CERTIFICATE-----"
    return [part.strip() + b"\n" + marker + b"\n" for part in bundle.split(marker) if part.strip()]


def desired_secret_data(data: dict[str, bytes], hosts: list[str], now: dt.datetime | None = None) -> dict[str, bytes]:
    """The Secret's data after one rotation step: a CA and serving pair exist and neither is due.

    A rotated CA is published beside the old one (`ca.crt` holds both) until the old one expires, so clients
    that still trust only the old CA keep working."""
    now = now or _now()
    out = dict(data)
    ca_pems = _pems(out.get(CA_FILE, b""))
    if not out.get(CA_KEY) or not ca_pems or due(ca_pems[-1], now):
        cert, key = new_ca(now)
        keep = [p for p in ca_pems if not due(p, now, 1.0)][-1:]
        out[CA_FILE], out[CA_KEY] = b"".join([*keep, cert]), key
        out.pop(CERT_FILE, None)
    current_ca = _pems(out[CA_FILE])[-1]
    if (
        not out.get(CERT_FILE)
        or not out.get(KEY_FILE)
        or due(out[CERT_FILE], now)
        or not _signed_by(out[CERT_FILE], current_ca)
    ):
        out[CERT_FILE], out[KEY_FILE] = serving_cert(current_ca, out[CA_KEY], hosts, now)
    return out


def _signed_by(cert_pem: bytes, ca_pem: bytes) -> bool:
    from cryptography import x509

    return bool(x509.load_pem_x509_certificate(cert_pem).issuer == x509.load_pem_x509_certificate(ca_pem).subject
                and _verify(cert_pem, ca_pem))  # fmt: skip


def _verify(cert_pem: bytes, ca_pem: bytes) -> bool:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    try:
        x509.load_pem_x509_certificate(cert_pem).verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def write_files(cert_dir: Path, data: dict[str, bytes]) -> bool:
    """Write tls.crt/tls.key (and ca.crt) into `cert_dir` atomically; True when they changed."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    changed = False
    for name in (KEY_FILE, CERT_FILE, CA_FILE):
        if name not in data:
            continue
        path = cert_dir / name
        if path.exists() and path.read_bytes() == data[name]:
            continue
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data[name])
        os.replace(tmp, path)
        changed = True
    return changed


def _decode(secret: dict[str, Any] | None) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in ((secret or {}).get("data") or {}).items()}


class CertManager:
    """Keeps the webhook certificate Secret current (leader) and this replica's cert dir in step (all)."""

    def __init__(self, kube: Kube, namespace: str, secret: str, hosts: list[str], cert_dir: Path,
                 configurations: list[str], interval: float = 60.0,
                 clock: Callable[[], dt.datetime] = _now) -> None:  # fmt: skip
        self.kube, self.namespace, self.secret, self.hosts = kube, namespace, secret, hosts
        self.cert_dir, self.configurations, self.interval, self.clock = cert_dir, configurations, interval, clock

    def rotate_once(self) -> dict[str, bytes]:
        """One leader step: create or rotate the Secret, inject the CA bundle. Returns the Secret's data."""
        live = self.kube.get(SECRET, self.namespace, self.secret)
        data = _decode(live)
        want = desired_secret_data(data, self.hosts, self.clock())
        owner = self._owner()
        if want != data or (owner is not None and not (live or {}).get("metadata", {}).get("ownerReferences")):
            meta: dict[str, Any] = {"name": self.secret, "namespace": self.namespace,
                                    "labels": {"app.kubernetes.io/managed-by": "mcpop"}}  # fmt: skip
            if owner is not None:
                meta["ownerReferences"] = [owner]
            body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": meta,
                    "data": {k: base64.b64encode(v).decode() for k, v in sorted(want.items())}}  # fmt: skip
            self.kube.apply(SECRET, body, force=True)
            log.info("webhook certificate issued", extra={"secret": f"{self.namespace}/{self.secret}"})
        self.inject(want[CA_FILE])
        return want

    def _owner(self) -> dict[str, Any] | None:
        """The ValidatingWebhookConfiguration as the Secret's owner, so removing the configurations (as
        `helm uninstall` does) garbage-collects the certificate too."""
        for name in self.configurations:
            cfg = self.kube.get(VALIDATING, None, name)
            if cfg is not None:
                return {"apiVersion": VALIDATING.api_version, "kind": VALIDATING.kind, "name": name,
                        "uid": cfg["metadata"]["uid"]}  # fmt: skip
        return None

    def inject(self, bundle: bytes) -> None:
        """Set `caBundle` on every webhook of the configurations (those that exist)."""
        encoded = base64.b64encode(bundle).decode()
        for res in (VALIDATING, MUTATING):
            for name in self.configurations:
                cfg = self.kube.get(res, None, name)
                if cfg is None:
                    continue
                hooks = cfg.get("webhooks") or []
                if all((h.get("clientConfig") or {}).get("caBundle") == encoded for h in hooks):
                    continue
                for h in hooks:
                    h.setdefault("clientConfig", {})["caBundle"] = encoded
                self.kube.merge_patch(res, None, name, {"webhooks": hooks})

    def sync_files(self) -> bool:
        """Copy the Secret's serving pair into the cert dir (every replica)."""
        data = _decode(self.kube.get(SECRET, self.namespace, self.secret))
        return bool(data.get(CERT_FILE)) and write_files(self.cert_dir, data)

    def run_leader(self, stop: threading.Event) -> None:
        """Leader runnable: rotate every `interval` seconds until stopped."""
        while not stop.is_set():
            try:
                self.rotate_once()
            except KubeError as exc:
                log.warning("webhook certificate rotation failed: %s", exc.message)
            stop.wait(self.interval)

    def run_replica(self, stop: threading.Event) -> None:
        """Every-replica runnable: follow the Secret into the cert dir."""
        while not stop.is_set():
            try:
                self.sync_files()
            except KubeError as exc:
                log.warning("reading the webhook certificate failed: %s", exc.message)
            stop.wait(min(self.interval, 10.0))
