"""Registry entry → workload: oci/npm/pypi mappings, package choice and override, user values winning,
secrets by reference only, required variables, remote-only entries, the recorded annotations, every
valid entry of the official seed, and the `mcp render --registry` path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from featurekit import assert_valid, get, pod_template, server

from mcpop.api.serverjson import ServerJSON
from mcpop.cli.render import render_files
from mcpop.render import RenderError, render
from mcpop.render.normalize import BRIDGE_BIN
from mcpop.render.registry import NODE_IMAGE, UV_IMAGE, enrich
from mcpop.sources.catalog import parse_entries

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests/fixtures/registry/official-seed.json"


def entry(*packages: dict[str, Any], remotes: list[dict[str, Any]] | None = None, **extra: Any) -> ServerJSON:
    data: dict[str, Any] = {
        "name": "io.github.example/demo",
        "description": "Demo",
        "version": "1.2.3",
        "packages": list(packages),
        **extra,
    }
    if remotes is not None:
        data["remotes"] = remotes
    return ServerJSON.model_validate(data)


def npm(**kw: Any) -> dict[str, Any]:
    return {"registryType": "npm", "identifier": "demo-mcp", "version": "1.2.3", "transport": {"type": "stdio"}, **kw}


def pypi(**kw: Any) -> dict[str, Any]:
    return {"registryType": "pypi", "identifier": "demo-mcp", "version": "1.2.3", "transport": {"type": "stdio"}, **kw}


def oci(**kw: Any) -> dict[str, Any]:
    return {
        "registryType": "oci",
        "identifier": "ghcr.io/example/demo:1.2.3",
        "transport": {"type": "streamable-http", "url": "http://localhost:3000/mcp"},
        **kw,
    }


def container(spec: dict[str, Any], e: ServerJSON) -> dict[str, Any]:
    return pod_template(render(server(spec), e))["spec"]["containers"][0]  # type: ignore[no-any-return]


REG = {"registry": {"name": "demo"}}


def test_oci_http_package_runs_the_image_on_the_transport_port_and_path() -> None:
    c = container(REG, entry(oci(packageArguments=[{"type": "named", "name": "--mode", "value": "fast"}])))
    assert c["image"] == "ghcr.io/example/demo:1.2.3"
    assert c["args"] == ["--mode", "fast"]
    assert c["ports"][0]["containerPort"] == 3000


def test_oci_runtime_env_flags_become_env() -> None:
    args = [{"type": "named", "name": "-e", "value": "LOG=debug"}, {"type": "named", "name": "--env", "value": "A=b"}]
    env = {e["name"]: e.get("value") for e in container(REG, entry(oci(runtimeArguments=args)))["env"]}
    assert env["LOG"] == "debug" and env["A"] == "b"


def test_npm_http_package_runs_npx_in_a_node_image() -> None:
    pkg = npm(transport={"type": "streamable-http", "url": "http://localhost:8081/mcp"})
    c = container(REG, entry(pkg))
    assert c["image"] == NODE_IMAGE
    assert c["command"] == ["npx", "-y", "demo-mcp@1.2.3"]


def test_pypi_http_package_runs_uvx_in_a_uv_image() -> None:
    c = container(REG, entry(pypi(transport={"type": "sse", "url": "http://localhost:9000/sse"})))
    assert c["image"] == UV_IMAGE
    assert c["command"] == ["uvx", "demo-mcp==1.2.3"]
    assert c["ports"][0]["containerPort"] == 9000


def test_npm_stdio_package_runs_npx_behind_the_bridge_in_the_node_image() -> None:
    c = container(REG, entry(npm(packageArguments=[{"type": "positional", "value": "/tmp"}])))
    assert c["image"] == NODE_IMAGE and c["command"] == [BRIDGE_BIN]
    assert c["args"][c["args"].index("--") :] == ["--", "npx", "-y", "demo-mcp@1.2.3", "/tmp"]


def test_pypi_stdio_package_runs_uvx_behind_the_bridge_in_the_uv_image() -> None:
    c = container(REG, entry(pypi()))
    assert c["image"] == UV_IMAGE and c["command"] == [BRIDGE_BIN]
    assert c["args"][c["args"].index("--") :] == ["--", "uvx", "demo-mcp==1.2.3"]


def test_writable_cache_env_is_set_for_npx_and_uvx() -> None:
    env = {e["name"] for e in container(REG, entry(npm()))["env"]}
    assert {"HOME", "npm_config_cache", "UV_CACHE_DIR"} <= env


def test_package_choice_prefers_oci_then_npm_then_pypi() -> None:
    _, used = enrich(server(REG).spec, entry(pypi(), npm(transport=oci()["transport"]), oci()))
    assert used.package == "oci:ghcr.io/example/demo:1.2.3"
    _, used = enrich(server(REG).spec, entry(pypi(), npm()))
    assert used.package == "npm:demo-mcp@1.2.3"


def test_stdio_oci_ranks_after_npm_and_pypi() -> None:
    stdio_oci = oci(transport={"type": "stdio"})
    _, used = enrich(server(REG).spec, entry(stdio_oci, pypi()))
    assert used.package == "pypi:demo-mcp@1.2.3"


def test_registry_package_overrides_the_choice() -> None:
    _, used = enrich(server({"registry": {"name": "demo", "package": "pypi"}}).spec, entry(oci(), npm(), pypi()))
    assert used.package == "pypi:demo-mcp@1.2.3"


def test_missing_forced_package_type_names_the_field() -> None:
    with pytest.raises(RenderError) as err:
        enrich(server({"registry": {"name": "demo", "package": "oci"}}).spec, entry(npm()))
    assert err.value.field == "spec.registry.package"


def test_runtime_type_steers_the_package_choice() -> None:
    _, used = enrich(server({**REG, "runtime": {"type": "python"}}).spec, entry(oci(), npm(), pypi()))
    assert used.package == "pypi:demo-mcp@1.2.3"


def test_runtime_type_without_matching_package_falls_back_with_a_warning() -> None:
    spec, used = enrich(server({**REG, "runtime": {"type": "python"}}).spec, entry(npm()))
    assert used.package == "npm:demo-mcp@1.2.3"
    assert spec.runtime is not None and spec.runtime.type == "node"
    assert any("no pypi package" in w for w in used.warnings)


def test_unsupported_package_types_are_skipped() -> None:
    mcpb = {"registryType": "mcpb", "identifier": "https://x/y.mcpb", "transport": {"type": "stdio"}}
    _, used = enrich(server(REG).spec, entry(mcpb, npm()))
    assert used.package == "npm:demo-mcp@1.2.3"


def test_entry_with_nothing_runnable_is_an_error_naming_the_field() -> None:
    nuget = {"registryType": "nuget", "identifier": "Demo", "version": "1", "transport": {"type": "stdio"}}
    with pytest.raises(RenderError, match="no package mcpop can run") as err:
        render(server(REG), entry(nuget))
    assert err.value.field == "spec.registry"


def test_user_values_win_over_the_registry() -> None:
    spec = {
        **REG,
        "image": "ghcr.io/me/mine",
        "tag": "9",
        "args": ["--mine"],
        "port": 7000,
        "env": [{"name": "LOG", "value": "mine"}],
    }
    e = entry(
        oci(
            runtimeArguments=[{"type": "named", "name": "-e", "value": "LOG=theirs"}],
            packageArguments=[{"type": "positional", "value": "theirs"}],
            environmentVariables=[{"name": "EXTRA", "default": "x"}],
        )
    )
    c = container(spec, e)
    assert c["image"] == "ghcr.io/me/mine:9"
    assert c["args"] == ["--mine"]
    assert c["ports"][0]["containerPort"] == 7000
    env = {x["name"]: x.get("value") for x in c["env"]}
    assert env["LOG"] == "mine" and env["EXTRA"] == "x"
    assert [x["name"] for x in c["env"]].index("LOG") < [x["name"] for x in c["env"]].index("EXTRA")


def test_user_transport_path_wins() -> None:
    spec, _ = enrich(server({**REG, "transport": {"path": "/custom"}}).spec, entry(oci()))
    assert spec.transport is not None and spec.transport.path == "/custom"
    assert spec.transport.type == "streamable-http"


def test_optional_secret_comes_from_the_default_secret_by_reference() -> None:
    e = entry(npm(environmentVariables=[{"name": "API_KEY", "isSecret": True, "default": "leaked"}]))
    c = container(REG, e)
    var = next(x for x in c["env"] if x["name"] == "API_KEY")
    assert var == {
        "name": "API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "demo-secrets", "key": "API_KEY", "optional": True}},
    }
    assert "leaked" not in json.dumps(render(server(REG), e).objects)


def test_required_secret_comes_from_the_users_secret_ref() -> None:
    e = entry(npm(environmentVariables=[{"name": "API_KEY", "isSecret": True, "isRequired": True}]))
    spec = {**REG, "secretRefs": [{"name": "my-secret", "key": "token", "envName": "API_KEY"}]}
    vars_ = [x for x in container(spec, e)["env"] if x["name"] == "API_KEY"]
    assert vars_ == [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "my-secret", "key": "token"}}}]


def test_required_secret_without_a_reference_is_an_error_naming_it() -> None:
    e = entry(npm(environmentVariables=[{"name": "API_KEY", "isSecret": True, "isRequired": True}]))
    with pytest.raises(RenderError, match="API_KEY") as err:
        render(server(REG), e)
    assert err.value.field == "spec.registry"


def test_required_plain_variable_without_value_is_an_error_naming_it() -> None:
    e = entry(npm(environmentVariables=[{"name": "REGION", "isRequired": True}]))
    with pytest.raises(RenderError, match="REGION"):
        render(server(REG), e)


def test_required_plain_variable_supplied_by_the_user_renders() -> None:
    e = entry(npm(environmentVariables=[{"name": "REGION", "isRequired": True}]))
    env = container({**REG, "env": [{"name": "REGION", "value": "eu"}]}, e)["env"]
    assert {"name": "REGION", "value": "eu"} in env


def test_remote_only_entry_renders_an_external_name_service() -> None:
    e = entry(remotes=[{"type": "streamable-http", "url": "https://mcp.example.com/mcp"}])
    out = render(server(REG), e)
    assert out.kinds() == ["Service"]
    svc = get(out, "Service")
    assert svc["spec"]["type"] == "ExternalName" and svc["spec"]["externalName"] == "mcp.example.com"
    assert svc["metadata"]["annotations"]["mcp.allbeone.io/remote-url"] == "https://mcp.example.com/mcp"
    assert any("remote-only" in w for w in out.warnings)
    assert_valid(out)


def test_annotations_record_the_entry_on_deployment_and_pod_template_only() -> None:
    e = entry(npm())
    out = render(server(REG), e)
    want = {
        "mcp.allbeone.io/registry-name": "io.github.example/demo",
        "mcp.allbeone.io/registry-version": "1.2.3",
        "mcp.allbeone.io/registry-package": "npm:demo-mcp@1.2.3",
        "mcp.allbeone.io/registry-digest": e.digest(),
    }
    assert get(out, "Deployment")["metadata"]["annotations"] == want
    assert want.items() <= pod_template(out)["metadata"]["annotations"].items()
    assert not set(want) & set(get(out, "Service")["metadata"].get("annotations", {}))


def test_enrich_fills_registry_description_and_version() -> None:
    spec, _ = enrich(server(REG).spec, entry(npm(), repository={"url": "https://github.com/x/y", "source": "github"}))
    assert spec.registry is not None
    assert (spec.registry.version, spec.registry.description, spec.registry.repository) == (
        "1.2.3",
        "Demo",
        "https://github.com/x/y",
    )


def test_version_mismatch_is_an_error_naming_the_field() -> None:
    with pytest.raises(RenderError) as err:
        enrich(server({"registry": {"name": "demo", "version": "9.9.9"}}).spec, entry(npm()))
    assert err.value.field == "spec.registry.version"


SEED_ENTRIES, _ = parse_entries(json.loads(SEED.read_text()), "seed")
SEED_SPECS = {
    "io.github.domdomegg/airtable-mcp-server": {"secretRefs": [{"name": "airtable", "key": "AIRTABLE_API_KEY"}]},
    "io.github.domdomegg/time-mcp-nuget": {"command": ["dnx", "TimeMcpServer@1.0.8", "--yes"]},
}


@pytest.mark.parametrize("e", SEED_ENTRIES, ids=lambda e: f"{e.short_name}-{e.version}")
def test_every_valid_seed_entry_renders_to_valid_objects(e: ServerJSON) -> None:
    spec = {"registry": {"name": e.name, "version": e.version}, **SEED_SPECS.get(e.name, {})}
    out = render(server(spec), e)
    assert_valid(out)
    assert get(out, "Deployment")["metadata"]["annotations"]["mcp.allbeone.io/registry-version"] == e.version


def test_cli_renders_with_the_seed_and_reports_the_invalid_entry(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: t}\n"
        "spec: {registry: {name: time-mcp-pypi}}\n"
    )
    text, problems, warnings = render_files([f], registry=SEED)
    assert not problems
    assert "- uvx\n" in text and '- "time-mcp-pypi==1.0.6"' in text
    assert any("kbag" in w and "invalid" in w for w in warnings)


def test_cli_uses_the_embedded_catalogue_by_default() -> None:
    text, problems, _ = render_files([ROOT / "examples/03-mcpserver-registry-enriched.yaml"])
    assert not problems
    assert "@modelcontextprotocol/server-filesystem@" in text


def test_cli_reports_an_unknown_registry_name_as_a_problem(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: t}\nspec: {registry: {name: filesystm}}\n"
    )
    _, problems, _ = render_files([f])
    assert len(problems) == 1 and "spec.registry.name" in problems[0] and "server-filesystem" in problems[0]


def test_secret_arguments_are_passed_by_reference_from_the_secret() -> None:
    entry = ServerJSON.model_validate({
        "name": "io.example/secret-args", "description": "d", "version": "1.0.0",
        "packages": [{
            "registryType": "oci", "identifier": "ghcr.io/example/s:1.0.0",
            "transport": {"type": "streamable-http", "url": "http://localhost:8080/mcp"},
            "runtimeArguments": [{"type": "named", "name": "-e", "value": "TOKEN=hunter2", "isSecret": True}],
            "packageArguments": [{"type": "named", "name": "--api-key", "value": "hunter3", "isSecret": True}],
        }],
    })  # fmt: skip
    out = render(server({"registry": {"name": "io.example/secret-args"}}), entry)
    text = out.to_yaml()
    assert "hunter2" not in text and "hunter3" not in text
    dep = out.get("Deployment")
    assert dep is not None
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--api-key", "$(API_KEY)"]
    env = {e["name"]: e for e in container["env"]}
    assert env["TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "demo-secrets", "key": "TOKEN"}
    assert env["API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "demo-secrets", "key": "API_KEY"}
