"""The apiserver's validation rules the API models apply at render time, as small pure functions.

Each rule follows `k8s.io/apimachinery/pkg/util/validation` or `pkg/apis/core/validation` of Kubernetes:
same limits, full-string matches (never `$`, which lets a trailing newline through), ASCII only. A check
raises ValueError with what is wrong and what is allowed; `FieldError` also says which sub-field, so a
rule spanning fields of one object still names the exact field.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from mcpop.api.base import IntOrString
from mcpop.api.urls import strip_userinfo as strip_userinfo
from mcpop.codec.reader import PlainTimestamp

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
#: The apiserver's limit on the total size of an object's annotations (keys and values, in bytes).
TOTAL_ANNOTATION_SIZE = 256 * 1024

QUALIFIED_NAME = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
IANA_SVC_NAME = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
CONFIG_MAP_KEY = r"^[-._a-zA-Z0-9]+$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
PERCENT = r"^[0-9]+%$"
_ELEMENT = r"(\.?[^./][^/]*|\.\.[^/]+|\.)"
#: A relative path with no `..` element (RE2 has no look-ahead, so the elements are spelled out).
RELATIVE_PATH = rf"^{_ELEMENT}(/{_ELEMENT}?)*$"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED = re.compile(QUALIFIED_NAME[1:-1])
_LABEL_VALUE = re.compile(LABEL_VALUE[1:-1])
_IANA_LETTER = re.compile(r".*[a-z].*")
_CONFIG_MAP_KEY = re.compile(CONFIG_MAP_KEY[1:-1])
_ENV_NAME = re.compile(ENV_NAME[1:-1])
_PERCENT = re.compile(PERCENT[1:-1])


class FieldError(ValueError):
    """A rule broken by a sub-field of the object being validated: `path` is relative, camelCase."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        # readers that know nothing of FieldError (pydantic's own text) still see the sub-field
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.message = message


def raise_first(problems: Iterable[FieldError]) -> None:
    """Raise the first problem, if any (a validator reports one error)."""
    for problem in problems:
        raise problem


# -- names, labels, annotations ------------------------------------------------------------------


def check_qualified_name(value: str, what: str = "key") -> str:
    """A label or annotation key: `[prefix/]name`, name ≤ 63 characters, prefix a DNS subdomain."""
    prefix, slash, name = value.rpartition("/")
    allowed = (
        "use a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or "
        "digit, optionally prefixed by a DNS subdomain and '/' (such as 'example.com/my-key')"
    )
    if not name:
        raise ValueError(f"{what} {value!r} has an empty name; {allowed}")
    if len(name) > 63 or not _QUALIFIED.fullmatch(name):
        raise ValueError(f"{what} {value!r} is not a qualified name; {allowed}")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise ValueError(f"{what} {value!r} has a prefix that is not a DNS subdomain; {allowed}")
    return value


def check_label_value(value: str) -> str:
    """A label value: empty, or ≤ 63 letters, digits, '-', '_', '.', alphanumeric at both ends."""
    if len(value) > 63:
        raise ValueError(f"a label value must be at most 63 characters (got {len(value)})")
    if not _LABEL_VALUE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid label value: use letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit (or leave it empty)"
        )
    return value


def check_annotations(value: dict[str, str]) -> dict[str, str]:
    """The total size of keys and values is within the apiserver's 256 KiB."""
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > TOTAL_ANNOTATION_SIZE:
        raise ValueError(f"annotations total {size} bytes; the limit is {TOTAL_ANNOTATION_SIZE} (256 KiB)")
    return value


def check_iana_svc_name(value: str) -> str:
    """A named port: ≤ 15 of [a-z0-9-], at least one letter, no '--', alphanumeric ends."""
    if len(value) > 15:
        raise ValueError(f"a port name must be at most 15 characters (got {len(value)})")
    if not re.fullmatch(IANA_SVC_NAME[1:-1], value) or "--" in value or not _IANA_LETTER.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a port name: use lower-case letters, digits and '-' (at least one "
            "letter, no '--'), starting and ending with a letter or digit"
        )
    return value


def check_config_map_key(value: str) -> str:
    """A ConfigMap or Secret key: ≤ 253 of [-._a-zA-Z0-9], not '.', '..' or starting with '..'."""
    if len(value) > 253:
        raise ValueError(f"a key must be at most 253 characters (got {len(value)})")
    if not _CONFIG_MAP_KEY.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid key: use letters, digits, '-', '_' and '.'")
    if value in (".", "..") or value.startswith(".."):
        raise ValueError(f"{value!r} is not a valid key: it must not be '.' or '..' or start with '..'")
    return value


def check_env_name(value: str) -> str:
    """An environment variable name: letters, digits, '_', '-', '.', not starting with a digit."""
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid environment variable name: use letters, digits, '_', '-' and '.', "
            "not starting with a digit"
        )
    return value


