"""Deterministic YAML and JSON output for object sets.

A small emitter for JSON-shaped data (dict, list, str, int, float, bool, None): key order as built,
block style, and any string a YAML 1.1 or 1.2 reader could take for something else is double-quoted,
so `on`, `1.10` or `0755` survive kubectl and Helm alike.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./@:-]*(?: [A-Za-z0-9_./@()-]+)*$")
_YAML11_WORDS = {
    "y",
    "n",
    "yes",
    "no",
    "on",
    "off",
    "true",
    "false",
    "null",
    "~",
}


def _needs_quotes(text: str) -> bool:
    if not text or not _PLAIN.match(text) or text.endswith(":") or ": " in text:
        return True
    return text.lower() in _YAML11_WORDS or text.startswith(("-", "."))


@functools.lru_cache(maxsize=8192)
def _string(text: str) -> str:
    # cached: label keys and values, kinds and field names repeat across every object of a set
    return json.dumps(text, ensure_ascii=False) if _needs_quotes(text) else text


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return json.dumps(value)


def _block_literal(text: str, indent: str) -> str | None:
    """A `|` block for multi-line text, or None when the text cannot be one losslessly."""
    if "\n" not in text or text[:1] in (" ", "\t") or any(not (c.isprintable() or c in "\n\t") for c in text):
        return None
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    if any(line != line.rstrip(" \t") for line in body.split("\n")):
        return None
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    lines = body.split("\n") + [""] * (trailing - 1 if trailing > 1 else 0)
    pad = indent + "  "
    return f"|{chomp}\n" + "\n".join(pad + line if line else "" for line in lines)


def _emit(value: Any, indent: str, out: list[str]) -> None:
    # one flat loop per container: this emitter is most of the bulk render time
    if type(value) is dict:
        for key, item in value.items():
            _entry(f"{indent}{_string(key)}:", item, indent, out)
        return
    for item in value:
        kind = type(item)
        if kind is dict and item:
            lead = f"{indent}- "
            for key, sub in item.items():
                _entry(f"{lead}{_string(key)}:", sub, indent + "  ", out)
                lead = f"{indent}  "
        elif kind is list and item:
            out.append(f"{indent}-")
            _emit(item, indent + "  ", out)
        else:
            out.append(f"{indent}- {_inline(item, indent + '  ')}")


def _entry(head: str, item: Any, indent: str, out: list[str]) -> None:
    kind = type(item)
    if kind is str and "\n" not in item:
        out.append(f"{head} {_string(item)}")
    elif kind is dict and item:
        out.append(head)
        _emit(item, indent + "  ", out)
    elif kind is list and item:
        out.append(head)
        _emit(item, indent, out)
    else:
        out.append(f"{head} {_inline(item, indent)}")


def _inline(value: Any, indent: str) -> str:
    if isinstance(value, str):
        if "\n" in value:
            block = _block_literal(value, indent)
            if block is not None:
                return block
        return _string(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump_yaml(documents: Iterable[Any]) -> str:
    """Several documents as one YAML stream, each started by `---`."""
    out: list[str] = []
    for doc in documents:
        out.append("---")
        _emit(doc, "", out)
    return "\n".join(out) + "\n" if out else ""


def dump_json(documents: list[Any]) -> str:
    """Documents as a JSON `v1/List` when there are several, or the single object."""
    payload: Any = (
        documents[0]
        if len(documents) == 1
        else {
            "apiVersion": "v1",
            "kind": "List",
            "items": documents,
        }
    )
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
