"""The official MCP registry's `server.json` format and its list API response, as pydantic models.

The current schema (2025-09-16 and later) is camelCase; the 2025-07-09 form was snake_case and is
accepted here and converted. The registry keeps adding fields, so unknown fields are kept, not rejected;
a missing required field (such as a package's `transport`) is still an error.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mcpop.api.validation import check_env_name, check_image, check_url_port

NAME_PATTERN = r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$"
#: Keys of older (snake_case or pre-release) forms that were renamed rather than just camelCased.
_RENAMED = {"registryName": "registryType", "transportType": "type"}


def _camel(key: str) -> str:
    if key.startswith(("_", "$")) or "_" not in key:
        return key
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)


class RegistryModel(BaseModel):
    """Base of the server.json models: camelCase on the wire, snake_case accepted, extra fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _camel_case_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            new = _camel(key) if isinstance(key, str) else key
            new = _RENAMED.get(new, new)
            if new not in out or new == key:
                out[new] = value
        return out

    def wire(self) -> dict[str, Any]:
        """The object as registry JSON: camelCase keys, unset fields omitted, extra fields kept."""
        out: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return out


class Input(RegistryModel):
    """A user-supplied value: shared fields of arguments, headers and environment variables."""

    description: str | None = None
    is_required: bool = False
    format: Literal["string", "number", "boolean", "filepath"] | None = None
    value: str | None = None
    is_secret: bool = False
    default: str | None = None
    placeholder: str | None = None
    choices: list[str] | None = None

    @field_validator("value", "default", mode="before")
    @classmethod
    def _scalar_to_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value


class InputWithVariables(Input):
    variables: dict[str, Input] | None = None


class KeyValueInput(InputWithVariables):
    """An environment variable or HTTP header."""

    name: str = Field(min_length=1)


class Argument(InputWithVariables):
    """A runtime or package argument: positional (`value`/`valueHint`) or named (`--flag value`)."""

    type: Literal["positional", "named"]
    name: str | None = None
    value_hint: str | None = None
    is_repeated: bool = False

    @model_validator(mode="after")
    def _named_has_name(self) -> Argument:
        if self.type == "named" and not self.name:
            raise ValueError("a named argument needs name (such as '--port')")
        return self


class Transport(RegistryModel):
    type: Literal["stdio", "streamable-http", "sse"]
    url: str | None = None
    headers: list[KeyValueInput] | None = None

    @field_validator("url")
    @classmethod
    def _url_port(cls, value: str | None) -> str | None:
        return value if value is None else check_url_port(value)

    @model_validator(mode="after")
    def _http_has_url(self) -> Transport:
        if self.type != "stdio" and not self.url:
            raise ValueError(f"transport {self.type} needs url")
        return self


#: Package types the schema documents; others are kept (the registry adds types) and skipped by consumers.
KNOWN_REGISTRY_TYPES = ("npm", "pypi", "nuget", "oci", "mcpb", "cargo", "go")


class Package(RegistryModel):
    registry_type: str = Field(min_length=1)
    registry_base_url: str | None = None
    identifier: str = Field(min_length=1)
    version: str | None = None
    file_sha256: str | None = Field(default=None, pattern=r"^[a-f0-9]{64}$")
    runtime_hint: str | None = None
    transport: Transport
    runtime_arguments: list[Argument] | None = None
    package_arguments: list[Argument] | None = None
    environment_variables: list[KeyValueInput] | None = None

    @model_validator(mode="after")
    def _runnable_names(self) -> Package:
        """What becomes a Kubernetes name must be one: the image of an oci package, env var names."""
        if self.registry_type == "oci":
            check_image(self.identifier)
        for i, var in enumerate(self.environment_variables or []):
            try:
                check_env_name(var.name)
            except ValueError as exc:
                raise ValueError(f"environmentVariables[{i}].name: {exc}") from None
        for i, arg in enumerate(self.runtime_arguments or []):
            value = arg.value if arg.value is not None else arg.default
            if self.registry_type == "oci" and arg.type == "named" and arg.name in ("-e", "--env") and value:
                try:
                    check_env_name(value.partition("=")[0])
                except ValueError as exc:
                    raise ValueError(f"runtimeArguments[{i}] ({arg.name}): {exc}") from None
        return self


class Remote(RegistryModel):
    type: Literal["streamable-http", "sse"]
    url: str = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _url_port(cls, value: str) -> str:
        return check_url_port(value)

    headers: list[KeyValueInput] | None = None
    variables: dict[str, Input] | None = None


class Repository(RegistryModel):
    url: str
    source: str
    id: str | None = None
    subfolder: str | None = None


class Icon(RegistryModel):
    src: str
    mime_type: str | None = None
    sizes: list[str] | None = None
    theme: str | None = None


class ServerJSON(RegistryModel):
    """One server.json entry: a named, versioned MCP server and how to run or reach it."""

    schema_: str | None = Field(default=None, alias="$schema")
    name: str = Field(min_length=3, max_length=200, pattern=NAME_PATTERN)
    description: str = Field(min_length=1, max_length=100)
    title: str | None = None
    version: str = Field(min_length=1, max_length=255)
    repository: Repository | None = None
    website_url: str | None = None
    icons: list[Icon] | None = None
    packages: list[Package] | None = None
    remotes: list[Remote] | None = None
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")

    @field_validator("version")
    @classmethod
    def _exact_version(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("version must be a specific version, not 'latest'")
        if value[:1] in "^~<>=*" or " " in value or value in ("x", "*"):
            raise ValueError(f"version {value!r} looks like a range; give one exact version")
        return value

    @property
    def short_name(self) -> str:
        """The part after the namespace: `filesystem` of `io.modelcontextprotocol/filesystem`."""
        return self.name.rsplit("/", 1)[-1]

    def digest(self) -> str:
        """sha256 of the entry's canonical JSON (sorted keys, no spaces), as `sha256:<hex>`."""
        canonical = json.dumps(self.wire(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


class ServerResponse(RegistryModel):
    """One item of the list API: the entry and the registry's own metadata about it."""

    server: ServerJSON
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")

    @property
    def status(self) -> str:
        """`active`, `deprecated` or `deleted` (active when the registry says nothing)."""
        official = (self.meta or {}).get("io.modelcontextprotocol.registry/official") or {}
        status = official.get("status") if isinstance(official, dict) else None
        return status if isinstance(status, str) else "active"


class ListMetadata(RegistryModel):
    next_cursor: str | None = None
    count: int | None = None


class ServerList(RegistryModel):
    """`GET /v0.1/servers`: a page of entries and the cursor of the next page."""

    servers: list[ServerResponse]
    metadata: ListMetadata | None = None


__all__ = ["Argument", "KeyValueInput", "Package", "Remote", "ServerJSON", "ServerList", "ServerResponse"]