def check_relative_path(value: str) -> str:
    """A path inside a volume: relative, and no `..` element (no escape from the volume)."""
    if value.startswith("/"):
        raise ValueError(f"{value!r} must be a relative path")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} must not contain '..'")
    if value.startswith(".."):
        raise ValueError(f"{value!r} must not start with '..'")
    return value


def check_absolute_path(value: str) -> str:
    """A mount path: absolute, with no `..` element."""
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute path (starting with '/')")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} must not contain '..'")
    return value


def check_int_or_percent(value: int | str) -> int | str:
    """A count (≥ 0) or a percentage such as '25%'."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must be greater than or equal to 0 (got {value})")
        return value
    if not _PERCENT.fullmatch(value):
        raise ValueError(f"{value!r} must be an integer or a percentage such as '25%'")
    return value


def percent_over_100(value: int | str | None) -> bool:
    """Whether a validated int-or-percent is a percentage above 100%."""
    return isinstance(value, str) and int(value[:-1]) > 100


def is_zero(value: int | str | None) -> bool:
    """Whether a validated int-or-percent is 0 or '0%'."""
    return value == 0 or (isinstance(value, str) and int(value[:-1]) == 0)


# -- images and URLs ---------------------------------------------------------------------------

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)
TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"


def check_image(value: str) -> str:
    """An OCI image reference (`[registry/]repository[:tag][@digest]`), as the distribution spec defines."""
    allowed = (
        "use [registry[:port]/]repository[:tag][@algorithm:hex] with a lower-case repository, such as "
        "'ghcr.io/org/server:1.0'"
    )
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"an image reference must not be empty or contain whitespace; {allowed}")
    match = _REFERENCE.fullmatch(value)
    if match is None:
        first = value.split("/", 1)
        repo = first[1] if len(first) == 2 and ("." in first[0] or ":" in first[0]) else value
        if repo != repo.lower():
            raise ValueError(f"{value!r} is not an image reference: the repository must be lower-case; {allowed}")
        if value.endswith((":", "@")) or ":@" in value:
            raise ValueError(f"{value!r} is not an image reference: the tag or digest is empty; {allowed}")
        raise ValueError(f"{value!r} is not an image reference; {allowed}")
    if len(match.group("name")) > 255:
        raise ValueError(f"the repository name of {value!r} is longer than 255 characters")
    return value


def check_url(value: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """An absolute URL of one of `schemes`, with a host and no whitespace; messages never show credentials."""
    shown = repr(strip_userinfo(value))
    if any(c.isspace() for c in value):
        raise ValueError(f"{shown} is not a URL: it contains whitespace")
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(f"{shown} must be an {' or '.join(schemes)} URL (such as 'https://example.com')")
    try:
        host = parts.hostname
    except ValueError:
        raise ValueError(f"{shown} is not a URL: its host is malformed") from None
    check_url_port(value)
    if not host:
        raise ValueError(f"{shown} has no host; use a URL such as 'https://example.com'")
    return value


#: a `{name}` variable of a registry entry's URL (server.json), filled in when the entry is used
URL_VARIABLE = re.compile(r"\{[A-Za-z0-9_.-]+\}")


def check_url_port(value: str) -> str:
    """The port of URL `value`, when it has one, is a number from 1 to 65535 or a whole `{variable}`."""
    authority = urlsplit(value).netloc.rpartition("@")[2]
    if authority.startswith("["):  # [IPv6]:port
        rest = authority.partition("]")[2]
        has_port, port = rest.startswith(":"), rest[1:]
    else:
        _, colon, port = authority.rpartition(":")
        has_port = bool(colon)
    if not has_port or URL_VARIABLE.fullmatch(port):
        return value
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(
            f"{strip_userinfo(value)!r} is not a URL: its port {port!r} is not a number from 1 to 65535 "
            "(or a {variable} of the entry)"
        )
    return value


def check_registry_url(value: str) -> str:
    """`check_url`, and neither credentials in the URL (`user:pass@`: a Secret holds them, `auth.secretRef`)
    nor a fragment (`#...`: never sent to a server, so it can only mislead)."""
    check_url(value)
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError(f"{strip_userinfo(value)!r}: a registry URL must not carry credentials (user:password@); "
                         "put the token in a Secret and name it in auth.secretRef")  # fmt: skip
    if "#" in value:
        raise ValueError(f"{strip_userinfo(value)!r}: a registry URL must not have a fragment (#...)")
    return value


def check_cidr(value: str) -> str:
    """An IPv4 or IPv6 CIDR such as `10.0.0.0/8`."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR such as '10.0.0.0/8' or 'fd00::/8'") from None
    if "/" not in value:
        raise ValueError(f"{value!r} is not a CIDR: it needs a prefix length such as '/24'")
    return value


