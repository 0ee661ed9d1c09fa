"""Base model and shared scalar types for the mcp.allbeone.io API."""

import functools
import importlib
import re
from decimal import Decimal, localcontext
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
C_IDENTIFIER_ENV = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
#: resource.Quantity's grammar as its parser reads it (the API docs' regex also allows a fraction in the
#: exponent, `1e1.5`, which the parser refuses); the value's bounds are `_check_quantity`'s
QUANTITY = r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"
#: the apiserver caps a quantity at 2^63-1 (its int64 maximum) and rounds anything smaller than 1n up to 1n
QUANTITY_MAX = 2**63 - 1
_QUANTITY_RE = re.compile(QUANTITY)
_DNS_LABEL_RE = re.compile(DNS1123_LABEL)
_DNS_SUBDOMAIN_RE = re.compile(DNS1123_SUBDOMAIN)


class Model(BaseModel):
    """Base for every API object: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=False,
        frozen=False,
        strict=True,  # as the apiserver: no "3" for an integer, no "yes" for a boolean
        defer_build=True,  # each model builds its validator on first use (a faster cold `mcp render`)
    )

    def wire(self) -> dict[str, Any]:
        """The object as Kubernetes JSON: camelCase keys; what the user set is kept, even `{}` and `[]`
        (`labelSelector: {}` matches every pod, an absent one none); null and empty defaults are omitted."""
        out: dict[str, Any] = _drop_unset_empty(self, self.model_dump(mode="json", by_alias=True, exclude_none=True))
        return out


class Deferred:
    """The model of a field, named `module:Class`, imported and built only when a document sets the field:
    an object that uses no feature never loads the feature's models (most of a cold `mcp render`'s model
    building). Validation errors keep their locations; the JSON Schema (and so the CRD) is the model's."""

    def __init__(self, target: str) -> None:
        self.target = target

    @functools.cached_property
    def model(self) -> type[BaseModel]:
        module, _, name = self.target.partition(":")
        model: type[BaseModel] = getattr(importlib.import_module(module), name)
        return model

    def _validate(self, value: Any, info: core_schema.ValidationInfo) -> BaseModel:
        return self.model.model_validate(value, context=info.context)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.with_info_plain_validator_function(self._validate)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return handler(self.model.__pydantic_core_schema__)


def deferred(target: str) -> Any:
    """The annotation of a field whose model (`module:Class`) is loaded on first use (see `Deferred`)."""
    return Annotated[Any, Deferred(target)]


def cel(rule: str, message: str, field_path: str | None = None, reason: str = "FieldValueInvalid") -> dict[str, str]:
    """One CEL `x-kubernetes-validations` rule of a CRD schema."""
    out: dict[str, str] = {"rule": rule, "message": message, "reason": reason}
    if field_path:
        out["fieldPath"] = field_path
    return out


def with_cel(*rules: dict[str, str]) -> ConfigDict:
    """The base model config plus CEL rules that the generated CRD schema carries for this model."""
    config = ConfigDict(**Model.model_config)
    config["json_schema_extra"] = {"x-kubernetes-validations": list(rules)}  # type: ignore[arg-type]
    return config


def ignoring_extra() -> ConfigDict:
    """The base model config, but unknown fields are ignored (top-level resources carry server fields)."""
    config = ConfigDict(**Model.model_config)
    config["extra"] = "ignore"
    return config


