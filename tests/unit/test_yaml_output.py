"""The YAML emitter: what it writes reads back, in YAML 1.1 (PyYAML, pure and libyaml) and 1.2 (ruamel.yaml),
as exactly the data it was given, and `-o json` says the same; it is the one emitter of every command's
output (no anchors, one JSON indent)."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from mcpop.cli import output
from mcpop.codec.emitter import JSON_INDENT, dump_json, dump_yaml, json_text


def read_1_1(text: str) -> list[Any]:
    return list(yaml.safe_load_all(text))


def read_1_1_libyaml(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def read_1_2(text: str) -> list[Any]:
    return list(YAML(typ="safe", pure=True).load_all(io.StringIO(text)))


def same(a: Any, b: Any) -> bool:
    """Equal, with types compared too (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def assert_round_trips(doc: Any) -> None:
    text = dump_yaml([doc])
    for read in (read_1_1, read_1_1_libyaml, read_1_2):
        (back,) = read(text)
        assert same(back, doc), (read.__name__, text, back)
    assert same(json.loads(dump_json([doc])), doc)


TRICKY = {
    "key-ending-in-newline": {"a\n": 1},
    "key-with-newline-inside": {"a\nb": "c"},
    "del": {"k": "a\x7fb"},
    "c1-controls": {"k": "\x80\x9f\x9b"},
    "nel-in-quoted": {"k": "a\x85b"},
    "nel-in-multiline": {"k": "a\x85b\nc"},
    "line-and-paragraph-separators": {"k": "a\u2028b\u2029c"},
    "bom-inside": {"k": "a\ufeffb"},
    "indented-first-line": {"k": "\n  indented"},
    "indented-first-line-in-list": {"k": ["\n   x\ny"]},
    "only-newline": {"k": "\n"},
    "only-newlines": {"k": "\n\n"},
    "leading-space-multiline": {"k": " a\nb"},
    "trailing-space-line": {"k": "a \nb"},
    "tab-lines": {"k": "\ta\n\tb\n"},
    "keep-trailing-newlines": {"k": "a\n\n\n"},
    "document-marker-text": {"k": "a\n---\nb\n...\n"},
    "key-on": {"on": 1},
    "key-tilde": {"~": 1},
    "key-null": {"null": "~"},
    "key-yes": {"Yes": "No"},
    "key-merge": {"<<": "x"},
    "key-equals": {"=": "="},
    "long-key": {"k" * 2000: "v"},
    "long-key-nested": {"k" * 1500: {"a": [1, {"b": "c"}]}, "x" * 1200: ["y"]},
    "numbers-as-strings": {"a": "0400", "b": "1e3", "c": "0x1f", "d": "1_000", "e": ".5", "f": "12:30"},
    "big-float": {"a": 1e16, "b": 1.5e-07, "c": -0.0, "d": 1e300},
    "ints": {"a": 0, "b": -(2**63), "c": 2**70},
    "empty-containers": {"a": {}, "b": [], "c": [{}, []], "d": [[[]]]},
    "nested-lists": {"a": [[1, [2, "x\ny"]], {"b": ["z\n"]}]},
    "comment-like": {"k": "a #b", "#": "#x"},
    "astral": {"\U0001f600": "\U0001f600\n\U0001f601"},
    "private-use-and-nonchars": {"k": "\ue000\ufffe\uffff"},
    "nul": {"k": "\x00"},
}


@pytest.mark.parametrize("doc", list(TRICKY.values()), ids=list(TRICKY))
def test_tricky_strings_read_back_unchanged(doc: dict[str, Any]) -> None:
    assert_round_trips(doc)


def test_infinity_is_written_as_a_yaml_float_not_a_string() -> None:
    text = dump_yaml([{"a": math.inf, "b": -math.inf}])
    for read in (read_1_1, read_1_2):
        assert read(text) == [{"a": math.inf, "b": -math.inf}]


def test_json_output_refuses_infinity_rather_than_writing_invalid_json() -> None:
    with pytest.raises(ValueError):
        dump_json([{"a": math.inf}])


def test_the_same_input_gives_byte_identical_output() -> None:
    doc = {"b": ["x\ny", {"on": "\n  z"}], "a": 1.5}
    assert dump_yaml([doc, doc]) == dump_yaml([doc, doc])


json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_value = st.recursive(
    json_scalar,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(), json_value, max_size=5))
