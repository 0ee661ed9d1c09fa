"""Image configs for the renderer: an OCI stdio server that names no command runs its image's entrypoint.

The config is read from the image's registry (mcpop.sources.oci), with the credentials of the server's
`imagePullSecrets` (kubernetes.io/dockerconfigjson or dockercfg Secrets in its namespace).
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, get_args

from prometheus_client import Counter

from mcpop.apply.resources import SECRET
from mcpop.apply.runtime.client import Kube, KubeError
from mcpop.sources.breaker import CircuitBreaker
from mcpop.sources.http import DEFAULT_TIMEOUT
from mcpop.sources.oci import Credential, ImageConfigError, ImageConfigResolver, Reason, parse_docker_config

if TYPE_CHECKING:
    from mcpop.api.imageconfig import ImageConfig
    from mcpop.api.mcpserver import MCPServerSpec

log = logging.getLogger("mcpop.controller")

IMAGE_CONFIG_FAILURES = Counter(
    "mcpop_mcpserver_image_config_failures_total",
    "Reads of an OCI stdio image's config (for its entrypoint) that failed, by reason",
    ["reason"],
)
for _reason in get_args(Reason):  # every reason exported from the start (0): rate() sees the first failure
    IMAGE_CONFIG_FAILURES.labels(_reason)
#: seconds before an image config that could not be read is tried again
RETRY_AFTER = 30.0
RETRY_AFTER_PERMANENT = 300.0


class ImageConfigs:
    """Resolves image configs for MCPServers; one per controller (its caches are shared by all servers)."""

    def __init__(self, kube: Kube, resolver: ImageConfigResolver | None = None,
                 plain_http: frozenset[str] = frozenset(), *, timeout: float = DEFAULT_TIMEOUT,
                 trusted_realms: frozenset[str] = frozenset(),
                 breaker: CircuitBreaker | None = None) -> None:  # fmt: skip
        self.kube = kube
        self.breaker = breaker
        self._resolver = resolver
        self.plain_http = plain_http
        self.timeout = timeout
        self.trusted_realms = trusted_realms

    @property
    def resolver(self) -> ImageConfigResolver:
        if self._resolver is None:
            self._resolver = ImageConfigResolver(plain_http=self.plain_http, timeout=self.timeout,
                                                 trusted_realms=self.trusted_realms,
                                                 breaker=self.breaker)  # fmt: skip
        return self._resolver

    def credentials(self, namespace: str, spec: MCPServerSpec) -> dict[str, Credential]:
        """Registry credentials by host from the spec's imagePullSecrets (first Secret naming a host wins)."""
        out: dict[str, Credential] = {}
        for ref in spec.image_pull_secrets or []:
            try:
                secret = self.kube.get(SECRET, namespace, ref.name)
            except KubeError as exc:
                log.warning("cannot read imagePullSecret %s/%s: %s", namespace, ref.name, exc.message)
                continue
            data = (secret or {}).get("data") or {}
            raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
            if not raw:
                continue
            try:
                creds = parse_docker_config(base64.b64decode(raw))
            except ValueError as exc:
                log.warning("imagePullSecret %s/%s is not a docker config: %s", namespace, ref.name, exc)
                continue
            for host, cred in creds.items():
                out.setdefault(host, cred)
        return out

    def resolve(self, namespace: str, spec: MCPServerSpec, image: str) -> ImageConfig:
        """The config of `image`; `mcpop.sources.oci.ImageConfigError` when it cannot be read (counted in
        IMAGE_CONFIG_FAILURES by its reason)."""
        try:
            return self.resolver.resolve(image, self.credentials(namespace, spec))
        except ImageConfigError as exc:
            IMAGE_CONFIG_FAILURES.labels(exc.reason).inc()
            raise
