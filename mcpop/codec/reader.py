"""The one reader of YAML and JSON input, into plain JSON-shaped data, with the line of every key and item.

Every input mcpop reads goes through here: `mcp render`/`apply` files, ConfigMap, GitHub and `--registry`
registry data, registry API responses, backup snapshot files and kubeconfigs. libyaml (PyYAML's C parser)
scans and parses; this module builds the data from its events with YAML 1.1 semantics (`on` is a boolean,
`0400` is octal, `<<` merges), as kubectl's reader does. JSON text takes the standard library's C decoder
first (registry data is mostly JSON) and is held to the same limits.

Refused, with the line and field path where known:

- tags other than the JSON ones (`!!set`, `!!binary`, `!!timestamp`, `!!omap`, custom tags); an untagged
  date stays a string, as kubectl keeps it;
- `.nan` and `.inf` (JSON has no such numbers), and lone UTF-16 surrogates (no output can encode them);
- bytes that are not UTF-8;
- input past its `Limits`, checked before parsing (size) or as soon as crossed (depth, aliases), so a hostile
  input costs little time and memory:

  ============================ ============ =============== ===============
  limit                        `OBJECTS`    `REGISTRY_DATA` `CONFIGMAP_DATA`
  ============================ ============ =============== ===============
  `max_bytes` (whole input)    8 MiB        8 MiB           1 MiB
  `max_document_bytes`         3 MiB        8 MiB           1 MiB
  `max_depth` (nested levels)  100          100             100
  `alias_budget` (nodes)       400,000      100,000         100,000
  ============================ ============ =============== ===============

  `OBJECTS` is for Kubernetes objects (files, snapshot files, kubeconfigs): 3 MiB is kube-apiserver's
  request limit, so no object can be larger. Registry data may be one large list; a ConfigMap holds at most
  1 MiB. Aliases are limited by go-yaml's rule (kubectl's reader): past `alias_budget` nodes in all, the share
  of nodes that come from aliases may be at most 99 %, falling linearly to 10 % at ten times that; so aliases
  never expand to more than about three times `alias_budget` nodes, and a billion-laughs bomb stops after
  `alias_budget` nodes.

Mapping keys become strings as kubectl makes them: `on:` is the key `"true"`, `~:` is `"null"`, `1:` is `"1"`.
UTF-16 surrogate-pair escapes (`"\\ud83d\\ude00"`), which libyaml rejects, are read as the character they
encode, as a JSON reader does.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events as ev
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from mcpop.errors import McpopError

MiB = 1 << 20
#: kube-apiserver refuses request bodies over 3 MiB: no object can be larger
APISERVER_REQUEST_BYTES = 3 * MiB


@dataclass(frozen=True)
class Limits:
    """What one input may cost (the module docstring gives the presets and why)."""

    #: the whole input, in UTF-8 bytes
    max_bytes: int = 8 * MiB
    #: one document of a YAML stream
    max_document_bytes: int = APISERVER_REQUEST_BYTES
    #: mappings and lists nested in one another; the renderer and emitter recurse per level
    max_depth: int = 100
    #: go-yaml's alias rule: how many nodes before the share that aliases expand to must fall
    alias_budget: int = 400_000


#: Kubernetes objects: `mcp render`/`apply` files, backup snapshot files, kubeconfigs
OBJECTS = Limits()
#: registry data (GitHub files, registry API pages, `--registry FILE`): one document may be the whole list
REGISTRY_DATA = Limits(max_document_bytes=8 * MiB, alias_budget=100_000)
#: a ConfigMap registry source: a ConfigMap holds at most 1 MiB
CONFIGMAP_DATA = Limits(max_bytes=MiB, max_document_bytes=MiB, alias_budget=100_000)

_CParser: Any
try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml: the same events from the pure-Python parser
    _CParser = None
_YAML = "tag:yaml.org,2002:"
_JSON_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null")}
_DOC_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.M)
_CONTENT_LINE = re.compile(r"^[ \t]*[^ \t\r\n#]", re.M)
_SURROGATE_PAIR = re.compile(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_PAIR_RETRIES = 64
#: levels of a field path an error spells out
_SHOWN_LEVELS = 12
_MERGE = object()
_NO_KEY = object()


class YAMLInputError(McpopError, ValueError):
    """Input that cannot become plain data: the message, and the document, line and field path it is about."""

    def __init__(self, message: str, line: int | None = None, path: str = "", document: int = 0) -> None:
        super().__init__(message)
        self.message, self.line, self.path, self.document = message, line, path, document

    def __str__(self) -> str:
        where = [f"document {self.document}"] if self.document else []
        where += [f"line {self.line}"] if self.line is not None else []
        parts = [", ".join(where)] if where else []
        return ": ".join([*parts, *([self.path] if self.path else []), self.message])


@dataclass
class Document:
    """One parsed document: plain data and the line of each key and item (looked up by `line`)."""

    data: Any
    line_no: int
    lines: dict[int, Any] = field(default_factory=dict, repr=False)

    def line(self, loc: tuple[int | str, ...]) -> int | None:
        """The 1-based line of the deepest key or item on `loc` (a pydantic-style location)."""
        node, found = self.data, None
        for part in loc:
            table = self.lines.get(id(node))
            if table is None:
                break
            if isinstance(part, int) and isinstance(table, dict):
                part = str(part)  # `spec.config.0` names the key "0"
            try:
                found = table[part]
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
        return found


def _size(n: int) -> str:
    """A size as a message gives it: `3 MiB`, `1.5 MiB`, `512 KiB`, `900 bytes`."""
    for unit, name in ((MiB, "MiB"), (1024, "KiB")):
        if n >= unit:
            return f"{n / unit:.1f}".removesuffix(".0") + f" {name}"
    return f"{n} bytes"


def _over(size: int, limit: int) -> str:
    """`size` past `limit`, never spelled as the limit itself (3.0001 MiB is `3.0001 MiB`, not `3 MiB`)."""
    text, digits = _size(size), 1
    while text == _size(limit) and digits < 7:
        digits += 1
        text = f"{size / MiB:.{digits}f} MiB" if size >= MiB else f"{size} bytes"
    return text


def _too_big(size: int, limits: Limits) -> YAMLInputError:
    return YAMLInputError(f"input is {_over(size, limits.max_bytes)}; the limit is {_size(limits.max_bytes)}")


def decode(raw: bytes, limits: Limits = OBJECTS) -> str:
    """UTF-8 text (a leading BOM dropped); YAMLInputError for input over `limits.max_bytes` (checked before
    decoding) or naming the line of the first bad byte."""
    if len(raw) > limits.max_bytes:
        raise _too_big(len(raw), limits)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YAMLInputError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} cannot be decoded; "
            "save the file as UTF-8",
            line,
        ) from None


def _utf8_size(text: str, over: int) -> int:
    """The UTF-8 size of `text`, or at least `over` + 1 when that is plain from its length alone."""
    if len(text) > over:
        return len(text)  # a character is at least one byte: no need to encode
    if 4 * len(text) <= over:
        return len(text)  # at most 4 bytes a character: within the limit whatever the text
    return len(text.encode("utf-8", "surrogatepass"))


def check_sizes(text: str, limits: Limits = OBJECTS) -> None:
    """Refuse, before parsing, input larger than `limits.max_bytes` or a document over `max_document_bytes`."""
    total = _utf8_size(text, limits.max_bytes)
    if total > limits.max_bytes:
        raise _too_big(total, limits)
    if _utf8_size(text, limits.max_document_bytes) <= limits.max_document_bytes:
        return
    starts = [0] + [m.start() for m in _DOC_MARKER.finditer(text)] + [len(text)]
    index = 0
    for begin, end in itertools.pairwise(starts):
        segment = text[begin:end]
        size = _utf8_size(segment, limits.max_document_bytes)
        if size > limits.max_document_bytes:
            apiserver = limits.max_document_bytes == APISERVER_REQUEST_BYTES
            note = " (kube-apiserver's request size limit)" if apiserver else ""
            raise YAMLInputError(
                f"document is {_over(size, limits.max_document_bytes)}; the limit is "
                f"{_size(limits.max_document_bytes)}{note}",
                text.count("\n", 0, begin) + 1,
                document=index,
            )
        body = _DOC_MARKER.sub("", segment, count=1)
        if _CONTENT_LINE.search(body):
            index += 1


def load_documents(text: str, limits: Limits = OBJECTS) -> list[Document]:
    """Every non-empty document in `text`; YAMLInputError (with document, line and path) on the first problem."""
    check_sizes(text, limits)
    for _ in range(_MAX_PAIR_RETRIES):
        builder = _Builder(text, limits)
        try:
            return list(builder.documents())
        except yaml.YAMLError as exc:
            fixed = _join_surrogate_pair(text, exc)
            if fixed is None:
                error = _syntax_error(exc)
                error.document = builder.index
                raise error from None
            text = fixed
    raise YAMLInputError(f"more than {_MAX_PAIR_RETRIES} UTF-16 surrogate-pair escapes; write the characters")


def load_value(text: str, limits: Limits = OBJECTS) -> Any:
    """The one document in `text` (None if it has none), JSON or YAML; YAMLInputError past `limits` or on
    anything `load_documents` refuses."""
    try:
        return load_json(text, limits)
    except _NotJSON:
        pass  # YAML, then
    documents = load_documents(text, limits)
    if len(documents) > 1:
        raise YAMLInputError(f"expected one document, found {len(documents)}", documents[1].line_no, document=1)
    return documents[0].data if documents else None


def load_json(text: str | bytes, limits: Limits = OBJECTS) -> Any:
    """`text` as JSON (bytes as UTF-8); YAMLInputError when it is not JSON or past `limits`."""
    if isinstance(text, bytes):
        text = decode(text, limits)
    check_sizes(text, limits)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _NotJSON(f"invalid JSON: {exc.msg} at column {exc.colno}", exc.lineno) from None
    except RecursionError:
        raise _too_deep(limits) from None
    _check_json(data, limits)
    return data


class _NotJSON(YAMLInputError):
    """Text that is not JSON at all (as opposed to JSON past a limit)."""


def _no_constant(name: str) -> Any:
    # not JSON, though Python's decoder takes it: as YAML, `NaN` is the string it spells
    raise _NotJSON(f"{name} is not a JSON number; quote it for a string")


def _too_deep(limits: Limits) -> YAMLInputError:
    return YAMLInputError(f"nested deeper than {limits.max_depth} levels")


def _check_json(data: Any, limits: Limits) -> None:
    """Refuse what the YAML path refuses in parsed JSON: deep nesting, lone surrogates, non-finite numbers."""
    # each entry's path is a (parent path, key) chain, spelled out only for an error
    stack: list[tuple[Any, int, Any]] = [(data, 0, None)]
    while stack:
        node, depth, chain = stack.pop()
        kind = type(node)
        if kind is dict or kind is list:
            if depth >= limits.max_depth:
                raise YAMLInputError(_too_deep(limits).message, path=_json_path(chain))
            if kind is dict:
                for key, value in node.items():
                    if _SURROGATE.search(key):
                        message = f"key {key!r}: a lone UTF-16 surrogate escape is not a character"
                        raise YAMLInputError(message, path=_json_path(chain))
                    stack.append((value, depth + 1, (chain, key)))
            else:
                stack += [(v, depth + 1, (chain, i)) for i, v in enumerate(node)]
        elif kind is str and _SURROGATE.search(node):
            raise YAMLInputError("a lone UTF-16 surrogate escape is not a character", path=_json_path(chain))
        elif kind is float and not math.isfinite(node):
            raise YAMLInputError("not a JSON number (JSON has no NaN or infinity)", path=_json_path(chain))


def _json_path(chain: Any) -> str:
    keys: list[int | str] = []
    while chain is not None:
        chain, key = chain
        keys.append(key)
    keys.reverse()
    out = ""
    for depth, key in enumerate(keys):
        if depth == _SHOWN_LEVELS:
            return out + f"...({len(keys)} levels)"
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


def _syntax_error(exc: yaml.YAMLError) -> YAMLInputError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "invalid Unicode character escape" in problem:
        problem += " (a lone UTF-16 surrogate, or a code point above U+10FFFF)"
    return YAMLInputError(f"invalid YAML: {problem}", line)


def _join_surrogate_pair(text: str, exc: yaml.YAMLError) -> str | None:
    """`text` with the surrogate-pair escape that libyaml stopped at written as one `\\U` escape, else None."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None or "invalid Unicode character escape" not in (getattr(exc, "problem", "") or ""):
        return None
    start = text.rfind("\\u", max(0, mark.index - 12), mark.index + 1)
    match = _SURROGATE_PAIR.match(text, start) if start >= 0 else None
    if match is None:
        return None
    high, low = int(match.group(1), 16), int(match.group(2), 16)
    code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
    return f"{text[: match.start()]}\\U{code:08X}{text[match.end() :]}"


