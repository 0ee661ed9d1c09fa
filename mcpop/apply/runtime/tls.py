"""TLS for servers the operator runs (the webhooks): Go cipher-suite names (as `--webhook-cipher-suites`
takes them, like controller-runtime's) mapped to OpenSSL's, and a server context that reloads its
certificate files."""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from pathlib import Path

from mcpop.errors import McpopError

log = logging.getLogger("mcpop.webhook")

#: IANA/Go names of the TLS 1.2 suites Go offers by default → OpenSSL names. TLS 1.3 suites are always on
#: (neither Go nor OpenSSL's Python binding lets them be chosen), so naming one is accepted and a no-op.
CIPHER_SUITES: dict[str, str | None] = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}
CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"


class TLSConfigError(McpopError):
    """The webhook's TLS settings or certificate files are unusable."""


def check_cipher_suites(names: tuple[str, ...]) -> None:
    """Raise ValueError naming the first suite this server cannot offer."""
    for name in names:
        if name not in CIPHER_SUITES:
            allowed = ", ".join(sorted(CIPHER_SUITES))
            raise ValueError(f"unsupported cipher suite {name!r}; supported: {allowed}")


def server_context(cert: Path, key: Path, min_version: str, suites: tuple[str, ...]) -> ssl.SSLContext:
    """A server SSLContext for the certificate files, TLS >= `min_version` ("1.2" or "1.3")."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    openssl = [n for n in (CIPHER_SUITES.get(s) for s in suites) if n]
    if openssl:
        ctx.set_ciphers(":".join(openssl))
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"cannot load the webhook certificate {cert} / {key}: {exc}") from exc
    return ctx


class ReloadingContext:
    """The current SSLContext for a certificate directory; rebuilt when tls.crt or tls.key change on disk.

    Checked at most every `interval` seconds, from the accepting thread. A half-written pair (a rotation in
    progress) fails to load and the previous context stays in use until the next check.
    """

    def __init__(self, cert_dir: Path, min_version: str, suites: tuple[str, ...], interval: float = 1.0) -> None:
        self.cert, self.key = cert_dir / CERT_FILE, cert_dir / KEY_FILE
        self.min_version, self.suites, self.interval = min_version, suites, interval
        self._lock = threading.Lock()
        self._stamp: tuple[float, int, float, int] | None = None
        self._checked = 0.0
        self._ctx: ssl.SSLContext | None = None
        self.reloads = 0

    def _files_stamp(self) -> tuple[float, int, float, int]:
        c, k = os.stat(self.cert), os.stat(self.key)
        return c.st_mtime, c.st_size, k.st_mtime, k.st_size

    def current(self) -> ssl.SSLContext:
        """The context to wrap the next connection with (raises TLSConfigError when there is none yet)."""
        now = time.monotonic()
        with self._lock:
            if self._ctx is not None and now - self._checked < self.interval:
                return self._ctx
            self._checked = now
            try:
                stamp = self._files_stamp()
            except OSError as exc:
                if self._ctx is None:
                    raise TLSConfigError(f"no webhook certificate in {self.cert.parent}: {exc}") from exc
                return self._ctx
            if stamp != self._stamp:
                try:
                    self._ctx = server_context(self.cert, self.key, self.min_version, self.suites)
                    self._stamp = stamp
                    self.reloads += 1
                    log.info("webhook certificate loaded", extra={"file": str(self.cert)})
                except TLSConfigError:
                    if self._ctx is None:
                        raise
                    log.warning("webhook certificate unreadable; keeping the previous one")
            assert self._ctx is not None
            return self._ctx