def test_any_json_object_reads_back_unchanged_in_yaml_1_1_and_1_2_and_json(doc: dict[str, Any]) -> None:
    assert_round_trips(doc)


@settings(max_examples=100, deadline=None)
@given(json_value)
def test_any_json_value_as_a_document_reads_back_unchanged(doc: Any) -> None:
    assert_round_trips(doc)


def test_rendered_yaml_and_json_of_the_faithful_fixture_agree_in_every_reader() -> None:
    root = Path(__file__).resolve().parents[2]
    fixture = str(root / "tests/fixtures/specs/faithful-output.yaml")

    def mcp(*args: str) -> str:
        cmd = [sys.executable, "-c", "from mcpop.cli.main import run; run()", "render", "-f", fixture, *args]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=root, check=True).stdout

    text, items = mcp(), json.loads(mcp("-o", "json"))["items"]
    for read in (read_1_1, read_1_1_libyaml, read_1_2):
        assert same(read(text), items), read.__name__
    (deployment,) = [o for o in items if o["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["INDENTED"] == "\n  indented after a blank line" and env["NEWLINE"] == "\n"
    assert env["NEL"] == "next\x85line" and env["CONTROLS"] == "del\x7f c1\x9b" and env["WORDS"] == "on"


# ---------------------------------------------------------------------------- one emitter for every output

CLI = [sys.executable, "-c", "from mcpop.cli.main import run; run()"]
ROOT = Path(__file__).resolve().parents[2]


def has_anchors(text: str) -> bool:
    return any(getattr(e, "anchor", None) or isinstance(e, yaml.AliasEvent) for e in yaml.parse(text))


def test_a_value_shared_in_memory_is_written_out_not_anchored() -> None:
    shared = {"path": "/healthz", "port": 8000}
    obj = {"livenessProbe": {"httpGet": shared}, "readinessProbe": {"httpGet": shared}}
    for text in (output.dump(obj, "yaml"), output.dump_all([obj, obj], "yaml"), dump_yaml([obj, obj])):
        assert not has_anchors(text), text
        assert all(doc == obj for doc in read_1_1(text))


def test_deploy_dry_run_yaml_has_no_anchors(tmp_path: Path) -> None:
    cmd = [*CLI, "deploy", "fetch", "--dry-run", "--kubeconfig", str(tmp_path / "none"), "-o", "yaml"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not has_anchors(result.stdout)
    assert {d["kind"] for d in read_1_1(result.stdout)} >= {"MCPServer", "Deployment", "Service"}


def test_json_output_is_indented_by_two_everywhere() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    texts = [output.dump(obj, "json"), output.dump_all([obj, obj], "json"), dump_json([obj]), json_text(obj)]
    assert JSON_INDENT == 2
    for text in texts:
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n", text


def test_registry_and_render_json_use_the_same_indent(tmp_path: Path) -> None:
    registry = [*CLI, "registry", "list", "-o", "json", "--kubeconfig", str(tmp_path / "none")]
    render = [*CLI, "render", "-f", str(ROOT / "examples/02-mcpserver-basic.yaml"), "-o", "json"]
    for cmd in (registry, render):
        text = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120, check=True).stdout
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n", cmd


def test_status_yaml_and_json_output_load_neither_pydantic_nor_the_models() -> None:
    code = ("import sys\nfrom mcpop.cli import output\n"
            "output.dump({'a': [1]}, 'yaml'); output.dump_all([{'a': 1}], 'json')\n"
            "light = {'mcpop.api', 'mcpop.api.urls'}  # the URL helper: no pydantic, no models\n"
            "print([m for m in sys.modules\n"
            "       if m.startswith(('pydantic', 'mcpop.api', 'mcpop.render')) and m not in light])")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr[-2000:]