_RESOLVERS: dict[str | None, list[tuple[str, re.Pattern[str]]]] = Resolver.yaml_implicit_resolvers
_CONSTRUCT = SafeConstructor()


class PlainTimestamp(str):
    """A plain scalar that YAML 1.1 reads as a timestamp (`2024-01-01`, `2001-12-14t21:59:43.10-05:00`), kept as its
    text, as kubectl keeps it, but marked: other YAML tools make it a date, so the fields whose text reaches the
    server as it is (`env[].value`, `spec.config`) refuse it unquoted rather than guess which was meant."""

    __slots__ = ()


@functools.lru_cache(maxsize=4096)
def _plain(value: str) -> Any:
    """The value of a plain (unquoted) scalar under YAML 1.1's implicit types; cached, values repeat."""
    for tag, regexp in _RESOLVERS.get(value[:1] if value else "", []) + _RESOLVERS.get(None, []):
        if regexp.match(value):
            if tag == _YAML + "merge":
                return _MERGE
            if tag == _YAML + "timestamp":
                return PlainTimestamp(value)  # kubectl keeps an untagged date a string
            if tag == _YAML + "value":
                return value  # `=` is a string in JSON
            return _scalar(tag, value)
    return value


def _scalar(tag: str, value: str) -> Any:
    if tag == _YAML + "str":
        return value
    try:
        out = _CONSTRUCT.yaml_constructors[tag](_CONSTRUCT, ScalarNode(tag, value))
    except (ConstructorError, ValueError, KeyError):
        raise YAMLInputError(f"{value!r} is not a valid !!{tag.removeprefix(_YAML)}") from None
    if isinstance(out, float) and not math.isfinite(out):
        raise YAMLInputError(f"{value!r} is not a JSON number (JSON has no NaN or infinity); quote it for a string")
    return out


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag


