"""What only the renderer can check, and what it must never do: generated names that stay unique, env
references that resolve, secrets never shown, one MCPServer per namespace/name in a run, errors with
line numbers, nothing rendered when any document is bad, invalid registry entries skipped by name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from featurekit import pod_template, server
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpop.api.serverjson import ServerJSON
from mcpop.cli.render import render_files, run_render
from mcpop.render import render
from mcpop.render.collisions import order_env
from mcpop.sources.catalog import parse_entries

HEAD = "apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\n"
GOOD = HEAD + "metadata: {name: good}\nspec: {image: ghcr.io/example/good}\n"


def _file(tmp_path: Path, text: str, name: str = "in.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _container(spec: dict[str, Any], entry: ServerJSON | None = None) -> dict[str, Any]:
    return pod_template(render(server(spec), entry))["spec"]["containers"][0]  # type: ignore[no-any-return]


def _entry(runtime_arguments: list[dict[str, Any]], **pkg: Any) -> ServerJSON:
    return ServerJSON.model_validate(
        {
            "name": "io.github.example/demo",
            "description": "Demo",
            "version": "1.0.0",
            "packages": [
                {
                    "registryType": "oci",
                    "identifier": "ghcr.io/example/demo:1.0.0",
                    "transport": {"type": "streamable-http", "url": "http://localhost:3000/mcp"},
                    "runtimeArguments": runtime_arguments,
                    **pkg,
                }
            ],
        }
    )


# -- env references --------------------------------------------------------------------------------


def test_a_secret_variable_used_inside_another_env_value_is_defined_before_it() -> None:
    arg = {"type": "named", "name": "-e", "value": "URL=https://x/?t={tok}", "variables": {"tok": {"isSecret": True}}}
    env = _container({"registry": {"name": "demo"}}, _entry([arg]))["env"]
    names = [e["name"] for e in env]
    url = next(e for e in env if e["name"] == "URL")
    assert url["value"] == "https://x/?t=$(TOK)"
    assert names.index("TOK") < names.index("URL")
    assert next(e for e in env if e["name"] == "TOK")["valueFrom"]["secretKeyRef"]["key"] == "TOK"


def test_a_user_env_referencing_a_later_variable_is_reordered_so_it_resolves() -> None:
    env = _container({"image": "ghcr.io/a/b", "env": [{"name": "DATA", "value": "$(HOME)/data"}]})["env"]
    names = [e["name"] for e in env]
    assert names.index("HOME") < names.index("DATA")


def test_env_order_is_stable_and_survives_cycles_and_escapes() -> None:
    env: list[dict[str, object]] = [
        {"name": "A", "value": "$(B)"},
        {"name": "B", "value": "$(A)"},
        {"name": "C", "value": "$$(D)"},
        {"name": "D", "value": "d"},
    ]
    assert [e["name"] for e in order_env(env)] == ["B", "A", "C", "D"]
    plain: list[dict[str, object]] = [{"name": n, "value": "x"} for n in "ZYX"]
    assert order_env(plain) == plain


# -- secrets never shown -----------------------------------------------------------------------------


def test_an_oci_runtime_argument_marked_secret_is_not_echoed_in_the_warning() -> None:
    arg = {"type": "positional", "value": "s3cr3t-value", "isSecret": True}
    out = render(server({"registry": {"name": "demo"}}), _entry([arg]))
    assert out.warnings, "the ignored argument is still reported"
    assert all("s3cr3t-value" not in w for w in out.warnings)


def test_render_output_and_messages_never_contain_a_secret_variable_value(tmp_path: Path) -> None:
    entry = _entry([{"type": "named", "name": "-e", "value": "TOKEN=hunter2-secret", "isSecret": True}])
    out = render(server({"registry": {"name": "demo"}}), entry)
    assert "hunter2-secret" not in out.to_yaml() and all("hunter2-secret" not in w for w in out.warnings)


def test_a_url_refused_in_a_message_never_shows_its_credentials(tmp_path: Path) -> None:
    text = "apiVersion: mcp.allbeone.io/v1\nkind: MCPRegistry\nmetadata: {name: r}\n" \
        "spec: {url: 'ftp://bot:hunter2@example.com/x'}\n"  # fmt: skip
    _, problems, _ = render_files([_file(tmp_path, text)])
    assert len(problems) == 1 and "spec.url" in problems[0] and "ftp://example.com/x" in problems[0]
    assert "hunter2" not in problems[0] and "bot@" not in problems[0]


# -- generated names -------------------------------------------------------------------------------


def test_a_service_port_name_is_the_container_port_name_unchanged() -> None:
    ports = [{"name": "metrics", "port": 9100}, {"name": "admin-api", "port": 9101}]
    names = [p["name"] for p in _container({"image": "ghcr.io/a/b", "ports": ports})["ports"]]
    assert names == ["http", "metrics", "admin-api"]


def test_a_named_target_port_is_the_container_port_it_routes_to() -> None:
    spec = {"image": "ghcr.io/a/b", "ports": [{"name": "admin", "port": 9000, "targetPort": "adm"}]}
    out = render(server(spec))
    svc = out.get("Service")
    assert svc is not None
    assert {"name": "admin", "port": 9000, "targetPort": "adm", "protocol": "TCP"} in svc["spec"]["ports"]
    ports = pod_template(out)["spec"]["containers"][0]["ports"]
    assert {"name": "adm", "containerPort": 9000, "protocol": "TCP"} in ports


def test_a_user_volume_mounted_at_tmp_replaces_the_generated_one() -> None:
    spec = {"image": "ghcr.io/a/b", "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory"}}],
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}  # fmt: skip
    vols = pod_template(render(server(spec)))["spec"]["volumes"]
    assert [v for v in vols if v["name"] == "tmp"] == [{"name": "tmp", "emptyDir": {"medium": "Memory"}}]


# -- a whole run ---------------------------------------------------------------------------------------


def test_two_servers_with_one_name_in_one_file_are_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, GOOD + "---\n" + GOOD)
    text, problems, _ = render_files([path])
    assert text == ""
    assert problems == [f"{path}: document 1 (line 8): metadata.name: MCPServer default/good is also defined in "
                        f"{path}: document 0; names must be unique per namespace"]  # fmt: skip


def test_two_servers_with_one_name_in_two_files_are_refused(tmp_path: Path) -> None:
    a, b = _file(tmp_path, GOOD, "a.yaml"), _file(tmp_path, GOOD, "b.yaml")
    _, problems, _ = render_files([a, b])
    assert len(problems) == 1 and problems[0].startswith(f"{b}: document 0 (line 3): metadata.name:")


def test_one_name_in_two_namespaces_is_fine(tmp_path: Path) -> None:
    other = GOOD.replace("{name: good}", "{name: good, namespace: other}")
    _, problems, _ = render_files([_file(tmp_path, GOOD + "---\n" + other)])
    assert problems == []


def test_the_namespace_flag_makes_two_servers_one_name(tmp_path: Path) -> None:
    other = GOOD.replace("{name: good}", "{name: good, namespace: other}")
    _, problems, _ = render_files([_file(tmp_path, GOOD + "---\n" + other)], namespace="other")
    assert len(problems) == 1 and "other/good is also defined" in problems[0]


@pytest.mark.parametrize("namespace", ["Bad NS!", "a" * 64, "ns\n"])
def test_an_invalid_namespace_flag_is_refused(namespace: str, tmp_path: Path) -> None:
    text, problems, _ = render_files([_file(tmp_path, GOOD)], namespace=namespace)
    assert text == "" and len(problems) == 1 and problems[0].startswith("--namespace: ")


def test_nothing_is_rendered_when_any_document_is_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = HEAD + "metadata: {name: bad}\nspec: {image: ghcr.io/a/b, replicas: '3'}\n"
    code = run_render([_file(tmp_path, GOOD + "---\n" + bad)], None, "yaml")
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "document 1 (line 9): spec.replicas: Input should be a valid integer, got a string" in captured.err


def test_a_render_time_error_carries_its_line(tmp_path: Path) -> None:
    text = HEAD + "metadata: {name: s}\nspec:\n  image: ghcr.io/a/b\n  config: {a: 1}\n  env:\n" \
        "    - {name: A, value: x}\n    - {name: MCP_CONFIG_PATH, value: /x}\n"  # fmt: skip
    _, problems, _ = render_files([_file(tmp_path, text)])
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'in.yaml'}: document 0 (line 9): spec.env[1].name: MCP_CONFIG_PATH")


def test_yaml_11_on_is_a_boolean_where_a_boolean_is_wanted(tmp_path: Path) -> None:
    text = HEAD + "metadata: {name: s}\nspec: {image: ghcr.io/a/b, autoscaling: {hpa: {enabled: on}}}\n"
    out, problems, _ = render_files([_file(tmp_path, text)])
    assert problems == [] and "HorizontalPodAutoscaler" in out


# -- registry entries ----------------------------------------------------------------------------------


def _raw(**pkg: Any) -> dict[str, Any]:
    package = {"registryType": "oci", "identifier": "ghcr.io/example/bad:1", "transport": {"type": "stdio"}, **pkg}
    return {"name": "io.github.example/bad", "description": "d", "version": "1.0.0", "packages": [package]}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (_raw(environmentVariables=[{"name": "BAD NAME"}]), "environmentVariables[0].name"),
        (_raw(runtimeArguments=[{"type": "named", "name": "-e", "value": "1X=y"}]), "runtimeArguments[0]"),
        (_raw(identifier="ghcr.io/Example/Bad"), "lower-case"),
        (_raw(identifier="ghcr.io/example/bad:"), "tag or digest is empty"),
    ],
    ids=["env-var-name", "docker-env-flag-name", "identifier-upper", "identifier-empty-tag"],
)
def test_a_registry_entry_that_cannot_become_kubernetes_names_is_skipped_by_name(
    raw: dict[str, Any], fragment: str
) -> None:
    good = _raw()
    good["name"] = "io.github.example/good"
    entries, problems = parse_entries([raw, good], "registry.json")
    assert [e.name for e in entries] == ["io.github.example/good"]
    assert len(problems) == 1 and problems[0].startswith("registry.json: io.github.example/bad 1.0.0: invalid")
    assert fragment in problems[0]


def test_render_with_a_registry_file_skips_the_invalid_entry_and_renders(tmp_path: Path) -> None:
    bad = _raw(environmentVariables=[{"name": "BAD NAME"}])
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps([bad]))
    spec = HEAD + "metadata: {name: s}\nspec: {image: ghcr.io/a/b, registry: {name: io.github.example/bad}}\n"
    text, problems, warnings = render_files([_file(tmp_path, spec)], registry=registry)
    assert any("io.github.example/bad 1.0.0: invalid server.json entry" in w and w.endswith("skipped")
               for w in warnings)  # fmt: skip
    assert text == "" and any("spec.registry.name" in p for p in problems)


_NAMES = st.sampled_from(["A", "B", "C", "D", "E", "F"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(_NAMES, st.lists(_NAMES, max_size=3)).map(
            lambda t: {"name": t[0], "value": "".join(f"x$({r})" for r in t[1])}
        ),
        max_size=6,
        unique_by=lambda e: e["name"],
    )
)
def test_env_order_puts_every_definition_before_its_use_when_there_is_no_cycle(env: list[dict[str, object]]) -> None:
    out = order_env(env)
    assert sorted(e["name"] for e in out) == sorted(e["name"] for e in env)  # type: ignore[type-var]
    refs = {str(e["name"]): set(re.findall(r"\$\(([A-Z])\)", str(e["value"]))) for e in env}

    def cyclic(name: str, seen: frozenset[str] = frozenset()) -> bool:
        return name in seen or any(cyclic(r, seen | {name}) for r in refs.get(name, ()) if r in refs)

    position = {str(e["name"]): i for i, e in enumerate(out)}
    for name, used in refs.items():
        if not cyclic(name):
            assert all(position[r] < position[name] for r in used if r in position), out


def test_the_command_line_refuses_an_invalid_namespace_flag(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "from mcpop.cli.main import run; run()", "render", "-f", str(_file(tmp_path, GOOD)),
         "-n", "Bad NS!"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert "error: --namespace: 'Bad NS!' is not a DNS-1123 label" in result.stderr
