"""Reading MCP resources from YAML files, with every problem reported by file, document and field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from mcpop import API_VERSION
from mcpop.render.validate import KINDS, format_loc

if TYPE_CHECKING:
    from mcpop.codec.reader import Document


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
    #: how many non-empty documents were read
    documents: int = 0
    #: each mapping document by (file, index), for the line of a field path
    lines: dict[tuple[str, int], Document] = field(default_factory=dict, repr=False)

    def line_of(self, source: str, index: int, path: str) -> int | None:
        """The line of a dotted field path (`spec.env[0].name`) in a document read, or None."""
        doc = self.lines.get((source, index))
        return doc.line(parse_loc(path)) if doc is not None else None


def parse_loc(path: str) -> tuple[int | str, ...]:
    """A field path as a location: `spec.env[0].name` is ("spec", "env", 0, "name")."""
    return tuple(int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path))


def load_text(text: str, source: str, kinds: tuple[str, ...] = ("MCPServer",)) -> Loaded:
    """Parse and validate every document in `text`; documents of other known kinds are skipped."""
    from mcpop.codec.reader import YAMLInputError, load_documents
    from mcpop.render.validate import validate_model

    out = Loaded()
    try:
        docs = load_documents(text)
    except YAMLInputError as exc:
        out.problems.append(Problem(source, exc.document, exc.path, exc.message, exc.line))
        return out
    out.documents += len(docs)
    for index, parsed in enumerate(docs):
        doc = parsed.data
        if not isinstance(doc, dict):
            what = "a list" if isinstance(doc, list) else f"a {_TYPE_NAMES.get(type(doc), type(doc).__name__)}"
            message = f"expected a mapping (an object), got {what}"
            out.problems.append(Problem(source, index, "", message, parsed.line_no))
            continue
        out.lines[(source, index)] = parsed
        kind, api_version = doc.get("kind"), doc.get("apiVersion")
        if not isinstance(kind, str) or kind not in KINDS:
            out.problems.append(
                Problem(
                    source,
                    index,
                    "kind",
                    f"unknown kind {kind!r}; expected one of {', '.join(sorted(KINDS))}",
                    parsed.line(("kind",)),
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
                    parsed.line(("apiVersion",)),
                )
            )
            continue
        resource, problems = validate_model(doc)
        if resource is None:
            for loc, problem in problems:
                out.problems.append(Problem(source, index, problem.field, problem.message, parsed.line(loc)))
            continue
        if kind in kinds:
            out.resources.append((source, index, resource))
        else:
            meta = doc.get("metadata")
            name = meta.get("name") if isinstance(meta, dict) else None
            out.skipped.append(f"{source}: document {index}: {kind} {name}")
    return out


_TYPE_NAMES = {str: "string", int: "number", float: "number", bool: "boolean"}


def load_files(paths: list[Path], kinds: tuple[str, ...] = ("MCPServer",)) -> Loaded:
    """Load every file (`-` is standard input); problems from all files are collected."""
    import sys

    from mcpop.codec.reader import YAMLInputError, decode

    total = Loaded()
    read: list[str] = []
    for path in paths:
        source = str(path)
        try:
            raw = sys.stdin.buffer.read() if source == "-" else path.read_bytes()
        except OSError as exc:
            total.problems.append(Problem(source, 0, "", f"cannot read: {exc.strerror or exc}"))
            continue
        try:
            text = decode(raw)
        except YAMLInputError as exc:
            total.problems.append(Problem(source, 0, "", exc.message, exc.line))
            continue
        part = load_text(text, source, kinds)
        total.resources += part.resources
        total.problems += part.problems
        total.skipped += part.skipped
        total.documents += part.documents
        total.lines.update(part.lines)
        read.append(source)
    if read and not total.documents and not total.problems:
        # kubectl: "error: no objects passed to apply"
        message = "no objects passed to render: the file is empty or only comments"
        total.problems += [Problem(source, 0, "", message) for source in read]
    return total


__all__ = ["KINDS", "Loaded", "Problem", "format_loc", "load_files", "load_text", "parse_loc"]