def _tag_error(tag: str) -> YAMLInputError:
    return YAMLInputError(
        f"YAML tag {_short(tag)} is not allowed: a Kubernetes object holds only strings, numbers, booleans, "
        "null, mappings and lists"
    )


def _key(value: Any) -> str:
    """A mapping key as kubectl turns it into JSON: the key's JSON text when it is not a string."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


class _Frame:
    __slots__ = ("anchor", "data", "key", "key_line", "lines", "merges", "size", "start")

    def __init__(self, data: Any, lines: Any, anchor: str | None, start: int) -> None:
        self.data, self.lines, self.anchor, self.start = data, lines, anchor, start
        self.key: Any = _NO_KEY
        self.key_line = start
        self.merges: list[Any] = []
        self.size = 1


class _Builder:
    """Plain data from libyaml's events, with an explicit stack (no recursion, so depth is checked, not fatal)."""

    def __init__(self, text: str, limits: Limits) -> None:
        self.limits = limits
        self.parser: Any = _CParser(text) if _CParser is not None else yaml.SafeLoader(text)
        self.expanded = 0
        self.nodes = 0
        self.index = 0

    def documents(self) -> Iterator[Document]:
        get: Any = self.parser.get_event
        try:
            while True:
                event = get()
                if event is None or type(event) is ev.StreamEndEvent:
                    return
                if type(event) is ev.DocumentStartEvent:
                    try:
                        mark: Any = event.start_mark
                        doc = self._document(get, mark.line + 1)
                    except YAMLInputError as exc:
                        exc.document = self.index
                        raise
                    if doc.data is not None:
                        yield doc
                        self.index += 1
        finally:
            if hasattr(self.parser, "dispose"):
                self.parser.dispose()

    def _document(self, get: Any, line_no: int) -> Document:
        anchors: dict[str, tuple[Any, int]] = {}
        lines: dict[int, Any] = {}
        stack: list[_Frame] = []
        result: list[Any] = []
        open_anchors: set[str] = set()
        scalar, alias = ev.ScalarEvent, ev.AliasEvent
        map_start, seq_start = ev.MappingStartEvent, ev.SequenceStartEvent
        map_end, seq_end = ev.MappingEndEvent, ev.SequenceEndEvent
        try:
            while True:
                event = get()
                kind = type(event)
                line = event.start_mark.line + 1
                if kind is scalar:
                    self.nodes += 1
                    tag = event.tag
                    if tag is None or tag == "!":
                        value = _plain(event.value) if event.implicit[0] else event.value
                    elif tag in _JSON_TAGS:
                        value = _scalar(tag, event.value)
                    else:
                        raise _tag_error(tag)
                    size = 1
                    if event.anchor is not None:
                        anchors[event.anchor] = (value, 1)
                elif kind is alias:
                    if event.anchor in open_anchors:
                        raise YAMLInputError(f"alias *{event.anchor} refers to a node that contains it")
                    if event.anchor not in anchors:
                        raise YAMLInputError(f"alias *{event.anchor} is not defined in this document")
                    value, size = anchors[event.anchor]
                    self.expanded += size
                    total = self.nodes + self.expanded
                    budget = self.limits.alias_budget
                    share = _allowed_alias_share(total, budget)
                    if total > budget and self.expanded > total * share:
                        raise YAMLInputError(
                            f"excessive aliasing: aliases expand to {self.expanded} of {total} nodes; past {budget} "
                            f"nodes at most {share:.0%} may come from aliases (an alias bomb?); write the values out "
                            "or use fewer aliases"
                        )
                elif kind is map_start or kind is seq_start:
                    tag = event.tag
                    if tag not in (None, "!", _YAML + ("map" if kind is map_start else "seq")):
                        raise _tag_error(tag)
                    if len(stack) >= self.limits.max_depth:
                        raise _too_deep(self.limits)
                    self.nodes += 1
                    if stack and type(stack[-1].data) is dict and stack[-1].key is _NO_KEY:
                        raise YAMLInputError("a mapping key must be a string, not a mapping or a list")
                    if event.anchor is not None:
                        open_anchors.add(event.anchor)
                    if kind is map_start:
                        stack.append(_Frame({}, {}, event.anchor, line))
                    else:
                        stack.append(_Frame([], [], event.anchor, line))
                    continue
                elif kind is map_end or kind is seq_end:
                    frame = stack.pop()
                    if frame.merges:
                        self._merge(frame)
                    value, size = frame.data, frame.size
                    lines[id(value)] = frame.lines
                    if frame.anchor is not None:
                        open_anchors.discard(frame.anchor)
                        anchors[frame.anchor] = (value, size)
                    line = frame.start
                else:
                    continue  # document end (handled by the caller), comments are not events
                if not stack:
                    result.append("<<" if value is _MERGE else value)
                    end = get()  # DocumentEndEvent
                    del end
                    return Document(result[0], line_no, lines)
                self._add(stack[-1], value, size, line, type(value) is not dict and type(value) is not list)
        except YAMLInputError as exc:
            if exc.line is None:
                exc.line = line
            exc.path = _path(stack)
            raise

    @staticmethod
    def _add(frame: _Frame, value: Any, size: int, line: int, is_scalar: bool) -> None:
        frame.size += size
        data = frame.data
        if type(data) is list:
            data.append("<<" if value is _MERGE else value)
            frame.lines.append(line)
            return
        key = frame.key
        if key is _NO_KEY:
            if not is_scalar and value is not _MERGE:
                raise YAMLInputError("a mapping key must be a string, not a mapping or a list")
            frame.key = value if value is _MERGE else _key(value)
            frame.key_line = line
            return
        frame.key = _NO_KEY
        if key is _MERGE:
            sources = value if type(value) is list else [value]
            if not all(type(s) is dict for s in sources):
                raise YAMLInputError("a merge key (<<) takes a mapping or a list of mappings")
            frame.merges.append((sources, frame.key_line))
            return
        if key in data:
            raise YAMLInputError(
                f"invalid YAML: mapping key {key!r} already defined at line {frame.lines[key]}", frame.key_line
            )
        if value is _MERGE:
            value = "<<"
        data[key] = value
        frame.lines[key] = frame.key_line

    @staticmethod
    def _merge(frame: _Frame) -> None:
        """YAML 1.1 merge keys: explicit keys win, then the first mapping listed, then the next."""
        merged: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for sources, line in frame.merges:
            for source in sources:
                for key, value in source.items():
                    if key not in merged:
                        merged[key], lines[key] = value, line
        for key in frame.data:
            merged.pop(key, None)
        merged.update(frame.data)
        lines.update(frame.lines)
        frame.data, frame.lines = merged, lines


def _allowed_alias_share(total: int, budget: int) -> float:
    """go-yaml's allowedAliasRatio: 0.99 up to `budget` nodes, down to 0.10 at ten times that."""
    if total <= budget:
        return 0.99
    if total >= 10 * budget:
        return 0.10
    return 0.99 - 0.89 * (total - budget) / (9 * budget)


def _path(stack: list[_Frame]) -> str:
    out = ""
    for depth, frame in enumerate(stack):
        if depth == _SHOWN_LEVELS:
            return out + f"...({len(stack)} levels)"
        if type(frame.data) is list:
            out += f"[{len(frame.data)}]"
        elif isinstance(frame.key, str):
            out += f".{frame.key}" if out else frame.key
        else:
            break
    return out
