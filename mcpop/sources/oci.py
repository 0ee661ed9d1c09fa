"""Image configs from OCI registries (the distribution API), for the renderer's `image_configs` input.

`resolve(ref)`: GET the manifest (an index or manifest list picks the linux/amd64 entry, then that
manifest), then the config blob it names (its sha256 checked), parsed into an `ImageConfig`. Anonymous,
or with credentials from the pod's imagePullSecrets (`.dockerconfigjson`); a 401 with
`WWW-Authenticate: Bearer realm=...,service=...,scope=...` is answered with the registry's token flow
(credentials as Basic auth to the realm), `Basic` with the credentials themselves.

Caches: configs by (manifest digest, credentials), tags by (repository, tag, credentials) -> digest for
`tag_ttl` seconds, bearer tokens until they expire; "credentials" is a hash of the credentials' identity, so
one namespace's imagePullSecret never serves another namespace's lookup. Thread-safe. Credentials are never
logged nor put in an error message.

Every fetch is bounded (mcpop.sources.http): one deadline for the whole fetch, and every body (manifest,
config blob, token response) read in chunks and refused past `MAX_MANIFEST_BYTES`, whatever its descriptor
or Content-Length claims. The token flow's realm must be HTTPS (http only for a registry spoken to over
plain HTTP), and credentials go only to a realm on the registry's own host or on a host in
`trusted_realms` (`--trusted-token-realms`); another realm is asked anonymously.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from mcpop.api.imageconfig import ImageConfig, parse_image_config
from mcpop.codec.reader import CONFIGMAP_DATA, REGISTRY_DATA, YAMLInputError, load_json
from mcpop.sources.breaker import CircuitBreaker
from mcpop.sources.errors import DeadlineExceeded, NetworkError, ResponseTooLarge, SourceError, size
from mcpop.sources.http import DEFAULT_TIMEOUT, HttpClient, HttpResponse, UrllibClient, origin

INDEX_TYPES = frozenset({
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})  # fmt: skip
MANIFEST_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
})  # fmt: skip
ACCEPT = ", ".join(sorted(INDEX_TYPES | MANIFEST_TYPES))
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
#: keys Docker Hub credentials appear under in a .dockerconfigjson
DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
MAX_CONFIG_BYTES = 4 << 20
#: the distribution spec's manifest size registries must accept; no body read here may be larger
MAX_MANIFEST_BYTES = 4 << 20

Reason = Literal["NotFound", "Unauthorized", "Unreachable", "Malformed", "NoPlatform", "BadReference"]


class ImageConfigError(SourceError):
    """The image's config could not be read; `reason` is a condition reason, `retry` whether to retry."""

    def __init__(self, image: str, reason: Reason, detail: str) -> None:
        super().__init__(f"image {image}: {detail}")
        self.image = image
        self.reason = reason
        self.detail = detail

    @property
    def retry(self) -> bool:
        return self.reason in ("Unreachable", "Unauthorized", "NotFound")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: registry host (as written), repository, and a tag or a digest."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"


_REPO = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def parse_ref(ref: str) -> ImageRef:
    """Split an image reference (`[host[:port]/]repo[:tag][@sha256:...]`); ValueError when malformed."""
    name, _, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _REPO.match(path):
        raise ValueError(f"{ref!r}: {path!r} is not a valid repository name")
    if tag is not None and not _TAG.match(tag):
        raise ValueError(f"{ref!r}: {tag!r} is not a valid tag")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{ref!r}: {digest!r} is not a sha256 digest")
    return ImageRef(registry, path, tag, digest or None)


@dataclass(frozen=True)
class Credential:
    """Registry credentials from a dockerconfigjson entry."""

    username: str
    password: str

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def __repr__(self) -> str:  # never show the password
        return f"Credential(username={self.username!r}, password=***)"


def _host_key(key: str) -> str:
    host = re.sub(r"^https?://", "", key).split("/", 1)[0]
    return DOCKER_HUB if host in DOCKER_HUB_KEYS or key in DOCKER_HUB_KEYS else host