def _drop_unset_empty(model: BaseModel, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (the model's dump) without the empty `{}`/`[]` of fields the input never set, at every depth."""
    fields_set = model.model_fields_set
    for name, info in type(model).model_fields.items():
        key = info.serialization_alias or info.alias or name
        if key not in data:
            continue
        value, dumped = getattr(model, name), data[key]
        if isinstance(value, BaseModel) and isinstance(dumped, dict):
            _drop_unset_empty(value, dumped)
        elif isinstance(value, list | tuple) and isinstance(dumped, list):
            for item, item_data in zip(value, dumped, strict=False):
                if isinstance(item, BaseModel) and isinstance(item_data, dict):
                    _drop_unset_empty(item, item_data)
        elif isinstance(value, dict) and isinstance(dumped, dict):
            for sub_key, item in value.items():
                if isinstance(item, BaseModel) and isinstance(dumped.get(sub_key), dict):
                    _drop_unset_empty(item, dumped[sub_key])
        if name not in fields_set and (dumped == {} or dumped == []):
            del data[key]
    return data


def check_dns_label(value: str) -> str:
    """A DNS-1123 label (namespace, volume or port name): ≤ 63 of [a-z0-9-], alphanumeric ends."""
    if len(value) > 63:
        raise ValueError(f"must be at most 63 characters (got {len(value)})")
    if not _DNS_LABEL_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _check_dns_subdomain(value: str) -> str:
    if len(value) > 253:
        raise ValueError(f"must be at most 253 characters (got {len(value)})")
    if not _DNS_SUBDOMAIN_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 subdomain: use lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return value


def _quantity_in(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a quantity must be a number or a string such as '500m' or '128Mi'")
    if isinstance(value, int | float):
        return str(value) if not isinstance(value, float) or not value.is_integer() else str(int(value))
    return value


def _check_quantity(value: str) -> str:
    if value.startswith("-") and _QUANTITY_RE.fullmatch(value[1:]):
        raise ValueError(f"{value!r} is negative; a quantity must be 0 or more")
    if not _QUANTITY_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (examples: '100m', '0.5', '128Mi', '1G')")
    exponent = _EXPONENT.search(value)
    if exponent is not None and abs(int(exponent.group(1))) > 2**31 - 1:
        raise ValueError(f"{value!r} is out of range: Kubernetes reads a quantity's exponent as a 32-bit number")
    exact = quantity_decimal(value)
    if exact > QUANTITY_MAX:
        raise ValueError(
            f"{value!r} is out of range: a quantity is at most {QUANTITY_MAX} (2^63-1, about 8Ei); the apiserver "
            "would cap it there"
        )
    if 0 < exact < _NANO:
        raise ValueError(f"{value!r} is below 1n, the smallest quantity Kubernetes keeps: use 0 or at least 1n")
    return value


DNSLabel = Annotated[
    str,
    AfterValidator(check_dns_label),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": DNS1123_LABEL}),
]
DNSSubdomain = Annotated[
    str,
    AfterValidator(_check_dns_subdomain),
    WithJsonSchema({"type": "string", "maxLength": 253, "pattern": DNS1123_SUBDOMAIN}),
]
Quantity = Annotated[
    str,
    BeforeValidator(_quantity_in),
    AfterValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY,
            "minimum": 0,
            "x-kubernetes-int-or-string": True,
        }
    ),
]


def _int_or_string_in(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be an integer or a string such as '25%'")
    return value


IntOrString = Annotated[
    int | str,
    BeforeValidator(_int_or_string_in),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}),
]

FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]

StringMap = dict[str, str]


_SUFFIX = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": 10**-9,
    "u": 10**-6,
    "m": 10**-3,
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}


def quantity_decimal(quantity: str) -> Decimal:
    """The exact value of a quantity that matches `QUANTITY` (no arithmetic on a huge exponent: `1e100000000`
    is held as written, never expanded)."""
    match = _QUANTITY_SPLIT.match(quantity)
    if match is None:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity")
    number, suffix = match.groups()
    if number.endswith("."):
        number += "0"
    if suffix in _SUFFIX:
        factor = _SUFFIX[suffix]
        with localcontext(prec=len(number) + 30):  # exact: the default 28 digits would round near the bounds
            return Decimal(number) * (Decimal(factor) if isinstance(factor, int) else Decimal(str(factor)))
    # past ±10^8 the exponent decides alone (no document has the mantissa digits to make up for it), and
    # Decimal need not hold an exponent beyond its own limits
    exponent = max(-(10**8), min(int(suffix[1:]), 10**8))
    return Decimal(f"{number}e{exponent}")


def quantity_value(quantity: str) -> float:
    """The numeric value of a validated Kubernetes quantity, for comparisons."""
    match = _QUANTITY_SPLIT.match(quantity)
    if match is None:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity")
    number, suffix = match.groups()
    if suffix in _SUFFIX:
        return float(number) * _SUFFIX[suffix]
    return float(number + suffix)  # decimal exponent, e.g. 1e3


_QUANTITY_SPLIT = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")
_NANO = Decimal("1e-9")
_EXPONENT = re.compile(r"[eE]([+-]?[0-9]+)$")
