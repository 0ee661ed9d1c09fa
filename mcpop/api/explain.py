"""Validation errors as users read them: the exact field, what is wrong, what is allowed.

pydantic's messages name Python types (`instance of ObjectMeta`, `CommentedSeq`) and say only
"Extra inputs are not permitted" for a typo. Here a type error names the YAML type found, an unknown
field suggests the closest allowed one, and a rule of one object about a sub-field (`FieldError`) is
reported at that sub-field. Input values are never echoed: they may be secrets.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from mcpop.api.base import Deferred
from mcpop.api.validation import FieldError

Loc = tuple[int | str, ...]

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def yaml_type(value: Any) -> str:
    """The YAML name of a parsed value's type: `a string`, `a list`, `a mapping`, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return "a value of another type"


def _annotated(tp: Any) -> Any:
    """The type an `Annotated[...]` stands for: the model of a `Deferred` field, else the annotated type."""
    base, *metadata = typing.get_args(tp)
    return next((m.model for m in metadata if isinstance(m, Deferred)), base)


def _step(tp: Any, part: int | str) -> Any:
    """The type found at `part` inside a value of type `tp` (None when there is none)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _step(_annotated(tp), part)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _step(arg, part)
            if found is not None:
                return found
        return None
    if origin is list:
        return typing.get_args(tp)[0] if isinstance(part, int) else None
    if origin is dict:
        return typing.get_args(tp)[1] if isinstance(part, str) else None
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
        for name, info in tp.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
    return None


def _model_of(tp: Any) -> type[BaseModel] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _model_of(_annotated(tp))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _model_of(arg)
            if found is not None:
                return found
        return None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def allowed_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """The wire names of the fields allowed at `loc` (the path of an object) inside `model`."""
    tp: Any = model
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in ("int", "str", "float", "bool")):
            continue  # a union branch or validator name, not a field
        tp = _step(tp, part)
        if tp is None:
            return []
    found = _model_of(tp)
    if found is None:
        return []
    return [info.alias or name for name, info in found.model_fields.items()]


def explain(err: ErrorDetails, model: type[BaseModel]) -> tuple[Loc, str]:
    """The full location and the message of one pydantic error raised validating `model`."""
    loc: Loc = tuple(err["loc"])
    kind = err["type"]
    message = err["msg"].removeprefix("Value error, ")
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        loc += cause.path
        message = cause.message
    elif kind == "extra_forbidden":
        allowed = allowed_fields(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        message = "unknown field" + (f"; did you mean {close[0]}?" if close else "")
        if allowed and not close:
            message += f" (allowed: {', '.join(sorted(allowed))})"
    elif kind in _EXPECTED:
        message = f"Input should be a valid {_EXPECTED[kind].split(' ', 1)[1]}, got {yaml_type(err.get('input'))}"
    return loc, message
