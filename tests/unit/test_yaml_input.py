"""Reading input YAML: hostile and malformed files fail with one clear line (exit 2, nothing on stdout), and
valid YAML 1.1 reads as kubectl reads it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpop.cli.load import load_files, load_text
from mcpop.codec.emitter import dump_yaml
from mcpop.codec.reader import OBJECTS, load_documents

MAX_DEPTH, MAX_DOCUMENT_BYTES = OBJECTS.max_depth, OBJECTS.max_document_bytes
ROOT = Path(__file__).resolve().parents[2]
HEAD = "apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: x}\nspec:\n  image: a\n"
ERROR_LINE = re.compile(r"^error: \S+: document \d+( \(line \d+\))?: (\S+: )?\S.*$")


def mcp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from mcpop.cli.main import run; run()", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def config(body: str) -> str:
    """A valid server whose `spec.config` is `body` (indented under it)."""
    return HEAD + "  config:\n" + "".join(f"    {line}\n" for line in body.splitlines())


def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return HEAD + "  config:\n" + "".join(f"    {line}\n" for line in lines)


BAD_FILES: dict[str, tuple[bytes, str, str]] = {
    # id: (file content, field path or "", message fragment)
    "not-utf8": ((HEAD + "  tag: caf\xe9\n").encode("latin-1"), "", "not UTF-8 text: byte 0xe9"),
    "set-tag": (config("s: !!set {a, b}").encode(), "spec.config.s", "YAML tag !!set is not allowed"),
    "binary-tag": (config("b: !!binary aGVsbG8=").encode(), "spec.config.b", "YAML tag !!binary is not allowed"),
    "timestamp-tag": (config("t: !!timestamp 2024-01-02").encode(), "spec.config.t", "!!timestamp is not allowed"),
    "omap-tag": (config("o: !!omap [a: 1]").encode(), "spec.config.o", "!!omap is not allowed"),
    "custom-tag": (config("c: !vault secret").encode(), "spec.config.c", "YAML tag !vault is not allowed"),
    "nan": (config("n: .nan").encode(), "spec.config.n", "not a JSON number"),
    "inf": (config("n: -.inf").encode(), "spec.config.n", "not a JSON number"),
    "float-overflow": (config("n: 1.0e+999").encode(), "spec.config.n", "not a JSON number"),
    "deep-yaml": (config("d: " + "[" * 300 + "]" * 300).encode(), "spec.config.d", f"deeper than {MAX_DEPTH} levels"),
    "deep-block-yaml": (
        (HEAD + "  config:\n" + "".join("  " * (i + 2) + f"k{i}:\n" for i in range(300))).encode(),
        "",
        "deeper than",
    ),
    "alias-bomb": (alias_bomb().encode(), "spec.config", "excessive aliasing: aliases expand to"),
    "recursive-alias": (config("r: &r [*r]").encode(), "spec.config.r", "refers to a node that contains it"),
    "lone-surrogate": (config('s: "\\ud800"').encode(), "", "lone UTF-16 surrogate"),
    "oversized": (
        (HEAD + '  config:\n    big: "' + "x" * MAX_DOCUMENT_BYTES + '"\n').encode(),
        "",
        "the limit is 3 MiB",
    ),
    "oversized-file": (  # many documents, each far below the document limit
        "---\n".join([HEAD] * (OBJECTS.max_bytes // len(HEAD) + 1)).encode(),
        "",
        "; the limit is 8 MiB",
    ),
    "empty": (b"", "", "no objects passed to render"),
    "comments-only": (b"# nothing here\n---\n# nor here\n", "", "no objects passed to render"),
    "duplicate-key": (config("a: 1\na: 2").encode(), "spec.config", "mapping key 'a' already defined at line 7"),
    "mapping-as-key": (config("? {a: 1}\n: v").encode(), "spec.config", "a mapping key must be a string"),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_file_exits_2_with_one_clear_line_and_no_output(case: str, tmp_path: Path) -> None:
    content, path, fragment = BAD_FILES[case]
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    result = mcp("render", "-f", str(bad))
    assert (result.returncode, result.stdout) == (2, ""), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert ERROR_LINE.match(line) and line.startswith(f"error: {bad}: document 0"), line
    assert fragment in line, line
    if path:
        assert f": {path}" in line, line


def test_a_huge_document_is_refused_by_size_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mcpop.codec.reader

    def never(text: str) -> None:
        raise AssertionError("parsed a document that is over the size limit")

    monkeypatch.setattr(mcpop.codec.reader, "_Builder", never)
    huge = tmp_path / "huge.yaml"
    huge.write_text(HEAD + "  config:\n" + "".join(f"    k{i}: value{i}\n" for i in range(300_000)))
    (problem,) = load_files([huge]).problems
    assert "MiB; the limit is 3 MiB" in problem.message


def test_the_oversized_document_is_named_by_its_index_and_line() -> None:
    small = HEAD
    big = HEAD + '  config:\n    big: "' + "x" * MAX_DOCUMENT_BYTES + '"\n'
    (problem,) = load_text(small + "---\n" + big, "two.yaml").problems
    assert (problem.document, problem.line) == (1, 6)


def test_an_empty_file_beside_a_non_empty_one_is_fine(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    (tmp_path / "ok.yaml").write_text(HEAD)
    loaded = load_files([tmp_path / "empty.yaml", tmp_path / "ok.yaml"])
    assert loaded.problems == [] and len(loaded.resources) == 1


def test_a_list_document_is_named_as_a_list_not_a_python_class() -> None:
    (problem,) = load_text("- a\n- b\n", "l.yaml").problems
    assert problem.message == "expected a mapping (an object), got a list"


def _config(text: str) -> Any:
    (doc,) = load_documents(text)
    return doc.data["spec"]["config"]


def test_surrogate_pair_escapes_read_as_the_character_they_encode() -> None:
    assert _config(config('e: "\\ud83d\\ude00 and \\uD83D\\uDE01"')) == {"e": "\U0001f600 and \U0001f601"}


def test_yaml_1_1_scalars_read_as_kubectl_reads_them() -> None:
    got = _config(config("a: on\nb: 0400\nc: 0x1f\nd: 1_000\ne: ~\nf: 2024-01-02\ng: '0400'\nh: 1.5\ni: =\nj: Off"))
    assert got == {"a": True, "b": 256, "c": 31, "d": 1000, "e": None, "f": "2024-01-02", "g": "0400", "h": 1.5,
                   "i": "=", "j": False}  # fmt: skip


def test_non_string_keys_become_their_json_text_as_kubectl_makes_them() -> None:
    assert _config(config("on: 1\n~: 2\n3: 3\nfalse: 4")) == {"true": 1, "null": 2, "3": 3, "false": 4}


def test_explicit_json_tags_are_accepted() -> None:
    assert _config(config("a: !!str 1\nb: !!int '7'\nc: !!float 1\nd: !!bool yes\ne: !!null ''")) == {
        "a": "1", "b": 7, "c": 1.0, "d": True, "e": None,
    }  # fmt: skip


def test_merge_keys_and_aliases_expand_with_explicit_keys_winning() -> None:
    text = config("base: &b {x: 1, y: 2}\nother: &o {y: 3, z: 4}\nm:\n  <<: [*b, *o]\n  x: 9\nlist: [*b, *b]")
    got = _config(text)
    assert got["m"] == {"x": 9, "y": 2, "z": 4}
    assert got["list"] == [{"x": 1, "y": 2}, {"x": 1, "y": 2}]


def test_a_merge_key_outside_key_position_is_the_string_it_spells() -> None:
    assert _config(config("l: [<<, a]\nv: <<")) == {"l": ["<<", "a"], "v": "<<"}


def test_moderate_aliasing_within_the_budget_is_accepted() -> None:
    assert len(_config(alias_bomb(levels=4))["a3"]) == 9


def test_a_deeper_alias_bomb_is_refused_as_soon_as_the_budget_is_spent() -> None:
    (problem,) = load_text(alias_bomb(levels=30), "bomb.yaml").problems
    assert "excessive aliasing" in problem.message


def test_defaults_merged_into_thousands_of_servers_are_not_an_alias_bomb() -> None:
    defaults = "defaults: &d {" + ", ".join(f"k{i}: v{i}" for i in range(60)) + "}\n"
    servers = "".join(f"s{i}:\n  <<: *d\n  name: s{i}\n  port: {i}\n" for i in range(3000))
    (doc,) = load_documents(defaults + servers)
    assert doc.data["s2999"]["k59"] == "v59" and doc.data["s2999"]["port"] == 2999


def test_nesting_up_to_the_limit_is_accepted_and_one_more_level_is_not() -> None:
    depth = MAX_DEPTH - 3  # the document, spec and config are three levels
    got, levels = _config(config("d: " + "[" * depth + "]" * depth))["d"], 1
    while got:
        got, levels = got[0], levels + 1
    assert levels == depth
    (problem,) = load_text(config("d: " + "[" * (depth + 1) + "]" * (depth + 1)), "d.yaml").problems
    assert "nested deeper than" in problem.message


def test_field_lines_come_from_the_parser_for_validation_errors() -> None:
    text = HEAD + "  replicas: 1\n  env:\n    - name: A\n      value: b\n    - name: B\n      valu: c\n"
    (problem,) = load_text(text, "f.yaml").problems
    assert (problem.path, problem.line) == ("spec.env[1].valu", 11)


def test_line_of_a_field_path_is_available_for_render_time_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(HEAD + "  env:\n    - name: A\n      value: b\n")
    loaded = load_files([tmp_path / "a.yaml"])
    assert loaded.line_of(str(tmp_path / "a.yaml"), 0, "spec.env[0].value") == 8
    assert loaded.line_of(str(tmp_path / "a.yaml"), 0, "spec.nope") == 4


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(), json_value, min_size=1, max_size=5))
def test_the_reader_reads_what_the_emitter_writes_as_pyyaml_does(doc: dict[str, Any]) -> None:
    text = dump_yaml([doc])
    (parsed,) = load_documents(text)
    assert parsed.data == doc == yaml.safe_load(text)


def test_render_reads_input_with_libyaml_and_never_imports_a_pure_python_scanner() -> None:
    code = (
        "import sys, io, contextlib\nfrom mcpop.cli.main import app\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    app(['render', '-f', 'examples/03-mcpserver-registry-enriched.yaml'], exit_on_error=False)\n"
        "import mcpop.codec.reader as r\n"
        "print(r._CParser is not None, [m for m in sys.modules if m.startswith(('ruamel', 'mcpop.sources.retry'))])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "True []", result.stderr[-2000:]
