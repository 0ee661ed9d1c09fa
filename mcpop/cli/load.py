"""Reading MCP resources from YAML files, with every problem reported by file, document and field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mcpop import API_VERSION


@dataclass
class Problem:
    """One thing wrong with an input: where, and what."""

    file: str
    document: int
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}: document {self.document}"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass
class Loaded:
    """Valid resources of one kind, and all problems found."""

    resources: list[tuple[str, int, BaseModel]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: the parsed document of each resource, by (file, document index), for line numbers found later
    documents: dict[tuple[str, int], Any] = field(default_factory=dict)


KINDS = {
    "MCPServer": "mcpop.api.mcpserver",
    "MCPRegistry": "mcpop.api.mcpregistry",
    "MCPServerBackup": "mcpop.api.mcpserverbackup",
}


def _model(kind: str) -> type[BaseModel]:
    """The model of a kind, imported on first use: building models is most of the CLI's start-up time."""
    import importlib

    model: type[BaseModel] = getattr(importlib.import_module(KINDS[kind]), kind)
    return model


def format_loc(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a field path: `spec.env[0].name`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or part in ("int", "str", "float", "bool"):
            continue  # a union branch or validator name, not a field
        else:
            out += f".{part}" if out else part
    return out


def _line(node: Any, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest node on `loc` that the YAML parser recorded."""
    line = None
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None and isinstance(part, str) and isinstance(node, dict) and part in node:
                line = lc.key(part)[0] + 1
            elif lc is not None and isinstance(part, int) and isinstance(node, list) and part < len(node):
                line = lc.item(part)[0] + 1
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return line


def line_at(doc: Any, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the field at `loc` in a parsed document (None when unknown)."""
    return _line(doc, loc)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def load_text(text: str, source: str, kinds: tuple[str, ...] = ("MCPServer",)) -> Loaded:
    """Parse and validate every document in `text`; documents of other known kinds are skipped."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from mcpop.api.explain import explain, yaml_type

    out = Loaded()
    yaml = YAML(typ="rt", pure=True)
    yaml.version = (1, 1)  # read as kubectl does: `on` is a boolean, `0400` is octal
    try:
        docs = list(yaml.load_all(text))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        out.problems.append(Problem(source, 0, "", f"invalid YAML: {problem}", line))
        return out
    for index, doc in enumerate(d for d in docs if d is not None):
        if not isinstance(doc, dict):
            out.problems.append(Problem(source, index, "", f"expected a mapping, got {yaml_type(doc)}"))
            continue
        kind, api_version = doc.get("kind"), doc.get("apiVersion")
        if not isinstance(kind, str) or kind not in KINDS:
            out.problems.append(
                Problem(
                    source,
                    index,
                    "kind",
                    f"unknown kind {kind!r}; expected one of {', '.join(sorted(KINDS))}",
                    _line(doc, ("kind",)),
                )
            )
            continue
        if api_version != API_VERSION:
            out.problems.append(
                Problem(
                    source,
                    index,
                    "apiVersion",
                    f"must be {API_VERSION!r}, got {api_version!r}",
                    _line(doc, ("apiVersion",)),
                )
            )
            continue
        model = _model(kind)
        try:
            resource = model.model_validate(_plain(doc))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc, msg = explain(err, model)
                out.problems.append(Problem(source, index, format_loc(loc), msg, _line(doc, loc)))
            continue
        if kind in kinds:
            out.resources.append((source, index, resource))
            out.documents[(source, index)] = doc
        else:
            out.skipped.append(f"{source}: document {index}: {kind} {doc.get('metadata', {}).get('name')}")
    return out


def load_files(paths: list[Path], kinds: tuple[str, ...] = ("MCPServer",)) -> Loaded:
    """Load every file (`-` is standard input); problems from all files are collected."""
    import sys

    total = Loaded()
    for path in paths:
        source = str(path)
        try:
            text = sys.stdin.read() if source == "-" else path.read_text()
        except OSError as exc:
            total.problems.append(Problem(source, 0, "", f"cannot read: {exc.strerror or exc}"))
            continue
        part = load_text(text, source, kinds)
        total.resources += part.resources
        total.problems += part.problems
        total.skipped += part.skipped
        total.documents.update(part.documents)
    return total