def parse_docker_config(data: bytes | str) -> dict[str, Credential]:
    """Credentials by registry host from a `.dockerconfigjson` (or legacy `.dockercfg`); ValueError if malformed."""
    try:
        doc = load_json(data, CONFIGMAP_DATA)  # a Secret, like a ConfigMap, holds at most 1 MiB
    except YAMLInputError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    auths = doc.get("auths", doc)  # .dockercfg is the auths map itself
    if not isinstance(auths, dict):
        raise ValueError("`auths` is not an object")
    out: dict[str, Credential] = {}
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            continue
        user, password = entry.get("username"), entry.get("password")
        if not (isinstance(user, str) and isinstance(password, str)) and isinstance(entry.get("auth"), str):
            try:
                user, sep, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                sep = ""
            if not sep:
                raise ValueError(f"the `auth` of {_host_key(key)} is not base64 of user:password")
        if isinstance(user, str) and isinstance(password, str):
            out.setdefault(_host_key(key), Credential(user, password))
    return out


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ("bearer", {realm, service, ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'([A-Za-z_]+)="([^"]*)"', rest)}
    return scheme.lower(), params


def _is_local(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in ("localhost", "127.0.0.1", "[::1]") or name.startswith("127.")


class ImageConfigResolver:
    """Reads image configs from registries, with the caches described in the module docstring.

    `plain_http` is the set of registry hosts spoken to over http (loopback hosts always are);
    `trusted_realms` the token-service hosts (HOST or HOST:PORT) credentials may go to besides the registry's.
    """

    def __init__(
        self,
        client: HttpClient | None = None,
        *,
        tag_ttl: float = 300.0,
        plain_http: frozenset[str] = frozenset(),
        platform: tuple[str, str] = ("linux", "amd64"),
        clock: Callable[[], float] = time.monotonic,
        timeout: float = DEFAULT_TIMEOUT,
        trusted_realms: frozenset[str] = frozenset(),
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.client: HttpClient = client or UrllibClient(
            timeout=timeout, user_agent="mcpop-image-config/0.1", max_bytes=MAX_MANIFEST_BYTES, breaker=breaker
        )
        self.trusted_realms = frozenset(h.lower() for h in trusted_realms)
        self.tag_ttl = tag_ttl
        self.plain_http = plain_http
        self.platform = platform
        self.clock = clock
        self._lock = threading.Lock()
        self._configs: dict[str, ImageConfig] = {}
        self._tags: dict[tuple[str, str, str, str], tuple[str, float]] = {}
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        #: requests made (manifests, blobs, tokens): what the cache saves, for tests and metrics
        self.requests = 0

    # ------------------------------------------------------------------ public

    def resolve(self, image: str, credentials: Mapping[str, Credential] | None = None) -> ImageConfig:
        """The config of `image`; ImageConfigError (with a reason) when it cannot be read."""
        try:
            ref = parse_ref(image)
        except ValueError as exc:
            raise ImageConfigError(image, "BadReference", str(exc)) from None
        cred = (credentials or {}).get(ref.registry)
        who = hashlib.sha256(cred.basic().encode()).hexdigest()[:16] if cred else ""
        tag_key = (ref.api_host, ref.repository, ref.reference, who)
        digest = ref.digest
        if digest is None:
            with self._lock:
                hit = self._tags.get(tag_key)
            if hit is not None and hit[1] > self.clock():
                digest = hit[0]
        if digest is not None:
            with self._lock:
                cached = self._configs.get(self._config_key(ref, digest, who))
            if cached is not None:
                return cached
        body, media_type, top_digest = self._manifest(image, ref, ref.reference, cred)
        with self._lock:
            if ref.digest is None:
                self._tags[tag_key] = (top_digest, self.clock() + self.tag_ttl)
            cached = self._configs.get(self._config_key(ref, top_digest, who))
        if cached is not None:
            return cached  # the tag still names a digest read before
        if media_type in INDEX_TYPES:
            child = self._pick_platform(image, body)
            body, media_type, _ = self._manifest(image, ref, child, cred)
        config = self._config(image, ref, body, cred)
        with self._lock:
            self._configs[self._config_key(ref, top_digest, who)] = config
        return config

    # ------------------------------------------------------------------ steps

    def _config_key(self, ref: ImageRef, digest: str, who: str) -> str:
        """A config read with credentials `who` (a hash; "" anonymous) serves only lookups with the same."""
        return f"{ref.api_host}/{ref.repository}@{digest}/{'/'.join(self.platform)}#{who}"

    def _insecure(self, ref: ImageRef) -> bool:
        return ref.api_host in self.plain_http or _is_local(ref.api_host)

    def _url(self, ref: ImageRef, path: str) -> str:
        scheme = "http" if self._insecure(ref) else "https"
        return f"{scheme}://{ref.api_host}/v2/{ref.repository}/{path}"

    def realm_trusted(self, ref: ImageRef, realm: str) -> bool:
        """Whether credentials may go to the token service at `realm`: the registry's own host, or a host in
        `trusted_realms` (as HOST, or HOST:PORT with its port)."""
        _scheme, host, port = origin(realm)
        registry_host = origin(f"https://{ref.api_host}")[1]
        if not host:
            return False
        return host == registry_host or host in self.trusted_realms or f"{host}:{port}" in self.trusted_realms

    def _manifest(
        self, image: str, ref: ImageRef, reference: str, cred: Credential | None
    ) -> tuple[dict[str, Any], str, str]:
        resp = self._get(image, ref, self._url(ref, f"manifests/{reference}"), cred, {"Accept": ACCEPT})
        self._check(image, resp, "manifest")
        digest = "sha256:" + hashlib.sha256(resp.body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise ImageConfigError(image, "Malformed", f"the manifest's content does not match {reference}")
        try:
            body = resp.json()
        except (ValueError, UnicodeDecodeError):
            raise ImageConfigError(image, "Malformed", "the registry's manifest is not JSON") from None
        if not isinstance(body, dict):
            raise ImageConfigError(image, "Malformed", "the registry's manifest is not a JSON object")
        media_type = body.get("mediaType") or (resp.header("content-type") or "").split(";")[0].strip()
        if media_type not in INDEX_TYPES and media_type not in MANIFEST_TYPES:
            media_type = "application/vnd.oci.image.index.v1+json" if "manifests" in body else media_type
            if "manifests" not in body and "config" not in body:
                raise ImageConfigError(image, "Malformed", f"unsupported manifest type {media_type or 'unknown'!r}")
        return body, media_type, digest

    def _pick_platform(self, image: str, index: dict[str, Any]) -> str:
        want_os, want_arch = self.platform
        found = []
        for m in index.get("manifests") or []:
            p = m.get("platform") or {}
            found.append(f"{p.get('os')}/{p.get('architecture')}")
            if p.get("os") == want_os and p.get("architecture") == want_arch and isinstance(m.get("digest"), str):
                return str(m["digest"])
        have = ", ".join(sorted(set(found))) or "none"
        raise ImageConfigError(
            image, "NoPlatform", f"the image index has no {want_os}/{want_arch} manifest (has {have})"
        )

    def _config(self, image: str, ref: ImageRef, manifest: dict[str, Any], cred: Credential | None) -> ImageConfig:
        desc = manifest.get("config")
        digest = desc.get("digest") if isinstance(desc, dict) else None
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise ImageConfigError(image, "Malformed", "the manifest names no sha256 config blob")
        if isinstance(desc, dict) and int(desc.get("size") or 0) > MAX_CONFIG_BYTES:
            raise ImageConfigError(image, "Malformed", f"the config blob is larger than {MAX_CONFIG_BYTES} bytes")
        resp = self._get(image, ref, self._url(ref, f"blobs/{digest}"), cred, {})
        self._check(image, resp, "config blob")
        if "sha256:" + hashlib.sha256(resp.body).hexdigest() != digest:
            raise ImageConfigError(image, "Malformed", f"the config blob's content does not match {digest}")
        try:
            return parse_image_config(load_json(resp.body, REGISTRY_DATA), digest=digest)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImageConfigError(image, "Malformed", f"the config blob is not an image config: {exc}") from None

    def _check(self, image: str, resp: HttpResponse, what: str) -> None:
        if 200 <= resp.status < 300:
            return
        if resp.status == 404:
            raise ImageConfigError(image, "NotFound", f"{what} not found in the registry (HTTP 404)")
        if resp.status in (401, 403):
            raise ImageConfigError(image, "Unauthorized", f"the registry refused access to the {what} "
                                   f"(HTTP {resp.status}): check the pod's imagePullSecrets")  # fmt: skip
        if resp.status >= 500 or resp.status == 429:
            raise ImageConfigError(image, "Unreachable", f"the registry answered HTTP {resp.status} for the {what}")
        raise ImageConfigError(image, "Malformed", f"the registry answered HTTP {resp.status} for the {what}")

    def _get(
        self, image: str, ref: ImageRef, url: str, cred: Credential | None, headers: dict[str, str]
    ) -> HttpResponse:
        key = (ref.api_host, ref.repository, hashlib.sha256(cred.basic().encode()).hexdigest() if cred else "")
        with self._lock:
            token = self._tokens.get(key)
        auth = token[0] if token and token[1] > self.clock() else None
        resp = self._send(image, url, {**headers, **({"Authorization": auth} if auth else {})})
        if resp.status != 401:
            return resp
        scheme, params = parse_challenge(resp.header("www-authenticate") or "")
        if scheme == "bearer" and params.get("realm"):
            auth, ttl = self._token(image, ref, params, cred)
        elif scheme == "basic" and cred is not None:
            auth, ttl = cred.basic(), 3600.0
        else:
            return resp
        with self._lock:
            self._tokens[key] = (auth, self.clock() + ttl)
        return self._send(image, url, {**headers, "Authorization": auth})

    def _token(self, image: str, ref: ImageRef, params: dict[str, str], cred: Credential | None) -> tuple[str, float]:
        """A pull token from the registry's token service, and how long to reuse it (seconds)."""
        realm = params["realm"]
        realm_scheme = origin(realm)[0]
        if realm_scheme != "https" and not (realm_scheme == "http" and self._insecure(ref)):
            raise ImageConfigError(image, "Unauthorized", "the registry's token realm is not an https URL: refused "
                                   "(an http realm only for a registry in --insecure-registries)")  # fmt: skip
        withheld = cred is not None and not self.realm_trusted(ref, realm)
        send = cred if not withheld else None
        query = {"scope": params.get("scope") or f"repository:{ref.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        sep = "&" if "?" in realm else "?"
        resp = self._send(image, realm + sep + urlencode(query),
                          {"Authorization": send.basic()} if send else {})  # fmt: skip
        if resp.status in (401, 403):
            if withheld:
                raise ImageConfigError(image, "Unauthorized", f"the registry's token service refused a pull token "
                                       f"anonymously (HTTP {resp.status}); the imagePullSecrets credentials were "
                                       f"not sent: its host {origin(realm)[1]!r} is not the registry's and not in "
                                       "--trusted-token-realms")  # fmt: skip
            who = "with the imagePullSecrets credentials" if send else "anonymously"
            raise ImageConfigError(image, "Unauthorized", f"the registry's token service refused a pull token {who} "
                                   f"(HTTP {resp.status}): check the pod's imagePullSecrets")  # fmt: skip
        if not 200 <= resp.status < 300:
            raise ImageConfigError(image, "Unreachable", f"the registry's token service answered HTTP {resp.status}")
        try:
            body = resp.json()
            token = body.get("token") or body.get("access_token")
            expires = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            raise ImageConfigError(image, "Malformed", "the registry's token service answered no token") from None
        if not isinstance(token, str) or not token:
            raise ImageConfigError(image, "Malformed", "the registry's token service answered no token")
        return f"Bearer {token}", max(1.0, expires - 10.0)

    def _send(self, image: str, url: str, headers: dict[str, str]) -> HttpResponse:
        with self._lock:
            self.requests += 1
        try:
            return self.client.get(url, headers)
        except DeadlineExceeded as exc:
            raise ImageConfigError(image, "Unreachable", f"the registry sent no complete response within "
                                   f"{exc.seconds:g}s (--fetch-timeout)") from None  # fmt: skip
        except NetworkError as exc:
            raise ImageConfigError(image, "Unreachable", f"cannot reach the registry: {exc.kind} error") from None
        except ResponseTooLarge as exc:
            raise ImageConfigError(image, "Malformed", f"the registry's response is larger than the "
                                   f"{size(exc.cap)} cap; stopped reading") from None  # fmt: skip
        except SourceError as exc:
            raise ImageConfigError(image, "Unreachable", str(exc)) from None


__all__ = ["Credential", "ImageConfigError", "ImageConfigResolver", "ImageRef", "parse_docker_config", "parse_ref"]
