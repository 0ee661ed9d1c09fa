"""Any document, however mangled, is either rendered or refused with problems: never an exception.

Starting from rich valid documents of the three kinds, hypothesis replaces one value anywhere in them
(or adds an unknown key) with arbitrary JSON-shaped data, and `mcp render`'s function must return
(output or problems), and a refusal must name a field or say why.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpop.cli.render import render_files
from mcpop.codec.emitter import dump_yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS: list[dict[str, Any]] = [
    *yaml.safe_load_all((ROOT / "tests/fixtures/specs/feature-everything.yaml").read_text()),
    *yaml.safe_load_all((ROOT / "tests/fixtures/specs/feature-tenancy-node.yaml").read_text()),
    yaml.safe_load((ROOT / "examples/01-mcpserverbackup-s3.yaml").read_text()),
    {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPRegistry", "metadata": {"name": "r"},
     "spec": {"source": {"github": {"repo": "o/r", "path": "servers"}}, "refreshInterval": "1h",
              "auth": {"secretRef": {"name": "t", "key": "token"}}, "filters": {"include": ["a*"]}}},
]  # fmt: skip
WORK = Path(tempfile.mkdtemp(prefix="mcpop-fuzz-"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


PLACES = [(i, p) for i, doc in enumerate(DOCS) for p in _paths(doc) if p]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "on", "-1", "0", "100m", "../x", "a b", "Bad", "x\n", "tàg", "$(X)", "*", "{tok}"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                      max_size=3), max_leaves=8)  # fmt: skip


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any, add_key: str | None) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    if add_key is not None and isinstance(node[path[-1]], dict):
        node[path[-1]][add_key] = value
    else:
        node[path[-1]] = value
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(PLACES), value=values, add_key=st.none() | st.text(min_size=1, max_size=8))
def test_a_mangled_document_is_rendered_or_refused_never_a_crash(
    place: tuple[int, tuple[Any, ...]], value: Any, add_key: str | None
) -> None:
    index, path = place
    doc = _set(DOCS[index], path, value, add_key)
    source = WORK / "doc.yaml"
    source.write_text(dump_yaml([doc]), encoding="utf-8")
    text, problems, _ = render_files([source])
    assert bool(text) != bool(problems) or (not text and not problems and doc.get("kind") != "MCPServer")
    for problem in problems:
        assert problem.startswith(f"{source}: document 0"), problem
