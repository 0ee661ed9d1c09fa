"""Strict OpenAPI validation of rendered objects with kubernetes-validate, one cached validator per kind.

kubernetes-validate re-reads and re-parses its schemas on every call; the property tests validate
thousands of objects, so the validator for each (apiVersion, kind) is built once.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
from kubernetes_validate import utils
from referencing import Registry, Resource

VERSION = utils.latest_version()


@functools.cache
def validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """The strict schema validator for one kind at the newest Kubernetes version the package knows."""
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{VERSION}-local-strict"
    schema = utils.schema_contents(f"{folder}/{kind.lower()}-{short}.json", VERSION)
    defs = utils.schema_contents(f"{folder}/_definitions.json", VERSION)
    registry: Registry = Resource.from_contents(schema) @ Registry()  # type: ignore[type-arg]
    registry = Resource.from_contents(defs) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def errors(obj: dict[str, Any]) -> list[str]:
    """Every schema violation of `obj`, as `path: message`."""
    v = validator(obj["apiVersion"], obj["kind"])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(obj)]
