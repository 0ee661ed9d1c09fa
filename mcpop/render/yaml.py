"""Deterministic YAML and JSON output for object sets.

A small emitter for JSON-shaped data (dict, list, str, int, float, bool, None): key order as built,
block style, and any string a YAML 1.1 or 1.2 reader could take for something else is double-quoted,
so `on`, `1.10` or `0755` survive kubectl and Helm alike.
"""

from __future__ import annotations

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


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if _needs_quotes(text) else text


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
    if isinstance(value, dict):
        for key, item in value.items():
            _emit_entry(f"{indent}{_scalar(key)}:", item, indent, out)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                first = True
                for key, sub in item.items():
                    lead = f"{indent}- " if first else f"{indent}  "
                    _emit_entry(f"{lead}{_scalar(key)}:", sub, indent + "  ", out)
                    first = False
            elif isinstance(item, list) and item:
                out.append(f"{indent}-")
                _emit(item, indent + "  ", out)
            else:
                out.append(f"{indent}- {_inline(item, indent + '  ')}")


def _emit_entry(head: str, item: Any, indent: str, out: list[str]) -> None:
    if isinstance(item, dict) and item:
        out.append(head)
        _emit(item, indent + "  ", out)
    elif isinstance(item, list) and item:
        out.append(head)
        _emit(item, indent, out)
    else:
        out.append(f"{head} {_inline(item, indent)}")


def _inline(value: Any, indent: str) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, str):
        block = _block_literal(value, indent)
        if block is not None:
            return block
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
