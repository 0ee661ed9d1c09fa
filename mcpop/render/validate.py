"""Validate one resource object (a dict, as the apiserver or a YAML file holds it): the one code path that
`mcp render` and the admission webhook share. Pure: no I/O."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from mcpop.render.errors import ImageConfigNeeded, RenderError
from mcpop.render.options import RenderOptions

if TYPE_CHECKING:
    from mcpop.render.catalog import Catalog  # its registry models load only when a spec names an entry

Loc = tuple[int | str, ...]
#: kind → module of its model (imported on first use: building models dominates the CLI's start-up)
KINDS = {
    "MCPServer": "mcpop.api.mcpserver",
    "MCPRegistry": "mcpop.api.mcpregistry",
    "MCPServerBackup": "mcpop.api.mcpserverbackup",
}


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a resource, at a field path such as `spec.env[0].name`."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass
class Verdict:
    """What validating one resource found."""

    resource: BaseModel | None = None
    problems: list[FieldProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def model_of(kind: str) -> type[BaseModel]:
    """The pydantic model of `kind` (one of `KINDS`)."""
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


def validate_model(obj: dict[str, Any]) -> tuple[BaseModel | None, list[tuple[Loc, FieldProblem]]]:
    """`obj` validated by its kind's model: (the resource, []) or (None, each problem with its location).

    Messages are `mcpop.api.explain`'s (the nearest allowed field for an unknown one, YAML type names)."""
    from mcpop.api.explain import explain

    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        return None, [(("kind",), FieldProblem("kind", f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}"))]
    model = model_of(kind)
    try:
        return model.model_validate(obj), []
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            loc, msg = explain(err, model)
            out.append((loc, FieldProblem(format_loc(loc), msg)))
        return None, out


def validated(obj: dict[str, Any]) -> tuple[BaseModel | None, str]:
    """`obj` validated as its kind: (the resource, "") or (None, why, as one line `field: message; ...`).

    The operator's reconcilers and `mcp deploy` report a rejected object with it; `mcp render` and the
    webhook list the same problems one by one (`validate_model`)."""
    resource, problems = validate_model(obj)
    return resource, "; ".join(str(p) for _, p in problems)


def validate(obj: dict[str, Any], catalog: Catalog | None = None, options: RenderOptions | None = None) -> Verdict:
    """Validate `obj` by its kind's model; an MCPServer is also rendered, so that what only rendering finds
    (collisions, a registry entry's required variables) is reported too.

    `options` carries the feature switches (their warnings) and the namespace; `catalog` resolves
    `spec.registry`; when it is None or the entry is not in it, the rendering checks that
    need the entry are left to reconcile time (the entry may come from an MCPRegistry in the cluster).
    """
    resource, problems = validate_model(obj)
    if resource is None:
        return Verdict(problems=[p for _, p in problems])
    verdict = Verdict(resource)
    if obj.get("kind") == "MCPServer":
        from mcpop.api.mcpserver import MCPServer
        from mcpop.render import render

        assert isinstance(resource, MCPServer)
        ns = resource.metadata.namespace or (options.namespace if options else "default")
        opts = replace(options or RenderOptions(), namespace=ns)
        entry = None
        reg = resource.spec.registry
        if reg is not None:
            if catalog is None:
                return verdict
            try:
                entry = catalog.resolve(reg.name, reg.version)
            except RenderError:
                return verdict
        try:
            rendered = render(resource, entry, opts)
        except ImageConfigNeeded:
            pass  # the operator resolves the image's config from its registry at reconcile time
        except RenderError as exc:
            verdict.problems.append(FieldProblem(exc.field, exc.message))
        else:
            verdict.warnings += rendered.warnings
    return verdict
