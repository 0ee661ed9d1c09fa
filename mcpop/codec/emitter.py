"""The one writer of YAML and JSON output: rendered object sets, `-o yaml|json` of every command, diffs and
backup snapshot files.

A small emitter for JSON-shaped data (dict, list, str, int, float, bool, None): key order as built,
block style, and any string a YAML 1.1 or 1.2 reader could take for something else is double-quoted,
so `on`, `1.10` or `0755` survive kubectl and Helm alike. A value reached twice is written out twice:
never an anchor or alias. JSON is indented by `JSON_INDENT` (2) everywhere, UTF-8, and never NaN.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from typing import Any

#: the one JSON indentation of every output (golden files pin it)
JSON_INDENT = 2
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


#: characters a YAML reader does not take as themselves inside double quotes: C0/C1 controls and DEL (not
#: printable in YAML), NEL and the Unicode line/paragraph separators (line breaks in YAML 1.1), the BOM and
#: the non-characters U+FFFE/U+FFFF. json.dumps escapes C0 already.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
#: a YAML reader finds an implicit key only within 1024 characters; longer keys are written `? key`
_MAX_IMPLICIT_KEY = 1000


def _needs_quotes(text: str) -> bool:
    if not text or not _PLAIN.fullmatch(text) or text.endswith(":") or ": " in text:
        return True
    return text.lower() in _YAML11_WORDS or text.startswith(("-", "."))


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _quoted(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    return _UNSAFE.sub(_escape, out) if _UNSAFE.search(out) else out


@functools.lru_cache(maxsize=8192)
def _string(text: str) -> str:
    # cached: label keys and values, kinds and field names repeat across every object of a set
    return _quoted(text) if _needs_quotes(text) else text


@functools.lru_cache(maxsize=8192)
def _key(text: str, lead: str, indent: str) -> str:
    """`lead` + the key + `:`, or `? key` and `:` on the next line (at `indent`) when too long to be implicit."""
    key = _string(text)
    if len(key) <= _MAX_IMPLICIT_KEY:
        return f"{lead}{key}:"
    return f"{lead}? {key}\n{indent}:"


def _float(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (math.inf, -math.inf):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)  # YAML 1.1 floats need a dot: 1e+16 would read as a string
    return text


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return _float(value)
    return json.dumps(value)


def _block_literal(text: str, pad: str, parent: int) -> str | None:
    """A `|` block for multi-line text, or None when the text cannot be one losslessly.

    `pad` is the content's indentation and `parent` the column of the collection holding the scalar; an
    indentation indicator is written when the first line with content starts with a space or a tab.
    """
    body = text.rstrip("\n")
    if not body.strip("\n") or any(not (c.isprintable() or c in "\n\t") for c in text):
        return None  # only line breaks (`"\n"`), or characters a block cannot carry
    lines = body.split("\n")
    if any(line != line.rstrip(" \t") for line in lines):
        return None
    trailing = len(text) - len(body)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    first = next(line for line in lines if line)
    indicator = str(len(pad) - parent) if first[0] in " \t" else ""
    lines += [""] * (trailing - 1 if trailing > 1 else 0)
    return f"|{indicator}{chomp}\n" + "\n".join(pad + line if line else "" for line in lines)


def _emit(value: Any, indent: str, out: list[str]) -> None:
    # one flat loop per container: this emitter is most of the bulk render time
    if type(value) is dict:
        for key, item in value.items():
            _entry(_key(key, indent, indent), item, indent, out)
        return
    for item in value:
        kind = type(item)
        if kind is dict and item:
            lead, inner = f"{indent}- ", f"{indent}  "
            for key, sub in item.items():
                _entry(_key(key, lead, inner), sub, inner, out)
                lead = inner
        elif kind is list and item:
            out.append(f"{indent}-")
            _emit(item, indent + "  ", out)
        else:
            out.append(f"{indent}- {_inline(item, indent + '    ', len(indent))}")


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
        out.append(f"{head} {_inline(item, indent + '  ', len(indent))}")


def _inline(value: Any, pad: str, parent: int) -> str:
    if isinstance(value, str):
        if "\n" in value:
            block = _block_literal(value, pad, parent)
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
        if type(doc) in (dict, list) and doc:
            out.append("---")
            _emit(doc, "", out)
        else:
            out.append(f"--- {_inline(doc, '  ', 0)}")
    return "\n".join(out) + "\n" if out else ""


def yaml_text(value: Any) -> str:
    """One document without a `---` marker, as `kubectl get -o yaml` prints one object."""
    if type(value) in (dict, list) and value:
        out: list[str] = []
        _emit(value, "", out)
        return "\n".join(out) + "\n"
    return _inline(value, "  ", 0) + "\n"


def json_text(value: Any, *, sort_keys: bool = False) -> str:
    """`value` as JSON, indented by JSON_INDENT, non-ASCII characters as themselves."""
    return json.dumps(value, indent=JSON_INDENT, ensure_ascii=False, allow_nan=False, sort_keys=sort_keys) + "\n"


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
    return json_text(payload)