def check_host(value: str, wildcard: bool = True) -> str:
    """A DNS name (optionally `*.`-prefixed, or `*`): an Istio host, never a URL."""
    if wildcard and value == "*":
        return value
    name = value[2:] if wildcard and value.startswith("*.") else value
    if "/" in value or ":" in value:
        raise ValueError(f"{value!r} is not a host name: give the host only, without scheme, port or path")
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise ValueError(
            f"{value!r} is not a host name: use a DNS name such as 'mcp.example.com' or a wildcard '*.example.com'"
        )
    return value


# -- YAML timestamps ----------------------------------------------------------------------------


def timestamp_message(value: str) -> str:
    """Why an unquoted YAML timestamp is refused where its text is passed on as it is."""
    return (
        f"{value} is an unquoted YAML timestamp: kubectl passes it on as text, other YAML tools as a date; "
        f'quote it ("{value}") to give the text'
    )


def refuse_plain_timestamp(value: Any) -> Any:
    """A string value that was not written as an unquoted YAML timestamp (a plain scalar such as 2024-01-01)."""
    if isinstance(value, PlainTimestamp):
        raise ValueError(timestamp_message(value))
    return value


def refuse_plain_timestamps(value: Any, path: tuple[str | int, ...] = ()) -> Any:
    """`value` (free-form data) with no unquoted YAML timestamp anywhere in it; FieldError at the first one."""
    if isinstance(value, PlainTimestamp):
        raise FieldError(path, timestamp_message(value))
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_plain_timestamps(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            refuse_plain_timestamps(item, (*path, i))
    return value


# -- annotated types -------------------------------------------------------------------------------

LabelKey = Annotated[str, AfterValidator(check_qualified_name)]
LabelValue = Annotated[
    str, AfterValidator(check_label_value), WithJsonSchema({"type": "string", "maxLength": 63, "pattern": LABEL_VALUE})
]


def _annotation_key(value: str) -> str:
    return check_qualified_name(value, "annotation key")


AnnotationKey = Annotated[str, AfterValidator(_annotation_key)]
#: A label map (metadata.labels, podLabels, nodeSelector, ...): qualified keys, label values.
Labels = dict[LabelKey, LabelValue]
#: An annotation map: qualified keys, any values, 256 KiB in total.
Annotations = Annotated[dict[AnnotationKey, str], AfterValidator(check_annotations)]
ImageRef = Annotated[
    str,
    AfterValidator(check_image),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 512, "pattern": r"^\S+$"}),
]
#: an MCPRegistry source URL: no userinfo, no fragment (the CRD pattern refuses `@` in the host part and `#`)
RegistryURL = Annotated[
    str,
    AfterValidator(check_registry_url),
    WithJsonSchema({"type": "string", "pattern": r"^https?://[^/\s?#@]+(?:[/?][^\s#]*)?$"}),
]
HttpURL = Annotated[
    str, AfterValidator(check_url), WithJsonSchema({"type": "string", "pattern": r"^https?://[^/\s?#]+\S*$"})
]
EnvName = Annotated[
    str, AfterValidator(check_env_name), WithJsonSchema({"type": "string", "minLength": 1, "pattern": ENV_NAME})
]
ConfigMapKey = Annotated[
    str,
    AfterValidator(check_config_map_key),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 253, "pattern": CONFIG_MAP_KEY}),
]
RelativePath = Annotated[
    str,
    AfterValidator(check_relative_path),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": RELATIVE_PATH}),
]
AbsolutePath = Annotated[
    str,
    AfterValidator(check_absolute_path),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"^/"}),
]
PortName = Annotated[
    str,
    AfterValidator(check_iana_svc_name),
    WithJsonSchema({"type": "string", "maxLength": 15, "pattern": IANA_SVC_NAME}),
]
#: int32 and int64 as Kubernetes has them; a field gives its own lower bound (`Field(ge=...)`), and a
#: field with a tighter upper bound is a plain `int` (the bound here would replace it).
Int32 = Annotated[int, Field(le=INT32_MAX)]
Int64 = Annotated[int, Field(le=INT64_MAX)]
#: A Linux user or group id as the apiserver allows it: 0 to 2^31-1.
UnixID = Annotated[int, Field(ge=0, le=INT32_MAX)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


def _port_or_name(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a port number or a port name")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise ValueError(f"port {value} must be between 1 and 65535")
        return value
    if isinstance(value, str):
        return check_iana_svc_name(value)
    raise ValueError("must be a port number (1-65535) or a port name")


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"must be a port number (1-65535) or a port name, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "a mapping", list: "a list", float: "a number", type(None): "null"}.get(type(value), "that")


PortOrName = Annotated[
    int | str,
    BeforeValidator(_not_bool),
    AfterValidator(_port_or_name),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}),
]

#: A count or a percentage (rollingUpdate, disruption budgets): `3`, `'25%'`.
IntOrPercent = Annotated[IntOrString, AfterValidator(check_int_or_percent)]
