"""Inputs to the renderer other than the MCPServer itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcpop.api.imageconfig import ImageConfig
    from mcpop.render.podsecurity import Level


@dataclass(frozen=True)
class Owner:
    """The MCPServer that owns the rendered objects (added as a controller owner reference)."""

    name: str
    uid: str
    api_version: str = "mcp.allbeone.io/v1"
    kind: str = "MCPServer"


@dataclass(frozen=True)
class ClusterIssuer:
    """The cluster's ServiceAccount token issuer, as the operator read it from the apiserver's OIDC discovery."""

    url: str
    #: its JWKS document (JSON text, public keys only, as mcpop.apply.mcpserver.identity normalises it)
    jwks: str


@dataclass(frozen=True)
class RenderOptions:
    """Feature switches (from the operator's environment) and values the renderer cannot know itself."""

    namespace: str = "default"
    owner: Owner | None = None
    enable_hpa: bool = True
    enable_vpa: bool = True
    enable_istio: bool = True
    enable_multi_tenancy: bool = True
    #: hash of the content of ConfigMaps/Secrets the server references, so a change rolls the pods
    referenced_content_hash: str | None = None
    extra_annotations: dict[str, str] = field(default_factory=dict)
    #: resolved image configs by image reference: the entrypoint of an OCI stdio server without a command
    image_configs: Mapping[str, ImageConfig] = field(default_factory=dict)
    #: the runtime images stdio servers without an image run in, by runtime ("node", "python"); unset: the
    #: pinned defaults (mcpop.render.normalize.STDIO_IMAGES)
    stdio_images: Mapping[str, str] = field(default_factory=dict)
    #: the image the bridge's init container copies mcpop-bridge from; unset: the pinned default
    #: (mcpop.render.normalize.BRIDGE_IMAGE)
    bridge_image: str | None = None
    #: the operator's own namespace: a server's default network policy admits its MCP handshake from there
    operator_namespace: str | None = None
    #: the Pod Security level a cluster admin allows in the namespace: a pod above it is refused
    pod_security: Level = "restricted"
    #: the cluster's ServiceAccount issuer and keys (spec.auth.serviceAccounts, the operator's own handshake);
    #: unset (an offline render): the default issuer and no keys, with a warning
    cluster_issuer: ClusterIssuer | None = None
    #: the operator's ServiceAccount as a token subject (system:serviceaccount:NS:NAME): a server with
    #: spec.auth accepts its tokens, so its MCP handshake (Verified) authenticates
    operator_subject: str | None = None
